//! Drift estimation on the real 12C14N ion map (skipped when the shared data are absent).

mod common;

use common::Rng;
use corrflow_nanosims::align::{
    ShiftMode, ShiftOptions, align_planes, apply_shift, estimate_shift, estimate_shift_with,
    fourier_shift,
};
use corrflow_nanosims::ratio::ratio_of_sums;
use ndarray::{Array2, Array3, Axis, s};

const CN: usize = 2; // 12C 14N
const N15: usize = 3; // 12C 15N

#[test]
fn recovers_fourier_shifts_of_real_map() {
    let Some(im) = common::load_im() else { return };
    let r = im.index_axis(Axis(0), CN).to_owned();
    let mut worst = 0.0f64;
    for (dy, dx) in [
        (1.3, -2.7),
        (0.25, 0.5),
        (-3.6, 4.05),
        (0.0, 0.0),
        (7.77, 0.12),
    ] {
        let m = fourier_shift(r.view(), dy, dx).unwrap();
        let s = estimate_shift(r.view(), m.view(), 100).unwrap();
        // moving = reference moved by (dy, dx): the registering shift is (−dy, −dx)
        let dev = (s.dy + dy).abs().max((s.dx + dx).abs());
        eprintln!(
            "fourier shift ({dy}, {dx}): estimated ({:.3}, {:.3}), |Δ| = {dev:.3} px",
            s.dy, s.dx
        );
        worst = worst.max(dev);
        assert!(dev <= 0.1, "({dy}, {dx}) recovered as ({}, {})", s.dy, s.dx);
    }
    eprintln!("worst deviation {worst:.3} px");
}

/// A drifted plane as acquired: the map moved by `(dy, dx)` (periodic Fourier shift of the
/// full 256² map, then the interior 224² window, so the plane edges are not periodic),
/// scaled to `mean` counts per pixel and Poisson-resampled.
fn drifted(map: &Array2<f64>, dy: f64, dx: f64, mean: f64, rng: &mut Rng) -> Array2<f64> {
    let scale = mean / map.mean().unwrap();
    let shifted = fourier_shift(map.view(), dy, dx).unwrap();
    shifted
        .slice(s![16..240, 16..240])
        .mapv(|v| rng.poisson(v.max(0.0) * scale))
}

#[test]
fn recovers_noisy_non_periodic_drift() {
    let Some(im) = common::load_im() else { return };
    let r = im.index_axis(Axis(0), CN).to_owned();
    let mut rng = Rng::new(42);
    let drifts = [(1.3, -2.7), (0.25, 0.5), (-4.4, 3.35), (0.7, 0.1)];
    // (counts per pixel, options, tolerance in px)
    let settings = [
        (1000.0, ShiftOptions::skimage(20), 0.15),
        (1000.0, ShiftOptions::robust(20), 0.1),
        (100.0, ShiftOptions::skimage(20), 0.5),
        (100.0, ShiftOptions::robust(20), 0.15),
        (20.0, ShiftOptions::robust(20), 0.3),
    ];
    for (mean, opts, tol) in settings {
        let reference = drifted(&r, 0.0, 0.0, mean, &mut rng);
        let mut worst = 0.0f64;
        for (dy, dx) in drifts {
            let moving = drifted(&r, dy, dx, mean, &mut rng);
            let s = estimate_shift_with(reference.view(), moving.view(), &opts).unwrap();
            let dev = (s.dy + dy).abs().max((s.dx + dx).abs());
            worst = worst.max(dev);
            eprintln!(
                "{mean:6} counts/px {:?}/window {}: drift ({dy}, {dx}) → ({:.3}, {:.3}), |Δ| = {dev:.3} px",
                opts.normalization, opts.hann_window, s.dy, s.dx
            );
        }
        assert!(
            worst <= tol,
            "{mean}/px {opts:?}: worst deviation {worst} > {tol}"
        );
    }
}

#[test]
fn align_planes_on_simulated_stack_keeps_the_ratio() {
    let Some(im) = common::load_im() else { return };
    let cn = im.index_axis(Axis(0), CN).to_owned();
    let n15 = im.index_axis(Axis(0), N15).to_owned();
    let drifts = [
        (0.0, 0.0),
        (0.6, -0.4),
        (1.4, -1.1),
        (2.1, -1.5),
        (2.9, -2.2),
    ];
    let mut rng = Rng::new(7);
    let (np, h, w) = (drifts.len(), 224, 224);
    let mut stack_cn = Array3::<f64>::zeros((np, h, w));
    let mut stack_15 = Array3::<f64>::zeros((np, h, w));
    for (p, (dy, dx)) in drifts.iter().enumerate() {
        // each plane: 1/5 of the counts, drifted
        stack_cn
            .index_axis_mut(Axis(0), p)
            .assign(&drifted(&cn, *dy, *dx, 3713.0 / 5.0, &mut rng));
        stack_15
            .index_axis_mut(Axis(0), p)
            .assign(&drifted(&n15, *dy, *dx, 17.1 / 5.0, &mut rng));
    }
    let shifts = align_planes(stack_cn.view(), 0, 5.0, 20).unwrap();
    for (p, ((gy, gx), (dy, dx))) in shifts.iter().zip(drifts.iter()).enumerate() {
        eprintln!("plane {p}: drift ({dy}, {dx}) → shift ({gy:.3}, {gx:.3})");
        assert!(
            (gy + dy).abs() <= 0.15 && (gx + dx).abs() <= 0.15,
            "plane {p}"
        );
    }
    // register both masses with the integer shift and sum where every plane is valid
    let mut sum_cn = Array2::<f64>::zeros((h, w));
    let mut sum_15 = Array2::<f64>::zeros((h, w));
    let mut valid = Array2::from_elem((h, w), true);
    for (p, (gy, gx)) in shifts.iter().enumerate() {
        let a = apply_shift(
            stack_cn.index_axis(Axis(0), p),
            *gy,
            *gx,
            ShiftMode::Integer,
        )
        .unwrap();
        let b = apply_shift(
            stack_15.index_axis(Axis(0), p),
            *gy,
            *gx,
            ShiftMode::Integer,
        )
        .unwrap();
        sum_cn += &a.image;
        sum_15 += &b.image;
        valid.zip_mut_with(&a.valid, |v, a| *v &= *a);
    }
    let r = ratio_of_sums(sum_15.view(), sum_cn.view(), Some(valid.view())).unwrap();
    eprintln!(
        "ratio of sums after alignment: {:.6} ± {:.6} (file: 0.004605)",
        r.ratio, r.abs_error
    );
    assert!((r.ratio - 0.004605).abs() < 4.0 * r.abs_error + 5e-5);
}
