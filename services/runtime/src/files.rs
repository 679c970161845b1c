//! Small, private state files of a program (an identity key, its
//! certificate): bounded reads, a key refused when group or others can read
//! it, and writes through a temporary file and a rename, so a crash never
//! leaves half a file.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Largest state file read (a key, a certificate or an id).
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// Why a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("key file {} has mode {mode:o}; it must not be readable by group or others (chmod 600)", path.display())]
    KeyFileTooOpen { path: PathBuf, mode: u32 },
    #[error("{} is larger than {MAX_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf },
}

/// Reads a text file of at most [`MAX_FILE_BYTES`].
pub fn read_limited(path: &Path) -> Result<String, FileError> {
    let io = |source| FileError::Io {
        action: "read",
        path: path.into(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge { path: path.into() });
    }
    std::fs::read_to_string(path).map_err(io)
}

/// Reads a private key file, refusing one that group or others can access.
pub fn read_key_file(path: &Path) -> Result<String, FileError> {
    let meta = std::fs::metadata(path).map_err(|source| FileError::Io {
        action: "read",
        path: path.into(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(FileError::KeyFileTooOpen {
            path: path.into(),
            mode,
        });
    }
    read_limited(path)
}

/// Creates `dir` (and its parents) when missing; a new folder gets mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| FileError::Io {
            action: "create folder",
            path: dir.into(),
            source,
        })
}

/// Replaces `path` with `contents` (file mode `mode`) through a temporary
/// file, synced, then renamed over it.
pub fn write_atomic(path: &Path, contents: &str, mode: u32) -> Result<(), FileError> {
    let tmp = path.with_extension("tmp");
    let io = |action, source| FileError::Io {
        action,
        path: path.into(),
        source,
    };
    let _ = std::fs::remove_file(&tmp);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| io("create", e))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io("write", e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("replace", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_key_reads_back_and_an_open_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("nested").join("x.key");
        create_private_dir(key.parent().unwrap()).unwrap();
        write_atomic(&key, "secret", 0o600).unwrap();
        assert_eq!(read_key_file(&key).unwrap(), "secret");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = read_key_file(&key).unwrap_err();
        assert!(
            matches!(err, FileError::KeyFileTooOpen { mode: 0o640, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }

    #[test]
    fn an_oversized_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.crt");
        std::fs::write(&big, vec![b'a'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            read_limited(&big),
            Err(FileError::TooLarge { .. })
        ));
    }
}
