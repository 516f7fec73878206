//! Quality-control images of the quantification: the ratio image restricted to the organelles
//! (NanoSIMS space) and the organelles coloured by their ratio on the EM image.

use corrflow_nanosims::colorbar::{ColorbarOptions, compose_with_colorbar};
use corrflow_nanosims::hsi::{ColorMap, Limits};
use corrflow_stage::StageError;
use corrflow_types::Instances;
use ndarray::{Array2, Array3, ArrayView2};

use crate::coverage::Coverage;

/// Figure (in the `ratio` output group; [`corrflow_types::figure`] layout: PNG bytes and a JPEG
/// preview) of the organelles coloured by their ratio on the EM image.
pub const ROI_FIGURE: &str = "organelles";

/// Longest side of the organelle figure (px): large EM images are shown reduced.
const FIGURE_MAX_SIDE: usize = 1024;

/// Per-pixel ratio num/den where the organelles together cover at least half of a NanoSIMS pixel
/// and the denominator has counts; NaN elsewhere.
pub fn restricted_ratio(
    num: ArrayView2<'_, f64>,
    den: ArrayView2<'_, f64>,
    coverages: &[Coverage],
    (h, w): (usize, usize),
) -> Array2<f64> {
    let mut covered = Array2::<f64>::zeros((h, w));
    for cov in coverages {
        for &(r, c, f) in &cov.pixels {
            covered[[r, c]] += f;
        }
    }
    Array2::from_shape_fn((h, w), |(r, c)| {
        if covered[[r, c]] >= 0.5 && den[[r, c]] > 0.0 {
            num[[r, c]] / den[[r, c]]
        } else {
            f64::NAN
        }
    })
}

/// The EM image (gray, or black when not known) reduced to at most [`FIGURE_MAX_SIDE`], with each
/// organelle filled by the viridis colour of its ratio (60 % opacity; organelles without a ratio
/// are left gray), and a labelled colour bar.
pub fn organelle_figure(
    instances: &Instances,
    gray: Option<ArrayView2<'_, u8>>,
    ratios: &[f64],
    range: Option<[f64; 2]>,
    title: &str,
) -> Result<Array3<u8>, StageError> {
    let (h, w) = (instances.height, instances.width);
    let step = h.max(w).div_ceil(FIGURE_MAX_SIDE).max(1);
    let (fh, fw) = (h.div_ceil(step), w.div_ceil(step));
    let limits = match range {
        Some([min, max]) => Limits::Fixed { min, max },
        None => Limits::Percentiles {
            low: 1.0,
            high: 99.0,
        },
    };
    let (lo, hi) = limits
        .resolve("ratio", ratios.iter().copied())
        .map_err(|e| StageError::input(e.to_string()))?;
    let cmap = ColorMap::Viridis;
    // Colour of each reduced pixel: the ratio of the organelle drawn last there (instances in
    // order; later ones on top, as in the label image).
    let mut owner = Array2::<u32>::zeros((fh, fw));
    for (k, inst) in instances.instances.iter().enumerate() {
        let m = &inst.mask;
        for ((r, c), &on) in m.data.indexed_iter() {
            if on {
                owner[[(m.y0 + r) / step, (m.x0 + c) / step]] = k as u32 + 1;
            }
        }
    }
    let mut img = image::RgbImage::new(fw as u32, fh as u32);
    for (x, y, px) in img.enumerate_pixels_mut() {
        let (r, c) = (y as usize, x as usize);
        let g = gray.map_or(0.0, |g| {
            f64::from(g[[(r * step).min(h - 1), (c * step).min(w - 1)]])
        });
        let rgb = match owner[[r, c]] {
            0 => [g; 3],
            k => {
                let ratio = ratios.get(k as usize - 1).copied().unwrap_or(f64::NAN);
                if ratio.is_finite() {
                    let t = if hi > lo {
                        (ratio - lo) / (hi - lo)
                    } else {
                        0.5
                    };
                    cmap.at(t).map(|v| 0.4 * g + 0.6 * f64::from(v))
                } else {
                    [g; 3]
                }
            }
        };
        *px = image::Rgb(rgb.map(|v| v.round().clamp(0.0, 255.0) as u8));
    }
    let opts = ColorbarOptions {
        title: Some(format!("{title} per organelle")),
        ..ColorbarOptions::default()
    };
    let fig = compose_with_colorbar(&img, lo, hi, &|t| cmap.at(t), &opts)
        .map_err(|e| StageError::other(e.to_string()))?;
    let (fw, fh) = (fig.width() as usize, fig.height() as usize);
    Array3::from_shape_vec((fh, fw, 3), fig.into_raw())
        .map_err(|e| StageError::other(e.to_string()))
}
