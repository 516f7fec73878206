//! corrflow against the Python peer (bench/peer) without ultralytics: the 2-sample seed-5 study
//! of `bench/peer/check`, run through `bench/peer/pipeline.yaml` (`--target stats`), must agree
//! with the peer's tables committed in `bench/peer/reference/` (made by
//! `bench/peer/make_reference`), as judged by `bench/peer/compare.py` (standard library only).

use std::path::PathBuf;
use std::process::Command;

use crate::common::Exp;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn turnover_agrees_with_the_python_peer_reference() {
    let test = "turnover_agrees_with_the_python_peer_reference";
    if corrflow_segment::runtime::resolve_library(None).is_err() {
        eprintln!("SKIPPED {test}: ONNX Runtime is not set up (./scripts/setup installs it)");
        return;
    }
    let python = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        eprintln!("SKIPPED {test}: python3 is not available (compare.py needs it)");
        return;
    }
    let root = repo();
    let exp = Exp::new();
    // The study exactly as bench/peer/check and bench/peer/make_reference make it.
    let synth_config = root.join("pipelines/study.synth.yaml");
    exp.run(&[
        "synth",
        "--out",
        "study",
        "--samples",
        "2",
        "--seed",
        "5",
        "--config",
        synth_config.to_str().unwrap(),
    ])
    .ok();
    exp.write(
        "pipeline.yaml",
        &format!(
            "include: {}\nsamples: {{ table: study/samples.csv }}\nresults: results\ncache: cache\n",
            root.join("bench/peer/pipeline.yaml").display()
        ),
    );
    exp.run(&["run", "pipeline.yaml", "--target", "stats"]).ok();
    for f in ["rois.csv", "stats.csv"] {
        assert!(exp.path(&format!("results/{f}")).is_file(), "results/{f}");
    }
    let out = Command::new("python3")
        .arg(root.join("bench/peer/compare.py"))
        .arg(exp.path("results"))
        .arg(root.join("bench/peer/reference"))
        .output()
        .expect("run compare.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "corrflow disagrees with the peer reference (bench/peer/reference; remake it with \
         bench/peer/make_reference after an intended change).\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("agreement: OK"), "{stdout}");
}
