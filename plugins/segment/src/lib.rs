//! Instance segmentation for corrflow: YOLOv8 / YOLO11 segmentation models exported by ultralytics
//! to ONNX, run through ONNX Runtime with ultralytics-exact pre- and post-processing
//! (`segment.yolo`), and imported masks from other tools or manual work (`segment.masks`).

pub mod coco_results;
pub mod decode;
pub mod import;
pub mod letterbox;
pub mod model;
pub mod overlay;
pub mod postprocess;
pub mod predictor;
pub mod runtime;
pub mod tiling;
pub mod export;
pub mod masks_stage;
