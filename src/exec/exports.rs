//! Human-readable exports into the results folder, redone only when the entry behind them changed.
//!
//! Which entry each item (one task's exports) was written from is recorded in a file of its own,
//! `results/.corrflow/exports/SAMPLE/NODE.json`, written atomically after the exports. Separate
//! files, not one shared record, so that concurrent runs and Snakemake jobs writing into one
//! results folder never overwrite each other's records, without any lock (locks are unreliable on
//! NFS). Sample and node ids are validated plain names, so the path stays inside the folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cache::fsutil::write_atomic;

/// The record of one item.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// The key of the entry the files were written from.
    key: String,
    /// The files written, relative to the results folder.
    files: Vec<String>,
}

pub struct Exports {
    dir: PathBuf,
}

impl Exports {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record_path(&self, sample: &str, node: &str) -> PathBuf {
        self.dir
            .join(".corrflow/exports")
            .join(sample)
            .join(format!("{node}.json"))
    }

    /// Whether the exports of `node` for `sample` were written from the entry `key` and its
    /// files are all still there. A missing or unreadable record means "export again".
    pub fn is_current(&self, sample: &str, node: &str, key: &str) -> bool {
        std::fs::read(self.record_path(sample, node))
            .ok()
            .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            .is_some_and(|r| r.key == key && r.files.iter().all(|f| self.dir.join(f).exists()))
    }

    /// Record that `files` were written from the entry `key`.
    pub fn record(
        &self,
        sample: &str,
        node: &str,
        key: &str,
        files: &[PathBuf],
    ) -> std::io::Result<()> {
        let record = Record {
            key: key.to_string(),
            files: files
                .iter()
                .map(|f| f.strip_prefix(&self.dir).unwrap_or(f).display().to_string())
                .collect(),
        };
        let path = self.record_path(sample, node);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let bytes = serde_json::to_vec_pretty(&record).map_err(std::io::Error::other)?;
        write_atomic(&path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_current_only_for_its_key_and_while_its_files_exist() {
        let dir = tempfile::tempdir().unwrap();
        let ex = Exports::new(dir.path());
        assert!(!ex.is_current("s1", "seg", "k1"));
        let f = dir.path().join("s1/seg.csv");
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(&f, "x").unwrap();
        ex.record("s1", "seg", "k1", std::slice::from_ref(&f))
            .unwrap();
        assert!(ex.is_current("s1", "seg", "k1"));
        assert!(!ex.is_current("s1", "seg", "k2"));
        // Another item's record (as written by a concurrent job) leaves this one alone.
        ex.record("s2", "seg", "k9", &[]).unwrap();
        assert!(ex.is_current("s1", "seg", "k1"));
        assert!(ex.is_current("s2", "seg", "k9"));
        std::fs::remove_file(&f).unwrap();
        assert!(!ex.is_current("s1", "seg", "k1"));
    }
}
