//! The truth of a synthetic study is self-consistent: summing the written 12C15N and 12C14N counts
//! over the NanoSIMS pixels inside each organelle (mapped through the truth transform) recovers its
//! true ratio within the Poisson error. Computed here from the files alone — the .im reader and
//! this test's own dead-time correction and mapping, none of the pipeline's stages.

use corrflow_im::ImFile;
use corrflow_synth::EmConfig;
use corrflow_synth::study::{StudyConfig, generate};
use serde_json::Value;

#[test]
fn counts_inside_each_organelle_recover_its_true_ratio() {
    let dir = tempfile::tempdir().unwrap();
    // The default field of view at a coarser EM pixel, to keep the test fast.
    let mut cfg = StudyConfig::default();
    cfg.em = EmConfig {
        width_px: 1024,
        height_px: 1024,
        pixel_size_nm: 16.0,
        ..cfg.em
    };
    let reports = generate(dir.path(), 4, 7, &cfg).unwrap();
    assert_eq!(reports.len(), 4);
    let csv = std::fs::read_to_string(dir.path().join("samples.csv")).unwrap();
    assert!(
        csv.starts_with(
            "id,em,nanosims,condition,labels,classes,landmarks\n\
             s01,em/s01.tif,nanosims/s01.im,hNPC,truth/s01_labels.tif,truth/s01_classes.csv,\
             truth/s01_landmarks.csv\n"
        ),
        "{csv}"
    );

    // Landmarks: organelle centroids and their true NanoSIMS positions, within the click error.
    for r in &reports {
        let truth: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("truth/{}.json", r.id))).unwrap(),
        )
        .unwrap();
        let m: Vec<Vec<f64>> = serde_json::from_value(truth["em_to_nanosims"].clone()).unwrap();
        let text =
            std::fs::read_to_string(dir.path().join(format!("truth/{}_landmarks.csv", r.id)))
                .unwrap();
        let rows: Vec<Vec<f64>> = text
            .lines()
            .skip(2)
            .map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect())
            .collect();
        assert!(rows.len() >= 3, "{}: {text}", r.id);
        for p in rows {
            let u = m[0][0] * p[0] + m[0][1] * p[1] + m[0][2];
            let v = m[1][0] * p[0] + m[1][1] * p[1] + m[1][2];
            let err = ((u - p[2]).powi(2) + (v - p[3]).powi(2)).sqrt();
            assert!(err < 1.5, "{}: click error {err} px", r.id);
        }
    }

    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for r in &reports {
        let truth: Value = serde_json::from_slice(
            &std::fs::read(dir.path().join(format!("truth/{}.json", r.id))).unwrap(),
        )
        .unwrap();
        let labels = corrflow_io_em::read_labels_u32(
            &dir.path().join(format!("truth/{}_labels.tif", r.id)),
            None,
        )
        .unwrap()
        .data;
        let im = ImFile::open(dir.path().join(format!("nanosims/{}.im", r.id))).unwrap();
        let h = im.header();
        let counts = im.counts().unwrap();
        let (i14, i15) = (
            h.mass_index("12C14N").unwrap(),
            h.mass_index("12C15N").unwrap(),
        );
        let tau = h.dwell_time_s().unwrap();
        let d = truth["dead_time_ns"].as_f64().unwrap() * 1e-9;
        assert_eq!(tau, truth["dwell_time_s"].as_f64().unwrap());
        // EM → NS matrix; its inverse maps NS pixels back to EM.
        let m: Vec<Vec<f64>> = truth["em_to_nanosims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect()
            })
            .collect();
        let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
        let to_em = |u: f64, v: f64| {
            let (du, dv) = (u - m[0][2], v - m[1][2]);
            (
                (m[1][1] * du - m[0][1] * dv) / det,
                (-m[1][0] * du + m[0][0] * dv) / det,
            )
        };
        let (_, planes, nh, nw) = counts.dim();
        let (eh, ew) = labels.dim();
        // The organelle id under the whole footprint of each NS pixel (0 when mixed or outside).
        let mut pure = ndarray::Array2::<u32>::zeros((nh, nw));
        for v in 0..nh {
            for u in 0..nw {
                let mut id = None;
                'sub: for sv in 0..5 {
                    for su in 0..5 {
                        let (x, y) = to_em(
                            u as f64 - 0.4 + 0.2 * su as f64,
                            v as f64 - 0.4 + 0.2 * sv as f64,
                        );
                        let (xi, yi) = (x.round(), y.round());
                        let l =
                            if xi >= 0.0 && yi >= 0.0 && (xi as usize) < ew && (yi as usize) < eh {
                                labels[[yi as usize, xi as usize]]
                            } else {
                                0
                            };
                        match id {
                            None => id = Some(l),
                            Some(prev) if prev != l => {
                                id = Some(0);
                                break 'sub;
                            }
                            _ => {}
                        }
                    }
                }
                pure[[v, u]] = id.unwrap_or(0);
            }
        }
        // Keep pixels whose neighbours within 3 px (beam blur + drift) are the same organelle.
        let margin = 3isize;
        for o in truth["organelles"].as_array().unwrap() {
            let id = o["id"].as_u64().unwrap() as u32;
            let (mut s14, mut s15, mut n) = (0.0, 0.0, 0);
            for v in 0..nh as isize {
                for u in 0..nw as isize {
                    let inside = (-margin..=margin).all(|dv| {
                        (-margin..=margin).all(|du| {
                            let (vv, uu) = (v + dv, u + du);
                            vv >= 0
                                && uu >= 0
                                && (vv as usize) < nh
                                && (uu as usize) < nw
                                && pure[[vv as usize, uu as usize]] == id
                        })
                    });
                    if !inside {
                        continue;
                    }
                    n += 1;
                    for p in 0..planes {
                        // Undo the dead-time loss: N = N_rec / (1 − N_rec·d/τ).
                        let c14 = f64::from(counts[[i14, p, v as usize, u as usize]]);
                        let c15 = f64::from(counts[[i15, p, v as usize, u as usize]]);
                        s14 += c14 / (1.0 - c14 * d / tau);
                        s15 += c15 / (1.0 - c15 * d / tau);
                    }
                }
            }
            if n < 3 || s15 < 100.0 {
                continue; // too small to measure at this pixel size
            }
            let want = o["ratio_15N_14N"].as_f64().unwrap();
            let got = s15 / s14;
            let sigma = got * (1.0 / s15 + 1.0 / s14).sqrt();
            let z = (got - want) / sigma;
            worst = worst.max(z.abs());
            assert!(
                z.abs() < 4.0,
                "{} organelle {id} ({}): ratio {got:.6} vs truth {want:.6}, {z:.1} σ over {n} px",
                r.id,
                o["class"]
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 8,
        "only {checked} organelles were large enough to check"
    );
    eprintln!("{checked} organelles checked; largest deviation {worst:.2} σ");
}

#[test]
fn the_same_seed_gives_the_same_files() {
    let mut cfg = StudyConfig::default();
    cfg.em = EmConfig {
        width_px: 512,
        height_px: 512,
        pixel_size_nm: 32.0,
        ..cfg.em
    };
    cfg.nanosims.size_px = 64;
    cfg.nanosims.planes = 2;
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    generate(a.path(), 2, 3, &cfg).unwrap();
    generate(b.path(), 2, 3, &cfg).unwrap();
    for f in [
        "em/s01.tif",
        "nanosims/s02.im",
        "truth/s01.json",
        "truth/s02_labels.tif",
        "samples.csv",
    ] {
        assert_eq!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
    let c = tempfile::tempdir().unwrap();
    generate(c.path(), 1, 4, &cfg).unwrap();
    assert_ne!(
        std::fs::read(a.path().join("em/s01.tif")).unwrap(),
        std::fs::read(c.path().join("em/s01.tif")).unwrap()
    );
}
