//! Crash injection for tests: `CORRFLOW_CRASH_AT=POINT:N` makes the process kill itself with
//! SIGKILL (no unwinding, no destructors, no buffered writes flushed: exactly `kill -9`) the N-th
//! time (1-based, counted over all threads) execution reaches [`hit`]`(POINT)`. Unset, a hit costs
//! one atomic load. `tests/cli/kill.rs` uses it to stop runs at chosen points of the commit
//! protocol, which timed kills reach only by luck.
//!
//! Points, in the order a task passes them:
//! - `compute.start` — the entry's temp file is named, the stage has not run;
//! - `compute.written` — the stage has written its output, the HDF5 file is still open (not
//!   flushed or closed: a half-written file);
//! - `commit.synced` — the data file is closed and fsynced in `tmp/`, not yet renamed;
//! - `commit.renamed` — the data file is in `entries/`, its manifest is not written;
//! - `atomic.written` — any atomic file write (manifests, refs, the export record, the hash memo)
//!   has its temp file written and synced, not yet renamed over the target;
//! - `commit.done` — the manifest is in place, the task's ref is not updated;
//! - `export.written` — a task's exports are written, the export record is not updated.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The armed point and the hit count that fires it, from `CORRFLOW_CRASH_AT`.
fn armed() -> Option<&'static (String, usize)> {
    static ARMED: OnceLock<Option<(String, usize)>> = OnceLock::new();
    ARMED
        .get_or_init(|| {
            let v = std::env::var("CORRFLOW_CRASH_AT").ok()?;
            let (point, n) = match v.rsplit_once(':') {
                Some((p, n)) => (p.to_string(), n.parse().ok()?),
                None => (v, 1),
            };
            Some((point, n))
        })
        .as_ref()
}

/// Count a pass through `point`; SIGKILL this process if it is the armed one and the count is
/// reached.
pub fn hit(point: &str) {
    static HITS: AtomicUsize = AtomicUsize::new(0);
    let Some((armed, n)) = armed() else {
        return;
    };
    if armed == point && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *n {
        // SAFETY: kill(2) on our own pid with a constant signal has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
