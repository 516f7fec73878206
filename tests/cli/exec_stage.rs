//! The `exec` stage: an external Python program reads an HDF5 entry and writes one, over the
//! documented protocol; failures carry the program's stderr; no shell is involved.

use corrflow_test_support::{python_has, run_python};

use crate::common::{Exp, PIPELINE};

const PROGRAM: &str = r#"
import json, sys
import h5py, numpy as np
req = json.load(open(sys.argv[-1]))
assert sys.argv[1] == "literal; $(not a shell) *", sys.argv
inp = req["inputs"]["image"]
with h5py.File(inp["file"], "r") as f:
    g = f[inp["group"]]
    data = g["data"][()]
    px = g.attrs["pixel_size_nm"]
    assert g.attrs["corrflow_type"] == "em_image"
with h5py.File(req["output"]["file"], "w") as f:
    g = f.create_group("stats")
    g.attrs["corrflow_type"] = "table"
    g.attrs["mean"] = float(data.mean()) * req["params"]["scale"]
    g.attrs["pixel_size_nm"] = px
    g.attrs["sample"] = req["sample"]["id"]
    g.attrs["condition"] = req["sample"]["columns"]["condition"]
print("corrflow:warning: mean computed by python")
"#;

/// Reads the cache with h5py: each `py` entry's mean is twice the mean of its `em` image.
const CHECK: &str = r#"
import glob, json, sys
import h5py
root = sys.argv[1]
ms = [json.load(open(m)) for m in glob.glob(root + "/entries/*/*.json")]
py = [m for m in ms if m["node"] == "py"]
em = {m["sample"]: m for m in ms if m["node"] == "em"}
assert len(py) == 2, len(py)
for m in py:
    d = h5py.File(glob.glob(root + "/entries/*/" + m["data_file"])[0])["stats"]
    e = em[m["sample"]]
    img = h5py.File(glob.glob(root + "/entries/*/" + e["data_file"])[0])["image/data"][()]
    assert abs(d.attrs["mean"] - 2 * img.mean()) < 1e-6 * img.mean(), (d.attrs["mean"], img.mean())
    assert d.attrs["sample"] == m["sample"]
print("ok")
"#;

fn pipeline(scale: f64, version: &str) -> String {
    format!(
        "{PIPELINE}  - id: py\n    stage: exec\n    inputs: {{ image: em.image }}\n    params:\n      program: python3\n      args: [stats.py, 'literal; $(not a shell) *']\n      version: '{version}'\n      inputs: {{ image: em_image }}\n      outputs: {{ stats: table }}\n      params: {{ scale: {scale} }}\n"
    )
}

#[test]
fn exec_runs_a_python_program_over_hdf5() {
    if !python_has("exec_runs_a_python_program_over_hdf5", &["h5py", "numpy"]) {
        return;
    }
    let exp = Exp::new();
    exp.samples(2, 32);
    exp.write("stats.py", PROGRAM);
    exp.write("pipeline.yaml", &pipeline(2.0, "1"));
    let r = exp.run(&["run", "pipeline.yaml", "-j", "2"]);
    assert_eq!(r.ok().counts(), (6, 0));
    assert!(
        r.stderr.contains("warning: py/s0: mean computed by python"),
        "{}",
        r.stderr
    );
    // The program's output entry is in the cache; read it back with h5py to check its values.
    let cache = exp.path(".corrflow/cache");
    run_python("exec_runs_a_python_program_over_hdf5", CHECK, [&cache]);
    // Its params and declared version enter the key.
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 6));
    exp.write("pipeline.yaml", &pipeline(3.0, "1"));
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (2, 4));
    exp.write("pipeline.yaml", &pipeline(3.0, "2"));
    let st = exp.status("pipeline.yaml");
    let py0 = st
        .iter()
        .find(|(n, s, _, _)| n == "py" && s == "s0")
        .unwrap();
    assert_eq!(py0.3, ["param version changed from \"1\" to \"2\""]);
}

#[test]
fn exec_failures_carry_stderr_and_lose_nothing() {
    let exp = Exp::new();
    exp.samples(2, 32);
    exp.write(
        "fail.sh",
        "#!/bin/sh\necho 'something broke: bad value' >&2\nexit 3\n",
    );
    std::fs::set_permissions(
        exp.path("fail.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let p = format!(
        "{PIPELINE}  - id: ext\n    stage: exec\n    inputs: {{ image: pre.image }}\n    params: {{ program: ./fail.sh, version: '1', inputs: {{ image: em_image }}, outputs: {{ t: table }} }}\n"
    );
    exp.write("pipeline.yaml", &p);
    let r = exp.run(&["run", "pipeline.yaml", "-j", "1", "-k"]);
    r.fails_with(
        1,
        &[
            "ext/s0",
            "failed (exit status: 3)",
            "something broke: bad value",
        ],
    );
    // Everything upstream was committed and stays cached.
    let st = exp.status("pipeline.yaml");
    assert!(
        st.iter()
            .filter(|(n, _, _, _)| n != "ext")
            .all(|(_, _, s, _)| s == "fresh"),
        "{st:?}"
    );
    assert!(
        st.iter()
            .filter(|(n, _, _, _)| n == "ext")
            .all(|(_, _, s, _)| s == "missing")
    );
    // A program that does not exist, and one that exits 0 without writing its output.
    exp.write(
        "pipeline.yaml",
        &p.replace("./fail.sh", "./no-such-program"),
    );
    exp.run(&["run", "pipeline.yaml"])
        .fails_with(1, &["cannot start program", "no-such-program"]);
    exp.write("pipeline.yaml", &p.replace("./fail.sh", "'true'"));
    exp.run(&["run", "pipeline.yaml"])
        .fails_with(1, &["wrote no output file"]);
    // A timeout stops it.
    exp.write(
        "pipeline.yaml",
        &p.replace(
            "program: ./fail.sh,",
            "program: sh, args: ['-c', 'sleep 5'], timeout_s: 0.3,",
        ),
    );
    let t = std::time::Instant::now();
    exp.run(&["run", "pipeline.yaml", "-j", "2"])
        .fails_with(1, &["ran longer than timeout_s"]);
    assert!(t.elapsed().as_secs_f64() < 4.0);
    assert!(
        std::fs::read_dir(exp.path(".corrflow/cache/tmp"))
            .unwrap()
            .next()
            .is_none(),
        "temp files are cleaned up"
    );
}
