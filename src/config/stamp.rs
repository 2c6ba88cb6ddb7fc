//! What a file looked like when the load step read it, so the reload
//! watcher can tell whether it changed since.
//!
//! Each file is stamped **just before** it is read: a write that lands
//! while (or after) the file is read changes the file's stamp, the watcher
//! sees a difference and reloads. Stamping after the load instead would
//! take such a write's stamp as the one already loaded, and miss it.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// A file's identity and content stamp: an in-place write changes the
/// mtime or size, an editor's rename-over changes the inode. `None`: the
/// file could not be examined (missing, unreadable).
pub type Stamp = Option<(SystemTime, u64, u64)>;

/// `path`'s stamp now.
pub fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Some((m.modified().ok()?, m.len(), ino))
}

/// The stamps of the files one load read, each taken before its read.
#[derive(Debug, Clone, Default)]
pub struct ReadStamps(Vec<(PathBuf, Stamp)>);

impl ReadStamps {
    /// Stamps `path`, about to be read. A file read twice keeps its first
    /// (earliest) stamp.
    pub fn before_reading(&mut self, path: &Path) {
        if self.get(path).is_none() {
            self.0.push((path.to_path_buf(), stamp(path)));
        }
    }

    /// The stamp `path` had before the load read it (`None`: not recorded).
    pub fn get(&self, path: &Path) -> Option<Stamp> {
        self.0.iter().find(|(p, _)| p == path).map(|(_, s)| *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_stamp_of_a_file_is_kept_and_later_writes_differ_from_it() {
        let dir = std::env::temp_dir().join(format!("scim-bridge-stamp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("m.yaml");
        std::fs::write(&f, "a").unwrap();
        let mut s = ReadStamps::default();
        s.before_reading(&f);
        let first = s.get(&f).unwrap();
        assert!(first.is_some());
        // Written after the stamp (as an edit during the load would be).
        std::fs::write(&f, "ab").unwrap();
        s.before_reading(&f);
        assert_eq!(s.get(&f), Some(first), "the earliest stamp is kept");
        assert_ne!(stamp(&f), first, "the write shows in the file's stamp");
        // A missing file is recorded as such (its appearance is a change).
        let gone = dir.join("missing.yaml");
        s.before_reading(&gone);
        assert_eq!(s.get(&gone), Some(None));
        assert_eq!(s.get(&dir.join("never-read.yaml")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
