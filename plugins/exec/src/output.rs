//! What corrflow keeps of an external program's standard output and standard error, in bounded
//! memory whatever the program writes.
//!
//! * Standard output is scanned line by line (`\n`, with a `\r` before it ignored) for lines
//!   starting with `corrflow:warning:`; the text after the prefix, trimmed, becomes a warning.
//!   At most [`MAX_WARNINGS`] are kept, each cut to [`MAX_WARNING_BYTES`] bytes (marked with
//!   ` […]`); when there are more, one last warning says how many were left out. Everything else
//!   on standard output is read and dropped.
//! * Of standard error, only the last [`STDERR_TAIL_BYTES`] bytes are kept; when the program
//!   fails, their last [`STDERR_TAIL_LINES`] lines go into the error (a first line cut by the
//!   byte limit is dropped).
//!
//! Bytes that are not UTF-8 are shown as U+FFFD (lossy decoding), per line, so one bad byte does
//! not lose the rest of the stream. Both pipes are read to the end, so the program never blocks on
//! a full pipe. The functions are pure over bytes: fed in any chunking, they give the same result.

use std::io::{ErrorKind, Read};

/// The prefix of a warning line on the program's standard output.
pub const WARNING_PREFIX: &[u8] = b"corrflow:warning:";
/// Most warnings kept from one run of a program.
pub const MAX_WARNINGS: usize = 100;
/// Longest warning kept, in bytes of the line after the prefix; longer ones are cut.
pub const MAX_WARNING_BYTES: usize = 4096;
/// Bytes kept from the end of the program's standard error.
pub const STDERR_TAIL_BYTES: usize = 64 << 10;
/// Lines of standard error quoted in the error of a failed run.
pub const STDERR_TAIL_LINES: usize = 40;

/// Marker appended to a warning cut at [`MAX_WARNING_BYTES`].
const CUT: &str = " […]";

/// Scans a program's standard output for `corrflow:warning:` lines, chunk by chunk.
#[derive(Debug, Default)]
pub struct WarningScanner {
    /// The current line so far, at most `WARNING_PREFIX.len() + MAX_WARNING_BYTES` bytes.
    line: Vec<u8>,
    /// Bytes of the current line beyond what `line` holds.
    line_overflow: bool,
    warnings: Vec<String>,
    /// Warning lines beyond [`MAX_WARNINGS`].
    dropped: usize,
}

impl WarningScanner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes of the stream.
    pub fn push(&mut self, mut bytes: &[u8]) {
        let cap = WARNING_PREFIX.len() + MAX_WARNING_BYTES;
        while !bytes.is_empty() {
            let (part, rest, end) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], &bytes[i + 1..], true),
                None => (bytes, &[][..], false),
            };
            // Keep what may still matter: the prefix and the warning text up to the limit (one
            // byte more than the limit tells that the line was cut).
            let room = (cap + 1).saturating_sub(self.line.len());
            if part.len() > room {
                self.line.extend_from_slice(&part[..room]);
                self.line_overflow = true;
            } else {
                self.line.extend_from_slice(part);
            }
            // A line that does not start with the prefix is not kept beyond it.
            if !self.line_overflow
                && self.line.len() >= WARNING_PREFIX.len()
                && !self.line.starts_with(WARNING_PREFIX)
            {
                self.line.truncate(WARNING_PREFIX.len());
            }
            if end {
                self.end_line();
            }
            bytes = rest;
        }
    }

    fn end_line(&mut self) {
        if let Some(text) = self.line.strip_prefix(WARNING_PREFIX) {
            if self.warnings.len() < MAX_WARNINGS {
                self.warnings.push(warning_text(text));
            } else {
                self.dropped += 1;
            }
        }
        self.line.clear();
        self.line_overflow = false;
    }

    /// Read `r` to its end (or its first error other than an interruption) into the scanner.
    pub fn read_from(&mut self, r: &mut impl Read) {
        read_chunks(r, |c| self.push(c));
    }

    /// The warnings, in order; a last line without `\n` counts.
    pub fn finish(mut self) -> Vec<String> {
        if !self.line.is_empty() {
            self.end_line();
        }
        if self.dropped > 0 {
            self.warnings.push(format!(
                "{} more `corrflow:warning:` lines were not kept (at most {MAX_WARNINGS})",
                self.dropped
            ));
        }
        self.warnings
    }
}

/// The text of a warning line after the prefix: lossy UTF-8, trimmed, cut to the limit.
fn warning_text(text: &[u8]) -> String {
    if text.len() <= MAX_WARNING_BYTES {
        return String::from_utf8_lossy(text).trim().to_string();
    }
    let s = String::from_utf8_lossy(&text[..MAX_WARNING_BYTES]);
    // A multi-byte character cut by the limit decodes as U+FFFD: drop it.
    let s = s.strip_suffix('\u{FFFD}').unwrap_or(&s);
    format!("{}{CUT}", s.trim())
}

/// Keeps the end of a program's standard error, chunk by chunk.
#[derive(Debug, Default)]
pub struct StderrTail {
    buf: Vec<u8>,
    /// Whether bytes before `buf` were dropped.
    cut: bool,
}

impl StderrTail {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes of the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        if bytes.len() >= STDERR_TAIL_BYTES {
            self.cut |= !self.buf.is_empty() || bytes.len() > STDERR_TAIL_BYTES;
            self.buf.clear();
            self.buf
                .extend_from_slice(&bytes[bytes.len() - STDERR_TAIL_BYTES..]);
            return;
        }
        self.buf.extend_from_slice(bytes);
        // Drop the front only now and then, so a stream of small writes stays linear.
        if self.buf.len() >= 2 * STDERR_TAIL_BYTES {
            let excess = self.buf.len() - STDERR_TAIL_BYTES;
            self.buf.drain(..excess);
            self.cut = true;
        }
    }

    /// Read `r` to its end (or its first error other than an interruption).
    pub fn read_from(&mut self, r: &mut impl Read) {
        read_chunks(r, |c| self.push(c));
    }

    /// The last [`STDERR_TAIL_LINES`] lines (lossy UTF-8, `\r\n` or `\n` line ends), joined with
    /// `\n`.
    pub fn finish(self) -> String {
        let mut bytes = &self.buf[..];
        let cut = self.cut || bytes.len() > STDERR_TAIL_BYTES;
        if bytes.len() > STDERR_TAIL_BYTES {
            bytes = &bytes[bytes.len() - STDERR_TAIL_BYTES..];
        }
        if cut {
            // The first line is incomplete: start after its end (nothing when there is none).
            bytes = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => &bytes[i + 1..],
                None => &[],
            };
        }
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n")
    }
}

fn read_chunks(r: &mut impl Read, mut f: impl FnMut(&[u8])) {
    let mut buf = vec![0u8; 16 << 10];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => f(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The warnings of a whole standard output (see [`WarningScanner`]).
pub fn warnings(stdout: &[u8]) -> Vec<String> {
    let mut s = WarningScanner::new();
    s.push(stdout);
    s.finish()
}

/// The quoted end of a whole standard error (see [`StderrTail`]).
pub fn stderr_tail(stderr: &[u8]) -> String {
    let mut t = StderrTail::new();
    t.push(stderr);
    t.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What corrflow did before: the whole stream as one `String`, `lines()`, strip, trim.
    fn reference_warnings(s: &str) -> Vec<String> {
        s.lines()
            .filter_map(|l| l.strip_prefix("corrflow:warning:"))
            .map(|w| w.trim().to_string())
            .collect()
    }

    fn chunked_warnings(bytes: &[u8], size: usize) -> Vec<String> {
        let mut s = WarningScanner::new();
        for c in bytes.chunks(size.max(1)) {
            s.push(c);
        }
        s.finish()
    }

    fn chunked_tail(bytes: &[u8], size: usize) -> String {
        let mut t = StderrTail::new();
        for c in bytes.chunks(size.max(1)) {
            t.push(c);
        }
        t.finish()
    }

    #[test]
    fn warnings_as_before_for_ordinary_output() {
        let out = "progress 1\ncorrflow:warning: few cells  \n  corrflow:warning: not at start\n\
                   corrflow:warning:\ncorrflow:warning:tight\r\nlast line corrflow:warning: x\n\
                   corrflow:warning: no newline at end";
        let want = reference_warnings(out);
        assert_eq!(
            want,
            ["few cells", "", "tight", "no newline at end"].map(String::from)
        );
        for size in [1, 2, 3, 7, 17, 1000] {
            assert_eq!(
                chunked_warnings(out.as_bytes(), size),
                want,
                "chunks of {size}"
            );
        }
    }

    #[test]
    fn warning_split_across_reads() {
        let out = b"corrflow:warning: split here\n";
        for at in 0..out.len() {
            let mut s = WarningScanner::new();
            s.push(&out[..at]);
            s.push(&out[at..]);
            assert_eq!(s.finish(), ["split here"], "split at {at}");
        }
    }

    #[test]
    fn crlf_line_ends() {
        assert_eq!(
            warnings(b"corrflow:warning: a\r\ncorrflow:warning: b\r\n"),
            ["a", "b"]
        );
        assert_eq!(stderr_tail(b"one\r\ntwo\r\n"), "one\ntwo");
    }

    #[test]
    fn invalid_utf8_loses_only_the_bad_bytes() {
        // Before, `read_to_string` failed on the first bad byte and every warning was lost.
        let out = b"\xff\xfe binary noise\ncorrflow:warning: caf\xc3\xa9 \xe9t\xe9\ncorrflow:warning: ok\n";
        assert_eq!(warnings(out), ["café \u{FFFD}t\u{FFFD}", "ok"]);
        let err = b"Traceback\n\xc3\x28 bad\nValueError: x\n";
        assert_eq!(stderr_tail(err), "Traceback\n\u{FFFD}( bad\nValueError: x");
    }

    #[test]
    fn long_warnings_are_cut_and_many_are_counted() {
        let mut out = b"corrflow:warning: ".to_vec();
        out.extend(std::iter::repeat_n(b'x', 10 * MAX_WARNING_BYTES));
        out.push(b'\n');
        let w = warnings(&out);
        assert_eq!(w.len(), 1);
        assert!(w[0].ends_with(CUT) && w[0].len() <= MAX_WARNING_BYTES + CUT.len());
        // A multi-byte character cut by the limit is dropped, not shown as U+FFFD.
        let mut out = b"corrflow:warning:".to_vec();
        out.extend(std::iter::repeat_n(b'a', MAX_WARNING_BYTES - 1));
        out.extend("é tail\n".as_bytes());
        let w = warnings(&out);
        assert_eq!(w[0], format!("{}{CUT}", "a".repeat(MAX_WARNING_BYTES - 1)));

        let out = "corrflow:warning: w\n".repeat(MAX_WARNINGS + 5);
        let w = warnings(out.as_bytes());
        assert_eq!(w.len(), MAX_WARNINGS + 1);
        assert!(w[MAX_WARNINGS].starts_with("5 more"), "{}", w[MAX_WARNINGS]);
    }

    #[test]
    fn huge_streams_stay_bounded() {
        // 64 MiB of output in 8 KiB reads: warnings and the tail are found, memory stays small.
        let block = {
            let mut b = "noise ".repeat(1300).into_bytes();
            b.push(b'\n');
            b.truncate(8 << 10);
            b
        };
        let mut s = WarningScanner::new();
        let mut t = StderrTail::new();
        for i in 0..(64 << 20) / block.len() {
            s.push(&block);
            t.push(&block);
            if i == 3 {
                s.push(b"\ncorrflow:warning: early\n");
            }
            assert!(s.line.len() <= WARNING_PREFIX.len() + MAX_WARNING_BYTES + 1);
            assert!(t.buf.len() < 2 * STDERR_TAIL_BYTES);
        }
        t.push(b"\nFinal error\n");
        assert_eq!(s.finish(), ["early"]);
        let tail = t.finish();
        assert!(tail.ends_with("\nFinal error"));
        assert!(tail.len() <= STDERR_TAIL_BYTES);
        assert!(tail.lines().count() <= STDERR_TAIL_LINES);
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let err: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let want: Vec<String> = (60..100).map(|i| format!("line {i}")).collect();
        for size in [1, 5, 64, 100_000] {
            assert_eq!(chunked_tail(err.as_bytes(), size), want.join("\n"));
        }
        assert_eq!(stderr_tail(b""), "");
        assert_eq!(stderr_tail(b"no newline"), "no newline");
        // One line longer than the kept bytes: cut, so nothing complete is left.
        let long = vec![b'y'; STDERR_TAIL_BYTES + 10];
        assert_eq!(stderr_tail(&long), "");
        let mut long_then_short = long.clone();
        long_then_short.extend(b"\nshort");
        assert_eq!(stderr_tail(&long_then_short), "short");
        assert_eq!(chunked_tail(&long_then_short, 1000), "short");
    }

    #[test]
    fn reads_through_interruptions() {
        struct Flaky(Vec<u8>, usize, bool);
        impl Read for Flaky {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.2 = !self.2;
                if self.2 {
                    return Err(ErrorKind::Interrupted.into());
                }
                let n = buf.len().min(3).min(self.0.len() - self.1);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let mut s = WarningScanner::new();
        s.read_from(&mut Flaky(b"corrflow:warning: w1\nx\n".to_vec(), 0, false));
        assert_eq!(s.finish(), ["w1"]);
        let mut t = StderrTail::new();
        t.read_from(&mut Flaky(b"a\nb\n".to_vec(), 0, false));
        assert_eq!(t.finish(), "a\nb");
    }
}
