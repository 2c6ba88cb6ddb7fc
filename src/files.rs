//! Reading a file the settings name (a secret, a key, a certificate, a key
//! set, a mapping): a regular file, or a link to one, of a bounded size. A
//! leaf: it knows files, nothing of the bridge.
//!
//! `/dev/zero` or `/dev/urandom` never end, and opening a FIFO (or reading
//! `/dev/stdin`) blocks: named by mistake in a setting, either would stop
//! `check`, the start and every reload. The file is opened without waiting
//! (`O_NONBLOCK`, which changes nothing for a regular file) and refused
//! unless regular; then at most `max` bytes are read.

use std::io::Read;
use std::path::Path;

/// Largest secret file (`${file:…}`, key files): a token, key or password
/// is far smaller.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;
/// Largest PEM file (certificates, CA bundles, keys): the system bundle is
/// about 200 KiB.
pub const MAX_PEM_BYTES: u64 = 4 * 1024 * 1024;
/// Largest mapping or JWKS file.
pub const MAX_DOCUMENT_BYTES: u64 = 4 * 1024 * 1024;

/// Why a file could not be read. Never carries the file's content.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    NotRegular,
    TooLarge(u64),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read: {e}"),
            ReadError::NotRegular => f.write_str("not a regular file"),
            ReadError::TooLarge(max) => write!(f, "larger than {} KiB", max / 1024),
        }
    }
}

/// The content of the regular file `path`, at most `max` bytes.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(ReadError::Io)?;
    if !file.metadata().map_err(ReadError::Io)?.is_file() {
        return Err(ReadError::NotRegular);
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(max));
    }
    Ok(bytes)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_text(path: &Path, max: u64) -> Result<String, String> {
    let bytes = read_bounded(path, max).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_of_a_bounded_size() {
        let dir = std::env::temp_dir().join(format!("sb-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fits = dir.join("fits");
        std::fs::write(&fits, "x".repeat(16)).unwrap();
        assert_eq!(read_bounded(&fits, 16).unwrap().len(), 16);
        assert!(matches!(
            read_bounded(&fits, 15),
            Err(ReadError::TooLarge(15))
        ));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 16),
            Err(ReadError::NotRegular)
        ));
        // A FIFO nobody writes to: refused at once, not waited on.
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
        )
        .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let f = fifo.clone();
        std::thread::spawn(move || tx.send(read_bounded(&f, 16).map(drop)).unwrap());
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a FIFO is not waited on");
        assert!(matches!(r, Err(ReadError::NotRegular)), "{r:?}");
        assert!(read_text(&dir.join("missing"), 16)
            .unwrap_err()
            .starts_with("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
