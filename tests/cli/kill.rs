//! Killing a run at random points never corrupts the cache: the rerun completes and its results
//! are bit-identical to a clean run. A corrupted entry is detected and recomputed.

use std::process::Command;
use std::time::Duration;

use crate::common::{BIN, Exp};

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
    let clean = Exp::new();
    clean.samples(12, 192);
    clean.write("pipeline.yaml", SLOW);
    clean.run(&["run", "pipeline.yaml", "-j", "2"]).ok();
    let expected = clean.results();
    assert_eq!(expected.len(), 12);

    let exp = Exp::new();
    exp.samples(12, 192);
    exp.write("pipeline.yaml", SLOW);
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
    assert!(
        exp.status("pipeline.yaml")
            .iter()
            .all(|(_, _, s, _)| s == "fresh")
    );
    assert_eq!(
        exp.results(),
        expected,
        "results after kills equal a clean run's"
    );
    // Entries are bit-identical too: the same keys with the same checksums.
    assert_eq!(checksums(&exp), checksums(&clean));
}

/// Number of committed entries (manifests) in the experiment's cache.
fn committed(exp: &Exp) -> usize {
    exp.manifests().len()
}

fn checksums(exp: &Exp) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = exp
        .manifests()
        .into_iter()
        .map(|(m, _)| {
            (
                m["key"].as_str().unwrap().to_string(),
                m["checksum"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn corrupt_entry_is_detected_and_recomputed() {
    let exp = Exp::new();
    exp.samples(2, 48);
    exp.write("pipeline.yaml", SLOW);
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
fn concurrent_runs_of_one_pipeline_share_the_cache() {
    let exp = Exp::new();
    exp.samples(8, 128);
    exp.write("pipeline.yaml", SLOW);
    let children: Vec<_> = (0..4)
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
    assert!(
        exp.status("pipeline.yaml")
            .iter()
            .all(|(_, _, s, _)| s == "fresh")
    );
    let results = exp.results();
    assert_eq!(results.len(), 8);
    // A fifth run finds everything cached and leaves the results as they are.
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 16));
    assert_eq!(exp.results(), results);
    let clean = Exp::new();
    clean.samples(8, 128);
    clean.write("pipeline.yaml", SLOW);
    clean.run(&["run", "pipeline.yaml"]).ok();
    assert_eq!(
        clean.results(),
        results,
        "concurrent runs give the same results as one run"
    );
}
