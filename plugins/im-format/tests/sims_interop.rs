//! The Python `sims` package (the reference reader) reads files written by this crate — both
//! byte orders, both layouts, u16 and u32 — with identical counts, labels and metadata.
//! Skipped, with a message, where `python3 -c "import sims"` fails.

mod common;

use std::path::Path;

use corrflow_im::{ByteOrder, Layout, PixelType, WriteOptions, write_im};
use corrflow_test_support::{python_has, run_python};

/// Reads each file named on the command line with `sims`, prints one JSON line per file and
/// dumps the data as little-endian u32 to FILE.u32.
const READ: &str = r#"
import sys, json, warnings
import numpy as np
import sims
warnings.simplefilter('ignore')
for path in sys.argv[1:]:
    s = sims.SIMS(path)
    h = s.header
    d = s.data.values
    np.ascontiguousarray(d.astype('<u4')).tofile(path + '.u32')
    mt = h['MassTable']
    print(json.dumps({
        'path': path,
        'byte_order': h['byte order'],
        'release': h['file version'],
        'labels': list(h['label list']),
        'shape': list(d.shape),
        'itemsize': d.dtype.itemsize,
        'kind': d.dtype.kind,
        'amu': [mt[l]['mass'] for l in h['label list']],
        'trolley': [mt[l]['trolley index'] for l in h['label list']],
        'count_time_ms': [mt[l]['frame count time'] for l in h['label list']],
        'totals': [int(x) for x in d.sum(axis=(1, 2, 3), dtype='u8')],
        'date': str(h['date']),
        'xy': [h['sample x'], h['sample y']],
        'raster': h['Image']['raster'],
        'primary_raster': h['PrimaryBeam']['raster'],
        'duration': h['analysis duration'],
        'deadtime': {k: v['em deadtime'] for k, v in h['Detectors'].items() if 'em deadtime' in v},
        'yield': {k: v['em yield'] for k, v in h['Detectors'].items() if 'em yield' in v},
        'b_fields': h['NanoSIMSHeader']['b fields'],
        'counting_frame': [h['NanoSIMSHeader']['counting frame width'],
                           h['NanoSIMSHeader']['counting frame height']],
        'time_per_pixel': [b['time per pixel'] for b in h['BFields']],
        'b_field_enabled': [b['b field enabled'] for b in h['BFields']],
        'frames_per_bfield': [b['frames per bfield'] for b in h['BFields']],
        'trolley_labels': [[t['label'] for t in b['Trolleys']] for b in h['BFields']],
        'trolley_enabled': [[t['trolley enabled'] for t in b['Trolleys']] for b in h['BFields']],
    }))
"#;

#[test]
fn sims_reads_written_files_identically() {
    const TEST: &str = "sims_reads_written_files_identically";
    if !python_has(TEST, &["sims"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cases = [
        WriteOptions::release9(ByteOrder::Big, PixelType::U16),
        WriteOptions::release9(ByteOrder::Little, PixelType::U32),
        WriteOptions::release4108(ByteOrder::Little),
        WriteOptions::release4108(ByteOrder::Big),
    ];
    let mut written = Vec::new();
    for (k, opts) in cases.iter().enumerate() {
        let n = if opts.layout == Layout::Release9 {
            5
        } else {
            8
        };
        let spec = common::synthetic_spec(n, opts.layout);
        let max = if opts.pixel_type == PixelType::U16 {
            65_535
        } else {
            5_000_000
        };
        let counts = common::synthetic_counts(n, 3, 19, 27, max, 100 + k as u64);
        let path = tmp.path().join(format!("written{k}.im"));
        write_im(&path, &spec, &counts, opts).unwrap();
        written.push((path, spec, counts, *opts));
    }
    let stdout = run_python(TEST, READ, written.iter().map(|(p, ..)| p));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), written.len());
    for ((path, spec, counts, opts), r) in written.iter().zip(&lines) {
        let ctx = format!("{opts:?}");
        assert_eq!(
            r["byte_order"],
            if opts.byte_order == ByteOrder::Big {
                ">"
            } else {
                "<"
            },
            "{ctx}"
        );
        assert_eq!(r["release"], opts.layout.release(), "{ctx}");
        let (m, p, h, w) = counts.dim();
        assert_eq!(r["shape"], serde_json::json!([m, p, h, w]), "{ctx}");
        assert_eq!(r["itemsize"], opts.pixel_type.bytes(), "{ctx}");
        assert_eq!(r["kind"], "u", "{ctx}: unsigned pixels");
        // Labels: sims names the trolley-8 entry "SE".
        let labels: Vec<String> = spec
            .masses
            .iter()
            .map(|m| {
                if m.trolley == 8 {
                    "SE".to_string()
                } else {
                    m.label.clone()
                }
            })
            .collect();
        assert_eq!(r["labels"], serde_json::json!(labels), "{ctx}");
        for (i, ms) in spec.masses.iter().enumerate() {
            assert_eq!(r["amu"][i].as_f64().unwrap(), ms.mass_amu, "{ctx}");
            assert_eq!(r["trolley"][i], ms.trolley, "{ctx}");
            assert_eq!(
                r["count_time_ms"][i].as_f64().unwrap(),
                ms.counting_time_ms,
                "{ctx}"
            );
        }
        // Counts: exact, pixel for pixel.
        let dump = std::fs::read(Path::new(&format!("{}.u32", path.display()))).unwrap();
        let theirs: Vec<u32> = dump
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let ours: Vec<u32> = counts.iter().copied().collect();
        assert!(theirs == ours, "{ctx}: sims reads different counts");
        let totals: Vec<u64> = counts
            .outer_iter()
            .map(|a| a.iter().map(|&v| v as u64).sum())
            .collect();
        assert_eq!(r["totals"], serde_json::json!(totals), "{ctx}");
        // Metadata.
        assert_eq!(r["date"], spec.date.to_string(), "{ctx}");
        assert_eq!(
            r["xy"],
            serde_json::json!([spec.stage_x_um, spec.stage_y_um]),
            "{ctx}"
        );
        assert_eq!(r["raster"], spec.raster_nm, "{ctx}");
        assert_eq!(
            r["primary_raster"].as_f64().unwrap(),
            spec.primary_raster_um,
            "{ctx}"
        );
        assert_eq!(r["duration"], spec.analysis_duration_s, "{ctx}");
        for d in &spec.detectors {
            assert_eq!(r["deadtime"][&d.name], d.dead_time_ns, "{ctx}: {}", d.name);
            assert_eq!(
                r["yield"][&d.name].as_f64().unwrap(),
                d.yield_pct,
                "{ctx}: {}",
                d.name
            );
        }
        // The NanoSIMS header and B-field table: the spec's time per pixel, exactly.
        assert_eq!(r["b_fields"], 1, "{ctx}");
        assert_eq!(r["counting_frame"], serde_json::json!([w, h]), "{ctx}");
        assert_eq!(
            r["time_per_pixel"][0].as_f64().unwrap(),
            spec.time_per_pixel_s,
            "{ctx}"
        );
        assert_eq!(r["b_field_enabled"], serde_json::json!([true]), "{ctx}");
        assert_eq!(r["frames_per_bfield"], serde_json::json!([1]), "{ctx}");
        let ours = corrflow_im::ImFile::open(path).unwrap();
        let oh = ours.header();
        assert_eq!(oh.dwell_time_s(), Some(spec.time_per_pixel_s), "{ctx}");
        let labels: Vec<&str> = oh.b_fields[0]
            .trolleys
            .iter()
            .map(|t| t.label.as_str())
            .collect();
        let enabled: Vec<bool> = oh.b_fields[0].trolleys.iter().map(|t| t.enabled).collect();
        assert_eq!(r["trolley_labels"][0], serde_json::json!(labels), "{ctx}");
        assert_eq!(r["trolley_enabled"][0], serde_json::json!(enabled), "{ctx}");
        let n_det = r["deadtime"].as_object().unwrap().len();
        assert_eq!(
            n_det,
            spec.detectors.len(),
            "{ctx}: sims sees the same detectors"
        );
    }
}
