use corrflow_synth::{EmConfig, OrganelleClass, render_em};
use std::time::Instant;

fn mid() -> EmConfig {
    // Same physical field of view as the default, at lower resolution.
    EmConfig {
        width_px: 512,
        height_px: 512,
        pixel_size_nm: 12.0,
        ..EmConfig::default()
    }
}

#[test]
fn deterministic_per_seed() {
    let cfg = EmConfig::small();
    let a = render_em(&cfg, 7);
    let b = render_em(&cfg, 7);
    assert_eq!(a.image, b.image);
    assert_eq!(a.labels, b.labels);
    assert_eq!(a.organelles, b.organelles);
    let c = render_em(&cfg, 8);
    assert_ne!(a.image, c.image);
    assert_ne!(a.labels, c.labels);
}

#[test]
fn deterministic_across_thread_counts() {
    let cfg = mid();
    let a = render_em(&cfg, 3);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let b = pool.install(|| render_em(&cfg, 3));
    assert_eq!(a.image, b.image);
    assert_eq!(a.labels, b.labels);
}

#[test]
fn every_class_present_and_counts_in_range() {
    let cfg = mid();
    for seed in 0..4 {
        let s = render_em(&cfg, seed);
        let c = &cfg.counts;
        let ranges = [
            c.nucleus,
            c.mitochondrion,
            c.er,
            c.golgi,
            c.lysosome,
            c.vesicle,
        ];
        for (class, r) in OrganelleClass::ALL.iter().zip(ranges) {
            let n = s.count(*class);
            assert!(n >= 1, "seed {seed}: no {class}");
            assert!(n as u32 <= r[1], "seed {seed}: {n} {class} > {}", r[1]);
        }
    }
}

#[test]
fn labels_consistent_with_organelles() {
    let cfg = mid();
    let s = render_em(&cfg, 11);
    let (h, w) = s.labels.dim();
    assert_eq!(s.image.dim(), (h, w));
    assert_eq!(s.cell_mask.dim(), (h, w));
    let n = s.organelles.len();
    assert!(n > 10);
    let mut area = vec![0u64; n + 1];
    for ((y, x), &l) in s.labels.indexed_iter() {
        assert!((l as usize) <= n, "label {l} > {n}");
        area[l as usize] += 1;
        if l > 0 {
            assert!(s.cell_mask[[y, x]], "organelle pixel outside the cell");
        }
    }
    for (i, o) in s.organelles.iter().enumerate() {
        assert_eq!(o.id as usize, i + 1, "ids are 1..=n in order");
        assert!(o.area_px >= 1);
        assert_eq!(o.area_px, area[o.id as usize]);
        let b = o.bbox;
        assert!(
            b.x0 + b.width <= w && b.y0 + b.height <= h,
            "inside the image"
        );
        assert_eq!(o.mask.dim(), (b.height, b.width));
        assert_eq!(o.mask.iter().filter(|&&m| m).count() as u64, o.area_px);
        for ((j, i2), &m) in o.mask.indexed_iter() {
            assert_eq!(m, s.labels[[b.y0 + j, b.x0 + i2]] == o.id);
        }
        let [cx, cy] = o.centroid;
        assert!(cx >= b.x0 as f64 && cx < (b.x0 + b.width) as f64);
        assert!(cy >= b.y0 as f64 && cy < (b.y0 + b.height) as f64);
    }
    // class map agrees
    let cm = s.class_map();
    for (&l, &c) in s.labels.iter().zip(cm.iter()) {
        if l == 0 {
            assert_eq!(c, 0);
        } else {
            assert_eq!(c as usize, s.organelles[l as usize - 1].class.index() + 1);
        }
    }
}

#[test]
fn intensities_use_the_16_bit_range() {
    let s = render_em(&mid(), 5);
    let mut v: Vec<u16> = s.image.iter().copied().collect();
    v.sort_unstable();
    let p = |q: f64| v[((v.len() - 1) as f64 * q) as usize] as f64;
    assert!(
        p(0.999) - p(0.001) > 0.55 * 65535.0,
        "{} {}",
        p(0.001),
        p(0.999)
    );
    assert!(p(0.999) > 45000.0);
    // resin (outside the cell) is brighter than cytoplasm on average
    let (mut out, mut no, mut cyto, mut nc) = (0.0, 0.0, 0.0, 0.0);
    for ((&px, &c), &l) in s.image.iter().zip(s.cell_mask.iter()).zip(s.labels.iter()) {
        if !c {
            out += px as f64;
            no += 1.0;
        } else if l == 0 {
            cyto += px as f64;
            nc += 1.0;
        }
    }
    if no > 100.0 {
        assert!(out / no > cyto / nc + 10000.0);
    }
}

#[test]
fn small_config_renders_fast() {
    let cfg = EmConfig::small();
    let t = Instant::now();
    let s = render_em(&cfg, 1);
    let dt = t.elapsed().as_secs_f64();
    assert_eq!(s.image.dim(), (256, 256));
    assert!(dt < 2.0, "256² took {dt} s");
}

#[test]
fn noise_free_and_unblurred_configs_work() {
    let cfg = EmConfig {
        dose_e_per_px: 0.0,
        blur_sigma_nm: 0.0,
        illumination_amplitude: 0.0,
        ..EmConfig::small()
    };
    let s = render_em(&cfg, 2);
    assert!(s.image.iter().any(|&v| v > 40000));
}

#[test]
fn config_serde_roundtrip() {
    let cfg = EmConfig::default();
    let j = serde_json::to_string(&cfg).unwrap();
    let back: EmConfig = serde_json::from_str(&j).unwrap();
    assert_eq!(cfg, back);
    let partial: EmConfig =
        serde_json::from_str(r#"{"width_px": 128, "counts": {"vesicle": [1, 2]}}"#).unwrap();
    assert_eq!(partial.width_px, 128);
    assert_eq!(partial.counts.vesicle, [1, 2]);
    assert_eq!(partial.counts.golgi, EmConfig::default().counts.golgi);
    assert_eq!(
        serde_json::to_string(&OrganelleClass::Er).unwrap(),
        "\"er\""
    );
    for c in OrganelleClass::ALL {
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            format!("\"{}\"", c.as_str())
        );
    }
}
