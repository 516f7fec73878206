//! Arbitrary bytes as an external program's standard output and standard error
//! (`corrflow_exec::output`): never a panic, memory bounded, the same result whatever the
//! chunking of the reads, and for short UTF-8 output the same warnings as a plain `lines()` scan.
//!
//! Input: the first byte picks the read sizes; the rest is the stream, fed to the scanners in
//! reads of those sizes, and repeated (up to 32×) to make long streams from short inputs.
//!
//! ```text
//! cargo +nightly fuzz run program_output /tmp/exec-corpus /tmp/exec-seeds -- -max_total_time=360 -malloc_limit_mb=2048 -timeout=10 -max_len=65536
//! ```
#![no_main]

use corrflow_exec::output::{
    MAX_WARNING_BYTES, MAX_WARNINGS, STDERR_TAIL_BYTES, STDERR_TAIL_LINES, StderrTail,
    WarningScanner, stderr_tail, warnings,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, stream)) = data.split_first() else {
        return;
    };
    let repeat = 1 + usize::from(ctl >> 5) * 4; // 1..=29
    let whole: Vec<u8> = stream.repeat(repeat);
    let sizes = [1usize, 2, 3, 5, 8, 13, 64, 4096];
    let first = usize::from(ctl & 7);

    // Fed in uneven reads.
    let mut scan = WarningScanner::new();
    let mut tail = StderrTail::new();
    let mut rest = &whole[..];
    let mut i = first;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        scan.push(&rest[..n]);
        tail.push(&rest[..n]);
        rest = &rest[n..];
        i += 1 + usize::from(ctl >> 3 & 3);
    }
    let w = scan.finish();
    let t = tail.finish();

    // The same as one read of everything.
    assert_eq!(w, warnings(&whole));
    assert_eq!(t, stderr_tail(&whole));

    // Bounded.
    assert!(w.len() <= MAX_WARNINGS + 1);
    for x in &w {
        // Lossy decoding turns one bad byte into the 3 bytes of U+FFFD.
        assert!(x.len() <= 3 * MAX_WARNING_BYTES + 8, "warning of {} bytes", x.len());
    }
    assert!(t.len() <= 3 * STDERR_TAIL_BYTES);
    assert!(t.lines().count() <= STDERR_TAIL_LINES);

    // As before the bounds, for output that had them no part to play.
    if let Ok(s) = std::str::from_utf8(&whole) {
        if whole.len() < MAX_WARNING_BYTES {
            let want: Vec<String> = s
                .lines()
                .filter_map(|l| l.strip_prefix("corrflow:warning:"))
                .map(|l| l.trim().to_string())
                .take(MAX_WARNINGS)
                .collect();
            assert_eq!(w[..w.len().min(MAX_WARNINGS)], want[..]);
        }
        if whole.len() <= STDERR_TAIL_BYTES {
            let lines: Vec<&str> = s.lines().collect();
            let want = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
            assert_eq!(t, want);
        }
    }
});
