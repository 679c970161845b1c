//! The saved login: `~/.bamf/credentials.json` (or `$BAMF_HOME/credentials.json`),
//! `{api_url, token, email, expires_at}`. The token is a bearer credential, so
//! the file is 0600 in a 0700 directory, written whole (temp file + rename) so a
//! crash never leaves half a file, and a file others could read is refused
//! rather than used.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Relocates `~/.bamf` (tests, several identities).
pub const HOME_ENV: &str = "BAMF_HOME";
/// The file name inside the bamf home.
pub const CREDENTIALS_FILE: &str = "credentials.json";
/// Owner read/write only.
const FILE_MODE: u32 = 0o600;
/// Owner only.
const DIR_MODE: u32 = 0o700;
/// Permission bits of group and others.
const GROUP_OTHER_BITS: u32 = 0o077;
/// Larger than any real credentials file; bounds what a stray file makes us read.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// What `bamfctl login` saves.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub api_url: String,
    pub token: String,
    pub email: String,
    /// RFC 3339, as the server wrote it.
    pub expires_at: String,
}

impl std::fmt::Debug for Credentials {
    // Never print the token, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_url", &self.api_url)
            .field("token", &"<redacted>")
            .field("email", &self.email)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why the credentials file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot find the home directory: set HOME or {HOME_ENV}")]
    NoHome,
    #[error(
        "credentials file {path} can be read by group or others (mode {mode:04o}); \
         run `chmod 600 {path}` or `bamfctl login` again"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("credentials file {path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("credentials file {path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("cannot read credentials file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("credentials file {path} is damaged ({source}); run `bamfctl login` again")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot write credentials to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The bamf home directory and the credentials file in it.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    /// `$BAMF_HOME`, else `$HOME/.bamf`.
    pub fn from_env() -> Result<Self, CredentialsError> {
        let non_empty = |k| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(dir) = non_empty(HOME_ENV) {
            return Ok(Store::new(dir));
        }
        let home = non_empty("HOME").ok_or(CredentialsError::NoHome)?;
        Ok(Store::new(PathBuf::from(home).join(".bamf")))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(CREDENTIALS_FILE)
    }

    /// The saved login, `None` when there is no file.
    pub fn load(&self) -> Result<Option<Credentials>, CredentialsError> {
        let path = self.path();
        let read = |source| CredentialsError::Read {
            path: path.clone(),
            source,
        };
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read(e)),
        };
        // Checked on the open handle, so the file judged is the file read.
        let meta = file.metadata().map_err(read)?;
        if !meta.is_file() {
            return Err(CredentialsError::NotAFile { path });
        }
        if let Some(mode) = mode_of(&meta).filter(|m| m & GROUP_OTHER_BITS != 0) {
            return Err(CredentialsError::TooOpen { path, mode });
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(CredentialsError::TooLarge { path });
        }
        let text = io::read_to_string(file).map_err(read)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|source| CredentialsError::Parse { path, source })
    }

    /// Replaces the file atomically: the old login or the new one, never a mix.
    pub fn save(&self, creds: &Credentials) -> Result<(), CredentialsError> {
        let path = self.path();
        let write = |source| CredentialsError::Write {
            path: path.clone(),
            source,
        };
        create_private_dir(&self.dir).map_err(write)?;
        // Serializing plain strings cannot fail.
        let mut json = serde_json::to_vec_pretty(creds).expect("credentials serialize");
        json.push(b'\n');
        let tmp = self.dir.join(format!(
            ".{CREDENTIALS_FILE}.{}.{:016x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let result = write_new_private(&tmp, &json).and_then(|()| fs::rename(&tmp, &path));
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(write)?;
        // Make the rename itself durable; a failure here leaves a correct file.
        if let Ok(dir) = File::open(&self.dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Deletes the file; `false` when there was none.
    pub fn remove(&self) -> Result<bool, CredentialsError> {
        let path = self.path();
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(CredentialsError::Write { path, source }),
        }
    }
}

/// `create_new` so a leftover or planted file is never reused; mode set at
/// creation, so the token is never in a file others can open.
fn write_new_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Creates the directory 0700, and tightens an existing one that is looser.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(dir)?;
        if meta.permissions().mode() & GROUP_OTHER_BITS != 0 {
            fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn mode_of(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_meta: &fs::Metadata) -> Option<u32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn creds() -> Credentials {
        Credentials {
            api_url: "http://127.0.0.1:8080".into(),
            token: "tok".into(),
            email: "ada@example.com".into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn save_writes_a_0600_file_in_a_0700_dir_and_load_reads_it_back() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path().join("nested/.bamf"));
        assert!(store.load().unwrap().is_none());
        store.save(&creds()).unwrap();
        assert_eq!(mode(store.dir()), 0o700);
        assert_eq!(mode(&store.path()), 0o600);
        assert_eq!(store.load().unwrap(), Some(creds()));
        // No temp file left behind.
        let names: Vec<_> = fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(CREDENTIALS_FILE)]);
    }

    #[test]
    fn save_replaces_an_existing_login_and_tightens_a_loose_dir() {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let store = Store::new(tmp.path());
        store.save(&creds()).unwrap();
        let mut other = creds();
        other.email = "bob@example.com".into();
        store.save(&other).unwrap();
        assert_eq!(store.load().unwrap(), Some(other));
        assert_eq!(mode(tmp.path()), 0o700);
    }

    #[test]
    fn a_file_readable_by_others_is_refused_with_the_chmod_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        store.save(&creds()).unwrap();
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o644)).unwrap();
        let err = store.load().unwrap_err();
        assert!(
            matches!(&err, CredentialsError::TooOpen { mode: 0o644, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
        // Group-readable only is refused too.
        fs::set_permissions(store.path(), fs::Permissions::from_mode(0o640)).unwrap();
        assert!(matches!(
            store.load(),
            Err(CredentialsError::TooOpen { .. })
        ));
    }

    #[test]
    fn a_damaged_file_names_itself() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        write_new_private(&store.path(), b"{not json").unwrap();
        assert!(matches!(store.load(), Err(CredentialsError::Parse { .. })));
    }

    #[test]
    fn remove_is_idempotent() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        store.save(&creds()).unwrap();
        assert!(store.remove().unwrap());
        assert!(!store.remove().unwrap());
        assert!(store.load().unwrap().is_none());
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let mut c = creds();
        c.token = "s3cr3t-token-value".into();
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
