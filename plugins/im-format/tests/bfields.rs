//! The NanoSIMS header and B-field table: per-pixel dwell times of the sample files (equal to
//! what the Python `sims` package reads, field for field, where it is installed), several B
//! fields (peak switching), and damaged tables that give warnings, never errors.

mod common;

use corrflow_im::{ByteOrder, ImFile, Layout, PixelType, WriteOptions, encode_im};
use corrflow_test_support::{python_has, run_python};

/// (file, time per pixel in s, stored µs, mass-table counting time as stored).
const SAMPLES: [(&str, f64, i32, f64); 4] = [
    ("OpenMIMS_doc_051117_05-32dRe-03b.im", 0.06, 60_000, 3932.16),
    ("RTIimage.im", 1e-4, 100, 100.0),
    ("grain_mode_cameca.im", 0.001, 1000, 65.536),
    ("line_scan_beam_control.im", 0.005678, 5678, 372.113408),
];

#[test]
fn sample_dwell_times_come_from_the_b_field_table() {
    let Some(dir) = common::data_dir("sample_dwell_times_come_from_the_b_field_table") else {
        return;
    };
    for (name, tpp, us, counting) in SAMPLES {
        let f = ImFile::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let h = f.header();
        assert!(
            !f.warnings()
                .iter()
                .any(|w| w.contains("B-field") || w.contains("B field") || w.contains("NanoSIMS")),
            "{name}: {:?}",
            f.warnings()
        );
        let ns = h.nanosims_header.as_ref().expect("NanoSIMS header");
        assert_eq!(ns.n_b_fields, 1, "{name}");
        assert_eq!(h.counting_frame, Some((256, 256)), "{name}");
        assert_eq!(
            (ns.working_frame_width, ns.working_frame_height),
            (256, 256)
        );
        assert_eq!(h.b_fields.len(), 1, "{name}");
        let b = &h.b_fields[0];
        assert!(b.enabled, "{name}");
        assert_eq!(b.time_per_pixel_us, us, "{name}");
        assert_eq!(b.time_per_pixel_s, tpp, "{name}: exactly sims' value");
        assert_eq!(b.frames_per_bfield, 1, "{name}");
        assert_eq!(b.counting_frame_time_s, Some(tpp * 256.0 * 256.0));
        assert_eq!(h.dwell_time_s(), Some(tpp), "{name}");
        assert_eq!(h.blocks.b_field_table, Some(b.offset));
        for (i, m) in h.masses.iter().enumerate() {
            assert_eq!(m.b_field_index, Some(0), "{name}");
            assert_eq!(h.mass_dwell_time_s(i), Some(tpp), "{name}");
            // The mass table's counting time is kept as stored, whatever it means.
            assert_eq!(m.counting_time_ms, counting, "{name}");
        }
        assert_eq!(h.mass_dwell_time_s(h.masses.len().max(h.n_masses)), None);
    }
    // The two image samples: the counting time is s per plane in one, µs per pixel in the
    // other — the reason it is not used for the dwell time.
    let old = ImFile::open(dir.join(SAMPLES[0].0)).unwrap();
    let h = old.header();
    assert_eq!(
        h.masses[0].counting_time_ms,
        h.dwell_time_s().unwrap() * 256.0 * 256.0
    );
    assert_eq!(h.analysis_duration_s, 3932);
    let rti = ImFile::open(dir.join(SAMPLES[1].0)).unwrap();
    let h = rti.header();
    assert_eq!(
        h.masses[0].counting_time_ms,
        h.b_fields[0].time_per_pixel_us as f64
    );
    assert_eq!(h.masses[0].b_field_bits, h.b_fields[0].bits);
    assert_eq!(h.blocks.poly_list, None, "RTI: located without a Poly_list");
    // Trolleys in use: the release-9 sample counts 12C … 12C 15N on trolleys 1–4.
    let t = &old.header().b_fields[0].trolleys;
    assert_eq!(t.len(), 12);
    let used: Vec<(&str, &str, Option<&str>)> = t[1..5]
        .iter()
        .map(|t| {
            (
                t.label.as_str(),
                t.name.as_str(),
                t.detector_name.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        used,
        [
            ("12C", "Trolley 1", Some("Detector 1")),
            ("13C", "Trolley 2", Some("Detector 2")),
            ("12C 14N", "Trolley 3", Some("Detector 3")),
            ("12C 15N", "Trolley 4", Some("Detector 4")),
        ]
    );
    assert!(t[1..5].iter().all(|t| t.enabled && t.detector == "EM"));
}

/// Prints, per file, `sims`' NanoSIMS header and B-field table as JSON; floats as the hex of
/// their IEEE bits (exact, and NaN-safe for the leftovers in unused trolleys).
const DUMP: &str = r#"
import sys, json, struct, warnings
import sims
warnings.simplefilter('ignore')
def bits(x):
    return struct.pack('>d', float(x)).hex()
for path in sys.argv[1:]:
    h = sims.SIMS(path).header
    ns = h['NanoSIMSHeader']
    out = {'ns': {k: ns[k] for k in (
        'nanosimsheader version', 'regulation mode', 'mode', 'grain mode', 'semigraphic mode',
        'stage delta x', 'stage delta y', 'working frame width', 'working frame height',
        'scanning frame x', 'scanning frame width', 'scanning frame y', 'scanning frame height',
        'counting frame x start', 'counting frame x end', 'counting frame y start',
        'counting frame y end', 'counting frame width', 'counting frame height',
        'detector type', 'electron scan', 'scanning mode', 'beam blanking', 'b fields')},
        'pc': ns['PeakCenter']['peakcenter enabled'], 'bf': []}
    for b in h['BFields']:
        out['bf'].append({
            'enabled': b['b field enabled'], 'bits': b['b field bits'],
            'wait': bits(b['wait time']), 'tpp': bits(b['time per pixel']),
            'step': bits(b['time per step']), 'computed': b['wait time computed'],
            'e0w': b['E0W offset'], 'q': b['Q'], 'lf4': b['LF4'], 'hex': b['hex val'],
            'frames': b['frames per bfield'], 'cft': bits(b['counting frame time']),
            'trolleys': [{
                'label': t['label'], 'mass': bits(t['mass']), 'radius': bits(t['radius']),
                'detector': t['detector'], 'exit': t['exit slit'], 'real': t['real trolley'],
                'index': t['cameca trolley index'], 'enabled': t['trolley enabled'],
                'name': t['trolley label'], 'det': t['detector label'],
            } for t in b['Trolleys']],
        })
    print(json.dumps(out))
"#;

fn hex(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

#[test]
fn sample_b_field_tables_equal_sims() {
    let Some(dir) = common::data_dir("sample_b_field_tables_equal_sims") else {
        return;
    };
    const TEST: &str = "sample_b_field_tables_equal_sims";
    if !python_has(TEST, &["sims"]) {
        return;
    }
    let paths: Vec<_> = SAMPLES.iter().map(|s| dir.join(s.0)).collect();
    let stdout = run_python(TEST, DUMP, &paths);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), paths.len());
    for (path, r) in paths.iter().zip(&lines) {
        let name = path.file_name().unwrap().to_string_lossy();
        let f = ImFile::open(path).unwrap();
        let h = f.header();
        let ns = h.nanosims_header.as_ref().unwrap();
        let s = &r["ns"];
        let ours = serde_json::json!({
            "nanosimsheader version": ns.version,
            "regulation mode": ns.regulation_mode,
            "mode": ns.mode,
            "grain mode": ns.grain_mode,
            "semigraphic mode": ns.semigraphic_mode,
            "stage delta x": ns.stage_delta_x,
            "stage delta y": ns.stage_delta_y,
            "working frame width": ns.working_frame_width,
            "working frame height": ns.working_frame_height,
            "scanning frame x": ns.scanning_frame_x,
            "scanning frame width": ns.scanning_frame_width,
            "scanning frame y": ns.scanning_frame_y,
            "scanning frame height": ns.scanning_frame_height,
            "counting frame x start": ns.counting_frame_x_start,
            "counting frame x end": ns.counting_frame_x_end,
            "counting frame y start": ns.counting_frame_y_start,
            "counting frame y end": ns.counting_frame_y_end,
            "counting frame width": ns.counting_frame_width,
            "counting frame height": ns.counting_frame_height,
            "detector type": ns.detector_type,
            "electron scan": ns.electron_scan,
            "scanning mode": ns.scanning_mode,
            "beam blanking": ns.beam_blanking,
            "b fields": ns.n_b_fields,
        });
        assert_eq!(&ours, s, "{name}: NanoSIMS header");
        assert_eq!(r["pc"], ns.peak_center_enabled, "{name}");
        let rb = r["bf"].as_array().unwrap();
        assert_eq!(h.b_fields.len(), rb.len(), "{name}");
        for (b, rb) in h.b_fields.iter().zip(rb) {
            let ours = serde_json::json!({
                "enabled": b.enabled,
                "bits": b.bits,
                "wait": hex(b.wait_time_s),
                "tpp": hex(b.time_per_pixel_s),
                "step": hex(b.time_per_step),
                "computed": b.wait_time_computed,
                "e0w": b.e0w_offset,
                "q": b.q,
                "lf4": b.lf4,
                "hex": b.hex_val,
                "frames": b.frames_per_bfield,
                "cft": hex(b.counting_frame_time_s.unwrap()),
                "trolleys": b.trolleys.iter().map(|t| serde_json::json!({
                    "label": t.label,
                    "mass": hex(t.mass_amu),
                    "radius": hex(t.radius),
                    "detector": t.detector,
                    "exit": t.exit_slit,
                    "real": t.real,
                    "index": t.cameca_index,
                    "enabled": t.enabled,
                    "name": t.name,
                    "det": t.detector_name.clone().unwrap_or_default(),
                })).collect::<Vec<_>>(),
            });
            assert_eq!(&ours, rb, "{name}: B field");
        }
        eprintln!(
            "{name}: NanoSIMS header, {} B field(s) and their trolleys equal sims' (time per \
             pixel {} s)",
            h.b_fields.len(),
            h.b_fields[0].time_per_pixel_s
        );
    }
}

/// Overwrites an i32 in the file's byte order.
fn put_i32(b: &mut [u8], at: usize, v: i32, order: ByteOrder) {
    let x = match order {
        ByteOrder::Big => v.to_be_bytes(),
        ByteOrder::Little => v.to_le_bytes(),
    };
    b[at..at + 4].copy_from_slice(&x);
}

/// A written file turned into a peak-switching one: the B field copied `n` times with other
/// times per pixel and B-field values, the masses assigned to them via their `b field bits`.
fn peak_switching(opts: &WriteOptions, times_us: &[i32]) -> (Vec<u8>, usize) {
    let n_masses = 6;
    let spec = common::synthetic_spec(n_masses, opts.layout);
    let counts = common::synthetic_counts(n_masses, 2, 5, 7, 1000, 3);
    let bytes = encode_im(&spec, &counts, opts).unwrap();
    let f = ImFile::from_bytes(bytes.clone(), "w.im").unwrap();
    let h = f.header();
    let order = h.byte_order;
    let first = h.blocks.b_field_table.unwrap() as usize;
    let nano = h.blocks.anal_param_nano.unwrap() as usize;
    let stride = nano - first;
    let ns = h.blocks.nanosims_header.unwrap() as usize;
    let table = if opts.layout == Layout::Release9 {
        452
    } else {
        652
    };
    let entry = bytes[first..nano].to_vec();
    let mut out = bytes[..first].to_vec();
    for (k, &us) in times_us.iter().enumerate() {
        let mut e = entry.clone();
        put_i32(&mut e, 4, 1000 + k as i32, order); // b field bits
        put_i32(&mut e, 12, us, order);
        out.extend_from_slice(&e);
    }
    out.extend_from_slice(&bytes[nano..]);
    let hs = h.header_size as usize + (times_us.len() - 1) * stride;
    put_i32(&mut out, 8, hs as i32, order);
    put_i32(&mut out, ns + 96, times_us.len() as i32, order);
    // Mass i is counted in B field i % n.
    for i in 0..n_masses {
        let bits = 1000 + (i % times_us.len()) as i32;
        put_i32(&mut out, table + i * 192 + 44, bits, order);
    }
    (out, stride)
}

#[test]
fn several_b_fields_give_each_mass_its_own_dwell_time() {
    for opts in [
        WriteOptions::release4108(ByteOrder::Little),
        WriteOptions::release9(ByteOrder::Big, PixelType::U16),
    ] {
        let (bytes, stride) = peak_switching(&opts, &[100, 2000, 30_000]);
        let f = ImFile::from_bytes(bytes, "peaks.im").unwrap();
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());
        assert!(f.has_image_data());
        let h = f.header();
        assert_eq!(h.b_fields.len(), 3);
        assert_eq!(
            h.b_fields[1].offset - h.b_fields[0].offset,
            stride as u64,
            "{opts:?}: entry size from the distance to Anal_param_nano"
        );
        let tpp: Vec<f64> = h.b_fields.iter().map(|b| b.time_per_pixel_s).collect();
        assert_eq!(tpp, [1e-4, 2e-3, 3e-2]);
        assert_eq!(h.dwell_time_s(), None, "the B fields disagree");
        for i in 0..6 {
            assert_eq!(h.masses[i].b_field_index, Some(i % 3), "{opts:?}");
            assert_eq!(h.mass_dwell_time_s(i), Some(tpp[i % 3]), "{opts:?}");
        }
        // Detectors and everything after the table are still found.
        assert_eq!(h.detectors[0].dead_time_ns, 40);
        assert_eq!(h.sample_name.as_deref(), Some("sample-42"));

        // Equal times: dwell_time_s gives the common value.
        let (bytes, _) = peak_switching(&opts, &[500, 500]);
        let h = ImFile::from_bytes(bytes, "same.im").unwrap().into_header();
        assert_eq!(h.dwell_time_s(), Some(5e-4));
        assert_eq!(h.masses[3].b_field_index, Some(1));
    }
}

#[test]
fn damaged_nanosims_headers_give_warnings_not_errors() {
    let spec = common::synthetic_spec(3, Layout::Release4108);
    let counts = common::synthetic_counts(3, 2, 6, 5, 1000, 8);
    let good = encode_im(&spec, &counts, &WriteOptions::default()).unwrap();
    let h = ImFile::from_bytes(good.clone(), "g.im")
        .unwrap()
        .into_header();
    let pl = h.blocks.poly_list.unwrap() as usize;
    let ns = h.blocks.nanosims_header.unwrap() as usize;
    let bf = h.blocks.b_field_table.unwrap() as usize;
    let nano = h.blocks.anal_param_nano.unwrap() as usize;
    let o = ByteOrder::Little;
    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Damage)> = vec![
        (
            "no Poly_list marker",
            Box::new(move |b| b[pl..pl + 4].copy_from_slice(b"XXXX")),
        ),
        (
            "unknown order",
            Box::new(move |b| b[pl - 16..pl - 4].copy_from_slice(b"Champs_list\0")),
        ),
        (
            "overruns the header",
            Box::new(move |b| put_i32(b, pl + 16, 1 << 20, o)),
        ),
        (
            "declares 0 B fields",
            Box::new(move |b| put_i32(b, ns + 96, 0, o)),
        ),
        (
            "declares -1 B fields",
            Box::new(move |b| put_i32(b, ns + 96, -1, o)),
        ),
        (
            "at most 64 are accepted",
            Box::new(move |b| put_i32(b, ns + 96, i32::MAX, o)),
        ),
        (
            "would overlap the Anal_param_nano block",
            Box::new(move |b| put_i32(b, ns + 96, 60, o)),
        ),
        (
            "ends past the header",
            Box::new(move |b| {
                put_i32(b, ns + 96, 60, o);
                b[nano..nano + 4].copy_from_slice(b"XXXX");
            }),
        ),
        (
            "time per pixel of 0 µs",
            Box::new(move |b| put_i32(b, bf + 12, 0, o)),
        ),
        (
            "2 frames per B field",
            Box::new(move |b| put_i32(b, bf + 44, 2, o)),
        ),
    ];
    for (want, damage) in cases {
        let mut b = good.clone();
        damage(&mut b);
        let f = ImFile::from_bytes(b, "d.im").unwrap_or_else(|e| panic!("{want}: {e}"));
        assert!(f.has_image_data(), "{want}");
        assert_eq!(f.counts().unwrap(), counts, "{want}");
        let w = f.warnings().join("\n");
        assert!(w.contains(want), "{want}: {w}");
        assert!(w.starts_with("d.im:"), "{w}");
        let h = f.header();
        if want.contains("frames") {
            assert_eq!(h.dwell_time_s(), Some(250e-6));
        } else {
            assert_eq!(h.dwell_time_s(), None, "{want}");
            assert_eq!(h.mass_dwell_time_s(0), None, "{want}");
        }
    }
}
