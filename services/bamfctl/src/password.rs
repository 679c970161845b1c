//! Getting a password without echoing it: from a terminal prompt, or one line
//! of stdin with `--password-stdin` (scripts, CI). Also the random password of
//! `users create --generate-password`.

use std::io::{self, BufRead, IsTerminal, Read};

use anyhow::{bail, Context, Result};
use base64::Engine;

/// Longest password accepted from stdin; bounds the read.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Random bytes in a generated password (144 bits; 24 base64url characters).
const GENERATED_BYTES: usize = 18;

/// The first line of `input`, without its line ending. Empty input, an empty
/// line or one longer than [`MAX_PASSWORD_BYTES`] is refused. Spaces are kept:
/// they may be part of the password.
pub fn read_password_line(input: impl BufRead) -> Result<String> {
    let mut line = Vec::new();
    // One byte over the limit tells "too long" from "exactly at the limit".
    let read = input
        .take(MAX_PASSWORD_BYTES as u64 + 2)
        .read_until(b'\n', &mut line)
        .context("cannot read the password from stdin")?;
    if read == 0 {
        bail!("no password on stdin (--password-stdin reads one line)");
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_PASSWORD_BYTES {
        bail!("the password on stdin is longer than {MAX_PASSWORD_BYTES} bytes");
    }
    if line.is_empty() {
        bail!("the password on stdin is empty");
    }
    String::from_utf8(line).context("the password on stdin is not UTF-8")
}

/// `--password-stdin` reads stdin; otherwise prompt on the terminal without echo.
pub fn obtain(from_stdin: bool, prompt: &str) -> Result<String> {
    if from_stdin {
        return read_password_line(io::stdin().lock());
    }
    if !io::stdin().is_terminal() {
        bail!("stdin is not a terminal, so there is no one to ask for a password; pipe it in with --password-stdin");
    }
    let password = rpassword::prompt_password(prompt).context("cannot read the password")?;
    if password.is_empty() {
        bail!("empty password");
    }
    Ok(password)
}

/// Asks for a line of text (the e-mail at login) on a terminal.
pub fn prompt_line(prompt: &str, what_flag: &str) -> Result<String> {
    if !io::stdin().is_terminal() {
        bail!("stdin is not a terminal; give {what_flag}");
    }
    eprint!("{prompt}");
    let mut line = String::new();
    io::stdin()
        .lock()
        .take(MAX_PASSWORD_BYTES as u64)
        .read_line(&mut line)
        .context("cannot read from the terminal")?;
    let line = line.trim();
    if line.is_empty() {
        bail!("nothing entered; give {what_flag}");
    }
    Ok(line.to_string())
}

/// A random password, URL-safe characters only so it survives copy and paste.
pub fn generate() -> String {
    let bytes: [u8; GENERATED_BYTES] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_is_read_without_its_ending_and_spaces_are_kept() {
        assert_eq!(read_password_line(&b"hunter2\n"[..]).unwrap(), "hunter2");
        assert_eq!(
            read_password_line(&b"hunter2\r\nmore\n"[..]).unwrap(),
            "hunter2"
        );
        assert_eq!(read_password_line(&b" a b "[..]).unwrap(), " a b ");
    }

    #[test]
    fn empty_long_or_missing_input_is_refused() {
        assert!(read_password_line(&b""[..])
            .unwrap_err()
            .to_string()
            .contains("no password"));
        assert!(read_password_line(&b"\n"[..])
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let at_limit = "x".repeat(MAX_PASSWORD_BYTES) + "\n";
        assert_eq!(
            read_password_line(at_limit.as_bytes()).unwrap().len(),
            MAX_PASSWORD_BYTES
        );
        let over = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(read_password_line(over.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("longer"));
        assert!(read_password_line(&b"\xff\xfe\n"[..]).is_err());
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (generate(), generate());
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
