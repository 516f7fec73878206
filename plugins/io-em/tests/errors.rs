//! Every error path names the file; no byte sequence makes the reader panic.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use corrflow_io_em::*;
use ndarray::Array2;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

fn err(p: &Path) -> EmReadError {
    match read_em(p, None) {
        Ok(r) => panic!("{} unexpectedly read: {:?}", p.display(), r.shape()),
        Err(e) => e,
    }
}

fn png_bytes(img: image::DynamicImage) -> Vec<u8> {
    let mut v = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut v), image::ImageFormat::Png)
        .unwrap();
    v
}

/// A PNG made of a signature and an IHDR with the given size (no image data).
fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    let mut f = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    f.extend(png_chunk(b"IHDR", &ihdr));
    f.extend(png_chunk(b"IDAT", &[]));
    f.extend(png_chunk(b"IEND", &[]));
    f
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nope.tif");
    let e = err(&p);
    assert!(matches!(e, EmReadError::NotFound { .. }));
    assert_err_mentions(&e, &p, &["not found"]);
}

#[test]
fn directory_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = err(dir.path());
    assert!(matches!(e, EmReadError::NotAFile { .. }));
    assert_err_mentions(&e, dir.path(), &["not a regular file"]);
}

#[test]
fn not_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty.tif", b"", "empty"),
        ("text.tif", b"hello, this is text", "unrecognised magic"),
        ("photo.tif", b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        ("data.png", b"\x89HDF\r\n\x1a\n\0\0\0\0", "HDF5"),
        ("short.tif", b"II*", "too short"),
    ];
    for (name, bytes, needle) in cases {
        let p = write(dir.path(), name, bytes);
        let e = err(&p);
        assert!(matches!(e, EmReadError::UnsupportedFormat { .. }), "{e}");
        assert_err_mentions(&e, &p, &["not a supported image", needle, "TIFF and PNG"]);
    }
}

#[test]
fn truncated_files_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.tif");
    write_tiff_u16(&good, &Array2::from_elem((64, 64), 1000u16), Some(2.0)).unwrap();
    let bytes = fs::read(&good).unwrap();
    // The writer puts the pixel data first, then the IFD: cut in the IFD and in the data.
    for (i, len) in [8usize, 100, bytes.len() - 10, bytes.len() - 200]
        .into_iter()
        .enumerate()
    {
        let p = write(dir.path(), &format!("cut{i}.tif"), &bytes[..len]);
        let e = err(&p);
        assert!(
            matches!(e, EmReadError::Corrupt { .. }),
            "cut at {len}: {e}"
        );
        assert_err_mentions(&e, &p, &["corrupt or truncated TIFF"]);
    }

    let png = png_bytes(image::DynamicImage::ImageLuma16(
        image::ImageBuffer::from_fn(50, 50, |x, y| image::Luma([(x * y) as u16])),
    ));
    for (i, len) in [20usize, 40, png.len() / 2, png.len() - 5]
        .into_iter()
        .enumerate()
    {
        let p = write(dir.path(), &format!("cut{i}.png"), &png[..len]);
        let e = err(&p);
        assert!(
            matches!(e, EmReadError::Corrupt { .. }),
            "cut at {len}: {e}"
        );
        assert_err_mentions(&e, &p, &["corrupt or truncated PNG"]);
    }
}

#[test]
fn zero_size() {
    let dir = tempfile::tempdir().unwrap();
    let page = Page::gray(0, 5, 8, 1, vec![]);
    let p = write(dir.path(), "zero.tif", &build_tiff(false, &[page]));
    let e = err(&p);
    // The tiff crate itself may reject zero dimensions as a format error.
    assert!(
        matches!(
            e,
            EmReadError::ZeroSize { .. } | EmReadError::Corrupt { .. }
        ),
        "{e}"
    );
    assert_err_mentions(&e, &p, &[]);

    let p = write(dir.path(), "zero.png", &png_header_only(0, 3));
    let e = err(&p);
    assert!(
        matches!(
            e,
            EmReadError::ZeroSize {
                width: 0,
                height: 3,
                ..
            }
        ),
        "{e}"
    );
    assert_err_mentions(&e, &p, &["zero size", "0 x 3"]);
}

#[test]
fn page_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("one.tif");
    write_tiff_f32(&p, &Array2::zeros((2, 2)), None).unwrap();
    let e = read_em(&p, Some(1)).unwrap_err();
    assert_err_mentions(&e, &p, &["page 1 is out of range", "1 page(s)", "0..=0"]);

    let q = dir.path().join("one.png");
    image::GrayImage::new(2, 2).save(&q).unwrap();
    assert!(read_em(&q, Some(0)).is_ok());
    let e = read_em(&q, Some(2)).unwrap_err();
    assert!(matches!(
        e,
        EmReadError::PageOutOfRange {
            page: 2,
            n_pages: 1,
            ..
        }
    ));
    assert_err_mentions(&e, &q, &["page 2", "1 page(s)"]);
    let e = read_labels_u32(&q, Some(2)).unwrap_err();
    assert_err_mentions(&e, &q, &["page 2"]);
}

#[test]
fn too_large_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // Dimensions in the header only: the data is absent, so a reader that allocated first and
    // checked later would still fail differently.
    let page = Page::gray(200_000, 10, 8, 1, vec![0; 16]);
    let p = write(dir.path(), "wide.tif", &build_tiff(false, &[page]));
    let e = err(&p);
    assert!(matches!(e, EmReadError::TooLarge { .. }), "{e}");
    assert_err_mentions(&e, &p, &["too large", "200000 x 10", "100000"]);

    let page = Page::gray(60_000, 60_000, 32, 3, vec![0; 16]);
    let p = write(dir.path(), "huge.tif", &build_tiff(true, &[page]));
    let e = err(&p);
    assert!(matches!(e, EmReadError::TooLarge { .. }), "{e}");
    assert_err_mentions(&e, &p, &["too large", "4 GiB"]);

    let p = write(dir.path(), "wide.png", &png_header_only(100_001, 1));
    let e = err(&p);
    assert!(matches!(e, EmReadError::TooLarge { .. }), "{e}");
    assert_err_mentions(&e, &p, &["too large", "100001 x 1"]);
}

/// Found by fuzzing (fuzz/read_image): a header within the size limits but far beyond what the
/// file holds made the decoder allocate its whole buffer first (1.8 GB for this 200-byte TIFF,
/// 7 GB for a 16-bit RGBA PNG header). Such files are refused before any allocation.
#[test]
fn small_file_claiming_a_huge_image_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let page = Page::gray(30_000, 30_000, 16, 1, vec![0; 16]);
    let p = write(
        dir.path(),
        "claims.tif",
        &build_tiff(false, std::slice::from_ref(&page)),
    );
    let e = err(&p);
    assert!(matches!(e, EmReadError::Corrupt { .. }), "{e}");
    assert_err_mentions(&e, &p, &["1800000000 bytes of samples", "uncompressed"]);
    // Deflate expands at most ~1032:1: still far too little data.
    let page = page.tag(COMPRESSION, Val::Short(vec![8]));
    let p = write(dir.path(), "claims-deflate.tif", &build_tiff(true, &[page]));
    let e = err(&p);
    assert!(matches!(e, EmReadError::Corrupt { .. }), "{e}");
    assert_err_mentions(&e, &p, &["Deflate"]);
    // Labels go through the same reader.
    assert!(matches!(
        read_labels_u32(&p, None),
        Err(EmReadError::Corrupt { .. })
    ));

    let p = write(dir.path(), "claims.png", &png_header_only(30_000, 30_000));
    let e = err(&p);
    assert!(matches!(e, EmReadError::Corrupt { .. }), "{e}");
    assert_err_mentions(&e, &p, &["bytes of samples", "zlib"]);

    // A well-compressed real image stays readable: 2000 x 2000 zeros, Deflate.
    let z = dir.path().join("zeros.png");
    image::GrayImage::new(2000, 2000).save(&z).unwrap();
    assert_eq!(read_em(&z, None).unwrap().shape(), (2000, 2000));
}

#[test]
fn unsupported_sample_types() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bilevel.tif",
            Page::gray(8, 1, 1, 1, vec![0b1010_1010]),
            "1-bit",
        ),
        (
            "twelve.tif",
            Page::gray(2, 1, 12, 1, vec![0, 0, 0]),
            "12-bit",
        ),
        (
            "complex.tif",
            Page::gray(1, 1, 32, 6, vec![0; 4]),
            "complex",
        ),
        (
            "int64.tif",
            Page::gray(1, 1, 64, 2, vec![0; 8]),
            "64-bit signed",
        ),
    ];
    for (name, page, needle) in cases {
        let p = write(dir.path(), name, &build_tiff(false, &[page]));
        let e = err(&p);
        assert!(
            matches!(
                e,
                EmReadError::UnsupportedSampleType { .. } | EmReadError::UnsupportedFeature { .. }
            ),
            "{name}: {e}"
        );
        assert_err_mentions(&e, &p, &["unsupported", needle]);
    }
}

#[test]
fn unsupported_colors() {
    let dir = tempfile::tempdir().unwrap();
    let cmyk = Page::gray(1, 1, 8, 1, vec![1, 2, 3, 4])
        .tag(BITS_PER_SAMPLE, Val::Short(vec![8; 4]))
        .tag(SAMPLE_FORMAT, Val::Short(vec![1; 4]))
        .tag(SAMPLES_PER_PIXEL, Val::Short(vec![4]))
        .tag(PHOTOMETRIC, Val::Short(vec![5]));
    let p = write(dir.path(), "cmyk.tif", &build_tiff(false, &[cmyk]));
    let e = err(&p);
    assert!(matches!(e, EmReadError::UnsupportedColor { .. }), "{e}");
    assert_err_mentions(&e, &p, &["unsupported color", "CMYK"]);

    let cmap: Vec<u16> = (0..768).map(|i| ((i * 97) % 65536) as u16).collect();
    let palette = Page::gray(3, 1, 8, 1, vec![0, 17, 255])
        .tag(PHOTOMETRIC, Val::Short(vec![3]))
        .tag(320, Val::Short(cmap));
    let p = write(dir.path(), "pal.tif", &build_tiff(true, &[palette]));
    let e = err(&p);
    assert!(matches!(e, EmReadError::UnsupportedColor { .. }), "{e}");
    assert_err_mentions(&e, &p, &["palette"]);

    let two = Page::gray(1, 1, 8, 1, vec![1, 2])
        .tag(BITS_PER_SAMPLE, Val::Short(vec![8; 2]))
        .tag(SAMPLE_FORMAT, Val::Short(vec![1; 2]))
        .tag(SAMPLES_PER_PIXEL, Val::Short(vec![2]))
        .tag(EXTRA_SAMPLES, Val::Short(vec![0]));
    let p = write(dir.path(), "two.tif", &build_tiff(true, &[two]));
    let e = err(&p);
    assert!(matches!(e, EmReadError::UnsupportedColor { .. }), "{e}");
    assert_err_mentions(&e, &p, &["2 samples per pixel", "multi-channel"]);
}

#[test]
fn unsupported_compression() {
    let dir = tempfile::tempdir().unwrap();
    let page = Page::gray(2, 2, 8, 1, vec![0; 4]).tag(COMPRESSION, Val::Short(vec![34712]));
    let p = write(dir.path(), "j2k.tif", &build_tiff(false, &[page]));
    let e = err(&p);
    assert!(
        matches!(
            e,
            EmReadError::UnsupportedFeature { .. } | EmReadError::Corrupt { .. }
        ),
        "{e}"
    );
    assert_err_mentions(&e, &p, &["TIFF"]);
}

#[test]
fn labels_must_be_unsigned_integers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.tif");
    write_tiff_f32(&p, &Array2::zeros((2, 2)), None).unwrap();
    let e = read_labels_u32(&p, None).unwrap_err();
    assert!(matches!(e, EmReadError::NotALabelImage { .. }));
    assert_err_mentions(&e, &p, &["not a label image", "float32"]);
}

// ---------------------------------------------------------------- no panics

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn sample_files(dir: &Path) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    let tmp = dir.join("src.tif");
    write_tiff_u16(
        &tmp,
        &Array2::from_shape_fn((23, 17), |(r, c)| (r * c) as u16),
        Some(3.0),
    )
    .unwrap();
    files.push(fs::read(&tmp).unwrap());
    for compression in [TiffCompression::Lzw, TiffCompression::Deflate] {
        let opts = TiffWriteOptions {
            pixel_size_nm: Some(1.0),
            compression,
        };
        write_tiff(
            &tmp,
            &Array2::from_shape_fn((19, 21), |(r, c)| (r + c) as f32),
            &opts,
        )
        .unwrap();
        files.push(fs::read(&tmp).unwrap());
    }
    let pages: Vec<Page> = (0..3u16)
        .map(|k| {
            Page::gray(3, 2, 16, 1, enc_u16(true, &[k; 6])).tag(
                IMAGE_DESCRIPTION,
                Val::Ascii(b"ImageJ=1.11a\nunit=nm\n".to_vec()),
            )
        })
        .collect();
    files.push(build_tiff(true, &pages));
    let mut tiled = Page::gray(20, 18, 8, 1, vec![])
        .without(ROWS_PER_STRIP)
        .tag(TILE_WIDTH, Val::Short(vec![16]))
        .tag(TILE_LENGTH, Val::Short(vec![16]));
    tiled.chunks = vec![vec![7u8; 256]; 4];
    tiled.tiled = true;
    files.push(build_tiff(false, &[tiled]));
    files.push(png_bytes(image::DynamicImage::ImageLuma8(
        image::ImageBuffer::from_fn(31, 9, |x, _| image::Luma([x as u8])),
    )));
    files.push(png_bytes(image::DynamicImage::ImageRgba16(
        image::ImageBuffer::from_fn(7, 5, |x, y| image::Rgba([x as u16, y as u16, 3, 4])),
    )));
    files
}

fn must_not_panic(p: &Path, bytes: &[u8]) {
    fs::write(p, bytes).unwrap();
    for page in [None, Some(1), Some(usize::MAX)] {
        match read_em(p, page) {
            Ok(r) => {
                let (h, w) = r.shape();
                assert!(h > 0 && w > 0 && r.page < r.n_pages);
            }
            Err(e) => {
                assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
            }
        }
        let _ = read_labels_u32(p, page);
    }
}

#[test]
fn truncations_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fuzz.bin");
    for file in sample_files(dir.path()) {
        for len in 0..file.len() {
            must_not_panic(&p, &file[..len]);
        }
    }
}

#[test]
fn corruptions_and_garbage_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fuzz.bin");
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for file in sample_files(dir.path()) {
        for _ in 0..300 {
            let mut f = file.clone();
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(f.len());
                f[i] = rng.next() as u8;
            }
            must_not_panic(&p, &f);
        }
    }
    let magics: [&[u8]; 5] = [b"II*\0", b"MM\0*", b"II+\0", b"\x89PNG\r\n\x1a\n", b""];
    for _ in 0..400 {
        let magic = magics[rng.below(magics.len())];
        let len = rng.below(600);
        let mut f = magic.to_vec();
        f.extend((0..len).map(|_| rng.next() as u8));
        must_not_panic(&p, &f);
    }
}
