//! Small shared helpers: validation, boundary index maps, row-parallel output.

use std::borrow::Cow;

use ndarray::{Array2, ArrayView2, Axis};
use rayon::prelude::*;

use crate::PreprocessError;

/// Error unless the image has at least one row and one column.
pub(crate) fn check_nonempty(img: &ArrayView2<'_, f32>) -> Result<(usize, usize), PreprocessError> {
    let (h, w) = img.dim();
    if h == 0 || w == 0 {
        return Err(PreprocessError::EmptyImage {
            height: h,
            width: w,
        });
    }
    Ok((h, w))
}

/// Error unless `value` is a finite pixel size > 0 (nm/px).
pub(crate) fn check_pixel_size(name: &'static str, value: f64) -> Result<(), PreprocessError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(PreprocessError::InvalidPixelSize { name, value })
    }
}

/// The pixels in row-major order, borrowed when the view is already
/// contiguous row-major, copied otherwise.
pub(crate) fn row_major<'a>(img: &ArrayView2<'a, f32>) -> Cow<'a, [f32]> {
    match img.to_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(img.iter().copied().collect()),
    }
}

/// Builds an `h x w` image, filling each output row in parallel with
/// `fill(row_index, row)`.
pub(crate) fn par_rows<F>(h: usize, w: usize, fill: F) -> Array2<f32>
where
    F: Fn(usize, &mut [f32]) + Sync,
{
    let mut out = Array2::<f32>::zeros((h, w));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(y, mut row)| match row.as_slice_mut() {
            Some(s) => fill(y, s),
            // A freshly allocated standard-layout array always has contiguous
            // rows; this branch only exists so that nothing can panic.
            None => {
                let mut tmp = vec![0.0f32; w];
                fill(y, &mut tmp);
                for (o, v) in row.iter_mut().zip(tmp) {
                    *o = v;
                }
            }
        });
    out
}

/// scipy.ndimage `mode='reflect'` (half-sample symmetric, `d c b a | a b c d | d c b a`),
/// applied periodically (period `2n`) when the offset exceeds the line length,
/// exactly as scipy extends its line buffers.
#[inline]
pub(crate) fn reflect_half(i: i64, n: usize) -> usize {
    let n = n as i64;
    let p = 2 * n;
    let m = i.rem_euclid(p);
    (if m >= n { p - 1 - m } else { m }) as usize
}

/// numpy.pad `mode='reflect'` (whole-sample symmetric, `d c b | a b c d | c b a`,
/// the edge pixel is not repeated), periodic with period `2(n-1)`; a line of
/// length 1 repeats its only pixel.
#[inline]
pub(crate) fn reflect_whole(i: i64, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let n = n as i64;
    let p = 2 * (n - 1);
    let m = i.rem_euclid(p);
    (if m >= n { p - m } else { m }) as usize
}

/// Min and max over the finite pixels, `None` if there is none.
pub(crate) fn finite_min_max(data: &[f32]) -> Option<(f32, f32)> {
    data.par_iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(
            || None,
            |acc: Option<(f32, f32)>, v| match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            },
        )
        .reduce(
            || None,
            |a, b| match (a, b) {
                (None, x) | (x, None) => x,
                (Some((a0, a1)), Some((b0, b1))) => Some((a0.min(b0), a1.max(b1))),
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reflect_half_matches_scipy_pattern() {
        // n = 4: ... c d | a b c d | d c b a | a b ...
        let got: Vec<usize> = (-6..10).map(|i| reflect_half(i, 4)).collect();
        assert_eq!(got, vec![2, 3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0, 1]);
        assert_eq!(reflect_half(-5, 1), 0);
        assert_eq!(reflect_half(7, 1), 0);
    }

    #[test]
    fn reflect_whole_matches_numpy_pattern() {
        // n = 4: d c b | a b c d | c b a
        let got: Vec<usize> = (-5..10).map(|i| reflect_whole(i, 4)).collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3]);
        assert_eq!(reflect_whole(-3, 1), 0);
        assert_eq!(reflect_whole(5, 2), 1);
    }

    #[test]
    fn finite_min_max_ignores_nan_and_inf() {
        assert_eq!(
            finite_min_max(&[f32::NAN, 3.0, -1.0, f32::INFINITY]),
            Some((-1.0, 3.0))
        );
        assert_eq!(finite_min_max(&[f32::NAN]), None);
    }
}
