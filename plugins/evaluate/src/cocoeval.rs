//! pycocotools' `COCOeval` for `iouType="segm"`: `evaluate`, `accumulate` and `summarize`,
//! step for step, so that every number equals pycocotools' bit for bit. Hand-written: no Rust
//! crate reproduces pycocotools' matching and interpolation exactly.
//!
//! For each image I and category K (both in ascending id order):
//! * detections are sorted by descending score (stable: ties keep file order) and cut to the
//!   largest `maxDets`; IoU is the mask IoU (crowd truth: |d ∩ g| / |d|);
//! * for each area range, truth is *ignored* when crowd or its `area` is outside the range and
//!   ignored truth is sorted last (stable); for each IoU threshold t each detection in turn takes
//!   the unmatched (or crowd) truth of highest IoU ≥ min(t, 1 − 1e-10), preferring non-ignored
//!   truth (ties: the later truth); a detection matched to ignored truth is ignored, and so is an
//!   unmatched detection whose area is outside the range;
//! * over all images, the top `maxDet` detections of each image are sorted by score (stable),
//!   TP and FP (non-ignored, matched / unmatched) are summed cumulatively, recall
//!   rc = TP / #non-ignored truth, precision pr = TP / (TP + FP + ε) (ε = 2⁻⁵²), pr made
//!   non-increasing from the right, and precision at recall r is pr at the first index with
//!   rc ≥ r (0 beyond the reached recall). −1 marks settings without non-ignored truth.

use std::collections::HashMap;

use corrflow_types::coco::{Rle, rle_iou};
use ndarray::{Array2, Array4, Array5};
use rayon::prelude::*;

use crate::error::EvalError;
use crate::numpy::{argsort_bools, argsort_descending, linspace, mean, searchsorted_left};
use crate::predictions::Detection;
use crate::truth::{Truth, TruthAnnotation};

/// A named range of areas `[min, max]` (both ends inclusive).
#[derive(Debug, Clone, PartialEq)]
pub struct AreaRange {
    pub label: String,
    pub min: f64,
    pub max: f64,
}

/// COCOeval's parameters (`Params.setDetParams`).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// IoU thresholds: `np.linspace(.5, .95, 10)`.
    pub iou_thrs: Vec<f64>,
    /// Recall thresholds: `np.linspace(0, 1, 101)`.
    pub rec_thrs: Vec<f64>,
    /// Detections kept per image, ascending (pycocotools sorts them): `[1, 10, 100]`.
    pub max_dets: Vec<usize>,
    /// `all` [0, 1e10], `small` [0, 32²], `medium` [32², 96²], `large` [96², 1e10].
    pub area_ranges: Vec<AreaRange>,
}

impl Default for Params {
    fn default() -> Self {
        Self::with_max_det(100)
    }
}

impl Params {
    /// COCO's parameters with `maxDets = sorted([1, 10, last])` (pycocotools' default: 100).
    pub fn with_max_det(last: usize) -> Self {
        let range = |label: &str, min: f64, max: f64| AreaRange {
            label: label.to_string(),
            min,
            max,
        };
        let mut max_dets = vec![1, 10, last];
        max_dets.sort_unstable();
        Params {
            iou_thrs: linspace(0.5, 0.95, 10),
            rec_thrs: linspace(0.0, 1.0, 101),
            max_dets,
            area_ranges: vec![
                range("all", 0.0, 1e10),
                range("small", 0.0, 1024.0),
                range("medium", 1024.0, 9216.0),
                range("large", 9216.0, 1e10),
            ],
        }
    }

    fn validate(&self) -> Result<(), EvalError> {
        let bad = |m: &str| Err(EvalError::Params(m.to_string()));
        if self.iou_thrs.is_empty() || self.rec_thrs.is_empty() || self.area_ranges.is_empty() {
            return bad("IoU thresholds, recall thresholds and area ranges must not be empty");
        }
        if self.max_dets.len() < 3 {
            return bad("three maxDets are needed (the summary uses the first three)");
        }
        if self.max_dets.contains(&0) {
            return bad("maxDets must be positive");
        }
        Ok(())
    }
}

/// The matching of one image and category in one area range (pycocotools' `evalImgs` entry).
#[derive(Debug, Clone)]
struct ImageEval {
    /// Scores of the kept detections, descending.
    dt_scores: Vec<f64>,
    /// `[t][d]`: matched to truth with a non-zero id (pycocotools' `dtMatches != 0`).
    dt_matched: Vec<Vec<bool>>,
    /// `[t][d]`: ignored.
    dt_ignore: Vec<Vec<bool>>,
    /// Per truth (ignored last): ignored.
    gt_ignore: Vec<bool>,
}

/// The accumulated evaluation (pycocotools' `COCOeval.eval`).
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub params: Params,
    /// Category ids, ascending: the K axis.
    pub cat_ids: Vec<i64>,
    /// Number of images evaluated.
    pub n_images: usize,
    /// `[T, R, K, A, M]`: interpolated precision; −1 where the category has no
    /// non-ignored truth in the area range.
    pub precision: Array5<f64>,
    /// `[T, K, A, M]`: the highest recall reached; −1 likewise.
    pub recall: Array4<f64>,
}

/// Evaluate `detections` against `truth` as pycocotools' `COCOeval(gt, dt, "segm")` with
/// `params` (`maxDets` sorted, as pycocotools does): `evaluate()` then `accumulate()`.
///
/// Detections must refer to the truth's images and categories (as [`crate::load_predictions`]
/// makes them); others are not evaluated (as in pycocotools).
pub fn evaluate(
    truth: &Truth,
    detections: &[Detection],
    params: &Params,
) -> Result<Evaluation, EvalError> {
    params.validate()?;
    // pycocotools sorts maxDets before evaluating.
    let mut params = params.clone();
    params.max_dets.sort_unstable();
    let params = &params;
    let mut img_ids: Vec<i64> = truth.images.iter().map(|im| im.id).collect();
    img_ids.sort_unstable();
    img_ids.dedup();
    let mut cat_ids: Vec<i64> = truth.categories.iter().map(|c| c.id).collect();
    cat_ids.sort_unstable();
    cat_ids.dedup();
    let max_det = params.max_dets.last().copied().unwrap_or(100);

    // _prepare: annotations per (image, category), in file order.
    let mut gts: HashMap<(i64, i64), Vec<&TruthAnnotation>> = HashMap::new();
    for g in &truth.annotations {
        gts.entry((g.image_id, g.category_id)).or_default().push(g);
    }
    let mut dts: HashMap<(i64, i64), Vec<&Detection>> = HashMap::new();
    for d in detections {
        dts.entry((d.image_id, d.category_id)).or_default().push(d);
    }

    // evaluate: per (category, image), every area range.
    let pairs: Vec<(i64, i64)> = cat_ids
        .iter()
        .flat_map(|&k| img_ids.iter().map(move |&i| (k, i)))
        .collect();
    let per_pair: Vec<Vec<Option<ImageEval>>> = pairs
        .par_iter()
        .map(|key| {
            let (k, i) = *key;
            let gt = gts.get(&(i, k)).map_or(&[][..], Vec::as_slice);
            let dt_all = dts.get(&(i, k)).map_or(&[][..], Vec::as_slice);
            let scores: Vec<f64> = dt_all.iter().map(|d| d.score).collect();
            let dt: Vec<&Detection> = argsort_descending(&scores)
                .into_iter()
                .take(max_det)
                .map(|j| dt_all[j])
                .collect();
            let ious = compute_iou(gt, &dt);
            params
                .area_ranges
                .iter()
                .map(|rng| evaluate_img(gt, &dt, &ious, rng, &params.iou_thrs))
                .collect()
        })
        .collect();
    // eval_imgs[k][a][i]
    let (nk, na, ni) = (cat_ids.len(), params.area_ranges.len(), img_ids.len());
    let at = |k: usize, a: usize, i: usize| per_pair[k * ni + i][a].as_ref();

    // accumulate.
    let (nt, nr, nm) = (
        params.iou_thrs.len(),
        params.rec_thrs.len(),
        params.max_dets.len(),
    );
    let mut precision = Array5::from_elem((nt, nr, nk, na, nm), -1.0);
    let mut recall = Array4::from_elem((nt, nk, na, nm), -1.0);
    for k in 0..nk {
        for a in 0..na {
            let evals: Vec<&ImageEval> = (0..ni).filter_map(|i| at(k, a, i)).collect();
            if evals.is_empty() {
                continue;
            }
            for (m, &md) in params.max_dets.iter().enumerate() {
                let scores: Vec<f64> = evals
                    .iter()
                    .flat_map(|e| e.dt_scores.iter().take(md).copied())
                    .collect();
                let order = argsort_descending(&scores);
                let npig = evals
                    .iter()
                    .flat_map(|e| &e.gt_ignore)
                    .filter(|&&ig| !ig)
                    .count();
                if npig == 0 {
                    continue;
                }
                for t in 0..nt {
                    let matched: Vec<bool> = evals
                        .iter()
                        .flat_map(|e| e.dt_matched[t].iter().take(md).copied())
                        .collect();
                    let ignored: Vec<bool> = evals
                        .iter()
                        .flat_map(|e| e.dt_ignore[t].iter().take(md).copied())
                        .collect();
                    let (q, rc_last) = precision_at_recalls(
                        order.iter().map(|&j| (matched[j], ignored[j])),
                        npig,
                        &params.rec_thrs,
                    );
                    recall[[t, k, a, m]] = rc_last;
                    for (r, v) in q.into_iter().enumerate() {
                        precision[[t, r, k, a, m]] = v;
                    }
                }
            }
        }
    }
    Ok(Evaluation {
        params: params.clone(),
        cat_ids,
        n_images: ni,
        precision,
        recall,
    })
}

/// pycocotools' `computeIoU`: `[d, g]` mask IoU of the (sorted, cut) detections with the truth
/// in file order.
fn compute_iou(gt: &[&TruthAnnotation], dt: &[&Detection]) -> Array2<f64> {
    let d: Vec<&Rle> = dt.iter().map(|d| &d.mask).collect();
    let g: Vec<&Rle> = gt.iter().map(|g| &g.mask).collect();
    let crowd: Vec<bool> = gt.iter().map(|g| g.iscrowd).collect();
    rle_iou(&d, &g, &crowd)
}

/// pycocotools' `evaluateImg` for one image, category and area range; `None` without truth
/// and detections.
fn evaluate_img(
    gt: &[&TruthAnnotation],
    dt: &[&Detection],
    ious: &Array2<f64>,
    rng: &AreaRange,
    iou_thrs: &[f64],
) -> Option<ImageEval> {
    if gt.is_empty() && dt.is_empty() {
        return None;
    }
    let outside = |area: f64| area < rng.min || area > rng.max;
    let ignore: Vec<bool> = gt.iter().map(|g| g.iscrowd || outside(g.area)).collect();
    let gtind = argsort_bools(&ignore);
    let gt_ignore: Vec<bool> = gtind.iter().map(|&j| ignore[j]).collect();
    let crowd: Vec<bool> = gtind.iter().map(|&j| gt[j].iscrowd).collect();
    let (nt, ng, nd) = (iou_thrs.len(), gt.len(), dt.len());
    let mut gt_taken = vec![vec![false; ng]; nt];
    // The id of the matched truth; 0 = unmatched (and, as in pycocotools, truth id 0).
    let mut dt_match = vec![vec![0i64; nd]; nt];
    let mut dt_ignore = vec![vec![false; nd]; nt];
    if ng > 0 && nd > 0 {
        for (t, &thr) in iou_thrs.iter().enumerate() {
            for d in 0..nd {
                let mut best = thr.min(1.0 - 1e-10);
                let mut m: Option<usize> = None;
                for g in 0..ng {
                    // Already matched and not a crowd: next.
                    if gt_taken[t][g] && !crowd[g] {
                        continue;
                    }
                    // Matched to regular truth and reaching ignored truth: stop.
                    if m.is_some_and(|m| !gt_ignore[m]) && gt_ignore[g] {
                        break;
                    }
                    let iou = ious[[d, gtind[g]]];
                    if iou < best {
                        continue;
                    }
                    best = iou;
                    m = Some(g);
                }
                if let Some(m) = m {
                    dt_ignore[t][d] = gt_ignore[m];
                    dt_match[t][d] = gt[gtind[m]].id;
                    gt_taken[t][m] = true;
                }
            }
        }
    }
    for t in 0..nt {
        for d in 0..nd {
            if dt_match[t][d] == 0 && outside(dt[d].area) {
                dt_ignore[t][d] = true;
            }
        }
    }
    Some(ImageEval {
        dt_scores: dt.iter().map(|d| d.score).collect(),
        dt_matched: dt_match
            .iter()
            .map(|row| row.iter().map(|&id| id != 0).collect())
            .collect(),
        dt_ignore,
        gt_ignore,
    })
}

/// The precision at each recall threshold and the last recall, from detections in score order
/// as (matched, ignored), as pycocotools' `accumulate` computes them for one setting.
fn precision_at_recalls(
    dets: impl Iterator<Item = (bool, bool)>,
    npig: usize,
    rec_thrs: &[f64],
) -> (Vec<f64>, f64) {
    let (mut tp, mut fp) = (0u64, 0u64);
    let mut rc = Vec::new();
    let mut pr = Vec::new();
    for (matched, ignored) in dets {
        if !ignored {
            if matched {
                tp += 1;
            } else {
                fp += 1;
            }
        }
        let (tpf, fpf) = (tp as f64, fp as f64);
        rc.push(tpf / npig as f64);
        pr.push(tpf / (fpf + tpf + f64::EPSILON));
    }
    let rc_last = rc.last().copied().unwrap_or(0.0);
    // Make precision non-increasing from the right.
    for i in (1..pr.len()).rev() {
        if pr[i] > pr[i - 1] {
            pr[i - 1] = pr[i];
        }
    }
    let mut q = vec![0.0; rec_thrs.len()];
    for (ri, &r) in rec_thrs.iter().enumerate() {
        let pi = searchsorted_left(&rc, r);
        // pycocotools' IndexError ends the loop: the rest stays 0.
        let Some(&p) = pr.get(pi) else { break };
        q[ri] = p;
    }
    (q, rc_last)
}

/// The setting of one of pycocotools' 12 summary numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SummarySetting {
    /// `AP` (precision) or `AR` (recall).
    pub metric: &'static str,
    /// One IoU threshold, or `None` for the mean over all.
    pub iou_thr: Option<f64>,
    pub area: &'static str,
    pub max_dets: usize,
}

/// pycocotools' `_summarizeDets` settings: 0: AP @[.50:.95] all at maxDets = 100 (pycocotools
/// fixes 100 there, so it is −1 when 100 is not a maxDet); 1, 2: AP @.50, @.75; 3–5: AP small,
/// medium, large; 6–8: AR all at `maxDets[0]`, `[1]`, `[2]`; 9–11: AR small, medium, large. All
/// but 0, 6 and 7 at `maxDets[2]`. (A missing maxDet selects nothing: −1.)
pub fn summary_settings(max_dets: &[usize]) -> [SummarySetting; 12] {
    let md = |i: usize| max_dets.get(i).copied().unwrap_or(usize::MAX);
    let set = |metric, iou_thr, area, max_dets| SummarySetting {
        metric,
        iou_thr,
        area,
        max_dets,
    };
    [
        set("AP", None, "all", 100),
        set("AP", Some(0.5), "all", md(2)),
        set("AP", Some(0.75), "all", md(2)),
        set("AP", None, "small", md(2)),
        set("AP", None, "medium", md(2)),
        set("AP", None, "large", md(2)),
        set("AR", None, "all", md(0)),
        set("AR", None, "all", md(1)),
        set("AR", None, "all", md(2)),
        set("AR", None, "small", md(2)),
        set("AR", None, "medium", md(2)),
        set("AR", None, "large", md(2)),
    ]
}

impl Evaluation {
    /// Index of the area range labelled `label`.
    fn area_index(&self, label: &str) -> Vec<usize> {
        let p = &self.params;
        (0..p.area_ranges.len())
            .filter(|&a| p.area_ranges[a].label == label)
            .collect()
    }

    /// pycocotools' `_summarize`: the mean of the selected precision (`ap`) or recall values
    /// that are > −1, in numpy's order and summation; −1 when there are none.
    fn summarize_one(&self, ap: bool, iou_thr: Option<f64>, area: &str, max_dets: usize) -> f64 {
        let p = &self.params;
        let ts: Vec<usize> = match iou_thr {
            Some(thr) => (0..p.iou_thrs.len())
                .filter(|&t| p.iou_thrs[t] == thr)
                .collect(),
            None => (0..p.iou_thrs.len()).collect(),
        };
        let aind = self.area_index(area);
        let mind: Vec<usize> = (0..p.max_dets.len())
            .filter(|&m| p.max_dets[m] == max_dets)
            .collect();
        // numpy broadcasts the two index lists `[aind, mind]` against each other.
        let am: Vec<(usize, usize)> = match (aind.len(), mind.len()) {
            (1, _) => mind.iter().map(|&m| (aind[0], m)).collect(),
            (_, 1) => aind.iter().map(|&a| (a, mind[0])).collect(),
            (x, y) if x == y => aind.into_iter().zip(mind).collect(),
            _ => Vec::new(),
        };
        let nk = self.cat_ids.len();
        let mut vals = Vec::new();
        for &t in &ts {
            if ap {
                for r in 0..p.rec_thrs.len() {
                    for k in 0..nk {
                        for &(a, m) in &am {
                            vals.push(self.precision[[t, r, k, a, m]]);
                        }
                    }
                }
            } else {
                for k in 0..nk {
                    for &(a, m) in &am {
                        vals.push(self.recall[[t, k, a, m]]);
                    }
                }
            }
        }
        vals.retain(|&v| v > -1.0);
        mean(&vals).unwrap_or(-1.0)
    }

    /// pycocotools' `summarize()` for detections: the 12 `stats`, in the settings of
    /// [`summary_settings`].
    pub fn stats(&self) -> [f64; 12] {
        summary_settings(&self.params.max_dets)
            .map(|s| self.summarize_one(s.metric == "AP", s.iou_thr, s.area, s.max_dets))
    }

    /// AP of category index `k` (into [`Evaluation::cat_ids`]) over area `all` at the largest
    /// maxDet: the mean of `precision[t, :, k, all, -1]` values > −1 over the IoU thresholds
    /// `t` (all of them, or only those equal to `iou_thr`); `None` when the category has no
    /// (non-crowd) truth.
    pub fn category_ap(&self, k: usize, iou_thr: Option<f64>) -> Option<f64> {
        let p = &self.params;
        let a = *self.area_index("all").first()?;
        let m = p.max_dets.len().checked_sub(1)?;
        let mut vals = Vec::new();
        for t in 0..p.iou_thrs.len() {
            if iou_thr.is_some_and(|thr| p.iou_thrs[t] != thr) {
                continue;
            }
            for r in 0..p.rec_thrs.len() {
                vals.push(self.precision[[t, r, k, a, m]]);
            }
        }
        vals.retain(|&v| v > -1.0);
        mean(&vals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::{Category, TruthImage};
    use corrflow_types::coco::Rle;
    use ndarray::Array2;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn square(y0: usize, x0: usize, side: usize) -> Rle {
        Rle::encode(
            Array2::from_shape_fn((64, 64), |(y, x)| {
                (y0..y0 + side).contains(&y) && (x0..x0 + side).contains(&x)
            })
            .view(),
        )
    }

    fn truth(masks: &[(Rle, bool)]) -> Truth {
        Truth {
            images: vec![TruthImage {
                id: 1,
                file_name: None,
                height: 64,
                width: 64,
            }],
            categories: vec![Category {
                id: 1,
                name: "c".into(),
            }],
            annotations: masks
                .iter()
                .enumerate()
                .map(|(i, (m, crowd))| TruthAnnotation {
                    id: i as i64 + 1,
                    image_id: 1,
                    category_id: 1,
                    iscrowd: *crowd,
                    area: m.area() as f64,
                    mask: m.clone(),
                })
                .collect(),
            notes: vec![],
        }
    }

    fn det(mask: Rle, score: f64) -> Detection {
        Detection {
            image_id: 1,
            category_id: 1,
            score,
            area: mask.area() as f64,
            mask,
        }
    }

    #[test]
    fn perfect_detections_score_one() {
        let t = truth(&[(square(0, 0, 10), false), (square(20, 20, 40), false)]);
        let d = vec![det(square(0, 0, 10), 0.9), det(square(20, 20, 40), 0.8)];
        let e = evaluate(&t, &d, &Params::default()).unwrap();
        let s = e.stats();
        assert!(close(s[0], 1.0), "{:?}", s[0]);
        assert!(close(s[1], 1.0), "{:?}", s[1]);
        assert!(close(s[3], 1.0), "{:?}", s[3]); // small: the 10×10 square
        assert!(close(s[4], 1.0), "{:?}", s[4]); // medium: 40×40
        assert_eq!(s[5], -1.0); // no large truth
        assert!(close(s[6], 0.5), "{:?}", s[6]); // one detection per image finds half
        assert!(close(e.category_ap(0, None).unwrap(), 1.0));
        assert!(close(e.category_ap(0, Some(0.5)).unwrap(), 1.0));
    }

    #[test]
    fn false_positive_first_and_crowd() {
        // A false positive outscoring the true one: precision 1/2 at recall 1.
        let t = truth(&[(square(0, 0, 10), false), (square(30, 30, 20), true)]);
        let d = vec![
            det(square(50, 0, 10), 0.9),
            det(square(0, 0, 10), 0.8),
            det(square(32, 32, 10), 0.7), // inside the crowd region: ignored
        ];
        let e = evaluate(&t, &d, &Params::default()).unwrap();
        let s = e.stats();
        assert!((s[1] - 0.5).abs() < 1e-12, "{s:?}");
        assert!(close(s[8], 1.0), "{:?}", s[8]);
        // No detections at all: AP 0, not −1.
        let e = evaluate(&t, &[], &Params::default()).unwrap();
        assert_eq!(e.stats()[0], 0.0);
        // No truth of the category: −1.
        let empty = truth(&[]);
        let e = evaluate(&empty, &d, &Params::default()).unwrap();
        assert_eq!(e.stats()[0], -1.0);
        assert_eq!(e.category_ap(0, None), None);
    }

    #[test]
    fn max_dets_other_than_100() {
        let t = truth(&[(square(0, 0, 10), false)]);
        let d = vec![det(square(0, 0, 10), 0.9)];
        let e = evaluate(&t, &d, &Params::with_max_det(300)).unwrap();
        assert_eq!(e.params.max_dets, vec![1, 10, 300]);
        let s = e.stats();
        assert_eq!(s[0], -1.0); // pycocotools reads AP at maxDets = 100 only
        assert!(close(s[1], 1.0), "{:?}", s[1]);
        let p = Params {
            max_dets: vec![100],
            ..Params::default()
        };
        assert!(evaluate(&t, &d, &p).is_err());
    }
}
