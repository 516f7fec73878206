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

/// Set the modification time of `path` to "now" by the file system's own clock (`futimens` with
/// `UTIME_NOW`; on NFS the server stamps it), not by this machine's clock. `gc` compares such times
/// with [`file_system_now`], so clock skew between the machines of a cluster cannot make work in
/// progress look old. std's `set_modified` can only send an explicit (local) time.
pub fn touch_now(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new().write(true).open(path)?;
    let omit = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_OMIT,
    };
    let now = libc::timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_NOW,
    };
    let times = [omit, now];
    // SAFETY: the descriptor stays open for the call, and `times` is the array of two timespecs
    // (access, modification) that futimens(2) reads.
    let r = unsafe { libc::futimens(f.as_raw_fd(), times.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// "Now" by the clock of the file system that holds `dir`: the modification time of a probe file
/// created there (and removed at once). On a local disk this is this machine's clock; on NFS it is
/// the server's, the clock that stamped every file `gc` looks at.
pub fn file_system_now(dir: &Path) -> std::io::Result<std::time::SystemTime> {
    let probe = tempfile::Builder::new()
        .prefix(".tmp-clock-")
        .tempfile_in(dir)?;
    probe.as_file().metadata()?.modified()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn touch_now_and_the_file_system_clock_agree_with_this_clock_on_a_local_disk() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pending.h5");
        std::fs::write(&f, b"x").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(old)
            .unwrap();
        touch_now(&f).unwrap();
        let touched = std::fs::metadata(&f).unwrap().modified().unwrap();
        let fs_now = file_system_now(dir.path()).unwrap();
        let here = SystemTime::now();
        let apart = |a: SystemTime, b: SystemTime| {
            a.duration_since(b)
                .unwrap_or_else(|e| e.duration())
                .as_secs_f64()
        };
        assert!(
            apart(touched, here) < 5.0,
            "touched {touched:?} vs {here:?}"
        );
        assert!(apart(fs_now, here) < 5.0);
        assert_eq!(std::fs::read(&f).unwrap(), b"x", "content untouched");
        // The probe is gone.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(touch_now(&dir.path().join("absent")).is_err());
    }
}
