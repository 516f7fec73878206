//! Every value in shared/data/nanosims/reference.json (what the Python `sims` reader gets from
//! each sample file) is reproduced exactly. Skipped, with a message, when shared/ is absent.

mod common;

use corrflow_im::{ByteOrder, ImError, ImFile};
use serde_json::Value;

fn as_i64(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("integer expected, got {v}"))
}

fn as_f64(v: &Value) -> f64 {
    v.as_f64()
        .unwrap_or_else(|| panic!("number expected, got {v}"))
}

/// `sims` relabels the trolley-8 (SE) entry "SE"; our `label` keeps what is stored (empty)
/// and `name` says "SE".
fn sims_label(m: &corrflow_im::Mass) -> String {
    if m.trolley == 8 {
        "SE".to_string()
    } else {
        m.label.clone()
    }
}

#[test]
fn every_reference_file_matches_sims() {
    let Some(dir) = common::data_dir("every_reference_file_matches_sims") else {
        return;
    };
    let reference = common::reference(&dir);
    let files = reference.as_object().expect("reference.json is an object");
    assert_eq!(files.len(), 4, "reference.json lists the four sample files");
    for (name, r) in files {
        let f = ImFile::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let h = f.header();
        let ctx = |what: &str| format!("{name}: {what}");

        assert_eq!(
            h.release as i64,
            as_i64(&r["release"]),
            "{}",
            ctx("release")
        );
        assert_eq!(
            h.file_type as i64,
            as_i64(&r["file_type"]),
            "{}",
            ctx("file type")
        );
        assert_eq!(
            h.byte_order == ByteOrder::Big,
            r["big_endian"].as_bool().unwrap(),
            "{}",
            ctx("byte order")
        );
        assert_eq!(
            h.header_size as i64,
            as_i64(&r["header_size"]),
            "{}",
            ctx("header size")
        );
        assert_eq!(h.width as i64, as_i64(&r["width"]), "{}", ctx("width"));
        assert_eq!(h.height as i64, as_i64(&r["height"]), "{}", ctx("height"));
        assert_eq!(
            h.bytes_per_pixel as i64,
            as_i64(&r["bytes_per_pixel"]),
            "{}",
            ctx("bpp")
        );
        assert_eq!(h.planes as i64, as_i64(&r["planes"]), "{}", ctx("planes"));
        assert_eq!(
            h.n_masses as i64,
            as_i64(&r["n_masses"]),
            "{}",
            ctx("n_masses")
        );
        assert_eq!(
            h.raster_nm as i64,
            as_i64(&r["raster_nm"]),
            "{}",
            ctx("raster")
        );
        if h.width > 0 {
            assert_eq!(h.pixel_size_nm, Some(h.raster_nm as f64 / h.width as f64));
        }

        // Mass table.
        let masses = r["masses"].as_array().unwrap();
        assert_eq!(h.masses.len(), masses.len(), "{}", ctx("mass table length"));
        for (m, rm) in h.masses.iter().zip(masses) {
            assert_eq!(
                sims_label(m),
                rm["label"].as_str().unwrap(),
                "{}",
                ctx("label")
            );
            assert_eq!(m.mass_amu, as_f64(&rm["mass_amu"]), "{}", ctx("mass amu"));
            assert_eq!(
                m.trolley as i64,
                as_i64(&rm["trolley"]),
                "{}",
                ctx("trolley")
            );
            assert_eq!(
                m.detector as i64,
                as_i64(&rm["detector"]),
                "{}",
                ctx("detector")
            );
            let ms = as_f64(&rm["frame_count_time_ms"]);
            assert_eq!(m.counting_time_ms, ms, "{}", ctx("counting time"));
            assert_eq!(
                m.counting_time_s,
                ms / 1000.0,
                "{}",
                ctx("counting time (s)")
            );
            let expected_name = if m.label.is_empty() && (m.trolley == 8 || m.mass_amu == 0.0) {
                "SE".to_string()
            } else {
                rm["label"].as_str().unwrap().replace(' ', "")
            };
            assert_eq!(m.name, expected_name, "{}", ctx("name"));
        }

        // Dead times per detector.
        let dts = r["em_deadtime_ns"].as_object().unwrap();
        assert_eq!(
            h.detectors.len(),
            dts.len(),
            "{}",
            ctx("number of detectors")
        );
        for (det, v) in dts {
            let d = h.detector(det).unwrap_or_else(|| panic!("{}", ctx(det)));
            assert_eq!(d.dead_time_ns as i64, as_i64(v), "{}", ctx(det));
        }
        // Each mass carries the dead time of its trolley's detector (44 ns fallback).
        for m in &h.masses {
            let expected = match corrflow_im::detector_for_trolley(m.trolley) {
                Some(det) => as_i64(&dts[det]),
                None => 44,
            };
            assert_eq!(m.dead_time_ns as i64, expected, "{}", ctx("mass dead time"));
        }

        assert_eq!(
            h.primary_raster_um,
            Some(as_f64(&r["primary_raster_um"])),
            "{}",
            ctx("primary raster")
        );
        assert_eq!(
            h.analysis_duration_s as i64,
            as_i64(&r["analysis_duration_s"]),
            "{}",
            ctx("duration")
        );
        assert_eq!(
            h.date.map(|d| d.to_string()).as_deref(),
            r["date"].as_str(),
            "{}",
            ctx("date")
        );
        let xy = r["sample_xy_um"].as_array().unwrap();
        assert_eq!(
            (h.stage_x_um as i64, h.stage_y_um as i64),
            (as_i64(&xy[0]), as_i64(&xy[1])),
            "{}",
            ctx("stage")
        );

        if r.get("total_counts").is_none() {
            // Header-only file.
            assert!(!f.has_image_data(), "{}", ctx("header-only"));
            continue;
        }
        assert!(f.warnings().is_empty(), "{name}: {:?}", f.warnings());

        // Counts: totals and per-plane totals (from bytes), and the same from the decoded array.
        let totals = f.total_counts().unwrap();
        let planes = f.plane_totals().unwrap();
        let counts = f.counts().unwrap();
        assert_eq!(
            counts.dim(),
            (h.n_masses, h.planes, h.height, h.width),
            "{}",
            ctx("counts shape")
        );
        for (i, m) in h.masses.iter().enumerate() {
            let key = sims_label(m);
            assert_eq!(
                totals[i] as i64,
                as_i64(&r["total_counts"][&key]),
                "{}",
                ctx(&key)
            );
            let rp: Vec<i64> = r["frame_totals"][&key]
                .as_array()
                .unwrap()
                .iter()
                .map(as_i64)
                .collect();
            let ours: Vec<i64> = planes[i].iter().map(|&v| v as i64).collect();
            assert_eq!(ours, rp, "{}", ctx("frame totals"));
            let from_array: u64 = counts
                .index_axis(ndarray::Axis(0), i)
                .iter()
                .map(|&v| v as u64)
                .sum();
            assert_eq!(from_array, totals[i], "{}", ctx("array total"));

            // Probe pixels: sims' data[species, frame, y, x]; pixel_10_20 is row 10, column 20.
            for (probe, y, x) in [("pixel_0_0", 0, 0), ("pixel_10_20", 10, 20)] {
                let expected = as_i64(&r[probe][&key]);
                assert_eq!(counts[[i, 0, y, x]] as i64, expected, "{}", ctx(probe));
                assert_eq!(
                    f.pixel(i, 0, y, x).unwrap() as i64,
                    expected,
                    "{}",
                    ctx(probe)
                );
                assert_eq!(
                    f.image(i, 0).unwrap()[[y, x]] as i64,
                    expected,
                    "{}",
                    ctx(probe)
                );
            }
        }

        if let Some(ratio) = r.get("ratio_15N_14N_sum") {
            let n15 = f.mass_index("12C15N").unwrap();
            let n14 = f.mass_index("12C 14N").unwrap();
            let ours = totals[n15] as f64 / totals[n14] as f64;
            assert_eq!(ours, as_f64(ratio), "{}", ctx("15N/14N ratio"));
        }
    }
}

#[test]
fn header_only_files_give_no_image_data() {
    let Some(dir) = common::data_dir("header_only_files_give_no_image_data") else {
        return;
    };
    for name in common::HEADER_ONLY_FILES {
        let f = ImFile::open(dir.join(name)).unwrap();
        let h = f.header();
        assert!(!h.data_included);
        assert_eq!(
            h.masses.len(),
            8,
            "{name}: the mass table is still readable"
        );
        assert_eq!(h.masses[5].name, "SE");
        assert_eq!(h.masses[6].em_detector.as_deref(), Some("Detector 6"));
        assert_eq!(h.masses[7].em_detector.as_deref(), Some("Detector 7"));
        assert_eq!(h.masses[5].em_detector, None);
        assert_eq!(h.user, "Zan");
        assert!(!f.has_image_data());
        for err in [
            f.counts().unwrap_err(),
            f.image(0, 0).unwrap_err(),
            f.total_counts().unwrap_err(),
            f.plane_totals().unwrap_err(),
        ] {
            assert!(matches!(err, ImError::NoImageData { .. }), "{name}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(name), "message names the file: {msg}");
            assert!(msg.contains("no image data"), "{msg}");
        }
    }
}

#[test]
fn header_details_of_the_samples() {
    let Some(dir) = common::data_dir("header_details_of_the_samples") else {
        return;
    };
    let old = ImFile::open(dir.join(common::IMAGE_FILES[0])).unwrap();
    let h = old.header();
    assert_eq!(h.analysis_version, Some(4));
    assert_eq!(h.blocks.anal_param_nano, Some(5156));
    assert_eq!(h.blocks.anal_param_nano_bis, None);
    assert_eq!(h.image_file_name, "051117_05-32dRe-03b.im");
    assert_eq!(h.sample_name.as_deref(), Some("033"));
    assert_eq!(h.date_raw, "17.11.05 18:07");
    let d4 = h.detector("Detector 4").unwrap();
    assert_eq!((d4.yield_pct, d4.background), (70.0, 0));
    let c15 = &h.masses[3];
    assert_eq!(
        (c15.label.as_str(), c15.name.as_str()),
        ("12C 15N", "12C15N")
    );
    assert_eq!(c15.em_detector.as_deref(), Some("Detector 4"));
    assert_eq!(c15.yield_pct, Some(70.0));
    assert_eq!(c15.counting_time_ms, 3932.16);

    let rti = ImFile::open(dir.join(common::IMAGE_FILES[1])).unwrap();
    let h = rti.header();
    assert_eq!(h.analysis_version, Some(8));
    assert_eq!(
        h.masses[1].name, "SE",
        "the unlabelled mass-0 channel is SE"
    );
    assert_eq!(h.masses[1].label, "");
    // RTI masses sit on trolley 0: no detector, 44 ns fallback.
    assert!(
        h.masses
            .iter()
            .all(|m| m.em_detector.is_none() && m.dead_time_ns == 44)
    );
    assert_eq!(h.detector("TIC").unwrap().dead_time_ns, 44);
    assert_eq!(
        h.detector("Detector 1").unwrap().detector_type.as_deref(),
        Some("EM")
    );
    // The header serialises (for `corrflow inspect`-style output).
    let json = serde_json::to_value(h).unwrap();
    assert_eq!(json["date"], "2018-04-02 12:23:00");
    assert_eq!(json["byte_order"], "little");
}
