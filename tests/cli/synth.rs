//! `corrflow synth` and `corrflow export-dataset` through the binary, and a pipeline that reads a
//! synthetic study directly.

use crate::common::Exp;

const SMALL: &str = "em: { width_px: 512, height_px: 512, pixel_size_nm: 32.0 }\nnanosims: { size_px: 64, pixel_size_nm: [160.0, 200.0], planes: 3, supersample: 3 }\n";

#[test]
fn synth_then_pipeline_then_dataset() {
    let exp = Exp::new();
    let cfg = exp.run(&["synth", "--out", "x", "--print-config"]);
    assert!(
        cfg.ok().stdout.contains("design:") && cfg.stdout.contains("hNPC"),
        "{}",
        cfg.stdout
    );
    exp.write("small.yaml", SMALL);
    let r = exp.run(&[
        "synth",
        "--out",
        "study",
        "--samples",
        "2",
        "--seed",
        "5",
        "--config",
        "small.yaml",
    ]);
    assert!(r.ok().stderr.contains("2 sample(s)"), "{}", r.stderr);
    for f in [
        "samples.csv",
        "em/s01.tif",
        "nanosims/s02.im",
        "truth/s01.json",
        "truth/s02_labels.tif",
    ] {
        assert!(exp.path(&format!("study/{f}")).exists(), "{f}");
    }
    let truth: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exp.path("study/truth/s01.json")).unwrap()).unwrap();
    for k in [
        "condition",
        "em_pixel_nm",
        "nanosims_pixel_nm",
        "em_to_nanosims",
        "organelles",
    ] {
        assert!(truth.get(k).is_some(), "truth has {k}");
    }
    assert_eq!(truth["condition"], "hNPC");
    let o = &truth["organelles"][0];
    assert!(
        o["id"].is_u64()
            && o["class"].is_string()
            && o["ratio_15N_14N"].as_f64().unwrap() >= 0.003676
            && o["area_um2"].is_f64()
    );
    // A pipeline reads the study's samples table directly.
    exp.write(
        "study/pipeline.yaml",
        "samples: { table: samples.csv }\nnodes:\n  - id: em\n    stage: io.em\n    inputs: { file: sample.em }\n  - id: ions\n    stage: io.nanosims\n    inputs: { file: sample.nanosims }\n    params: { align: { reference: 12C14N } }\n  - id: ratio\n    stage: nanosims.ratio\n    inputs: { ions: ions.ions }\n",
    );
    assert_eq!(
        exp.run(&["run", "study/pipeline.yaml"]).ok().counts(),
        (6, 0)
    );
    // The training set.
    let d = exp.run(&[
        "export-dataset",
        "--synth",
        "study",
        "--out",
        "ds",
        "--tile",
        "256",
        "--val",
        "0.5",
    ]);
    assert!(d.ok().stdout.contains("2 source image(s)"), "{}", d.stdout);
    let yaml = std::fs::read_to_string(exp.path("ds/data.yaml")).unwrap();
    assert!(
        yaml.contains("0: \"nucleus\"") && yaml.contains("5: \"vesicle\""),
        "{yaml}"
    );
    let mut lines = 0;
    for split in ["train", "val"] {
        for f in std::fs::read_dir(exp.path(&format!("ds/labels/{split}")))
            .unwrap()
            .flatten()
        {
            for l in std::fs::read_to_string(f.path()).unwrap().lines() {
                let v: Vec<f64> = l.split_whitespace().map(|t| t.parse().unwrap()).collect();
                assert!(v[0] < 6.0 && v.len() >= 7 && v.len() % 2 == 1, "{l}");
                assert!(v[1..].iter().all(|c| (0.0..=1.0).contains(c)), "{l}");
                lines += 1;
            }
        }
    }
    assert!(lines > 10, "{lines} polygons");
    // Writing over an existing dataset needs --overwrite.
    exp.run(&["export-dataset", "--synth", "study", "--out", "ds"])
        .fails_with(2, &["ds"]);
}

#[test]
fn synth_rejects_bad_configs() {
    let exp = Exp::new();
    exp.write("bad.yaml", "em: { width_px: 512, colour: blue }\n");
    exp.run(&["synth", "--out", "s", "--config", "bad.yaml"])
        .fails_with(2, &["bad.yaml", "colour"]);
    exp.write("bad2.yaml", "nanosims: { planes: 0 }\n");
    exp.run(&["synth", "--out", "s", "--config", "bad2.yaml"])
        .fails_with(2, &["bad2.yaml", "planes"]);
    exp.run(&["export-dataset", "--out", "d"])
        .fails_with(2, &["--synth"]);
}
