//! Contrast-limited adaptive histogram equalisation, a step-by-step port of
//! `skimage.exposure.equalize_adapthist` (scikit-image 0.26,
//! `skimage/exposure/_adapthist.py`) for 2-D float32 images.
//!
//! Written by hand because the exact scikit-image result depends on its
//! specific steps (16-bit then 14-bit quantisation, numpy `reflect` padding,
//! its histogram clipping/redistribution loop, integer truncations and
//! float32 accumulation of the bilinear interpolation), which no Rust crate
//! reproduces.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use crate::PreprocessError;
use crate::util::{check_nonempty, par_rows, reflect_whole, row_major};

/// Number of grey levels CLAHE works with (scikit-image `NR_OF_GRAY`, 14 bit).
const NR_OF_GRAY: usize = 1 << 14;
/// Largest allowed `nbins`.
pub const MAX_CLAHE_NBINS: usize = 65_536;
/// Largest allowed (number of contextual regions) x `nbins`, i.e. size of the
/// table of grey-level mappings.
pub const MAX_CLAHE_TABLE: u64 = 1 << 28;

/// scikit-image `clip_histogram`: clips every bin at `clip` and redistributes
/// the excess, with the same integer arithmetic and the same (peculiar)
/// strided redistribution loop.
fn clip_histogram(hist: &mut [i64], clip: i64) {
    let nbins = hist.len() as i64;
    let mut n_excess: i64 = 0;
    for v in hist.iter_mut() {
        if *v > clip {
            n_excess += *v - clip;
            *v = clip;
        }
    }
    let bin_incr = n_excess.div_euclid(nbins);
    let upper = clip - bin_incr;
    for v in hist.iter_mut() {
        if *v < upper {
            n_excess -= bin_incr;
            *v += bin_incr;
        }
    }
    // mid mask is evaluated on the updated histogram, as in scikit-image
    for v in hist.iter_mut() {
        if *v >= upper && *v < clip {
            n_excess += *v - clip;
            *v = clip;
        }
    }
    let mut under = hist.iter().filter(|&&v| v < clip).count() as i64;
    while n_excess > 0 {
        let prev = n_excess;
        for index in 0..hist.len() {
            // n_excess > 0 here, so the floor division is well defined
            let step = (under / n_excess).max(1) as usize;
            let mut added = 0i64;
            let mut i = index;
            while i < hist.len() {
                if hist[i] < clip {
                    hist[i] += 1;
                    added += 1;
                    if hist[i] == clip {
                        under -= 1;
                    }
                }
                i += step;
            }
            n_excess -= added;
            if n_excess <= 0 {
                break;
            }
        }
        if prev == n_excess {
            break;
        }
    }
}

/// scikit-image `map_histogram`: `int(min(cumsum(hist) * (16383 / n_pixels), 16383))`.
fn map_histogram(hist: &[i64], n_pixels: usize) -> Vec<u16> {
    let max_val = (NR_OF_GRAY - 1) as f64;
    let scale = max_val / n_pixels as f64;
    let mut acc: i64 = 0;
    hist.iter()
        .map(|&v| {
            acc += v;
            let m = (acc as f64 * scale).min(max_val);
            m as u16
        })
        .collect()
}

/// 16-bit quantisation (`skimage.util.img_as_uint`) followed by the rescale to
/// 14 bit (`rescale_intensity(out_range=(0, 16383))` + `np.round`).
fn to_14bit(data: &[f32]) -> Vec<u16> {
    let u16img: Vec<u16> = data
        .par_iter()
        .map(|&x| (x * 65535.0f32).round_ties_even().clamp(0.0, 65535.0) as u16)
        .collect();
    let (umin, umax) = u16img
        .par_iter()
        .fold(|| (u16::MAX, 0u16), |(lo, hi), &v| (lo.min(v), hi.max(v)))
        .reduce(|| (u16::MAX, 0u16), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    if umin == umax {
        // rescale_intensity of a constant image: clip to the output range
        return u16img
            .into_iter()
            .map(|v| v.min((NR_OF_GRAY - 1) as u16))
            .collect();
    }
    let (lo, range) = (umin as f64, umax as f64 - umin as f64);
    u16img
        .par_iter()
        .map(|&v| ((((v as f64 - lo) / range) * (NR_OF_GRAY - 1) as f64).round_ties_even()) as u16)
        .collect()
}

/// CLAHE exactly as `skimage.exposure.equalize_adapthist(img,
/// kernel_size=kernel_size, clip_limit=clip_limit, nbins=nbins)` for a 2-D
/// float32 image; output is a ratio image in [0, 1] (float32).
///
/// * `kernel_size`: contextual region `(rows, cols)` in px; `None` = scikit-image
///   default `(max(height / 8, 1), max(width / 8, 1))` (integer division).
/// * `clip_limit`: normalised clip limit (ratio); a bin holds at most
///   `max(1, int(clip_limit * rows * cols))` counts; `0` disables clipping
///   (plain AHE).
/// * `nbins`: number of histogram bins; the 14-bit grey level `g` falls into bin
///   `g / (1 + 16384 / nbins)`.
///
/// Steps (as scikit-image): `u = clip(rint(x * 65535), 0, 65535)` (16 bit);
/// `g = round((u - min u) / (max u - min u) * 16383)` (14 bit); the image is
/// padded with numpy `reflect` by `k/2` before and `(k - n % k) % k + ceil(k/2)`
/// after; per region histograms over `[i k, (i+1) k)` are clipped and the excess
/// redistributed, mapped with `int(min(cumsum * 16383 / (rows*cols), 16383))`;
/// each pixel is the float32 sum of the four neighbouring region mappings times
/// bilinear weights (`(1 - f)` / `f` with `f = offset / k`), truncated to an
/// integer; finally `out = (v - min v) / (max v - min v)` in float32 (or
/// `clip(v, 0, 1)` if the result is constant).
///
/// Pixel values must lie in [-1, 1] (scikit-image's float range; negative
/// values are clipped to 0 by the 16-bit conversion), so normalise first, e.g.
/// with [`crate::percentile_normalize`].
///
/// Errors: empty image; non-finite pixel (NaN or inf); a pixel outside
/// [-1, 1]; `clip_limit` NaN, infinite or negative; `nbins` 0 or >
/// [`MAX_CLAHE_NBINS`]; a kernel dimension 0 or larger than the image;
/// (number of regions) x `nbins` > [`MAX_CLAHE_TABLE`].
pub fn clahe(
    img: ArrayView2<'_, f32>,
    kernel_size: Option<(usize, usize)>,
    clip_limit: f64,
    nbins: usize,
) -> Result<Array2<f32>, PreprocessError> {
    let (h, w) = check_nonempty(&img)?;
    if !(clip_limit.is_finite() && clip_limit >= 0.0) {
        return Err(PreprocessError::param(
            "clip_limit",
            clip_limit,
            "must be finite and >= 0 (0 disables clipping)",
        ));
    }
    if nbins == 0 {
        return Err(PreprocessError::param("nbins", nbins, "must be >= 1"));
    }
    if nbins > MAX_CLAHE_NBINS {
        return Err(PreprocessError::TooLarge {
            name: "CLAHE nbins",
            value: nbins as u64,
            max: MAX_CLAHE_NBINS as u64,
        });
    }
    let (kh, kw) = kernel_size.unwrap_or(((h / 8).max(1), (w / 8).max(1)));
    for (name, k, n) in [
        ("kernel_size.0 (rows)", kh, h),
        ("kernel_size.1 (cols)", kw, w),
    ] {
        if k == 0 || k > n {
            return Err(PreprocessError::param(
                name,
                k,
                format!("must be within 1..={n} px (the image size)"),
            ));
        }
    }
    let data = row_major(&img);
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for &v in data.iter() {
        if !v.is_finite() {
            return Err(PreprocessError::NonFinitePixels { op: "clahe" });
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo < -1.0 || hi > 1.0 {
        return Err(PreprocessError::ValueOutOfRange { min: lo, max: hi });
    }

    let nh = h.div_ceil(kh);
    let nw = w.div_ceil(kw);
    let table = nh as u64 * nw as u64 * nbins as u64;
    if table > MAX_CLAHE_TABLE {
        return Err(PreprocessError::TooLarge {
            name: "CLAHE regions x nbins",
            value: table,
            max: MAX_CLAHE_TABLE,
        });
    }

    // grey level -> bin
    let bin_size = 1 + NR_OF_GRAY / nbins;
    let bins: Vec<u16> = to_14bit(&data)
        .into_par_iter()
        .map(|g| (g as usize / bin_size) as u16)
        .collect();

    let n_pixels = kh * kw;
    let clim: i64 = if clip_limit > 0.0 {
        (clip_limit * n_pixels as f64).max(1.0) as i64
    } else {
        n_pixels as i64
    };

    // Region (bi, bj) covers rows [bi*kh, (bi+1)*kh), cols [bj*kw, (bj+1)*kw)
    // of the original image, numpy-reflected past the bottom/right edge.
    let maps: Vec<Vec<u16>> = (0..nh * nw)
        .into_par_iter()
        .map(|b| {
            let (bi, bj) = (b / nw, b % nw);
            let mut hist = vec![0i64; nbins];
            let cols: Vec<usize> = (bj * kw..(bj + 1) * kw)
                .map(|x| reflect_whole(x as i64, w))
                .collect();
            for y in bi * kh..(bi + 1) * kh {
                let yy = reflect_whole(y as i64, h);
                let row = &bins[yy * w..(yy + 1) * w];
                for &c in &cols {
                    hist[row[c] as usize] += 1;
                }
            }
            clip_histogram(&mut hist, clim);
            map_histogram(&hist, n_pixels)
        })
        .collect();

    // Bilinear interpolation between the 4 neighbouring region mappings.
    // In padded coordinates p = y + kh/2, pixel y lies in processing block
    // p / kh at offset p % kh; its upper/left region is block - 1 and its
    // lower/right one is block, clamped to the valid regions (edge padding of
    // the mapping table).
    let axis = |n: usize, k: usize, nreg: usize| -> Vec<([usize; 2], [f64; 2])> {
        (0..n)
            .map(|i| {
                let p = i + k / 2;
                let (blk, off) = (p / k, p % k);
                let c = off as f64 / k as f64;
                let r0 = blk.saturating_sub(1).min(nreg - 1);
                let r1 = blk.min(nreg - 1);
                ([r0, r1], [1.0 - c, c])
            })
            .collect()
    };
    let ys = axis(h, kh, nh);
    let xs = axis(w, kw, nw);
    let levels: Vec<u16> = {
        let out = par_rows(h, w, |y, row| {
            let (ry, wy) = ys[y];
            for (x, o) in row.iter_mut().enumerate() {
                let (rx, wx) = xs[x];
                let bin = bins[y * w + x] as usize;
                let mut res = 0.0f32;
                for er in 0..2 {
                    for ec in 0..2 {
                        let mapped = maps[ry[er] * nw + rx[ec]][bin] as f64;
                        res += (mapped * (wx[ec] * wy[er])) as f32;
                    }
                }
                // astype(uint16): truncation toward zero
                *o = (res as u16) as f32;
            }
        });
        out.iter().map(|&v| v as u16).collect()
    };

    // rescale_intensity(float32 image) to [0, 1]
    let (vmin, vmax) = levels
        .iter()
        .fold((u16::MAX, 0u16), |(a, b), &v| (a.min(v), b.max(v)));
    let (fmin, frange) = (vmin as f32, (vmax - vmin) as f32);
    Ok(par_rows(h, w, |y, row| {
        for (o, &v) in row.iter_mut().zip(&levels[y * w..(y + 1) * w]) {
            let v = v as f32;
            *o = if vmin == vmax {
                v.clamp(0.0, 1.0)
            } else {
                (v - fmin) / frange
            };
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn clip_histogram_matches_skimage() {
        // Values from skimage.exposure._adapthist.clip_histogram(np.array(h), 5)
        let mut h = vec![12i64, 0, 3, 7, 1, 0, 0, 2];
        clip_histogram(&mut h, 5);
        assert_eq!(h, vec![5, 1, 5, 5, 3, 1, 2, 3]);
        let mut h = vec![0i64, 0, 0, 40];
        clip_histogram(&mut h, 3);
        assert_eq!(h, vec![3, 3, 3, 3]);
    }

    #[test]
    fn map_histogram_truncates() {
        assert_eq!(map_histogram(&[1, 2, 1], 4), vec![4095, 12287, 16383]);
    }

    #[test]
    fn constant_image() {
        // 0.5 -> u16 32768 -> constant -> 14-bit clipped to 16383 -> output
        // constant >= 1 -> clip to 1.0. A zero image also maps to 16383 (its
        // single bin holds every pixel) and so to 1.0. Both as scikit-image:
        // np.unique(equalize_adapthist(np.zeros((9, 9), np.float32))) == [1.]
        let a = Array2::<f32>::from_elem((16, 16), 0.5);
        let out = clahe(a.view(), None, 0.01, 256).unwrap();
        assert!(out.iter().all(|&v| v == 1.0));
        let z = Array2::<f32>::zeros((9, 9));
        let out = clahe(z.view(), None, 0.01, 256).unwrap();
        assert!(out.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn output_spans_unit_range() {
        let a = Array2::from_shape_fn((20, 24), |(y, x)| ((y * 24 + x) as f32) / 479.0);
        let out = clahe(a.view(), None, 0.01, 256).unwrap();
        let (lo, hi) = out
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        assert_eq!((lo, hi), (0.0, 1.0));
    }

    #[test]
    fn one_pixel_image() {
        let out = clahe(array![[0.25f32]].view(), None, 0.01, 256).unwrap();
        // skimage.exposure.equalize_adapthist(np.array([[0.25]], np.float32)) == [[1.0]]
        assert_eq!(out, array![[1.0f32]]);
    }

    #[test]
    fn errors() {
        let a = Array2::<f32>::from_elem((8, 8), 0.5);
        assert_eq!(
            clahe(array![[0.5f32, 1.5]].view(), None, 0.01, 256),
            Err(PreprocessError::ValueOutOfRange { min: 0.5, max: 1.5 })
        );
        assert_eq!(
            clahe(array![[0.5f32, f32::NAN]].view(), None, 0.01, 256),
            Err(PreprocessError::NonFinitePixels { op: "clahe" })
        );
        assert!(matches!(
            clahe(a.view(), None, -0.1, 256),
            Err(PreprocessError::InvalidParameter {
                name: "clip_limit",
                ..
            })
        ));
        assert!(matches!(
            clahe(a.view(), None, f64::NAN, 256),
            Err(PreprocessError::InvalidParameter {
                name: "clip_limit",
                ..
            })
        ));
        assert!(matches!(
            clahe(a.view(), None, 0.01, 0),
            Err(PreprocessError::InvalidParameter { name: "nbins", .. })
        ));
        assert!(matches!(
            clahe(a.view(), None, 0.01, MAX_CLAHE_NBINS + 1),
            Err(PreprocessError::TooLarge { .. })
        ));
        assert!(matches!(
            clahe(a.view(), Some((9, 2)), 0.01, 256),
            Err(PreprocessError::InvalidParameter {
                name: "kernel_size.0 (rows)",
                ..
            })
        ));
        assert!(matches!(
            clahe(a.view(), Some((2, 0)), 0.01, 256),
            Err(PreprocessError::InvalidParameter {
                name: "kernel_size.1 (cols)",
                ..
            })
        ));
        assert!(matches!(
            clahe(Array2::<f32>::zeros((0, 4)).view(), None, 0.01, 256),
            Err(PreprocessError::EmptyImage { .. })
        ));
    }
}
