//! `corrflow predict`: one-shot segmentation of image files with a YOLO-seg ONNX model, no
//! pipeline file. Writes `OUT/predictions.json` (a COCO results list over all images), and per
//! image `OUT/STEM.overlay.png` and `OUT/STEM.labels.tif`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::{Arg, ArgAction, ArgMatches, value_parser};
use corrflow_stage::{Command, Registry};
use corrflow_types::EmImage;

use crate::coco_results::{CocoResult, coco_results, write_coco_results};
use crate::export::export_instances;
use crate::model::YoloSegModel;
use crate::yolo_stage::{
    ClassRef, MasksParam, TileParam, YoloParams, predictor_for, to_model_gray,
};

/// `corrflow predict`.
pub struct PredictCommand;

impl Command for PredictCommand {
    fn command(&self) -> clap::Command {
        let num = |name: &'static str, help: &'static str| Arg::new(name).long(name).help(help);
        clap::Command::new("predict")
            .about("Segment images with a YOLOv8/YOLO11-seg ONNX model (as ultralytics predict); writes predictions.json (COCO results) and overlays")
            .arg(Arg::new("model").long("model").required(true).value_parser(value_parser!(PathBuf)).help("The .onnx model (ultralytics export, nms=False)"))
            .arg(Arg::new("out").long("out").required(true).value_parser(value_parser!(PathBuf)).help("Output folder"))
            .arg(num("conf", "Minimum class score [default: 0.25]").value_parser(value_parser!(f64)))
            .arg(num("iou", "NMS IoU threshold [default: 0.7]").value_parser(value_parser!(f64)))
            .arg(Arg::new("max-det").long("max-det").value_parser(value_parser!(usize)).help("Maximum detections per image (per tile when tiling) [default: 300]"))
            .arg(Arg::new("imgsz").long("imgsz").value_parser(value_parser!(usize)).help("Input size for a model with a dynamic input [default: 640, as ultralytics]"))
            .arg(Arg::new("agnostic-nms").long("agnostic-nms").action(ArgAction::SetTrue).help("NMS across classes"))
            .arg(Arg::new("classes").long("classes").help("Keep only these classes (names or ids, comma-separated)"))
            .arg(Arg::new("retina-masks").long("retina-masks").action(ArgAction::SetTrue).help("Masks at the image's resolution (finer than predict's default)"))
            .arg(Arg::new("tile").long("tile").action(ArgAction::SetTrue).help("Tiled inference: overlapping tiles at full resolution, merged (for images larger than the model input)"))
            .arg(Arg::new("tile-size").long("tile-size").value_parser(value_parser!(usize)).requires("tile").help("Tile side in px [default: the model's input size]"))
            .arg(Arg::new("tile-overlap").long("tile-overlap").value_parser(value_parser!(usize)).requires("tile").help("Tile overlap in px [default: 64]"))
            .arg(Arg::new("threads").long("threads").value_parser(value_parser!(usize)).help("ONNX Runtime threads per inference (0 = all cores) [default: all cores for one untiled image, else 1 with images/tiles in parallel]"))
            .arg(Arg::new("onnxruntime").long("onnxruntime").value_parser(value_parser!(PathBuf)).help("Path of libonnxruntime.so (default: ORT_DYLIB_PATH, next to corrflow, or .setup/onnxruntime)"))
            .arg(Arg::new("images").required(true).num_args(1..).value_parser(value_parser!(PathBuf)).help("EM images (TIFF, PNG)"))
    }

    fn run(&self, m: &ArgMatches, _: &Registry) -> Result<(), String> {
        let model_path = m.get_one::<PathBuf>("model").cloned().unwrap_or_default();
        let out = m.get_one::<PathBuf>("out").cloned().unwrap_or_default();
        let images: Vec<PathBuf> = m
            .get_many::<PathBuf>("images")
            .map(|v| v.cloned().collect())
            .unwrap_or_default();
        let mut p = YoloParams::default();
        if let Some(&v) = m.get_one::<f64>("conf") {
            p.conf = v;
        }
        if let Some(&v) = m.get_one::<f64>("iou") {
            p.iou = v;
        }
        if let Some(&v) = m.get_one::<usize>("max-det") {
            p.max_det = v;
        }
        p.agnostic_nms = m.get_flag("agnostic-nms");
        p.imgsz = m.get_one::<usize>("imgsz").copied();
        if let Some(list) = m.get_one::<String>("classes") {
            p.classes = Some(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| match s.parse::<u32>() {
                        Ok(i) => ClassRef::Index(i),
                        Err(_) => ClassRef::Name(s.to_string()),
                    })
                    .collect(),
            );
        }
        if m.get_flag("retina-masks") {
            p.masks = MasksParam::Retina;
        }
        if m.get_flag("tile") {
            p.tile = Some(TileParam {
                size: m.get_one::<usize>("tile-size").copied(),
                overlap: m.get_one::<usize>("tile-overlap").copied().unwrap_or(64),
                merge_min_ios: 0.5,
                merge_same_class: true,
            });
        }
        let parallel = images.len() > 1 || p.tile.is_some();
        p.threads = m
            .get_one::<usize>("threads")
            .copied()
            .unwrap_or(if parallel { 1 } else { 0 });
        use corrflow_stage::TypedStage;
        crate::yolo_stage::SegmentYolo
            .validate(&p)
            .map_err(|e| format!("invalid option: {e}"))?;

        let lib = m.get_one::<PathBuf>("onnxruntime").map(PathBuf::as_path);
        let t0 = Instant::now();
        let model =
            Arc::new(YoloSegModel::load(&model_path, lib, p.threads).map_err(|e| e.to_string())?);
        let load_s = t0.elapsed().as_secs_f64();
        let predictor = predictor_for(model, &p)?;
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let info = predictor.model.info();
        println!(
            "model {} ({} classes: {}; input {}), loaded in {:.0} ms",
            model_path.display(),
            info.num_classes,
            predictor.class_names.join(", "),
            match (info.dynamic_input, p.imgsz) {
                (false, _) => format!("{}×{}", info.input_hw.0, info.input_hw.1),
                (true, Some(s)) => format!("dynamic, {s}×{s}"),
                (true, None) => format!(
                    "dynamic, {0}×{1} (--imgsz to change)",
                    info.input_hw.0, info.input_hw.1
                ),
            },
            load_s * 1e3
        );
        // Images in parallel when there are several; each one's errors name its file.
        use rayon::prelude::*;
        let stems = unique_stems(&images);
        let results: Vec<Result<Vec<CocoResult>, String>> = images
            .par_iter()
            .zip(stems.par_iter())
            .map(|(path, stem)| {
                let t = Instant::now();
                let raster = corrflow_io_em::read_em(path, None)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let img = EmImage::new(
                    raster.data,
                    raster.pixel_size_nm.unwrap_or(1.0),
                    path.display().to_string(),
                )
                .map_err(|e| format!("{}: {e}", path.display()))?
                .with_compact_storage();
                let gray = to_model_gray(&img, p.intensity);
                let instances = predictor
                    .predict(gray.view(), img.pixel_size_nm)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let name = file_name(path);
                let predict_ms = t.elapsed().as_secs_f64() * 1e3;
                let t = Instant::now();
                export_instances(&out, stem, &name, &instances, Some(gray.view()))
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                println!(
                    "{name}: {} instances, {}×{} px, read+predict {predict_ms:.0} ms, write {:.0} ms",
                    instances.len(),
                    instances.height,
                    instances.width,
                    t.elapsed().as_secs_f64() * 1e3
                );
                Ok(coco_results(&instances, &name))
            })
            .collect();
        let mut all = Vec::new();
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(v) => all.extend(v),
                Err(e) => errors.push(e),
            }
        }
        let json = out.join("predictions.json");
        write_coco_results(&json, &all).map_err(|e| e.to_string())?;
        println!(
            "{} detections in {} image(s) → {} ({:.2} s)",
            all.len(),
            images.len() - errors.len(),
            json.display(),
            t0.elapsed().as_secs_f64()
        );
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("\n"))
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| path.display().to_string())
}

/// Output name stems: the file stem, made unique with `_2`, `_3`… when two images share one.
fn unique_stems(images: &[PathBuf]) -> Vec<String> {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    images
        .iter()
        .map(|p| {
            let stem = p
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_else(|| "image".into());
            let n = seen.entry(stem.clone()).or_insert(0);
            *n += 1;
            if *n == 1 { stem } else { format!("{stem}_{n}") }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_unique() {
        let v = unique_stems(&[
            PathBuf::from("a/x.tif"),
            PathBuf::from("b/x.png"),
            PathBuf::from("y.tif"),
        ]);
        assert_eq!(v, vec!["x", "x_2", "y"]);
    }
}
