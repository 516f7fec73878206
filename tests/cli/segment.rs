//! Segmentation through the binary: `corrflow predict`, `segment.yolo` and `segment.masks` in
//! pipelines (cache, reruns, exports), and the errors for missing or wrong models and libraries.

use std::path::{Path, PathBuf};

use serde_json::Value;

use corrflow_test_support::{python_has, run_python};

use crate::common::Exp;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn model() -> PathBuf {
    repo().join("models/organelles-yolov8n-seg/model.onnx")
}

fn reference_png(name: &str) -> String {
    repo()
        .join("plugins/segment/reference/yolo")
        .join(name)
        .display()
        .to_string()
}

/// Whether ONNX Runtime is set up (./scripts/setup); prints why a test is skipped when not.
fn have_onnxruntime(test: &str) -> bool {
    let ok = corrflow_segment::runtime::resolve_library(None).is_ok();
    if !ok {
        eprintln!("SKIPPED {test}: ONNX Runtime is not set up (./scripts/setup installs it)");
    }
    ok
}

/// A small synthetic study at the bundled model's pixel size (8 nm).
fn study(exp: &Exp, n: usize) {
    exp.write(
        "small.yaml",
        "em: { width_px: 640, height_px: 576, pixel_size_nm: 8.0, cell_diameter_um: [4.0, 4.5], \
         nucleus_diameter_um: [1.2, 1.5] }\n\
         nanosims: { size_px: 64, pixel_size_nm: [160.0, 200.0], planes: 2, supersample: 2 }\n",
    );
    let n = n.to_string();
    exp.run(&[
        "synth",
        "--out",
        "study",
        "--samples",
        &n,
        "--seed",
        "3",
        "--config",
        "small.yaml",
    ])
    .ok();
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

#[test]
fn predict_writes_coco_results_labels_and_overlays() {
    if !have_onnxruntime("predict_writes_coco_results_labels_and_overlays") {
        return;
    }
    let exp = Exp::new();
    let m = model().display().to_string();
    let (a, b) = (reference_png("wide.png"), reference_png("tall.png"));
    let r = exp.run(&[
        "predict", "--model", &m, "--out", "out", "--conf", "0.1", &a, &b,
    ]);
    assert!(r.ok().stdout.contains("wide.png:"), "{}", r.stdout);
    let preds = read_json(&exp.path("out/predictions.json"));
    let list = preds.as_array().expect("a COCO results list");
    assert!(!list.is_empty());
    for p in list {
        let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
        for k in [
            "image",
            "category_id",
            "category_name",
            "score",
            "bbox",
            "segmentation",
        ] {
            assert!(keys.iter().any(|x| *x == k), "missing {k} in {p}");
        }
        let image = p["image"].as_str().unwrap();
        let size = &p["segmentation"]["size"];
        let (h, w) = if image == "wide.png" {
            (257, 611)
        } else {
            (533, 190)
        };
        assert_eq!(size, &serde_json::json!([h, w]), "{image}");
        assert!(p["segmentation"]["counts"].is_string());
        let bbox: Vec<f64> = p["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert!(bbox[0] >= 0.0 && bbox[2] > 0.0 && bbox[0] + bbox[2] <= w as f64 + 1e-3);
        assert!(p["score"].as_f64().unwrap() > 0.1);
    }
    for f in [
        "wide.overlay.png",
        "wide.labels.tif",
        "tall.overlay.png",
        "tall.labels.tif",
    ] {
        assert!(exp.path(&format!("out/{f}")).is_file(), "{f}");
    }
    // The label image has one value per instance of that image.
    let labels = corrflow_io_em::read_labels_u32(&exp.path("out/wide.labels.tif"), None).unwrap();
    let n_wide = list.iter().filter(|p| p["image"] == "wide.png").count();
    let max = labels.data.iter().copied().max().unwrap_or(0) as usize;
    assert!(
        max <= n_wide && max > 0,
        "labels up to {max}, {n_wide} instances"
    );

    if python_has(
        "predict_writes_coco_results (pycocotools check)",
        &["pycocotools", "numpy"],
    ) {
        // pycocotools decodes every mask; it lies inside its box, give or take the bilinear
        // resize from the model input (default masks are cut at the box in input pixels, then
        // scaled up by up to 611/320 here: ~2 px).
        let script = r#"
import json, sys
from pycocotools import mask
for p in json.load(open(sys.argv[1])):
    m = mask.decode(p["segmentation"])
    x, y, w, h = p["bbox"]
    ys, xs = m.nonzero()
    assert len(xs) > 0
    assert xs.min() >= x - 3 and xs.max() <= x + w + 3, (p["bbox"], xs.min(), xs.max())
    assert ys.min() >= y - 3 and ys.max() <= y + h + 3, (p["bbox"], ys.min(), ys.max())
print("ok")
"#;
        run_python(
            "predict_writes_coco_results (pycocotools check)",
            script,
            [exp.path("out/predictions.json")],
        );
    }
}

#[test]
fn predict_errors_name_the_problem() {
    let exp = Exp::new();
    let img = reference_png("small.png");
    let bad = repo().join("plugins/segment/reference/bad-models");
    exp.run(&["predict", "--model", "missing.onnx", "--out", "o", &img])
        .fails_with(2, &["missing.onnx", "does not exist"]);
    if !have_onnxruntime("predict_errors_name_the_problem") {
        return;
    }
    for (file, needle) in [
        ("detect_like.onnx", "'detect' model"),
        ("classify.onnx", "'classify' model"),
        ("no_classes.onnx", "leave no class scores"),
    ] {
        let p = bad.join(file).display().to_string();
        exp.run(&["predict", "--model", &p, "--out", "o", &img])
            .fails_with(2, &[file, needle]);
    }
    exp.write("junk.onnx", "this is not a model");
    exp.run(&["predict", "--model", "junk.onnx", "--out", "o", &img])
        .fails_with(2, &["junk.onnx", "not a usable ONNX model"]);
    let m = model().display().to_string();
    exp.run(&["predict", "--model", &m, "--out", "o", "nothing.tif"])
        .fails_with(2, &["nothing.tif"]);
    exp.run(&["predict", "--model", &m, "--out", "o", "--conf", "2", &img])
        .fails_with(2, &["conf"]);
    let r = std::process::Command::new(crate::common::BIN)
        .args(["predict", "--model", &m, "--out", "o", &img])
        .current_dir(exp.path(""))
        .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so")
        .output()
        .unwrap();
    let r = crate::common::Run::from(r);
    r.fails_with(
        2,
        &[
            "ONNX Runtime library was not found",
            "/nonexistent/libonnxruntime.so",
        ],
    );
}

const SEGMENT_PIPELINE: &str = r#"name: seg
samples:
  table: study/samples.csv
nodes:
  - id: em
    stage: io.em
    inputs: { file: sample.em }
  - id: seg
    stage: segment.yolo
    inputs: { image: em.image, model: file:model.onnx }
    params:
      conf: 0.25
      tile: { overlap: 64 }
  - id: truth
    stage: segment.masks
    inputs: { image: em.image, masks: sample.labels, classes: sample.classes }
"#;

#[test]
fn segment_stages_in_a_pipeline_cache_rerun_and_export() {
    if !have_onnxruntime("segment_stages_in_a_pipeline_cache_rerun_and_export") {
        return;
    }
    let exp = Exp::new();
    study(&exp, 2);
    std::fs::copy(model(), exp.path("model.onnx")).unwrap();
    exp.write("seg.yaml", SEGMENT_PIPELINE);
    let r = exp.run(&["run", "seg.yaml"]);
    assert_eq!(r.ok().counts(), (6, 0));
    for s in ["s01", "s02"] {
        for f in [
            "seg.labels.tif",
            "seg.instances.json",
            "seg.overlay.png",
            "truth.labels.tif",
        ] {
            assert!(exp.path(&format!("results/{s}/{f}")).is_file(), "{s}/{f}");
        }
        // segment.masks gives back exactly the truth: one instance per organelle, same classes.
        let truth = read_json(&exp.path(&format!("study/truth/{s}.json")));
        let organelles = truth["organelles"].as_array().unwrap();
        let imported = read_json(&exp.path(&format!("results/{s}/truth.instances.json")));
        let imported = imported.as_array().unwrap();
        assert_eq!(imported.len(), organelles.len(), "{s}");
        let mut want: Vec<&str> = organelles
            .iter()
            .map(|o| o["class"].as_str().unwrap())
            .collect();
        let mut got: Vec<&str> = imported
            .iter()
            .map(|o| o["category_name"].as_str().unwrap())
            .collect();
        want.sort();
        got.sort();
        assert_eq!(got, want, "{s}");
        assert!(imported.iter().all(|o| o["image"] == format!("{s}.tif")));
    }
    // Cached rerun; a param change reruns only the segmentation; a new model file too.
    assert_eq!(exp.run(&["run", "seg.yaml"]).ok().counts(), (0, 6));
    let changed = SEGMENT_PIPELINE.replace("conf: 0.25", "conf: 0.3");
    exp.write("seg.yaml", &changed);
    let st = exp.status("seg.yaml");
    let seg: Vec<_> = st.iter().filter(|r| r.0 == "seg").collect();
    assert!(
        seg.iter()
            .all(|r| r.2 == "stale" && r.3.iter().any(|m| m.contains("conf"))),
        "{st:?}"
    );
    assert!(
        st.iter().filter(|r| r.0 != "seg").all(|r| r.2 == "fresh"),
        "{st:?}"
    );
    assert_eq!(exp.run(&["run", "seg.yaml"]).ok().counts(), (2, 4));
    let mut bytes = std::fs::read(exp.path("model.onnx")).unwrap();
    bytes.extend_from_slice(b""); // same content: still cached
    std::fs::write(exp.path("model.onnx"), &bytes).unwrap();
    assert_eq!(exp.run(&["run", "seg.yaml"]).ok().counts(), (0, 6));
    let bad = repo().join("plugins/segment/reference/bad-models/detect_like.onnx");
    std::fs::copy(bad, exp.path("model.onnx")).unwrap();
    let st = exp.status("seg.yaml");
    assert!(
        st.iter()
            .filter(|r| r.0 == "seg")
            .all(|r| r.3.iter().any(|m| m.contains("model"))),
        "{st:?}"
    );
    // A wrong model fails the segmentation tasks with a clear error; the rest stays cached.
    let r = exp.run(&["run", "seg.yaml"]);
    r.fails_with(1, &["seg/s01", "model.onnx", "'detect' model"]);
}

#[test]
fn missing_model_file_is_a_validation_error_with_location() {
    let exp = Exp::new();
    study(&exp, 1);
    exp.write(
        "seg.yaml",
        &SEGMENT_PIPELINE.replace("file:model.onnx", "file:models/none.onnx"),
    );
    let r = exp.run(&["validate", "seg.yaml"]);
    r.fails_with(2, &["seg.yaml:", "none.onnx", "does not exist"]);
}

#[test]
fn evaluate_scores_truth_as_perfect_and_predictions_below() {
    if !have_onnxruntime("evaluate_scores_truth_as_perfect_and_predictions_below") {
        return;
    }
    let exp = Exp::new();
    study(&exp, 2);
    // The truth itself, through segment.masks, as COCO results: AP 1 for every class present.
    exp.write(
        "truth.yaml",
        "samples: { table: study/samples.csv }\nnodes:\n  - { id: em, stage: io.em, inputs: { file: sample.em } }\n  - id: truth\n    stage: segment.masks\n    inputs: { image: em.image, masks: sample.labels, classes: sample.classes }\n",
    );
    exp.run(&["run", "truth.yaml"]).ok();
    let mut all = Vec::new();
    for s in ["s01", "s02"] {
        let v = read_json(&exp.path(&format!("results/{s}/truth.instances.json")));
        all.extend(v.as_array().unwrap().iter().cloned());
    }
    exp.write("truth-as-pred.json", &serde_json::to_string(&all).unwrap());
    let r = exp.run(&[
        "evaluate",
        "--pred",
        "truth-as-pred.json",
        "--synth",
        "study",
        "--json",
        "self.json",
    ]);
    r.ok();
    let report = read_json(&exp.path("self.json"));
    let stats = report["stats"].as_array().expect("12 COCO stats");
    assert_eq!(stats.len(), 12);
    assert!(
        (stats[1].as_f64().unwrap() - 1.0).abs() < 1e-12,
        "AP50 of the truth: {report}"
    );
    for c in report["categories"].as_array().unwrap() {
        if c["n_truth"].as_u64().unwrap() > 0 {
            assert!((c["ap50"].as_f64().unwrap() - 1.0).abs() < 1e-12, "{c}");
        }
    }
    // The model's predictions on the same images score in [0, 1], per class, and not above the truth.
    let m = model().display().to_string();
    exp.run(&[
        "predict",
        "--model",
        &m,
        "--out",
        "pred",
        "--tile",
        "study/em/s01.tif",
        "study/em/s02.tif",
    ])
    .ok();
    let r = exp.run(&[
        "evaluate",
        "--pred",
        "pred/predictions.json",
        "--synth",
        "study",
        "--json",
        "model.json",
    ]);
    assert!(r.ok().stdout.contains("mask AP50"), "{}", r.stdout);
    let report = read_json(&exp.path("model.json"));
    for c in report["categories"].as_array().unwrap() {
        let ap = c["ap50"].as_f64().unwrap_or(-1.0);
        assert!((-1.0..=1.0).contains(&ap), "{c}");
    }
    // A prediction file naming an image that is not in the truth is an error that names it.
    exp.write(
        "stray.json",
        r#"[{"image": "nope.tif", "category_id": 0, "category_name": "nucleus", "score": 0.9, "bbox": [0, 0, 1, 1], "segmentation": {"size": [2, 2], "counts": "04"}}]"#,
    );
    let r = exp.run(&["evaluate", "--pred", "stray.json", "--synth", "study"]);
    r.fails_with(2, &["nope.tif"]);
}

#[test]
fn filter_morphology_keeps_and_explains_removals() {
    let exp = Exp::new();
    study(&exp, 1);
    exp.write(
        "f.yaml",
        "samples: { table: study/samples.csv }\nnodes:\n  - { id: em, stage: io.em, inputs: { file: sample.em } }\n  - id: truth\n    stage: segment.masks\n    inputs: { image: em.image, masks: sample.labels, classes: sample.classes }\n  - id: kept\n    stage: filter.morphology\n    inputs: { instances: truth.instances, image: em.image }\n    params:\n      rules:\n        - { min_area_um2: 0.02 }\n        - { classes: [nucleus], drop_border: true }\n",
    );
    exp.run(&["run", "f.yaml"]).ok();
    let truth = read_json(&exp.path("study/truth/s01.json"));
    let organelles = truth["organelles"].as_array().unwrap();
    let small = organelles
        .iter()
        .filter(|o| o["area_um2"].as_f64().unwrap() < 0.02)
        .count();
    assert!(small > 0, "the study has small organelles");
    let removed = std::fs::read_to_string(exp.path("results/s01/kept.removed.csv")).unwrap();
    let n_removed = removed.lines().count() - 1;
    assert!(n_removed >= small, "{removed}");
    assert!(removed.contains("min_area_um2"), "{removed}");
    let props = std::fs::read_to_string(exp.path("results/s01/kept.props.csv")).unwrap();
    assert_eq!(
        props.lines().count() - 1 + n_removed,
        organelles.len(),
        "{props}"
    );
    assert!(exp.path("results/s01/kept.labels.tif").is_file());
    // An unknown class in a rule is a clear error.
    let bad = std::fs::read_to_string(exp.path("f.yaml"))
        .unwrap()
        .replace("nucleus", "nucleolus");
    exp.write("bad.yaml", &bad);
    exp.run(&["run", "bad.yaml"]).fails_with(1, &["nucleolus"]);
}
