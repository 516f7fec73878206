//! Content hashes of input files, memoised by (device, inode, size, mtime) so that large inputs are
//! read once, not on every run. A changed stat always means a re-hash; the hash decides.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::fsutil::write_atomic;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    hash: String,
}

/// The memo, loaded from and saved to one JSON file in the cache folder.
pub struct HashMemo {
    path: PathBuf,
    /// By absolute path as text: string keys compare bytewise, which makes loading a memo of
    /// thousands of files several times faster than `PathBuf` keys (compared component by
    /// component). A lossy conversion cannot mix files up: the stamp's device and inode decide.
    map: Mutex<BTreeMap<String, Stamp>>,
    dirty: Mutex<bool>,
}

impl HashMemo {
    /// Load the memo (a missing or unreadable memo is simply empty: it is only a memo).
    pub fn load(path: PathBuf) -> Self {
        let map = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            path,
            map: Mutex::new(map),
            dirty: Mutex::new(false),
        }
    }

    /// The blake3 hash (hex) of the file's bytes.
    pub fn hash(&self, file: &Path) -> std::io::Result<String> {
        let abs = std::path::absolute(file)?;
        let md = std::fs::metadata(&abs)?;
        if !md.is_file() {
            return Err(std::io::Error::other(format!(
                "{} is not a regular file",
                abs.display()
            )));
        }
        let mtime_ns = i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec());
        let probe = |s: &Stamp| {
            s.dev == md.dev() && s.ino == md.ino() && s.size == md.len() && s.mtime_ns == mtime_ns
        };
        let name = abs.to_string_lossy().into_owned();
        if let Some(s) = lock(&self.map).get(&name).filter(|s| probe(s)) {
            return Ok(s.hash.clone());
        }
        let hash = hash_file(&abs)?;
        let stamp = Stamp {
            dev: md.dev(),
            ino: md.ino(),
            size: md.len(),
            mtime_ns,
            hash: hash.clone(),
        };
        lock(&self.map).insert(name, stamp);
        *lock(&self.dirty) = true;
        Ok(hash)
    }

    /// Save if anything changed (atomic; concurrent runs may overwrite each other: it is a memo).
    pub fn save(&self) -> std::io::Result<()> {
        if !*lock(&self.dirty) {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&*lock(&self.map)).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &bytes)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// blake3 of a file's bytes: memory-mapped and multi-threaded for large files.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    let len = std::fs::metadata(path)?.len();
    if len >= 4 << 20 {
        h.update_mmap_rayon(path)?;
    } else {
        h.update_reader(std::fs::File::open(path)?)?;
    }
    Ok(h.finalize().to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memo_rehashes_when_content_changes_and_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.bin");
        std::fs::write(&f, b"hello").unwrap();
        let memo = HashMemo::load(dir.path().join("memo.json"));
        let h1 = memo.hash(&f).unwrap();
        assert_eq!(h1, blake3::hash(b"hello").to_hex().to_string());
        memo.save().unwrap();
        let memo = HashMemo::load(dir.path().join("memo.json"));
        assert_eq!(memo.hash(&f).unwrap(), h1);
        std::fs::write(&f, b"hellp").unwrap();
        assert_ne!(memo.hash(&f).unwrap(), h1);
        assert!(memo.hash(&dir.path().join("missing")).is_err());
    }
}
