//! The evaluation report: the 12 COCO numbers, per-category AP and counts, as a table or JSON.

use std::fmt::Write as _;

use serde::Serialize;

use crate::cocoeval::{Evaluation, Params, evaluate, summary_settings};
use crate::error::EvalError;
use crate::predictions::Predictions;
use crate::truth::Truth;

/// One line of pycocotools' summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryLine {
    /// `AP` or `AR`.
    pub metric: &'static str,
    /// `0.50:0.95`, `0.50` or `0.75`.
    pub iou: String,
    /// `all`, `small`, `medium` or `large`.
    pub area: &'static str,
    pub max_dets: usize,
    pub value: f64,
}

/// Results of one category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryResult {
    pub id: i64,
    pub name: String,
    /// Truth instances that are not crowd regions.
    pub n_truth: usize,
    /// Crowd regions.
    pub n_crowd: usize,
    /// Predictions (before the per-image maxDets cut).
    pub n_pred: usize,
    /// Mask AP at IoU 0.50 (area all, largest maxDet); `None` without truth.
    pub ap50: Option<f64>,
    /// Mask AP averaged over IoU 0.50:0.95 (area all, largest maxDet); `None` without truth.
    pub ap: Option<f64>,
}

/// The whole evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvaluationReport {
    pub images: usize,
    pub max_dets: Vec<usize>,
    /// pycocotools' `COCOeval.stats` (−1 where undefined).
    pub stats: [f64; 12],
    /// The same numbers with their settings, in pycocotools' order.
    pub summary: Vec<SummaryLine>,
    /// By ascending category id.
    pub categories: Vec<CategoryResult>,
    pub notes: Vec<String>,
}

/// Evaluate and report: [`evaluate`], its [`Evaluation::stats`] and per-category AP.
pub fn evaluate_report(
    truth: &Truth,
    predictions: &Predictions,
    params: &Params,
) -> Result<EvaluationReport, EvalError> {
    let eval = evaluate(truth, &predictions.detections, params)?;
    let mut notes = truth.notes.clone();
    notes.extend(predictions.notes.iter().cloned());
    let md = &eval.params.max_dets;
    if !md.contains(&100) {
        notes.push(format!(
            "AP @[0.50:0.95] (stats[0]) is -1: pycocotools reads it at maxDets=100, which is not among {md:?}"
        ));
    }
    Ok(EvaluationReport::new(truth, predictions, &eval, notes))
}

impl EvaluationReport {
    /// The report of an evaluation of `predictions` against `truth`.
    pub fn new(
        truth: &Truth,
        predictions: &Predictions,
        eval: &Evaluation,
        notes: Vec<String>,
    ) -> Self {
        let stats = eval.stats();
        let md = &eval.params.max_dets;
        let summary = summary_settings(md)
            .iter()
            .zip(stats)
            .map(|(st, value)| SummaryLine {
                metric: st.metric,
                iou: st
                    .iou_thr
                    .map_or_else(|| "0.50:0.95".to_string(), |t| format!("{t:.2}")),
                area: st.area,
                max_dets: st.max_dets,
                value,
            })
            .collect();
        let categories = eval
            .cat_ids
            .iter()
            .enumerate()
            .map(|(k, &id)| {
                let anns = truth.annotations.iter().filter(|a| a.category_id == id);
                let n_crowd = anns.clone().filter(|a| a.iscrowd).count();
                CategoryResult {
                    id,
                    name: truth
                        .categories
                        .iter()
                        .find(|c| c.id == id)
                        .map_or_else(|| id.to_string(), |c| c.name.clone()),
                    n_truth: anns.count() - n_crowd,
                    n_crowd,
                    n_pred: predictions
                        .detections
                        .iter()
                        .filter(|d| d.category_id == id)
                        .count(),
                    ap50: eval.category_ap(k, Some(0.5)),
                    ap: eval.category_ap(k, None),
                }
            })
            .collect();
        EvaluationReport {
            images: eval.n_images,
            max_dets: md.clone(),
            stats,
            summary,
            categories,
            notes,
        }
    }

    /// A readable table: per class n_truth, n_pred, AP50 and AP50-95, then pycocotools'
    /// twelve summary lines (its own format) and any notes.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let width = self
            .categories
            .iter()
            .map(|c| c.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(5);
        let crowd = self.categories.iter().any(|c| c.n_crowd > 0);
        let _ = write!(s, "{:<width$}  {:>7}", "class", "n_truth");
        if crowd {
            let _ = write!(s, "  {:>7}", "n_crowd");
        }
        let _ = writeln!(
            s,
            "  {:>7}  {:>9}  {:>12}",
            "n_pred", "mask AP50", "mask AP50-95"
        );
        let num = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
        for c in &self.categories {
            let _ = write!(s, "{:<width$}  {:>7}", c.name, c.n_truth);
            if crowd {
                let _ = write!(s, "  {:>7}", c.n_crowd);
            }
            let _ = writeln!(
                s,
                "  {:>7}  {:>9}  {:>12}",
                c.n_pred,
                num(c.ap50),
                num(c.ap)
            );
        }
        let _ = writeln!(
            s,
            "\n{} image(s); COCO mask evaluation (pycocotools' numbers):",
            self.images
        );
        for l in &self.summary {
            let title = if l.metric == "AP" {
                "Average Precision"
            } else {
                "Average Recall"
            };
            let _ = writeln!(
                s,
                " {:<18} ({}) @[ IoU={:<9} | area={:>6} | maxDets={:>3} ] = {:.3}",
                title, l.metric, l.iou, l.area, l.max_dets, l.value
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }
}
