//! Cache entries on disk.
//!
//! Layout under the cache folder:
//! - `entries/ab/<key>.<nonce>.h5` — the entry's data (one HDF5 file, one group per output port);
//! - `entries/ab/<key>.json` — its manifest, written last: **the commit point**. An entry without a
//!   manifest does not exist. A data file is never written after it is renamed into `entries/`, and
//!   a manifest names exactly one data file, so a reader never sees a half-written entry;
//! - `tmp/` — files being written (removed by `gc` once old);
//! - `refs/<pipeline>/<node>/<sample>.json` — the key last produced for each task (for `status`
//!   reasons and as `gc` roots);
//! - `memo/` — the file-hash memo.
//!
//! No lock is taken: concurrent runs of the same task each write their own temp file; whichever
//! commits first wins and the other discards its copy (or, in a near-tie, both manifests are valid
//! and name complete data files).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::fsutil::{rename_durable, sync_dir, write_atomic};
use super::key::Recipe;

/// What the manifest of a committed entry records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub key: String,
    pub node: String,
    pub sample: String,
    pub recipe: Recipe,
    /// Paths of file inputs, by port (for messages only; the key uses their hashes).
    #[serde(default)]
    pub sources: std::collections::BTreeMap<String, Vec<String>>,
    /// Name of the data file next to the manifest.
    pub data_file: String,
    /// blake3 of the data file's bytes.
    pub checksum: String,
    pub size: u64,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub duration_s: f64,
    #[serde(default)]
    pub warnings: Vec<String>,
    pub corrflow_version: String,
}

/// The result of [`Store::find`].
#[derive(Debug)]
pub enum Found {
    Nothing,
    Entry(Box<Manifest>),
    /// A manifest whose data file cannot be the one it describes.
    Damaged {
        path: PathBuf,
        reason: String,
    },
}

/// A task's pointer to the key it last produced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ref {
    pub key: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cache {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cache entry {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An entry being written.
pub struct Pending {
    pub key: String,
    pub path: PathBuf,
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn shard(&self, key: &str) -> PathBuf {
        self.root.join("entries").join(key.get(..2).unwrap_or("00"))
    }

    pub fn manifest_path(&self, key: &str) -> PathBuf {
        self.shard(key).join(format!("{key}.json"))
    }

    pub fn data_path(&self, m: &Manifest) -> PathBuf {
        self.shard(&m.key).join(&m.data_file)
    }

    pub fn memo_path(&self) -> PathBuf {
        self.root.join("memo").join("file-hashes.json")
    }

    /// The committed entry for `key`, if there is one whose data file is present with the recorded
    /// size. (Content is verified by [`Store::verify`] before the entry is read.)
    pub fn lookup(&self, key: &str) -> Option<Manifest> {
        match self.find(key) {
            Found::Entry(m) => Some(*m),
            Found::Nothing | Found::Damaged { .. } => None,
        }
    }

    /// What the cache holds for `key`: nothing, a committed entry, or a manifest whose data file
    /// is gone or has another size than recorded (truncated or replaced on disk).
    pub fn find(&self, key: &str) -> Found {
        let Ok(bytes) = std::fs::read(self.manifest_path(key)) else {
            return Found::Nothing;
        };
        let Ok(m) = serde_json::from_slice::<Manifest>(&bytes) else {
            return Found::Nothing;
        };
        if m.key != key {
            return Found::Nothing;
        }
        let path = self.data_path(&m);
        match std::fs::metadata(&path) {
            Ok(md) if md.len() == m.size => Found::Entry(Box::new(m)),
            Ok(md) => Found::Damaged {
                path,
                reason: format!("{} bytes, its manifest records {}", md.len(), m.size),
            },
            Err(_) => Found::Damaged {
                path,
                reason: "the data file is missing".into(),
            },
        }
    }

    /// Check the data file against the manifest's checksum.
    pub fn verify(&self, m: &Manifest) -> Result<(), StoreError> {
        let path = self.data_path(m);
        let hash = super::filehash::hash_file(&path).map_err(io(&path))?;
        if hash != m.checksum {
            return Err(StoreError::Corrupt {
                path,
                reason: "checksum does not match its manifest".into(),
            });
        }
        Ok(())
    }

    /// Set an entry aside after it failed verification, so that it is recomputed.
    pub fn quarantine(&self, m: &Manifest) {
        let _ = std::fs::remove_file(self.manifest_path(&m.key));
    }

    /// Start writing an entry: a fresh temp path for its data file.
    pub fn begin(&self, key: &str) -> Result<Pending, StoreError> {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let path = tmp.join(format!("{key}.{}.h5", nonce()));
        Ok(Pending {
            key: key.to_string(),
            path,
        })
    }

    /// Commit a written entry: fsync its data, rename it into place, then write the manifest.
    /// If another run committed the same key meanwhile, ours is discarded and theirs returned.
    pub fn commit(&self, pending: Pending, mut manifest: Manifest) -> Result<Manifest, StoreError> {
        if let Some(existing) = self.lookup(&pending.key) {
            let _ = std::fs::remove_file(&pending.path);
            return Ok(existing);
        }
        let data = &pending.path;
        std::fs::File::open(data)
            .and_then(|f| f.sync_all())
            .map_err(io(data))?;
        manifest.checksum = super::filehash::hash_file(data).map_err(io(data))?;
        manifest.size = std::fs::metadata(data).map_err(io(data))?.len();
        let name = data
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        manifest.data_file = name.clone();
        let shard = self.shard(&pending.key);
        std::fs::create_dir_all(&shard).map_err(io(&shard))?;
        let target = shard.join(&name);
        crate::crashpoint::hit("commit.synced");
        rename_durable(data, &target).map_err(io(&target))?;
        crate::crashpoint::hit("commit.renamed");
        let mpath = self.manifest_path(&pending.key);
        let bytes = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| io(&mpath)(std::io::Error::other(e)))?;
        write_atomic(&mpath, &bytes).map_err(io(&mpath))?;
        crate::crashpoint::hit("commit.done");
        Ok(manifest)
    }

    /// Throw away an entry that was being written.
    pub fn abort(&self, pending: Pending) {
        let _ = std::fs::remove_file(pending.path);
    }

    fn ref_path(&self, pipeline: &str, node: &str, sample: &str) -> PathBuf {
        self.root
            .join("refs")
            .join(pipeline)
            .join(node)
            .join(format!("{sample}.json"))
    }

    pub fn read_ref(&self, pipeline: &str, node: &str, sample: &str) -> Option<Ref> {
        let bytes = std::fs::read(self.ref_path(pipeline, node, sample)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Point a task at `key` (skipped when it already does).
    pub fn write_ref(
        &self,
        pipeline: &str,
        node: &str,
        sample: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        if self
            .read_ref(pipeline, node, sample)
            .is_some_and(|r| r.key == key)
        {
            return Ok(());
        }
        let path = self.ref_path(pipeline, node, sample);
        let bytes = serde_json::to_vec(&Ref {
            key: key.to_string(),
        })
        .unwrap_or_default();
        write_atomic(&path, &bytes).map_err(io(&path))
    }

    /// Every key referenced by any pipeline's refs.
    pub fn live_keys(&self) -> std::collections::HashSet<String> {
        let mut keys = std::collections::HashSet::new();
        for path in walk(&self.root.join("refs")) {
            if let Some(r) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Ref>(&b).ok())
            {
                keys.insert(r.key);
            }
        }
        keys
    }

    /// Remove entries no ref points at, data files no manifest names, and stale temp files (in
    /// `tmp/`, and the `.tmp-*` files of atomic writes anywhere in the cache).
    /// Files younger than `grace` are left alone (they may belong to a run in progress).
    pub fn gc(&self, grace: Duration, dry_run: bool) -> Result<GcReport, StoreError> {
        let live = self.live_keys();
        // Ages are measured by the file system's clock, which stamped the files (on NFS the
        // server's): a machine whose clock is ahead cannot take a running task's files for old.
        let now = super::fsutil::file_system_now(&self.root).unwrap_or_else(|_| SystemTime::now());
        let old = |p: &Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() >= grace)
                .unwrap_or(false)
        };
        let mut report = GcReport::default();
        let mut named = std::collections::HashSet::new();
        let entries = self.root.join("entries");
        let files = walk(&entries);
        // Manifests first: decide which entries live.
        for p in files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
        {
            let Some(m) = std::fs::read(p)
                .ok()
                .and_then(|b| serde_json::from_slice::<Manifest>(&b).ok())
            else {
                if old(p) {
                    report.remove(p, dry_run);
                }
                continue;
            };
            if live.contains(&m.key) || !old(p) {
                named.insert(self.data_path(&m));
                report.kept += 1;
            } else {
                report.remove(p, dry_run);
                report.entries += 1;
            }
        }
        for p in files
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "h5"))
        {
            if !named.contains(p) && old(p) {
                report.remove(p, dry_run);
            }
        }
        for p in walk(&self.root.join("tmp")) {
            if old(&p) {
                report.remove(&p, dry_run);
            }
        }
        // Temp files of atomic writes (manifests, refs, the memo) left by a killed run.
        for p in walk(&self.root) {
            let stale_tmp = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".tmp-"));
            if stale_tmp && old(&p) {
                report.remove(&p, dry_run);
            }
        }
        if !dry_run && entries.exists() {
            sync_dir(&entries).map_err(io(&entries))?;
        }
        Ok(report)
    }
}

#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    /// Entries removed (or that would be, with --dry-run).
    pub entries: usize,
    pub kept: usize,
    pub files_removed: usize,
    pub bytes_freed: u64,
}

impl GcReport {
    fn remove(&mut self, p: &Path, dry_run: bool) {
        let size = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        if dry_run || std::fs::remove_file(p).is_ok() {
            self.files_removed += 1;
            self.bytes_freed += size;
        }
    }
}

/// All files below `dir` (none if it does not exist).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out
}

/// A unique suffix for temp and data files: process id, time and a counter.
fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let h = blake3::hash(format!("{}-{t}-{n}", std::process::id()).as_bytes());
    h.to_hex()[..12].to_string()
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::key::InputId;
    use std::collections::BTreeMap;

    fn manifest(key: &str) -> Manifest {
        Manifest {
            format: 1,
            key: key.into(),
            node: "n".into(),
            sample: "s".into(),
            recipe: Recipe {
                stage: "x".into(),
                version: "1".into(),
                params: serde_json::json!({}),
                inputs: BTreeMap::from([("t".into(), InputId::Text { value: "v".into() })]),
                samples: None,
            },
            sources: BTreeMap::new(),
            data_file: String::new(),
            checksum: String::new(),
            size: 0,
            created: unix_now(),
            duration_s: 0.0,
            warnings: vec![],
            corrflow_version: "test".into(),
        }
    }

    #[test]
    fn commit_lookup_verify_and_gc() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let key = "ab".repeat(32);
        assert!(store.lookup(&key).is_none());
        let p = store.begin(&key).unwrap();
        std::fs::write(&p.path, b"data").unwrap();
        // Not visible before commit.
        assert!(store.lookup(&key).is_none());
        let m = store.commit(p, manifest(&key)).unwrap();
        let found = store.lookup(&key).unwrap();
        assert_eq!(found.checksum, m.checksum);
        store.verify(&found).unwrap();
        // A second commit of the same key keeps the first.
        let p2 = store.begin(&key).unwrap();
        std::fs::write(&p2.path, b"other").unwrap();
        let tmp2 = p2.path.clone();
        let m2 = store.commit(p2, manifest(&key)).unwrap();
        assert_eq!(m2.data_file, m.data_file);
        assert!(!tmp2.exists());
        // Corruption is detected.
        std::fs::write(store.data_path(&m), b"dat!").unwrap();
        assert!(matches!(store.verify(&m), Err(StoreError::Corrupt { .. })));
        std::fs::write(store.data_path(&m), b"data").unwrap();
        // gc keeps referenced entries, removes the rest.
        store.write_ref("p", "n", "s", &key).unwrap();
        let r = store.gc(Duration::ZERO, false).unwrap();
        assert_eq!(r.entries, 0);
        assert!(store.lookup(&key).is_some());
        std::fs::remove_dir_all(dir.path().join("refs")).unwrap();
        let r = store.gc(Duration::ZERO, false).unwrap();
        assert_eq!(r.entries, 1);
        assert!(store.lookup(&key).is_none());
    }
}
