//! Hot-pixel (spike) removal against the median of the 3×3 neighbourhood.
//!
//! Rule, per pixel of one plane of one mass with value `v`:
//!
//! * `m` = median of its in-image 3×3 neighbours **excluding the pixel itself** (8 inside,
//!   5 on an edge, 3 in a corner; NaN/∞ neighbours are ignored; for an even number of
//!   neighbours the mean of the two middle values);
//! * the pixel is **hot** when `v − m > k·sqrt(max(m, 1))` **and** `v − m > min_excess`
//!   (counts). `sqrt(max(m,1))` is the Poisson standard deviation of a pixel with mean `m`
//!   (at least 1, so that near-empty maps still need a real excess), so `k` is a number of
//!   standard deviations (e.g. 10); `min_excess` keeps single extra counts in sparse maps
//!   from being flagged;
//! * a hot pixel is replaced by `m`.
//!
//! All decisions are made on the original image (a replaced pixel does not change its
//! neighbours' medians). Only positive spikes are handled (no "cold" pixels). NaN pixels and
//! pixels without a finite neighbour are never hot.

use ndarray::{ArrayView2, ArrayViewMut2};
use thiserror::Error;

use crate::Sample;
use crate::stats::median_small;

/// Errors of hot-pixel removal.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum HotPixelError {
    /// A parameter is out of its domain.
    #[error("hot pixels: invalid {name} = {value}: must be finite and ≥ 0")]
    InvalidParameter { name: &'static str, value: f64 },
}

/// Thresholds of the hot-pixel rule (module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HotPixelParams {
    /// Excess over the neighbour median, in Poisson standard deviations `sqrt(max(m,1))`.
    pub k: f64,
    /// Minimum absolute excess over the neighbour median (counts).
    pub min_excess: f64,
}

impl Default for HotPixelParams {
    /// `k = 10`, `min_excess = 10` counts.
    fn default() -> Self {
        Self {
            k: 10.0,
            min_excess: 10.0,
        }
    }
}

impl HotPixelParams {
    fn validate(&self) -> Result<(), HotPixelError> {
        for (name, value) in [("k", self.k), ("min_excess", self.min_excess)] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(HotPixelError::InvalidParameter { name, value });
            }
        }
        Ok(())
    }
}

/// One detected hot pixel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HotPixel {
    pub row: usize,
    pub col: usize,
    /// Original value.
    pub value: f64,
    /// Median of its neighbours (the replacement).
    pub median: f64,
}

/// Median of the finite in-image 8-neighbours of `(y, x)`; no allocation.
fn neighbour_median<T: Copy + Into<f64>>(
    img: &ArrayView2<'_, T>,
    y: usize,
    x: usize,
) -> Option<f64> {
    let (h, w) = img.dim();
    let mut buf = [0.0f64; 8];
    let mut n = 0;
    for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
        for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
            if yy == y && xx == x {
                continue;
            }
            let v: f64 = img[[yy, xx]].into();
            if v.is_finite() {
                buf[n] = v;
                n += 1;
            }
        }
    }
    median_small(&mut buf[..n])
}

/// Find the hot pixels of one image (module docs for the rule), in row-major order, without
/// modifying it. Works on raw counts (`u16`, `u32`) as well as floats.
pub fn find_hot_pixels<T: Copy + Into<f64>>(
    image: ArrayView2<'_, T>,
    params: &HotPixelParams,
) -> Result<Vec<HotPixel>, HotPixelError> {
    params.validate()?;
    let (h, w) = image.dim();
    let mut hot = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let v: f64 = image[[y, x]].into();
            if !v.is_finite() {
                continue;
            }
            let Some(m) = neighbour_median(&image, y, x) else {
                continue;
            };
            let excess = v - m;
            if excess > params.k * m.max(1.0).sqrt() && excess > params.min_excess {
                hot.push(HotPixel {
                    row: y,
                    col: x,
                    value: v,
                    median: m,
                });
            }
        }
    }
    Ok(hot)
}

/// Replace the hot pixels of one image by their neighbour median, in place; returns how many
/// were replaced (report it: a large number means the thresholds are too low). For a stack,
/// call it per plane and mass.
pub fn remove_hot_pixels<T: Sample>(
    mut image: ArrayViewMut2<'_, T>,
    params: &HotPixelParams,
) -> Result<usize, HotPixelError> {
    // all decisions on the original values, then the replacements
    let hot = find_hot_pixels(image.view(), params)?;
    for p in &hot {
        image[[p.row, p.col]] = T::from_f64(p.median);
    }
    Ok(hot.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn simple_spike_and_edges() {
        let mut a = array![
            [5.0f64, 5.0, 5.0, 5.0],
            [5.0, 500.0, 5.0, 5.0],
            [5.0, 5.0, 5.0, 90.0]
        ];
        let hot = find_hot_pixels(a.view(), &HotPixelParams::default()).unwrap();
        // (1,1): median of 8 neighbours = 5; (2,3) corner: neighbours 5,5,5 → excess 85 > 10·sqrt(5)
        assert_eq!(
            hot.iter().map(|p| (p.row, p.col)).collect::<Vec<_>>(),
            vec![(1, 1), (2, 3)]
        );
        assert_eq!(
            remove_hot_pixels(a.view_mut(), &HotPixelParams::default()).unwrap(),
            2
        );
        assert!(a.iter().all(|v| *v == 5.0));
    }

    #[test]
    fn thresholds_and_degenerate() {
        // sparse map: excess 4 over median 0 passes k·sqrt(1)=3 but not min_excess=10
        let a = array![[0.0f32, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 0.0]];
        let p = HotPixelParams {
            k: 3.0,
            min_excess: 10.0,
        };
        assert!(find_hot_pixels(a.view(), &p).unwrap().is_empty());
        let p = HotPixelParams {
            k: 3.0,
            min_excess: 3.0,
        };
        assert_eq!(find_hot_pixels(a.view(), &p).unwrap().len(), 1);
        // NaN, 1×1, empty
        let n = array![[f64::NAN, 1.0], [1.0, 1e9]];
        let hot = find_hot_pixels(n.view(), &HotPixelParams::default()).unwrap();
        assert_eq!(hot.len(), 1);
        assert_eq!(hot[0].median, 1.0);
        let mut one = array![[1e9f64]];
        assert_eq!(
            remove_hot_pixels(one.view_mut(), &HotPixelParams::default()).unwrap(),
            0
        );
        let mut e = Array2::<f64>::zeros((0, 3));
        assert_eq!(
            remove_hot_pixels(e.view_mut(), &HotPixelParams::default()).unwrap(),
            0
        );
        let u = array![[1u16, 1, 1], [1, 900, 1], [1, 1, 1]];
        assert_eq!(
            find_hot_pixels(u.view(), &HotPixelParams::default())
                .unwrap()
                .len(),
            1
        );
        for p in [
            HotPixelParams {
                k: f64::NAN,
                min_excess: 1.0,
            },
            HotPixelParams {
                k: 1.0,
                min_excess: -1.0,
            },
        ] {
            assert!(find_hot_pixels(u.view(), &p).is_err());
        }
    }
}
