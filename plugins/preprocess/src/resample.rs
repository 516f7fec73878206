//! Pixel-size change: exact area averaging when shrinking, bilinear
//! interpolation when enlarging.
//!
//! Written by hand: no crate offers exact (fractional) area averaging with
//! OpenCV `INTER_AREA` semantics together with scikit-image's pixel-centre
//! bilinear `resize`, computed in float64.

use ndarray::{Array2, ArrayView2};

use crate::PreprocessError;
use crate::util::{check_nonempty, check_pixel_size, par_rows, row_major};

/// Largest allowed output size (pixels, `height * width`), 2^30 (4 GiB of f32).
pub const MAX_OUTPUT_PIXELS: u64 = 1 << 30;

/// Output shape of [`resample`] for an `(height, width)` px image whose pixel
/// size changes from `from_nm` to `to_nm` (nm/px):
/// `(max(1, round(height * from_nm / to_nm)), max(1, round(width * from_nm / to_nm)))`,
/// `round` = half away from zero.
///
/// Errors: empty shape; pixel sizes not finite or <= 0; output larger than
/// [`MAX_OUTPUT_PIXELS`].
pub fn resampled_shape(
    shape: (usize, usize),
    from_nm: f64,
    to_nm: f64,
) -> Result<(usize, usize), PreprocessError> {
    let (h, w) = shape;
    if h == 0 || w == 0 {
        return Err(PreprocessError::EmptyImage {
            height: h,
            width: w,
        });
    }
    check_pixel_size("from_nm", from_nm)?;
    check_pixel_size("to_nm", to_nm)?;
    let side = |n: usize| (n as f64 * from_nm / to_nm).round().max(1.0);
    let (ho, wo) = (side(h), side(w));
    let total = ho * wo;
    if !total.is_finite() || total > MAX_OUTPUT_PIXELS as f64 {
        return Err(PreprocessError::TooLarge {
            name: "resampled image (pixels)",
            value: if total.is_finite() {
                total as u64
            } else {
                u64::MAX
            },
            max: MAX_OUTPUT_PIXELS,
        });
    }
    Ok((ho as usize, wo as usize))
}

/// For one axis, the input indices and weights of every output index.
fn axis_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f64)>> {
    if n_out == n_in {
        return (0..n_in).map(|i| vec![(i, 1.0)]).collect();
    }
    let scale = n_in as f64 / n_out as f64;
    if n_out < n_in {
        // Exact area averaging: output j covers input interval
        // [j*scale, (j+1)*scale); weight = overlap length / total overlap.
        (0..n_out)
            .map(|j| {
                let start = j as f64 * scale;
                let end = ((j + 1) as f64 * scale).min(n_in as f64);
                let i0 = start.floor() as usize;
                let i1 = (end.ceil() as usize).min(n_in);
                let mut ws: Vec<(usize, f64)> = (i0..i1)
                    .filter_map(|i| {
                        let ov = end.min((i + 1) as f64) - start.max(i as f64);
                        (ov > 1e-12).then_some((i, ov))
                    })
                    .collect();
                let total: f64 = ws.iter().map(|&(_, ov)| ov).sum();
                for (_, ov) in &mut ws {
                    *ov /= total;
                }
                ws
            })
            .collect()
    } else {
        // Bilinear, pixel-centre aligned, like scipy.ndimage.zoom(order=1,
        // grid_mode=True, mode='nearest'): c = (j + 0.5) * scale - 0.5 (not
        // clamped), weights (1 - f, 1 - (1 - f)) with f = c - floor(c) on the
        // input indices floor(c) and floor(c) + 1, each clamped to the edge.
        (0..n_out)
            .map(|j| {
                let c = (j as f64 + 0.5) * scale - 0.5;
                let fl = c.floor();
                let w0 = 1.0 - (c - fl);
                let w1 = 1.0 - w0;
                let last = (n_in - 1) as f64;
                let i0 = fl.clamp(0.0, last) as usize;
                let i1 = (fl + 1.0).clamp(0.0, last) as usize;
                if w1 == 0.0 {
                    vec![(i0, w0)]
                } else {
                    vec![(i0, w0), (i1, w1)]
                }
            })
            .collect()
    }
}

/// Changes the pixel size from `from_nm` to `to_nm` (nm/px), output shape from
/// [`resampled_shape`]. Each axis uses its actual scale
/// `s = n_in / n_out` (input px per output px; it differs from
/// `to_nm / from_nm` by the rounding of the output shape, i.e. by less than half
/// an output pixel over the image extent).
///
/// * Shrinking axis (`n_out < n_in`): exact area averaging, as OpenCV
///   `INTER_AREA`: output pixel `j` is the mean of input pixels over the interval
///   `[j s, (j + 1) s)` weighted by their overlap length (px). For an integer
///   factor `f` this is the plain `f x f` block mean
///   (`skimage.measure.block_reduce(img, (f, f), np.mean)` when `f` divides the
///   shape).
/// * Enlarging axis (`n_out > n_in`): bilinear interpolation at input coordinate
///   `c = (j + 0.5) s - 0.5` between input pixels `floor(c)` and `floor(c) + 1`
///   (indices clamped to the image: edge values repeated), equal to `skimage.transform.resize(img, shape, order=1,
///   mode='edge', anti_aliasing=False, preserve_range=True)`.
/// * Equal size: identity.
///
/// Output pixel = `Σ_a Σ_b (x[ya, xb] · wy_a) · wx_b` in float64, rounded to
/// float32. NaN/inf propagate to every output pixel that gives them a non-zero
/// weight.
///
/// Errors: empty image; pixel sizes NaN, infinite or <= 0; output larger than
/// [`MAX_OUTPUT_PIXELS`].
pub fn resample(
    img: ArrayView2<'_, f32>,
    from_nm: f64,
    to_nm: f64,
) -> Result<Array2<f32>, PreprocessError> {
    let (h, w) = check_nonempty(&img)?;
    let (ho, wo) = resampled_shape((h, w), from_nm, to_nm)?;
    let wy = axis_weights(h, ho);
    let wx = axis_weights(w, wo);
    let data = row_major(&img);
    Ok(par_rows(ho, wo, |i, row| {
        for (o, wxj) in row.iter_mut().zip(&wx) {
            let mut s = 0.0f64;
            for &(ya, wa) in &wy[i] {
                let src = &data[ya * w..(ya + 1) * w];
                for &(xb, wb) in wxj {
                    s += (src[xb] as f64 * wa) * wb;
                }
            }
            *o = s as f32;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn shape_rule() {
        assert_eq!(resampled_shape((37, 53), 1.0, 2.0).unwrap(), (19, 27));
        assert_eq!(resampled_shape((10, 10), 1.0, 1000.0).unwrap(), (1, 1));
        assert_eq!(resampled_shape((4, 6), 2.0, 1.0).unwrap(), (8, 12));
        assert!(matches!(
            resampled_shape((4, 6), 0.0, 1.0),
            Err(PreprocessError::InvalidPixelSize {
                name: "from_nm",
                ..
            })
        ));
        assert!(matches!(
            resampled_shape((4, 6), 1.0, f64::NAN),
            Err(PreprocessError::InvalidPixelSize { name: "to_nm", .. })
        ));
        assert!(matches!(
            resampled_shape((40_000, 40_000), 1.0, 0.5),
            Err(PreprocessError::TooLarge { .. })
        ));
        assert!(matches!(
            resampled_shape((4, 6), 1e300, 1e-300),
            Err(PreprocessError::TooLarge { .. })
        ));
    }

    #[test]
    fn integer_block_mean() {
        let a = array![[1.0f32, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]];
        let out = resample(a.view(), 1.0, 2.0).unwrap();
        assert_eq!(out, array![[3.5f32, 5.5]]);
    }

    #[test]
    fn fractional_area_weights() {
        // 3 -> 2 px: output 0 covers [0, 1.5): (x0 + 0.5 x1) / 1.5
        let a = array![[3.0f32, 6.0, 9.0]];
        let out = resample(a.view(), 2.0, 3.0).unwrap();
        assert_eq!(out.dim(), (1, 2));
        assert!((out[[0, 0]] - 4.0).abs() < 1e-6);
        assert!((out[[0, 1]] - 8.0).abs() < 1e-6);
    }

    #[test]
    fn bilinear_upsampling() {
        // 2 -> 4 px, scale 0.5: c = -0.25 -> 0, 0.25, 0.75, 1.25 -> 1
        let a = array![[0.0f32, 4.0]];
        let out = resample(a.view(), 2.0, 1.0).unwrap();
        assert_eq!(out.dim(), (2, 4));
        assert_eq!(out.row(0).to_vec(), vec![0.0f32, 1.0, 3.0, 4.0]);
        assert_eq!(out.row(1).to_vec(), vec![0.0f32, 1.0, 3.0, 4.0]);
        // single pixel upsampled stays constant
        let one = resample(array![[5.0f32]].view(), 3.0, 1.0).unwrap();
        assert_eq!(one, Array2::from_elem((3, 3), 5.0f32));
    }

    #[test]
    fn same_size_is_identity_and_nan_local() {
        let a = array![[1.0f32, f32::NAN], [3.0, 4.0]];
        let out = resample(a.view(), 1.0, 1.0).unwrap();
        assert_eq!(out[[0, 0]], 1.0);
        assert!(out[[0, 1]].is_nan());
        let mut b = Array2::<f32>::ones((4, 4));
        b[[0, 0]] = f32::NAN;
        let out = resample(b.view(), 1.0, 2.0).unwrap();
        assert!(out[[0, 0]].is_nan());
        assert_eq!(out[[1, 1]], 1.0);
    }

    #[test]
    fn empty_errors() {
        assert!(matches!(
            resample(Array2::<f32>::zeros((0, 2)).view(), 1.0, 2.0),
            Err(PreprocessError::EmptyImage { .. })
        ));
    }
}
