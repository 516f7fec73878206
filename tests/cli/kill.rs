//! Killing a run at random points never corrupts the cache: the rerun completes and its results
//! are bit-identical to a clean run. A corrupted entry is detected and recomputed.
//!
//! Two ways of killing: SIGKILL from outside at timed moments (wherever the run happens to be), and
//! SIGKILL from inside at chosen points of the commit protocol (`CORRFLOW_CRASH_AT`, see
//! `src/crashpoint.rs`), which timed kills reach only by luck.

use std::process::Command;
use std::time::Duration;

use crate::common::{BIN, Exp, files_under};

const SLOW: &str = r#"name: exp
samples:
  table: samples.csv
nodes:
  - id: em
    stage: io.em
    inputs: { file: sample.em }
  - id: pre
    stage: preprocess.em
    inputs: { image: em.image }
    params:
      steps:
        - { op: percentile_normalize }
        - { op: median, size_px: 9 }
        - { op: clahe }
"#;

#[test]
fn kill_during_run_then_rerun_gives_identical_results() {
    let clean = Exp::study(12, 192, SLOW);
    clean.run(&["run", "pipeline.yaml", "-j", "2"]).ok();
    let expected = clean.results();
    assert_eq!(expected.len(), 12);

    let exp = Exp::study(12, 192, SLOW);
    // Kill (SIGKILL) a few milliseconds after the run's k-th new commit, for growing k, so that
    // kills land during stage compute, HDF5 writes and commits at different points of the run.
    let mut kills = 0;
    for i in 0..8u64 {
        let before = committed(&exp);
        let target = before + 1 + (i % 3) as usize;
        let mut child = Command::new(BIN)
            .args(["run", "pipeline.yaml", "-j", "2", "-q"])
            .current_dir(exp.dir.path())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while committed(&exp) < target && start.elapsed() < Duration::from_secs(30) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(300));
        }
        std::thread::sleep(Duration::from_millis(i * 7 % 11));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap();
            kills += 1;
        }
        child.wait().unwrap();
        // Whatever is committed is intact: status works and lists only fresh or missing tasks.
        for (_, _, state, _) in exp.status("pipeline.yaml") {
            assert!(state == "fresh" || state == "missing", "{state}");
        }
    }
    assert!(
        kills >= 6,
        "the run should have been killed at most points (killed {kills} of 8)"
    );
    exp.run(&["run", "pipeline.yaml", "-j", "2"]).ok();
    assert!(exp.all_fresh("pipeline.yaml"));
    assert_eq!(
        exp.results(),
        expected,
        "results after kills equal a clean run's"
    );
    // Entries are bit-identical too: the same keys with the same checksums.
    assert_eq!(exp.entry_checksums(), clean.entry_checksums());
}

/// The crash points of `src/crashpoint.rs` and how many times each is passed per task at most
/// (an atomic write happens for each manifest, ref and the export record).
const POINTS: [(&str, u64); 7] = [
    ("compute.start", 1),
    ("compute.written", 1),
    ("commit.synced", 1),
    ("commit.renamed", 1),
    ("atomic.written", 2),
    ("commit.done", 1),
    ("export.written", 1),
];

#[test]
fn sigkill_at_twenty_random_points_of_the_commit_protocol() {
    let clean = Exp::study(6, 96, SLOW);
    clean.run(&["run", "pipeline.yaml", "-j", "2"]).ok();
    let expected = clean.results();

    let exp = Exp::study(6, 96, SLOW);
    // Points in turn; a fixed-seed LCG picks the hit that fires (early or late tasks): the same
    // 20 kills on every run of the test, each point killed at two or three times.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut kills = Vec::new();
    let mut attempts = 0;
    while kills.len() < 20 {
        attempts += 1;
        assert!(attempts <= 60, "only {} kills in 60 runs", kills.len());
        let (point, per_task) = POINTS[kills.len() % POINTS.len()];
        let hit = 1 + next(3 * per_task);
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "pipeline.yaml", "-j", "2", "-q"])
            .current_dir(exp.dir.path())
            .env("CORRFLOW_CRASH_AT", format!("{point}:{hit}"))
            .stderr(std::process::Stdio::null());
        let status = cmd.status().unwrap();
        use std::os::unix::process::ExitStatusExt;
        if status.signal() == Some(libc::SIGKILL) {
            kills.push(format!("{point}:{hit}"));
        } else {
            assert!(
                status.success(),
                "a run that was not killed must succeed ({status})"
            );
            // Everything is done: start again from an empty cache so that kills keep landing.
            std::fs::remove_dir_all(exp.path(".corrflow")).unwrap();
            std::fs::remove_dir_all(exp.path("results")).ok();
        }
        // No half-written entry is ever visible: every manifest names a complete data file whose
        // checksum matches, and status reads the cache (every task fresh or missing).
        for (m, data) in exp.manifests() {
            let bytes = std::fs::read(&data).unwrap_or_else(|e| {
                panic!(
                    "after a kill at {point}:{hit}, {} is missing: {e}",
                    data.display()
                )
            });
            assert_eq!(
                blake3::hash(&bytes).to_hex().to_string(),
                m["checksum"].as_str().unwrap(),
                "after a kill at {point}:{hit}, {} does not match its manifest",
                data.display()
            );
        }
        for (_, _, state, _) in exp.status("pipeline.yaml") {
            assert!(state == "fresh" || state == "missing", "{state}");
        }
    }
    // Every point was hit at least once among the kills.
    for (point, _) in POINTS {
        assert!(
            kills.iter().any(|k| k.starts_with(point)),
            "no kill at {point}: {kills:?}"
        );
    }
    exp.run(&["run", "pipeline.yaml", "-j", "2"]).ok();
    assert!(exp.all_fresh("pipeline.yaml"));
    assert_eq!(
        exp.results(),
        expected,
        "results after 20 kills equal a clean run's"
    );
    assert_eq!(
        exp.entry_checksums(),
        clean.entry_checksums(),
        "entries are bit-identical"
    );
    // The leftovers of the kills (temp files) are garbage that gc removes once old.
    exp.run(&["gc", "pipeline.yaml", "--grace", "0"]).ok();
    let leftovers: Vec<_> = files_under(&exp.path(".corrflow/cache"))
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.starts_with(".tmp-") || p.parent().is_some_and(|d| d.ends_with("tmp"))
        })
        .collect();
    assert!(leftovers.is_empty(), "gc left {leftovers:?}");
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 12));
}

/// Number of committed entries (manifests) in the experiment's cache.
fn committed(exp: &Exp) -> usize {
    exp.manifests().len()
}

#[test]
fn corrupt_entry_is_detected_and_recomputed() {
    let exp = Exp::study(2, 48, SLOW);
    exp.run(&["run", "pipeline.yaml"]).ok();
    let expected = exp.results();
    // Damage the data file of em/s0's entry.
    let damaged = exp.entry_of("exp", "em", "s0");
    let mut bytes = std::fs::read(&damaged).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    // pre/s0 must rerun (forced), reads em/s0, finds it corrupt, recomputes it, warns by name.
    let r = exp.run(&["run", "pipeline.yaml", "--force", "pre"]);
    r.ok();
    assert!(
        r.stderr.contains("is corrupt")
            && r.stderr
                .contains(damaged.file_name().unwrap().to_str().unwrap()),
        "{}",
        r.stderr
    );
    assert_eq!(exp.results(), expected);
}

#[test]
fn truncated_or_altered_entries_are_detected_and_recomputed() {
    let exp = Exp::study(2, 48, SLOW);
    exp.run(&["run", "pipeline.yaml"]).ok();
    let expected = exp.results();
    // Truncate em/s0's data file: the task itself finds it damaged (size) and recomputes it.
    let truncated = exp.entry_of("exp", "em", "s0");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // Alter one byte of pre/s1's data file (same size) and delete its exports: the entry is
    // checked against its checksum before it is exported again, found corrupt and recomputed.
    let altered = exp.entry_of("exp", "pre", "s1");
    let mut bytes = std::fs::read(&altered).unwrap();
    let n = bytes.len();
    bytes[n - 100] ^= 0xff;
    std::fs::write(&altered, bytes).unwrap();
    std::fs::remove_dir_all(exp.path("results/s1")).unwrap();
    let r = exp.run(&["run", "pipeline.yaml"]);
    r.ok();
    for (path, what) in [(&truncated, "is damaged"), (&altered, "is corrupt")] {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(
            r.stderr
                .lines()
                .any(|l| l.contains(what) && l.contains(name)),
            "no '{what}' warning naming {name}:\n{}",
            r.stderr
        );
    }
    assert_eq!(exp.results(), expected);
    assert!(exp.all_fresh("pipeline.yaml"));
}

#[test]
fn gc_beside_a_run_never_removes_a_live_entry() {
    let exp = Exp::study(8, 128, SLOW);
    exp.run(&["run", "pipeline.yaml"]).ok();
    // Age everything by two hours: the entries of this run become gc candidates once no ref
    // points at them.
    let two_hours_ago = std::time::SystemTime::now() - Duration::from_secs(7200);
    for p in files_under(&exp.path(".corrflow/cache")) {
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_modified(two_hours_ago).unwrap();
    }
    let old_pre: Vec<_> = (0..8)
        .map(|i| exp.entry_of("exp", "pre", &format!("s{i}")))
        .collect();
    // Change a parameter of `pre` and run while gc runs again and again beside it.
    exp.write("pipeline.yaml", &SLOW.replace("size_px: 9", "size_px: 7"));
    let mut run = Command::new(BIN)
        .args(["run", "pipeline.yaml", "-j", "2", "-q"])
        .current_dir(exp.dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut gcs = 0;
    while run.try_wait().unwrap().is_none() {
        exp.run(&["gc", "pipeline.yaml", "--grace", "60"]).ok();
        gcs += 1;
    }
    let out = run.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(gcs >= 2, "gc ran {gcs} time(s) during the run");
    exp.run(&["gc", "pipeline.yaml", "--grace", "60"]).ok();
    // Every task is fresh and cached: nothing the pipeline uses was removed…
    assert!(exp.all_fresh("pipeline.yaml"));
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 16));
    // …while the replaced entries of `pre` (old, unreferenced) are gone, and `em`'s (old but
    // referenced) are kept.
    assert!(
        old_pre.iter().all(|p| !p.exists()),
        "old pre entries were kept"
    );
    assert!(exp.entry_of("exp", "em", "s0").exists());
    let clean = Exp::study(8, 128, &SLOW.replace("size_px: 9", "size_px: 7"));
    clean.run(&["run", "pipeline.yaml"]).ok();
    assert_eq!(exp.results(), clean.results());
}

#[test]
fn concurrent_runs_of_one_pipeline_share_the_cache() {
    for n in [2, 4] {
        concurrent_runs(n);
    }
}

/// `n` simultaneous runs of one pipeline on one cache all succeed with a clean run's results.
fn concurrent_runs(n: usize) {
    let exp = Exp::study(8, 128, SLOW);
    let children: Vec<_> = (0..n)
        .map(|_| {
            Command::new(BIN)
                .args(["run", "pipeline.yaml", "-j", "2", "-q"])
                .current_dir(exp.dir.path())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(exp.all_fresh("pipeline.yaml"));
    let results = exp.results();
    assert_eq!(results.len(), 8);
    // A fifth run finds everything cached and leaves the results as they are.
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 16));
    assert_eq!(exp.results(), results);
    let clean = Exp::study(8, 128, SLOW);
    clean.run(&["run", "pipeline.yaml"]).ok();
    assert_eq!(
        clean.results(),
        results,
        "concurrent runs give the same results as one run"
    );
}
