//! Colour bar with numeric tick labels next to an image, and the bitmap text it needs.
//!
//! Text is drawn with the public-domain 8×8 bitmap glyphs of the `font8x8` crate (ASCII and
//! Latin-1 supplement; other characters print as `?`): the machines corrflow runs on have
//! no system fonts, and a bitmap font keeps the PNGs byte-for-byte reproducible.
//!
//! Layout of [`compose_with_colorbar`] (px; `s` = integer upscale factor of the image):
//!
//! ```text
//! ┌────────────────────────────────────────────────┐  white background, black text
//! │ title (optional, 8 px high)                    │
//! │ ┌──────────────┐        ┌──┐ ─ max label       │  bar: 16 px wide, as tall as the
//! │ │ image (·s)   │        │  │ ─ tick label      │  image; top = max, bottom = min;
//! │ │              │        │  │ ─ …               │  ticks evenly spaced (min and max
//! │ └──────────────┘        └──┘ ─ min label       │  always labelled)
//! └────────────────────────────────────────────────┘
//! ```

use image::{Rgb, RgbImage};

use crate::hsi::RenderError;

/// Width and height of one glyph (px).
pub const GLYPH_PX: u32 = 8;
/// Blank border around everything (px).
pub const MARGIN_PX: u32 = 8;
/// Gap between the image and the bar (px).
pub const GAP_PX: u32 = 10;
/// Length of a tick mark (px).
pub const TICK_PX: u32 = 4;
/// Gap between a tick mark and its label (px).
pub const LABEL_GAP_PX: u32 = 2;
/// Smallest vertical distance between two labels (px); fewer ticks are drawn on small images.
pub const MIN_TICK_SPACING_PX: u32 = 12;
/// Largest canvas accepted (pixels), to fail cleanly instead of exhausting memory.
pub const MAX_CANVAS_PIXELS: u64 = 1 << 30;

const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
const WHITE: Rgb<u8> = Rgb([255, 255, 255]);

/// Options of the colour bar and of the composed figure.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorbarOptions {
    /// Draw the colour bar (and margins, title); `false` gives the bare (upscaled) image.
    pub show: bool,
    /// Number of labelled ticks including min and max (≥ 2; reduced on short images).
    pub n_ticks: usize,
    /// Width of the bar (px, ≥ 1).
    pub bar_width_px: u32,
    /// Text above the image (e.g. `"12C15N/12C14N"`).
    pub title: Option<String>,
    /// Integer nearest-neighbour upscaling of the image (≥ 1), e.g. 2 for a 256² map.
    pub scale: u32,
}

impl Default for ColorbarOptions {
    /// Shown, 5 ticks, 16 px wide, no title, scale 1.
    fn default() -> Self {
        Self {
            show: true,
            n_ticks: 5,
            bar_width_px: 16,
            title: None,
            scale: 1,
        }
    }
}

/// Glyph of a character: ASCII and Latin-1 supplement, `?` otherwise.
fn glyph(c: char) -> [u8; 8] {
    let code = c as u32;
    if code < 128 {
        font8x8::legacy::BASIC_LEGACY[code as usize]
    } else if (0xA0..=0xFF).contains(&code) {
        font8x8::legacy::LATIN_LEGACY[(code - 0xA0) as usize]
    } else {
        font8x8::legacy::BASIC_LEGACY[b'?' as usize]
    }
}

/// Width of `text` in px (8 per character).
pub fn text_width(text: &str) -> u32 {
    (text.chars().count() as u32).saturating_mul(GLYPH_PX)
}

/// Draw `text` with its top-left corner at `(x, y)` (may lie partly outside: clipped).
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, color: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for (i, c) in text.chars().enumerate() {
        let g = glyph(c);
        let gx = x + i as i64 * GLYPH_PX as i64;
        for (row, bits) in g.iter().enumerate() {
            for col in 0..8 {
                // font8x8: bit 0 is the leftmost pixel
                if bits & (1 << col) != 0 {
                    let (px, py) = (gx + col, y + row as i64);
                    if px >= 0 && py >= 0 && px < w && py < h {
                        img.put_pixel(px as u32, py as u32, color);
                    }
                }
            }
        }
    }
}

/// Format a tick value with `sig` significant digits, without trailing zeros:
/// fixed notation for 1e-4 ≤ |v| < 1e6 (`0.0037`, `12.5`, `4200`), else scientific
/// (`1.2e-5`).
pub fn format_tick(v: f64, sig: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let sig = sig.max(1);
    let e = v.abs().log10().floor() as i64;
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if (-4..6).contains(&e) {
        let decimals = (sig as i64 - 1 - e).max(0) as usize;
        let s = trim(format!("{v:.decimals$}"));
        if s == "-0" { "0".into() } else { s }
    } else {
        let s = format!("{:.*e}", sig - 1, v);
        match s.split_once('e') {
            Some((m, ex)) => format!("{}e{}", trim(m.to_string()), ex),
            None => s,
        }
    }
}

/// `n` evenly spaced tick values from `lo` to `hi` (inclusive) with labels that have the
/// fewest significant digits (3 to 6) that keep neighbouring labels distinct.
pub fn tick_labels(lo: f64, hi: f64, n: usize) -> Vec<(f64, String)> {
    let n = n.max(2);
    let span = lo.abs().max(hi.abs());
    let values: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64 / (n - 1) as f64;
            let v = lo * (1.0 - t) + hi * t;
            if v.abs() <= 1e-12 * span { 0.0 } else { v }
        })
        .collect();
    let mut labels = Vec::new();
    for sig in 3..=6 {
        labels = values
            .iter()
            .map(|v| format_tick(*v, sig))
            .collect::<Vec<_>>();
        if lo.is_nan() || hi.is_nan() || lo >= hi || labels.windows(2).all(|p| p[0] != p[1]) {
            break;
        }
    }
    values.into_iter().zip(labels).collect()
}

/// Nearest-neighbour integer upscale.
pub(crate) fn upscale(img: &RgbImage, s: u32) -> Result<RgbImage, RenderError> {
    if s == 1 {
        return Ok(img.clone());
    }
    let (w, h) = (
        img.width().checked_mul(s).ok_or(RenderError::TooLarge)?,
        img.height().checked_mul(s).ok_or(RenderError::TooLarge)?,
    );
    if w as u64 * h as u64 > MAX_CANVAS_PIXELS {
        return Err(RenderError::TooLarge);
    }
    Ok(RgbImage::from_fn(w, h, |x, y| *img.get_pixel(x / s, y / s)))
}

/// Put `image` (upscaled by `opts.scale`) on a white canvas with a vertical colour bar on its
/// right: bar row `r` (0 at the top, image height `H`) shows `colour_at(t)` with
/// `t = 1 − r/(H − 1)`, i.e. value `lo + t·(hi − lo)`; ticks and labels at evenly spaced
/// values from `lo` (bottom) to `hi` (top); optional title above. With `opts.show == false`
/// only the upscaled image is returned.
pub fn compose_with_colorbar(
    image: &RgbImage,
    lo: f64,
    hi: f64,
    colour_at: &dyn Fn(f64) -> [u8; 3],
    opts: &ColorbarOptions,
) -> Result<RgbImage, RenderError> {
    if opts.scale == 0 {
        return Err(RenderError::InvalidOption {
            name: "scale",
            reason: "must be ≥ 1".into(),
        });
    }
    if opts.bar_width_px == 0 {
        return Err(RenderError::InvalidOption {
            name: "bar_width_px",
            reason: "must be ≥ 1".into(),
        });
    }
    let img = upscale(image, opts.scale)?;
    if !opts.show {
        return Ok(img);
    }
    let (iw, ih) = img.dimensions();
    let title_h = if opts.title.is_some() {
        GLYPH_PX + 6
    } else {
        0
    };
    let top = MARGIN_PX + title_h;
    let max_ticks = (ih.saturating_sub(1) / MIN_TICK_SPACING_PX + 1).max(2) as usize;
    let n_ticks = opts.n_ticks.clamp(2, max_ticks);
    let ticks = tick_labels(lo, hi, n_ticks);
    let label_w = ticks.iter().map(|(_, s)| text_width(s)).max().unwrap_or(0);
    let bar_x = MARGIN_PX as u64 + iw as u64 + GAP_PX as u64;
    let bw = opts.bar_width_px as u64;
    let mut width =
        bar_x + bw + TICK_PX as u64 + LABEL_GAP_PX as u64 + label_w as u64 + MARGIN_PX as u64;
    if let Some(t) = &opts.title {
        width = width.max(2 * MARGIN_PX as u64 + text_width(t) as u64);
    }
    let height = top as u64 + ih as u64 + MARGIN_PX as u64;
    if width * height > MAX_CANVAS_PIXELS || width > u32::MAX as u64 || height > u32::MAX as u64 {
        return Err(RenderError::TooLarge);
    }
    let (bar_x, bw) = (bar_x as u32, bw as u32);
    let mut canvas = RgbImage::from_pixel(width as u32, height as u32, WHITE);
    image::imageops::replace(&mut canvas, &img, MARGIN_PX as i64, top as i64);
    // bar
    for r in 0..ih {
        let t = if ih > 1 {
            1.0 - r as f64 / (ih - 1) as f64
        } else {
            0.5
        };
        let c = Rgb(colour_at(t));
        for x in bar_x..bar_x + bw {
            canvas.put_pixel(x, top + r, c);
        }
    }
    // frame around the bar (just outside it)
    let (fx0, fx1, fy0, fy1) = (bar_x - 1, bar_x + bw, top - 1, top + ih);
    for x in fx0..=fx1 {
        canvas.put_pixel(x, fy0, BLACK);
        canvas.put_pixel(x, fy1, BLACK);
    }
    for y in fy0..=fy1 {
        canvas.put_pixel(fx0, y, BLACK);
        canvas.put_pixel(fx1, y, BLACK);
    }
    // ticks and labels
    let n = ticks.len();
    for (i, (_, label)) in ticks.iter().enumerate() {
        let t = i as f64 / (n - 1) as f64;
        let y = top + ((1.0 - t) * (ih.saturating_sub(1)) as f64).round() as u32;
        for x in fx1..fx1 + TICK_PX {
            canvas.put_pixel(x, y, BLACK);
        }
        let lx = (fx1 + TICK_PX + LABEL_GAP_PX) as i64;
        draw_text(&mut canvas, lx, y as i64 - 4, label, BLACK);
    }
    if let Some(t) = &opts.title {
        draw_text(&mut canvas, MARGIN_PX as i64, MARGIN_PX as i64, t, BLACK);
    }
    Ok(canvas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_format() {
        assert_eq!(format_tick(0.0037, 3), "0.0037");
        assert_eq!(format_tick(0.003676, 3), "0.00368");
        assert_eq!(format_tick(12.5, 3), "12.5");
        assert_eq!(format_tick(4200.0, 3), "4200");
        assert_eq!(format_tick(-0.25, 3), "-0.25");
        assert_eq!(format_tick(1.234e-5, 3), "1.23e-5");
        assert_eq!(format_tick(2.0e7, 3), "2e7");
        assert_eq!(format_tick(f64::NAN, 3), "NaN");
        let t = tick_labels(0.0036, 0.0037, 5);
        let l: Vec<_> = t.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(l, vec!["0.0036", "0.00363", "0.00365", "0.00368", "0.0037"]);
        let t = tick_labels(1.0, 1.001, 3);
        let l: Vec<_> = t.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(l, vec!["1", "1.0005", "1.001"]);
        let t = tick_labels(-1.0, 1.0, 3);
        assert_eq!(t[1], (0.0, "0".to_string()));
        assert_eq!(tick_labels(1.0, 1.0, 0).len(), 2);
    }

    #[test]
    fn text_is_drawn_and_clipped() {
        let mut img = RgbImage::from_pixel(20, 10, WHITE);
        draw_text(&mut img, 0, 0, "1", BLACK);
        assert!(img.pixels().any(|p| *p == BLACK));
        draw_text(&mut img, -100, 500, "µ€x", BLACK); // outside: no panic
        assert_eq!(text_width("µ€x"), 24);
    }

    #[test]
    fn tiny_images_and_options() {
        let img = RgbImage::from_pixel(1, 1, Rgb([1, 2, 3]));
        let c = compose_with_colorbar(&img, 0.0, 1.0, &|_| [9, 9, 9], &ColorbarOptions::default())
            .unwrap();
        assert!(c.width() > 1 && c.height() > 1);
        let bad = ColorbarOptions {
            scale: 0,
            ..Default::default()
        };
        assert!(compose_with_colorbar(&img, 0.0, 1.0, &|_| [0; 3], &bad).is_err());
        let big = ColorbarOptions {
            scale: u32::MAX,
            ..Default::default()
        };
        assert!(matches!(
            compose_with_colorbar(&img, 0.0, 1.0, &|_| [0; 3], &big),
            Err(RenderError::TooLarge)
        ));
    }
}
