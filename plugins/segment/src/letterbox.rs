//! The input side of a YOLOv8/YOLO11-seg ONNX model, bit for bit as ultralytics 8.4.190 `predict` makes it,
//! and the way back from the model's input pixels to the source image.
//!
//! # What ultralytics does (static-shape ONNX model, input side S)
//!
//! `BasePredictor.pre_transform` builds `LetterBox(imgsz, auto=False, scale_fill=False, center=True,
//! scaleup=True, padding_value=114)`: `auto` (pad only to a multiple of the stride) needs a `pt` or dynamic
//! model, and `imgsz` is taken from the export metadata, so the input is always S x S. For a source of
//! `src_h` x `src_w` px (all quantities below in px, `round` is Python's, ties to even):
//!
//! * `r = min(S_h / src_h, S_w / src_w)` (f64);
//! * `new_w = max(round(src_w * r), 1)`, `new_h = max(round(src_h * r), 1)`;
//! * `top = round((S_h - new_h) / 2 - 0.1)`, `bottom = round((S_h - new_h) / 2 + 0.1)`, likewise
//!   `left` / `right`: an odd padding puts the extra pixel at the bottom / right;
//! * the image is resized to `new_w` x `new_h` by `cv2.resize(..., interpolation=cv2.INTER_LINEAR)` (skipped when
//!   the size is unchanged) and padded with 114;
//! * `preprocess` then turns BGR into RGB, HWC into CHW and computes `float32(pixel) / 255` (a division in
//!   float32 on the CPU). For the gray images of corrflow the three channels are identical.
//!
//! The way back is `ops.scale_boxes` (8.4.190): per-axis gains `gain_x = new_w / src_w`,
//! `gain_y = new_h / src_h`, pads `left`/`top` as above, then in float32 (the boxes are a float32 tensor):
//! `x = clip((x - left) / float32(gain_x), 0, src_w)`, `y = clip((y - top) / float32(gain_y), 0, src_h)`.
//! For masks, `ops.scale_masks` cuts `[top : top + new_h, left : left + new_w]` (with the same formulas
//! evaluated for the mask's own size) before interpolating to the source size.
//!
//! # Why the resize is hand-written
//!
//! No Rust crate reproduces OpenCV's `INTER_LINEAR` on 8-bit images bit for bit: OpenCV uses fixed-point
//! arithmetic with its own rounding (and that rounding is not the one of `INTER_LINEAR_EXACT` either). What
//! opencv-python 5.0.0 (the one of the training environment, checked on random and smooth images of many
//! sizes, up- and down-scaling, 1 x N, 2x, 4x) computes, and [`resize_linear_u8`] repeats:
//!
//! * per output column `dx` (and likewise per row): `f = float32((dx + 0.5) * (1 / (dst / src)) - 0.5)` with the
//!   scale in f64, `sx = floor(f)`, `f -= sx` in float32; columns only: `sx < 0` gives `sx = 0, f = 0`, and
//!   `sx >= src - 1` gives `sx = src - 1, f = 0`; weights `a0 = round_even((1 - f) * 2048)`,
//!   `a1 = round_even(f * 2048)` (11 fractional bits);
//! * horizontal pass, exact in i32: `H = S[sx] * a0 + S[sx + 1] * a1`, or `S[sx] * 2048` from the first column
//!   whose `sx + 1` falls outside the source;
//! * vertical pass between the source rows `clamp(sy)` and `clamp(sy + 1)` with weights `b0`, `b1`, in the
//!   16-bit SIMD formulation that OpenCV also uses for the scalar tail:
//!   `out = (((b0 * (H0 >> 4)) >> 16) + ((b1 * (H1 >> 4)) >> 16) + 2) >> 2`, which never leaves 0..=255.
//!
//! An exact 2x reduction (OpenCV switches to `INTER_AREA`, `(a + b + c + d + 2) >> 2`) gives the same numbers
//! through these formulas, as does an unchanged size (a copy). A 3-channel image made of one gray plane
//! replicated resizes to the same plane in every channel, so one plane is resized and replicated here.
//!
//! The reference data in `reference/letterbox/` come from the real cv2 and ultralytics; see
//! `reference/make_letterbox_reference.py`.
//!
//! Scope: this is ultralytics predicting on the CPU. On a CUDA device torch divides a tensor by a scalar as a
//! multiplication by the float32 reciprocal, so there `pixel / 255` and the box division can differ from
//! these values by one float32 ulp. Another OpenCV build (another version, or ARM NEON) may round the resize
//! differently; the reference script records the versions it was made with.

use ndarray::{Array2, ArrayView2, s};

/// The value ultralytics pads the letterbox with (all channels).
pub const PAD_VALUE: u8 = 114;

/// Fixed-point scale of OpenCV's resize weights: 11 fractional bits.
const COEF_SCALE: f32 = 2048.0;

/// An input buffer for the model that does not have the size of the image it should receive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LetterboxError {
    #[error(
        "model input buffer holds {got} floats, a 3 x {height} x {width} input needs {expected}"
    )]
    InputBufferSize {
        height: usize,
        width: usize,
        expected: usize,
        got: usize,
    },
}

/// Geometry of one letterbox: the scale, the resized size and the padding, as ultralytics computes them
/// (all sizes and offsets in px).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    /// Source image height.
    pub src_h: usize,
    /// Source image width.
    pub src_w: usize,
    /// Model input height (S).
    pub dst_h: usize,
    /// Model input width (S).
    pub dst_w: usize,
    /// Height of the resized image inside the input.
    pub new_h: usize,
    /// Width of the resized image inside the input.
    pub new_w: usize,
    /// Padding rows above the image.
    pub top: usize,
    /// Padding rows below the image.
    pub bottom: usize,
    /// Padding columns left of the image.
    pub left: usize,
    /// Padding columns right of the image.
    pub right: usize,
    /// `r = min(dst_h / src_h, dst_w / src_w)`: input px per source px before rounding the sizes.
    pub gain: f64,
    /// `new_w / src_w`, the x gain `scale_boxes` divides by.
    pub gain_x: f64,
    /// `new_h / src_h`, the y gain `scale_boxes` divides by.
    pub gain_y: f64,
}

/// Python's `round()` of a float: to the nearest integer, ties to even.
fn py_round(v: f64) -> f64 {
    v.round_ties_even()
}

/// `max(round(src * gain), 1)`, kept within `0..=limit` (ultralytics never exceeds it for a valid input).
fn resized_side(src: usize, gain: f64, limit: usize) -> usize {
    if src == 0 {
        return 0;
    }
    // `as usize` saturates, so a huge or NaN value cannot panic.
    (py_round(src as f64 * gain) as usize).max(1).min(limit)
}

/// `(round(pad / 2 - 0.1), round(pad / 2 + 0.1))` for a total padding of `pad` px.
fn split_padding(pad: usize) -> (usize, usize) {
    let half = pad as f64 / 2.0;
    (py_round(half - 0.1) as usize, py_round(half + 0.1) as usize)
}

impl Letterbox {
    /// The letterbox of a `src_h` x `src_w` image into a `dst_h` x `dst_w` model input, with ultralytics'
    /// formulas (see the module documentation). Degenerate sizes do not panic: an empty source gives an
    /// all-padding input (`new_h = new_w = 0`), an empty input a zero-sized one.
    pub fn new(src_h: usize, src_w: usize, dst_h: usize, dst_w: usize) -> Self {
        let gain = if src_h == 0 || src_w == 0 {
            0.0
        } else {
            (dst_h as f64 / src_h as f64).min(dst_w as f64 / src_w as f64)
        };
        let (new_h, new_w) = if src_h == 0 || src_w == 0 {
            (0, 0)
        } else {
            (
                resized_side(src_h, gain, dst_h),
                resized_side(src_w, gain, dst_w),
            )
        };
        let (top, bottom) = split_padding(dst_h - new_h);
        let (left, right) = split_padding(dst_w - new_w);
        let ratio = |new: usize, src: usize| {
            if src == 0 {
                0.0
            } else {
                new as f64 / src as f64
            }
        };
        Self {
            src_h,
            src_w,
            dst_h,
            dst_w,
            new_h,
            new_w,
            top,
            bottom,
            left,
            right,
            gain,
            gain_x: ratio(new_w, src_w),
            gain_y: ratio(new_h, src_h),
        }
    }

    /// The letterbox into a square `side` x `side` model input.
    pub fn square(src_h: usize, src_w: usize, side: usize) -> Self {
        Self::new(src_h, src_w, side, side)
    }

    /// ultralytics 8.4.190 `scale_boxes` for one xyxy box: model-input px to source px. Subtracts the padding,
    /// divides by the per-axis gain (float32, as torch on the CPU), clips to `[0, src_w] x [0, src_h]`.
    /// With an empty source the result is all zeros.
    pub fn box_to_source(&self, xyxy: [f32; 4]) -> [f32; 4] {
        let map = |v: f32, pad: usize, gain: f64, limit: usize| {
            let gain = gain as f32;
            if gain == 0.0 {
                return 0.0;
            }
            ((v - pad as f32) / gain).clamp(0.0, limit as f32)
        };
        [
            map(xyxy[0], self.left, self.gain_x, self.src_w),
            map(xyxy[1], self.top, self.gain_y, self.src_h),
            map(xyxy[2], self.left, self.gain_x, self.src_w),
            map(xyxy[3], self.top, self.gain_y, self.src_h),
        ]
    }

    /// The part of the `dst_h` x `dst_w` model input (or of a mask at that size) that is the resized image:
    /// `(top, left, height, width)` = `(top, left, new_h, new_w)`, the region `scale_masks` keeps.
    pub fn unpadded_region(&self) -> (usize, usize, usize, usize) {
        self.mask_crop(self.dst_h, self.dst_w)
    }

    /// The region `(top, left, height, width)` that ultralytics' `scale_masks` cuts out of a `mask_h` x
    /// `mask_w` mask of this letterboxed image before interpolating it to the source size (e.g. prototype
    /// masks at S/4: the pad is then recomputed at that resolution, `round(pad / 2 - 0.1)` again).
    /// A mask that already has the source size is kept whole, as in `scale_masks`.
    pub fn mask_crop(&self, mask_h: usize, mask_w: usize) -> (usize, usize, usize, usize) {
        if (mask_h, mask_w) == (self.src_h, self.src_w) || self.src_h == 0 || self.src_w == 0 {
            return (0, 0, mask_h.min(self.src_h), mask_w.min(self.src_w));
        }
        let gain = (mask_h as f64 / self.src_h as f64).min(mask_w as f64 / self.src_w as f64);
        let inner_h = resized_side(self.src_h, gain, mask_h);
        let inner_w = resized_side(self.src_w, gain, mask_w);
        let (top, _) = split_padding(mask_h - inner_h);
        let (left, _) = split_padding(mask_w - inner_w);
        // Python slicing clips the end to the mask size.
        let top = top.min(mask_h);
        let left = left.min(mask_w);
        (
            top,
            left,
            inner_h.min(mask_h - top),
            inner_w.min(mask_w - left),
        )
    }
}

/// Source index and the two 11-bit weights of each output position along one axis, as OpenCV computes them.
struct AxisWeights {
    /// `floor(f)`, possibly -1 for rows (clamped later) but clamped to the image for columns.
    ofs: Vec<isize>,
    weights: Vec<[i32; 2]>,
    /// First output column whose right neighbour falls outside the source (columns only).
    xmax: usize,
}

/// OpenCV's `saturate_cast<short>(float)`: `cvRound` (ties to even) then saturate.
fn to_coef(v: f32) -> i32 {
    (v.round_ties_even() as i32).clamp(i16::MIN as i32, i16::MAX as i32)
}

fn axis_weights(src: usize, dst: usize, clamp_columns: bool) -> AxisWeights {
    let scale = 1.0 / (dst as f64 / src as f64);
    let src_i = src as isize;
    let mut ofs = Vec::with_capacity(dst);
    let mut weights = Vec::with_capacity(dst);
    let mut xmax = dst;
    for d in 0..dst {
        let mut f = ((d as f64 + 0.5) * scale - 0.5) as f32;
        let mut s = f.floor() as isize;
        f -= s as f32;
        if clamp_columns {
            if s < 0 {
                f = 0.0;
                s = 0;
            }
            if s + 1 >= src_i {
                xmax = xmax.min(d);
                if s >= src_i - 1 {
                    f = 0.0;
                    s = src_i - 1;
                }
            }
        }
        ofs.push(s);
        weights.push([to_coef((1.0 - f) * COEF_SCALE), to_coef(f * COEF_SCALE)]);
    }
    AxisWeights { ofs, weights, xmax }
}

/// Horizontal pass of one source row into `out` (i32, weights scale 2048).
fn horizontal(row: &[u8], xw: &AxisWeights, out: &mut [i32]) {
    let last = row.len().saturating_sub(1);
    for (d, (o, (&s, w))) in out
        .iter_mut()
        .zip(xw.ofs.iter().zip(&xw.weights))
        .enumerate()
    {
        let s = (s.max(0) as usize).min(last);
        let p0 = row.get(s).copied().unwrap_or(0) as i32;
        *o = if d < xw.xmax {
            let p1 = row.get((s + 1).min(last)).copied().unwrap_or(0) as i32;
            p0 * w[0] + p1 * w[1]
        } else {
            p0 * COEF_SCALE as i32
        };
    }
}

/// `cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_LINEAR)` of a uint8 single-channel image, bit for
/// bit as opencv-python 5.0.0 (see the module documentation). Any memory layout of `img` is accepted. Where
/// cv2 would refuse (an empty source or target), the result is a zero-filled `out_h` x `out_w` array.
pub fn resize_linear_u8(img: ArrayView2<u8>, out_h: usize, out_w: usize) -> Array2<u8> {
    let (h, w) = img.dim();
    let mut out = Array2::<u8>::zeros((out_h, out_w));
    if h == 0 || w == 0 || out_h == 0 || out_w == 0 {
        return out;
    }
    if (h, w) == (out_h, out_w) {
        out.assign(&img);
        return out;
    }
    let xw = axis_weights(w, out_w, true);
    let yw = axis_weights(h, out_h, false);

    // The two horizontally resized source rows the current output row blends, with their row indices.
    let mut src_row = vec![0u8; w];
    let mut rows = [vec![0i32; out_w], vec![0i32; out_w]];
    let mut row_ids: [Option<usize>; 2] = [None, None];
    let mut fill = |r: usize, dst: &mut Vec<i32>| {
        for (d, &p) in src_row.iter_mut().zip(img.row(r).iter()) {
            *d = p;
        }
        horizontal(&src_row, &xw, dst);
    };

    let clamp_row = |r: isize| (r.max(0) as usize).min(h - 1);
    for ((mut out_row, &sy), b) in out.rows_mut().into_iter().zip(&yw.ofs).zip(&yw.weights) {
        let (r0, r1) = (clamp_row(sy), clamp_row(sy + 1));
        if row_ids[0] != Some(r0) {
            if row_ids[1] == Some(r0) {
                rows.swap(0, 1);
                row_ids.swap(0, 1);
            } else {
                fill(r0, &mut rows[0]);
                row_ids[0] = Some(r0);
            }
        }
        if row_ids[1] != Some(r1) {
            if r1 == r0 {
                let (first, second) = rows.split_at_mut(1);
                second[0].copy_from_slice(&first[0]);
            } else {
                fill(r1, &mut rows[1]);
            }
            row_ids[1] = Some(r1);
        }
        let (b0, b1) = (b[0], b[1]);
        for (o, (&h0, &h1)) in out_row.iter_mut().zip(rows[0].iter().zip(rows[1].iter())) {
            let v = (((b0 * (h0 >> 4)) >> 16) + ((b1 * (h1 >> 4)) >> 16) + 2) >> 2;
            *o = v.clamp(0, 255) as u8;
        }
    }
    out
}

/// The uint8 gray image resized exactly as `cv2.resize` `INTER_LINEAR` to `new_h` x `new_w` and padded with
/// 114 into `dst_h` x `dst_w`: one channel of ultralytics' letterboxed input. `img` should be the
/// `src_h` x `src_w` image `lb` was made for; whatever its size, it is resized to `new_h` x `new_w` (an empty
/// image leaves the padding only).
pub fn letterbox_gray(img: ArrayView2<u8>, lb: &Letterbox) -> Array2<u8> {
    let mut out = Array2::from_elem((lb.dst_h, lb.dst_w), PAD_VALUE);
    if img.is_empty() || lb.new_h == 0 || lb.new_w == 0 {
        return out;
    }
    let resized = resize_linear_u8(img, lb.new_h, lb.new_w);
    // Defensive against a hand-made inconsistent `Letterbox`: never write outside the input.
    let top = lb.top.min(lb.dst_h);
    let left = lb.left.min(lb.dst_w);
    let h = lb.new_h.min(lb.dst_h - top);
    let w = lb.new_w.min(lb.dst_w - left);
    out.slice_mut(s![top..top + h, left..left + w])
        .assign(&resized.slice(s![..h, ..w]));
    out
}

/// Write one image of the model input: `out` is the `[3, H, W]` float32 block of this image in an NCHW
/// tensor (row-major), each channel `pixel as f32 / 255.0` (R = G = B for a gray image), exactly as
/// ultralytics' `preprocess` on the CPU. The caller owns the buffer, so a batch or tile loop allocates
/// nothing; an `ndarray` tensor gives it with `as_slice_mut()` (or `slice_mut(s![i, .., .., ..])`).
pub fn fill_input(letterboxed: ArrayView2<u8>, out: &mut [f32]) -> Result<(), LetterboxError> {
    let (height, width) = letterboxed.dim();
    let plane = height * width;
    if out.len() != 3 * plane {
        return Err(LetterboxError::InputBufferSize {
            height,
            width,
            expected: 3 * plane,
            got: out.len(),
        });
    }
    let values: [f32; 256] = std::array::from_fn(|p| p as f32 / 255.0);
    let (first, rest) = out.split_at_mut(plane);
    for (o, &p) in first.iter_mut().zip(letterboxed.iter()) {
        *o = values[p as usize];
    }
    let (second, third) = rest.split_at_mut(plane);
    second.copy_from_slice(first);
    third.copy_from_slice(first);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::path::PathBuf;

    fn reference_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("reference")
            .join("letterbox")
    }

    fn index() -> Value {
        let path = reference_dir().join("index.json");
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("index.json parses")
    }

    fn read_bin(name: &str, h: usize, w: usize) -> Array2<u8> {
        let path = reference_dir().join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Array2::from_shape_vec((h, w), bytes).expect("reference size")
    }

    fn uint(v: &Value, key: &str) -> usize {
        v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}")) as usize
    }

    fn float(v: &Value) -> f64 {
        v.as_f64()
            .unwrap_or_else(|| panic!("number expected, got {v}"))
    }

    /// splitmix64, as in make_letterbox_reference.py.
    fn splitmix64(z: u64) -> u64 {
        let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The generated test images of make_letterbox_reference.py (`make_image`), bit for bit.
    fn reference_image(kind: &str, seed: u64, h: usize, w: usize) -> Array2<u8> {
        let (px, py) = (3 + seed % 37, 5 + (seed * 7) % 53);
        let (ox, oy) = ((seed * 13) % (2 * px), (seed * 29) % (2 * py));
        let a = 64 + seed % 128;
        Array2::from_shape_fn((h, w), |(y, x)| {
            let hash = splitmix64((seed << 32) ^ (y as u64 * w as u64 + x as u64));
            match kind {
                "noise" => (hash >> 56) as u8,
                "binary" => ((hash >> 63) * 255) as u8,
                "smooth" => {
                    let tx = (x as u64 + ox) % (2 * px);
                    let tx = tx.min(2 * px - tx) * 255 / px;
                    let ty = (y as u64 + oy) % (2 * py);
                    let ty = ty.min(2 * py - ty) * 255 / py;
                    ((tx * a + ty * (256 - a)) / 256 + (hash >> 61)).min(255) as u8
                }
                other => panic!("unknown image kind {other}"),
            }
        })
    }

    fn case_image(c: &Value) -> Array2<u8> {
        let kind = c["kind"].as_str().expect("kind");
        reference_image(kind, uint(c, "seed") as u64, uint(c, "h"), uint(c, "w"))
    }

    fn assert_same_pixels(got: &Array2<u8>, want: &Array2<u8>, what: &str) {
        assert_eq!(got.dim(), want.dim(), "{what}: shape");
        let bad: Vec<_> = got
            .indexed_iter()
            .filter(|&(i, v)| want[i] != *v)
            .take(5)
            .collect();
        let count = got.iter().zip(want.iter()).filter(|(a, b)| a != b).count();
        assert!(
            count == 0,
            "{what}: {count} of {} pixels differ, first (pos, ours): {bad:?}, reference there: {:?}",
            got.len(),
            bad.iter().map(|(i, _)| want[*i]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn resize_matches_cv2_inter_linear() {
        let index = index();
        let cases = index["resize"].as_array().expect("resize cases");
        assert!(cases.len() >= 50);
        for c in cases {
            let img = case_image(c);
            let (oh, ow) = (uint(c, "oh"), uint(c, "ow"));
            let want = read_bin(c["file"].as_str().expect("file"), oh, ow);
            let got = resize_linear_u8(img.view(), oh, ow);
            assert_same_pixels(&got, &want, &format!("resize {c}"));
            // Memory layout does not matter: a transposed view resized then transposed back.
            let t = img.t().to_owned();
            let got_t = resize_linear_u8(t.t(), oh, ow);
            assert_same_pixels(&got_t, &want, &format!("resize of a strided view {c}"));
        }
    }

    #[test]
    fn letterbox_matches_ultralytics_preprocess() {
        let index = index();
        let values: Vec<f32> = index["input_values"]
            .as_array()
            .expect("lut")
            .iter()
            .map(|v| float(v) as f32)
            .collect();
        let cases = index["letterbox"].as_array().expect("letterbox cases");
        assert!(
            cases.iter().any(|c| uint(c, "s") == 320) && cases.iter().any(|c| uint(c, "s") == 64)
        );
        for c in cases {
            let s = uint(c, "s");
            let img = case_image(c);
            let lb = Letterbox::square(uint(c, "h"), uint(c, "w"), s);
            assert_eq!(
                (lb.new_h, lb.new_w, lb.top, lb.left),
                (
                    uint(c, "new_h"),
                    uint(c, "new_w"),
                    uint(c, "top"),
                    uint(c, "left")
                ),
                "geometry {c}"
            );
            let want = read_bin(c["file"].as_str().expect("file"), s, s);
            let got = letterbox_gray(img.view(), &lb);
            assert_same_pixels(&got, &want, &format!("letterbox {c}"));

            let mut input = vec![f32::NAN; 3 * s * s];
            fill_input(got.view(), &mut input).expect("buffer size");
            for (k, channel) in input.chunks_exact(s * s).enumerate() {
                for (v, p) in channel.iter().zip(want.iter()) {
                    assert_eq!(
                        v.to_bits(),
                        values[*p as usize].to_bits(),
                        "channel {k} of {c}"
                    );
                }
            }
        }
    }

    #[test]
    fn geometry_matches_letterbox_get_params() {
        let index = index();
        let cases = index["geometry"].as_array().expect("geometry cases");
        assert!(cases.len() > 300);
        for c in cases {
            let lb = Letterbox::new(
                uint(c, "h"),
                uint(c, "w"),
                uint(c, "dst_h"),
                uint(c, "dst_w"),
            );
            let want = (
                uint(c, "new_h"),
                uint(c, "new_w"),
                uint(c, "top"),
                uint(c, "bottom"),
                uint(c, "left"),
                uint(c, "right"),
            );
            assert_eq!(
                (lb.new_h, lb.new_w, lb.top, lb.bottom, lb.left, lb.right),
                want,
                "{c}"
            );
            let ratio: f64 = c["ratio"]
                .as_str()
                .and_then(|r| r.parse().ok())
                .expect("ratio");
            assert_eq!(lb.gain, ratio, "{c}");
            assert_eq!(lb.top + lb.new_h + lb.bottom, lb.dst_h);
            assert_eq!(lb.left + lb.new_w + lb.right, lb.dst_w);
            assert_eq!(lb.unpadded_region(), (lb.top, lb.left, lb.new_h, lb.new_w));
        }
    }

    #[test]
    fn boxes_match_scale_boxes() {
        let index = index();
        let cases = index["boxes"].as_array().expect("box cases");
        let mut n = 0;
        for c in cases {
            let lb = Letterbox::square(uint(c, "h"), uint(c, "w"), uint(c, "s"));
            let boxes = c["boxes"].as_array().expect("boxes");
            let expected = c["expected"].as_array().expect("expected");
            for (b, e) in boxes.iter().zip(expected) {
                let to4 = |v: &Value| -> [f32; 4] {
                    let a = v.as_array().expect("box");
                    std::array::from_fn(|i| float(&a[i]) as f32)
                };
                let (b, e) = (to4(b), to4(e));
                let got = lb.box_to_source(b);
                for i in 0..4 {
                    assert!(
                        (got[i] - e[i]).abs() <= 1e-4,
                        "{b:?} -> {got:?}, ultralytics {e:?} ({c})"
                    );
                    // float32 arithmetic as torch on the CPU: even the last bit agrees.
                    assert_eq!(
                        got[i].to_bits(),
                        e[i].to_bits(),
                        "{b:?} -> {got:?}, ultralytics {e:?}"
                    );
                }
                n += 1;
            }
        }
        assert!(n >= 100);
    }

    #[test]
    fn mask_crop_matches_scale_masks() {
        let index = index();
        let cases = index["mask_crop"].as_array().expect("mask cases");
        assert!(cases.len() >= 40);
        for c in cases {
            let lb = Letterbox::square(uint(c, "h"), uint(c, "w"), 640);
            let got = lb.mask_crop(uint(c, "mask_h"), uint(c, "mask_w"));
            let want = (
                uint(c, "top"),
                uint(c, "left"),
                uint(c, "crop_h"),
                uint(c, "crop_w"),
            );
            assert_eq!(got, want, "{c}");
        }
    }

    #[test]
    fn input_values_match_preprocess() {
        let index = index();
        let values = index["input_values"].as_array().expect("lut");
        assert_eq!(values.len(), 256);
        let img = Array2::from_shape_fn((16, 16), |(y, x)| (y * 16 + x) as u8);
        let mut input = vec![0.0f32; 3 * 256];
        fill_input(img.view(), &mut input).expect("buffer size");
        for (i, v) in input.iter().enumerate() {
            assert_eq!(
                v.to_bits(),
                (float(&values[i % 256]) as f32).to_bits(),
                "value {}",
                i % 256
            );
        }
        let mut short = vec![0.0f32; 3 * 256 - 1];
        assert_eq!(
            fill_input(img.view(), &mut short),
            Err(LetterboxError::InputBufferSize {
                height: 16,
                width: 16,
                expected: 768,
                got: 767
            })
        );
    }

    #[test]
    fn odd_sizes_do_not_panic() {
        let img = reference_image("noise", 9, 1, 37);
        for (oh, ow) in [
            (0, 0),
            (0, 5),
            (5, 0),
            (1, 1),
            (1, 37),
            (1, 3000),
            (640, 640),
            (3, 1),
        ] {
            let out = resize_linear_u8(img.view(), oh, ow);
            assert_eq!(out.dim(), (oh, ow));
        }
        let empty = Array2::<u8>::zeros((0, 7));
        assert_eq!(
            resize_linear_u8(empty.view(), 4, 4),
            Array2::<u8>::zeros((4, 4))
        );

        // A constant image stays constant whatever the scale (weights sum to 2048 on both axes).
        let flat = Array2::from_elem((13, 1), 200u8);
        for (oh, ow) in [(1, 1), (640, 3), (7, 640), (26, 2)] {
            assert!(
                resize_linear_u8(flat.view(), oh, ow)
                    .iter()
                    .all(|&v| v == 200)
            );
        }

        // S larger than the image, thin images, empty source, empty input.
        for (h, w, s) in [
            (1, 1, 320),
            (1, 5000, 64),
            (5000, 1, 64),
            (3, 2, 640),
            (0, 10, 64),
            (10, 0, 64),
            (10, 10, 0),
        ] {
            let lb = Letterbox::square(h, w, s);
            assert_eq!(lb.top + lb.new_h + lb.bottom, s, "{lb:?}");
            assert_eq!(lb.left + lb.new_w + lb.right, s, "{lb:?}");
            let img = reference_image("smooth", 4, h, w);
            let out = letterbox_gray(img.view(), &lb);
            assert_eq!(out.dim(), (s, s));
            let back = lb.box_to_source([0.0, 0.0, s as f32, s as f32]);
            assert!(back.iter().all(|v| v.is_finite()), "{back:?}");
            let want = if s == 0 || h == 0 || w == 0 {
                [0.0; 4]
            } else {
                [0.0, 0.0, w as f32, h as f32]
            };
            assert_eq!(back, want, "{lb:?}");
            let (t, l, rh, rw) = lb.unpadded_region();
            assert!(t + rh <= s && l + rw <= s);
            for m in [0, 1, 16, 80] {
                let (t, l, rh, rw) = lb.mask_crop(m, m);
                assert!(t + rh <= m && l + rw <= m, "{lb:?} mask {m}");
            }
            let mut input = vec![0.0; 3 * s * s];
            fill_input(out.view(), &mut input).expect("buffer size");
        }
        // A source of the wrong size for the letterbox is still resized into the unpadded region.
        let lb = Letterbox::square(100, 50, 64);
        let other = reference_image("noise", 2, 7, 9);
        let out = letterbox_gray(other.view(), &lb);
        assert_eq!(out.dim(), (64, 64));
        // Hand-made inconsistent geometry does not write outside the input.
        let bad = Letterbox {
            top: 60,
            left: 70,
            ..lb
        };
        assert_eq!(letterbox_gray(other.view(), &bad).dim(), (64, 64));
    }

    #[test]
    fn padding_is_114_and_image_is_centred() {
        let lb = Letterbox::square(100, 60, 320);
        assert_eq!(
            (lb.new_h, lb.new_w, lb.top, lb.left, lb.right),
            (320, 192, 0, 64, 64)
        );
        let lb = Letterbox::square(1, 3000, 320);
        assert_eq!((lb.new_h, lb.new_w, lb.top, lb.bottom), (1, 320, 159, 160));
        let img = Array2::from_elem((1, 3000), 7u8);
        let out = letterbox_gray(img.view(), &lb);
        assert!(out.row(159).iter().all(|&v| v == 7));
        assert_eq!(out.iter().filter(|&&v| v == PAD_VALUE).count(), 319 * 320);
    }
}
