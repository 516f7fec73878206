//! `samples.make`: a pipeline that creates its own samples on first run.

use crate::common::Exp;

const SMALL: &str = "em: { width_px: 256, height_px: 256, pixel_size_nm: 32.0 }\nnanosims: { size_px: 32, pixel_size_nm: [160.0, 200.0], planes: 1, supersample: 2 }\n";

const PIPE: &str = "name: made
samples:
  table: data/samples.csv
  make: [corrflow, synth, --out, data, --samples, '2', --seed, '3', --config, small.yaml]
nodes:
  - id: em
    stage: io.em
    inputs: { file: sample.em }
";

#[test]
fn run_makes_an_absent_samples_table_once() {
    let exp = Exp::new();
    exp.write("small.yaml", SMALL);
    exp.write("p.yaml", PIPE);
    // Only `run` makes it; the other commands say how.
    let r = exp.run(&["status", "p.yaml"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("does not exist yet"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`corrflow run` makes it with: corrflow synth --out data"),
        "{}",
        r.stderr
    );
    let r = exp.run(&["run", "p.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("is absent: making it with"),
        "{}",
        r.stderr
    );
    assert!(exp.path("data/em/s2.tif").exists() || exp.path("data/em/s02.tif").exists());
    // Present now: not made again, nothing reruns.
    let r = exp.run(&["run", "p.yaml"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("making it"), "{}", r.stderr);
}

#[test]
fn a_failing_or_useless_make_command_is_an_error() {
    let exp = Exp::new();
    exp.write(
        "p.yaml",
        "name: bad\nsamples:\n  table: data/samples.csv\n  make: [corrflow, synth, --no-such-flag]\nnodes: []\n",
    );
    let r = exp.run(&["run", "p.yaml"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr
            .contains("samples.make: `corrflow synth --no-such-flag` failed"),
        "{}",
        r.stderr
    );
    exp.write(
        "q.yaml",
        "name: useless\nsamples:\n  table: data/samples.csv\n  make: [corrflow, --version]\nnodes: []\n",
    );
    let r = exp.run(&["run", "q.yaml"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("succeeded but did not create"),
        "{}",
        r.stderr
    );
    exp.write(
        "e.yaml",
        "name: empty\nsamples:\n  table: data/samples.csv\n  make: []\nnodes: []\n",
    );
    let r = exp.run(&["run", "e.yaml"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("samples.make: give the program"),
        "{}",
        r.stderr
    );
}

/// Exporting for Snakemake needs the samples (task keys depend on them): it makes the table too.
#[test]
fn export_makes_an_absent_samples_table() {
    let exp = Exp::new();
    exp.write("small.yaml", SMALL);
    exp.write("p.yaml", PIPE);
    let r = exp.run(&["export", "snakemake", "p.yaml", "--out", "wf"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("is absent: making it with"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("(2 tasks)"), "{}", r.stdout);
    assert!(exp.path("data/samples.csv").exists());
}
