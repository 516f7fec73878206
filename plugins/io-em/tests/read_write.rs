//! Round trips through the writer, and files produced by other encoders (image crate, tiff
//! crate, hand-built TIFFs in both byte orders, PNG with pHYs).

mod common;

use std::fs;
use std::path::Path;

use approx::assert_relative_eq;
use common::*;
use corrflow_io_em::*;
use ndarray::{Array2, ShapeBuilder};
use tiff::decoder::Decoder;
use tiff::decoder::ifd::Value;
use tiff::encoder::{Compression, DeflateLevel, Rational, TiffEncoder, colortype};
use tiff::tags::{ResolutionUnit, Tag};

fn ramp_f32(h: usize, w: usize) -> Array2<f32> {
    Array2::from_shape_fn((h, w), |(r, c)| {
        (r as f32 - 2.5) * 1.25 + c as f32 * 0.001 - 1e-3
    })
}

fn ramp_u16(h: usize, w: usize) -> Array2<u16> {
    Array2::from_shape_fn((h, w), |(r, c)| ((r * 7919 + c * 104_729) % 65536) as u16)
}

fn assert_f32_eq(a: &Array2<f32>, b: &Array2<f32>) {
    assert_eq!(a.dim(), b.dim());
    for (x, y) in a.iter().zip(b.iter()) {
        assert_eq!(x.to_bits(), y.to_bits(), "{x} != {y}");
    }
}

fn tiff_tags(path: &Path) -> (String, Option<Value>, Option<u64>) {
    let mut dec = Decoder::new(fs::File::open(path).unwrap()).unwrap();
    let desc = dec.get_tag_ascii_string(Tag::ImageDescription).unwrap();
    let xres = dec.find_tag(Tag::XResolution).unwrap();
    let unit = dec.find_tag_unsigned::<u64>(Tag::ResolutionUnit).unwrap();
    (desc, xres, unit)
}

// ---------------------------------------------------------------- round trips

#[test]
fn roundtrip_f32_with_nm_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.tif");
    let a = ramp_f32(9, 13);
    write_tiff_f32(&p, &a, Some(3.7)).unwrap();
    let r = read_em(&p, None).unwrap();
    assert_f32_eq(&r.data, &a);
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 3.7, max_relative = 1e-12);
    assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::ImageJ));
    assert_eq!(r.source_format, SourceFormat::Tiff);
    assert_eq!(r.sample_format, SampleKind::F32);
    assert_eq!(r.bit_depth, 32);
    assert_eq!(r.channels, SourceChannels::Gray);
    assert_eq!((r.page, r.n_pages), (0, 1));
    assert_eq!(r.shape(), (9, 13));

    let (desc, xres, unit) = tiff_tags(&p);
    assert_eq!(desc, "ImageJ=1.11a\nunit=nm\n");
    assert_eq!(unit, Some(1));
    let Some(Value::Rational(n, d)) = xres else {
        panic!("XResolution not rational: {xres:?}")
    };
    assert_relative_eq!(f64::from(n) / f64::from(d), 1.0 / 3.7, max_relative = 1e-12);
}

#[test]
fn roundtrip_u16_with_micron_pixel_size() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.tif");
    let mut a = ramp_u16(11, 6);
    a[[0, 0]] = 0;
    a[[1, 1]] = u16::MAX;
    write_tiff_u16(&p, &a, Some(2500.0)).unwrap();
    let r = read_em(&p, Some(0)).unwrap();
    assert_eq!(r.data, a.mapv(f32::from));
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 2500.0, max_relative = 1e-12);
    assert_eq!(r.sample_format, SampleKind::U16);
    assert_eq!(r.bit_depth, 16);
    let (desc, _, _) = tiff_tags(&p);
    assert_eq!(desc, "ImageJ=1.11a\nunit=micron\n");
}

#[test]
fn roundtrip_u32_labels_exact() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("labels.tif");
    let mut a = Array2::from_shape_fn((5, 8), |(r, c)| (r * 8 + c) as u32);
    a[[0, 1]] = (1 << 24) + 1; // not representable in f32
    a[[4, 7]] = u32::MAX;
    write_tiff_u32(&p, &a, Some(12.5)).unwrap();

    let l = read_labels_u32(&p, None).unwrap();
    assert_eq!(l.data, a);
    assert_relative_eq!(l.pixel_size_nm.unwrap(), 12.5, max_relative = 1e-12);
    assert_eq!(l.sample_format, SampleKind::U32);

    let r = read_em(&p, None).unwrap();
    assert_eq!(r.sample_format, SampleKind::U32);
    assert_eq!(r.data[[2, 3]], 19.0);
    assert_eq!(
        r.data[[0, 1]],
        (1u32 << 24) as f32,
        "rounded to nearest f32"
    );
}

#[test]
fn roundtrip_u8_and_uncalibrated() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("img.tif");
    let a = Array2::from_shape_fn((3, 4), |(r, c)| (r * 60 + c * 5) as u8);
    write_tiff_u8(&p, &a, None).unwrap();
    let r = read_em(&p, None).unwrap();
    assert_eq!(r.data, a.mapv(f32::from));
    assert_eq!(r.pixel_size_nm, None);
    assert_eq!(r.pixel_size_origin, None);
    assert_eq!(r.sample_format, SampleKind::U8);
    let (desc, _, unit) = tiff_tags(&p);
    assert_eq!(desc, "ImageJ=1.11a\n");
    assert_eq!(unit, Some(1));
    // u8 labels also read exactly
    assert_eq!(read_labels_u32(&p, None).unwrap().data, a.mapv(u32::from));
}

#[test]
fn roundtrip_compressed() {
    let dir = tempfile::tempdir().unwrap();
    for compression in [
        TiffCompression::Lzw,
        TiffCompression::Deflate,
        TiffCompression::None,
    ] {
        let opts = TiffWriteOptions {
            pixel_size_nm: Some(0.8),
            compression,
        };
        let p = dir.path().join(format!("{compression:?}_u16.tif"));
        let a = ramp_u16(40, 33);
        write_tiff(&p, &a, &opts).unwrap();
        let r = read_em(&p, None).unwrap();
        assert_eq!(r.data, a.mapv(f32::from), "{compression:?}");
        assert_relative_eq!(r.pixel_size_nm.unwrap(), 0.8, max_relative = 1e-12);

        let p = dir.path().join(format!("{compression:?}_f32.tif"));
        let a = ramp_f32(40, 33);
        write_tiff(&p, &a, &opts).unwrap();
        assert_f32_eq(&read_em(&p, None).unwrap().data, &a);

        let p = dir.path().join(format!("{compression:?}_u32.tif"));
        let a = Array2::from_shape_fn((17, 9), |(r, c)| (r * 100_000 + c) as u32);
        write_tiff(&p, &a, &opts).unwrap();
        assert_eq!(read_labels_u32(&p, None).unwrap().data, a);
    }
}

#[test]
fn write_accepts_non_standard_layout() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("fortran.tif");
    let v: Vec<f32> = (0..12).map(|x| x as f32).collect();
    let a = Array2::from_shape_vec((3, 4).f(), v).unwrap();
    assert!(a.as_slice().is_none());
    write_tiff_f32(&p, &a, None).unwrap();
    let r = read_em(&p, None).unwrap();
    assert_eq!(r.data, a);
    // A strided view, too.
    let big = ramp_f32(6, 8);
    let view = big.slice(ndarray::s![..;2, 1..;3]).to_owned();
    write_tiff_f32(&p, &view, None).unwrap();
    assert_eq!(read_em(&p, None).unwrap().data, view);
}

#[test]
fn overwrite_is_atomic_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.tif");
    write_tiff_u16(&p, &ramp_u16(4, 4), Some(1.0)).unwrap();
    let b = Array2::<u16>::from_elem((2, 3), 7);
    write_tiff_u16(&p, &b, Some(2.0)).unwrap();
    let r = read_em(&p, None).unwrap();
    assert_eq!(r.data, b.mapv(f32::from));
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 2.0);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["out.tif".to_string()]);
}

#[test]
fn write_errors_name_the_file_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.tif");

    let e = write_tiff_f32(&p, &Array2::zeros((0, 5)), None).unwrap_err();
    assert!(matches!(e, EmWriteError::EmptyImage { .. }), "{e}");
    assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
    assert!(e.to_string().contains("empty"), "{e}");

    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = write_tiff_u16(&p, &ramp_u16(2, 2), Some(bad)).unwrap_err();
        assert!(matches!(e, EmWriteError::InvalidPixelSize { .. }), "{e}");
        assert!(
            e.to_string().contains("bad.tif") && e.to_string().contains("pixel size"),
            "{e}"
        );
    }

    let missing = dir.path().join("no/such/dir/x.tif");
    let e = write_tiff_u16(&missing, &ramp_u16(2, 2), None).unwrap_err();
    assert!(matches!(e, EmWriteError::Io { .. }), "{e}");
    assert!(e.to_string().contains("no/such/dir/x.tif"), "{e}");
    assert_eq!(e.path(), missing);

    // Destination is a directory: the rename fails, the temp file is cleaned up.
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let e = write_tiff_u16(&sub, &ramp_u16(2, 2), None).unwrap_err();
    assert!(matches!(e, EmWriteError::Io { .. }), "{e}");
    assert!(e.to_string().contains("sub"), "{e}");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["sub".to_string()],
        "no temp files left: {names:?}"
    );
}

// ---------------------------------------------------------------- image crate

#[test]
fn image_crate_png_8_and_16_bit() {
    let dir = tempfile::tempdir().unwrap();
    let p8 = dir.path().join("g8.png");
    let v8: Vec<u8> = (0..=255).collect();
    image::GrayImage::from_raw(32, 8, v8.clone())
        .unwrap()
        .save(&p8)
        .unwrap();
    let r = read_em(&p8, None).unwrap();
    assert_eq!(r.shape(), (8, 32));
    assert_eq!(
        r.data.iter().copied().collect::<Vec<_>>(),
        v8.iter().map(|&x| f32::from(x)).collect::<Vec<_>>()
    );
    assert_eq!(
        (r.source_format, r.sample_format, r.bit_depth),
        (SourceFormat::Png, SampleKind::U8, 8)
    );
    assert_eq!(r.pixel_size_nm, None);
    assert_eq!(r.n_pages, 1);

    let p16 = dir.path().join("g16.png");
    let v16: Vec<u16> = (0..60)
        .map(|i| (i * 1111) as u16)
        .chain([65535])
        .collect::<Vec<_>>()[..60]
        .to_vec();
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(10, 6, v16.clone())
        .unwrap()
        .save(&p16)
        .unwrap();
    let r = read_em(&p16, None).unwrap();
    assert_eq!(
        r.data.iter().copied().collect::<Vec<_>>(),
        v16.iter().map(|&x| f32::from(x)).collect::<Vec<_>>()
    );
    assert_eq!((r.sample_format, r.bit_depth), (SampleKind::U16, 16));
    assert_eq!(
        read_labels_u32(&p16, None).unwrap().data[[5, 9]],
        u32::from(v16[59])
    );
}

#[test]
fn image_crate_tiff_8_and_16_bit() {
    let dir = tempfile::tempdir().unwrap();
    let p8 = dir.path().join("g8.tif");
    let v8: Vec<u8> = (0..48).map(|i| (i * 5) as u8).collect();
    image::GrayImage::from_raw(8, 6, v8.clone())
        .unwrap()
        .save(&p8)
        .unwrap();
    let r = read_em(&p8, None).unwrap();
    assert_eq!(
        r.data.iter().copied().collect::<Vec<_>>(),
        v8.iter().map(|&x| f32::from(x)).collect::<Vec<_>>()
    );
    assert_eq!(
        (r.source_format, r.sample_format),
        (SourceFormat::Tiff, SampleKind::U8)
    );
    assert_eq!(
        r.pixel_size_nm, None,
        "the image crate writes ResolutionUnit none"
    );

    let p16 = dir.path().join("g16.tiff");
    let v16: Vec<u16> = (0..48).map(|i| (i * 1365) as u16).collect();
    image::ImageBuffer::<image::Luma<u16>, _>::from_raw(6, 8, v16.clone())
        .unwrap()
        .save(&p16)
        .unwrap();
    let r = read_em(&p16, None).unwrap();
    assert_eq!(r.shape(), (8, 6));
    assert_eq!(
        r.data.iter().copied().collect::<Vec<_>>(),
        v16.iter().map(|&x| f32::from(x)).collect::<Vec<_>>()
    );
    assert_eq!(r.sample_format, SampleKind::U16);
}

fn bt601(r: f64, g: f64, b: f64) -> f32 {
    (0.299 * r + 0.587 * g + 0.114 * b) as f32
}

#[test]
fn rgb_and_rgba_become_bt601_luminance() {
    let dir = tempfile::tempdir().unwrap();
    let px: [[u8; 3]; 4] = [[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 200, 77]];
    let raw: Vec<u8> = px.iter().flatten().copied().collect();

    let p = dir.path().join("rgb.png");
    image::RgbImage::from_raw(2, 2, raw.clone())
        .unwrap()
        .save(&p)
        .unwrap();
    let r = read_em(&p, None).unwrap();
    assert_eq!(r.channels, SourceChannels::Rgb);
    assert_eq!(r.data[[0, 0]], bt601(255.0, 0.0, 0.0));
    assert_relative_eq!(r.data[[0, 0]], 76.245, max_relative = 1e-6);
    assert_relative_eq!(r.data[[0, 1]], 149.685, max_relative = 1e-6);
    assert_relative_eq!(r.data[[1, 0]], 29.07, max_relative = 1e-6);
    assert_eq!(r.data[[1, 1]], bt601(10.0, 200.0, 77.0));

    // Same pixels as RGBA with varying alpha: alpha is ignored.
    let rgba: Vec<u8> = px
        .iter()
        .enumerate()
        .flat_map(|(i, p)| [p[0], p[1], p[2], (i * 80) as u8])
        .collect();
    let p = dir.path().join("rgba.png");
    image::RgbaImage::from_raw(2, 2, rgba)
        .unwrap()
        .save(&p)
        .unwrap();
    let r2 = read_em(&p, None).unwrap();
    assert_eq!(r2.channels, SourceChannels::Rgba);
    assert_eq!(r2.data, r.data);

    // 16-bit RGB TIFF from the image crate.
    let raw16: Vec<u16> = raw.iter().map(|&x| u16::from(x) * 257).collect();
    let p = dir.path().join("rgb16.tif");
    image::ImageBuffer::<image::Rgb<u16>, _>::from_raw(2, 2, raw16)
        .unwrap()
        .save(&p)
        .unwrap();
    let r3 = read_em(&p, None).unwrap();
    assert_eq!(
        (r3.channels, r3.sample_format),
        (SourceChannels::Rgb, SampleKind::U16)
    );
    assert_eq!(r3.data[[1, 1]], bt601(2570.0, 51400.0, 19789.0));

    // RGB is not a label image.
    let e = read_labels_u32(&dir.path().join("rgb.png"), None).unwrap_err();
    assert_err_mentions(
        &e,
        &dir.path().join("rgb.png"),
        &["not a label image", "channel"],
    );
}

#[test]
fn gray_alpha_png_drops_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("la.png");
    image::ImageBuffer::<image::LumaA<u16>, _>::from_raw(3, 1, vec![100, 0, 200, 65535, 300, 7])
        .unwrap()
        .save(&p)
        .unwrap();
    let r = read_em(&p, None).unwrap();
    assert_eq!(r.channels, SourceChannels::GrayAlpha);
    assert_eq!(r.data.as_slice().unwrap(), &[100.0, 200.0, 300.0]);
}

// ---------------------------------------------------------------- tiff crate

#[test]
fn multipage_tiff_from_tiff_crate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("stack.tif");
    {
        let f = fs::File::create(&p).unwrap();
        let mut enc = TiffEncoder::new(f).unwrap();
        enc.write_image::<colortype::Gray8>(4, 3, &(0..12).collect::<Vec<u8>>())
            .unwrap();
        enc.write_image::<colortype::Gray16>(
            2,
            5,
            &(0..10).map(|x| x * 1000).collect::<Vec<u16>>(),
        )
        .unwrap();
        enc.write_image::<colortype::Gray32Float>(
            3,
            3,
            &(0..9).map(|x| x as f32 - 4.5).collect::<Vec<_>>(),
        )
        .unwrap();
    }
    let r0 = read_em(&p, None).unwrap();
    assert_eq!((r0.page, r0.n_pages, r0.shape()), (0, 3, (3, 4)));
    assert_eq!(r0.data[[2, 3]], 11.0);
    let r1 = read_em(&p, Some(1)).unwrap();
    assert_eq!(
        (r1.page, r1.shape(), r1.sample_format),
        (1, (5, 2), SampleKind::U16)
    );
    assert_eq!(r1.data[[4, 1]], 9000.0);
    let r2 = read_em(&p, Some(2)).unwrap();
    assert_eq!((r2.page, r2.sample_format), (2, SampleKind::F32));
    assert_eq!(r2.data[[0, 0]], -4.5);
    assert_eq!(r2.data[[2, 2]], 3.5);
    let e = read_em(&p, Some(3)).unwrap_err();
    assert!(matches!(
        e,
        EmReadError::PageOutOfRange {
            page: 3,
            n_pages: 3,
            ..
        }
    ));
    assert_err_mentions(&e, &p, &["page 3", "3 page(s)", "0..=2"]);
}

#[test]
fn float32_tiff_from_tiff_crate() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("f.tif");
    let v = vec![-1.5f32, 0.0, 1e-7, 3.25e9, f32::MIN_POSITIVE, -0.0];
    {
        let mut enc = TiffEncoder::new(fs::File::create(&p).unwrap()).unwrap();
        enc.write_image::<colortype::Gray32Float>(3, 2, &v).unwrap();
    }
    let r = read_em(&p, None).unwrap();
    assert_eq!(r.sample_format, SampleKind::F32);
    for (a, b) in r.data.iter().zip(&v) {
        assert_eq!(a.to_bits(), b.to_bits());
    }
}

#[test]
fn compressed_tiffs_from_tiff_crate() {
    let dir = tempfile::tempdir().unwrap();
    let v: Vec<u16> = (0..(37 * 29)).map(|i| ((i * 37) % 4096) as u16).collect();
    for (name, comp) in [
        ("lzw", Compression::Lzw),
        ("deflate", Compression::Deflate(DeflateLevel::Best)),
        ("packbits", Compression::Packbits),
    ] {
        let p = dir.path().join(format!("{name}.tif"));
        {
            let mut enc = TiffEncoder::new(fs::File::create(&p).unwrap())
                .unwrap()
                .with_compression(comp);
            enc.write_image::<colortype::Gray16>(37, 29, &v).unwrap();
        }
        let r = read_em(&p, None).unwrap();
        assert_eq!(
            r.data.iter().map(|&x| x as u16).collect::<Vec<_>>(),
            v,
            "{name}"
        );
    }
}

fn tiff_with_resolution(p: &Path, unit: ResolutionUnit, x: Rational, y: Rational) {
    let mut enc = TiffEncoder::new(fs::File::create(p).unwrap()).unwrap();
    let mut img = enc.new_image::<colortype::Gray8>(2, 2).unwrap();
    img.resolution_unit(unit);
    img.x_resolution(x);
    img.y_resolution(y);
    img.write_data(&[1, 2, 3, 4]).unwrap();
}

#[test]
fn resolution_in_cm_and_inch() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cm.tif");
    // 2e6 pixels per cm -> 1e7 nm / 2e6 = 5 nm
    tiff_with_resolution(
        &p,
        ResolutionUnit::Centimeter,
        Rational { n: 2_000_000, d: 1 },
        Rational { n: 2_000_000, d: 1 },
    );
    let r = read_em(&p, None).unwrap();
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 5.0, max_relative = 1e-12);
    assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::TiffResolution));

    let p = dir.path().join("inch.tif");
    // 25.4e6 nm / (12_700_000 / 5) px = 10 nm
    tiff_with_resolution(
        &p,
        ResolutionUnit::Inch,
        Rational {
            n: 12_700_000,
            d: 5,
        },
        Rational {
            n: 12_700_000,
            d: 5,
        },
    );
    assert_relative_eq!(
        read_em(&p, None).unwrap().pixel_size_nm.unwrap(),
        10.0,
        max_relative = 1e-12
    );

    // ResolutionUnit none without an ImageJ unit: no physical size.
    let p = dir.path().join("none.tif");
    tiff_with_resolution(
        &p,
        ResolutionUnit::None,
        Rational { n: 3, d: 1 },
        Rational { n: 3, d: 1 },
    );
    assert_eq!(read_em(&p, None).unwrap().pixel_size_nm, None);

    // Anisotropic
    let p = dir.path().join("aniso.tif");
    tiff_with_resolution(
        &p,
        ResolutionUnit::Centimeter,
        Rational { n: 2_000_000, d: 1 },
        Rational { n: 1_000_000, d: 1 },
    );
    let e = read_em(&p, None).unwrap_err();
    assert!(matches!(e, EmReadError::AnisotropicPixels { .. }));
    assert_err_mentions(&e, &p, &["anisotropic", "x = 5 nm", "y = 10 nm", "square"]);
}

// ---------------------------------------------------------------- hand-built TIFFs

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn resolution_unit_absent_defaults_to_inch() {
    let dir = tempfile::tempdir().unwrap();
    let page = Page::gray(2, 1, 8, 1, vec![1, 2])
        .tag(X_RESOLUTION, Val::Rational(vec![(254, 1)]))
        .tag(Y_RESOLUTION, Val::Rational(vec![(254, 1)]));
    let p = write(dir.path(), "dpi.tif", &build_tiff(false, &[page]));
    assert_relative_eq!(
        read_em(&p, None).unwrap().pixel_size_nm.unwrap(),
        100_000.0,
        max_relative = 1e-12
    );
}

#[test]
fn imagej_descriptions() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (unit, xres, expect)) in [
        ("micron", (4u32, 1u32), Some(250.0)),
        ("\\u00B5m", (4, 1), Some(250.0)),
        ("um", (1, 2), Some(2000.0)),
        ("nm", (2, 7), Some(3.5)),
        ("pixel", (4, 1), None),
    ]
    .into_iter()
    .enumerate()
    {
        let desc = format!("ImageJ=1.53t\nimages=1\nunit={unit}\nloop=false\n");
        let page = Page::gray(1, 1, 16, 1, vec![0, 1])
            .tag(IMAGE_DESCRIPTION, Val::Ascii(desc.into_bytes()))
            .tag(X_RESOLUTION, Val::Rational(vec![xres]))
            .tag(Y_RESOLUTION, Val::Rational(vec![xres]))
            .tag(RESOLUTION_UNIT, Val::Short(vec![1]));
        let p = write(
            dir.path(),
            &format!("ij{i}.tif"),
            &build_tiff(i % 2 == 1, &[page]),
        );
        let r = read_em(&p, None).unwrap();
        match expect {
            Some(e) => {
                assert_relative_eq!(r.pixel_size_nm.unwrap(), e, max_relative = 1e-12);
                assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::ImageJ));
            }
            None => assert_eq!(r.pixel_size_nm, None, "{unit}"),
        }
    }
}

#[test]
fn fei_and_zeiss_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let fei = "[User]\r\nUser=someone\r\n[Scan]\r\nPixelWidth=2.5e-009\r\nPixelHeight=2.5e-009\r\n";
    let page = Page::gray(1, 1, 8, 1, vec![7])
        .tag(FEI_HELIOS, Val::Ascii(fei.as_bytes().to_vec()))
        // a bogus 72 dpi that must be overridden
        .tag(X_RESOLUTION, Val::Rational(vec![(72, 1)]))
        .tag(Y_RESOLUTION, Val::Rational(vec![(72, 1)]))
        .tag(RESOLUTION_UNIT, Val::Short(vec![2]));
    let p = write(dir.path(), "fei.tif", &build_tiff(false, &[page]));
    let r = read_em(&p, None).unwrap();
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 2.5, max_relative = 1e-12);
    assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::FeiMetadata));

    let mut zeiss =
        b"\r\n0\r\nAP_PIXEL_SIZE\r\nImage Pixel Size = 1.25 \xb5m\r\nAP_WD\r\nWD = 5 mm\r\n"
            .to_vec();
    zeiss.extend_from_slice(b"");
    let page = Page::gray(1, 1, 8, 1, vec![7]).tag(CZ_SEM, Val::Ascii(zeiss));
    let p = write(dir.path(), "zeiss.tif", &build_tiff(true, &[page]));
    let r = read_em(&p, None).unwrap();
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 1250.0, max_relative = 1e-12);
    assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::ZeissMetadata));
}

#[test]
fn both_byte_orders_and_sample_types() {
    let dir = tempfile::tempdir().unwrap();
    for be in [false, true] {
        let tag = if be { "be" } else { "le" };
        let v16 = [0u16, 1, 256, 4095, 65535, 32768];
        let p = write(
            dir.path(),
            &format!("u16_{tag}.tif"),
            &build_tiff(be, &[Page::gray(3, 2, 16, 1, enc_u16(be, &v16))]),
        );
        let r = read_em(&p, None).unwrap();
        assert_eq!(
            r.data.iter().map(|&x| x as u16).collect::<Vec<_>>(),
            v16,
            "{tag}"
        );

        let vi = [-32768i16, -1, 0, 1, 32767, -300];
        let p = write(
            dir.path(),
            &format!("i16_{tag}.tif"),
            &build_tiff(be, &[Page::gray(2, 3, 16, 2, enc_i16(be, &vi))]),
        );
        let r = read_em(&p, None).unwrap();
        assert_eq!(r.sample_format, SampleKind::I16);
        assert_eq!(
            r.data.iter().map(|&x| x as i16).collect::<Vec<_>>(),
            vi,
            "{tag}"
        );
        let e = read_labels_u32(&p, None).unwrap_err();
        assert_err_mentions(&e, &p, &["not a label image", "int16"]);

        let vf = [1.5f32, -2.25, 1e30, 0.1, -0.0, 7.0];
        let p = write(
            dir.path(),
            &format!("f32_{tag}.tif"),
            &build_tiff(be, &[Page::gray(6, 1, 32, 3, enc_f32(be, &vf))]),
        );
        let r = read_em(&p, None).unwrap();
        assert_eq!(r.data.iter().copied().collect::<Vec<_>>(), vf, "{tag}");

        let vd = [1.0f64 / 3.0, -1e300];
        let bytes: Vec<u8> = vd
            .iter()
            .flat_map(|x| if be { x.to_be_bytes() } else { x.to_le_bytes() })
            .collect();
        let p = write(
            dir.path(),
            &format!("f64_{tag}.tif"),
            &build_tiff(be, &[Page::gray(2, 1, 64, 3, bytes)]),
        );
        let r = read_em(&p, None).unwrap();
        assert_eq!(r.sample_format, SampleKind::F64);
        assert_eq!(r.bit_depth, 64);
        assert_eq!(r.data[[0, 0]], (1.0f64 / 3.0) as f32);
        assert_eq!(r.data[[0, 1]], f32::NEG_INFINITY, "out of f32 range");
    }
}

#[test]
fn tiled_tiff() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h, tw, th) = (20usize, 18usize, 16usize, 16usize);
    let value = |r: usize, c: usize| (r * 100 + c) as u16;
    let mut chunks = Vec::new();
    for ty in 0..h.div_ceil(th) {
        for tx in 0..w.div_ceil(tw) {
            let mut tile = Vec::new();
            for r in 0..th {
                for c in 0..tw {
                    let (rr, cc) = (ty * th + r, tx * tw + c);
                    tile.push(if rr < h && cc < w {
                        value(rr, cc)
                    } else {
                        0xDEAD
                    });
                }
            }
            chunks.push(enc_u16(true, &tile));
        }
    }
    let mut page = Page::gray(w as u32, h as u32, 16, 1, vec![])
        .without(ROWS_PER_STRIP)
        .tag(TILE_WIDTH, Val::Short(vec![tw as u16]))
        .tag(TILE_LENGTH, Val::Short(vec![th as u16]));
    page.chunks = chunks;
    page.tiled = true;
    let p = write(dir.path(), "tiled.tif", &build_tiff(true, &[page]));
    let r = read_em(&p, None).unwrap();
    assert_eq!(r.shape(), (h, w));
    for ((rr, cc), &x) in r.data.indexed_iter() {
        assert_eq!(x, f32::from(value(rr, cc)), "({rr}, {cc})");
    }
}

#[test]
fn rgb_tiff_chunky_and_planar_and_gray_alpha() {
    let dir = tempfile::tempdir().unwrap();
    let px: [[u8; 3]; 2] = [[255, 128, 0], [3, 5, 250]];
    let rgb_page = |planar: bool| {
        let data: Vec<u8> = if planar {
            (0..3).flat_map(|c| px.iter().map(move |p| p[c])).collect()
        } else {
            px.iter().flatten().copied().collect()
        };
        let mut page = Page::gray(2, 1, 8, 1, vec![])
            .tag(BITS_PER_SAMPLE, Val::Short(vec![8, 8, 8]))
            .tag(SAMPLE_FORMAT, Val::Short(vec![1, 1, 1]))
            .tag(PHOTOMETRIC, Val::Short(vec![2]))
            .tag(SAMPLES_PER_PIXEL, Val::Short(vec![3]))
            .tag(
                PLANAR_CONFIGURATION,
                Val::Short(vec![if planar { 2 } else { 1 }]),
            );
        page.chunks = if planar {
            data.chunks(2).map(|c| c.to_vec()).collect()
        } else {
            vec![data]
        };
        page
    };
    let expect = [bt601(255.0, 128.0, 0.0), bt601(3.0, 5.0, 250.0)];
    for planar in [false, true] {
        let p = write(
            dir.path(),
            &format!("rgb{planar}.tif"),
            &build_tiff(planar, &[rgb_page(planar)]),
        );
        let r = read_em(&p, None).unwrap();
        assert_eq!(r.channels, SourceChannels::Rgb);
        assert_eq!(r.data.as_slice().unwrap(), &expect, "planar={planar}");
    }

    // gray + unassociated alpha
    let page = Page::gray(2, 1, 16, 1, enc_u16(false, &[1000, 0, 2000, 65535]))
        .tag(BITS_PER_SAMPLE, Val::Short(vec![16, 16]))
        .tag(SAMPLE_FORMAT, Val::Short(vec![1, 1]))
        .tag(SAMPLES_PER_PIXEL, Val::Short(vec![2]))
        .tag(EXTRA_SAMPLES, Val::Short(vec![2]));
    let p = write(dir.path(), "ga.tif", &build_tiff(false, &[page]));
    let r = read_em(&p, None).unwrap();
    assert_eq!(r.channels, SourceChannels::GrayAlpha);
    assert_eq!(r.data.as_slice().unwrap(), &[1000.0, 2000.0]);
}

#[test]
fn multipage_hand_built_big_endian_with_per_page_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let pages: Vec<Page> = (0..4u16)
        .map(|k| {
            Page::gray(2, 2, 16, 1, enc_u16(true, &[k, k + 10, k + 20, k + 30]))
                .tag(
                    X_RESOLUTION,
                    Val::Rational(vec![(1_000_000 * u32::from(k + 1), 1)]),
                )
                .tag(
                    Y_RESOLUTION,
                    Val::Rational(vec![(1_000_000 * u32::from(k + 1), 1)]),
                )
                .tag(RESOLUTION_UNIT, Val::Short(vec![3]))
        })
        .collect();
    let p = write(dir.path(), "mp.tif", &build_tiff(true, &pages));
    for k in 0..4usize {
        let r = read_em(&p, Some(k)).unwrap();
        assert_eq!((r.page, r.n_pages), (k, 4));
        assert_eq!(r.data[[1, 1]], (k + 30) as f32);
        assert_relative_eq!(
            r.pixel_size_nm.unwrap(),
            10.0 / (k + 1) as f64,
            max_relative = 1e-12
        );
    }
}

// ---------------------------------------------------------------- PNG pHYs

#[test]
fn png_phys() {
    let dir = tempfile::tempdir().unwrap();
    let mut png = Vec::new();
    image::GrayImage::from_raw(2, 2, vec![1, 2, 3, 4])
        .unwrap()
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();

    let p = write(
        dir.path(),
        "phys.png",
        &png_insert_phys(&png, 200_000_000, 200_000_000, 1),
    );
    let r = read_em(&p, None).unwrap();
    assert_relative_eq!(r.pixel_size_nm.unwrap(), 5.0, max_relative = 1e-12);
    assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::PngPhys));
    assert_eq!(r.data.as_slice().unwrap(), &[1.0, 2.0, 3.0, 4.0]);

    let p = write(
        dir.path(),
        "aspect_only.png",
        &png_insert_phys(&png, 3, 3, 0),
    );
    assert_eq!(read_em(&p, None).unwrap().pixel_size_nm, None);

    let p = write(dir.path(), "none.png", &png);
    assert_eq!(read_em(&p, None).unwrap().pixel_size_nm, None);

    let p = write(
        dir.path(),
        "aniso.png",
        &png_insert_phys(&png, 1_000_000, 2_000_000, 1),
    );
    let e = read_em(&p, None).unwrap_err();
    assert_err_mentions(&e, &p, &["anisotropic", "pHYs"]);
}

#[test]
fn extension_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("actually_a_tiff.png");
    write_tiff_u16(&p, &ramp_u16(2, 2), None).unwrap();
    assert_eq!(read_em(&p, None).unwrap().source_format, SourceFormat::Tiff);
    let q = dir.path().join("actually_a_png.tif");
    image::GrayImage::from_raw(1, 1, vec![9])
        .unwrap()
        .save_with_format(&q, image::ImageFormat::Png)
        .unwrap();
    assert_eq!(read_em(&q, None).unwrap().source_format, SourceFormat::Png);
}

#[test]
fn imagej_description_on_first_page_applies_to_all_pages() {
    let dir = tempfile::tempdir().unwrap();
    let pages: Vec<Page> = (0..3u16)
        .map(|k| {
            let page = Page::gray(2, 1, 16, 1, enc_u16(false, &[k, k]))
                .tag(X_RESOLUTION, Val::Rational(vec![(2, 7)]))
                .tag(Y_RESOLUTION, Val::Rational(vec![(2, 7)]))
                .tag(RESOLUTION_UNIT, Val::Short(vec![1]));
            if k == 0 {
                page.tag(
                    IMAGE_DESCRIPTION,
                    Val::Ascii(b"ImageJ=1.11a\nimages=3\nslices=3\nunit=nm\n".to_vec()),
                )
            } else {
                page
            }
        })
        .collect();
    let p = write(dir.path(), "ij_stack.tif", &build_tiff(false, &pages));
    for k in 0..3 {
        let r = read_em(&p, Some(k)).unwrap();
        assert_eq!(r.data[[0, 1]], k as f32);
        assert_relative_eq!(r.pixel_size_nm.unwrap(), 3.5, max_relative = 1e-12);
        assert_eq!(r.pixel_size_origin, Some(PixelSizeOrigin::ImageJ));
    }
}
