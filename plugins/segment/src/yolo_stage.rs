//! The `segment.yolo` stage: instances of an EM image from a YOLOv8 / YOLO11 segmentation ONNX
//! model, as ultralytics predict finds them (whole image), or on overlapping tiles.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage, port_types,
};
use corrflow_types::intensity::{Intensity, to_u8};
use corrflow_types::{EmImage, em_image::Storage, types};
use ndarray::Array2;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::decode::MaskMode;
use crate::export::{export_entry, write_export_info};
use crate::import::image_file_name;
use crate::model::YoloSegModel;
use crate::postprocess::SelectOptions;
use crate::predictor::{PredictOptions, Predictor, TileOptions};
use crate::tiling::MergeOptions;

/// A class by name or by 0-based index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ClassRef {
    Index(u32),
    Name(String),
}

/// How masks are brought to the image's resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MasksParam {
    /// ultralytics predict's default (`retina_masks=False`): masks at the model's input
    /// resolution, resized to the image.
    #[default]
    Default,
    /// `retina_masks=True`: mask logits resized straight to the image (finer edges; recommended
    /// when the image is larger than the model input and tiling is off).
    Retina,
}

/// How the EM image becomes the 8-bit grey the model was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum IntensityParam {
    /// 8-bit images as they are; others stretched between the 0.5th and 99.5th percentiles
    /// (the mapping `corrflow export-dataset` uses for training images).
    #[default]
    Auto,
    /// Linear stretch between two percentiles (0–100) of the whole image.
    Percentile { low: f64, high: f64 },
    /// Linear stretch between the image's minimum and maximum.
    Minmax,
    /// Linear stretch between fixed values (`min` → 0, `max` → 255).
    Range { min: f64, max: f64 },
}

/// Tiled inference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TileParam {
    /// Tile side in px (default: the model's input size, so tiles are not rescaled).
    #[serde(default)]
    pub size: Option<usize>,
    /// Overlap of neighbouring tiles in px (must be smaller than the tile).
    #[serde(default = "default_overlap")]
    pub overlap: usize,
    /// Two instances from different tiles are one object when their masks' intersection over
    /// the smaller mask exceeds this (0–1).
    #[serde(default = "default_min_ios")]
    pub merge_min_ios: f64,
    /// Merge only instances of the same class.
    #[serde(default = "yes")]
    pub merge_same_class: bool,
}

fn default_overlap() -> usize {
    64
}
fn default_min_ios() -> f64 {
    0.5
}
fn yes() -> bool {
    true
}
fn default_conf() -> f64 {
    0.25
}
fn default_iou() -> f64 {
    0.7
}
fn default_max_det() -> usize {
    300
}
fn default_threads() -> usize {
    1
}
fn default_max_nms() -> usize {
    30000
}

/// Parameters of `segment.yolo` (ultralytics' names and defaults where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct YoloParams {
    /// Minimum class score of a detection (exclusive).
    #[serde(default = "default_conf")]
    pub conf: f64,
    /// IoU above which NMS suppresses the lower-scoring box.
    #[serde(default = "default_iou")]
    pub iou: f64,
    /// Maximum detections per image (per tile when tiling).
    #[serde(default = "default_max_det")]
    pub max_det: usize,
    /// NMS across classes.
    #[serde(default)]
    pub agnostic_nms: bool,
    /// Keep only these classes (names or 0-based ids); default all.
    #[serde(default)]
    pub classes: Option<Vec<ClassRef>>,
    /// Class names to use instead of the model's (same number of classes).
    #[serde(default)]
    pub class_names: Option<Vec<String>>,
    /// `default` (ultralytics predict) or `retina` masks.
    #[serde(default)]
    pub masks: MasksParam,
    /// Tiled inference for images larger than the model input (off by default: the whole image
    /// is letterboxed to the model input, exactly as ultralytics predict).
    #[serde(default)]
    pub tile: Option<TileParam>,
    /// How the image becomes 8-bit grey.
    #[serde(default)]
    pub intensity: IntensityParam,
    /// ONNX Runtime threads per inference (0 = all cores); tiles run in parallel on the task's
    /// threads.
    #[serde(default = "default_threads")]
    pub threads: usize,
    /// Maximum candidates entering NMS.
    #[serde(default = "default_max_nms")]
    pub max_nms: usize,
    /// Input size (px) for models exported with a dynamic input (default 640, ultralytics
    /// predict's; set the size the model was trained at). A static model's size is fixed: giving
    /// another one is an error.
    #[serde(default)]
    pub imgsz: Option<usize>,
}

impl Default for YoloParams {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

/// The `segment.yolo` stage.
pub struct SegmentYolo;

impl TypedStage for SegmentYolo {
    type Params = YoloParams;
    const ID: &'static str = "segment.yolo";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "Instance segmentation with a YOLOv8/YOLO11-seg ONNX model (ultralytics export, \
nms=False) through ONNX Runtime; with tiling off the result equals ultralytics predict. Input `model` is the \
.onnx file (e.g. `file:models/organelles-yolov8n-seg/model.onnx`).";

    fn ports(&self, _: &YoloParams) -> Ports {
        Ports {
            inputs: vec![
                PortSpec::new("image", types::EM_IMAGE, "the EM image"),
                PortSpec::new(
                    "model",
                    port_types::FILE,
                    "the ONNX model (ultralytics export of a -seg model)",
                ),
            ],
            outputs: vec![PortSpec::new(
                "instances",
                types::INSTANCES,
                "organelles: class, score, box, mask (px); areas in px and µm² via the pixel size",
            )],
        }
    }

    fn validate(&self, p: &YoloParams) -> Result<(), ParamError> {
        if !(p.conf.is_finite() && (0.0..1.0).contains(&p.conf)) {
            return Err(ParamError::new("conf", "must be in [0, 1)"));
        }
        if !(p.iou.is_finite() && p.iou > 0.0 && p.iou <= 1.0) {
            return Err(ParamError::new("iou", "must be in (0, 1]"));
        }
        if p.max_det == 0 {
            return Err(ParamError::new("max_det", "must be at least 1"));
        }
        if p.imgsz.is_some_and(|s| s < 32 || s % 32 != 0) {
            return Err(ParamError::new(
                "imgsz",
                "must be a multiple of 32, at least 32",
            ));
        }
        if p.max_nms == 0 {
            return Err(ParamError::new("max_nms", "must be at least 1"));
        }
        if let Some(names) = &p.class_names
            && let Some(i) = names.iter().position(|n| n.trim().is_empty())
        {
            return Err(ParamError::new(format!("class_names[{i}]"), "is empty"));
        }
        if let Some(t) = &p.tile {
            if t.size == Some(0) {
                return Err(ParamError::new("tile.size", "must be at least 1 px"));
            }
            if let Some(s) = t.size
                && t.overlap >= s
            {
                return Err(ParamError::new(
                    "tile.overlap",
                    format!("must be smaller than the tile size ({s} px)"),
                ));
            }
            if !(t.merge_min_ios.is_finite() && (0.0..1.0).contains(&t.merge_min_ios)) {
                return Err(ParamError::new("tile.merge_min_ios", "must be in [0, 1)"));
            }
        }
        match p.intensity {
            IntensityParam::Percentile { low, high }
                if !(0.0..=100.0).contains(&low)
                    || !(0.0..=100.0).contains(&high)
                    || low >= high =>
            {
                Err(ParamError::new(
                    "intensity.percentile",
                    "needs 0 <= low < high <= 100",
                ))
            }
            IntensityParam::Range { min, max }
                if !(min.is_finite() && max.is_finite() && min < max) =>
            {
                Err(ParamError::new("intensity.range", "needs finite min < max"))
            }
            _ => Ok(()),
        }
    }

    fn run(&self, p: &YoloParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let image = EmImage::read(&ctx.input_group("image")?)?;
        let model_path = ctx.input_file("model")?.to_path_buf();
        let model = cached_model(&model_path, p.threads)?;
        let predictor = predictor_for(model, p).map_err(StageError::input)?;
        let gray = to_model_gray(&image, p.intensity);
        let threads = ctx.threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| StageError::other(e.to_string()))?;
        let instances = pool
            .install(|| predictor.predict(gray.view(), image.pixel_size_nm))
            .map_err(|e| StageError::other(format!("{}: {e}", ctx.sample_id())))?;
        let g = ctx.output_group("instances")?;
        instances.write(&g)?;
        write_export_info(&g, image_file_name(&image.source), Some(gray.view()))
    }

    /// `results/SAMPLE/NODE.labels.tif` (32-bit instance labels), `NODE.instances.json` (COCO
    /// results) and `NODE.overlay.png`.
    fn export(&self, _: &YoloParams, ctx: &ExportContext<'_>) -> Result<Vec<PathBuf>, StageError> {
        export_entry(ctx, "instances")
    }
}

/// A predictor for a loaded model and the stage's parameters (class names resolved).
pub fn predictor_for(model: Arc<YoloSegModel>, p: &YoloParams) -> Result<Predictor, String> {
    let info = model.info();
    if let Some(s) = p.imgsz
        && !info.dynamic_input
        && info.input_hw != (s, s)
    {
        return Err(format!(
            "imgsz {s}: the model {} has a fixed {}×{} input",
            info.path.display(),
            info.input_hw.0,
            info.input_hw.1
        ));
    }
    let input_hw = p.imgsz.map_or(info.input_hw, |s| (s, s));
    let names = match &p.class_names {
        Some(n) if n.len() != info.num_classes => {
            return Err(format!(
                "class_names lists {} names but the model {} has {} classes ({})",
                n.len(),
                info.path.display(),
                info.num_classes,
                info.class_names.join(", ")
            ));
        }
        Some(n) => n.clone(),
        None => info.class_names.clone(),
    };
    let classes = match &p.classes {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|c| match c {
                    ClassRef::Index(i) if (*i as usize) < names.len() => Ok(*i),
                    ClassRef::Index(i) => Err(format!(
                        "classes: id {i} is not a class of the model (0..{})",
                        names.len()
                    )),
                    ClassRef::Name(n) => names
                        .iter()
                        .position(|x| x == n)
                        .map(|i| i as u32)
                        .ok_or_else(|| {
                            format!("classes: '{n}' is not a class ({})", names.join(", "))
                        }),
                })
                .collect::<Result<Vec<u32>, String>>()?,
        ),
    };
    let tile = p.tile.as_ref().map(|t| {
        let size = t.size.unwrap_or(input_hw.0.min(input_hw.1));
        TileOptions {
            size,
            overlap: t.overlap.min(size.saturating_sub(1)),
            merge: MergeOptions {
                min_ios: t.merge_min_ios as f32,
                same_class: t.merge_same_class,
            },
        }
    });
    let options = PredictOptions {
        select: SelectOptions {
            conf: p.conf as f32,
            iou: p.iou,
            max_det: p.max_det,
            agnostic: p.agnostic_nms,
            classes,
            max_nms: p.max_nms,
        },
        masks: match p.masks {
            MasksParam::Default => MaskMode::Default,
            MasksParam::Retina => MaskMode::Retina,
        },
        tile,
        imgsz: p.imgsz.map(|s| (s, s)),
    };
    let mut predictor = Predictor::new(model, options);
    predictor.class_names = names;
    Ok(predictor)
}

/// The 8-bit grey image the model sees.
pub fn to_model_gray(image: &EmImage, mode: IntensityParam) -> Array2<u8> {
    let mapping = match mode {
        IntensityParam::Auto if image.storage == Storage::U8 => {
            return image.data.mapv(|v| v as u8);
        }
        IntensityParam::Auto => Intensity::default(),
        IntensityParam::Percentile { low, high } => Intensity::Percentile { low, high },
        IntensityParam::Minmax => Intensity::MinMax,
        IntensityParam::Range { min, max } => Intensity::Range {
            min: min as f32,
            max: max as f32,
        },
    };
    to_u8(image.data.view(), mapping)
}

type ModelKey = (PathBuf, u64, Option<std::time::SystemTime>, usize);

/// Models loaded in this process, by file identity and thread count (a run segments many samples
/// with one model: load it once).
fn cached_model(path: &Path, threads: usize) -> Result<Arc<YoloSegModel>, StageError> {
    static MODELS: Mutex<Option<HashMap<ModelKey, Arc<YoloSegModel>>>> = Mutex::new(None);
    let meta = std::fs::metadata(path)
        .map_err(|e| StageError::input(format!("model {}: {e}", path.display())))?;
    let key = (
        path.to_path_buf(),
        meta.len(),
        meta.modified().ok(),
        threads,
    );
    if let Some(m) = MODELS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&key)
    {
        return Ok(Arc::clone(m));
    }
    let model = Arc::new(
        YoloSegModel::load(path, None, threads).map_err(|e| StageError::input(e.to_string()))?,
    );
    MODELS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, Arc::clone(&model));
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_ultralytics_predict_defaults() {
        let p = YoloParams::default();
        assert_eq!(p.conf, 0.25);
        assert_eq!(p.iou, 0.7);
        assert_eq!(p.max_det, 300);
        assert!(!p.agnostic_nms);
        assert_eq!(p.masks, MasksParam::Default);
        assert!(p.tile.is_none());
        assert!(SegmentYolo.validate(&p).is_ok());
    }

    #[test]
    fn bad_params_name_the_field() {
        let bad = |v: serde_json::Value| {
            let p: YoloParams = serde_json::from_value(v).unwrap();
            SegmentYolo.validate(&p).unwrap_err().to_string()
        };
        assert!(bad(serde_json::json!({"conf": 1.5})).contains("conf"));
        assert!(
            bad(serde_json::json!({"tile": {"size": 320, "overlap": 320}}))
                .contains("tile.overlap")
        );
        assert!(
            bad(serde_json::json!({"intensity": {"percentile": {"low": 90, "high": 10}}}))
                .contains("percentile")
        );
        assert!(
            serde_json::from_value::<YoloParams>(serde_json::json!({"confidence": 0.3})).is_err()
        );
    }

    #[test]
    fn eight_bit_images_go_to_the_model_unchanged() {
        let img = EmImage::new(ndarray::array![[0.0f32, 17.0], [255.0, 3.0]], 4.0, "x.png")
            .unwrap()
            .with_compact_storage();
        assert_eq!(
            to_model_gray(&img, IntensityParam::Auto),
            ndarray::array![[0u8, 17], [255, 3]]
        );
        let wide = EmImage::new(
            ndarray::array![[0.0f32, 1000.0], [2000.0, 3000.0]],
            4.0,
            "x",
        )
        .unwrap()
        .with_compact_storage();
        let g = to_model_gray(&wide, IntensityParam::Minmax);
        assert_eq!(g, ndarray::array![[0u8, 85], [170, 255]]);
    }
}
