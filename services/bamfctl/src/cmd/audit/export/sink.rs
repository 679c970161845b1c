//! Where an export goes (`--to`): stdout, a file, syslog over TCP or an HTTP
//! endpoint. A sink *accepts* one batch at a time; the export acks the batch
//! on the server only after `accept` returned `Ok`, so what "accepted" means
//! per sink is the export's durability promise:
//!
//! - `stdout`: written and flushed.
//! - `file:PATH`: appended and `fdatasync`ed (`sync_data`).
//! - `syslog+tcp://HOST:PORT`: written and flushed to the socket (plain TCP
//!   syslog has no application-level ack), see [`super::syslog`].
//! - `http(s)://…`: a 2xx answer to the POST, see [`super::http`].
//!
//! Sinks that talk to a network retry a failing batch for ever with capped
//! exponential back-off (the export slows down, it never drops); only a
//! shutdown request interrupts them ([`SinkError::Stopped`]).

use std::fmt;
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use reqwest::Url;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use super::http::HttpSink;
use super::syslog::SyslogSink;
use super::Outgoing;

/// First pause before a retry; doubled on each failure up to [`MAX_BACKOFF`].
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The `--to` argument, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkSpec {
    Stdout,
    File(PathBuf),
    /// `host:port`.
    Syslog(String),
    Http(Url),
}

impl FromStr for SinkSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        const KINDS: &str = "use stdout, file:PATH, syslog+tcp://HOST:PORT, http://… or https://…";
        if s == "stdout" || s == "-" {
            return Ok(SinkSpec::Stdout);
        }
        if let Some(path) = s.strip_prefix("file:") {
            if path.is_empty() {
                return Err("file: needs a path, e.g. file:/var/log/bamf/audit.jsonl".into());
            }
            return Ok(SinkSpec::File(PathBuf::from(path)));
        }
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("syslog+tcp://") {
            let url = Url::parse(s).map_err(|e| format!("{s:?} is not a valid URL: {e}"))?;
            let host = url
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| "syslog+tcp:// needs a host: syslog+tcp://HOST:PORT".to_string())?;
            let port = url.port().ok_or_else(|| {
                "syslog+tcp:// needs a port: syslog+tcp://HOST:PORT (RFC 6587 is often on 601)"
                    .to_string()
            })?;
            if !matches!(url.path(), "" | "/") || url.query().is_some() {
                return Err("syslog+tcp:// takes only HOST:PORT".into());
            }
            return Ok(SinkSpec::Syslog(format!("{host}:{port}")));
        }
        if lower.starts_with("http://") || lower.starts_with("https://") {
            let url = Url::parse(s).map_err(|e| format!("{s:?} is not a valid URL: {e}"))?;
            if url.host_str().is_none_or(str::is_empty) {
                return Err("the HTTP sink URL needs a host".into());
            }
            return Ok(SinkSpec::Http(url));
        }
        Err(format!("unknown sink {s:?}: {KINDS}"))
    }
}

impl fmt::Display for SinkSpec {
    /// For messages: never a URL's user info or query (they may hold tokens).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkSpec::Stdout => write!(f, "stdout"),
            SinkSpec::File(p) => write!(f, "file {}", p.display()),
            SinkSpec::Syslog(addr) => write!(f, "syslog+tcp://{addr}"),
            SinkSpec::Http(url) => write!(f, "{}", shown_url(url)),
        }
    }
}

/// `scheme://host[:port]/path` of `url`.
pub fn shown_url(url: &Url) -> String {
    let mut shown = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        shown.push_str(&format!(":{port}"));
    }
    shown.push_str(url.path());
    shown
}

/// Settings of the network sinks.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Extra HTTP headers (`Name: value`), e.g. an auth token.
    pub headers: Vec<(String, String)>,
}

/// Why a batch was not accepted.
#[derive(Debug)]
pub enum SinkError {
    /// Shutdown was requested while the sink was retrying; the batch is
    /// not acked and will be delivered again.
    Stopped,
    /// The sink refused the batch for good (or the local write failed).
    Failed(anyhow::Error),
}

/// An open sink.
pub enum Sink {
    Stdout(tokio::io::Stdout),
    File(FileSink),
    Syslog(SyslogSink),
    Http(HttpSink),
}

impl Sink {
    /// Opens `spec`: creates or opens the file, checks the HTTP settings.
    /// Network sinks connect on their first batch.
    pub async fn open(spec: &SinkSpec, options: &SinkOptions) -> Result<Sink> {
        if !options.headers.is_empty() && !matches!(spec, SinkSpec::Http(_)) {
            bail!("--header applies only to an http:// or https:// sink");
        }
        Ok(match spec {
            SinkSpec::Stdout => Sink::Stdout(tokio::io::stdout()),
            SinkSpec::File(path) => Sink::File(FileSink::open(path).await?),
            SinkSpec::Syslog(addr) => Sink::Syslog(SyslogSink::new(addr.clone())),
            SinkSpec::Http(url) => Sink::Http(HttpSink::new(url.clone(), &options.headers)?),
        })
    }

    /// Whether records go to stdout (progress must then stay on stderr,
    /// which it always does, and nothing else may be printed on stdout).
    pub fn is_stdout(&self) -> bool {
        matches!(self, Sink::Stdout(_))
    }

    /// Takes one batch; `Ok` means it is stored as well as this sink can
    /// promise, and the export may ack it.
    pub async fn accept(
        &mut self,
        batch: &[Outgoing],
        stop: &CancellationToken,
    ) -> Result<(), SinkError> {
        match self {
            Sink::Stdout(out) => {
                let buf = lines(batch);
                async {
                    out.write_all(&buf).await?;
                    out.flush().await
                }
                .await
                .context("cannot write to stdout")
                .map_err(SinkError::Failed)
            }
            Sink::File(file) => file.append(batch).await.map_err(SinkError::Failed),
            Sink::Syslog(s) => s.accept(batch, stop).await,
            Sink::Http(h) => h.accept(batch, stop).await,
        }
    }
}

/// The batch as newline-terminated lines.
pub fn lines(batch: &[Outgoing]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(batch.iter().map(|o| o.line.len() + 1).sum());
    for o in batch {
        buf.extend_from_slice(&o.line);
        buf.push(b'\n');
    }
    buf
}

/// `file:PATH`: appended, then `sync_data` before the batch counts as accepted.
pub struct FileSink {
    file: tokio::fs::File,
    path: PathBuf,
    /// Regular files are synced; a FIFO or a device can't be.
    sync: bool,
}

impl FileSink {
    /// Opens `path` for appending, creating it with mode 0600. A last line
    /// without its newline was being written when an earlier export died:
    /// its batch was never acked and comes again, so the fragment is cut off.
    pub async fn open(path: &Path) -> Result<FileSink> {
        let mut options = tokio::fs::OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut file = options
            .open(path)
            .await
            .with_context(|| format!("cannot open {} for appending", path.display()))?;
        let meta = file
            .metadata()
            .await
            .with_context(|| format!("cannot read the metadata of {}", path.display()))?;
        let sync = meta.is_file();
        if sync && meta.len() > 0 {
            let keep = complete_length(&mut file, meta.len())
                .await
                .with_context(|| format!("cannot read the end of {}", path.display()))?;
            if keep < meta.len() {
                file.set_len(keep).await.with_context(|| {
                    format!("cannot cut the incomplete last line of {}", path.display())
                })?;
                file.sync_data()
                    .await
                    .with_context(|| format!("cannot sync {}", path.display()))?;
                eprintln!(
                    "bamfctl: {}: removed an incomplete last line ({} bytes) left by an interrupted export; its records were not acknowledged and will be exported again",
                    path.display(),
                    meta.len() - keep
                );
            }
        }
        Ok(FileSink {
            file,
            path: path.to_path_buf(),
            sync,
        })
    }

    async fn append(&mut self, batch: &[Outgoing]) -> Result<()> {
        let buf = lines(batch);
        self.file
            .write_all(&buf)
            .await
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        self.file
            .flush()
            .await
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        if self.sync {
            self.file
                .sync_data()
                .await
                .with_context(|| format!("cannot sync {} to disk", self.path.display()))?;
        }
        Ok(())
    }
}

/// The length of `file` up to and including its last newline (0 if none).
async fn complete_length(file: &mut tokio::fs::File, len: u64) -> std::io::Result<u64> {
    /// Read backwards this much at a time; export lines are short.
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start)).await?;
        file.read_exact(&mut buf[..n]).await?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// Capped exponential back-off for a sink's retries.
pub struct Backoff {
    next: Duration,
    pub attempt: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Backoff {
            next: INITIAL_BACKOFF,
            attempt: 0,
        }
    }

    /// The pause before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        self.attempt += 1;
        d
    }

    /// Sleeps `delay` unless shutdown is requested first.
    pub async fn sleep(delay: Duration, stop: &CancellationToken) -> Result<(), SinkError> {
        tokio::select! {
            _ = tokio::time::sleep(delay) => Ok(()),
            _ = stop.cancelled() => Err(SinkError::Stopped),
        }
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// `first..=last` of a batch, for messages.
pub fn span(batch: &[Outgoing]) -> String {
    match (batch.first(), batch.last()) {
        (Some(a), Some(b)) if a.seq == b.seq => format!("sequence {}", a.seq),
        (Some(a), Some(b)) => format!("sequences {}..={}", a.seq, b.seq),
        _ => "an empty batch".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_parse_and_bad_ones_are_named() {
        assert_eq!("stdout".parse(), Ok(SinkSpec::Stdout));
        assert_eq!(
            "file:/tmp/a.jsonl".parse(),
            Ok(SinkSpec::File("/tmp/a.jsonl".into()))
        );
        assert_eq!(
            "syslog+tcp://siem.corp:601".parse(),
            Ok(SinkSpec::Syslog("siem.corp:601".into()))
        );
        assert!(matches!(
            "https://siem.corp/in?token=x".parse::<SinkSpec>(),
            Ok(SinkSpec::Http(_))
        ));
        let err = "syslog+tcp://siem.corp".parse::<SinkSpec>().unwrap_err();
        assert!(err.contains("needs a port"), "{err}");
        let err = "kafka://x".parse::<SinkSpec>().unwrap_err();
        assert!(err.starts_with("unknown sink \"kafka://x\""), "{err}");
        assert!("file:".parse::<SinkSpec>().is_err());
    }

    #[test]
    fn a_shown_url_has_no_credentials_or_query() {
        let spec: SinkSpec = "https://u:p@siem.corp:8443/in?token=secret"
            .parse()
            .unwrap();
        assert_eq!(spec.to_string(), "https://siem.corp:8443/in");
    }

    #[tokio::test]
    async fn a_torn_last_line_is_cut_and_the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::fs::write(&path, b"{\"seq\":1}\n{\"seq\":2}\n{\"se").unwrap();
        let mut sink = FileSink::open(&path).await.unwrap();
        sink.append(&[Outgoing {
            seq: 3,
            line: b"{\"seq\":3}".to_vec(),
            payload: Default::default(),
        }])
        .await
        .unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"{\"seq\":1}\n{\"seq\":2}\n{\"seq\":3}\n"
        );
        let fresh = dir.path().join("new.jsonl");
        FileSink::open(&fresh).await.unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
