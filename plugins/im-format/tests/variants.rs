//! Compressed variants, aborted acquisitions and corrupt headers, on the real samples (skipped
//! when shared/ is absent) and on files made with the writer (always run).

mod common;

use std::io::Write;

use corrflow_im::{ByteOrder, Compression, ImError, ImFile, Layout, WriteOptions, encode_im};

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn bzip2(bytes: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn same_content(a: &ImFile, b: &ImFile) {
    assert_eq!(a.header().masses, b.header().masses);
    assert_eq!(a.header().detectors, b.header().detectors);
    assert_eq!(a.header().planes, b.header().planes);
    assert_eq!(a.total_counts().unwrap(), b.total_counts().unwrap());
    assert_eq!(a.plane_totals().unwrap(), b.plane_totals().unwrap());
    assert_eq!(a.counts().unwrap(), b.counts().unwrap());
}

#[test]
fn compressed_variants_of_real_files_read_identically() {
    let Some(dir) = common::data_dir("compressed_variants_of_real_files_read_identically") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    for name in common::IMAGE_FILES {
        let raw = std::fs::read(dir.join(name)).unwrap();
        let plain = ImFile::open(dir.join(name)).unwrap();
        assert_eq!(plain.compression(), Compression::None);
        same_content(&plain, &ImFile::open_in_memory(dir.join(name)).unwrap());
        same_content(&plain, &ImFile::from_bytes(raw.clone(), name).unwrap());
        let variants = [
            (format!("{name}.gz"), gzip(&raw), Compression::Gzip),
            (format!("{name}.bz2"), bzip2(&raw), Compression::Bzip2),
            (
                format!("{name}.zip"),
                zip(&[("notes.txt", b"not an image"), (name, &raw)]),
                Compression::Zip,
            ),
        ];
        for (vname, bytes, kind) in variants {
            let path = tmp.path().join(&vname);
            std::fs::write(&path, &bytes).unwrap();
            let f = ImFile::open(&path).unwrap_or_else(|e| panic!("{vname}: {e}"));
            assert_eq!(f.compression(), kind, "{vname}");
            same_content(&plain, &f);
            if kind == Compression::Zip {
                assert!(f.header().file_name.ends_with(&format!("!{name}")));
            }
        }
    }
}

#[test]
fn compressed_variants_of_written_files_read_identically() {
    let spec = common::synthetic_spec(3, Layout::Release4108);
    let counts = common::synthetic_counts(3, 2, 12, 9, 70_000, 7);
    let raw = encode_im(&spec, &counts, &WriteOptions::default()).unwrap();
    let plain = ImFile::from_bytes(raw.clone(), "mem.im").unwrap();
    for (bytes, kind) in [
        (gzip(&raw), Compression::Gzip),
        (bzip2(&raw), Compression::Bzip2),
        (zip(&[("a/b/x.IM", &raw)]), Compression::Zip),
        (zip(&[("only-member", &raw)]), Compression::Zip),
    ] {
        let f = ImFile::from_bytes(bytes, "mem").unwrap();
        assert_eq!(f.compression(), kind);
        same_content(&plain, &f);
    }
    // A zip with two .im members is ambiguous; one without any file is empty.
    let two = zip(&[("a.im", &raw), ("b.im", &raw)]);
    let e = ImFile::from_bytes(two, "two.zip").unwrap_err();
    assert!(matches!(e, ImError::Decompress { .. }), "{e}");
    assert!(e.to_string().contains("2 .im files"), "{e}");
    // A corrupt gzip stream.
    let mut bad = gzip(&raw);
    let n = bad.len();
    bad.truncate(n / 2);
    let e = ImFile::from_bytes(bad, "bad.im.gz").unwrap_err();
    assert!(e.to_string().starts_with("bad.im.gz:"), "{e}");
}

#[test]
fn aborted_real_file_drops_the_partial_plane() {
    let Some(dir) = common::data_dir("aborted_real_file_drops_the_partial_plane") else {
        return;
    };
    // The samples hold one plane each; build a 3-plane file by repeating the pixel data, then
    // cut it inside the third plane.
    for name in common::IMAGE_FILES {
        let raw = std::fs::read(dir.join(name)).unwrap();
        let full = ImFile::open(dir.join(name)).unwrap();
        let h = full.header();
        let hs = h.header_size as usize;
        let mut three = raw.clone();
        three.extend_from_slice(&raw[hs..]);
        three.extend_from_slice(&raw[hs..]);
        // Patch the image header's plane count (i16 at header_size - 84 + 14) to 3.
        let at = hs - 84 + 14;
        let v: [u8; 2] = if h.byte_order == ByteOrder::Big {
            3i16.to_be_bytes()
        } else {
            3i16.to_le_bytes()
        };
        three[at..at + 2].copy_from_slice(&v);
        let f = ImFile::from_bytes(three.clone(), name).unwrap();
        assert_eq!(f.header().planes, 3);
        assert!(f.warnings().is_empty(), "{:?}", f.warnings());

        let plane = raw.len() - hs;
        let cut = hs + 2 * plane + plane / 3;
        three.truncate(cut);
        let f = ImFile::from_bytes(three, name).unwrap();
        assert_eq!(
            f.header().planes,
            2,
            "{name}: the partial third plane is dropped"
        );
        assert_eq!(f.header().planes_in_header, 3);
        let w = f.warnings().join("\n");
        assert!(w.contains("aborted acquisition"), "{w}");
        assert!(w.contains("declares 3 plane"), "{w}");
        assert!(
            w.contains(&format!("expected file size {}", hs + 3 * plane)),
            "{w}"
        );
        assert!(w.contains(&format!("file has {cut} bytes")), "{w}");
        assert!(w.contains("2 complete plane"), "{w}");
        assert!(
            w.contains(&format!("only {} of {plane} bytes", plane / 3)),
            "{w}"
        );
        let totals = f.plane_totals().unwrap();
        let one = full.plane_totals().unwrap();
        for (t, o) in totals.iter().zip(&one) {
            assert_eq!(t, &vec![o[0], o[0]]);
        }
        assert_eq!(f.counts().unwrap().dim().1, 2);
        let e = f.image(0, 2).unwrap_err();
        assert!(
            matches!(e, ImError::OutOfRange { what: "plane", .. }),
            "{e}"
        );

        // Cut inside the first plane: nothing usable.
        let mut tiny = raw.clone();
        tiny.truncate(hs + 10);
        let f = ImFile::from_bytes(tiny, name).unwrap();
        let e = f.counts().unwrap_err();
        assert!(matches!(e, ImError::NoImageData { .. }), "{e}");
        assert!(e.to_string().contains("inside the first plane"), "{e}");
    }
}

#[test]
fn aborted_written_file_with_zero_declared_planes() {
    let spec = common::synthetic_spec(2, Layout::Release9);
    let counts = common::synthetic_counts(2, 4, 8, 8, 1000, 3);
    let opts = WriteOptions::release9(ByteOrder::Big, corrflow_im::PixelType::U16);
    let mut bytes = encode_im(&spec, &counts, &opts).unwrap();
    let f = ImFile::from_bytes(bytes.clone(), "x.im").unwrap();
    let hs = f.header().header_size as usize;
    // Plane count 0 in the image header, as aborted runs sometimes leave it.
    bytes[hs - 84 + 14..hs - 84 + 16].copy_from_slice(&[0, 0]);
    bytes.truncate(bytes.len() - 5);
    let f = ImFile::from_bytes(bytes, "x.im").unwrap();
    assert_eq!(f.header().planes, 3);
    assert!(f.warnings().iter().any(|w| w.contains("declares 0 planes")));
    assert!(
        f.warnings()
            .iter()
            .any(|w| w.contains("partial trailing plane"))
    );
    let c = f.counts().unwrap();
    assert_eq!(c, counts.slice(ndarray::s![.., 0..3, .., ..]));
}

/// Overwrites an i32 in the header in the file's byte order.
fn put_i32(bytes: &mut [u8], at: usize, v: i32, order: ByteOrder) {
    let b = if order == ByteOrder::Big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    };
    bytes[at..at + 4].copy_from_slice(&b);
}

fn put_i16(bytes: &mut [u8], at: usize, v: i16, order: ByteOrder) {
    let b = if order == ByteOrder::Big {
        v.to_be_bytes()
    } else {
        v.to_le_bytes()
    };
    bytes[at..at + 2].copy_from_slice(&b);
}

fn corrupt_cases(raw: &[u8], name: &str) {
    let f = ImFile::from_bytes(raw.to_vec(), name).unwrap();
    let order = f.header().byte_order;
    let hs = f.header().header_size as usize;
    let ih = hs - 84;
    let check = |bytes: Vec<u8>, want: &str, pred: &dyn Fn(&ImError) -> bool| {
        let e = ImFile::from_bytes(bytes, name).unwrap_err();
        let msg = e.to_string();
        assert!(pred(&e), "{name}: unexpected error kind: {msg}");
        assert!(
            msg.starts_with(&format!("{name}:")),
            "names the file: {msg}"
        );
        assert!(msg.contains(want), "{name}: expected {want:?} in: {msg}");
    };

    // Shorter than the fixed start.
    check(raw[..7].to_vec(), "offset 0 needs 12 bytes", &|e| {
        matches!(e, ImError::Truncated { .. })
    });
    // Truncated inside the header.
    check(raw[..hs / 2].to_vec(), &format!("needs {hs} bytes"), &|e| {
        matches!(e, ImError::Truncated { .. })
    });
    // Unknown file type in both byte orders.
    let mut b = raw.to_vec();
    b[4..8].copy_from_slice(&[0x7f, 0x7f, 0x7f, 0x7f]);
    check(b, "neither is a known", &|e| {
        matches!(e, ImError::UnknownByteOrder { .. })
    });
    // A known type that is not an image.
    let mut b = raw.to_vec();
    put_i32(&mut b, 4, 21, order);
    check(b, "file type 21 (depth profile", &|e| {
        matches!(e, ImError::UnsupportedFileType { file_type: 21, .. })
    });
    // Header size beyond the file.
    let mut b = raw.to_vec();
    put_i32(&mut b, 8, (raw.len() + 1000) as i32, order);
    check(b, "truncated header", &|e| {
        matches!(e, ImError::Truncated { .. })
    });
    // Header size too small / negative.
    let mut b = raw.to_vec();
    put_i32(&mut b, 8, -5, order);
    check(b, "header size (offset 8) is -5", &|e| {
        matches!(e, ImError::InvalidHeader { .. })
    });
    // Huge mass table.
    let mut b = raw.to_vec();
    put_i32(&mut b, 408, 1_000_000, order);
    check(b, "mass table size 1000000", &|e| {
        matches!(e, ImError::LimitExceeded { .. })
    });
    let mut b = raw.to_vec();
    put_i32(&mut b, 408, -3, order);
    check(b, "negative", &|e| {
        matches!(e, ImError::InvalidHeader { .. })
    });
    // Image header size field wrong.
    let mut b = raw.to_vec();
    put_i32(&mut b, ih, 85, order);
    check(b, &format!("image header at offset {ih}"), &|e| {
        matches!(e, ImError::InvalidHeader { .. })
    });
    // Huge / negative dimensions, refused before anything is allocated.
    let mut b = raw.to_vec();
    put_i16(&mut b, ih + 6, 30_000, order);
    check(b, "image width 30000 px", &|e| {
        matches!(e, ImError::LimitExceeded { .. })
    });
    let mut b = raw.to_vec();
    put_i16(&mut b, ih + 8, -1, order);
    check(b, "height at offset", &|e| {
        matches!(e, ImError::InvalidHeader { .. })
    });
    let mut b = raw.to_vec();
    put_i16(&mut b, ih + 12, 500, order);
    check(b, "500 masses", &|e| {
        matches!(e, ImError::LimitExceeded { .. })
    });
    // Impossible pixel size.
    let mut b = raw.to_vec();
    put_i16(&mut b, ih + 10, 3, order);
    check(b, "bytes per pixel", &|e| {
        matches!(e, ImError::InvalidHeader { .. })
    });
}

#[test]
fn corrupt_real_headers_give_specific_errors() {
    let Some(dir) = common::data_dir("corrupt_real_headers_give_specific_errors") else {
        return;
    };
    for name in common::IMAGE_FILES {
        corrupt_cases(&std::fs::read(dir.join(name)).unwrap(), name);
    }
}

#[test]
fn corrupt_written_headers_give_specific_errors() {
    for (layout, opts) in [
        (
            Layout::Release9,
            WriteOptions::release9(ByteOrder::Big, corrflow_im::PixelType::U16),
        ),
        (
            Layout::Release4108,
            WriteOptions::release4108(ByteOrder::Little),
        ),
    ] {
        let spec = common::synthetic_spec(2, layout);
        let counts = common::synthetic_counts(2, 1, 16, 16, 100, 1);
        corrupt_cases(&encode_im(&spec, &counts, &opts).unwrap(), "written.im");
    }
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let e = ImFile::open("/nonexistent/dir/x.im").unwrap_err();
    assert!(matches!(e, ImError::Io { .. }));
    assert!(e.to_string().contains("/nonexistent/dir/x.im"), "{e}");
}
