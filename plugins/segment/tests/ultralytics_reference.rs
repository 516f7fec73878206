//! segment.yolo's predictor against ultralytics predict on the same ONNX model and images.
//!
//! The reference outputs are committed in `reference/yolo/` (made by
//! `reference/make_yolo_reference.py`, which runs ultralytics). Required agreement: the same
//! instances and classes, boxes within 0.5 px, scores within 1e-4, each mask IoU ≥ 0.99 in
//! original pixels, for square, wide, tall, larger- and smaller-than-input images, with default
//! and retina masks. `CORRFLOW_YOLO_REFERENCE` / `CORRFLOW_YOLO_MODEL` point the test at other
//! reference folders and models.

use std::path::{Path, PathBuf};

use corrflow_segment::decode::MaskMode;
use corrflow_segment::model::YoloSegModel;
use corrflow_segment::postprocess::SelectOptions;
use corrflow_segment::predictor::{PredictOptions, Predictor};
use corrflow_types::coco::{rle_decode, rle_from_string};
use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference_dir() -> PathBuf {
    std::env::var_os("CORRFLOW_YOLO_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/yolo"))
}

fn model_path() -> PathBuf {
    std::env::var_os("CORRFLOW_YOLO_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("models/organelles-yolov8n-seg/model.onnx"))
}

fn gray_png(path: &Path) -> ndarray::Array2<u8> {
    let img = image::open(path).unwrap().to_luma8();
    let (w, h) = img.dimensions();
    ndarray::Array2::from_shape_vec((h as usize, w as usize), img.into_raw()).unwrap()
}

#[test]
fn predictions_equal_ultralytics_predict() {
    let model = model_path();
    if corrflow_segment::runtime::resolve_library(None).is_err() {
        println!(
            "SKIPPED predictions_equal_ultralytics_predict: ONNX Runtime not set up (./scripts/setup)"
        );
        return;
    }
    let refs = reference_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&refs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let wanted = if std::env::var_os("CORRFLOW_YOLO_REFERENCE").is_some() {
        1
    } else {
        10
    };
    assert!(
        files.len() >= wanted,
        "expected reference outputs in {}",
        refs.display()
    );
    let (mut n_images, mut n_dets, mut worst_box, mut worst_score, mut worst_iou) =
        (0, 0, 0.0f32, 0.0f32, 1.0f64);
    for file in &files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let retina = doc["retina_masks"].as_bool().unwrap();
        let conf = doc["conf"].as_f64().unwrap_or(0.25) as f32;
        let predictor = Predictor::new(
            std::sync::Arc::new(YoloSegModel::load(&model, None, 1).unwrap()),
            PredictOptions {
                select: SelectOptions {
                    conf,
                    ..Default::default()
                },
                masks: if retina {
                    MaskMode::Retina
                } else {
                    MaskMode::Default
                },
                tile: None,
                imgsz: doc["imgsz"].as_array().map(|v| {
                    (
                        v[0].as_u64().unwrap() as usize,
                        v[1].as_u64().unwrap() as usize,
                    )
                }),
            },
        );
        let img = gray_png(&refs.join(doc["image"].as_str().unwrap()));
        let (h, w) = img.dim();
        let got = predictor.predict(img.view(), 8.0).unwrap();
        let want = doc["detections"].as_array().unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        assert_eq!(
            got.instances.len(),
            want.len(),
            "{name}: number of instances"
        );
        let mut used = vec![false; got.instances.len()];
        for (k, d) in want.iter().enumerate() {
            let class = d["class_id"].as_u64().unwrap() as u32;
            let score = d["score"].as_f64().unwrap() as f32;
            let b: Vec<f32> = d["xyxy"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect();
            let box_err = |i: &corrflow_types::Instance| {
                (0..4)
                    .map(|j| (i.bbox[j] - b[j]).abs())
                    .fold(0.0f32, f32::max)
            };
            let (idx, inst) = got
                .instances
                .iter()
                .enumerate()
                .filter(|(i, inst)| !used[*i] && inst.class_id == class)
                .min_by(|a, b| box_err(a.1).total_cmp(&box_err(b.1)))
                .unwrap_or_else(|| panic!("{name}: no instance for reference detection {k}"));
            used[idx] = true;
            let be = box_err(inst);
            let se = (inst.score - score).abs();
            assert!(be <= 0.5, "{name} det {k}: box {:?} vs {b:?}", inst.bbox);
            assert!(
                se <= 1e-4,
                "{name} det {k}: score {} vs {score}",
                inst.score
            );
            let counts = rle_from_string(d["mask"]["counts"].as_str().unwrap()).unwrap();
            let truth = rle_decode(&counts, h, w).unwrap();
            let mine = inst.mask.to_full(h, w);
            let inter = truth
                .iter()
                .zip(mine.iter())
                .filter(|(a, b)| **a && **b)
                .count();
            let uni = truth
                .iter()
                .zip(mine.iter())
                .filter(|(a, b)| **a || **b)
                .count();
            let iou = if uni == 0 {
                1.0
            } else {
                inter as f64 / uni as f64
            };
            assert!(iou >= 0.99, "{name} det {k}: mask IoU {iou}");
            worst_box = worst_box.max(be);
            worst_score = worst_score.max(se);
            worst_iou = worst_iou.min(iou);
            n_dets += 1;
        }
        n_images += 1;
    }
    println!(
        "{n_images} image×mode cases, {n_dets} detections: worst box error {worst_box} px, \
         worst score error {worst_score:e}, worst mask IoU {worst_iou}"
    );
}
