//! Post-processing of YOLOv8-seg outputs, step for step as ultralytics 8.4.x `predict` does it.
//!
//! 1. Candidates: anchors whose best class score is > `conf`; the best class only (first index on
//!    ties), then the class filter; at most `max_nms` by descending score.
//! 2. Boxes cx, cy, w, h → x1 = cx − w/2, … (float32); class-aware NMS as `torchvision.ops.nms`
//!    (boxes offset by class · 7680 unless agnostic; stable sort by descending score; a box is
//!    suppressed when IoU = inter / (area_i + area_j − inter) > `iou`, in float32 with the
//!    threshold compared as float64); the first `max_det` kept.
//! 3. Masks (see [`MaskDecoder`]): logits = coefficients · prototypes, bilinear upsampling
//!    (`F.interpolate`, align_corners=False), threshold at 0, crop to the box; detections with an
//!    empty mask are dropped.
//!
//! Hand-written: this is the behaviour to match, and no crate implements ultralytics' decoding.

use ndarray::{Array2, ArrayView2, ArrayView3, s};

/// Class offset ultralytics adds to boxes for class-aware NMS (px).
const MAX_WH: f32 = 7680.0;

/// Detection selection parameters (ultralytics' names and defaults).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectOptions {
    /// Minimum class score (exclusive), default 0.25.
    pub conf: f32,
    /// NMS IoU threshold, default 0.7.
    pub iou: f64,
    /// Maximum detections per image, default 300.
    pub max_det: usize,
    /// NMS across classes, default false.
    pub agnostic: bool,
    /// Keep only these class ids (None = all).
    pub classes: Option<Vec<u32>>,
    /// Maximum candidates entering NMS, default 30000.
    pub max_nms: usize,
}

impl Default for SelectOptions {
    fn default() -> Self {
        Self {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
            agnostic: false,
            classes: None,
            max_nms: 30000,
        }
    }
}

/// One detection in model-input pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Anchor (column of the predictions output) it came from.
    pub anchor: usize,
    pub class_id: u32,
    pub score: f32,
    /// Box x1, y1, x2, y2 in input pixels.
    pub xyxy: [f32; 4],
}

/// Steps 1–2: the detections kept by NMS, by descending score.
/// `predictions` is (4 + nc + nm, anchors).
pub fn select(predictions: ArrayView2<'_, f32>, nc: usize, opts: &SelectOptions) -> Vec<Detection> {
    let anchors = predictions.ncols();
    let mut cands: Vec<Detection> = Vec::new();
    for a in 0..anchors {
        let col = predictions.column(a);
        let mut best = 0usize;
        let mut best_score = col[4];
        for k in 1..nc {
            // torch.max keeps the first index of the maximum
            if col[4 + k] > best_score {
                best = k;
                best_score = col[4 + k];
            }
        }
        if best_score.is_nan() || best_score <= opts.conf {
            continue;
        }
        if let Some(classes) = &opts.classes
            && !classes.contains(&(best as u32))
        {
            continue;
        }
        let (cx, cy, w, h) = (col[0], col[1], col[2], col[3]);
        let (hw, hh) = (w / 2.0, h / 2.0);
        cands.push(Detection {
            anchor: a,
            class_id: best as u32,
            score: best_score,
            xyxy: [cx - hw, cy - hh, cx + hw, cy + hh],
        });
    }
    if cands.len() > opts.max_nms {
        cands.sort_by(|a, b| b.score.total_cmp(&a.score));
        cands.truncate(opts.max_nms);
    }
    let keep = nms(&cands, opts.iou, opts.agnostic);
    keep.into_iter()
        .take(opts.max_det)
        .map(|i| cands[i].clone())
        .collect()
}

/// `torchvision.ops.nms` on class-offset boxes: indices kept, by descending score.
fn nms(cands: &[Detection], iou: f64, agnostic: bool) -> Vec<usize> {
    let boxes: Vec<[f32; 4]> = cands
        .iter()
        .map(|d| {
            let c = if agnostic {
                0.0
            } else {
                d.class_id as f32 * MAX_WH
            };
            [d.xyxy[0] + c, d.xyxy[1] + c, d.xyxy[2] + c, d.xyxy[3] + c]
        })
        .collect();
    let areas: Vec<f32> = boxes
        .iter()
        .map(|b| (b[2] - b[0]) * (b[3] - b[1]))
        .collect();
    let mut order: Vec<usize> = (0..cands.len()).collect();
    order.sort_by(|&a, &b| cands[b].score.total_cmp(&cands[a].score)); // stable
    let mut suppressed = vec![false; cands.len()];
    let mut keep = Vec::new();
    for (oi, &i) in order.iter().enumerate() {
        if suppressed[i] {
            continue;
        }
        keep.push(i);
        let bi = boxes[i];
        for &j in &order[oi + 1..] {
            if suppressed[j] {
                continue;
            }
            let bj = boxes[j];
            let w = (bi[2].min(bj[2]) - bi[0].max(bj[0])).max(0.0);
            let h = (bi[3].min(bj[3]) - bi[1].max(bj[1])).max(0.0);
            let inter = w * h;
            let ovr = inter / (areas[i] + areas[j] - inter);
            if f64::from(ovr) > iou {
                suppressed[j] = true;
            }
        }
    }
    keep
}

/// One axis of a bilinear resize from `n_in` to `n_out` samples as PyTorch's CPU
/// `upsample_bilinear2d` (align_corners=False) computes it: source = max(scale·(i + 0.5) − 0.5, 0)
/// in float32, i0 = ⌊source⌋ (at most n_in − 1), i1 = i0 + 1 unless at the end, λ1 = source − i0.
#[derive(Debug, Clone)]
pub struct Axis {
    pub i0: Vec<u32>,
    pub i1: Vec<u32>,
    pub l0: Vec<f32>,
    pub l1: Vec<f32>,
}

impl Axis {
    /// `scale` = n_in / n_out when the output size is given, 1 / factor with a scale factor.
    pub fn new(n_in: usize, n_out: usize, scale: f32) -> Self {
        let mut a = Axis {
            i0: Vec::with_capacity(n_out),
            i1: Vec::with_capacity(n_out),
            l0: Vec::with_capacity(n_out),
            l1: Vec::with_capacity(n_out),
        };
        for i in 0..n_out {
            let src = (scale * (i as f32 + 0.5) - 0.5).max(0.0);
            let i0 = (src.floor() as usize).min(n_in.saturating_sub(1));
            let off = usize::from(i0 + 1 < n_in);
            let l1 = (src - i0 as f32).clamp(0.0, 1.0);
            a.i0.push(i0 as u32);
            a.i1.push((i0 + off) as u32);
            a.l0.push(1.0 - l1);
            a.l1.push(l1);
        }
        a
    }

    /// Resize to a given output size (scale = n_in / n_out).
    pub fn to_size(n_in: usize, n_out: usize) -> Self {
        Self::new(n_in, n_out, n_in as f32 / n_out as f32)
    }

    pub fn len(&self) -> usize {
        self.i0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.i0.is_empty()
    }

    /// Output indices `[lo, hi)` whose value can depend on source samples in `[s0, s1)`.
    pub fn outputs_touching(&self, s0: usize, s1: usize) -> (usize, usize) {
        // i0 and i1 are non-decreasing in the output index.
        let lo = self.i1.partition_point(|&v| (v as usize) < s0);
        let hi = self.i0.partition_point(|&v| (v as usize) < s1);
        (lo, hi.max(lo))
    }

    /// Source indices `[lo, hi)` that outputs `[o0, o1)` read.
    pub fn sources_of(&self, o0: usize, o1: usize) -> (usize, usize) {
        if o0 >= o1 {
            return (0, 0);
        }
        (self.i0[o0] as usize, self.i1[o1 - 1] as usize + 1)
    }
}

/// Bilinear resample of a region of a (virtual) source image: `src` holds source rows
/// `[sy0, sy0 + src.nrows())` and columns `[sx0, …)`; the result holds output rows `oy` and
/// columns `ox`. Every source sample the outputs read must be in `src`.
pub fn resample_region(
    src: ArrayView2<'_, f32>,
    (sy0, sx0): (usize, usize),
    ay: &Axis,
    ax: &Axis,
    oy: (usize, usize),
    ox: (usize, usize),
) -> Array2<f32> {
    let (h, w) = (oy.1 - oy.0, ox.1 - ox.0);
    let mut out = Array2::<f32>::zeros((h, w));
    for (r, y) in (oy.0..oy.1).enumerate() {
        let (y0, y1) = (ay.i0[y] as usize - sy0, ay.i1[y] as usize - sy0);
        let (h0, h1) = (ay.l0[y], ay.l1[y]);
        let row0 = src.row(y0);
        let row1 = src.row(y1);
        let mut orow = out.row_mut(r);
        for (c, x) in (ox.0..ox.1).enumerate() {
            let (x0, x1) = (ax.i0[x] as usize - sx0, ax.i1[x] as usize - sx0);
            let (w0, w1) = (ax.l0[x], ax.l1[x]);
            orow[c] = h0 * (w0 * row0[x0] + w1 * row0[x1]) + h1 * (w0 * row1[x0] + w1 * row1[x1]);
        }
    }
    out
}

/// Mask logits (coefficients · prototypes) on prototype rows `ry` and columns `rx`.
pub fn logits_region(
    coeffs: &[f32],
    protos: ArrayView3<'_, f32>,
    ry: (usize, usize),
    rx: (usize, usize),
) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((ry.1 - ry.0, rx.1 - rx.0));
    for (k, &c) in coeffs.iter().enumerate() {
        let p = protos.slice(s![k, ry.0..ry.1, rx.0..rx.1]);
        out.zip_mut_with(&p, |o, &v| *o += c * v);
    }
    out
}

/// Pixel columns `c` (or rows) with `lo ≤ c < hi` (float32 comparisons, as ultralytics'
/// `crop_mask`), within `[0, n)`.
pub fn box_span(lo: f32, hi: f32, n: usize) -> (usize, usize) {
    let first = (0..n).position(|c| c as f32 >= lo).unwrap_or(n);
    let mut end = first;
    while end < n && (end as f32) < hi {
        end += 1;
    }
    (first, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn preds(rows: &[[f32; 4 + 2]]) -> Array2<f32> {
        // 2 classes, no mask coefficients; one column per anchor
        Array2::from_shape_fn((6, rows.len()), |(r, a)| rows[a][r])
    }

    #[test]
    fn nms_keeps_best_of_overlapping_same_class_boxes() {
        let p = preds(&[
            [10.0, 10.0, 10.0, 10.0, 0.9, 0.1],
            [11.0, 10.0, 10.0, 10.0, 0.8, 0.1], // IoU 0.818 with the first: suppressed
            [30.0, 30.0, 10.0, 10.0, 0.7, 0.1],
            [11.0, 10.0, 10.0, 10.0, 0.1, 0.6], // other class: kept (class-aware)
            [50.0, 50.0, 10.0, 10.0, 0.2, 0.1], // below conf
        ]);
        let d = select(p.view(), 2, &SelectOptions::default());
        let anchors: Vec<usize> = d.iter().map(|d| d.anchor).collect();
        assert_eq!(anchors, vec![0, 2, 3]);
        assert_eq!(d[0].xyxy, [5.0, 5.0, 15.0, 15.0]);
        let agn = select(
            p.view(),
            2,
            &SelectOptions {
                agnostic: true,
                ..Default::default()
            },
        );
        assert_eq!(agn.iter().map(|d| d.anchor).collect::<Vec<_>>(), vec![0, 2]);
        let only1 = select(
            p.view(),
            2,
            &SelectOptions {
                classes: Some(vec![1]),
                ..Default::default()
            },
        );
        assert_eq!(only1.iter().map(|d| d.anchor).collect::<Vec<_>>(), vec![3]);
        let one = select(
            p.view(),
            2,
            &SelectOptions {
                max_det: 1,
                ..Default::default()
            },
        );
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn iou_exactly_at_threshold_is_kept() {
        // Two 10×10 boxes shifted so that IoU = 50/150 = 1/3; threshold 1/3 as f64 keeps both
        // only when the f32 IoU does not exceed it.
        let p = preds(&[
            [10.0, 10.0, 10.0, 10.0, 0.9, 0.0],
            [15.0, 10.0, 10.0, 10.0, 0.8, 0.0],
        ]);
        let opts = SelectOptions {
            iou: 0.5,
            ..Default::default()
        };
        assert_eq!(select(p.view(), 2, &opts).len(), 2);
        let opts = SelectOptions {
            iou: 0.3,
            ..Default::default()
        };
        assert_eq!(select(p.view(), 2, &opts).len(), 1);
    }

    #[test]
    fn axis_matches_torch_half_pixel_mapping() {
        // 2 → 4 upsampling: sources 0, 0.25, 0.75, 1.25 clamped: (0,1,λ0), …
        let a = Axis::to_size(2, 4);
        assert_eq!(a.i0, vec![0, 0, 0, 1]);
        assert_eq!(a.i1, vec![1, 1, 1, 1]);
        assert_eq!(a.l1, vec![0.0, 0.25, 0.75, 0.25]); // at the end i1 = i0: the weights still sum to 1
        // An identity resize reads each sample with weight 1.
        let id = Axis::to_size(5, 5);
        assert!(id.l1.iter().all(|&l| l == 0.0));
        assert_eq!(id.i0, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn region_resample_equals_full_resample() {
        let src = Array2::from_shape_fn((7, 9), |(r, c)| ((r * 31 + c * 17) % 11) as f32 - 5.0);
        let (ay, ax) = (Axis::to_size(7, 23), Axis::to_size(9, 30));
        let full = resample_region(src.view(), (0, 0), &ay, &ax, (0, 23), (0, 30));
        let (oy, ox) = ((5, 17), (3, 29));
        let (sy, sx) = (ay.sources_of(oy.0, oy.1), ax.sources_of(ox.0, ox.1));
        let part = src.slice(s![sy.0..sy.1, sx.0..sx.1]);
        let region = resample_region(part, (sy.0, sx.0), &ay, &ax, oy, ox);
        assert_eq!(region, full.slice(s![oy.0..oy.1, ox.0..ox.1]));
        // outputs_touching is the inverse: outputs outside it read none of the sources
        let (lo, hi) = ay.outputs_touching(2, 4);
        for y in 0..23 {
            let reads =
                (2..4).contains(&(ay.i0[y] as usize)) || (2..4).contains(&(ay.i1[y] as usize));
            assert_eq!(reads, (lo..hi).contains(&y), "row {y}");
        }
    }

    #[test]
    fn box_span_uses_half_open_float_bounds() {
        assert_eq!(box_span(1.5, 4.0, 10), (2, 4));
        assert_eq!(box_span(-3.0, 2.0001, 10), (0, 3));
        assert_eq!(box_span(8.2, 20.0, 10), (9, 10));
        assert_eq!(box_span(5.0, 5.0, 10), (5, 5));
    }
}
