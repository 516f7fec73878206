//! COCO instance segmentation evaluation (mask AP) with exactly the numbers pycocotools'
//! `COCOeval(gt, dt, iouType="segm")` gives, and the `corrflow evaluate` subcommand.
//!
//! * [`truth`]: the ground truth, from a COCO file ([`Truth::from_coco_file`]), instance label
//!   images with a class table ([`Truth::from_label_list`], [`Truth::from_label_images`]) or a
//!   `corrflow synth` study ([`Truth::from_synth`]).
//! * [`predictions`]: a COCO results list matched to the truth by image file name (or id) and
//!   category name (or id) ([`load_predictions`]).
//! * [`cocoeval`]: `evaluate` + `accumulate` + `summarize` ([`evaluate`],
//!   [`Evaluation::stats`], [`Evaluation::category_ap`]).
//! * [`report`]: the 12 summary numbers with per-category AP50, AP50-95 and counts
//!   ([`evaluate_report`]).
//!
//! ```no_run
//! use std::path::Path;
//! use corrflow_evaluate::{Params, Truth, evaluate_report, load_predictions};
//! let truth = Truth::from_coco_file(Path::new("gt.json"))?;
//! let preds = load_predictions(Path::new("pred.json"), &truth, Default::default())?;
//! let report = evaluate_report(&truth, &preds, &Params::default())?;
//! println!("mask AP {:.3}", report.stats[0]);
//! # Ok::<(), corrflow_evaluate::EvalError>(())
//! ```
//!
//! Masks are run-length encoded and compared as pycocotools does (`corrflow_types::coco`), so
//! polygons rasterise to pycocotools' pixels. Two pycocotools behaviours worth knowing are kept:
//! when the results carry `bbox` (as corrflow's do), a detection's area for the area ranges is
//! the box's w·h, not the mask's; and the first summary number is read at maxDets = 100.

pub mod cocoeval;
mod command;
pub mod error;
pub mod numpy;
pub mod predictions;
pub mod report;
pub mod segmentation;
pub mod truth;

pub use cocoeval::{AreaRange, Evaluation, Params, SummarySetting, evaluate, summary_settings};
pub use command::{EvaluateCommand, EvaluatePlugin};
pub use error::EvalError;
pub use predictions::{
    Detection, PredictionOptions, Predictions, load_predictions, predictions_from_value,
};
pub use report::{CategoryResult, EvaluationReport, SummaryLine, evaluate_report};
pub use truth::{Category, LabelImage, Truth, TruthAnnotation, TruthImage};
