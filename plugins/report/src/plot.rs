//! Box + strip plots of a value per group × condition, drawn with plotters as SVG and as PNG.
//!
//! Text is laid out and (for the PNG) rasterised with ab_glyph from DejaVu Sans, compiled into
//! the binary by the `dejavu` crate and registered with plotters as `sans-serif`: no system font
//! is looked up at run time, so the plots render the same on every machine.

use std::sync::OnceLock;

use image::RgbImage;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::boxplot::{BoxStats, jitter};
use crate::html::fmt_num;

const FONT: &str = "sans-serif";

/// Register the embedded font with plotters (once per process).
fn ensure_font() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular())
            .map_err(|_| "the embedded DejaVu Sans font could not be read".to_string())?;
        plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold())
            .map_err(|_| "the embedded DejaVu Sans Bold font could not be read".to_string())
    })
    .clone()
}

/// The values to plot: `values[g][c]` are the finite values of group `g` under condition `c`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotData {
    pub title: String,
    pub groups: Vec<String>,
    pub conditions: Vec<String>,
    pub values: Vec<Vec<Vec<f64>>>,
    /// Y axis label, e.g. `ratio [1]`.
    pub y_label: String,
}

/// Condition colours (matplotlib's tab10).
const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

const PANEL_H: u32 = 360;
const TITLE_H: u32 = 40;
const MAX_COLS: usize = 4;

impl PlotData {
    /// Canvas size: panels of equal size, at most four per row.
    pub fn size(&self) -> (u32, u32) {
        let n = self.groups.len().max(1);
        let cols = n.min(MAX_COLS);
        let rows = n.div_ceil(cols);
        let panel_w = (110 + 95 * self.conditions.len().max(1) as u32).max(240);
        (panel_w * cols as u32, TITLE_H + PANEL_H * rows as u32)
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A `[lo, hi]` y range around the values with 6 % room (a unit range around a single value).
fn y_range(values: &[Vec<f64>]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.iter().flatten().filter(|v| v.is_finite()) {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi <= lo {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        return (lo - d, hi + d);
    }
    let pad = (hi - lo) * 0.06;
    (lo - pad, hi + pad)
}

fn draw<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, data: &PlotData) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (title, body) = root.split_vertically(TITLE_H);
    title
        .draw(&Text::new(
            data.title.clone(),
            (12, 10),
            (FONT, 18).into_font().style(FontStyle::Bold),
        ))
        .map_err(err)?;
    if data.groups.is_empty() {
        body.draw(&Text::new(
            "no finite values to plot".to_string(),
            (12, 20),
            (FONT, 15),
        ))
        .map_err(err)?;
        return root.present().map_err(err);
    }
    let n = data.groups.len();
    let cols = n.min(MAX_COLS);
    let rows = n.div_ceil(cols);
    let panels = body.split_evenly((rows, cols));
    let k = data.conditions.len().max(1);
    for (g, panel) in panels.iter().enumerate().take(n) {
        let Some(values) = data.values.get(g) else {
            continue;
        };
        let (y0, y1) = y_range(values);
        let mut chart = ChartBuilder::on(panel)
            .caption(clip(&data.groups[g], 30), (FONT, 16))
            .margin(10)
            .x_label_area_size(34)
            .y_label_area_size(72)
            .build_cartesian_2d(-0.5f64..(k as f64 - 0.5), y0..y1)
            .map_err(err)?;
        let x_label = |x: &f64| {
            let r = x.round();
            if (x - r).abs() > 1e-6 || r < 0.0 {
                return String::new();
            }
            let j = r as usize;
            match (data.conditions.get(j), values.get(j)) {
                (Some(c), Some(v)) => format!("{} (n={})", clip(c, 14), v.len()),
                _ => String::new(),
            }
        };
        let y_label = |y: &f64| fmt_num(*y, 3);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2 * k + 1)
            .x_label_formatter(&x_label)
            .y_labels(7)
            .y_label_formatter(&y_label)
            .y_desc(data.y_label.clone())
            .label_style((FONT, 12))
            .axis_desc_style((FONT, 13))
            .light_line_style(RGBColor(238, 238, 238))
            .max_light_lines(1)
            .draw()
            .map_err(err)?;
        for (j, v) in values.iter().enumerate() {
            let colour = PALETTE[j % PALETTE.len()];
            let x = j as f64;
            let Some(s) = BoxStats::of(v) else { continue };
            let half = 0.3;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - half, s.q1), (x + half, s.q3)],
                    colour.mix(0.18).filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(v.iter().enumerate().map(|(i, &y)| {
                    Circle::new((x + jitter(i, 0.44), y), 2, colour.mix(0.65).filled())
                }))
                .map_err(err)?;
            let line = |a: (f64, f64), b: (f64, f64), w: u32| {
                PathElement::new(vec![a, b], BLACK.mix(0.85).stroke_width(w))
            };
            chart
                .draw_series([
                    line((x, s.whisker_lo), (x, s.q1), 1),
                    line((x, s.q3), (x, s.whisker_hi), 1),
                    line((x - 0.12, s.whisker_lo), (x + 0.12, s.whisker_lo), 1),
                    line((x - 0.12, s.whisker_hi), (x + 0.12, s.whisker_hi), 1),
                    line((x - half, s.median), (x + half, s.median), 2),
                ])
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x - half, s.q1), (x + half, s.q3)],
                    colour.stroke_width(1),
                )))
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}

/// The plot as an SVG document.
pub fn render_svg(data: &PlotData) -> Result<String, String> {
    ensure_font()?;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, data.size()).into_drawing_area();
        draw(root, data)?;
    }
    Ok(svg)
}

/// The plot as an RGB image.
pub fn render_rgb(data: &PlotData) -> Result<RgbImage, String> {
    ensure_font()?;
    let (w, h) = data.size();
    let mut buf = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(root, data)?;
    }
    RgbImage::from_raw(w, h, buf).ok_or_else(|| "plot buffer has the wrong size".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> PlotData {
        PlotData {
            title: "ratio by class".into(),
            groups: vec!["mito".into(), "er".into()],
            conditions: vec!["ctrl".into(), "drug".into()],
            values: vec![
                vec![vec![0.004, 0.005, 0.006], vec![0.01, 0.012, 0.02, 0.015]],
                vec![vec![0.004], vec![]],
            ],
            y_label: "ratio [1]".into(),
        }
    }

    #[test]
    fn renders_svg_and_png_deterministically() {
        let d = data();
        let svg = render_svg(&d).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("mito") && svg.contains("ctrl (n=3)") && svg.contains("drug (n=4)"));
        assert_eq!(svg, render_svg(&d).unwrap());
        let png = render_rgb(&d).unwrap();
        assert_eq!(png.dimensions(), d.size());
        assert_eq!(png, render_rgb(&d).unwrap());
        // Text was rasterised: the title area holds dark pixels.
        let dark = (0..300)
            .flat_map(|x| (0..TITLE_H).map(move |y| (x, y)))
            .filter(|&(x, y)| png.get_pixel(x, y).0[0] < 100)
            .count();
        assert!(dark > 50, "{dark}");
        let empty = PlotData {
            groups: vec![],
            values: vec![],
            ..d
        };
        assert!(render_svg(&empty).unwrap().contains("no finite values"));
    }
}
