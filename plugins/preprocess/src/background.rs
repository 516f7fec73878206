//! Background (illumination / charging gradient) flattening.

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::PreprocessError;
use crate::gaussian::gaussian;
use crate::util::{check_nonempty, par_rows, row_major};

/// How the smoothed background `B` is removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BackgroundMode {
    /// Additive background: `out = x - B + mean(B)`.
    Subtract,
    /// Multiplicative background (shading, detector gain): `out = x / B * mean(B)`.
    /// Needs a strictly positive background.
    #[default]
    Divide,
}

/// Mean of the finite values (float64 accumulation, row sums then a sum of
/// the row sums, so the result is deterministic), `None` if there is none.
fn finite_mean(a: &Array2<f32>) -> Option<f64> {
    let per_row: Vec<(f64, usize)> = a
        .axis_iter(Axis(0))
        .into_par_iter()
        .map(|row| {
            row.iter()
                .filter(|v| v.is_finite())
                .fold((0.0f64, 0usize), |(s, n), &v| (s + v as f64, n + 1))
        })
        .collect();
    let (s, n) = per_row
        .into_iter()
        .fold((0.0, 0usize), |(s, n), (rs, rn)| (s + rs, n + rn));
    (n > 0).then(|| s / n as f64)
}

/// Flattens a smooth background while preserving the mean intensity level.
///
/// The background is `B = gaussian(img, sigma_px)` (see [`gaussian`]; `sigma_px`
/// in px, scipy `gaussian_filter`, `mode='reflect'`, `truncate=4`) and
/// `m = mean(B)` over its finite pixels (float64 mean rounded to float32).
/// Per pixel, in float32 arithmetic:
///
/// * [`BackgroundMode::Subtract`]: `out = (x - B) + m` (image units);
/// * [`BackgroundMode::Divide`]:   `out = (x / B) * m` (image units).
///
/// Use a `sigma_px` well above the size of the structures to keep (e.g. a few
/// cell diameters).
///
/// NaN/inf pixels propagate through `B` to their neighbourhood (as in
/// [`gaussian`]); they are left out of `m`.
///
/// Errors: empty image; invalid `sigma_px` (see [`gaussian`]); no finite
/// background pixel; in `Divide` mode, any finite `B <= 0`
/// ([`PreprocessError::NonPositiveBackground`]) — no epsilon is added, shift
/// the image to positive values or use `Subtract`.
pub fn flatten_background(
    img: ArrayView2<'_, f32>,
    sigma_px: f64,
    mode: BackgroundMode,
) -> Result<Array2<f32>, PreprocessError> {
    let (h, w) = check_nonempty(&img)?;
    let bg = gaussian(img, sigma_px)?;
    let m = finite_mean(&bg).ok_or(PreprocessError::NoFinitePixels {
        op: "flatten_background",
    })? as f32;
    if mode == BackgroundMode::Divide {
        let min = bg
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .fold(f32::INFINITY, f32::min);
        if min <= 0.0 {
            return Err(PreprocessError::NonPositiveBackground { min });
        }
    }
    let data = row_major(&img);
    let bgv = bg.view();
    let bdata = row_major(&bgv);
    Ok(par_rows(h, w, |y, row| {
        let xs = &data[y * w..(y + 1) * w];
        let bs = &bdata[y * w..(y + 1) * w];
        for ((o, &x), &b) in row.iter_mut().zip(xs).zip(bs) {
            *o = match mode {
                BackgroundMode::Subtract => (x - b) + m,
                BackgroundMode::Divide => (x / b) * m,
            };
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn constant_image_is_unchanged_both_modes() {
        let a = Array2::<f32>::from_elem((4, 6), 7.5);
        for mode in [BackgroundMode::Subtract, BackgroundMode::Divide] {
            let out = flatten_background(a.view(), 2.0, mode).unwrap();
            assert!(out.iter().all(|&v| (v - 7.5).abs() < 1e-5), "{mode:?}");
        }
    }

    #[test]
    fn one_pixel_image() {
        let a = array![[3.0f32]];
        for mode in [BackgroundMode::Subtract, BackgroundMode::Divide] {
            assert_eq!(
                flatten_background(a.view(), 5.0, mode).unwrap(),
                array![[3.0f32]]
            );
        }
    }

    #[test]
    fn tiny_sigma_background_is_image() {
        // sigma < 0.125 px -> B == img, so subtract gives mean(img) everywhere
        // and divide gives mean(img) everywhere.
        let a = array![[1.0f32, 3.0], [5.0, 7.0]];
        let s = flatten_background(a.view(), 0.1, BackgroundMode::Subtract).unwrap();
        assert_eq!(s, Array2::from_elem((2, 2), 4.0f32));
        let d = flatten_background(a.view(), 0.1, BackgroundMode::Divide).unwrap();
        assert_eq!(d, Array2::from_elem((2, 2), 4.0f32));
    }

    #[test]
    fn divide_rejects_non_positive_background() {
        let a = array![[-1.0f32, 3.0], [5.0, 7.0]];
        assert_eq!(
            flatten_background(a.view(), 0.1, BackgroundMode::Divide),
            Err(PreprocessError::NonPositiveBackground { min: -1.0 })
        );
        // subtract is fine
        assert!(flatten_background(a.view(), 0.1, BackgroundMode::Subtract).is_ok());
    }

    #[test]
    fn nan_excluded_from_mean() {
        let a = array![[f32::NAN, 2.0, 4.0]];
        let out = flatten_background(a.view(), 0.1, BackgroundMode::Subtract).unwrap();
        assert!(out[[0, 0]].is_nan());
        assert_eq!(out[[0, 1]], 3.0);
        assert_eq!(
            flatten_background(array![[f32::NAN]].view(), 1.0, BackgroundMode::Subtract),
            Err(PreprocessError::NoFinitePixels {
                op: "flatten_background"
            })
        );
    }

    #[test]
    fn errors() {
        let a = array![[1.0f32]];
        assert!(matches!(
            flatten_background(a.view(), 0.0, BackgroundMode::Divide),
            Err(PreprocessError::InvalidParameter {
                name: "sigma_px",
                ..
            })
        ));
        assert!(matches!(
            flatten_background(
                Array2::<f32>::zeros((3, 0)).view(),
                1.0,
                BackgroundMode::Divide
            ),
            Err(PreprocessError::EmptyImage { .. })
        ));
    }
}
