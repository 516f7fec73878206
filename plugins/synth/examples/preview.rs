//! Render one synthetic TEM image and write previews:
//! `/tmp/synth_em.png` (downscaled 8-bit), `/tmp/synth_em_crop.png` (full
//! resolution 512² crop), `/tmp/synth_labels.png` (random colour per id).
//!
//! `cargo run --release -p corrflow-synth --example preview -- [seed] [size] [pixel_nm] [crop_fx] [crop_fy]`

use corrflow_synth::{EmConfig, render_em};
use image::{GrayImage, Luma, Rgb, RgbImage};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let seed: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2048);
    let px: f64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0 * 2048.0 / size as f64);
    let cfg = EmConfig {
        width_px: size,
        height_px: size,
        pixel_size_nm: px,
        ..EmConfig::default()
    };
    let t = Instant::now();
    let s = render_em(&cfg, seed);
    println!(
        "rendered {size}x{size} @ {px} nm/px in {:.3} s",
        t.elapsed().as_secs_f64()
    );
    for c in corrflow_synth::OrganelleClass::ALL {
        println!("  {:<14} {}", c.as_str(), s.count(c));
    }
    let (h, w) = s.image.dim();
    let lo = *s.image.iter().min().unwrap() as f32;
    let hi = *s.image.iter().max().unwrap() as f32;
    println!("  intensity range {lo}..{hi}");
    let f = w.div_ceil(1024);
    let (ow, oh) = (w / f, h / f);
    let mut g = GrayImage::new(ow as u32, oh as u32);
    for y in 0..oh {
        for x in 0..ow {
            let mut acc = 0.0;
            for j in 0..f {
                for i in 0..f {
                    acc += s.image[[y * f + j, x * f + i]] as f32;
                }
            }
            let v = acc / (f * f) as f32 / 256.0;
            g.put_pixel(x as u32, y as u32, Luma([v.clamp(0.0, 255.0) as u8]));
        }
    }
    g.save("/tmp/synth_em.png").unwrap();
    let c = 512.min(w).min(h);
    let fx: f64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(0.5);
    let fy: f64 = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(0.5);
    let cx = (((w as f64 * fx) as usize).saturating_sub(c / 2)).min(w - c);
    let cy = (((h as f64 * fy) as usize).saturating_sub(c / 2)).min(h - c);
    let crop = GrayImage::from_fn(c as u32, c as u32, |x, y| {
        Luma([(s.image[[cy + y as usize, cx + x as usize]] / 256) as u8])
    });
    crop.save("/tmp/synth_em_crop.png").unwrap();
    let colour = |id: u32| -> [u8; 3] {
        let mut z = (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z ^= z >> 29;
        z = z.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        [
            60 + (z & 0xBF) as u8,
            60 + ((z >> 8) & 0xBF) as u8,
            60 + ((z >> 16) & 0xBF) as u8,
        ]
    };
    let mut l = RgbImage::new(ow as u32, oh as u32);
    for y in 0..oh {
        for x in 0..ow {
            let id = s.labels[[y * f + f / 2, x * f + f / 2]];
            let p = if id == 0 {
                if s.cell_mask[[y * f + f / 2, x * f + f / 2]] {
                    [40, 40, 40]
                } else {
                    [0, 0, 0]
                }
            } else {
                colour(id)
            };
            l.put_pixel(x as u32, y as u32, Rgb(p));
        }
    }
    l.save("/tmp/synth_labels.png").unwrap();
}
