//! The registration QC image: EM and the NanoSIMS channel in one picture, on the EM grid.
//!
//! Green = EM, magenta = the NanoSIMS channel mapped into EM space through the transform, each
//! stretched between its 0.5th and 99.5th percentiles. Where the two agree structures look grey/
//! white; a misregistration shows as green and magenta fringes. Outside the NanoSIMS field the
//! image is green only.

use std::path::Path;

use corrflow_types::intensity::{Intensity, to_u8};
use image::RgbImage;
use ndarray::{Array2, ArrayView2};

use crate::warp::{M3, apply, sample};

/// Render at most `max_side` px on the longer side (the EM grid, decimated).
pub fn render_registration(
    em: ArrayView2<'_, f32>,
    nanosims: ArrayView2<'_, f32>,
    em_to_nanosims: &M3,
    max_side: usize,
) -> RgbImage {
    let (h, w) = em.dim();
    let k = (h.max(w) as f64 / max_side.max(1) as f64).max(1.0);
    let (oh, ow) = (
        ((h as f64 / k).round() as usize).max(1),
        ((w as f64 / k).round() as usize).max(1),
    );
    // EM coordinate of an output pixel centre.
    let at = |r: usize, c: usize| ((c as f64 + 0.5) * k - 0.5, (r as f64 + 0.5) * k - 0.5);
    let em_s = Array2::from_shape_fn((oh, ow), |(r, c)| {
        let (x, y) = at(r, c);
        sample(
            em,
            x.clamp(0.0, (w - 1) as f64),
            y.clamp(0.0, (h - 1) as f64),
        )
    });
    let ns_s = Array2::from_shape_fn((oh, ow), |(r, c)| {
        let (x, y) = at(r, c);
        let (u, v) = apply(em_to_nanosims, x, y);
        sample(nanosims, u, v)
    });
    let stretch = Intensity::Percentile {
        low: 0.5,
        high: 99.5,
    };
    let (g, m) = (to_u8(em_s.view(), stretch), to_u8(ns_s.view(), stretch));
    let mut img = RgbImage::new(ow as u32, oh as u32);
    for (r, c) in pixel_indices(oh, ow) {
        let inside = !ns_s[[r, c]].is_nan();
        let mv = if inside { m[[r, c]] } else { 0 };
        img.put_pixel(c as u32, r as u32, image::Rgb([mv, g[[r, c]], mv]));
    }
    img
}

fn pixel_indices(h: usize, w: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..h).flat_map(move |r| (0..w).map(move |c| (r, c)))
}

/// Write the QC image as PNG (atomically: a temporary file, then rename).
pub fn write_registration_png(path: &Path, img: &RgbImage) -> Result<(), String> {
    let tmp = path.with_extension(format!("png.tmp{}", std::process::id()));
    let png =
        corrflow_io_em::encode_png_rgb(img).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::write(&tmp, png).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_images_are_grey_and_outside_is_green() {
        // EM 40×40, NanoSIMS 10×10 covering the top-left 20×20 EM pixels (scale 0.5).
        let em = Array2::from_shape_fn((40, 40), |(r, c)| ((r / 5 + c / 5) % 2) as f32);
        let ns = Array2::from_shape_fn((10, 10), |(r, c)| ((r * 2 / 5 + c * 2 / 5) % 2) as f32);
        let m = [[0.5, 0.0, -0.25], [0.0, 0.5, -0.25], [0.0, 0.0, 1.0]];
        let img = render_registration(em.view(), ns.view(), &m, 40);
        assert_eq!(img.dimensions(), (40, 40));
        let p = img.get_pixel(2, 2).0; // inside, both bright or both dark
        assert_eq!(p[0], p[2]);
        let q = img.get_pixel(35, 35).0; // outside the NanoSIMS field: no magenta
        assert_eq!((q[0], q[2]), (0, 0));
        let small = render_registration(em.view(), ns.view(), &m, 10);
        assert_eq!(small.dimensions(), (10, 10));
    }
}
