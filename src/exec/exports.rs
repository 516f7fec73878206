//! Human-readable exports into the results folder, redone only when the entry behind them changed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::cache::fsutil::write_atomic;

/// Which entry each export folder item was written from: `results/.corrflow/exports.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Record {
    /// "sample/node" → (key, files written relative to the results folder).
    items: BTreeMap<String, (String, Vec<String>)>,
}

pub struct Exports {
    dir: PathBuf,
    record: Mutex<Record>,
    dirty: Mutex<bool>,
}

impl Exports {
    pub fn load(dir: &Path) -> Self {
        let record = std::fs::read(dir.join(".corrflow/exports.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Self {
            dir: dir.to_path_buf(),
            record: Mutex::new(record),
            dirty: Mutex::new(false),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `item` was exported from `key` and its files are all still there.
    pub fn is_current(&self, item: &str, key: &str) -> bool {
        let rec = self
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        rec.items
            .get(item)
            .is_some_and(|(k, files)| k == key && files.iter().all(|f| self.dir.join(f).exists()))
    }

    pub fn record(&self, item: &str, key: &str, files: &[PathBuf]) {
        let rel = files
            .iter()
            .map(|f| f.strip_prefix(&self.dir).unwrap_or(f).display().to_string())
            .collect();
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .items
            .insert(item.to_string(), (key.to_string(), rel));
        *self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
    }

    pub fn save(&self) -> std::io::Result<()> {
        if !*self
            .dirty
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            return Ok(());
        }
        let rec = self
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bytes = serde_json::to_vec_pretty(&*rec).map_err(std::io::Error::other)?;
        write_atomic(&self.dir.join(".corrflow/exports.json"), &bytes)
    }
}
