//! Ratio images for display: HSI (hue = ratio, intensity = counts) as in OpenMIMS and LANS,
//! and a plain ratio image with a perceptual colour map; PNG export with a labelled colour bar.
//!
//! ## HSI
//!
//! For a pixel with ratio `R` and denominator counts `D` (e.g. 12C15N/12C14N and 12C14N):
//!
//! ```text
//! t   = clamp((R − r_min)/(r_max − r_min), 0, 1)        (0.5 when r_max = r_min)
//! hue = 240° · (1 − t)                                  blue (R ≤ r_min) → cyan → green
//!                                                       → yellow → red (R ≥ r_max)
//! I   = clamp((D − i_min)/(i_max − i_min), 0, 1)        (1 if D ≥ i_min when i_max = i_min)
//! RGB = I · HSV→RGB(hue, S = 1, V = 1)                  i.e. HSV with S = 1 and V = I
//! ```
//!
//! The ramp stops at red (0°) and never reaches magenta, the blue→red convention of OpenMIMS,
//! so the lowest and highest ratios cannot be confused. A NaN ratio (below the
//! denominator threshold of [`crate::ratio::ratio_image`]) or NaN/∞ counts give black.
//! `r_min/r_max` and `i_min/i_max` are fixed or percentiles of the finite values
//! ([`Limits`]). The colour bar shows the hue ramp at full intensity.
//!
//! ## Plain ratio image
//!
//! `t` as above (clamped), colour = colour map at `t` ([`ColorMap`], viridis by default, from
//! the `colorous` crate: perceptually uniform, unlike the hue ramp); NaN → `nan_color` (black).

use std::path::{Path, PathBuf};

use image::RgbImage;
use ndarray::ArrayView2;
use thiserror::Error;

use crate::colorbar::{ColorbarOptions, MAX_CANVAS_PIXELS, compose_with_colorbar};
use crate::stats::percentiles_finite;

/// Errors of rendering.
#[derive(Debug, Error)]
pub enum RenderError {
    /// Nothing to draw.
    #[error("render: the {what} image is empty ({h}×{w} pixels)")]
    Empty {
        what: &'static str,
        h: usize,
        w: usize,
    },
    /// Ratio and count images differ in shape.
    #[error("render: ratio image is {ratio:?} pixels but the counts image is {den:?}")]
    ShapeMismatch {
        ratio: (usize, usize),
        den: (usize, usize),
    },
    /// An option is out of its domain.
    #[error("render: invalid {name}: {reason}")]
    InvalidOption { name: &'static str, reason: String },
    /// The figure would be unreasonably large.
    #[error("render: the figure would exceed {MAX_CANVAS_PIXELS} pixels")]
    TooLarge,
    /// Writing the PNG failed.
    #[error("render: cannot write PNG {path}: {source}")]
    Png {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
}

/// How display limits are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limits {
    /// Percentiles (0–100, numpy "linear") of the finite values; (0, 1) if none is finite.
    Percentiles { low: f64, high: f64 },
    /// Given values (`min ≤ max`, finite).
    Fixed { min: f64, max: f64 },
}

impl Limits {
    /// The (min, max) these limits give for `values` (`name` names them in errors).
    pub fn resolve(
        &self,
        name: &'static str,
        values: impl IntoIterator<Item = f64>,
    ) -> Result<(f64, f64), RenderError> {
        match *self {
            Limits::Percentiles { low, high } => {
                if !(0.0..=100.0).contains(&low) || !(0.0..=100.0).contains(&high) || low > high {
                    return Err(RenderError::InvalidOption {
                        name,
                        reason: format!(
                            "percentiles must satisfy 0 ≤ low ≤ high ≤ 100, got {low}, {high}"
                        ),
                    });
                }
                Ok(percentiles_finite(values, low, high).unwrap_or((0.0, 1.0)))
            }
            Limits::Fixed { min, max } => {
                if !(min.is_finite() && max.is_finite() && min <= max) {
                    return Err(RenderError::InvalidOption {
                        name,
                        reason: format!("limits must be finite with min ≤ max, got {min}, {max}"),
                    });
                }
                Ok((min, max))
            }
        }
    }
}

/// Perceptual colour maps for the plain ratio image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorMap {
    #[default]
    Viridis,
    Magma,
    Inferno,
    Plasma,
    Cividis,
    /// Black → white.
    Gray,
}

impl ColorMap {
    /// Colour at `t ∈ [0, 1]` (clamped; NaN → 0).
    pub fn at(self, t: f64) -> [u8; 3] {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        let g = match self {
            ColorMap::Viridis => colorous::VIRIDIS,
            ColorMap::Magma => colorous::MAGMA,
            ColorMap::Inferno => colorous::INFERNO,
            ColorMap::Plasma => colorous::PLASMA,
            ColorMap::Cividis => colorous::CIVIDIS,
            ColorMap::Gray => {
                let v = (t * 255.0).round() as u8;
                return [v, v, v];
            }
        };
        g.eval_continuous(t).into_array()
    }
}

/// Options of the HSI image.
#[derive(Debug, Clone, PartialEq)]
pub struct HsiOptions {
    /// `r_min`, `r_max` (default: 1st and 99th percentiles of the finite ratios).
    pub ratio_limits: Limits,
    /// `i_min`, `i_max` of the denominator counts (default: 1st and 99th percentiles).
    pub intensity_limits: Limits,
    /// Colour bar / figure options.
    pub colorbar: ColorbarOptions,
}

impl Default for HsiOptions {
    fn default() -> Self {
        Self {
            ratio_limits: Limits::Percentiles {
                low: 1.0,
                high: 99.0,
            },
            intensity_limits: Limits::Percentiles {
                low: 1.0,
                high: 99.0,
            },
            colorbar: ColorbarOptions::default(),
        }
    }
}

/// Options of the plain ratio image.
#[derive(Debug, Clone, PartialEq)]
pub struct RatioImageOptions {
    /// Ratio limits (default: 1st and 99th percentiles of the finite ratios).
    pub limits: Limits,
    pub colormap: ColorMap,
    /// Colour of NaN pixels (default black).
    pub nan_color: [u8; 3],
    /// Colour bar / figure options.
    pub colorbar: ColorbarOptions,
}

impl Default for RatioImageOptions {
    fn default() -> Self {
        Self {
            limits: Limits::Percentiles {
                low: 1.0,
                high: 99.0,
            },
            colormap: ColorMap::Viridis,
            nan_color: [0, 0, 0],
            colorbar: ColorbarOptions::default(),
        }
    }
}

/// A rendered image and the limits used.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub image: RgbImage,
    /// `(r_min, r_max)` mapped to the ends of the colour ramp.
    pub ratio_limits: (f64, f64),
    /// `(i_min, i_max)` of the HSI intensity; `None` for the plain ratio image.
    pub intensity_limits: Option<(f64, f64)>,
}

/// `clamp((v − lo)/(hi − lo), 0, 1)`, `degenerate` when `hi ≤ lo`.
fn unit(v: f64, lo: f64, hi: f64, degenerate: f64) -> f64 {
    if hi > lo {
        ((v - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        degenerate
    }
}

/// HSV → RGB with S = V = 1 (components in [0, 1]); `hue` in degrees.
pub fn hue_to_rgb(hue_deg: f64) -> [f64; 3] {
    let h = hue_deg.rem_euclid(360.0) / 60.0;
    let x = 1.0 - (h % 2.0 - 1.0).abs();
    match h as u32 {
        0 => [1.0, x, 0.0],
        1 => [x, 1.0, 0.0],
        2 => [0.0, 1.0, x],
        3 => [0.0, x, 1.0],
        4 => [x, 0.0, 1.0],
        _ => [1.0, 0.0, x],
    }
}

/// Hue (degrees) of a ratio: `240·(1 − t)`, `t = clamp((R − r_min)/(r_max − r_min), 0, 1)`
/// (0.5 when `r_max = r_min`); `None` for NaN/∞.
pub fn ratio_hue(r: f64, r_min: f64, r_max: f64) -> Option<f64> {
    r.is_finite()
        .then(|| 240.0 * (1.0 - unit(r, r_min, r_max, 0.5)))
}

/// HSI colour of one pixel (module docs); black for a non-finite ratio or count.
pub fn hsi_pixel(
    r: f64,
    den: f64,
    ratio_limits: (f64, f64),
    intensity_limits: (f64, f64),
) -> [u8; 3] {
    let Some(hue) = ratio_hue(r, ratio_limits.0, ratio_limits.1) else {
        return [0, 0, 0];
    };
    if !den.is_finite() {
        return [0, 0, 0];
    }
    let (ilo, ihi) = intensity_limits;
    let i = if ihi > ilo {
        unit(den, ilo, ihi, 1.0)
    } else if den >= ilo {
        1.0
    } else {
        0.0
    };
    hue_to_rgb(hue).map(|c| (c * i * 255.0).round() as u8)
}

fn rgb_from_fn(
    h: usize,
    w: usize,
    f: impl Fn(usize, usize) -> [u8; 3],
) -> Result<RgbImage, RenderError> {
    if (h as u64) * (w as u64) > MAX_CANVAS_PIXELS || h > u32::MAX as usize || w > u32::MAX as usize
    {
        return Err(RenderError::TooLarge);
    }
    Ok(RgbImage::from_fn(w as u32, h as u32, |x, y| {
        image::Rgb(f(y as usize, x as usize))
    }))
}

/// HSI image (no colour bar), one output pixel per input pixel.
/// Errors: empty image, shape mismatch, invalid limits.
pub fn hsi_rgb(
    ratio: ArrayView2<'_, f64>,
    den: ArrayView2<'_, f64>,
    opts: &HsiOptions,
) -> Result<Rendered, RenderError> {
    let (h, w) = ratio.dim();
    if h == 0 || w == 0 {
        return Err(RenderError::Empty {
            what: "ratio",
            h,
            w,
        });
    }
    if ratio.dim() != den.dim() {
        return Err(RenderError::ShapeMismatch {
            ratio: ratio.dim(),
            den: den.dim(),
        });
    }
    let rl = opts
        .ratio_limits
        .resolve("ratio_limits", ratio.iter().copied())?;
    let il = opts
        .intensity_limits
        .resolve("intensity_limits", den.iter().copied())?;
    let image = rgb_from_fn(h, w, |y, x| hsi_pixel(ratio[[y, x]], den[[y, x]], rl, il))?;
    Ok(Rendered {
        image,
        ratio_limits: rl,
        intensity_limits: Some(il),
    })
}

/// Ratio image through a colour map (no colour bar). Errors: empty image, invalid limits.
pub fn ratio_rgb(
    ratio: ArrayView2<'_, f64>,
    opts: &RatioImageOptions,
) -> Result<Rendered, RenderError> {
    let (h, w) = ratio.dim();
    if h == 0 || w == 0 {
        return Err(RenderError::Empty {
            what: "ratio",
            h,
            w,
        });
    }
    let (lo, hi) = opts.limits.resolve("limits", ratio.iter().copied())?;
    let image = rgb_from_fn(h, w, |y, x| {
        let r = ratio[[y, x]];
        if r.is_finite() {
            opts.colormap.at(unit(r, lo, hi, 0.5))
        } else {
            opts.nan_color
        }
    })?;
    Ok(Rendered {
        image,
        ratio_limits: (lo, hi),
        intensity_limits: None,
    })
}

/// [`hsi_rgb`] with the colour bar (hue ramp at full intensity, labelled from `r_min` to
/// `r_max`), title and scale of `opts.colorbar`.
pub fn render_hsi(
    ratio: ArrayView2<'_, f64>,
    den: ArrayView2<'_, f64>,
    opts: &HsiOptions,
) -> Result<Rendered, RenderError> {
    let mut r = hsi_rgb(ratio, den, opts)?;
    let (lo, hi) = r.ratio_limits;
    let ramp = |t: f64| hue_to_rgb(240.0 * (1.0 - t)).map(|c| (c * 255.0).round() as u8);
    r.image = compose_with_colorbar(&r.image, lo, hi, &ramp, &opts.colorbar)?;
    Ok(r)
}

/// [`ratio_rgb`] with the colour bar, title and scale of `opts.colorbar`.
pub fn render_ratio(
    ratio: ArrayView2<'_, f64>,
    opts: &RatioImageOptions,
) -> Result<Rendered, RenderError> {
    let mut r = ratio_rgb(ratio, opts)?;
    let (lo, hi) = r.ratio_limits;
    let cmap = opts.colormap;
    r.image = compose_with_colorbar(&r.image, lo, hi, &|t| cmap.at(t), &opts.colorbar)?;
    Ok(r)
}

fn save_png(img: &RgbImage, path: &Path) -> Result<(), RenderError> {
    let bytes = corrflow_io_em::encode_png_rgb(img).map_err(|source| RenderError::Png {
        path: path.to_path_buf(),
        source,
    })?;
    std::fs::write(path, bytes).map_err(|e| RenderError::Png {
        path: path.to_path_buf(),
        source: image::ImageError::IoError(e),
    })
}

/// [`render_hsi`] written to `path` as an 8-bit RGB PNG; returns what was drawn.
pub fn render_hsi_png(
    path: impl AsRef<Path>,
    ratio: ArrayView2<'_, f64>,
    den: ArrayView2<'_, f64>,
    opts: &HsiOptions,
) -> Result<Rendered, RenderError> {
    let r = render_hsi(ratio, den, opts)?;
    save_png(&r.image, path.as_ref())?;
    Ok(r)
}

/// [`render_ratio`] written to `path` as an 8-bit RGB PNG; returns what was drawn.
pub fn render_ratio_png(
    path: impl AsRef<Path>,
    ratio: ArrayView2<'_, f64>,
    opts: &RatioImageOptions,
) -> Result<Rendered, RenderError> {
    let r = render_ratio(ratio, opts)?;
    save_png(&r.image, path.as_ref())?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hue_ramp_ends() {
        assert_eq!(hue_to_rgb(240.0), [0.0, 0.0, 1.0]);
        assert_eq!(hue_to_rgb(120.0), [0.0, 1.0, 0.0]);
        assert_eq!(hue_to_rgb(0.0), [1.0, 0.0, 0.0]);
        assert_eq!(hue_to_rgb(60.0), [1.0, 1.0, 0.0]);
        assert_eq!(hue_to_rgb(180.0), [0.0, 1.0, 1.0]);
        assert_eq!(ratio_hue(0.0, 1.0, 2.0), Some(240.0));
        assert_eq!(ratio_hue(3.0, 1.0, 2.0), Some(0.0));
        assert_eq!(ratio_hue(1.5, 1.0, 2.0), Some(120.0));
        assert_eq!(ratio_hue(5.0, 2.0, 2.0), Some(120.0));
        assert_eq!(ratio_hue(f64::NAN, 1.0, 2.0), None);
    }

    #[test]
    fn hsi_pixels() {
        let (rl, il) = ((1.0, 2.0), (0.0, 100.0));
        assert_eq!(hsi_pixel(1.0, 100.0, rl, il), [0, 0, 255]);
        assert_eq!(hsi_pixel(2.0, 100.0, rl, il), [255, 0, 0]);
        assert_eq!(hsi_pixel(1.5, 1000.0, rl, il), [0, 255, 0]);
        assert_eq!(hsi_pixel(1.5, 50.0, rl, il), [0, 128, 0]);
        assert_eq!(hsi_pixel(1.75, 100.0, rl, il), [255, 255, 0]);
        assert_eq!(hsi_pixel(f64::NAN, 100.0, rl, il), [0, 0, 0]);
        assert_eq!(hsi_pixel(1.5, f64::NAN, rl, il), [0, 0, 0]);
        assert_eq!(hsi_pixel(1.5, -5.0, rl, il), [0, 0, 0]);
    }

    #[test]
    fn colormap_ends() {
        assert_eq!(ColorMap::Viridis.at(0.0), [0x44, 0x01, 0x54]);
        assert_eq!(ColorMap::Viridis.at(1.0), [0xfd, 0xe7, 0x25]);
        assert_eq!(ColorMap::Gray.at(f64::NAN), [0, 0, 0]);
        assert_eq!(ColorMap::Gray.at(2.0), [255, 255, 255]);
    }

    #[test]
    fn limits_validation() {
        let p = Limits::Percentiles {
            low: 50.0,
            high: 10.0,
        };
        assert!(p.resolve("x", [1.0]).is_err());
        let f = Limits::Fixed {
            min: 1.0,
            max: f64::NAN,
        };
        assert!(f.resolve("x", [1.0]).is_err());
        let p = Limits::Percentiles {
            low: 0.0,
            high: 100.0,
        };
        assert_eq!(p.resolve("x", [f64::NAN]).unwrap(), (0.0, 1.0));
        assert_eq!(p.resolve("x", [3.0, f64::NAN, 1.0]).unwrap(), (1.0, 3.0));
    }
}
