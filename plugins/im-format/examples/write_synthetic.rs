//! Writes a synthetic NanoSIMS `.im` file (for tests, benchmarks, fuzz seeds and demos).
//!
//! ```text
//! cargo run --release -p corrflow-im --example write_synthetic -- OUT.im [MASSES PLANES SIZE [FORMAT]]
//! ```
//! FORMAT: `4108le` (default), `4108be`, `r9be16`, `r9le16`, `r9be32`, `r9le32`.
//! Counts are a smooth pattern plus pseudo-random noise, different for every mass and plane.

use corrflow_im::{
    ByteOrder, ImDateTime, ImWriteSpec, Layout, MassSpec, PixelType, WriteOptions, write_im,
};
use ndarray::Array4;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args[0] == "-h" || args[0] == "--help" {
        eprintln!(
            "usage: write_synthetic OUT.im [MASSES PLANES SIZE [4108le|4108be|r9be16|r9le16|r9be32|r9le32]]"
        );
        std::process::exit(2);
    }
    let num = |i: usize, default: usize| -> usize {
        args.get(i)
            .map_or(default, |s| s.parse().expect("a positive integer"))
    };
    let (masses, planes, size) = (num(1, 5), num(2, 10), num(3, 256));
    let opts = match args.get(4).map(String::as_str).unwrap_or("4108le") {
        "4108le" => WriteOptions::release4108(ByteOrder::Little),
        "4108be" => WriteOptions::release4108(ByteOrder::Big),
        "r9be16" => WriteOptions::release9(ByteOrder::Big, PixelType::U16),
        "r9le16" => WriteOptions::release9(ByteOrder::Little, PixelType::U16),
        "r9be32" => WriteOptions::release9(ByteOrder::Big, PixelType::U32),
        "r9le32" => WriteOptions::release9(ByteOrder::Little, PixelType::U32),
        other => panic!("unknown format {other}"),
    };
    let (spec, counts) = synthetic(masses, planes, size, opts.layout);
    write_im(&args[0], &spec, &counts, &opts).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    println!(
        "wrote {} ({masses} masses × {planes} planes × {size}×{size}, {opts:?})",
        args[0]
    );
}

fn synthetic(
    masses: usize,
    planes: usize,
    size: usize,
    layout: Layout,
) -> (ImWriteSpec, Array4<u32>) {
    const LABELS: [(&str, f64, i32); 7] = [
        ("12C", 12.0, 1),
        ("13C", 13.003355, 2),
        ("12C 14N", 26.003074, 3),
        ("12C 15N", 27.000108, 4),
        ("32S", 31.972071, 5),
        ("31P", 30.973762, 10),
        ("", 0.0, 8),
    ];
    let specs = (0..masses)
        .map(|i| {
            let (l, amu, t) = LABELS[i % LABELS.len()];
            let mut m = MassSpec::new(l, amu, t);
            // What instruments store for image acquisitions: seconds per plane.
            m.counting_time_ms = size as f64 * size as f64 * 1e-6;
            m
        })
        .collect();
    let mut spec = ImWriteSpec::new(specs, layout);
    spec.time_per_pixel_s = 1e-6; // 1 µs per pixel (the B-field table)
    spec.analysis_name = "Synthetic image".into();
    spec.file_name = "synthetic.im".into();
    spec.date = ImDateTime {
        year: 2024,
        month: 5,
        day: 17,
        hour: 9,
        minute: 30,
    };
    spec.raster_nm = 20_000;
    spec.primary_raster_um = 20.0;
    let mut state = 0x1234_5678_9abc_def0u64;
    let counts = Array4::from_shape_fn((masses, planes, size, size), |(m, p, y, x)| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let cx = (x as f64 / size as f64 - 0.5) * 6.0;
        let cy = (y as f64 / size as f64 - 0.5) * 6.0;
        let base = 200.0 / (m + 1) as f64 * (1.0 + (cx * cy + p as f64 * 0.1).sin());
        (base + (state % 32) as f64) as u32
    });
    (spec, counts)
}
