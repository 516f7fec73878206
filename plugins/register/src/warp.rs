//! Resampling an image through a 3×3 pixel transform.
//!
//! Convention (as `corrflow_types::Transform2D`): x = column, y = row, pixel centres at integer
//! coordinates; `matrix` maps a source pixel (x, y, 1) to a target pixel (X/W, Y/W).
//! `warp` fills each target pixel with the bilinear interpolation of the source at
//! matrix⁻¹ · (X, Y, 1); target pixels whose source point lies outside the source image
//! (beyond the outermost pixel centres) are NaN.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

/// A 3×3 row-major matrix.
pub type M3 = [[f64; 3]; 3];

/// Inverse of a 3×3 matrix, or `None` when it is singular (|det| < 1e-300).
pub fn invert(m: &M3) -> Option<M3> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if !det.is_finite() || det.abs() < 1e-300 {
        return None;
    }
    let c =
        |r0: usize, c0: usize, r1: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    Some([
        [
            c(1, 1, 2, 2) / det,
            -c(0, 1, 2, 2) / det,
            c(0, 1, 1, 2) / det,
        ],
        [
            -c(1, 0, 2, 2) / det,
            c(0, 0, 2, 2) / det,
            -c(0, 0, 1, 2) / det,
        ],
        [
            c(1, 0, 2, 1) / det,
            -c(0, 0, 2, 1) / det,
            c(0, 0, 1, 1) / det,
        ],
    ])
}

/// Apply a 3×3 matrix to a point (x, y): (X/W, Y/W).
pub fn apply(m: &M3, x: f64, y: f64) -> (f64, f64) {
    let w = m[2][0] * x + m[2][1] * y + m[2][2];
    (
        (m[0][0] * x + m[0][1] * y + m[0][2]) / w,
        (m[1][0] * x + m[1][1] * y + m[1][2]) / w,
    )
}

/// Bilinear sample of `img` at (x, y) (pixel centres at integers); NaN outside
/// [0, w − 1] × [0, h − 1].
pub fn sample(img: ArrayView2<'_, f32>, x: f64, y: f64) -> f32 {
    let (h, w) = img.dim();
    if !(x >= 0.0 && y >= 0.0 && x <= (w - 1) as f64 && y <= (h - 1) as f64) {
        return f32::NAN;
    }
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let top = img[[y0, x0]] * (1.0 - fx) + img[[y0, x1]] * fx;
    let bottom = img[[y1, x0]] * (1.0 - fx) + img[[y1, x1]] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// `src` resampled onto a (height, width) target grid through `src_to_dst`; `None` when the
/// matrix is singular.
pub fn warp(
    src: ArrayView2<'_, f32>,
    src_to_dst: &M3,
    (height, width): (usize, usize),
) -> Option<Array2<f32>> {
    let inv = invert(src_to_dst)?;
    let mut data = vec![f32::NAN; height * width];
    if !src.is_empty() && width > 0 {
        data.par_chunks_mut(width).enumerate().for_each(|(r, row)| {
            for (c, v) in row.iter_mut().enumerate() {
                let (x, y) = apply(&inv, c as f64, r as f64);
                *v = sample(src, x, y);
            }
        });
    }
    let out = Array2::from_shape_vec((height, width), data).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn inverse_of_a_similarity() {
        let (a, b) = (0.8f64 * 0.5f64.cos(), 0.8f64 * 0.5f64.sin());
        let m = [[a, -b, 3.0], [b, a, -7.0], [0.0, 0.0, 1.0]];
        let inv = invert(&m).unwrap();
        let (x, y) = apply(&m, 12.5, -4.0);
        let (u, v) = apply(&inv, x, y);
        assert!((u - 12.5).abs() < 1e-12 && (v + 4.0).abs() < 1e-12);
        assert!(invert(&[[1.0, 2.0, 0.0], [2.0, 4.0, 0.0], [0.0, 0.0, 1.0]]).is_none());
    }

    #[test]
    fn bilinear_sampling_and_outside() {
        let img = array![[0.0f32, 10.0], [20.0, 30.0]];
        assert_eq!(sample(img.view(), 0.5, 0.5), 15.0);
        assert_eq!(sample(img.view(), 1.0, 0.0), 10.0);
        assert!(sample(img.view(), 1.01, 0.0).is_nan());
        assert!(sample(img.view(), -0.01, 0.0).is_nan());
    }

    #[test]
    fn warp_by_a_shift_moves_pixels() {
        let img = Array2::from_shape_fn((4, 5), |(r, c)| (r * 10 + c) as f32);
        // target = source + (1, 2): target pixel (x, y) shows source (x − 1, y − 2)
        let m = [[1.0, 0.0, 1.0], [0.0, 1.0, 2.0], [0.0, 0.0, 1.0]];
        let out = warp(img.view(), &m, (4, 5)).unwrap();
        assert_eq!(out[[2, 1]], 0.0);
        assert_eq!(out[[3, 4]], 13.0);
        assert!(out[[1, 1]].is_nan() && out[[2, 0]].is_nan());
    }
}
