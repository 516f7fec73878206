//! The NanoSIMS field of view seen from the EM image: which part of an instance the ion maps
//! cover, once the registration (EM → NanoSIMS transform) is known.

use corrflow_types::{Mask, Transform2D};

/// The NanoSIMS raster (its size in pixels) and the map from EM pixels into it.
#[derive(Debug, Clone)]
pub struct NanosimsField {
    /// EM pixel (x, y) → NanoSIMS pixel (see [`Transform2D`]).
    pub em_to_nanosims: Transform2D,
    /// Height of the ion maps (NanoSIMS pixels).
    pub height: usize,
    /// Width of the ion maps (NanoSIMS pixels).
    pub width: usize,
}

impl NanosimsField {
    /// Whether the EM pixel centred on (x, y) falls on the NanoSIMS raster: its image in NanoSIMS
    /// space lies within [−0.5, width − 0.5) × [−0.5, height − 0.5), the area that the raster's
    /// pixels (centred on integer coordinates) cover.
    pub fn covers(&self, x: f64, y: f64) -> bool {
        let (u, v) = self.em_to_nanosims.apply((x, y));
        // NaN (the horizon of a projective map) compares false: outside.
        (-0.5..self.width as f64 - 0.5).contains(&u)
            && (-0.5..self.height as f64 - 0.5).contains(&v)
    }

    /// Fraction (0–1) of the mask's EM pixels whose centres the NanoSIMS raster covers; NaN for
    /// an empty mask. Pixel centres rather than area-weighted coverage: an EM pixel is several
    /// times smaller than a NanoSIMS pixel, so the difference is below one EM pixel's share along
    /// the field's edge.
    pub fn inside_fraction(&self, mask: &Mask) -> f64 {
        let (mut inside, mut total) = (0usize, 0usize);
        for ((r, c), &on) in mask.data.indexed_iter() {
            if on {
                total += 1;
                inside += usize::from(self.covers((mask.x0 + c) as f64, (mask.y0 + r) as f64));
            }
        }
        if total == 0 {
            f64::NAN
        } else {
            inside as f64 / total as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_types::TransformKind;
    use ndarray::Array2;

    /// EM at 10 nm onto a 4×6 NanoSIMS raster at 40 nm, shifted: u = x/4 − 1, v = y/4.
    fn field() -> NanosimsField {
        let t = Transform2D::new(
            [[0.25, 0.0, -1.0], [0.0, 0.25, 0.0], [0.0, 0.0, 1.0]],
            TransformKind::Similarity,
            "em",
            10.0,
            "nanosims",
            40.0,
            "test",
        )
        .unwrap();
        NanosimsField {
            em_to_nanosims: t,
            height: 4,
            width: 6,
        }
    }

    #[test]
    fn covers_the_raster_including_half_pixel_margins() {
        let f = field();
        // u ∈ [−0.5, 5.5) ⇔ x ∈ [2, 26); v ∈ [−0.5, 3.5) ⇔ y ∈ [−2, 14).
        assert!(f.covers(2.0, 0.0));
        assert!(!f.covers(1.999, 0.0));
        assert!(f.covers(25.999, 13.999));
        assert!(!f.covers(26.0, 5.0));
        assert!(!f.covers(5.0, 14.0));
    }

    #[test]
    fn inside_fraction_counts_pixel_centres() {
        let f = field();
        // A 4×4 block at columns 0..4, rows 0..4: columns 2 and 3 are inside → 1/2.
        let m = Mask::new(0, 0, Array2::from_elem((4, 4), true));
        assert_eq!(f.inside_fraction(&m), 0.5);
        let m = Mask::new(10, 3, Array2::from_elem((2, 3), true));
        assert_eq!(f.inside_fraction(&m), 1.0);
        let m = Mask::new(30, 3, Array2::from_elem((2, 3), true));
        assert_eq!(f.inside_fraction(&m), 0.0);
        assert!(
            f.inside_fraction(&Mask::new(0, 0, Array2::from_elem((2, 2), false)))
                .is_nan()
        );
    }
}
