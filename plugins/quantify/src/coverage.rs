//! Area-weighted coverage of NanoSIMS pixels by an EM mask.
//!
//! A NanoSIMS pixel is several EM pixels wide, and a small organelle covers only parts of the
//! pixels it touches. Assigning each NanoSIMS pixel wholly to the organelle under its centre
//! (nearest pixel) makes a small organelle's measurement depend on where the raster happens to
//! fall; weighting each pixel's counts by the fraction of its area that the organelle covers
//! does not.
//!
//! The fraction is measured on a lattice: every EM pixel is split into `s × s` sub-pixels, whose
//! centres are mapped through the EM → NanoSIMS transform and assigned to the NanoSIMS pixel that
//! contains them. The coverage of NanoSIMS pixel j is
//!
//! `c_j = (sub-pixels of the mask in j) / (sub-pixels of the whole EM lattice in j)`,
//!
//! so a pixel wholly inside the mask has c = 1 exactly, whatever the aliasing between the two
//! grids, and c is exact to within one sub-pixel's share along the mask's outline. (Hand-written:
//! no crate computes polygon/raster overlap for an arbitrary projective map between two grids.)

use corrflow_types::{Mask, Transform2D};
use ndarray::Array2;

/// The NanoSIMS pixels an EM mask covers, with their coverage fractions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Coverage {
    /// `(row, column, c)`: NanoSIMS pixel and the fraction of its area covered (0 < c ≤ 1), in
    /// row-major order.
    pub pixels: Vec<(usize, usize, f64)>,
    /// Fraction (0–1) of the mask's area whose image falls on the NanoSIMS raster; NaN for an
    /// empty mask.
    pub inside_field: f64,
}

impl Coverage {
    /// Σ c_j: the covered area in NanoSIMS pixels.
    pub fn area_px(&self) -> f64 {
        self.pixels.iter().map(|p| p.2).sum()
    }
}

/// Map EM sub-pixel centres to NanoSIMS pixels: the lattice of `s × s` sub-pixels per EM pixel.
pub struct Lattice<'a> {
    t: &'a Transform2D,
    /// Sub-pixels per EM pixel side.
    s: usize,
    /// NanoSIMS raster (height, width).
    dims: (usize, usize),
}

impl<'a> Lattice<'a> {
    pub fn new(t: &'a Transform2D, supersample: usize, dims: (usize, usize)) -> Self {
        Self {
            t,
            s: supersample.max(1),
            dims,
        }
    }

    /// The sub-pixel supersampling that puts at least 8 lattice points across a NanoSIMS pixel
    /// (1 when EM pixels are ≥ 8× smaller), at most 8.
    pub fn auto_supersample(t: &Transform2D) -> usize {
        let ratio = t.to_pixel_size_nm / t.from_pixel_size_nm;
        if ratio.is_finite() && ratio > 0.0 {
            ((8.0 / ratio).ceil() as usize).clamp(1, 8)
        } else {
            8
        }
    }

    /// Centre of sub-pixel (i, k) of EM pixel (x, y), in EM pixel coordinates.
    fn sub_centre(&self, x: i64, y: i64, i: usize, k: usize) -> (f64, f64) {
        let s = self.s as f64;
        (
            x as f64 - 0.5 + (i as f64 + 0.5) / s,
            y as f64 - 0.5 + (k as f64 + 0.5) / s,
        )
    }

    /// The NanoSIMS pixel (row, column) containing the image of EM point (x, y), if any.
    fn target(&self, (x, y): (f64, f64)) -> Option<(usize, usize)> {
        let (u, v) = self.t.apply((x, y));
        let (c, r) = (u + 0.5, v + 0.5);
        // On the raster, c and r are ≥ 0, where truncation is floor (the hot loop avoids the
        // floor calls). NaN fails every comparison.
        (c >= 0.0 && r >= 0.0 && c < self.dims.1 as f64 && r < self.dims.0 as f64)
            .then_some((r as usize, c as usize))
    }

    /// How many lattice points of the whole (unbounded) EM lattice fall in each NanoSIMS pixel
    /// of `window` (first row, first column, height, width): the lattice points in the EM box
    /// around the pre-image of the window, mapped forward, counted where they land. One pass per
    /// window rather than one per pixel: each point is mapped once.
    fn full_counts(
        &self,
        inv: &Transform2D,
        (r0, c0, wh, ww): (usize, usize, usize, usize),
    ) -> Array2<u32> {
        let mut full = Array2::<u32>::zeros((wh, ww));
        let (u0, v0) = (c0 as f64 - 0.5, r0 as f64 - 0.5);
        let (u1, v1) = (u0 + ww as f64, v0 + wh as f64);
        let corners = [(u0, v0), (u1, v0), (u0, v1), (u1, v1)].map(|p| inv.apply(p));
        let Some((x_lo, x_hi, y_lo, y_hi)) = bounds(&corners) else {
            return full;
        };
        for y in (y_lo.floor() as i64 - 1)..=(y_hi.ceil() as i64 + 1) {
            for x in (x_lo.floor() as i64 - 1)..=(x_hi.ceil() as i64 + 1) {
                for k in 0..self.s {
                    for i in 0..self.s {
                        if let Some((r, c)) = self.target(self.sub_centre(x, y, i, k))
                            && let Some(v) = r
                                .checked_sub(r0)
                                .zip(c.checked_sub(c0))
                                .and_then(|(a, b)| full.get_mut((a, b)))
                        {
                            *v += 1;
                        }
                    }
                }
            }
        }
        full
    }

    /// The coverage of the NanoSIMS pixels by `mask` (EM pixels). `inv` is the inverse of the
    /// lattice's transform.
    pub fn coverage(&self, mask: &Mask, inv: &Transform2D) -> Coverage {
        // Count the mask's lattice points per NanoSIMS pixel in a dense window over the box of
        // the mask's image (corners of its box, mapped), which is small for an organelle.
        let (bh, bw) = mask.data.dim();
        let corners = [
            (0.0, 0.0),
            (bw as f64, 0.0),
            (0.0, bh as f64),
            (bw as f64, bh as f64),
        ]
        .map(|(dx, dy)| {
            self.t
                .apply((mask.x0 as f64 - 0.5 + dx, mask.y0 as f64 - 0.5 + dy))
        });
        let mut total = 0u64;
        let mut inside = 0u64;
        let (h, w) = self.dims;
        let window = window_of(&corners, (h, w));
        let (r0, c0, wh, ww) = window.unwrap_or((0, 0, 0, 0));
        let mut counts = Array2::<u32>::zeros((wh, ww));
        for ((my, mx), &on) in mask.data.indexed_iter() {
            if !on {
                continue;
            }
            let (x, y) = ((mask.x0 + mx) as i64, (mask.y0 + my) as i64);
            for k in 0..self.s {
                for i in 0..self.s {
                    total += 1;
                    if let Some((r, c)) = self.target(self.sub_centre(x, y, i, k)) {
                        // The window holds every target (it bounds the mask's image for the
                        // affine kinds); a projective map may bend outside it: skip those.
                        if let Some(v) = r
                            .checked_sub(r0)
                            .zip(c.checked_sub(c0))
                            .and_then(|(a, b)| counts.get_mut((a, b)))
                        {
                            *v += 1;
                            inside += 1;
                        }
                    }
                }
            }
        }
        let mut pixels = Vec::new();
        let full = if inside > 0 {
            self.full_counts(inv, (r0, c0, wh, ww))
        } else {
            Array2::zeros((0, 0))
        };
        for ((wr, wc), &n) in counts.indexed_iter() {
            if n == 0 {
                continue;
            }
            let all = full.get((wr, wc)).copied().unwrap_or(0).max(n);
            pixels.push((r0 + wr, c0 + wc, f64::from(n) / f64::from(all)));
        }
        Coverage {
            pixels,
            inside_field: if total == 0 {
                f64::NAN
            } else {
                inside as f64 / total as f64
            },
        }
    }
}

/// (min x, max x, min y, max y) of four points; `None` when one is not finite (the horizon of a
/// projective map).
fn bounds(points: &[(f64, f64); 4]) -> Option<(f64, f64, f64, f64)> {
    let lo = |f: fn(&(f64, f64)) -> f64| points.iter().map(f).fold(f64::INFINITY, f64::min);
    let hi = |f: fn(&(f64, f64)) -> f64| points.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
    let b = (lo(|p| p.0), hi(|p| p.0), lo(|p| p.1), hi(|p| p.1));
    [b.0, b.1, b.2, b.3]
        .iter()
        .all(|v| v.is_finite())
        .then_some(b)
}

/// The window (first row, first column, height, width) of NanoSIMS pixels that can hold the image
/// of a box with these mapped corners, clipped to the raster; `None` when it misses the raster.
fn window_of(
    corners: &[(f64, f64); 4],
    (h, w): (usize, usize),
) -> Option<(usize, usize, usize, usize)> {
    let Some((u0, u1, v0, v1)) = bounds(corners) else {
        // A projective map's horizon crosses the box: search the whole raster.
        return (h > 0 && w > 0).then_some((0, 0, h, w));
    };
    let clip = |a: f64, n: usize| (a + 0.5).floor().clamp(0.0, n as f64) as usize;
    let (c0, c1) = (clip(u0, w), (clip(u1, w) + 1).min(w));
    let (r0, r1) = (clip(v0, h), (clip(v1, h) + 1).min(h));
    (c1 > c0 && r1 > r0).then_some((r0, c0, r1 - r0, c1 - c0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_types::TransformKind;

    /// EM 10 nm → NanoSIMS 40 nm, with a shift: u = (x + 0.5)/4 − 0.5 + du, v likewise, so that
    /// with du = dv = 0 NanoSIMS pixel (0, 0) covers exactly EM pixels 0..4 × 0..4.
    fn t(du: f64, dv: f64) -> Transform2D {
        Transform2D::new(
            [
                [0.25, 0.0, -0.375 + du],
                [0.0, 0.25, -0.375 + dv],
                [0.0, 0.0, 1.0],
            ],
            TransformKind::Similarity,
            "em",
            10.0,
            "nanosims",
            40.0,
            "test",
        )
        .unwrap()
    }

    fn rect(x0: usize, y0: usize, h: usize, w: usize) -> Mask {
        Mask::new(x0, y0, Array2::from_elem((h, w), true))
    }

    fn cov(t: &Transform2D, s: usize, m: &Mask) -> Coverage {
        Lattice::new(t, s, (10, 10)).coverage(m, &t.inverse().unwrap())
    }

    #[test]
    fn aligned_blocks_cover_whole_pixels() {
        let t = t(0.0, 0.0);
        // EM pixels 4..12 × 8..12: NanoSIMS columns 1, 2 of row 2, wholly.
        let c = cov(&t, 1, &rect(4, 8, 4, 8));
        assert_eq!(c.pixels, vec![(2, 1, 1.0), (2, 2, 1.0)]);
        assert_eq!(c.inside_field, 1.0);
    }

    #[test]
    fn partial_pixels_get_their_area_fraction() {
        let t = t(0.0, 0.0);
        // Columns 4..6 (half of NanoSIMS column 1), rows 0..1 (a quarter of row 0).
        let c = cov(&t, 2, &rect(4, 0, 1, 2));
        assert_eq!(c.pixels, vec![(0, 1, 0.125)]);
        // A half-pixel shift of the raster splits each EM block across two pixels.
        let c = cov(&super::tests::t(0.5, 0.0), 2, &rect(4, 4, 4, 4));
        assert_eq!(c.pixels, vec![(1, 1, 0.5), (1, 2, 0.5)]);
        assert!((c.area_px() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn rotated_masks_conserve_area() {
        // 30° rotation and scale 1/3.3: an interior blob's coverage sums to its area.
        let (a, b) = (
            30f64.to_radians().cos() / 3.3,
            30f64.to_radians().sin() / 3.3,
        );
        let t = Transform2D::new(
            [[a, -b, 4.0], [b, a, 1.0], [0.0, 0.0, 1.0]],
            TransformKind::Similarity,
            "em",
            10.0,
            "nanosims",
            33.0,
            "test",
        )
        .unwrap();
        let disk = Array2::from_shape_fn((9, 9), |(r, c)| {
            (r as f64 - 4.0).powi(2) + (c as f64 - 4.0).powi(2) <= 16.0
        });
        let m = Mask::new(6, 6, disk);
        let area_em = m.area_px() as f64;
        let c = cov(&t, Lattice::auto_supersample(&t), &m);
        let want = area_em / 3.3f64.powi(2);
        assert!(
            (c.area_px() - want).abs() / want < 0.02,
            "{} vs {want}",
            c.area_px()
        );
        assert!(c.pixels.iter().all(|p| p.2 > 0.0 && p.2 <= 1.0));
        assert_eq!(c.inside_field, 1.0);
    }

    #[test]
    fn outside_the_raster() {
        let t = t(0.0, 0.0);
        // Columns 36..44 straddle the right edge (NanoSIMS column 9 covers EM 36..40).
        let c = cov(&t, 1, &rect(36, 0, 4, 8));
        assert_eq!(c.pixels, vec![(0, 9, 1.0)]);
        assert_eq!(c.inside_field, 0.5);
        let c = cov(&t, 1, &rect(60, 60, 2, 2));
        assert!(c.pixels.is_empty());
        assert_eq!(c.inside_field, 0.0);
        assert!(
            cov(&t, 1, &Mask::new(0, 0, Array2::from_elem((0, 0), false)))
                .inside_field
                .is_nan()
        );
    }
}
