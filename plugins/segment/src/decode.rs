//! From raw model outputs on one letterboxed image to instances in the original image, as
//! ultralytics 8.4.x `predict` builds its `Results` (boxes, and masks in original pixels).
//!
//! Default masks (`retina_masks=False`): logits upsampled to the input size (H × W), thresholded
//! at 0, cropped to the input-space box; then (ultralytics `scale_masks`) the un-padded part of the
//! binary mask is bilinearly resized to the original size and thresholded at 0.5.
//!
//! Retina masks: logits upsampled by f ∈ {1, 2, 4} (the smallest factor that cuts the padding on
//! whole pixels), the un-padded part resized straight to the original size, thresholded at 0,
//! cropped to the original-space box.
//!
//! Only the pixels inside (or bilinearly next to) each box are computed: the results equal the
//! full-image computation (tested), at a fraction of its cost.

use corrflow_types::{Instance, Mask};
use ndarray::{Array2, ArrayView2, ArrayView3, s};

use crate::letterbox::Letterbox;
use crate::postprocess::{Axis, Detection, box_span, logits_region, resample_region};

/// How masks are brought to the original image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaskMode {
    /// ultralytics' predict default: masks at input resolution, then resized.
    #[default]
    Default,
    /// `retina_masks=True`: logits resized straight to the original resolution (finer edges).
    Retina,
}

/// Python's `round()` (half to even) of a float64.
fn py_round(x: f64) -> i64 {
    x.round_ties_even() as i64
}

/// Decodes masks of one model output for one image.
pub struct MaskDecoder<'a> {
    protos: ArrayView3<'a, f32>,
    lb: Letterbox,
    in_hw: (usize, usize),
    src_hw: (usize, usize),
    mode: MaskMode,
    plan: Plan,
}

/// The resize stages of a mode, with their axes.
enum Plan {
    Default {
        /// protos → input size
        up: (Axis, Axis),
        /// un-padded region of the input, and its resize to the original size (None = same size)
        cut: (usize, usize, usize, usize),
        down: Option<(Axis, Axis)>,
    },
    Retina {
        /// protos → protos · f (None when f = 1)
        up: Option<(Axis, Axis)>,
        /// size after `up`
        up_hw: (usize, usize),
        /// un-padded region of the upsampled logits, and its resize to the original size
        cut: (usize, usize, usize, usize),
        down: Option<(Axis, Axis)>,
    },
}

impl<'a> MaskDecoder<'a> {
    /// `protos` is (nm, mh, mw); `lb` the letterbox of the original image into the model input.
    pub fn new(protos: ArrayView3<'a, f32>, lb: &Letterbox, mode: MaskMode) -> Self {
        let (_, mh, mw) = protos.dim();
        let in_hw = (lb.dst_h, lb.dst_w);
        let src_hw = (lb.src_h, lb.src_w);
        let (h0, w0) = src_hw;
        let plan = match mode {
            MaskMode::Default => {
                let cut = lb.mask_crop(in_hw.0, in_hw.1);
                let down =
                    (in_hw != src_hw).then(|| (Axis::to_size(cut.2, h0), Axis::to_size(cut.3, w0)));
                Plan::Default {
                    up: (Axis::to_size(mh, in_hw.0), Axis::to_size(mw, in_hw.1)),
                    cut,
                    down,
                }
            }
            MaskMode::Retina => {
                let gain = (4.0 * mh as f64 / h0 as f64).min(4.0 * mw as f64 / w0 as f64);
                let pad = (4 * mh as i64 - py_round(h0 as f64 * gain).max(1))
                    | (4 * mw as i64 - py_round(w0 as f64 * gain).max(1));
                let f = 4 / gcd(4, pad | pad.div_euclid(2)) as usize;
                let up_hw = (mh * f, mw * f);
                let up = (f > 1).then(|| {
                    let sc = (1.0 / f as f64) as f32;
                    (Axis::new(mh, up_hw.0, sc), Axis::new(mw, up_hw.1, sc))
                });
                let cut = lb.mask_crop(up_hw.0, up_hw.1);
                let down =
                    (up_hw != src_hw).then(|| (Axis::to_size(cut.2, h0), Axis::to_size(cut.3, w0)));
                Plan::Retina {
                    up,
                    up_hw,
                    cut,
                    down,
                }
            }
        };
        Self {
            protos,
            lb: *lb,
            in_hw,
            src_hw,
            mode,
            plan,
        }
    }

    /// The instance of one detection in original pixels (box scaled as ultralytics does), or
    /// `None` when its mask is empty (ultralytics drops those).
    pub fn instance(&self, det: &Detection, coeffs: &[f32]) -> Option<Instance> {
        let bbox = self.lb.box_to_source(det.xyxy);
        let (y0, x0, mask) = match &self.plan {
            Plan::Default { up, cut, down } => {
                self.default_mask(det.xyxy, coeffs, up, *cut, down)?
            }
            Plan::Retina {
                up,
                up_hw,
                cut,
                down,
            } => self.retina_mask(bbox, coeffs, up.as_ref(), *up_hw, *cut, down.as_ref())?,
        };
        let tight = Mask::from_full(mask.view());
        if tight.data.is_empty() {
            return None;
        }
        Some(Instance {
            class_id: det.class_id,
            score: det.score,
            bbox,
            mask: Mask::new(x0 + tight.x0, y0 + tight.y0, tight.data),
        })
    }

    pub fn mode(&self) -> MaskMode {
        self.mode
    }

    /// Returns (row offset, column offset, mask region) in original pixels.
    fn default_mask(
        &self,
        xyxy: [f32; 4],
        coeffs: &[f32],
        up: &(Axis, Axis),
        cut: (usize, usize, usize, usize),
        down: &Option<(Axis, Axis)>,
    ) -> Option<(usize, usize, Array2<bool>)> {
        let (h1, w1) = self.in_hw;
        let ry = box_span(xyxy[1], xyxy[3], h1);
        let rx = box_span(xyxy[0], xyxy[2], w1);
        if ry.0 >= ry.1 || rx.0 >= rx.1 {
            return None;
        }
        let binary = upsampled_binary(self.protos, coeffs, up, ry, rx, 0.0);
        if !binary.iter().any(|&v| v) {
            return None;
        }
        let Some((ay, ax)) = down else {
            return Some((ry.0, rx.0, binary));
        };
        // Restrict to the un-padded cut, in cut coordinates.
        let (top, left, ch, cw) = cut;
        let clip = |r: (usize, usize), o: usize, n: usize| {
            (r.0.max(o).min(o + n) - o, r.1.max(o).min(o + n) - o)
        };
        let (cy, cx) = (clip(ry, top, ch), clip(rx, left, cw));
        if cy.0 >= cy.1 || cx.0 >= cx.1 {
            return None;
        }
        let oy = ay.outputs_touching(cy.0, cy.1);
        let ox = ax.outputs_touching(cx.0, cx.1);
        let (sy, sx) = (ay.sources_of(oy.0, oy.1), ax.sources_of(ox.0, ox.1));
        // Source samples of the cut as 0/1 floats (0 outside the box region).
        let src = Array2::from_shape_fn((sy.1 - sy.0, sx.1 - sx.0), |(r, c)| {
            let (y, x) = (sy.0 + r + top, sx.0 + c + left);
            let inside = (ry.0..ry.1).contains(&y) && (rx.0..rx.1).contains(&x);
            f32::from(u8::from(inside && binary[[y - ry.0, x - rx.0]]))
        });
        let vals = resample_region(src.view(), (sy.0, sx.0), ay, ax, oy, ox);
        Some((oy.0, ox.0, vals.mapv(|v| v > 0.5)))
    }

    fn retina_mask(
        &self,
        bbox: [f32; 4],
        coeffs: &[f32],
        up: Option<&(Axis, Axis)>,
        up_hw: (usize, usize),
        cut: (usize, usize, usize, usize),
        down: Option<&(Axis, Axis)>,
    ) -> Option<(usize, usize, Array2<bool>)> {
        let (h0, w0) = self.src_hw;
        let oy = box_span(bbox[1], bbox[3], h0);
        let ox = box_span(bbox[0], bbox[2], w0);
        if oy.0 >= oy.1 || ox.0 >= ox.1 {
            return None;
        }
        let (top, left, _, _) = cut;
        // Rows/columns of the upsampled logits (before the cut) that the outputs need.
        let (ny, nx) = match down {
            Some((ay, ax)) => {
                let (sy, sx) = (ay.sources_of(oy.0, oy.1), ax.sources_of(ox.0, ox.1));
                ((sy.0 + top, sy.1 + top), (sx.0 + left, sx.1 + left))
            }
            None => (oy, ox),
        };
        let logits_up = match up {
            Some((ay, ax)) => {
                let (py, px) = (ay.sources_of(ny.0, ny.1), ax.sources_of(nx.0, nx.1));
                let l = logits_region(coeffs, self.protos, py, px);
                resample_region(l.view(), (py.0, px.0), ay, ax, ny, nx)
            }
            None => logits_region(coeffs, self.protos, ny, nx),
        };
        debug_assert!(ny.1 <= up_hw.0 && nx.1 <= up_hw.1);
        let vals = match down {
            Some((ay, ax)) => {
                resample_region(logits_up.view(), (ny.0 - top, nx.0 - left), ay, ax, oy, ox)
            }
            None => logits_up,
        };
        let mask = vals.mapv(|v| v > 0.0);
        mask.iter().any(|&v| v).then_some((oy.0, ox.0, mask))
    }
}

/// Logits upsampled with `up` on output rows `ry`, columns `rx`, thresholded at `> thr`.
fn upsampled_binary(
    protos: ArrayView3<'_, f32>,
    coeffs: &[f32],
    up: &(Axis, Axis),
    ry: (usize, usize),
    rx: (usize, usize),
    thr: f32,
) -> Array2<bool> {
    let (ay, ax) = up;
    let (py, px) = (ay.sources_of(ry.0, ry.1), ax.sources_of(rx.0, rx.1));
    let l = logits_region(coeffs, protos, py, px);
    resample_region(l.view(), (py.0, px.0), ay, ax, ry, rx).mapv(|v| v > thr)
}

fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Mask coefficients of one anchor: the last `nm` rows of its predictions column.
pub fn coefficients(predictions: ArrayView2<'_, f32>, anchor: usize, nm: usize) -> Vec<f32> {
    let rows = predictions.nrows();
    predictions
        .slice(s![rows - nm.., anchor])
        .iter()
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    /// The straightforward full-image computation, for comparison.
    fn full_default(
        protos: &Array3<f32>,
        coeffs: &[f32],
        xyxy: [f32; 4],
        in_hw: (usize, usize),
        src_hw: (usize, usize),
    ) -> Array2<bool> {
        let (_, mh, mw) = protos.dim();
        let l = logits_region(coeffs, protos.view(), (0, mh), (0, mw));
        let (ay, ax) = (Axis::to_size(mh, in_hw.0), Axis::to_size(mw, in_hw.1));
        let up = resample_region(l.view(), (0, 0), &ay, &ax, (0, in_hw.0), (0, in_hw.1));
        let ry = box_span(xyxy[1], xyxy[3], in_hw.0);
        let rx = box_span(xyxy[0], xyxy[2], in_hw.1);
        let bin = Array2::from_shape_fn(in_hw, |(r, c)| {
            up[[r, c]] > 0.0 && (ry.0..ry.1).contains(&r) && (rx.0..rx.1).contains(&c)
        });
        let (top, left, ch, cw) =
            Letterbox::new(src_hw.0, src_hw.1, in_hw.0, in_hw.1).mask_crop(in_hw.0, in_hw.1);
        let cutf = bin
            .slice(s![top..top + ch, left..left + cw])
            .mapv(|v| f32::from(u8::from(v)));
        let (by, bx) = (Axis::to_size(ch, src_hw.0), Axis::to_size(cw, src_hw.1));
        resample_region(cutf.view(), (0, 0), &by, &bx, (0, src_hw.0), (0, src_hw.1))
            .mapv(|v| v > 0.5)
    }

    fn random_protos(nm: usize, mh: usize, mw: usize, seed: u64) -> Array3<f32> {
        let mut s = seed;
        Array3::from_shape_fn((nm, mh, mw), |_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
    }

    #[test]
    fn windowed_default_masks_equal_the_full_computation() {
        let protos = random_protos(4, 16, 16, 7);
        let coeffs = [1.0, -0.5, 0.25, 0.8];
        for &(src_hw, xyxy) in &[
            ((40usize, 90usize), [5.3f32, 20.0, 50.7, 44.2]),
            ((64, 64), [0.0, 0.0, 64.0, 64.0]),
            ((100, 37), [10.0, 3.0, 40.0, 60.5]),
            ((200, 150), [-3.0, 8.0, 30.0, 70.0]),
        ] {
            let in_hw = (64, 64);
            let lb = Letterbox::new(src_hw.0, src_hw.1, in_hw.0, in_hw.1);
            let dec = MaskDecoder::new(protos.view(), &lb, MaskMode::Default);
            let det = Detection {
                anchor: 0,
                class_id: 0,
                score: 0.9,
                xyxy,
            };
            let full = full_default(&protos, &coeffs, xyxy, in_hw, src_hw);
            match dec.instance(&det, &coeffs) {
                Some(inst) => {
                    assert_eq!(
                        inst.mask.to_full(src_hw.0, src_hw.1),
                        full,
                        "src {src_hw:?} box {xyxy:?}"
                    );
                }
                None => assert!(!full.iter().any(|&v| v), "src {src_hw:?}"),
            }
        }
    }

    #[test]
    fn windowed_retina_masks_equal_the_full_computation() {
        let protos = random_protos(3, 16, 16, 11);
        let coeffs = [0.9, -0.7, 0.6];
        for &(src_hw, xyxy) in &[
            ((40usize, 90usize), [5.3f32, 2.0, 80.7, 34.2]),
            ((64, 64), [0.0, 0.0, 64.0, 64.0]),
            ((100, 37), [1.0, 3.0, 30.0, 90.5]),
        ] {
            let in_hw = (64, 64);
            let lb = Letterbox::new(src_hw.0, src_hw.1, in_hw.0, in_hw.1);
            let dec = MaskDecoder::new(protos.view(), &lb, MaskMode::Retina);
            let Plan::Retina {
                up,
                up_hw,
                cut,
                down,
                ..
            } = &dec.plan
            else {
                unreachable!()
            };
            // full computation
            let l = logits_region(&coeffs, protos.view(), (0, 16), (0, 16));
            let upl = match up {
                Some((ay, ax)) => {
                    resample_region(l.view(), (0, 0), ay, ax, (0, up_hw.0), (0, up_hw.1))
                }
                None => l,
            };
            let (top, left, ch, cw) = *cut;
            let cutl = upl.slice(s![top..top + ch, left..left + cw]).to_owned();
            let vals = match down {
                Some((ay, ax)) => {
                    resample_region(cutl.view(), (0, 0), ay, ax, (0, src_hw.0), (0, src_hw.1))
                }
                None => cutl,
            };
            let bbox = lb.box_to_source(xyxy);
            let ry = box_span(bbox[1], bbox[3], src_hw.0);
            let rx = box_span(bbox[0], bbox[2], src_hw.1);
            let full = Array2::from_shape_fn(src_hw, |(r, c)| {
                vals[[r, c]] > 0.0 && (ry.0..ry.1).contains(&r) && (rx.0..rx.1).contains(&c)
            });
            let det = Detection {
                anchor: 0,
                class_id: 0,
                score: 0.9,
                xyxy,
            };
            match dec.instance(&det, &coeffs) {
                Some(inst) => assert_eq!(inst.mask.to_full(src_hw.0, src_hw.1), full),
                None => assert!(!full.iter().any(|&v| v)),
            }
        }
    }
}
