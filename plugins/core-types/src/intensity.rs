//! Mapping a floating-point image to 8-bit grey for display, model input and training sets.
//!
//! One definition shared by every stage that turns EM into 8 bits (`export-dataset` tiles,
//! `segment.yolo` input, overlays), so that a model sees at inference the grey scale it was
//! trained on.

use ndarray::{Array2, ArrayView2};
use serde::Serialize;

/// How the floating-point image is mapped to 8-bit grey.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Intensity {
    /// Linear stretch between the `low` and `high` percentiles (0–100) of the
    /// finite pixels of the whole source image.
    Percentile { low: f64, high: f64 },
    /// Linear stretch between the finite minimum and maximum.
    MinMax,
    /// Linear stretch between fixed values.
    Range { min: f32, max: f32 },
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity::Percentile {
            low: 0.5,
            high: 99.5,
        }
    }
}

fn intensity_range(img: ArrayView2<'_, f32>, mode: Intensity) -> (f32, f32) {
    match mode {
        Intensity::Range { min, max } => (min, max),
        Intensity::MinMax => img
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            }),
        Intensity::Percentile { low, high } => {
            let mut vals: Vec<f32> = img.iter().copied().filter(|v| v.is_finite()).collect();
            if vals.is_empty() {
                return (0.0, 0.0);
            }
            let pick = |vals: &mut Vec<f32>, p: f64| {
                let p = p.clamp(0.0, 100.0) / 100.0;
                let k = ((vals.len() - 1) as f64 * p).round() as usize;
                *vals.select_nth_unstable_by(k, f32::total_cmp).1
            };
            let lo = pick(&mut vals, low);
            let hi = pick(&mut vals, high);
            (lo, hi)
        }
    }
}

/// Map a float image to 8-bit grey with the given intensity mode.
pub fn to_u8(img: ArrayView2<'_, f32>, mode: Intensity) -> Array2<u8> {
    let (lo, hi) = intensity_range(img, mode);
    let scale = if hi > lo && (hi - lo).is_finite() {
        255.0 / (hi - lo)
    } else {
        0.0
    };
    img.mapv(|v| {
        if !v.is_finite() {
            0
        } else {
            ((v - lo) * scale).round().clamp(0.0, 255.0) as u8
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn range_maps_linearly_and_clamps() {
        let img = array![[0.0f32, 5.0, 10.0, 20.0, f32::NAN]];
        let u = to_u8(
            img.view(),
            Intensity::Range {
                min: 0.0,
                max: 10.0,
            },
        );
        // 255 · (v − 0) / 10, rounded, clamped; NaN → 0
        assert_eq!(u, array![[0u8, 128, 255, 255, 0]]);
    }

    #[test]
    fn percentile_uses_nearest_rank_of_finite_pixels() {
        let img = Array2::from_shape_fn((1, 101), |(_, c)| c as f32);
        let u = to_u8(
            img.view(),
            Intensity::Percentile {
                low: 10.0,
                high: 90.0,
            },
        );
        assert_eq!(u[[0, 10]], 0);
        assert_eq!(u[[0, 90]], 255);
        assert_eq!(u[[0, 50]], 128); // 255 · 40 / 80 = 127.5 → 128
    }

    #[test]
    fn constant_image_is_black() {
        let img = Array2::from_elem((3, 3), 7.0f32);
        assert!(to_u8(img.view(), Intensity::MinMax).iter().all(|&v| v == 0));
    }
}
