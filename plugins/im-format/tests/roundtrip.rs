//! Writer round trips: write → read gives identical counts and metadata, in both byte orders,
//! both layouts and both pixel types; the write is atomic; bad input is refused up front.

mod common;

use corrflow_im::{
    ByteOrder, Detector, ImError, ImFile, ImWriteSpec, Layout, PixelType, WriteOptions, encode_im,
    write_im,
};

fn all_options() -> Vec<WriteOptions> {
    let mut v = Vec::new();
    for order in [ByteOrder::Big, ByteOrder::Little] {
        v.push(WriteOptions::release9(order, PixelType::U16));
        v.push(WriteOptions::release9(order, PixelType::U32));
        v.push(WriteOptions::release4108(order));
        v.push(WriteOptions {
            byte_order: order,
            layout: Layout::Release4108,
            pixel_type: PixelType::U16,
        });
    }
    v
}

#[test]
fn synthetic_round_trip_is_exact_in_every_format() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, opts) in all_options().into_iter().enumerate() {
        let n = if opts.layout == Layout::Release9 {
            5
        } else {
            9
        };
        let spec = common::synthetic_spec(n, opts.layout);
        let max = if opts.pixel_type == PixelType::U16 {
            65_535
        } else {
            u32::MAX
        };
        let counts = common::synthetic_counts(n, 3, 17, 23, max, k as u64);
        let path = tmp.path().join(format!("rt{k}.im"));
        write_im(&path, &spec, &counts, &opts).unwrap();

        let f = ImFile::open(&path).unwrap();
        let h = f.header();
        let ctx = format!("{opts:?}");
        assert!(f.warnings().is_empty(), "{ctx}: {:?}", f.warnings());
        assert_eq!(h.release, opts.layout.release(), "{ctx}");
        assert_eq!(h.byte_order, opts.byte_order, "{ctx}");
        assert_eq!(h.bytes_per_pixel, opts.pixel_type.bytes(), "{ctx}");
        assert_eq!(h.file_type, 27);
        assert!(h.data_included);
        assert_eq!(
            (h.n_masses, h.planes, h.height, h.width),
            (n, 3, 17, 23),
            "{ctx}"
        );
        assert_eq!(f.counts().unwrap(), counts, "{ctx}");
        let totals: Vec<u64> = counts
            .outer_iter()
            .map(|m| m.iter().map(|&v| v as u64).sum())
            .collect();
        assert_eq!(f.total_counts().unwrap(), totals, "{ctx}");

        // Metadata: the spec rebuilt from the header is the spec written.
        assert_eq!(ImWriteSpec::from_header(h), spec, "{ctx}");
        assert_eq!(h.date.unwrap().to_string(), "2021-07-30 13:45:00");
        assert_eq!(h.pixel_size_nm, Some(20_000.0 / 23.0));
        assert_eq!(h.image_file_name, "synthetic.im");
        assert_eq!(h.cycles, 3);
        // The B-field table: the given time per pixel, the image size as counting frame.
        assert_eq!(h.dwell_time_s(), Some(250e-6), "{ctx}");
        assert_eq!(h.b_fields.len(), 1, "{ctx}");
        assert_eq!(h.b_fields[0].time_per_pixel_us, 250);
        assert_eq!(h.b_fields[0].frames_per_bfield, 1);
        assert_eq!(h.counting_frame, Some((23, 17)), "{ctx}");
        assert_eq!(
            h.b_fields[0].counting_frame_time_s,
            Some(250e-6 * 17.0 * 23.0)
        );
        for i in 0..n {
            assert_eq!(h.masses[i].b_field_index, Some(0));
            assert_eq!(h.mass_dwell_time_s(i), Some(250e-6), "{ctx}");
        }
        assert_eq!(h.mass_dwell_time_s(n), None);
        // Each mass's label sits on its trolley (first mass per trolley; 0 is no trolley).
        let trolleys = &h.b_fields[0].trolleys;
        assert_eq!(trolleys.len(), 12);
        for (i, m) in h.masses.iter().enumerate() {
            if matches!(m.trolley, 1..=5 | 8 | 10 | 11)
                && h.masses[..i].iter().all(|o| o.trolley != m.trolley)
            {
                let t = &trolleys[m.trolley as usize];
                assert!(t.enabled, "{ctx}: trolley {}", m.trolley);
                assert_eq!(
                    (t.label.as_str(), t.mass_amu),
                    (m.label.as_str(), m.mass_amu)
                );
                assert_eq!(t.cameca_index, i as i32);
            }
        }
        assert!(!trolleys[0].enabled && !trolleys[6].enabled);
        // Per-mass detector settings follow the trolley.
        for m in &h.masses {
            match corrflow_im::detector_for_trolley(m.trolley) {
                Some(d) => {
                    let det = h.detector(d).unwrap();
                    assert_eq!(m.dead_time_ns, det.dead_time_ns);
                    assert_eq!(m.yield_pct, Some(det.yield_pct));
                }
                None => assert_eq!(m.dead_time_ns, corrflow_im::DEFAULT_DEAD_TIME_NS),
            }
        }
        // In-memory encoding is byte-identical to the file.
        assert_eq!(
            encode_im(&spec, &counts, &opts).unwrap(),
            std::fs::read(&path).unwrap()
        );
    }
}

#[test]
fn real_files_rewritten_in_every_format_keep_counts_and_metadata() {
    let Some(dir) =
        common::data_dir("real_files_rewritten_in_every_format_keep_counts_and_metadata")
    else {
        return;
    };
    for name in common::IMAGE_FILES {
        let orig = ImFile::open(dir.join(name)).unwrap();
        let counts = orig.counts().unwrap();
        for opts in all_options() {
            let mut spec = ImWriteSpec::from_header(orig.header());
            // Only the settings the target layout can hold.
            // Only the detectors the target layout can hold; those it has and the source lacks
            // are written (and read back) with default settings.
            spec.detectors = ImWriteSpec::default_detectors(opts.layout)
                .into_iter()
                .map(|k| {
                    let found = spec.detectors.iter().find(|d| d.name == k.name);
                    found.cloned().unwrap_or(k)
                })
                .collect();
            for d in &mut spec.detectors {
                if opts.layout == Layout::Release4108 && d.name.starts_with("Detector ") {
                    d.detector_type.get_or_insert_with(|| "EM".into());
                } else {
                    d.detector_type = None;
                }
            }
            if opts.pixel_type == PixelType::U16 && counts.iter().any(|&v| v > 65_535) {
                continue;
            }
            let bytes = encode_im(&spec, &counts, &opts).unwrap();
            let back = ImFile::from_bytes(bytes, name).unwrap();
            let h = back.header();
            assert_eq!(back.counts().unwrap(), counts, "{name} {opts:?}");
            assert_eq!(back.plane_totals().unwrap(), orig.plane_totals().unwrap());
            assert_eq!(ImWriteSpec::from_header(h), spec, "{name} {opts:?}");
            let o = orig.header();
            assert_eq!(h.dwell_time_s(), o.dwell_time_s(), "{name} {opts:?}");
            assert!(h.dwell_time_s().is_some());
            assert_eq!(h.counting_frame, o.counting_frame);
            assert_eq!(h.date, o.date);
            assert_eq!((h.stage_x_um, h.stage_y_um), (o.stage_x_um, o.stage_y_um));
            assert_eq!(h.primary_raster_um, o.primary_raster_um);
            for (a, b) in h.masses.iter().zip(&o.masses) {
                assert_eq!(
                    (&a.label, &a.name, a.mass_amu, a.trolley, a.counting_time_ms),
                    (&b.label, &b.name, b.mass_amu, b.trolley, b.counting_time_ms)
                );
                assert_eq!(a.dead_time_ns, b.dead_time_ns);
            }
        }
    }
}

#[test]
fn write_is_atomic_and_validates_first() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("keep.im");
    std::fs::write(&path, b"previous content").unwrap();
    let spec = common::synthetic_spec(2, Layout::Release9);
    let opts = WriteOptions::release9(ByteOrder::Big, PixelType::U16);

    // A count that u16 cannot hold: refused, old file untouched, no temporary left behind.
    let mut counts = common::synthetic_counts(2, 2, 4, 4, 100, 9);
    counts[[1, 1, 2, 3]] = 70_000;
    let e = write_im(&path, &spec, &counts, &opts).unwrap_err();
    assert!(matches!(e, ImError::InvalidWrite { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("70000 at mass 1, plane 1, row 2, column 3"),
        "{msg}"
    );
    assert!(msg.contains("keep.im"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), b"previous content");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");

    // Success replaces it whole.
    counts[[1, 1, 2, 3]] = 7;
    write_im(&path, &spec, &counts, &opts).unwrap();
    assert_eq!(ImFile::open(&path).unwrap().counts().unwrap(), counts);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }
}

#[test]
fn writer_refuses_what_the_format_cannot_hold() {
    let counts = common::synthetic_counts(2, 1, 4, 4, 10, 1);
    let opts = WriteOptions::default();
    let bad = |f: &dyn Fn(&mut ImWriteSpec),
               want: &str,
               counts: &ndarray::Array4<u32>,
               o: &WriteOptions| {
        let mut spec = common::synthetic_spec(counts.dim().0, o.layout);
        f(&mut spec);
        let e = encode_im(&spec, counts, o).unwrap_err();
        assert!(matches!(e, ImError::InvalidWrite { .. }), "{e}");
        assert!(e.to_string().contains(want), "expected {want:?} in {e}");
    };
    bad(
        &|s| s.masses.pop().map(|_| ()).unwrap(),
        "spec lists 1",
        &counts,
        &opts,
    );
    bad(
        &|s| s.masses[0].label = "x".repeat(64),
        "at most 63",
        &counts,
        &opts,
    );
    bad(&|s| s.user = "ü€".into(), "latin-1", &counts, &opts);
    bad(
        &|s| s.analysis_name = "a".repeat(40),
        "at most 31",
        &counts,
        &opts,
    );
    bad(
        &|s| s.date.year = 2100,
        "year in 1969..=2068",
        &counts,
        &opts,
    );
    bad(&|s| s.date.month = 13, "not a valid date", &counts, &opts);
    bad(
        &|s| {
            s.date.month = 2;
            s.date.day = 30;
        },
        "not a valid date",
        &counts,
        &opts,
    );
    let r9 = WriteOptions::release9(ByteOrder::Big, PixelType::U32);
    bad(
        &|s| {
            s.detectors.push(Detector {
                name: "Detector 6".into(),
                yield_pct: 100.0,
                background: 0,
                dead_time_ns: 44,
                detector_type: None,
            })
        },
        "Detector 6",
        &counts,
        &r9,
    );
    bad(
        &|s| {
            let d = s.detectors[0].clone();
            s.detectors.push(d)
        },
        "listed twice",
        &counts,
        &opts,
    );
    for t in [
        0.0,
        -1e-3,
        f64::NAN,
        f64::INFINITY,
        1.5e-6,
        2.5e-4 + 1e-9,
        1e4,
    ] {
        bad(
            &|s| s.time_per_pixel_s = t,
            "stores whole µs",
            &counts,
            &opts,
        );
    }
    let eleven = common::synthetic_counts(11, 1, 2, 2, 1, 1);
    bad(&|_| (), "at most 10", &eleven, &r9);
    let empty = ndarray::Array4::<u32>::zeros((1, 1, 0, 4));
    bad(&|_| (), "height 0 px", &empty, &opts);
}

#[test]
fn header_only_file_written_with_zero_planes() {
    let spec = common::synthetic_spec(3, Layout::Release4108);
    let counts = ndarray::Array4::<u32>::zeros((3, 0, 8, 8));
    let bytes = encode_im(&spec, &counts, &WriteOptions::default()).unwrap();
    let f = ImFile::from_bytes(bytes, "empty.im").unwrap();
    assert!(!f.has_image_data());
    assert_eq!(f.header().masses.len(), 3);
    let e = f.counts().unwrap_err();
    assert!(matches!(e, ImError::NoImageData { .. }));
    assert!(e.to_string().contains("empty.im"), "{e}");
}

#[test]
fn crop_and_per_mass_access_agree_with_counts() {
    let spec = common::synthetic_spec(3, Layout::Release4108);
    let counts = common::synthetic_counts(3, 2, 10, 12, 1 << 20, 5);
    let f = ImFile::from_bytes(
        encode_im(&spec, &counts, &WriteOptions::default()).unwrap(),
        "m",
    )
    .unwrap();
    let c1 = f.counts_cropped(1).unwrap();
    assert_eq!(c1, counts.slice(ndarray::s![.., .., 1..9, 1..11]));
    assert!(f.counts_cropped(5).is_err());
    for m in 0..3 {
        assert_eq!(
            f.mass_counts(m).unwrap(),
            counts.index_axis(ndarray::Axis(0), m)
        );
        for p in 0..2 {
            assert_eq!(
                f.image(m, p).unwrap(),
                counts.slice(ndarray::s![m, p, .., ..])
            );
        }
    }
    assert!(matches!(
        f.image(3, 0).unwrap_err(),
        ImError::OutOfRange { what: "mass", .. }
    ));
    assert!(matches!(
        f.pixel(0, 0, 10, 0).unwrap_err(),
        ImError::OutOfRange { what: "row", .. }
    ));
    assert_eq!(f.mass_index("12C 14N"), Some(2));
    assert_eq!(f.mass_index("12C14N"), Some(2));
}
