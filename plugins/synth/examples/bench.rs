//! Timing and class-presence statistics.
//!
//! `cargo run --release -p corrflow-synth --example bench -- [n_seeds]`

use corrflow_synth::{EmConfig, OrganelleClass, render_em};
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    for (size, px) in [(2048usize, 3.0f64), (4096, 3.0)] {
        let cfg = EmConfig {
            width_px: size,
            height_px: size,
            pixel_size_nm: px,
            ..EmConfig::default()
        };
        let mut times = Vec::new();
        for seed in 0..3 {
            let t = Instant::now();
            let s = render_em(&cfg, seed);
            times.push(t.elapsed().as_secs_f64());
            std::hint::black_box(&s);
        }
        println!("{size}² @ {px} nm/px: {:.3?} s", times);
    }
    let cfg = EmConfig {
        width_px: 512,
        height_px: 512,
        pixel_size_nm: 12.0,
        ..EmConfig::default()
    };
    let mut missing = [0u32; 6];
    let mut total = [0usize; 6];
    for seed in 0..n {
        let s = render_em(&cfg, seed);
        for c in OrganelleClass::ALL {
            let k = s.count(c);
            total[c.index()] += k;
            if k == 0 {
                missing[c.index()] += 1;
            }
        }
    }
    for c in OrganelleClass::ALL {
        println!(
            "{:<14} mean {:5.1}  missing in {}/{n}",
            c.as_str(),
            total[c.index()] as f64 / n as f64,
            missing[c.index()]
        );
    }
}
