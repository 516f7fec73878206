//! Square median filter, a re-implementation of
//! `scipy.ndimage.median_filter(img, size=size, mode='reflect')`.
//!
//! Written by hand because we need scipy's exact window placement and its
//! half-sample-symmetric `reflect` boundary (periodic for windows larger than
//! the image); the output is an exact order statistic, so it matches scipy
//! bit for bit.

use ndarray::{Array2, ArrayView2};

use crate::PreprocessError;
use crate::util::{check_nonempty, par_rows, reflect_half, row_major};

/// Largest allowed median window side (px). The cost is `size²` per pixel.
pub const MAX_MEDIAN_SIZE: usize = 255;

/// Median over a `size x size` px square window centred on each pixel.
///
/// Equals `scipy.ndimage.median_filter(img, size=size, mode='reflect')`:
/// `out[y, x]` = the `(size² / 2)`-th smallest (0-based, i.e. the exact median
/// since `size²` is odd) of `img[refl(y + dy), refl(x + dx)]` for
/// `dy, dx ∈ [-size/2, size/2]`, where `refl` is half-sample symmetric
/// reflection (`d c b a | a b c d | d c b a`), repeated periodically if the
/// window is larger than the image.
///
/// NaN: an output pixel whose window contains a NaN is NaN (scipy's result is
/// unspecified there). `±inf` are ordered normally.
///
/// Errors: empty image; `size` zero or even; `size >` [`MAX_MEDIAN_SIZE`].
pub fn median(img: ArrayView2<'_, f32>, size: usize) -> Result<Array2<f32>, PreprocessError> {
    let (h, w) = check_nonempty(&img)?;
    if size == 0 || size.is_multiple_of(2) {
        return Err(PreprocessError::param(
            "size",
            size,
            "median window size must be odd and >= 1 px",
        ));
    }
    if size > MAX_MEDIAN_SIZE {
        return Err(PreprocessError::TooLarge {
            name: "median size (px)",
            value: size as u64,
            max: MAX_MEDIAN_SIZE as u64,
        });
    }
    let data = row_major(&img);
    if size == 1 {
        return Ok(par_rows(h, w, |y, row| {
            row.copy_from_slice(&data[y * w..(y + 1) * w])
        }));
    }
    let k = (size / 2) as i64;
    // padded index i  <->  original index i - k
    let rmap: Vec<usize> = (0..(h as i64 + 2 * k))
        .map(|i| reflect_half(i - k, h))
        .collect();
    let cmap: Vec<usize> = (0..(w as i64 + 2 * k))
        .map(|i| reflect_half(i - k, w))
        .collect();
    let mid = size * size / 2;
    Ok(par_rows(h, w, |y, row| {
        let mut buf: Vec<f32> = Vec::with_capacity(size * size);
        let rows: Vec<&[f32]> = rmap[y..y + size]
            .iter()
            .map(|&r| &data[r * w..(r + 1) * w])
            .collect();
        for (x, o) in row.iter_mut().enumerate() {
            buf.clear();
            let cols = &cmap[x..x + size];
            let mut has_nan = false;
            for src in &rows {
                for &c in cols {
                    let v = src[c];
                    has_nan |= v.is_nan();
                    buf.push(v);
                }
            }
            *o = if has_nan {
                f32::NAN
            } else {
                *buf.select_nth_unstable_by(mid, f32::total_cmp).1
            };
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn known_values_3x3() {
        let a = array![[1.0f32, 9.0, 2.0], [8.0, 3.0, 7.0], [4.0, 6.0, 5.0]];
        let out = median(a.view(), 3).unwrap();
        // centre: median of 1..9 = 5
        assert_eq!(out[[1, 1]], 5.0);
        // corner (0,0): window rows [r0, r0, r1], cols [c0, c0, c1]
        // values: 1 1 9 / 1 1 9 / 8 8 3 -> sorted 1 1 1 1 3 8 8 9 9 -> 3
        assert_eq!(out[[0, 0]], 3.0);
    }

    #[test]
    fn removes_salt_noise() {
        let mut a = Array2::<f32>::from_elem((6, 6), 2.0);
        a[[2, 3]] = 100.0;
        let out = median(a.view(), 3).unwrap();
        assert!(out.iter().all(|&v| v == 2.0));
    }

    #[test]
    fn size_one_is_identity_and_window_larger_than_image() {
        let a = array![[1.0f32, 2.0, 3.0]];
        assert_eq!(median(a.view(), 1).unwrap(), a);
        // 1x3 with size 5: window cols for x=0: refl(-2..=2) = [1,0,0,1,2]
        // values 2 1 1 2 3, five rows identical -> median of 25 values = 2
        assert_eq!(median(a.view(), 5).unwrap(), array![[2.0f32, 2.0, 2.0]]);
        assert_eq!(
            median(array![[4.0f32]].view(), 7).unwrap(),
            array![[4.0f32]]
        );
    }

    #[test]
    fn nan_window_gives_nan() {
        let mut a = Array2::<f32>::zeros((1, 7));
        a[[0, 0]] = f32::NAN;
        let out = median(a.view(), 3).unwrap();
        assert!(out[[0, 0]].is_nan());
        assert!(out[[0, 1]].is_nan());
        assert_eq!(out[[0, 2]], 0.0);
    }

    #[test]
    fn errors() {
        let a = array![[1.0f32]];
        for s in [0, 2, 4] {
            assert!(matches!(
                median(a.view(), s),
                Err(PreprocessError::InvalidParameter { name: "size", .. })
            ));
        }
        assert_eq!(
            median(a.view(), 257),
            Err(PreprocessError::TooLarge {
                name: "median size (px)",
                value: 257,
                max: 255
            })
        );
        assert!(matches!(
            median(Array2::<f32>::zeros((0, 5)).view(), 3),
            Err(PreprocessError::EmptyImage { .. })
        ));
    }
}
