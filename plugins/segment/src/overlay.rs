//! Instances drawn on the EM image, for people to check a segmentation at a glance.
//!
//! [`render_overlay`] gives the gray image with each instance filled in its class colour at 35 %
//! opacity ([`FILL_ALPHA`]) and its outline (the mask's boundary pixels) in full colour, and a
//! legend panel to the right of the image: one line per class that has instances, a colour
//! swatch and `name (count)`, drawn with the 8×8 bitmap glyphs of the `font8x8` crate as the
//! NanoSIMS colour bars are (no system fonts needed; the PNG is byte-for-byte reproducible). The
//! image keeps its pixel coordinates: pixel (x, y) of the EM is pixel (x, y) of the overlay.
//!
//! - **Colours** ([`class_color`]): class id k takes entry k of [`PALETTE`], Sasha Trubetskoy's
//!   "20 simple, distinct colours" (first 12); with the six synthetic classes: nucleus red,
//!   mitochondrion green, er yellow, golgi blue, lysosome orange, vesicle purple. Ids past the
//!   palette get hues 137.5° (the golden angle) apart at full saturation and value.
//! - **Overlaps**: the fill follows [`Instances::label_image`] (higher score on top); every
//!   instance's outline is drawn, lower scores first.
//! - **Size**: outlines are 1 px thick up to 1024 px on the short side of the image, then one
//!   more pixel per 1024 px (at most 4); legend text is 8 px high up to 1024 px, scaled by the
//!   same factor, so that both stay visible when a large image is viewed whole.

use std::path::Path;

use corrflow_stage::StageError;
use corrflow_types::{Instances, Mask, intensity};
use image::{Rgb, RgbImage};
use ndarray::{Array2, ArrayView2};

/// Opacity of the instance fill (0–1).
pub const FILL_ALPHA: f32 = 0.35;

/// Class colours by class id (RGB): red, green, yellow, blue, orange, purple, cyan, magenta,
/// lime, pink, teal, lavender.
pub const PALETTE: [[u8; 3]; 12] = [
    [230, 25, 75],
    [60, 180, 75],
    [255, 225, 25],
    [0, 130, 200],
    [245, 130, 48],
    [145, 30, 180],
    [70, 240, 240],
    [240, 50, 230],
    [210, 245, 60],
    [250, 190, 212],
    [0, 128, 128],
    [220, 190, 255],
];

/// The colour of class `class_id`: [`PALETTE`] entry, then golden-angle hues.
pub fn class_color(class_id: u32) -> [u8; 3] {
    match PALETTE.get(class_id as usize) {
        Some(&c) => c,
        None => {
            let k = (class_id as usize - PALETTE.len()) as f64;
            hue_to_rgb((15.0 + k * 137.507_764) % 360.0)
        }
    }
}

/// RGB of hue `h` (degrees) at full saturation and value.
fn hue_to_rgb(h: f64) -> [u8; 3] {
    let x = 1.0 - ((h / 60.0) % 2.0 - 1.0).abs();
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    [r, g, b].map(|v: f64| (v * 255.0).round() as u8)
}

/// An 8-bit display version of an image: a linear stretch of the 0.5th–99.5th percentiles of the
/// finite pixels to 0–255 (clipped); NaN and infinite pixels → 0
/// ([`corrflow_types::intensity::to_u8`], the mapping of the training tiles).
pub fn to_u8_display(image: ArrayView2<'_, f32>) -> Array2<u8> {
    intensity::to_u8(
        image,
        intensity::Intensity::Percentile {
            low: 0.5,
            high: 99.5,
        },
    )
}

/// Scale of outlines and legend text for an image of `h` × `w` pixels (1 to 4).
fn scale_for(h: usize, w: usize) -> u32 {
    (h.min(w) / 1024).clamp(1, 4) as u32
}

/// The gray image with the instances filled and outlined, same size as the image.
///
/// `gray` should have the instances' (height, width); instances are clipped to `gray`.
pub fn render_instances(gray: ArrayView2<'_, u8>, instances: &Instances) -> RgbImage {
    let (h, w) = gray.dim();
    let mut raw = Vec::with_capacity(h * w * 3);
    for row in gray.rows() {
        for &v in row {
            raw.extend_from_slice(&[v, v, v]);
        }
    }
    // The fill: each labelled pixel is its gray value blended with its class colour, looked up
    // in a 256-entry table per class (the blend of every gray level, computed once).
    let mut tables: Vec<(u32, Vec<[u8; 3]>)> = Vec::new();
    let mut table_of = Vec::with_capacity(instances.len());
    for inst in &instances.instances {
        let k = match tables.iter().position(|(c, _)| *c == inst.class_id) {
            Some(k) => k,
            None => {
                let color = class_color(inst.class_id);
                let lut = (0..=255u8)
                    .map(|v| blend(Rgb([v, v, v]), color, FILL_ALPHA).0)
                    .collect();
                tables.push((inst.class_id, lut));
                tables.len() - 1
            }
        };
        table_of.push(k);
    }
    let labels = instances.label_image();
    for (r, (labels_row, gray_row)) in labels.rows().into_iter().zip(gray.rows()).enumerate() {
        let out_row = &mut raw[r * w * 3..(r + 1) * w * 3];
        for ((&l, &v), px) in labels_row
            .iter()
            .zip(gray_row)
            .zip(out_row.chunks_exact_mut(3))
        {
            if l != 0 {
                px.copy_from_slice(&tables[table_of[l as usize - 1]].1[usize::from(v)]);
            }
        }
    }
    let mut img = RgbImage::from_raw(w as u32, h as u32, raw)
        .unwrap_or_else(|| unreachable!("w × h × 3 bytes"));
    let t = scale_for(h, w) as usize;
    let mut order: Vec<usize> = (0..instances.len()).collect();
    order.sort_by(|&a, &b| {
        let s = |i: usize| instances.instances[i].score;
        s(a).total_cmp(&s(b))
    });
    for i in order {
        let inst = &instances.instances[i];
        draw_outline(&mut img, &inst.mask, t, Rgb(class_color(inst.class_id)));
    }
    img
}

/// Copy `img` into `canvas` with its top-left corner at column `x` (row 0), row by row;
/// `canvas` must be at least as tall as `img` and `x + img width` wide.
fn paste_at_column(canvas: &mut RgbImage, img: &RgbImage, x: u32) {
    let (cw, iw) = (canvas.width() as usize * 3, img.width() as usize * 3);
    let x = x as usize * 3;
    let dst = canvas.as_mut();
    for (r, src) in img.as_raw().chunks_exact(iw.max(1)).enumerate() {
        dst[r * cw + x..r * cw + x + iw].copy_from_slice(src);
    }
}

fn blend(px: Rgb<u8>, color: [u8; 3], alpha: f32) -> Rgb<u8> {
    Rgb(std::array::from_fn(|k| {
        (f32::from(px.0[k]) * (1.0 - alpha) + f32::from(color[k]) * alpha).round() as u8
    }))
}

/// Colour the boundary pixels of `mask`: inside pixels with an outside pixel (or the mask box's
/// edge) within `t` steps along a row or column.
fn draw_outline(img: &mut RgbImage, mask: &Mask, t: usize, color: Rgb<u8>) {
    let edges = outline(&mask.data, t);
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    for ((r, c), &e) in edges.indexed_iter() {
        let (x, y) = (mask.x0 + c, mask.y0 + r);
        if e && x < iw && y < ih {
            img.put_pixel(x as u32, y as u32, color);
        }
    }
}

/// The boundary pixels of a mask: inside pixels less than `t` pixels from the end of their run
/// along their row or their column (the box's edge ends a run). Equivalent to testing the `4t`
/// neighbours of each pixel, in one pass over the runs.
fn outline(mask: &Array2<bool>, t: usize) -> Array2<bool> {
    let mut edges = Array2::from_elem(mask.dim(), false);
    let mark = |lane: ndarray::ArrayView1<'_, bool>, mut out: ndarray::ArrayViewMut1<'_, bool>| {
        let n = lane.len();
        let mut i = 0;
        while i < n {
            if !lane[i] {
                i += 1;
                continue;
            }
            let start = i;
            while i < n && lane[i] {
                i += 1;
            }
            for k in start..i {
                if k - start < t || i - 1 - k < t {
                    out[k] = true;
                }
            }
        }
    };
    for (lane, out) in mask.rows().into_iter().zip(edges.rows_mut()) {
        mark(lane, out);
    }
    for (lane, out) in mask.columns().into_iter().zip(edges.columns_mut()) {
        mark(lane, out);
    }
    edges
}

/// A reduced overlay for previews (the HTML report), at most `max_width` px wide legend included:
/// the image reduced by the smallest integer factor k that fits, with the legend panel at its
/// smallest text size.
///
/// Drawn at the reduced size rather than drawn in full and reduced (k² times less work): each
/// preview pixel is the mean gray of its k × k block; its label is the label of the block's
/// centre pixel (as [`Instances::label_image`] decides overlaps: higher score, then lower index),
/// filled as in [`render_instances`]; a labelled preview pixel whose 4-neighbour has another
/// label (or lies outside the image) is drawn in full class colour as the outline. With k = 1 it
/// is the full-size image with one-pixel outlines of the visible label regions.
pub fn render_overlay_preview(
    gray: ArrayView2<'_, u8>,
    instances: &Instances,
    max_width: usize,
) -> RgbImage {
    let (h, w) = gray.dim();
    let entries = legend_entries(instances);
    let legend = (!entries.is_empty()).then(|| render_legend(&entries, 1));
    let room = max_width
        .saturating_sub(legend.as_ref().map_or(0, |l| l.width() as usize))
        .max(1);
    let k = w.div_ceil(room).max(1);
    let (ph, pw) = (h.div_ceil(k), w.div_ceil(k));
    // Block means of the gray image.
    let mut mean = vec![0u8; ph * pw];
    let mut sums = vec![0u32; pw];
    for (by, rows) in gray.axis_chunks_iter(ndarray::Axis(0), k).enumerate() {
        sums.fill(0);
        for row in rows.rows() {
            for (c, &v) in row.iter().enumerate() {
                sums[c / k] += u32::from(v);
            }
        }
        let bh = rows.nrows();
        for (bx, s) in sums.iter().enumerate() {
            let n = (bh * (w - bx * k).min(k)) as u32;
            mean[by * pw + bx] = ((s + n / 2) / n) as u8;
        }
    }
    // Labels of the block centres: instances in label-image order (higher score first, stable),
    // each taking the centres of its mask that no earlier one took.
    let centre = |b: usize, len: usize| (b * k + k / 2).min(len - 1);
    let mut labels = vec![0u32; ph * pw];
    let mut order: Vec<usize> = (0..instances.len()).collect();
    order.sort_by(|&a, &b| {
        instances.instances[b]
            .score
            .total_cmp(&instances.instances[a].score)
    });
    for i in order {
        let m = &instances.instances[i].mask;
        let (mh, mw) = m.data.dim();
        for by in m.y0 / k..(m.y0 + mh).div_ceil(k).min(ph) {
            let y = centre(by, h);
            if y < m.y0 || y >= m.y0 + mh {
                continue;
            }
            for bx in m.x0 / k..(m.x0 + mw).div_ceil(k).min(pw) {
                let x = centre(bx, w);
                let l = &mut labels[by * pw + bx];
                if *l == 0 && x >= m.x0 && x < m.x0 + mw && m.data[[y - m.y0, x - m.x0]] {
                    *l = i as u32 + 1;
                }
            }
        }
    }
    let mut raw = Vec::with_capacity(ph * pw * 3);
    for y in 0..ph {
        for x in 0..pw {
            let (v, l) = (mean[y * pw + x], labels[y * pw + x]);
            if l == 0 {
                raw.extend_from_slice(&[v, v, v]);
                continue;
            }
            let color = class_color(instances.instances[l as usize - 1].class_id);
            let other = |yy: Option<usize>, xx: Option<usize>| match (yy, xx) {
                (Some(yy), Some(xx)) if yy < ph && xx < pw => labels[yy * pw + xx] != l,
                _ => true,
            };
            let edge = other(y.checked_sub(1), Some(x))
                || other(Some(y + 1), Some(x))
                || other(Some(y), x.checked_sub(1))
                || other(Some(y), Some(x + 1));
            if edge {
                raw.extend_from_slice(&color);
            } else {
                raw.extend_from_slice(&blend(Rgb([v, v, v]), color, FILL_ALPHA).0);
            }
        }
    }
    let image = RgbImage::from_raw(pw as u32, ph as u32, raw)
        .unwrap_or_else(|| unreachable!("pw × ph × 3 bytes"));
    match legend {
        Some(legend) => beside(image, &legend),
        None => image,
    }
}

/// [`render_instances`] with a legend panel to the right of the image (white, classes that have
/// instances: swatch and `name (count)`). The canvas is (width + panel width) ×
/// max(height, panel height); without instances it is the gray image alone.
pub fn render_overlay(gray: ArrayView2<'_, u8>, instances: &Instances) -> RgbImage {
    let image = render_instances(gray, instances);
    let entries = legend_entries(instances);
    if entries.is_empty() {
        return image;
    }
    beside(
        image,
        &render_legend(&entries, scale_for(gray.nrows(), gray.ncols())),
    )
}

/// `image` and `legend` side by side on a white canvas.
fn beside(image: RgbImage, legend: &RgbImage) -> RgbImage {
    let (w, h) = (image.width(), image.height());
    let mut canvas = RgbImage::from_pixel(w + legend.width(), h.max(legend.height()), WHITE);
    paste_at_column(&mut canvas, &image, 0);
    paste_at_column(&mut canvas, legend, w);
    canvas
}

const WHITE: Rgb<u8> = Rgb([255, 255, 255]);
const BLACK: Rgb<u8> = Rgb([0, 0, 0]);
/// Glyph side (px, before scaling).
const GLYPH: u32 = 8;
/// Padding around the legend and between swatch and text (px, before scaling).
const PAD: u32 = 6;
/// Height of one legend line (px, before scaling).
const LINE: u32 = 12;

/// `(colour, text)` of each class with instances, by class id.
fn legend_entries(instances: &Instances) -> Vec<([u8; 3], String)> {
    let mut counts = std::collections::BTreeMap::<u32, usize>::new();
    for inst in &instances.instances {
        *counts.entry(inst.class_id).or_default() += 1;
    }
    counts
        .into_iter()
        .map(|(id, n)| {
            let name = instances
                .class_names
                .get(id as usize)
                .map_or_else(|| format!("class {id}"), Clone::clone);
            (class_color(id), format!("{name} ({n})"))
        })
        .collect()
}

/// The legend panel at text scale `s`.
fn render_legend(entries: &[([u8; 3], String)], s: u32) -> RgbImage {
    let longest = entries
        .iter()
        .map(|(_, t)| t.chars().count() as u32)
        .max()
        .unwrap_or(0);
    let width = s * (PAD + GLYPH + PAD + longest * GLYPH + PAD);
    let height = s * (PAD + entries.len() as u32 * LINE - (LINE - GLYPH) + PAD);
    let mut img = RgbImage::from_pixel(width, height, WHITE);
    for (i, (color, text)) in entries.iter().enumerate() {
        let y = s * (PAD + i as u32 * LINE);
        for dy in 0..GLYPH * s {
            for dx in 0..GLYPH * s {
                img.put_pixel(s * PAD + dx, y + dy, Rgb(*color));
            }
        }
        draw_text(&mut img, s * (PAD + GLYPH + PAD), y, text, BLACK, s);
    }
    img
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

/// Draw `text` with its top-left corner at (x, y), each glyph pixel as an `s` × `s` block;
/// clipped to the image.
fn draw_text(img: &mut RgbImage, x: u32, y: u32, text: &str, color: Rgb<u8>, s: u32) {
    for (i, c) in text.chars().enumerate() {
        let gx = x + i as u32 * GLYPH * s;
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..GLYPH {
                // font8x8: bit 0 is the leftmost pixel.
                if bits & (1 << col) == 0 {
                    continue;
                }
                for dy in 0..s {
                    for dx in 0..s {
                        let (px, py) = (gx + col * s + dx, y + row as u32 * s + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, color);
                        }
                    }
                }
            }
        }
    }
}

/// Render [`render_overlay`] and write it as PNG, atomically (temporary file, then rename).
pub fn write_overlay_png(
    path: &Path,
    gray: ArrayView2<'_, u8>,
    instances: &Instances,
) -> Result<(), StageError> {
    let img = render_overlay(gray, instances);
    let bytes = corrflow_io_em::encode_png_rgb(&img)
        .map_err(|e| StageError::other(format!("{}: PNG encoding: {e}", path.display())))?;
    crate::export::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_types::Instance;
    use ndarray::array;

    fn one(h: usize, w: usize, class_id: u32, mask: Mask) -> Instances {
        let bbox = mask.box_px().map(|v| v as f32);
        let names = (0..=class_id).map(|k| format!("c{k}")).collect();
        let inst = Instance {
            class_id,
            score: 1.0,
            bbox,
            mask,
        };
        Instances::new(h, w, 1.0, names, vec![inst]).unwrap()
    }

    /// The run-based outline against the definition: an inside pixel with an outside pixel (or
    /// the box edge) among its 4t neighbours along its row and column.
    #[test]
    fn outline_matches_the_neighbour_definition() {
        let mut state = 12345u64;
        for t in 1..=3 {
            for _ in 0..20 {
                let mask = Array2::from_shape_fn((13, 17), |(r, c)| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // Blobs: mostly inside near the centre.
                    let d = (r as f64 - 6.0).hypot(c as f64 - 8.0);
                    ((state >> 33) % 100) as f64 > d * 9.0
                });
                let inside = |r: isize, c: isize| {
                    r >= 0 && c >= 0 && r < 13 && c < 17 && mask[[r as usize, c as usize]]
                };
                let expected = Array2::from_shape_fn((13, 17), |(r, c)| {
                    let (r, c) = (r as isize, c as isize);
                    inside(r, c)
                        && (1..=t as isize).any(|k| {
                            !inside(r - k, c)
                                || !inside(r + k, c)
                                || !inside(r, c - k)
                                || !inside(r, c + k)
                        })
                });
                assert_eq!(outline(&mask, t), expected, "t = {t}");
            }
        }
    }

    /// The preview against its definition: block-mean gray, the label image at block centres,
    /// fill and outline colours, and the width limit with the legend.
    #[test]
    fn preview_is_the_reduced_overlay() {
        let (h, w) = (40usize, 50usize);
        let gray = Array2::from_shape_fn((h, w), |(r, c)| ((r * 7 + c * 3) % 256) as u8);
        let mut inst = one(h, w, 1, Mask::new(6, 9, Array2::from_elem((20, 24), true)));
        inst.instances.push(corrflow_types::Instance {
            class_id: 0,
            score: 0.95,
            bbox: [20.0, 15.0, 40.0, 30.0],
            mask: Mask::new(20, 15, Array2::from_elem((15, 20), true)),
        });
        let labels = inst.label_image();
        let legend_w = render_legend(&legend_entries(&inst), 1).width() as usize;
        let preview = render_overlay_preview(gray.view(), &inst, 17 + legend_w); // k = 3
        let k = 3;
        let (ph, pw) = (h.div_ceil(k), w.div_ceil(k));
        assert_eq!(preview.width() as usize, pw + legend_w);
        assert!(preview.height() as usize >= ph);
        let label_at =
            |y: usize, x: usize| labels[[(y * k + 1).min(h - 1), (x * k + 1).min(w - 1)]];
        for y in 0..ph {
            for x in 0..pw {
                let block = gray.slice(ndarray::s![
                    y * k..(y * k + k).min(h),
                    x * k..(x * k + k).min(w)
                ]);
                let m = (block.iter().map(|&v| f64::from(v)).sum::<f64>() / block.len() as f64)
                    .round() as u8;
                let l = label_at(y, x);
                let px = preview.get_pixel(x as u32, y as u32).0;
                if l == 0 {
                    assert_eq!(px, [m, m, m], "({y}, {x})");
                    continue;
                }
                let color = class_color(inst.instances[l as usize - 1].class_id);
                let edge = [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)]
                    .iter()
                    .any(|(dy, dx)| {
                        let (yy, xx) = (y as i64 + dy, x as i64 + dx);
                        yy < 0
                            || xx < 0
                            || yy >= ph as i64
                            || xx >= pw as i64
                            || label_at(yy as usize, xx as usize) != l
                    });
                let want = if edge {
                    color
                } else {
                    blend(Rgb([m, m, m]), color, FILL_ALPHA).0
                };
                assert_eq!(px, want, "({y}, {x}) label {l}");
            }
        }
        // Without instances: the reduced gray image alone; k = 1 when it fits.
        let empty = Instances::new(h, w, 1.0, vec!["c0".into()], vec![]).unwrap();
        let plain = render_overlay_preview(gray.view(), &empty, 100);
        assert_eq!(plain.dimensions(), (w as u32, h as u32));
    }

    #[test]
    fn colours_where_the_masks_are() {
        let gray = Array2::from_elem((12, 10), 100u8);
        let mask = Mask::new(2, 3, Array2::from_elem((5, 4), true));
        let inst = one(12, 10, 1, mask);
        let img = render_instances(gray.view(), &inst);
        assert_eq!((img.width(), img.height()), (10, 12));
        let green = Rgb(PALETTE[1]);
        // Outline at the box edge, fill inside, gray outside.
        assert_eq!(*img.get_pixel(2, 3), green);
        assert_eq!(*img.get_pixel(5, 7), green);
        let fill = *img.get_pixel(3, 4);
        assert_eq!(fill, blend(Rgb([100; 3]), PALETTE[1], FILL_ALPHA));
        assert_ne!(fill, green);
        assert_eq!(*img.get_pixel(0, 0), Rgb([100; 3]));
        assert_eq!(*img.get_pixel(6, 4), Rgb([100; 3]));
        // The overlay adds a legend on the right, keeps the image at the same place.
        let ov = render_overlay(gray.view(), &inst);
        assert!(ov.width() > 10 && ov.height() >= 12);
        for (x, y, p) in img.enumerate_pixels() {
            assert_eq!(ov.get_pixel(x, y), p);
        }
        let swatch = ov.get_pixel(10 + PAD + 1, PAD + 1);
        assert_eq!(*swatch, green);
    }

    #[test]
    fn empty_instances_and_tiny_images() {
        let gray = Array2::from_elem((3, 4), 7u8);
        let none = Instances::new(3, 4, 1.0, vec!["a".into()], vec![]).unwrap();
        let img = render_overlay(gray.view(), &none);
        assert_eq!((img.width(), img.height()), (4, 3));
        assert!(img.pixels().all(|p| *p == Rgb([7; 3])));
        let gray = array![[200u8]];
        let inst = one(1, 1, 30, Mask::new(0, 0, array![[true]]));
        let img = render_overlay(gray.view(), &inst);
        assert_eq!(*img.get_pixel(0, 0), Rgb(class_color(30)));
        assert!(img.height() > 1 && img.width() > 1);
    }

    #[test]
    fn palette_colours_are_distinct() {
        let colors: Vec<[u8; 3]> = (0..40).map(class_color).collect();
        for i in 0..12 {
            for j in 0..i {
                assert_ne!(colors[i], colors[j], "{i} {j}");
            }
        }
        assert_eq!(hue_to_rgb(0.0), [255, 0, 0]);
        assert_eq!(hue_to_rgb(120.0), [0, 255, 0]);
    }

    #[test]
    fn display_stretch_maps_nan_to_zero() {
        let img = Array2::from_shape_fn((20, 20), |(r, c)| {
            if r == 0 && c == 0 {
                f32::NAN
            } else {
                (r * 20 + c) as f32
            }
        });
        let d = to_u8_display(img.view());
        assert_eq!(d[[0, 0]], 0);
        assert_eq!(d[[19, 19]], 255);
        assert!(d[[10, 10]] > 100 && d[[10, 10]] < 160);
    }

    #[test]
    fn writes_a_png() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("o.png");
        let gray = Array2::from_elem((6, 6), 50u8);
        let inst = one(6, 6, 0, Mask::new(1, 1, Array2::from_elem((2, 2), true)));
        write_overlay_png(&p, gray.view(), &inst).unwrap();
        let back = image::open(&p).unwrap().to_rgb8();
        assert_eq!(back, render_overlay(gray.view(), &inst));
    }
}
