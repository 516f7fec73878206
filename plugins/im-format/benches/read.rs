//! Read benchmark: each sample image (shared/data/nanosims, read in place, when present) and
//! larger synthetic files made with the writer, read to a counts array, compared with
//! `cat FILE > /dev/null` and with the Python `sims` reader (when `python3 -c "import sims"`
//! works).
//!
//! ```text
//! cargo bench -p corrflow-im --bench read            # best of 7 runs each
//! IM_BENCH_RUNS=3 cargo bench -p corrflow-im --bench read
//! ```
//! Times are the best of N warm-cache runs. `cat` includes starting a process (shown
//! separately as "spawn", the time of `cat /dev/null`); the `sims` time is measured inside
//! Python (`sims.SIMS(path)` plus `.data.values`), without the interpreter's start-up.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use corrflow_im::{ByteOrder, ImFile, ImWriteSpec, MassSpec, PixelType, WriteOptions, write_im};
use ndarray::Array4;

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/nanosims");

fn best(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap()
}

fn cat(path: &Path) {
    let ok = Command::new("sh")
        .args(["-c", "cat \"$1\" > /dev/null", "sh"])
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "cat {} failed", path.display());
}

const SIMS_TIMER: &str = r#"
import sys, time, warnings
warnings.simplefilter('ignore')
import sims
path, runs = sys.argv[1], int(sys.argv[2])
best = 1e9
for _ in range(runs):
    t = time.perf_counter()
    s = sims.SIMS(path)
    d = s.data.values
    best = min(best, time.perf_counter() - t)
print(best)
"#;

fn sims_time(path: &Path, runs: usize) -> Option<Duration> {
    let out = corrflow_test_support::python_command()
        .args(["-c", SIMS_TIMER])
        .arg(path)
        .arg(runs.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "sims failed on {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let s: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(Duration::from_secs_f64(s))
}

fn synthetic(path: &Path, masses: usize, planes: usize, size: usize, opts: WriteOptions) {
    let labels = [
        ("12C", 12.0, 1),
        ("13C", 13.003, 2),
        ("12C 14N", 26.003, 3),
        ("12C 15N", 27.0, 4),
        ("32S", 31.97, 5),
    ];
    let ms = (0..masses)
        .map(|i| {
            let (l, a, t) = labels[i % labels.len()];
            MassSpec::new(l, a, t)
        })
        .collect();
    let spec = ImWriteSpec::new(ms, opts.layout);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let counts = Array4::from_shape_fn((masses, planes, size, size), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 5000) as u32
    });
    write_im(path, &spec, &counts, &opts).expect("write synthetic file");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let runs: usize = std::env::var("IM_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let tmp = tempfile::tempdir().expect("temporary folder");
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let dir = Path::new(DATA_DIR);
    if dir.join("reference.json").is_file() {
        for n in ["OpenMIMS_doc_051117_05-32dRe-03b.im", "RTIimage.im"] {
            files.push((n.to_string(), dir.join(n)));
        }
    } else {
        eprintln!(
            "sample folder {} not found: synthetic files only",
            dir.display()
        );
    }
    let big = tmp.path().join("synthetic-512x512x5x50-u32le.im");
    synthetic(
        &big,
        5,
        50,
        512,
        WriteOptions::release4108(ByteOrder::Little),
    );
    files.push(("synthetic 512²×5×50 u32 LE (4108)".into(), big));
    let big16 = tmp.path().join("synthetic-512x512x5x50-u16be.im");
    synthetic(
        &big16,
        5,
        50,
        512,
        WriteOptions::release9(ByteOrder::Big, PixelType::U16),
    );
    files.push(("synthetic 512²×5×50 u16 BE (r9)".into(), big16));

    let have_sims = corrflow_test_support::python_imports(&["sims"]);
    if !have_sims {
        eprintln!("python3 with sims not installed: no sims column");
    }
    let empty = tmp.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let spawn = best(runs, || cat(&empty));
    println!(
        "best of {runs} runs, warm page cache; spawn = `cat` of an empty file = {:.2} ms",
        ms(spawn)
    );
    println!(
        "{:<38} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>11} {:>9} {:>10}",
        "file",
        "MB",
        "cat ms",
        "read ms",
        "open ms",
        "counts ms",
        "totals ms",
        "counts/cat",
        "sims ms",
        "sims/ours"
    );
    for (label, path) in &files {
        let mb = std::fs::metadata(path).unwrap().len() as f64 / 1e6;
        cat(path); // warm the cache
        let t_cat = best(runs, || cat(path));
        let t_read = best(runs, || {
            std::hint::black_box(std::fs::read(path).unwrap());
        });
        let t_open = best(runs, || {
            std::hint::black_box(ImFile::open(path).unwrap());
        });
        let t_counts = best(runs, || {
            let f = ImFile::open(path).unwrap();
            std::hint::black_box(f.counts().unwrap());
        });
        let t_totals = best(runs, || {
            let f = ImFile::open(path).unwrap();
            std::hint::black_box(f.total_counts().unwrap());
        });
        let t_sims = if have_sims {
            sims_time(path, runs)
        } else {
            None
        };
        println!(
            "{:<38} {:>8.1} {:>8.2} {:>8.2} {:>9.2} {:>9.2} {:>9.2} {:>11.2} {:>9} {:>10}",
            label,
            mb,
            ms(t_cat),
            ms(t_read),
            ms(t_open),
            ms(t_counts),
            ms(t_totals),
            t_counts.as_secs_f64() / t_cat.as_secs_f64(),
            t_sims.map_or("-".into(), |t| format!("{:.2}", ms(t))),
            t_sims.map_or("-".into(), |t| format!(
                "{:.2}",
                t.as_secs_f64() / t_counts.as_secs_f64()
            )),
        );
    }
    println!(
        "counts/cat < 1 means reading into an array took less than `cat` (which includes its \
         process start); sims/ours > 1 means sims is that many times slower."
    );
}
