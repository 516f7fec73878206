//! Shared helpers: the sample folder (read in place from shared/, never copied) and the
//! reference values that the Python `sims` package produced for it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use corrflow_im::{ByteOrder, ImDateTime, ImWriteSpec, Layout, MassSpec};
use ndarray::Array4;

pub const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/nanosims");

pub const IMAGE_FILES: [&str; 2] = ["OpenMIMS_doc_051117_05-32dRe-03b.im", "RTIimage.im"];
pub const HEADER_ONLY_FILES: [&str; 2] = ["grain_mode_cameca.im", "line_scan_beam_control.im"];

/// The sample folder, or `None` after printing why the calling test is skipped.
pub fn data_dir(test: &str) -> Option<PathBuf> {
    let d = Path::new(DATA_DIR);
    if d.join("reference.json").is_file() {
        Some(d.to_path_buf())
    } else {
        eprintln!(
            "SKIPPED {test}: sample folder {} (shared/data/nanosims with reference.json) not found",
            d.display()
        );
        None
    }
}

pub fn reference(dir: &Path) -> serde_json::Value {
    let text =
        std::fs::read_to_string(dir.join("reference.json")).expect("reference.json readable");
    serde_json::from_str(&text).expect("reference.json is JSON")
}

/// Deterministic pseudo-random numbers (SplitMix64).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// A synthetic stack with distinct values everywhere (masses × planes × height × width).
pub fn synthetic_counts(
    m: usize,
    p: usize,
    h: usize,
    w: usize,
    max: u32,
    seed: u64,
) -> Array4<u32> {
    let mut rng = Rng(seed);
    Array4::from_shape_fn((m, p, h, w), |_| rng.below(max as u64 + 1) as u32)
}

/// A spec with non-trivial metadata in every field the writer stores.
pub fn synthetic_spec(n_masses: usize, layout: Layout) -> ImWriteSpec {
    let labels = [
        "12C", "13C", "12C 14N", "12C 15N", "", "28Si", "29Si", "30Si", "31P", "32S",
    ];
    let trolleys = [1, 2, 3, 4, 8, 5, 10, 11, 0, 0];
    let masses = (0..n_masses)
        .map(|i| {
            let mut m = MassSpec::new(
                labels[i % labels.len()],
                if labels[i % labels.len()].is_empty() {
                    0.0
                } else {
                    12.0 + i as f64 * 1.0034
                },
                trolleys[i % trolleys.len()],
            );
            m.counting_time_ms = 65.536 * (i + 1) as f64 + 0.1;
            m.waiting_time_ms = 0.3 * i as f64;
            m.detector = (i % 2) as i32;
            m
        })
        .collect();
    let mut spec = ImWriteSpec::new(masses, layout);
    spec.analysis_name = "Synthetic acquisition".into();
    spec.user = "tester".into();
    spec.sample_name = "sample-42".into();
    spec.file_name = "synthetic.im".into();
    spec.date = ImDateTime {
        year: 2021,
        month: 7,
        day: 30,
        hour: 13,
        minute: 45,
    };
    spec.stage_x_um = -1234;
    spec.stage_y_um = 5678;
    spec.stage_z_um = 42;
    spec.analysis_duration_s = 321;
    spec.raster_nm = 20_000;
    spec.primary_raster_um = 19.991;
    spec.time_per_pixel_s = 250e-6;
    for (k, d) in spec.detectors.iter_mut().enumerate() {
        d.dead_time_ns = 40 + k as i32;
        d.yield_pct = 90.0 + k as f64 * 0.5;
        d.background = k as i32;
    }
    spec
}

pub fn order_name(o: ByteOrder) -> &'static str {
    match o {
        ByteOrder::Big => "big",
        ByteOrder::Little => "little",
    }
}
