//! Thousands of deterministic pseudo-random mutations and truncations of real and written files:
//! every one gives a value or an error — never a panic — and a successful open is internally
//! consistent (the pixel accessors work over the whole advertised range).

mod common;

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

use common::Rng;
use corrflow_im::{ByteOrder, ImFile, Layout, PixelType, WriteOptions, encode_im};

/// Opens `bytes` and, on success, exercises every accessor. Returns (opened, has data).
fn exercise(bytes: Vec<u8>, deep: bool) -> (bool, bool) {
    let Ok(f) = ImFile::from_bytes(bytes, "mutant.im") else {
        return (false, false);
    };
    let h = f.header().clone();
    serde_json::to_string(&h).expect("header serialises");
    let _ = format!("{f:?}");
    if !f.has_image_data() {
        assert!(f.counts().is_err() && f.total_counts().is_err() && f.image(0, 0).is_err());
        assert!(f.no_data_reason().is_some());
        return (true, false);
    }
    assert!(h.planes >= 1 && h.n_masses >= 1 && h.width >= 1 && h.height >= 1);
    let (m, p) = (h.n_masses - 1, h.planes - 1);
    f.pixel(m, p, h.height - 1, h.width - 1)
        .expect("last pixel");
    f.pixel(0, 0, 0, 0).expect("first pixel");
    assert!(f.image(h.n_masses, 0).is_err() && f.image(0, h.planes).is_err());
    if deep {
        // Decoding everything is slow in unoptimised test builds: every 16th case.
        f.image(m, p).expect("last image");
        let totals = f.total_counts().expect("totals when data are present");
        let planes = f
            .plane_totals()
            .expect("plane totals when data are present");
        assert_eq!(totals.len(), h.n_masses);
        assert!(planes.iter().all(|p| p.len() == h.planes));
        let c = f.counts().expect("counts");
        assert_eq!(c.dim(), (h.n_masses, h.planes, h.height, h.width));
        let sum: u64 = c.iter().map(|&v| v as u64).sum();
        assert_eq!(sum, totals.iter().sum::<u64>());
    }
    (true, true)
}

fn run_case(bytes: Vec<u8>, deep: bool, what: impl FnOnce() -> String) -> (bool, bool) {
    match catch_unwind(AssertUnwindSafe(|| exercise(bytes, deep))) {
        Ok(r) => r,
        Err(_) => panic!("reader panicked on {}", what()),
    }
}

const INTERESTING_I32: [i32; 12] = [
    0,
    1,
    -1,
    2,
    4,
    84,
    27,
    4108,
    i32::MAX,
    i32::MIN,
    0x7fff,
    0x10000,
];

/// One mutated/truncated copy of `base`, described for the failure message.
fn mutate(base: &[u8], header_size: usize, order: ByteOrder, rng: &mut Rng) -> (Vec<u8>, String) {
    let mut b = base.to_vec();
    let hs = header_size.min(b.len()).max(1);
    let mut desc = Vec::new();
    let kind = rng.below(6);
    match kind {
        0 => {
            // Truncate, mostly inside or just after the header.
            let at = if rng.below(2) == 0 {
                rng.below(hs as u64 + 200) as usize
            } else {
                rng.below(b.len() as u64) as usize
            }
            .min(b.len());
            b.truncate(at);
            desc.push(format!("truncate at {at}"));
        }
        1 | 2 => {
            // Random bytes in the header.
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(hs as u64) as usize;
                let v = rng.next() as u8;
                b[at] = v;
                desc.push(format!("byte {at} = {v}"));
            }
        }
        3 => {
            // Interesting integers at 4-aligned header offsets, favouring the fixed fields.
            for _ in 0..1 + rng.below(3) {
                let fixed = [0usize, 4, 8, 16, 140, 144, 408, hs.saturating_sub(84)];
                let at = if rng.below(2) == 0 {
                    fixed[rng.below(fixed.len() as u64) as usize]
                } else {
                    (rng.below(hs as u64) as usize) & !3
                };
                let v = INTERESTING_I32[rng.below(INTERESTING_I32.len() as u64) as usize];
                let bytes = if order == ByteOrder::Big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                if at + 4 <= b.len() {
                    b[at..at + 4].copy_from_slice(&bytes);
                }
                desc.push(format!("i32 {at} = {v}"));
            }
        }
        4 => {
            // The image header's i16 fields (type, width, height, bpp, masses, planes).
            let ih = hs.saturating_sub(84);
            for _ in 0..1 + rng.below(3) {
                let at = ih + 4 + 2 * rng.below(6) as usize;
                let v: i16 = match rng.below(6) {
                    0 => 0,
                    1 => -1,
                    2 => i16::MAX,
                    3 => 8192,
                    4 => 1 + rng.below(8) as i16,
                    _ => rng.next() as i16,
                };
                let bytes = if order == ByteOrder::Big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                if at + 2 <= b.len() {
                    b[at..at + 2].copy_from_slice(&bytes);
                }
                desc.push(format!("i16 {at} = {v}"));
            }
        }
        _ => {
            // Mutate and truncate.
            let at = rng.below(hs as u64) as usize;
            b[at] ^= 1 << rng.below(8);
            let cut = rng.below(b.len() as u64 + 1) as usize;
            b.truncate(cut);
            desc.push(format!("flip bit in byte {at}, truncate at {cut}"));
        }
    }
    (b, desc.join(", "))
}

fn hammer(name: &str, base: &[u8], cases: usize, seed: u64) {
    let f = ImFile::from_bytes(base.to_vec(), name).unwrap();
    let (hs, order) = (f.header().header_size as usize, f.header().byte_order);
    let mut rng = Rng(seed);
    let (mut opened, mut with_data) = (0, 0);
    for case in 0..cases {
        let (bytes, desc) = mutate(base, hs, order, &mut rng);
        let (o, d) = run_case(bytes, case % 16 == 0, || {
            format!("{name} case {case}: {desc}")
        });
        opened += o as usize;
        with_data += d as usize;
    }
    eprintln!(
        "{name}: {cases} mutants, {opened} opened ({with_data} with pixel data), none panicked"
    );
}

#[test]
fn mutated_and_truncated_real_files_never_panic() {
    let Some(dir) = common::data_dir("mutated_and_truncated_real_files_never_panic") else {
        return;
    };
    let names = common::IMAGE_FILES
        .iter()
        .chain(common::HEADER_ONLY_FILES.iter());
    for (k, name) in names.enumerate() {
        let base = std::fs::read(dir.join(name)).unwrap();
        hammer(name, &base, 1500, 0xC0FFEE + k as u64);
        // Every truncation point of the header region, in steps.
        let hs = ImFile::from_bytes(base.clone(), *name)
            .unwrap()
            .header()
            .header_size as usize;
        for cut in (0..hs + 64).step_by(97) {
            run_case(base[..cut.min(base.len())].to_vec(), false, || {
                format!("{name} truncated at {cut}")
            });
        }
    }
}

#[test]
fn mutated_written_files_never_panic() {
    let formats = [
        WriteOptions::release9(ByteOrder::Big, PixelType::U16),
        WriteOptions::release9(ByteOrder::Little, PixelType::U32),
        WriteOptions::release4108(ByteOrder::Little),
        WriteOptions::release4108(ByteOrder::Big),
    ];
    for (k, opts) in formats.iter().enumerate() {
        let n = if opts.layout == Layout::Release9 {
            3
        } else {
            6
        };
        let spec = common::synthetic_spec(n, opts.layout);
        let counts = common::synthetic_counts(n, 3, 6, 5, 60_000, k as u64);
        let base = encode_im(&spec, &counts, opts).unwrap();
        hammer(&format!("written{k}"), &base, 1000, 0xBADD + k as u64);
    }
}

#[test]
fn truncated_and_corrupted_compressed_streams_never_panic() {
    let spec = common::synthetic_spec(2, Layout::Release4108);
    let counts = common::synthetic_counts(2, 2, 8, 8, 1000, 11);
    let raw = encode_im(&spec, &counts, &WriteOptions::default()).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&raw).unwrap();
    let gz = gz.finish().unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&raw).unwrap();
    let bz = bz.finish().unwrap();
    let mut zw = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zw.start_file("a.im", zip::write::SimpleFileOptions::default())
        .unwrap();
    zw.write_all(&raw).unwrap();
    let zp = zw.finish().unwrap().into_inner();
    let mut rng = Rng(77);
    for (name, c) in [("gz", &gz), ("bz2", &bz), ("zip", &zp)] {
        for case in 0..150 {
            let mut b = c.clone();
            if case % 2 == 0 {
                let at = rng.below(b.len() as u64) as usize;
                b[at] = rng.next() as u8;
            }
            let cut = if case % 3 == 0 {
                b.len()
            } else {
                rng.below(b.len() as u64 + 1) as usize
            };
            b.truncate(cut);
            run_case(b, true, || format!("{name} case {case}"));
        }
    }
}

#[test]
fn tiny_and_empty_inputs_are_errors() {
    for len in 0..64usize {
        let e = ImFile::from_bytes(vec![0u8; len], "zeros.im").unwrap_err();
        assert!(e.to_string().starts_with("zeros.im:"), "{e}");
    }
    // Only magic bytes.
    for b in [&b"\x1f\x8b"[..], b"BZh", b"PK\x03\x04", b"PK\x05\x06"] {
        assert!(ImFile::from_bytes(b.to_vec(), "magic").is_err());
    }
}

/// Mutations confined to the Poly_list, the NanoSIMS header and the B-field table (and the
/// mass table's B-field values): never a panic, and never an error — the image still opens
/// with the same counts, and at worst the dwell time is unknown (with a warning).
#[test]
fn mutated_b_field_tables_never_fail_an_image() {
    let mut bases: Vec<(String, Vec<u8>)> = Vec::new();
    if let Some(dir) = common::data_dir("mutated_b_field_tables_never_fail_an_image") {
        for name in common::IMAGE_FILES {
            bases.push((name.to_string(), std::fs::read(dir.join(name)).unwrap()));
        }
    }
    for (k, opts) in [
        WriteOptions::release9(ByteOrder::Big, PixelType::U16),
        WriteOptions::release4108(ByteOrder::Little),
    ]
    .iter()
    .enumerate()
    {
        let n = 4;
        let spec = common::synthetic_spec(n, opts.layout);
        let counts = common::synthetic_counts(n, 2, 6, 5, 60_000, k as u64);
        bases.push((
            format!("written{k}"),
            encode_im(&spec, &counts, opts).unwrap(),
        ));
    }
    for (b_i, (name, base)) in bases.iter().enumerate() {
        let f = ImFile::from_bytes(base.clone(), name.as_str()).unwrap();
        let h = f.header();
        let counts = f.counts().unwrap();
        let order = h.byte_order;
        let ns = h.blocks.nanosims_header.unwrap() as usize;
        let bf = h.blocks.b_field_table.unwrap() as usize;
        let start = h.blocks.poly_list.map_or(ns - 64, |p| p as usize);
        let end = (bf + 56 + 12 * 208).min(h.header_size as usize - 84);
        let table = if h.release >= 4108 { 652 } else { 452 };
        let mass_bits: Vec<usize> = (0..h.masses.len()).map(|i| table + 192 * i + 44).collect();
        let mut rng = Rng(0x5EED + b_i as u64);
        let mut unknown = 0;
        for case in 0..600 {
            let mut b = base.clone();
            let mut desc = Vec::new();
            for _ in 0..1 + rng.below(4) {
                let at = match rng.below(4) {
                    0 => ns + 4 * rng.below(25) as usize,
                    1 => bf + 4 * rng.below(12) as usize,
                    2 => mass_bits[rng.below(mass_bits.len() as u64) as usize],
                    _ => (start + rng.below((end - start) as u64) as usize) & !3,
                };
                let v = if rng.below(2) == 0 {
                    INTERESTING_I32[rng.below(INTERESTING_I32.len() as u64) as usize]
                } else {
                    rng.next() as i32
                };
                let x = if order == ByteOrder::Big {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                b[at..at + 4].copy_from_slice(&x);
                desc.push(format!("i32 {at} = {v}"));
            }
            let what = || format!("{name} case {case}: {}", desc.join(", "));
            let r = catch_unwind(AssertUnwindSafe(|| {
                let f = ImFile::from_bytes(b, "mutant.im")
                    .unwrap_or_else(|e| panic!("hard error: {e}"));
                let h = f.header();
                serde_json::to_string(h).expect("header serialises");
                for i in 0..=h.n_masses {
                    let _ = h.mass_dwell_time_s(i);
                }
                // An unknown dwell time comes with a warning, unless several B fields
                // legitimately disagree.
                assert!(
                    h.dwell_time_s().is_some_and(|t| t > 0.0)
                        || !f.warnings().is_empty()
                        || h.b_fields.len() > 1,
                    "dwell time unknown without a warning"
                );
                (f.counts().expect("counts"), h.dwell_time_s().is_none())
            }));
            match r {
                Ok((c, none)) => {
                    assert!(c == counts, "{}: counts changed", what());
                    unknown += none as usize;
                }
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "panic".into());
                    panic!("{}: {msg}", what())
                }
            }
        }
        eprintln!("{name}: 600 B-field mutants opened, {unknown} with no dwell time");
    }
}
