//! Hostile input cannot make corrflow write outside its results and cache folders, programs run
//! without a shell, and a run needs no network.
//! (Invalid sample ids such as `../evil` are in the catalogue of malformed inputs.)

use std::path::Path;
use std::process::Command;

use corrflow_im::{ImWriteSpec, Layout, MassSpec, WriteOptions, write_im};
use ndarray::Array4;

use crate::common::{BIN, Exp, PIPELINE, files_under};

/// Every file under `dir`, relative to it.
fn files(dir: &Path) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect()
}

#[test]
fn names_from_data_cannot_leave_the_results_folder() {
    // A NanoSIMS file whose mass labels are paths: the per-mass exports are named from them.
    let exp = Exp::new();
    let counts = Array4::from_shape_fn((3, 1, 8, 8), |(m, _, y, x)| (m + y + x) as u32);
    let spec = ImWriteSpec::new(
        vec![
            MassSpec::new("../../../escaped", 12.0, 1),
            MassSpec::new("/tmp/absolute", 13.0, 2),
            MassSpec::new("12C14N", 26.003, 3),
        ],
        Layout::Release4108,
    );
    write_im(
        exp.path("hostile.im"),
        &spec,
        &counts,
        &WriteOptions::release4108(corrflow_im::ByteOrder::Little),
    )
    .unwrap();
    exp.write("samples.csv", "id,im\nh1,hostile.im\n");
    exp.write(
        "pipeline.yaml",
        "name: sec\nsamples:\n  table: samples.csv\nnodes:\n  - id: ions\n    stage: io.nanosims\n    inputs: { file: sample.im }\n    params: { dead_time: off }\n",
    );
    let before = files(exp.dir.path());
    exp.run(&["run", "pipeline.yaml"]).ok();
    let after = files(exp.dir.path());
    // Everything new lies in results/ or the cache folder.
    for f in after.iter().filter(|f| !before.contains(f)) {
        assert!(
            f.starts_with("results/") || f.starts_with(".corrflow/"),
            "{f} was written outside the results and cache folders"
        );
    }
    let exported = files(&exp.path("results/h1"));
    let mut expected = [
        "ions.12C14N.tif",
        "ions._tmp_absolute.tif",
        "ions..._.._.._escaped.tif",
    ]
    .map(String::from)
    .to_vec();
    expected.sort();
    assert_eq!(exported, expected);
    assert!(
        !exp.dir
            .path()
            .parent()
            .unwrap()
            .join("escaped.tif")
            .exists()
    );
}

#[test]
fn exec_programs_run_without_a_shell() {
    let exp = Exp::new();
    exp.samples(1, 32);
    // Shell syntax in `program` or `args` is passed on literally, never interpreted.
    for params in [
        "{ program: 'touch pwned-by-program; true', version: '1', outputs: { t: table } }",
        "{ program: echo, args: ['$(touch pwned-by-args)', '`touch pwned-by-args`'], version: '1', outputs: { t: table } }",
    ] {
        exp.write(
            "pipeline.yaml",
            &format!("{PIPELINE}  - id: ext\n    stage: exec\n    params: {params}\n"),
        );
        let r = exp.run(&["run", "pipeline.yaml", "-k"]);
        assert_ne!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stderr.contains("cannot start program") || r.stderr.contains("wrote no output file"),
            "{}",
            r.stderr
        );
    }
    assert!(!exp.path("pwned-by-program").exists());
    assert!(!exp.path("pwned-by-args").exists());
}

/// A whole run (reading, preprocessing, exports) inside a network namespace with no interfaces
/// but loopback: nothing is fetched at run time. Skips where user namespaces are not allowed.
#[test]
fn a_run_needs_no_network() {
    let Ok(probe) = Command::new("unshare").args(["-rn", "true"]).status() else {
        eprintln!("SKIP a_run_needs_no_network: `unshare` is not installed");
        return;
    };
    if !probe.success() {
        eprintln!("SKIP a_run_needs_no_network: unprivileged network namespaces are not allowed");
        return;
    }
    let exp = Exp::study(2, 48, PIPELINE);
    let out = Command::new("unshare")
        .args(["-rn", BIN, "run", "pipeline.yaml"])
        .current_dir(exp.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outside = Exp::study(2, 48, PIPELINE);
    outside.run(&["run", "pipeline.yaml"]).ok();
    assert_eq!(exp.results(), outside.results());
}
