//! Gaussian smoothing, a re-implementation of `scipy.ndimage.gaussian_filter`.
//!
//! Written by hand (no crate was used) because we need scipy's exact
//! semantics: its kernel radius rule, its half-sample-symmetric `reflect`
//! boundary (applied periodically for kernels longer than the image), its
//! float64 accumulation order and the float32 rounding between the two 1-D
//! passes.

use ndarray::{Array2, ArrayView2};

use crate::PreprocessError;
use crate::util::{check_nonempty, par_rows, reflect_half, row_major};

/// `scipy.ndimage` default `truncate` (kernel half-width in sigmas).
pub const TRUNCATE: f64 = 4.0;

/// Largest allowed kernel radius in px (`int(4 * sigma + 0.5)`), i.e. sigma up
/// to about 25 000 px.
pub const MAX_GAUSSIAN_RADIUS: usize = 100_000;

/// Normalised 1-D kernel taps `w[0..=r]` (symmetric: `w[-j] == w[j]`), as
/// scipy's `_gaussian_kernel1d(sigma, 0, r)`:
/// `phi(x) = exp(-0.5 / sigma^2 * x^2)`, `w = phi / sum(phi)` over `x = -r..=r`.
fn kernel(sigma: f64, radius: usize) -> Vec<f64> {
    let c = -0.5 / (sigma * sigma);
    let phi: Vec<f64> = (0..=radius)
        .map(|j| (c * (j as f64 * j as f64)).exp())
        .collect();
    // sum over x = -r..=r in increasing x
    let mut sum = 0.0;
    for j in (1..=radius).rev() {
        sum += phi[j];
    }
    for p in &phi {
        sum += p;
    }
    phi.iter().map(|p| p / sum).collect()
}

/// Validates `sigma_px` and returns scipy's kernel radius `int(4 sigma + 0.5)`.
pub(crate) fn radius_for(sigma_px: f64) -> Result<usize, PreprocessError> {
    if !(sigma_px.is_finite() && sigma_px > 0.0) {
        return Err(PreprocessError::param(
            "sigma_px",
            sigma_px,
            "sigma must be finite and > 0 px",
        ));
    }
    let r = (TRUNCATE * sigma_px + 0.5).floor();
    if r > MAX_GAUSSIAN_RADIUS as f64 {
        return Err(PreprocessError::TooLarge {
            name: "gaussian kernel radius (px)",
            value: r as u64,
            max: MAX_GAUSSIAN_RADIUS as u64,
        });
    }
    Ok(r as usize)
}

/// Gaussian blur with standard deviation `sigma_px` (px, both axes).
///
/// Equals `scipy.ndimage.gaussian_filter(img, sigma_px, mode='reflect',
/// truncate=4.0)` for a float32 image:
///
/// * kernel radius `r = int(4 * sigma_px + 0.5)` px, taps
///   `w(x) = exp(-x² / (2 sigma_px²)) / Σ_{x'=-r..r} exp(-x'² / (2 sigma_px²))`;
/// * separable correlation, first along axis 0 (down each column) then along
///   axis 1 (along each row), each pass accumulated in float64 and rounded to
///   float32;
/// * boundary `reflect` = half-sample symmetric (`d c b a | a b c d | d c b a`),
///   repeated periodically when `r` exceeds the image size.
///
/// `r == 0` (sigma < 0.125 px) returns an unchanged copy, as scipy does.
/// NaN/inf pixels propagate to every output pixel of the `(2r+1) x (2r+1)`
/// square centred on them.
///
/// Errors: empty image; `sigma_px` NaN, infinite or <= 0; radius >
/// [`MAX_GAUSSIAN_RADIUS`].
pub fn gaussian(img: ArrayView2<'_, f32>, sigma_px: f64) -> Result<Array2<f32>, PreprocessError> {
    let (h, w) = check_nonempty(&img)?;
    let r = radius_for(sigma_px)?;
    let data = row_major(&img);
    if r == 0 {
        return Ok(par_rows(h, w, |y, row| {
            row.copy_from_slice(&data[y * w..(y + 1) * w])
        }));
    }
    let k = kernel(sigma_px, r);
    let ri = r as i64;

    // Pass 1: along axis 0 (vertical), float64 accumulation, float32 result.
    let tmp = par_rows(h, w, |y, row| {
        let yi = y as i64;
        let centre = &data[y * w..(y + 1) * w];
        let mut acc: Vec<f64> = centre.iter().map(|&v| v as f64 * k[0]).collect();
        for j in (1..=ri).rev() {
            let a = reflect_half(yi - j, h);
            let b = reflect_half(yi + j, h);
            let ra = &data[a * w..(a + 1) * w];
            let rb = &data[b * w..(b + 1) * w];
            let wj = k[j as usize];
            for ((s, &va), &vb) in acc.iter_mut().zip(ra).zip(rb) {
                *s += (va as f64 + vb as f64) * wj;
            }
        }
        for (o, s) in row.iter_mut().zip(acc) {
            *o = s as f32;
        }
    });
    let tmp_view = tmp.view();
    let tmp = row_major(&tmp_view);

    // Pass 2: along axis 1 (horizontal) on the float32 result of pass 1.
    Ok(par_rows(h, w, |y, row| {
        let src = &tmp[y * w..(y + 1) * w];
        // extended line: index x + r  <->  column x
        let line: Vec<f64> = (-ri..(w as i64 + ri))
            .map(|x| src[reflect_half(x, w)] as f64)
            .collect();
        // Same per-pixel summation order as scipy (centre, then j = r..1), but
        // looping over j outside so that the inner loop vectorises.
        let mut acc: Vec<f64> = line[r..r + w].iter().map(|&v| v * k[0]).collect();
        for j in (1..=r).rev() {
            let left = &line[r - j..r - j + w];
            let right = &line[r + j..r + j + w];
            let wj = k[j];
            for ((s, &a), &b) in acc.iter_mut().zip(left).zip(right) {
                *s += (a + b) * wj;
            }
        }
        for (o, s) in row.iter_mut().zip(acc) {
            *o = s as f32;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::{Array2, array};

    #[test]
    fn radius_rule_matches_scipy() {
        assert_eq!(radius_for(1.0).unwrap(), 4);
        assert_eq!(radius_for(0.1).unwrap(), 0);
        assert_eq!(radius_for(0.125).unwrap(), 1);
        assert_eq!(radius_for(2.4).unwrap(), 10);
    }

    #[test]
    fn kernel_sums_to_one_and_is_known() {
        let k = kernel(1.0, 4);
        let total: f64 = k[0] + 2.0 * k[1..].iter().sum::<f64>();
        assert!((total - 1.0).abs() < 1e-15);
        // scipy.ndimage._filters._gaussian_kernel1d(1.0, 0, 4)[4:] (centre, +1, +3)
        assert!((k[0] - 0.398_943_469_356_097_76).abs() < 1e-15);
        assert!((k[1] - 0.241_971_445_656_600_73).abs() < 1e-15);
        assert!((k[3] - 0.004_431_861_620_031_265_5).abs() < 1e-15);
    }

    #[test]
    fn constant_image_is_unchanged() {
        let a = Array2::<f32>::from_elem((5, 7), 3.25);
        let out = gaussian(a.view(), 3.0).unwrap();
        for &v in out.iter() {
            assert_abs_diff_eq!(v, 3.25, epsilon = 1e-6);
        }
    }

    #[test]
    fn impulse_response_1x1_and_small() {
        // 1x1: reflect boundary makes every neighbour the pixel itself.
        let a = array![[2.0f32]];
        assert_abs_diff_eq!(
            gaussian(a.view(), 10.0).unwrap()[[0, 0]],
            2.0,
            epsilon = 1e-6
        );
        // 1x3 impulse with sigma 1 (r = 4): value at the centre computed by hand
        // with the periodic half-sample reflection [.. 0 1 0 | 0 1 0 | 0 1 0 ..]:
        // the impulse appears at offsets 0, ±3 within ±4.
        let a = array![[0.0f32, 1.0, 0.0]];
        let out = gaussian(a.view(), 1.0).unwrap();
        let k = kernel(1.0, 4);
        let expected = k[0] + 2.0 * k[3];
        assert_abs_diff_eq!(out[[0, 1]] as f64, expected, epsilon = 1e-7);
    }

    #[test]
    fn tiny_sigma_is_identity_and_keeps_nan() {
        let a = array![[1.0f32, f32::NAN], [3.0, 4.0]];
        let out = gaussian(a.view(), 0.1).unwrap();
        assert_eq!(out[[0, 0]], 1.0);
        assert!(out[[0, 1]].is_nan());
        assert_eq!(out[[1, 1]], 4.0);
    }

    #[test]
    fn nan_propagates_within_radius() {
        let mut a = Array2::<f32>::zeros((1, 20));
        a[[0, 0]] = f32::NAN;
        let out = gaussian(a.view(), 1.0).unwrap(); // r = 4
        assert!(out[[0, 4]].is_nan());
        assert_eq!(out[[0, 5]], 0.0);
    }

    #[test]
    fn errors() {
        let a = array![[1.0f32]];
        for s in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                gaussian(a.view(), s),
                Err(PreprocessError::InvalidParameter {
                    name: "sigma_px",
                    ..
                })
            ));
        }
        assert!(matches!(
            gaussian(a.view(), 1e9),
            Err(PreprocessError::TooLarge { .. })
        ));
        assert!(matches!(
            gaussian(Array2::<f32>::zeros((0, 0)).view(), 1.0),
            Err(PreprocessError::EmptyImage { .. })
        ));
    }
}
