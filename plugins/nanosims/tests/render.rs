//! Ratio / HSI rendering: pixel colours at known ratios, colour bar, PNG round trip, and
//! example figures of the real sample written to the temp directory for inspection.

mod common;

use corrflow_nanosims::colorbar::{
    ColorbarOptions, GAP_PX, LABEL_GAP_PX, MARGIN_PX, TICK_PX, draw_text, format_tick, text_width,
};
use corrflow_nanosims::hsi::{
    ColorMap, HsiOptions, Limits, RatioImageOptions, render_hsi, render_hsi_png, render_ratio,
    render_ratio_png,
};
use corrflow_nanosims::ratio::{RatioOptions, ratio_image};
use image::{Rgb, RgbImage};
use ndarray::{Array2, Axis};

/// 30×60: columns 0–19 ratio 1.0 (r_min), 20–39 ratio 1.5 (mid), 40–59 ratio 2.0 (r_max);
/// rows 0–14 full counts, rows 15–29 half counts; pixel (5, 5) NaN.
fn synthetic() -> (Array2<f64>, Array2<f64>) {
    let ratio = Array2::from_shape_fn((30, 60), |(y, x)| {
        if (y, x) == (5, 5) {
            f64::NAN
        } else {
            1.0 + 0.5 * (x / 20) as f64
        }
    });
    let den = Array2::from_shape_fn((30, 60), |(y, _)| if y < 15 { 100.0 } else { 50.0 });
    (ratio, den)
}

fn hsi_opts(scale: u32) -> HsiOptions {
    HsiOptions {
        ratio_limits: Limits::Fixed { min: 1.0, max: 2.0 },
        intensity_limits: Limits::Fixed {
            min: 0.0,
            max: 100.0,
        },
        colorbar: ColorbarOptions {
            scale,
            ..ColorbarOptions::default()
        },
    }
}

#[test]
fn hsi_colours_at_known_ratios_and_colour_bar() {
    let (ratio, den) = synthetic();
    let scale = 2;
    let out = render_hsi(ratio.view(), den.view(), &hsi_opts(scale)).unwrap();
    let img = &out.image;
    let (iw, ih) = (60 * scale, 30 * scale);
    let m = MARGIN_PX;
    let px = |y: u32, x: u32| *img.get_pixel(m + x * scale, m + y * scale);
    assert_eq!(px(0, 0), Rgb([0, 0, 255])); // r_min → blue
    assert_eq!(px(0, 30), Rgb([0, 255, 0])); // midpoint → green (hue 120°)
    assert_eq!(px(0, 59), Rgb([255, 0, 0])); // r_max → red
    assert_eq!(px(20, 59), Rgb([128, 0, 0])); // half counts → half intensity
    assert_eq!(px(5, 5), Rgb([0, 0, 0])); // NaN → black
    assert_eq!(
        *img.get_pixel(m + 5 * scale + 1, m + 5 * scale + 1),
        Rgb([0, 0, 0])
    );
    assert_eq!(out.ratio_limits, (1.0, 2.0));

    // figure size: margins, image, gap, bar, tick, label
    let labels = ["1", "1.25", "1.5", "1.75", "2"];
    let label_w = labels.iter().map(|l| text_width(l)).max().unwrap();
    let bar_x = m + iw + GAP_PX;
    let bw = 16;
    assert_eq!(
        img.width(),
        bar_x + bw + TICK_PX + LABEL_GAP_PX + label_w + m
    );
    assert_eq!(img.height(), m + ih + m);
    // bar: red at the top, blue at the bottom, green in the middle
    assert_eq!(*img.get_pixel(bar_x + 3, m), Rgb([255, 0, 0]));
    assert_eq!(*img.get_pixel(bar_x + 3, m + ih - 1), Rgb([0, 0, 255]));
    let Rgb([r, g, b]) = *img.get_pixel(bar_x + 3, m + (ih - 1) / 2); // t = 30/59
    assert!(g == 255 && r < 20 && b == 0, "{r} {g} {b}");
    // labels: each is exactly the 8×8 text drawn at its tick
    let lx = bar_x + bw + TICK_PX + LABEL_GAP_PX;
    for (i, l) in labels.iter().enumerate() {
        assert_eq!(format_tick(1.0 + 0.25 * i as f64, 3), *l);
        let ty = m + ((1.0 - i as f64 / 4.0) * (ih - 1) as f64).round() as u32;
        let mut expect = RgbImage::from_pixel(img.width(), img.height(), Rgb([255, 255, 255]));
        draw_text(&mut expect, lx as i64, ty as i64 - 4, l, Rgb([0, 0, 0]));
        let mut n_black = 0;
        for y in ty - 4..ty + 4 {
            for x in lx..lx + text_width(l) {
                assert_eq!(
                    img.get_pixel(x, y),
                    expect.get_pixel(x, y),
                    "label {l} at ({x}, {y})"
                );
                n_black += (*img.get_pixel(x, y) == Rgb([0, 0, 0])) as u32;
            }
        }
        assert!(n_black > 3, "label {l} not drawn");
        // tick mark
        assert_eq!(*img.get_pixel(bar_x + bw + 1, ty), Rgb([0, 0, 0]));
    }
}

#[test]
fn ratio_colormap_pixels_and_png_roundtrip() {
    let (ratio, _) = synthetic();
    let opts = RatioImageOptions {
        limits: Limits::Fixed { min: 1.0, max: 2.0 },
        colorbar: ColorbarOptions {
            title: Some("15N/14N".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ratio.png");
    let out = render_ratio_png(&path, ratio.view(), &opts).unwrap();
    let top = MARGIN_PX + 8 + 6; // title row
    let img = image::open(&path).unwrap().to_rgb8();
    assert_eq!(img, out.image);
    assert_eq!(
        *img.get_pixel(MARGIN_PX, top),
        Rgb(ColorMap::Viridis.at(0.0))
    );
    assert_eq!(
        *img.get_pixel(MARGIN_PX + 30, top),
        Rgb(ColorMap::Viridis.at(0.5))
    );
    assert_eq!(
        *img.get_pixel(MARGIN_PX + 59, top),
        Rgb(ColorMap::Viridis.at(1.0))
    );
    assert_eq!(*img.get_pixel(MARGIN_PX + 5, top + 5), Rgb([0, 0, 0]));
    assert_eq!(ColorMap::Viridis.at(0.0), [68, 1, 84]);
    // title drawn
    let title_black = (MARGIN_PX..MARGIN_PX + 56)
        .flat_map(|x| (MARGIN_PX..MARGIN_PX + 8).map(move |y| (x, y)))
        .filter(|&(x, y)| *img.get_pixel(x, y) == Rgb([0, 0, 0]))
        .count();
    assert!(title_black > 20);
    // no colour bar: the bare image
    let bare = RatioImageOptions {
        colorbar: ColorbarOptions {
            show: false,
            ..Default::default()
        },
        ..opts.clone()
    };
    assert_eq!(
        render_ratio(ratio.view(), &bare)
            .unwrap()
            .image
            .dimensions(),
        (60, 30)
    );
    // errors, not panics
    let e = Array2::<f64>::zeros((0, 3));
    assert!(render_ratio(e.view(), &opts).is_err());
    let (r, d) = synthetic();
    assert!(
        render_hsi(
            r.view(),
            d.slice(ndarray::s![..2, ..]).view(),
            &HsiOptions::default()
        )
        .is_err()
    );
    assert!(render_ratio_png(dir.path().join("no/such/dir/x.png"), r.view(), &opts).is_err());
    let all_nan = Array2::from_elem((4, 4), f64::NAN);
    let o = render_hsi(all_nan.view(), all_nan.view(), &HsiOptions::default()).unwrap();
    assert_eq!(o.ratio_limits, (0.0, 1.0));
}

/// Writes example figures of the sample (12C15N/12C14N) to `$TMPDIR/corrflow-nanosims/`.
#[test]
fn example_figures_of_real_sample() {
    let Some(im) = common::load_im() else { return };
    let cn = im.index_axis(Axis(0), 2).to_owned();
    let n15 = im.index_axis(Axis(0), 3).to_owned();
    let ratio = ratio_image(
        n15.view(),
        cn.view(),
        &RatioOptions {
            min_den: 500.0,
            smooth_px: 3,
        },
    )
    .unwrap();
    let dir = std::env::temp_dir().join("corrflow-nanosims");
    std::fs::create_dir_all(&dir).unwrap();
    let cb = ColorbarOptions {
        title: Some("12C15N/12C14N".into()),
        ..Default::default()
    };
    let hsi = render_hsi_png(
        dir.join("hsi_15N_14N.png"),
        ratio.view(),
        cn.view(),
        &HsiOptions {
            ratio_limits: Limits::Fixed {
                min: 0.0037,
                max: 0.006,
            },
            colorbar: cb.clone(),
            ..Default::default()
        },
    )
    .unwrap();
    let plain = render_ratio_png(
        dir.join("ratio_15N_14N.png"),
        ratio.view(),
        &RatioImageOptions {
            colorbar: cb,
            ..Default::default()
        },
    )
    .unwrap();
    eprintln!(
        "wrote {}/{{hsi,ratio}}_15N_14N.png; HSI intensity limits {:?}, ratio percentiles {:?}",
        dir.display(),
        hsi.intensity_limits,
        plain.ratio_limits
    );
    assert_eq!(hsi.image.height(), 8 + 14 + 256 + 8);
}
