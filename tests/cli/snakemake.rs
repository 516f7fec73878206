//! `corrflow export snakemake`: the exported workflow, run by Snakemake with parallel jobs against
//! the shared cache, gives results and entries bit-identical to `corrflow run`, and a second
//! Snakemake invocation runs nothing. Skips (saying so) where Snakemake is not installed.

use std::process::Command;

use crate::common::{Exp, PIPELINE};

/// The `snakemake` next to the test Python (scripts/test installs it into .setup/venv).
fn snakemake() -> Option<std::path::PathBuf> {
    if !corrflow_test_support::python_has("snakemake_export", &["snakemake"]) {
        return None;
    }
    let out = corrflow_test_support::python_command()
        .args([
            "-c",
            "import sys, os; print(os.path.join(os.path.dirname(sys.executable), 'snakemake'))",
        ])
        .output()
        .ok()?;
    let p = std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    p.exists().then_some(p)
}

#[test]
fn snakemake_export_runs_bit_identical_to_corrflow_run() {
    let Some(snakemake) = snakemake() else {
        eprintln!("SKIP snakemake_export: the snakemake package is not installed");
        return;
    };
    let exp = Exp::study(6, 64, PIPELINE);
    let r = exp.run(&["export", "snakemake", "pipeline.yaml", "--out", "wf"]);
    r.ok();
    assert!(r.stdout.contains("12 tasks"), "{}", r.stdout);
    assert!(exp.path("wf/profiles/slurm/config.yaml").exists());
    let run = |args: &[&str]| {
        let out = Command::new(&snakemake)
            .args(args)
            .current_dir(exp.path("wf"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "snakemake {args:?} failed:\n{text}");
        text
    };
    // Several jobs at once on the shared cache.
    run(&["--cores", "4", "--jobs", "4"]);
    let again = run(&["--cores", "4"]);
    assert!(again.contains("Nothing to be done"), "{again}");

    let clean = Exp::study(6, 64, PIPELINE);
    clean.run(&["run", "pipeline.yaml"]).ok();
    assert_eq!(
        exp.results(),
        clean.results(),
        "exports equal corrflow run's"
    );
    assert_eq!(
        exp.entry_checksums(),
        clean.entry_checksums(),
        "entries are bit-identical"
    );
    // Every job recorded its exports (one record file per task, so parallel jobs cannot overwrite
    // each other's records).
    let records = crate::common::files_under(&exp.path("results/.corrflow/exports"));
    assert_eq!(records.len(), 12, "{records:?}");
    // corrflow sees the Snakemake-made cache and exports as complete: nothing is written again.
    let stamps = |e: &Exp| -> Vec<_> {
        crate::common::files_under(&e.path("results"))
            .into_iter()
            .map(|f| (std::fs::metadata(&f).unwrap().modified().unwrap(), f))
            .collect()
    };
    let before = stamps(&exp);
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 12));
    assert_eq!(stamps(&exp), before, "no export is written again");

    // The pipeline changes after the export: the old Snakefile refuses to run (it would wait for
    // the old keys' results, which all exist) and says what to do.
    exp.write(
        "pipeline.yaml",
        &PIPELINE.replace("sigma_nm: 8.0", "sigma_nm: 9.0"),
    );
    let out = Command::new(&snakemake)
        .args(["--cores", "2"])
        .current_dir(exp.path("wf"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("is out of date") && text.contains("corrflow export snakemake"),
        "{text}"
    );
    // A job of an out-of-date Snakefile refuses to commit under another key.
    exp.run(&[
        "run",
        "pipeline.yaml",
        "--target",
        "pre:s0",
        "--no-deps",
        "--expect-key",
        "00",
    ])
    .fails_with(
        2,
        &[
            "task pre/s0 has key",
            "but 00 was expected",
            "export snakemake",
        ],
    );
    // Exported again (the user's edits of the profile are kept), only the changed node reruns.
    exp.write(
        "wf/profiles/slurm/config.yaml",
        "executor: slurm  # edited\n",
    );
    let r = exp.run(&["export", "snakemake", "pipeline.yaml", "--out", "wf"]);
    assert!(r.ok().stdout.contains("kept"), "{}", r.stdout);
    assert_eq!(
        std::fs::read_to_string(exp.path("wf/profiles/slurm/config.yaml")).unwrap(),
        "executor: slurm  # edited\n"
    );
    let log = run(&["--cores", "2"]);
    assert!(log.contains("7 of 7 steps"), "6 pre tasks and `all`: {log}");
    clean.write(
        "pipeline.yaml",
        &PIPELINE.replace("sigma_nm: 8.0", "sigma_nm: 9.0"),
    );
    clean.run(&["run", "pipeline.yaml"]).ok();
    assert_eq!(exp.results(), clean.results(), "after the change too");
}
