//! `corrflow evaluate` end to end on a small synthetic study and on label images with a class
//! table: perfect predictions score 1, unknown images are errors naming them.

use std::path::Path;

use corrflow_evaluate::{EvaluateCommand, EvaluatePlugin, Truth};
use corrflow_stage::{Command, Plugin, Registry};
use corrflow_types::coco::{Rle, rle_to_string};
use ndarray::Array2;
use serde_json::{Value, json};

/// Two organelles of different classes on a 40×50 image.
fn labels() -> Array2<u32> {
    Array2::from_shape_fn((40, 50), |(y, x)| {
        if (5..20).contains(&y) && (5..25).contains(&x) {
            1
        } else if (25..35).contains(&y) && (30..45).contains(&x) {
            2
        } else {
            0
        }
    })
}

fn prediction(image: &str, class: &str, label: u32, score: f64) -> Value {
    let l = labels();
    let r = Rle::encode(l.mapv(|v| v == label).view());
    json!({"image": image, "category_id": 0, "category_name": class, "score": score,
           "bbox": r.bbox(),
           "segmentation": {"size": [r.height, r.width], "counts": rle_to_string(&r.counts)}})
}

fn run(args: &[&str]) -> Result<(), String> {
    let cmd = EvaluateCommand;
    let m = cmd
        .command()
        .try_get_matches_from(std::iter::once("evaluate").chain(args.iter().copied()))
        .map_err(|e| e.to_string())?;
    cmd.run(&m, &Registry::new())
}

fn write_synth(dir: &Path) {
    std::fs::create_dir_all(dir.join("truth")).unwrap();
    std::fs::write(
        dir.join("samples.csv"),
        "id,em,nanosims,condition\ns01,em/s01.tif,nanosims/s01.im,a\n",
    )
    .unwrap();
    let meta =
        json!({"organelles": [{"id": 1, "class": "mitochondrion"}, {"id": 2, "class": "golgi"}]});
    std::fs::write(dir.join("truth/s01.json"), meta.to_string()).unwrap();
    corrflow_io_em::write_tiff_u32(&dir.join("truth/s01_labels.tif"), &labels(), None).unwrap();
}

#[test]
fn synth_study_perfect_predictions() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_synth(&d.join("study"));
    let truth = Truth::from_synth(&d.join("study")).unwrap();
    assert_eq!(truth.categories.len(), 6);
    assert_eq!(truth.annotations.len(), 2);
    assert_eq!(truth.images[0].file_name.as_deref(), Some("s01.tif"));

    let preds = json!([
        prediction("out/s01.tif", "mitochondrion", 1, 0.9),
        prediction("s01.tif", "golgi", 2, 0.8),
    ]);
    std::fs::write(d.join("pred.json"), preds.to_string()).unwrap();
    let out = d.join("eval.json");
    run(&[
        "--pred",
        d.join("pred.json").to_str().unwrap(),
        "--synth",
        d.join("study").to_str().unwrap(),
        "--json",
        out.to_str().unwrap(),
    ])
    .unwrap();
    let report: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let ap = report["stats"][0].as_f64().unwrap();
    assert!((ap - 1.0).abs() < 1e-12, "{report}");
    let cats = report["categories"].as_array().unwrap();
    assert_eq!(cats.len(), 6);
    assert_eq!(cats[1]["name"], "mitochondrion");
    assert_eq!(cats[1]["n_truth"], 1);
    assert_eq!(cats[1]["n_pred"], 1);
    assert!(cats[0]["ap"].is_null()); // nucleus: no truth

    // A prediction for an image the study does not have: an error naming it, or skipped.
    let preds = json!([
        prediction("s01.tif", "mitochondrion", 1, 0.9),
        prediction("s07.tif", "golgi", 2, 0.8),
    ]);
    std::fs::write(d.join("pred2.json"), preds.to_string()).unwrap();
    let base = [
        "--pred".to_string(),
        d.join("pred2.json").to_str().unwrap().to_string(),
        "--synth".into(),
        d.join("study").to_str().unwrap().to_string(),
    ];
    let base: Vec<&str> = base.iter().map(String::as_str).collect();
    let e = run(&base).unwrap_err();
    assert!(e.contains("s07.tif") && e.contains("pred2.json"), "{e}");
    let mut ignoring = base.clone();
    ignoring.push("--ignore-unknown");
    run(&ignoring).unwrap();
}

#[test]
fn label_list_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    corrflow_io_em::write_tiff_u32(&d.join("a_labels.tif"), &labels(), None).unwrap();
    std::fs::write(
        d.join("pairs.csv"),
        "image,labels\nimages/a.png,a_labels.tif\n",
    )
    .unwrap();
    std::fs::write(d.join("classes.csv"), "label,class\n1,cell\n2,1\n").unwrap();
    let preds = json!([
        prediction("a.png", "cell", 1, 0.5),
        prediction("a.png", "dot", 1, 0.4)
    ]);
    std::fs::write(d.join("pred.json"), preds.to_string()).unwrap();
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let (pred, pairs, classes) = (p("pred.json"), p("pairs.csv"), p("classes.csv"));
    let args = [
        "--pred",
        &pred,
        "--truth-list",
        &pairs,
        "--classes",
        &classes,
        "--names",
        "cell,dot",
    ];
    run(&args).unwrap();
    // Missing --classes, missing files and unknown class names are errors, not panics.
    assert!(run(&["--pred", &pred, "--truth-list", &pairs]).is_err());
    assert!(run(&["--pred", &pred]).unwrap_err().contains("--truth"));
    let e = run(&[
        "--pred",
        &p("missing.json"),
        "--truth-list",
        &pairs,
        "--classes",
        &classes,
        "--names",
        "cell,dot",
    ])
    .unwrap_err();
    assert!(e.contains("missing.json"), "{e}");
    let e = run(&[
        "--pred",
        &pred,
        "--truth-list",
        &pairs,
        "--classes",
        &classes,
        "--names",
        "cell,other",
    ])
    .unwrap_err();
    assert!(e.contains("classes.csv") || e.contains("dot"), "{e}");
    let e = run(&["--pred", &pred, "--truth", &p("nothing.json")]).unwrap_err();
    assert!(e.contains("nothing.json"), "{e}");

    // The plugin registers the command.
    let mut registry = Registry::new();
    EvaluatePlugin.build(&mut registry);
    let names: Vec<String> = registry
        .commands()
        .map(|c| c.command().get_name().to_string())
        .collect();
    assert_eq!(names, ["evaluate"]);
}
