//! schema, stages, dag, explain, init, gc.

use crate::common::{Exp, PIPELINE};

#[test]
fn checked_in_schema_is_current() {
    let exp = Exp::new();
    let r = exp.run(&["schema"]);
    let checked_in = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas/pipeline.schema.json"
    ))
    .unwrap();
    assert!(
        r.ok().stdout == checked_in,
        "schemas/pipeline.schema.json is stale: regenerate it with `cargo run -- schema --out schemas/pipeline.schema.json`"
    );
    let v: serde_json::Value = serde_json::from_str(&checked_in).unwrap();
    // Per-stage params schemas are embedded, with their definitions.
    let all_of = v["$defs"]["NodeSpec"]["allOf"].as_array().unwrap();
    assert!(
        all_of
            .iter()
            .any(|b| b["if"]["properties"]["stage"]["const"] == "preprocess.em")
    );
    assert!(
        v["$defs"].get("preprocess.em.Step").is_some(),
        "{:?}",
        v["$defs"].as_object().unwrap().keys().collect::<Vec<_>>()
    );
}

#[test]
fn stages_lists_and_describes() {
    let exp = Exp::new();
    let r = exp.run(&["stages"]);
    for id in ["io.em", "preprocess.em", "exec", "exec.aggregate"] {
        assert!(r.ok().stdout.contains(id), "{}", r.stdout);
    }
    let r = exp.run(&["stages", "preprocess.em"]);
    assert!(
        r.ok().stdout.contains("percentile_normalize") && r.stdout.contains("em_image"),
        "{}",
        r.stdout
    );
    let j = exp.run(&["stages", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j.ok().stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|s| s["version"].is_string() && s["params_schema"].is_object())
    );
    exp.run(&["stages", "preproces.em"])
        .fails_with(2, &["did you mean 'preprocess.em'"]);
}

#[test]
fn dag_exports_dot_and_mermaid() {
    let exp = Exp::study(1, 16, PIPELINE);
    let dot = exp.run(&["dag", "pipeline.yaml"]);
    assert!(dot.ok().stdout.starts_with("digraph pipeline {"));
    assert!(
        dot.stdout
            .contains("\"em\" -> \"pre\" [label=\"image → image\"]"),
        "{}",
        dot.stdout
    );
    let m = exp.run(&["dag", "pipeline.yaml", "--format", "mermaid"]);
    assert!(m.ok().stdout.starts_with("flowchart LR"));
    assert!(
        m.stdout.contains("em -- \"image → image\" --> pre"),
        "{}",
        m.stdout
    );
}

#[test]
fn explain_shows_params_inputs_and_keys() {
    let exp = Exp::study(2, 16, PIPELINE);
    exp.run(&["run", "pipeline.yaml"]).ok();
    let r = exp.run(&["explain", "pipeline.yaml", "pre"]);
    let out = &r.ok().stdout;
    assert!(out.contains("stage preprocess.em version 1"), "{out}");
    assert!(
        out.contains("\"high\": 99.5"),
        "defaults are filled in: {out}"
    );
    assert!(out.contains("image ← em.image"), "{out}");
    assert!(
        out.contains("s1  key ") && out.contains("fresh") && out.contains("entry "),
        "{out}"
    );
}

#[test]
fn init_scaffolds_a_runnable_experiment() {
    let exp = Exp::new();
    exp.run(&["init", "study"]).ok();
    let text = std::fs::read_to_string(exp.path("study/pipeline.yaml")).unwrap();
    assert!(text.starts_with("# yaml-language-server: $schema=.corrflow/pipeline.schema.json"));
    assert!(exp.path("study/.corrflow/pipeline.schema.json").exists());
    exp.run(&["init", "study"]).fails_with(2, &["exists"]);
    // Fill in the samples table and run it.
    exp.image("study/a.tif", 1, 64, 64);
    exp.write("study/samples.csv", "id,em,condition\na,a.tif,ctrl\n");
    exp.run(&["run", "study/pipeline.yaml"]).ok();
    assert!(exp.path("study/results/a/pre.tif").exists());
}

#[test]
fn gc_removes_only_unreferenced_entries() {
    let exp = Exp::study(2, 24, PIPELINE);
    exp.run(&["run", "pipeline.yaml"]).ok();
    exp.write(
        "pipeline.yaml",
        &PIPELINE.replace("sigma_nm: 8.0", "sigma_nm: 9.0"),
    );
    exp.run(&["run", "pipeline.yaml"]).ok();
    // The sigma 8 entries of `pre` are no longer referenced.
    let dry = exp.run(&["gc", "pipeline.yaml", "--grace", "0", "--dry-run"]);
    assert!(
        dry.ok()
            .stdout
            .starts_with("would remove 2 unreferenced entries"),
        "{}",
        dry.stdout
    );
    let r = exp.run(&["gc", "pipeline.yaml", "--grace", "0"]);
    assert!(
        r.ok()
            .stdout
            .starts_with("removed 2 unreferenced entries (4 files"),
        "{}",
        r.stdout
    );
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 4));
    // With the default grace period, young entries are kept.
    exp.write("pipeline.yaml", PIPELINE);
    exp.run(&["run", "pipeline.yaml"]).ok();
    exp.write(
        "pipeline.yaml",
        &PIPELINE.replace("sigma_nm: 8.0", "sigma_nm: 9.0"),
    );
    exp.run(&["run", "pipeline.yaml"]).ok();
    assert!(
        exp.run(&["gc", "pipeline.yaml"])
            .ok()
            .stdout
            .starts_with("removed 0")
    );
}

#[test]
fn example_pipelines_validate() {
    // Copy the examples (pipelines/ and the bundled model, in the repository's layout), make the
    // synthetic study the correlative example reads (as ./scripts/setup does, smaller), and
    // validate every pipeline.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("pipelines");
    let exp = Exp::new();
    std::fs::create_dir_all(exp.path("pipelines")).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(&src).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let name = p.file_name().unwrap().to_str().unwrap();
            std::fs::copy(&p, exp.path(&format!("pipelines/{name}"))).unwrap();
            n += 1;
        }
    }
    assert!(n >= 3, "example pipelines in pipelines/");
    let copy = |from: &std::path::Path, to: &str| {
        let d = exp.path(to);
        std::fs::create_dir_all(&d).unwrap();
        for e in std::fs::read_dir(from).unwrap().flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), d.join(e.file_name())).unwrap();
            }
        }
    };
    copy(&src.join("example"), "pipelines/example");
    copy(
        &root.join("models/organelles-yolov8n-seg"),
        "models/organelles-yolov8n-seg",
    );
    exp.write("pipelines/tiny.yaml", "em: { width_px: 512, height_px: 512, pixel_size_nm: 32.0 }\nnanosims: { size_px: 64, pixel_size_nm: [160.0, 200.0], planes: 2 }\n");
    exp.run(&[
        "synth",
        "--out",
        "pipelines/study",
        "--samples",
        "2",
        "--config",
        "pipelines/tiny.yaml",
    ])
    .ok();
    exp.run(&[
        "synth",
        "--out",
        "x",
        "--config",
        "pipelines/study.synth.yaml",
        "--print-config",
    ])
    .ok();
    // The turnover study, made as its `samples.make` would but small (4 cells, 2 per state).
    exp.run(&[
        "synth",
        "--out",
        "pipelines/results/study",
        "--samples",
        "4",
        "--config",
        "pipelines/tiny.yaml",
    ])
    .ok();
    for f in [
        "em-preprocess.yaml",
        "correlative.yaml",
        "turnover.yaml",
        "manual-masks.yaml",
    ] {
        let r = exp.run(&["validate", &format!("pipelines/{f}")]);
        assert!(r.ok().stdout.contains("valid"), "{f}: {}", r.stdout);
    }
    if corrflow_segment::runtime::resolve_library(None).is_err() {
        eprintln!("SKIPPED running correlative.yaml: ONNX Runtime is not set up (./scripts/setup)");
        return;
    }
    assert_eq!(
        exp.run(&["run", "pipelines/correlative.yaml"])
            .ok()
            .counts(),
        (10, 0)
    );
    // The paper's pipeline and its hand-made variant, end to end.
    exp.run(&["run", "pipelines/turnover.yaml"]).ok();
    for f in ["rois.csv", "rois.parquet", "stats.csv", "stats.summary.csv"] {
        assert!(exp.path(&format!("pipelines/results/{f}")).is_file(), "{f}");
    }
    let r = exp.run(&["run", "pipelines/manual-masks.yaml"]);
    r.ok();
    // The NanoSIMS reading and the EM reading are shared with turnover.yaml: cached.
    assert!(
        r.stderr.contains("ions: 4/4: 0 ran, 4 cached"),
        "{}",
        r.stderr
    );
    let rois = std::fs::read_to_string(exp.path("pipelines/results-manual/rois.csv")).unwrap();
    let header = rois.lines().next().unwrap();
    for col in [
        "sample",
        "condition",
        "class",
        "ratio",
        "ratio_sigma",
        "counts_12C14N",
    ] {
        assert!(header.split(',').any(|c| c == col), "{col}: {header}");
    }
    assert!(rois.lines().count() > 10, "{rois}");
}
