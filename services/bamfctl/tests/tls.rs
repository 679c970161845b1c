//! bamfctl's https path without an API: rustls with the *ring* provider and
//! the roots `SSL_CERT_FILE` names. A TLS listener on 127.0.0.1:0 completes
//! the handshake, reads the HTTP request bamfctl sends through it, and closes
//! without answering — so the request's arrival proves the handshake, and
//! what bamfctl says proves it knew the failure came after it. (Everything an
//! answer would show is tested against the real API: tests/tests/cli_control.rs
//! in bamf-testkit.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_bamfctl");
/// How long the listener waits for bamfctl's bytes, and the test for the listener.
const WAIT: Duration = Duration::from_secs(10);

/// What the listener saw of its one connection.
#[derive(Debug)]
enum Seen {
    /// The handshake completed and this request line arrived.
    Request(String),
    /// The handshake (or the read) failed.
    Failed(String),
}

/// A self-signed certificate for `localhost` and the rustls server configuration using it.
fn server_identity() -> (
    rcgen::CertifiedKey<rcgen::KeyPair>,
    Arc<rustls::ServerConfig>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    (cert, Arc::new(config))
}

/// Accepts one connection on a fresh port, serves TLS, reads one request
/// (head and body) and closes. Answers the https URL and what it saw.
fn listen_once(config: Arc<rustls::ServerConfig>) -> (String, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // https needs a name the certificate holds; "localhost" resolves to 127.0.0.1.
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let (tx, seen) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((tcp, _)) = listener.accept() else {
            return;
        };
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        let conn = rustls::ServerConnection::new(config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let _ = tx.send(match read_request(&mut tls) {
            Ok(line) => Seen::Request(line),
            Err(e) => Seen::Failed(e.to_string()),
        });
        tls.conn.send_close_notify();
        let _ = tls.flush();
    });
    (url, seen)
}

/// The request line, after reading the head and the body so closing sends
/// no reset.
fn read_request(stream: &mut impl Read) -> std::io::Result<String> {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut body_len = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                body_len = value.trim().parse().unwrap_or(0);
            }
        }
    }
    reader.read_exact(&mut vec![0; body_len])?;
    Ok(request_line.trim_end().to_string())
}

/// `bamfctl --api-url <url> login …` with `roots` as the only trusted roots.
fn login(url: &str, roots: &Path, home: &Path) -> Output {
    let mut child = Command::new(BIN)
        .env("BAMF_HOME", home)
        .env("SSL_CERT_FILE", roots)
        .env_remove("SSL_CERT_DIR")
        .env_remove("BAMF_API_URL")
        .args([
            "--api-url",
            url,
            "login",
            "--email",
            "ada@example.com",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"pw\n").unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn https_reaches_the_http_stage_with_roots_from_ssl_cert_file() {
    let (cert, config) = server_identity();
    let (url, seen) = listen_once(config);
    let home = tempfile::tempdir().unwrap();
    let roots = home.path().join("roots.pem");
    std::fs::write(&roots, cert.cert.pem()).unwrap();

    let out = login(&url, &roots, home.path());
    let request = seen.recv_timeout(WAIT).expect("bamfctl connected");
    assert!(
        matches!(&request, Seen::Request(line) if line == "POST /api/v1/auth/local/login HTTP/1.1"),
        "{request:?}"
    );
    // No answer came, and bamfctl says so: a failure talking to the API,
    // not one reaching it.
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: cannot log in as ada@example.com: cannot talk to the bamf API at {url}: "
        )),
        "{err}"
    );
    assert!(!err.contains("plain http"), "{err}");
    assert!(!home.path().join("credentials.json").exists());
}

#[test]
fn https_to_a_certificate_outside_the_roots_is_refused_before_any_request() {
    let (_, config) = server_identity();
    let (url, seen) = listen_once(config);
    let home = tempfile::tempdir().unwrap();
    // Trusted: another self-signed certificate, not the server's.
    let (other, _) = server_identity();
    let roots = home.path().join("roots.pem");
    std::fs::write(&roots, other.cert.pem()).unwrap();

    let out = login(&url, &roots, home.path());
    let seen = seen.recv_timeout(WAIT).expect("bamfctl connected");
    // The client ended the handshake with an alert.
    assert!(
        matches!(&seen, Seen::Failed(why) if why.contains("alert")),
        "{seen:?}"
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "error: cannot log in as ada@example.com: cannot reach the bamf API at {url}: "
        )),
        "{err}"
    );
    assert!(err.contains("invalid peer certificate"), "{err}");
}
