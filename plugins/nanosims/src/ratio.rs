//! Isotope ratio images and ROI ratios.
//!
//! * [`ratio_image`]: per pixel `R = N_num / N_den` (e.g. 12C15N/12C14N), after optional box
//!   smoothing of both count images with the same `s × s` kernel (as the LANS/OpenMIMS ratio
//!   displays do), with pixels whose (smoothed) denominator is below a threshold set to NaN.
//! * [`ratio_of_sums`]: the quantitative ROI ratio `R = ΣN_num / ΣN_den` over the pixels (and
//!   planes) of a mask, with its Poisson relative error `σ_R/R = sqrt(1/ΣN_num + 1/ΣN_den)`.
//!   Prefer it to the mean of per-pixel ratios, which is biased at low counts
//!   (`shared/notes/quantification.md`).

use ndarray::{Array2, ArrayView, ArrayView2, Dimension, Zip};
use thiserror::Error;

/// Errors of the ratio functions.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum RatioError {
    /// Numerator, denominator (or mask) shapes differ.
    #[error("ratio: {what} has shape {got:?} but the numerator has {expected:?}")]
    ShapeMismatch {
        what: &'static str,
        expected: Vec<usize>,
        got: Vec<usize>,
    },
    /// The box smoothing kernel must be odd (centred) or 0/1 for none.
    #[error("ratio: smoothing kernel must be an odd number of pixels (or 0/1 for none), got {0}")]
    EvenKernel(usize),
    /// The denominator threshold is NaN.
    #[error("ratio: min_den must not be NaN")]
    InvalidThreshold,
}

/// Options of [`ratio_image`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioOptions {
    /// Pixels whose (smoothed) denominator is `< min_den` (counts per pixel) become NaN.
    /// Pixels with a denominator ≤ 0 are always NaN. `-∞` or 0 = no threshold.
    pub min_den: f64,
    /// Box smoothing kernel size `s` (px, odd); 0 or 1 = no smoothing.
    pub smooth_px: usize,
}

impl Default for RatioOptions {
    /// No threshold (only denominators ≤ 0 give NaN), no smoothing.
    fn default() -> Self {
        Self {
            min_den: 0.0,
            smooth_px: 0,
        }
    }
}

/// Box mean over an `s × s` window centred on each pixel (counts per pixel):
/// `B(y, x) = mean{ I(y', x') : |y'−y| ≤ s/2, |x'−x| ≤ s/2, inside the image, finite }`.
///
/// The window is clipped at the edges (mean over the in-image pixels only, so edges are not
/// darkened) and non-finite pixels are left out; a window without any finite pixel gives NaN.
/// `s` must be odd; 0 and 1 return a copy. Cost `O(h·w)` whatever `s` (summed-area tables).
pub fn box_mean<T: Copy + Into<f64>>(
    image: ArrayView2<'_, T>,
    size: usize,
) -> Result<Array2<f64>, RatioError> {
    if size <= 1 {
        return Ok(image.mapv(Into::into));
    }
    if size.is_multiple_of(2) {
        return Err(RatioError::EvenKernel(size));
    }
    let (h, w) = image.dim();
    let r = size / 2;
    // summed-area tables of the finite values and of their count
    let mut sum = Array2::<f64>::zeros((h + 1, w + 1));
    let mut cnt = Array2::<f64>::zeros((h + 1, w + 1));
    for y in 0..h {
        let mut rs = 0.0;
        let mut rc = 0.0;
        for x in 0..w {
            let v: f64 = image[[y, x]].into();
            if v.is_finite() {
                rs += v;
                rc += 1.0;
            }
            sum[[y + 1, x + 1]] = sum[[y, x + 1]] + rs;
            cnt[[y + 1, x + 1]] = cnt[[y, x + 1]] + rc;
        }
    }
    let mut out = Array2::<f64>::zeros((h, w));
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let rect = |t: &Array2<f64>| t[[y1, x1]] - t[[y0, x1]] - t[[y1, x0]] + t[[y0, x0]];
            let n = rect(&cnt);
            out[[y, x]] = if n > 0.0 { rect(&sum) / n } else { f64::NAN };
        }
    }
    Ok(out)
}

/// Ratio image `R(y, x) = N_num(y, x) / N_den(y, x)` (dimensionless), where both count images
/// are first box-smoothed with [`box_mean`] when `opts.smooth_px > 1`.
///
/// `R` is NaN where the (smoothed) denominator is `< opts.min_den` or `≤ 0`, or where either
/// value is not finite. Errors: shapes differ, even kernel, NaN threshold. Empty images give
/// an empty result.
pub fn ratio_image<N: Copy + Into<f64>, M: Copy + Into<f64>>(
    num: ArrayView2<'_, N>,
    den: ArrayView2<'_, M>,
    opts: &RatioOptions,
) -> Result<Array2<f64>, RatioError> {
    if num.dim() != den.dim() {
        return Err(RatioError::ShapeMismatch {
            what: "denominator",
            expected: num.shape().to_vec(),
            got: den.shape().to_vec(),
        });
    }
    if opts.min_den.is_nan() {
        return Err(RatioError::InvalidThreshold);
    }
    let n = box_mean(num, opts.smooth_px)?;
    let d = box_mean(den, opts.smooth_px)?;
    Ok(Zip::from(&n).and(&d).map_collect(|&a, &b| {
        if a.is_finite() && b.is_finite() && b > 0.0 && b >= opts.min_den {
            a / b
        } else {
            f64::NAN
        }
    }))
}

/// ROI ratio of sums and its Poisson error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioOfSums {
    /// `R = ΣN_num / ΣN_den`; NaN when `ΣN_den ≤ 0`.
    pub ratio: f64,
    /// `σ_R/R = sqrt(1/ΣN_num + 1/ΣN_den)`; +∞ when a sum is ≤ 0.
    pub rel_error: f64,
    /// `σ_R = R·σ_R/R`.
    pub abs_error: f64,
    /// `ΣN_num` (counts).
    pub sum_num: f64,
    /// `ΣN_den` (counts).
    pub sum_den: f64,
    /// Pixels summed (inside the mask, both values finite).
    pub n_pixels: usize,
    /// Pixels inside the mask left out because a value was NaN/∞ (e.g. invalid after a shift).
    pub n_skipped: usize,
}

/// Ratio of sums `R = ΣN_num / ΣN_den` over the pixels where `mask` is true (all pixels when
/// `None`), with the Poisson relative error `σ_R/R = sqrt(1/ΣN_num + 1/ΣN_den)`.
///
/// Any dimension: pass `planes × h × w` stacks to sum over planes too. The counts should be
/// (corrected) counts, not rates, for the Poisson error to hold. Pixels where either value is
/// not finite are skipped and counted in [`RatioOfSums::n_skipped`]. Errors: shapes differ.
pub fn ratio_of_sums<D: Dimension>(
    num: ArrayView<'_, f64, D>,
    den: ArrayView<'_, f64, D>,
    mask: Option<ArrayView<'_, bool, D>>,
) -> Result<RatioOfSums, RatioError> {
    if num.shape() != den.shape() {
        return Err(RatioError::ShapeMismatch {
            what: "denominator",
            expected: num.shape().to_vec(),
            got: den.shape().to_vec(),
        });
    }
    if let Some(m) = &mask
        && m.shape() != num.shape()
    {
        return Err(RatioError::ShapeMismatch {
            what: "mask",
            expected: num.shape().to_vec(),
            got: m.shape().to_vec(),
        });
    }
    let (mut sn, mut sd, mut n, mut skipped) = (0.0f64, 0.0f64, 0usize, 0usize);
    let mut add = |a: f64, b: f64| {
        if a.is_finite() && b.is_finite() {
            sn += a;
            sd += b;
            n += 1;
        } else {
            skipped += 1;
        }
    };
    match mask {
        Some(m) => Zip::from(&num).and(&den).and(&m).for_each(|&a, &b, &k| {
            if k {
                add(a, b)
            }
        }),
        None => Zip::from(&num).and(&den).for_each(|&a, &b| add(a, b)),
    }
    let ratio = if sd > 0.0 { sn / sd } else { f64::NAN };
    let rel_error = if sn > 0.0 && sd > 0.0 {
        (1.0 / sn + 1.0 / sd).sqrt()
    } else {
        f64::INFINITY
    };
    Ok(RatioOfSums {
        ratio,
        rel_error,
        abs_error: ratio * rel_error,
        sum_num: sn,
        sum_den: sd,
        n_pixels: n,
        n_skipped: skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use ndarray::{Array3, array};

    #[test]
    fn box_mean_direct() {
        let a = Array2::from_shape_fn((7, 9), |(y, x)| ((y * 13 + x * 7) % 11) as f64);
        let b = box_mean(a.view(), 3).unwrap();
        for y in 0..7usize {
            for x in 0..9usize {
                let (mut s, mut n) = (0.0, 0.0);
                for yy in y.saturating_sub(1)..=(y + 1).min(6) {
                    for xx in x.saturating_sub(1)..=(x + 1).min(8) {
                        s += a[[yy, xx]];
                        n += 1.0;
                    }
                }
                assert_relative_eq!(b[[y, x]], s / n, max_relative = 1e-12);
            }
        }
        assert_eq!(box_mean(a.view(), 1).unwrap(), a);
        assert!(matches!(
            box_mean(a.view(), 4),
            Err(RatioError::EvenKernel(4))
        ));
        let big = box_mean(a.view(), 101).unwrap();
        assert!(big.iter().all(|v| (v - a.mean().unwrap()).abs() < 1e-12));
        let n = array![[f64::NAN, f64::NAN], [f64::NAN, 2.0]];
        let m = box_mean(n.view(), 3).unwrap();
        assert!(m.iter().all(|v| *v == 2.0));
        let e = Array2::<f64>::zeros((0, 4));
        assert_eq!(box_mean(e.view(), 5).unwrap().dim(), (0, 4));
    }

    #[test]
    fn ratio_image_threshold_and_smoothing() {
        let num = array![[1u16, 2, 3], [4, 5, 6]];
        let den = array![[10u16, 0, 30], [2, 50, 60]];
        let r = ratio_image(
            num.view(),
            den.view(),
            &RatioOptions {
                min_den: 5.0,
                smooth_px: 0,
            },
        )
        .unwrap();
        assert_eq!(r[[0, 0]], 0.1);
        assert!(r[[0, 1]].is_nan() && r[[1, 0]].is_nan());
        assert_eq!(r[[1, 2]], 0.1);
        let r = ratio_image(num.view(), den.view(), &RatioOptions::default()).unwrap();
        assert_eq!(r[[1, 0]], 2.0);
        assert!(r[[0, 1]].is_nan());
        // smoothing: ratio of box means = ratio of box sums
        let rs = ratio_image(
            num.view(),
            den.view(),
            &RatioOptions {
                min_den: 0.0,
                smooth_px: 3,
            },
        )
        .unwrap();
        assert_relative_eq!(
            rs[[0, 0]],
            (1.0 + 2.0 + 4.0 + 5.0) / (10.0 + 0.0 + 2.0 + 50.0)
        );
        assert_relative_eq!(rs[[1, 1]], 21.0 / 152.0);
        let bad = array![[1.0]];
        assert!(ratio_image(num.view(), bad.view(), &RatioOptions::default()).is_err());
        assert!(
            ratio_image(
                num.view(),
                den.view(),
                &RatioOptions {
                    min_den: f64::NAN,
                    smooth_px: 0
                }
            )
            .is_err()
        );
    }

    #[test]
    fn ratio_of_sums_direct() {
        let num = Array3::from_shape_fn((2, 3, 4), |(p, y, x)| (p + y + x) as f64);
        let den = Array3::from_shape_fn((2, 3, 4), |(p, y, x)| 100.0 + (p * 7 + y * 3 + x) as f64);
        let mask = Array3::from_shape_fn((2, 3, 4), |(_, y, x)| y >= 1 && x < 2);
        let r = ratio_of_sums(num.view(), den.view(), Some(mask.view())).unwrap();
        let (mut sn, mut sd) = (0.0, 0.0);
        for ((a, b), m) in num.iter().zip(den.iter()).zip(mask.iter()) {
            if *m {
                sn += a;
                sd += b;
            }
        }
        assert_eq!(r.n_pixels, 8);
        assert_relative_eq!(r.ratio, sn / sd, max_relative = 1e-15);
        assert_relative_eq!(
            r.rel_error,
            (1.0 / sn + 1.0 / sd).sqrt(),
            max_relative = 1e-15
        );
        assert_relative_eq!(r.abs_error, r.ratio * r.rel_error);
        let all = ratio_of_sums(num.view(), den.view(), None).unwrap();
        assert_relative_eq!(all.ratio, num.sum() / den.sum());
        // skipped and degenerate
        let mut n2 = num.clone();
        n2[[0, 1, 0]] = f64::NAN;
        let r2 = ratio_of_sums(n2.view(), den.view(), Some(mask.view())).unwrap();
        assert_eq!((r2.n_pixels, r2.n_skipped), (7, 1));
        let z = Array3::<f64>::zeros((1, 2, 2));
        let rz = ratio_of_sums(z.view(), z.view(), None).unwrap();
        assert!(rz.ratio.is_nan() && rz.rel_error.is_infinite());
        let e = Array3::<f64>::zeros((0, 2, 2));
        assert_eq!(ratio_of_sums(e.view(), e.view(), None).unwrap().n_pixels, 0);
        let m2 = Array3::from_elem((1, 1, 1), true);
        assert!(ratio_of_sums(num.view(), den.view(), Some(m2.view())).is_err());
    }
}
