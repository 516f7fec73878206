//! Instance segmentation for corrflow: YOLOv8 / YOLO11 segmentation models exported by ultralytics
//! to ONNX, run through ONNX Runtime with ultralytics-exact pre- and post-processing
//! (`segment.yolo`), and imported masks from other tools or manual work (`segment.masks`).

pub mod coco_results;
pub mod decode;
pub mod export;
pub mod import;
pub mod letterbox;
pub mod masks_stage;
pub mod model;
pub mod overlay;
pub mod postprocess;
pub mod predict_command;
pub mod predictor;
pub mod runtime;
pub mod tiling;
pub mod yolo_stage;

/// Registers `segment.yolo`, `segment.masks` and `corrflow predict`.
pub struct SegmentPlugin;

impl corrflow_stage::Plugin for SegmentPlugin {
    fn build(&self, registry: &mut corrflow_stage::Registry) {
        registry
            .add_stage(yolo_stage::SegmentYolo)
            .add_stage(masks_stage::SegmentMasks)
            .add_command(predict_command::PredictCommand);
    }
}
