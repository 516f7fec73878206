//! Point-wise intensity operations: percentile normalisation and inversion.

use ndarray::{Array2, ArrayView2};

use crate::PreprocessError;
use crate::util::{check_nonempty, finite_min_max, par_rows, row_major};

fn check_pct(name: &'static str, pct: f64) -> Result<(), PreprocessError> {
    if pct.is_finite() && (0.0..=100.0).contains(&pct) {
        Ok(())
    } else {
        Err(PreprocessError::param(
            name,
            pct,
            "percentile must be within 0..=100",
        ))
    }
}

/// The `pct`-th percentile (in percent, 0..=100) of `values`, which must be
/// non-empty and finite; `values` is reordered.
///
/// Bit-for-bit the computation of `numpy.percentile(a, pct)` (default
/// `method='linear'`, Hyndman & Fan type 7) for a float32 array and a Python
/// float `pct`: virtual index `v = (n - 1) * (pct / 100)` (float64),
/// `i = floor(v)`, `g = v - i`, and with `a = x[i]`, `b = x[i + 1]` (sorted),
/// `a + (b - a) * g` if `g < 0.5`, else `b - (b - a) * (1 - g)`, evaluated in
/// float32 like numpy's `_lerp`.
fn percentile_of(values: &mut [f32], pct: f64) -> f32 {
    let n = values.len();
    let q = pct / 100.0;
    let virtual_index = (n - 1) as f64 * q;
    let prev_f = virtual_index.floor();
    let (prev, next, gamma) = if virtual_index >= (n - 1) as f64 {
        (n - 1, n - 1, virtual_index - prev_f)
    } else {
        let p = prev_f as usize;
        (p, p + 1, virtual_index - prev_f)
    };
    let (_, a, rest) = values.select_nth_unstable_by(prev, f32::total_cmp);
    let a = *a;
    let b = if next == prev {
        a
    } else {
        // The (prev+1)-th smallest is the minimum of the upper partition.
        rest.iter().copied().fold(f32::INFINITY, f32::min)
    };
    let diff = b - a;
    if gamma >= 0.5 {
        b - diff * ((1.0 - gamma) as f32)
    } else {
        a + diff * (gamma as f32)
    }
}

/// Percentile of the finite pixels of `img`, in image units.
///
/// `pct` is in percent (0..=100). Computed exactly like
/// `numpy.percentile(img, pct)` (linear interpolation between order
/// statistics, `method='linear'`), over the finite pixels only: NaN and ±inf
/// pixels are ignored (like `numpy.nanpercentile` for NaN), so the result
/// equals `numpy.percentile` whenever all pixels are finite.
///
/// Errors: empty image, `pct` outside 0..=100 or NaN, no finite pixel.
pub fn percentile(img: ArrayView2<'_, f32>, pct: f64) -> Result<f32, PreprocessError> {
    check_nonempty(&img)?;
    check_pct("pct", pct)?;
    let mut finite: Vec<f32> = img.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Err(PreprocessError::NoFinitePixels { op: "percentile" });
    }
    Ok(percentile_of(&mut finite, pct))
}

/// Percentile contrast stretch to [0, 1] (ratio, dimensionless output).
///
/// `p_lo`, `p_hi` = [`percentile`]s `low_pct`, `high_pct` (in percent) of the
/// finite pixels (numpy.percentile, linear interpolation), then per pixel
/// (float32 arithmetic, as numpy does for a float32 image):
///
/// `out = clip((x - p_lo) / (p_hi - p_lo), 0, 1)`
///
/// * If `p_hi == p_lo` (e.g. a constant image) every finite pixel becomes 0.
/// * NaN pixels stay NaN; `+inf` becomes 1 and `-inf` becomes 0.
///
/// Errors: empty image; percentiles NaN or outside 0..=100; `low_pct >= high_pct`;
/// no finite pixel.
pub fn percentile_normalize(
    img: ArrayView2<'_, f32>,
    low_pct: f64,
    high_pct: f64,
) -> Result<Array2<f32>, PreprocessError> {
    let (h, w) = check_nonempty(&img)?;
    check_pct("low_pct", low_pct)?;
    check_pct("high_pct", high_pct)?;
    if low_pct >= high_pct {
        return Err(PreprocessError::param(
            "low_pct",
            low_pct,
            format!("must be < high_pct ({high_pct})"),
        ));
    }
    let mut finite: Vec<f32> = img.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.is_empty() {
        return Err(PreprocessError::NoFinitePixels {
            op: "percentile_normalize",
        });
    }
    let lo = percentile_of(&mut finite, low_pct);
    let hi = percentile_of(&mut finite, high_pct);
    drop(finite);
    let data = row_major(&img);
    let range = hi - lo;
    Ok(par_rows(h, w, |y, row| {
        let src = &data[y * w..(y + 1) * w];
        for (o, &x) in row.iter_mut().zip(src) {
            *o = if range == 0.0 {
                if x.is_nan() { f32::NAN } else { 0.0 }
            } else {
                // f32::clamp keeps NaN as NaN.
                ((x - lo) / range).clamp(0.0, 1.0)
            };
        }
    }))
}

/// Intensity inversion: `out = (min + max) - x` (image units), with `min` and
/// `max` taken over the finite pixels (float32 arithmetic). The value range is
/// preserved: `min` maps to `max` and vice versa.
///
/// NaN pixels stay NaN; `±inf` become `∓inf`.
///
/// Errors: empty image; no finite pixel.
pub fn invert(img: ArrayView2<'_, f32>) -> Result<Array2<f32>, PreprocessError> {
    let (h, w) = check_nonempty(&img)?;
    let data = row_major(&img);
    let (lo, hi) = finite_min_max(&data).ok_or(PreprocessError::NoFinitePixels { op: "invert" })?;
    let s = lo + hi;
    Ok(par_rows(h, w, |y, row| {
        for (o, &x) in row.iter_mut().zip(&data[y * w..(y + 1) * w]) {
            *o = s - x;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn percentile_matches_numpy_linear() {
        // np.percentile([1, 2, 3, 4], 50) == 2.5 ; 10 -> 1.3 ; 0 -> 1 ; 100 -> 4
        let a = array![[4.0f32, 1.0], [3.0, 2.0]];
        assert_eq!(percentile(a.view(), 50.0).unwrap(), 2.5);
        assert!((percentile(a.view(), 10.0).unwrap() - 1.3).abs() < 1e-6);
        assert_eq!(percentile(a.view(), 0.0).unwrap(), 1.0);
        assert_eq!(percentile(a.view(), 100.0).unwrap(), 4.0);
        // NaN ignored
        let b = array![[f32::NAN, 1.0, 2.0, 3.0]];
        assert_eq!(percentile(b.view(), 50.0).unwrap(), 2.0);
    }

    #[test]
    fn normalize_values() {
        let a = array![[0.0f32, 1.0, 2.0, 3.0, 4.0]];
        let out = percentile_normalize(a.view(), 25.0, 75.0).unwrap();
        // p25 = 1, p75 = 3
        assert_eq!(out, array![[0.0f32, 0.0, 0.5, 1.0, 1.0]]);
    }

    #[test]
    fn normalize_constant_gives_zeros_and_keeps_nan() {
        let a = array![[5.0f32, 5.0], [f32::NAN, 5.0]];
        let out = percentile_normalize(a.view(), 1.0, 99.0).unwrap();
        assert_eq!(out[[0, 0]], 0.0);
        assert_eq!(out[[1, 1]], 0.0);
        assert!(out[[1, 0]].is_nan());
    }

    #[test]
    fn normalize_inf_pixels_clip() {
        let a = array![[f32::NEG_INFINITY, 0.0, 1.0, f32::INFINITY]];
        let out = percentile_normalize(a.view(), 0.0, 100.0).unwrap();
        assert_eq!(out, array![[0.0f32, 0.0, 1.0, 1.0]]);
    }

    #[test]
    fn normalize_errors() {
        let a = array![[1.0f32, 2.0]];
        assert!(matches!(
            percentile_normalize(a.view(), 50.0, 50.0),
            Err(PreprocessError::InvalidParameter {
                name: "low_pct",
                ..
            })
        ));
        assert!(matches!(
            percentile_normalize(a.view(), -1.0, 50.0),
            Err(PreprocessError::InvalidParameter {
                name: "low_pct",
                ..
            })
        ));
        assert!(matches!(
            percentile_normalize(a.view(), 1.0, 100.5),
            Err(PreprocessError::InvalidParameter {
                name: "high_pct",
                ..
            })
        ));
        assert!(matches!(
            percentile_normalize(a.view(), f64::NAN, 50.0),
            Err(PreprocessError::InvalidParameter { .. })
        ));
        let e = Array2::<f32>::zeros((0, 3));
        assert_eq!(
            percentile_normalize(e.view(), 1.0, 99.0),
            Err(PreprocessError::EmptyImage {
                height: 0,
                width: 3
            })
        );
        let nan = array![[f32::NAN]];
        assert_eq!(
            percentile_normalize(nan.view(), 1.0, 99.0),
            Err(PreprocessError::NoFinitePixels {
                op: "percentile_normalize"
            })
        );
    }

    #[test]
    fn normalize_single_pixel() {
        let a = array![[3.5f32]];
        assert_eq!(
            percentile_normalize(a.view(), 0.0, 100.0).unwrap(),
            array![[0.0f32]]
        );
    }

    #[test]
    fn invert_values() {
        let a = array![[1.0f32, 2.0], [f32::NAN, 5.0]];
        let out = invert(a.view()).unwrap();
        assert_eq!(out[[0, 0]], 5.0);
        assert_eq!(out[[0, 1]], 4.0);
        assert!(out[[1, 0]].is_nan());
        assert_eq!(out[[1, 1]], 1.0);
        assert_eq!(invert(array![[7.0f32]].view()).unwrap(), array![[7.0f32]]);
        assert_eq!(
            invert(array![[f32::NAN]].view()),
            Err(PreprocessError::NoFinitePixels { op: "invert" })
        );
        assert!(matches!(
            invert(Array2::<f32>::zeros((2, 0)).view()),
            Err(PreprocessError::EmptyImage { .. })
        ));
    }

    #[test]
    fn works_on_non_contiguous_views() {
        let a = array![[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]];
        let t = a.t();
        let out = invert(t).unwrap();
        assert_eq!(out, array![[6.0f32, 3.0], [5.0, 2.0], [4.0, 1.0]]);
    }
}
