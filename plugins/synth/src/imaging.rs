//! Image formation: transmission, PSF blur, illumination, shot noise, 16-bit.

use crate::noise::{hash2, poisson, value};
use rayon::prelude::*;

pub struct Imaging {
    pub blur_sigma_px: f32,
    pub dose: f32,
    pub illum_amp: f32,
    pub contrast: f32,
    pub gain_dir: [f32; 2],
    pub seed: u64,
}

/// Separable Gaussian blur with clamped borders; deterministic (fixed
/// summation order per pixel).
pub fn gaussian_blur(img: &mut [f32], w: usize, h: usize, sigma: f32) {
    if sigma < 0.25 || w == 0 || h == 0 {
        return;
    }
    let r = (3.0 * sigma).ceil() as usize;
    let mut k: Vec<f32> = (0..=2 * r)
        .map(|i| {
            let x = i as f32 - r as f32;
            libm::expf(-x * x / (2.0 * sigma * sigma))
        })
        .collect();
    let s: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= s);
    // horizontal
    let mut tmp = vec![0.0f32; w * h];
    tmp.par_chunks_mut(w)
        .zip(img.par_chunks(w))
        .for_each(|(o, row)| {
            for (x, ov) in o.iter_mut().enumerate() {
                let mut acc = 0.0;
                for (j, kv) in k.iter().enumerate() {
                    let xi = (x + j).saturating_sub(r).min(w - 1);
                    acc += kv * row[xi];
                }
                *ov = acc;
            }
        });
    // vertical: each output row is a weighted sum of input rows
    img.par_chunks_mut(w).enumerate().for_each(|(y, o)| {
        o.iter_mut().for_each(|v| *v = 0.0);
        for (j, kv) in k.iter().enumerate() {
            let yi = (y + j).saturating_sub(r).min(h - 1);
            let row = &tmp[yi * w..(yi + 1) * w];
            for (ov, iv) in o.iter_mut().zip(row) {
                *ov += kv * iv;
            }
        }
    });
}

/// Density → 16-bit counts image.
pub fn form(dens: &[f32], w: usize, h: usize, p: &Imaging) -> Vec<u16> {
    let mut t: Vec<f32> = dens
        .par_iter()
        .map(|&d| libm::expf(-d * p.contrast))
        .collect();
    gaussian_blur(&mut t, w, h, p.blur_sigma_px);
    let big = w.max(h) as f32;
    let dose = if p.dose > 0.0 { p.dose } else { 1.0 };
    let scale = 60000.0 / dose;
    let mut out = vec![0u16; w * h];
    out.par_chunks_mut(w).enumerate().for_each(|(y, o)| {
        let yf = y as f32;
        for (x, ov) in o.iter_mut().enumerate() {
            let xf = x as f32;
            let gain = 1.0
                + p.illum_amp
                    * (0.6 * value(p.seed, xf, yf, big * 0.6)
                        + 0.8
                            * (p.gain_dir[0] * (xf / w as f32 - 0.5)
                                + p.gain_dir[1] * (yf / h as f32 - 0.5)));
            let lam = dose * gain * t[y * w + x];
            let n = if p.dose > 0.0 {
                poisson(hash2(p.seed ^ 0xA5A5, x as i32, y as i32), lam)
            } else {
                lam
            };
            *ov = (1200.0 + n * scale).round().clamp(0.0, 65535.0) as u16;
        }
    });
    out
}
