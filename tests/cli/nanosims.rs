//! NanoSIMS: `inspect` against the `sims` reference values, the `io.nanosims` stage (counts,
//! dead time worked by hand, drift alignment on a real ion map), ratio images, bad files.

use std::path::PathBuf;

use corrflow_im::{ImFile, ImWriteSpec, Layout, MassSpec, WriteOptions, write_im};
use corrflow_stage::h5;
use corrflow_types::IonStack;
use ndarray::{Array4, s};
use serde_json::Value;

use crate::common::Exp;

/// The shared sample folder, or `None` (with a message) when it is absent.
fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/data/nanosims"
    ));
    if p.join("reference.json").exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: ../shared/data/nanosims is not present");
        None
    }
}

#[test]
fn inspect_json_equals_the_sims_reference_for_every_file() {
    let Some(dir) = shared() else { return };
    let reference: Value =
        serde_json::from_slice(&std::fs::read(dir.join("reference.json")).unwrap()).unwrap();
    let exp = Exp::new();
    let mut checked = 0;
    for (file, want) in reference.as_object().unwrap() {
        let r = exp.run(&["inspect", dir.join(file).to_str().unwrap(), "--json"]);
        let got: Value = serde_json::from_str(&r.ok().stdout).unwrap();
        let keys: Vec<&String> = got.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "big_endian",
                "bytes_per_pixel",
                "file_type",
                "header_size",
                "height",
                "masses",
                "n_masses",
                "plane_totals",
                "planes",
                "raster_nm",
                "release",
                "total_counts",
                "width"
            ],
            "{file}: exactly the documented fields"
        );
        for k in [
            "release",
            "file_type",
            "big_endian",
            "header_size",
            "width",
            "height",
            "bytes_per_pixel",
            "planes",
            "n_masses",
            "raster_nm",
        ] {
            assert_eq!(got[k], want[k], "{file}: {k}");
        }
        let gm = got["masses"].as_array().unwrap();
        let wm = want["masses"].as_array().unwrap();
        assert_eq!(gm.len(), wm.len(), "{file}: masses");
        for (g, w) in gm.iter().zip(wm) {
            // `sims` calls the unlabelled trolley-8 channel "SE"; the stored label is empty.
            let label = w["label"].as_str().unwrap();
            let name = if label.is_empty() || label == "SE" {
                "SE".to_string()
            } else {
                label.replace(' ', "")
            };
            assert_eq!(g["name"], name.as_str(), "{file}");
            if label != "SE" {
                assert_eq!(g["label"], label, "{file}");
            }
            assert_eq!(g["mass_amu"], w["mass_amu"], "{file}: {label}");
            assert_eq!(g["trolley"], w["trolley"], "{file}: {label}");
            assert_eq!(g["detector"], w["detector"], "{file}: {label}");
            let trolley = w["trolley"].as_i64().unwrap();
            let det = match trolley {
                1..=5 => Some(format!("Detector {trolley}")),
                10 => Some("Detector 6".into()),
                11 => Some("Detector 7".into()),
                _ => None,
            };
            let expect_dt = det
                .and_then(|d| want["em_deadtime_ns"].get(&d).cloned())
                .unwrap_or(Value::from(44));
            assert_eq!(g["dead_time_ns"], expect_dt, "{file}: {label} dead time");
        }
        if let Some(totals) = want.get("total_counts").and_then(Value::as_object) {
            for (label, total) in totals {
                let name = if label.is_empty() {
                    "SE".to_string()
                } else {
                    label.replace(' ', "")
                };
                assert_eq!(got["total_counts"][&name], *total, "{file}: total {label}");
                assert_eq!(
                    got["plane_totals"][&name], want["frame_totals"][label],
                    "{file}: plane totals {label}"
                );
            }
            assert_eq!(got["total_counts"].as_object().unwrap().len(), totals.len());
        } else {
            assert!(
                got["total_counts"].as_object().unwrap().is_empty(),
                "{file}: header-only"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 4);
    // The text view names the file, the masses and the totals.
    let t = exp.run(&[
        "inspect",
        dir.join("OpenMIMS_doc_051117_05-32dRe-03b.im")
            .to_str()
            .unwrap(),
    ]);
    assert!(
        t.ok().stdout.contains("12C14N") && t.stdout.contains("243351350"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout.contains("60000.000 µs"),
        "dwell time per pixel: {}",
        t.stdout
    );
}

fn nanosims_pipeline(file: &str, params: &str) -> String {
    format!(
        "name: ns\nsamples:\n  table: samples.csv\nnodes:\n  - id: ions\n    stage: io.nanosims\n    inputs: {{ file: sample.im }}\n    params: {params}\n  - id: ratio\n    stage: nanosims.ratio\n    inputs: {{ ions: ions.ions }}\n    params: {{ min_denominator: 1 }}\n# {file}\n"
    )
}

fn read_stack(exp: &Exp, sample: &str) -> IonStack {
    let f = h5::open_file(&exp.entry_of("ns", "ions", sample)).unwrap();
    IonStack::read(&f.group("ions").unwrap()).unwrap()
}

#[test]
fn io_nanosims_counts_dead_time_and_ratio_on_the_real_file() {
    let Some(dir) = shared() else { return };
    let im = dir.join("OpenMIMS_doc_051117_05-32dRe-03b.im");
    let exp = Exp::new();
    exp.write(
        "samples.csv",
        &format!("id,im,condition\nm1,{},npc\n", im.display()),
    );
    // Raw counts: identical to the file.
    exp.write(
        "pipeline.yaml",
        &nanosims_pipeline("raw", "{ dead_time: off }"),
    );
    exp.run(&["run", "pipeline.yaml"]).ok();
    let raw = read_stack(&exp, "m1");
    let file = ImFile::open(&im).unwrap();
    let counts = file.counts().unwrap();
    assert_eq!(raw.counts.dim(), (4, 1, 256, 256));
    assert!(
        raw.counts
            .iter()
            .zip(counts.iter())
            .all(|(a, b)| *a == *b as f32)
    );
    assert_eq!(raw.pixel_size_nm, 19991.0 / 256.0);
    // The ratio of sums equals the reference value.
    let f = h5::open_file(&exp.entry_of("ns", "ratio", "m1")).unwrap();
    let r = f.group("ratio").unwrap();
    let ros = h5::get_f64(&r, "ratio_of_sums").unwrap();
    assert!((ros - 0.004605156289455555).abs() < 1e-15, "{ros}");
    for png in [
        "ratio.ratio.png",
        "ratio.hsi.png",
        "ratio.ratio.tif",
        "ions.12C14N.tif",
    ] {
        assert!(exp.path(&format!("results/m1/{png}")).exists(), "{png}");
    }
    // Dead time from the header: N' = N/(1 − N·d/τ), d = 44 ns, τ = 0.06 s, worked by hand for
    // pixel (0, 0) of 12C14N (2978 counts): 2978 / (1 − 2978·44e-9/0.06) = 2984.5177...
    exp.write(
        "pipeline.yaml",
        &nanosims_pipeline("dt", "{ dead_time: header }"),
    );
    exp.run(&["run", "pipeline.yaml"]).ok();
    let dt = read_stack(&exp, "m1");
    let n = 2978.0f64;
    let expected = n / (1.0 - n * 44e-9 / 0.06);
    let got = f64::from(dt.counts[[2, 0, 0, 0]]);
    assert!((got - expected).abs() < 1e-3, "{got} vs {expected}");
    assert!((expected - 2984.5177).abs() < 1e-3);
    assert!(dt.corrections.contains("dead_time"), "{}", dt.corrections);
    // A fixed dead time of 100 ns.
    exp.write(
        "pipeline.yaml",
        &nanosims_pipeline("dt100", "{ dead_time: 100 }"),
    );
    exp.run(&["run", "pipeline.yaml"]).ok();
    let dt100 = read_stack(&exp, "m1");
    let expected = n / (1.0 - n * 100e-9 / 0.06);
    assert!((f64::from(dt100.counts[[2, 0, 0, 0]]) - expected).abs() < 1e-3);
    // Border crop drops one pixel on every side.
    exp.write(
        "pipeline.yaml",
        &nanosims_pipeline("crop", "{ dead_time: off, crop_border: true }"),
    );
    exp.run(&["run", "pipeline.yaml"]).ok();
    let crop = read_stack(&exp, "m1");
    assert_eq!(crop.counts.dim(), (4, 1, 254, 254));
    assert_eq!(crop.counts[[0, 0, 0, 0]], counts[[0, 0, 1, 1]] as f32);
}

#[test]
fn alignment_recovers_known_subpixel_drift_of_a_real_ion_map() {
    let Some(dir) = shared() else { return };
    let src = ImFile::open(dir.join("OpenMIMS_doc_051117_05-32dRe-03b.im")).unwrap();
    let c = src.counts().unwrap();
    // Four planes: the real 12C14N, 12C and 12C15N maps shifted by known sub-pixel amounts.
    let truth = [(0.0, 0.0), (1.3, -2.7), (0.25, 0.5), (-3.6, 4.05)];
    let mut stack = Array4::<u32>::zeros((3, truth.len(), 256, 256));
    for (p, &(dy, dx)) in truth.iter().enumerate() {
        for (m, src_m) in [2usize, 0, 3].into_iter().enumerate() {
            let img = c.slice(s![src_m, 0, .., ..]).mapv(f64::from);
            let shifted = corrflow_nanosims::align::fourier_shift(img.view(), dy, dx).unwrap();
            stack
                .slice_mut(s![m, p, .., ..])
                .assign(&shifted.mapv(|v| v.round().max(0.0) as u32));
        }
    }
    let exp = Exp::new();
    let mut spec = ImWriteSpec::new(
        vec![
            MassSpec::new("12C 14N", 26.003, 3),
            MassSpec::new("12C", 12.0, 1),
            MassSpec::new("12C 15N", 26.914, 4),
        ],
        Layout::Release4108,
    );
    spec.raster_nm = 20000;
    let path = exp.path("drift.im");
    write_im(
        &path,
        &spec,
        &stack,
        &WriteOptions::release4108(corrflow_im::ByteOrder::Little),
    )
    .unwrap();
    exp.write("samples.csv", "id,im\nd1,drift.im\n");
    exp.write(
        "pipeline.yaml",
        &nanosims_pipeline(
            "align",
            "{ dead_time: off, align: { reference: 12C14N, upsample: 100, max_shift_px: 8 } }",
        ),
    );
    exp.run(&["run", "pipeline.yaml"]).ok();
    let aligned = read_stack(&exp, "d1");
    for (p, &(dy, dx)) in truth.iter().enumerate() {
        // The correcting shift is the opposite of the applied drift.
        let (gy, gx) = (
            aligned.plane_shifts_px[[p, 0]],
            aligned.plane_shifts_px[[p, 1]],
        );
        assert!(
            (gy + dy).abs() < 0.1 && (gx + dx).abs() < 0.1,
            "plane {p}: found ({gy}, {gx}), drift ({dy}, {dx})"
        );
    }
    // Every mass of a plane got the same shift: the aligned 12C planes agree with plane 1 inside.
    let inner = s![8..248, 8..248];
    let p0 = aligned
        .counts
        .slice(s![1, 0, .., ..])
        .slice(inner)
        .to_owned();
    let p1 = aligned
        .counts
        .slice(s![1, 1, .., ..])
        .slice(inner)
        .to_owned();
    let diff: f64 = p0
        .iter()
        .zip(p1.iter())
        .map(|(a, b)| f64::from((a - b).abs()))
        .sum::<f64>()
        / p0.len() as f64;
    let mean: f64 = p0.iter().map(|&v| f64::from(v)).sum::<f64>() / p0.len() as f64;
    assert!(
        diff < 0.05 * mean,
        "12C plane 2 is registered to plane 1 (mean abs diff {diff}, mean {mean})"
    );
    // Accumulating sums the aligned planes into one.
    exp.write(
        "pipeline.yaml",
        &nanosims_pipeline(
            "acc",
            "{ dead_time: off, accumulate: true, align: { reference: 12C14N, upsample: 100 } }",
        ),
    );
    exp.run(&["run", "pipeline.yaml"]).ok();
    let acc = read_stack(&exp, "d1");
    assert_eq!(acc.counts.dim(), (3, 1, 256, 256));
}

#[test]
fn bad_nanosims_inputs_fail_clearly() {
    let Some(dir) = shared() else { return };
    let exp = Exp::new();
    // A header-only file used as an image.
    exp.write(
        "samples.csv",
        &format!("id,im\ng1,{}\n", dir.join("grain_mode_cameca.im").display()),
    );
    exp.write("pipeline.yaml", &nanosims_pipeline("hdr", "{}"));
    exp.run(&["run", "pipeline.yaml"])
        .fails_with(1, &["ions/g1", "grain_mode_cameca.im", "no image data"]);
    // A truncated file: the partial plane is dropped with a warning, or the header is refused.
    let bytes = std::fs::read(dir.join("RTIimage.im")).unwrap();
    std::fs::write(exp.path("cut.im"), &bytes[..3000]).unwrap();
    exp.write("samples.csv", "id,im\nc1,cut.im\n");
    exp.run(&["run", "pipeline.yaml"])
        .fails_with(1, &["ions/c1", "cut.im"]);
    // Unknown mass names are named in the error.
    exp.write(
        "samples.csv",
        &format!("id,im\nm1,{}\n", dir.join("RTIimage.im").display()),
    );
    exp.run(&["run", "pipeline.yaml"])
        .fails_with(1, &["ratio/m1", "12C15N"]);
    // inspect on a non-.im file and a missing file.
    exp.run(&["inspect", "samples.csv"])
        .fails_with(2, &["not a format corrflow can inspect"]);
    exp.run(&["inspect", "nope.im"]).fails_with(2, &["nope.im"]);
}

#[test]
fn register_identity_exports_transform_json_and_qc_image() {
    let exp = crate::common::Exp::new();
    exp.write(
        "small.yaml",
        "em: { width_px: 320, height_px: 320, pixel_size_nm: 40.0 }\nnanosims: { size_px: 64, pixel_size_nm: [200.0, 200.0], planes: 2, supersample: 2 }\n",
    );
    exp.run(&[
        "synth",
        "--out",
        "study",
        "--samples",
        "1",
        "--config",
        "small.yaml",
    ])
    .ok();
    exp.write(
        "reg.yaml",
        "samples: { table: study/samples.csv }\nnodes:\n  - { id: em, stage: io.em, inputs: { file: sample.em } }\n  - { id: ions, stage: io.nanosims, inputs: { file: sample.nanosims } }\n  - id: reg\n    stage: register.identity\n    inputs: { image: em.image, ions: ions.ions }\n    params: { channel: 12C14N }\n",
    );
    exp.run(&["run", "reg.yaml"]).ok();
    let t: serde_json::Value =
        serde_json::from_slice(&std::fs::read(exp.path("results/s01/transform.json")).unwrap())
            .unwrap();
    let m = &t["em_to_nanosims"];
    // EM 40 nm, NanoSIMS 200 nm: scale 0.2, offset 0.2/2 − 0.5 = −0.4
    assert!((m[0][0].as_f64().unwrap() - 0.2).abs() < 1e-12, "{t}");
    assert!((m[0][2].as_f64().unwrap() + 0.4).abs() < 1e-12, "{t}");
    assert_eq!(t["method"], "identity");
    let png = image::open(exp.path("results/s01/registration.png")).unwrap();
    assert_eq!((png.width(), png.height()), (320, 320));
    // An unknown channel is an error naming the channels there are.
    exp.write(
        "bad.yaml",
        &std::fs::read_to_string(exp.path("reg.yaml"))
            .unwrap()
            .replace("12C14N", "99Xx"),
    );
    exp.run(&["run", "bad.yaml"])
        .fails_with(1, &["99Xx", "12C14N"]);
}
