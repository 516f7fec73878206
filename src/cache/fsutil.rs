//! Crash-safe file writes: temp file in the same folder, fsync, atomic rename, fsync the folder.

use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically: readers see the old file or the new one, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    crate::crashpoint::hit("atomic.written");
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// fsync a folder so that a rename in it survives a crash.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Rename `from` to `to` (same file system) and make it durable.
pub fn rename_durable(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::rename(from, to)?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}
