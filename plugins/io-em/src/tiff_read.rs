//! TIFF decoding with the `tiff` crate.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::tags::{PhotometricInterpretation, Tag, Type};
use tiff::{ColorType, TiffError};

use crate::convert::{NativeImage, NativeMeta, Samples};
use crate::meta::{
    NM_PER_CM, NM_PER_INCH, decode_text, fei_pixel_size_nm, imagej_unit, positive, square,
    zeiss_pixel_size_nm,
};
use crate::{
    EmReadError, MAX_DECODED_BYTES, PixelSizeOrigin, SampleKind, SourceChannels, SourceFormat,
    check_size,
};

/// Stop counting pages here (guards against absurd or looping IFD chains).
const MAX_PAGES: usize = 1_000_000;
/// Largest buffer the tiff crate may reserve while reading directories and tags (a tag's values
/// are held as 16–32-byte `Value`s: 16 MiB of 4-byte offsets need 128 MiB).
const MAX_METADATA_BYTES: usize = 128 << 20;
/// Largest text tag (description, vendor metadata) that is read.
const MAX_TEXT_TAG_BYTES: u64 = 16 << 20;
/// FEI / Thermo Fisher SEM/FIB metadata.
const TAG_FEI_HELIOS: u16 = 34682;
/// Zeiss SmartSEM metadata.
const TAG_CZ_SEM: u16 = 34118;

pub(crate) fn read_tiff(
    path: &Path,
    mut file: File,
    page: Option<usize>,
) -> Result<NativeImage, EmReadError> {
    let file_len = file.metadata().map_err(|e| crate::io_error(path, e))?.len();
    file.seek(SeekFrom::Start(0))
        .map_err(|e| crate::io_error(path, e))?;
    // The tiff crate bounds the capacity it reserves for a tag's values by
    // `decoding_buffer_size`, before reading them: with the image limit (8 GiB) a tag claiming
    // 100 million values in a 1 KB file reserved 3 GB (found by fuzzing). Tags and directories
    // are read under a metadata limit; the image limit applies only to the image read, after
    // `check_plausible`.
    let mut limits = Limits::default();
    limits.decoding_buffer_size = MAX_METADATA_BYTES;
    limits.ifd_value_size = 16 << 20;
    let mut dec = Decoder::new(BufReader::new(file))
        .map_err(|e| tiff_error(path, e))?
        .with_limits(limits.clone());

    let n_pages = count_pages(&mut dec);
    let page = page.unwrap_or(0);
    if page >= n_pages {
        return Err(EmReadError::PageOutOfRange {
            path: path.to_path_buf(),
            page,
            n_pages,
        });
    }
    // ImageJ (and tifffile's ImageJ mode) store the description, and so the unit, in the first
    // directory only; it applies to every page.
    let imagej_file_pixel = if page > 0
        && text_tag(&mut dec, Tag::ImageDescription)
            .as_deref()
            .and_then(imagej_unit)
            .is_some()
    {
        pixel_size(path, &mut dec)?
    } else {
        None
    };
    if page > 0 {
        dec.seek_to_image(page).map_err(|e| tiff_error(path, e))?;
    }

    let (width, height) = dec.dimensions().map_err(|e| tiff_error(path, e))?;
    if width == 0 || height == 0 {
        return Err(EmReadError::ZeroSize {
            path: path.to_path_buf(),
            width: width.into(),
            height: height.into(),
        });
    }

    let photometric = dec
        .find_tag_unsigned::<u16>(Tag::PhotometricInterpretation)
        .ok()
        .flatten();
    if photometric == Some(3) {
        return Err(EmReadError::UnsupportedColor {
            path: path.to_path_buf(),
            format: SourceFormat::Tiff,
            detail: "palette (indexed-colour, PhotometricInterpretation 3) images are not \
                     decoded; save the image as grayscale (in Fiji: Image > Type > 8-bit after \
                     removing the LUT) or RGB"
                .into(),
        });
    }
    let color = dec.colortype().map_err(|e| match e {
        TiffError::UnsupportedError(u) => EmReadError::UnsupportedColor {
            path: path.to_path_buf(),
            format: SourceFormat::Tiff,
            detail: u.to_string(),
        },
        other => tiff_error(path, other),
    })?;
    let bits = color.bit_depth();
    let sample_format = dec
        .find_tag_unsigned_vec::<u16>(Tag::SampleFormat)
        .ok()
        .flatten()
        .and_then(|v| v.first().copied())
        .unwrap_or(1);
    let kind = sample_kind(sample_format, bits).ok_or_else(|| EmReadError::UnsupportedSampleType {
        path: path.to_path_buf(),
        format: SourceFormat::Tiff,
        detail: format!(
            "{bits}-bit {} samples (supported: 8/16/32-bit unsigned and signed integers, 16/32/64-bit floats)",
            sample_format_name(sample_format)
        ),
    })?;
    let spp = usize::from(
        dec.find_tag_unsigned::<u16>(Tag::SamplesPerPixel)
            .ok()
            .flatten()
            .unwrap_or(1)
            .max(1),
    );
    let planar = dec
        .find_tag_unsigned::<u16>(Tag::PlanarConfiguration)
        .ok()
        .flatten()
        == Some(2);
    let channels = channels_of(path, &mut dec, color, spp, photometric)?;
    check_size(
        path,
        width.into(),
        height.into(),
        spp as u64,
        u64::from(kind.bits() / 8),
    )?;

    // The decoder allocates the whole sample buffer before it reads any data: refuse a header
    // that claims more than the file can hold. Lower bound of the samples stored: one sample per
    // pixel for planar data (the first plane) and for YCbCr (chroma may be subsampled).
    let stored_spp = if planar || photometric == Some(6) {
        1
    } else {
        spp as u64
    };
    let stored = u64::from(width) * u64::from(height) * stored_spp * u64::from(kind.bits() / 8);
    let compression = dec
        .find_tag_unsigned::<u16>(Tag::Compression)
        .ok()
        .flatten()
        .unwrap_or(1);
    let (ratio, codec) = max_expansion(compression);
    crate::check_plausible(path, SourceFormat::Tiff, stored, file_len, ratio, codec)?;

    let pixel = match pixel_size(path, &mut dec)? {
        None => imagej_file_pixel,
        some => some,
    };

    let mut image_limits = limits;
    image_limits.decoding_buffer_size = usize::try_from(MAX_DECODED_BYTES).unwrap_or(usize::MAX);
    let mut dec = dec.with_limits(image_limits);
    let mut result = DecodingResult::U8(Vec::new());
    dec.read_image_to_buffer(&mut result)
        .map_err(|e| tiff_error(path, e))?;
    let samples = match result {
        DecodingResult::U8(v) => Samples::U8(v),
        DecodingResult::U16(v) => Samples::U16(v),
        DecodingResult::U32(v) => Samples::U32(v),
        DecodingResult::I8(v) => Samples::I8(v),
        DecodingResult::I16(v) => Samples::I16(v),
        DecodingResult::I32(v) => Samples::I32(v),
        DecodingResult::F16(v) => Samples::F32(v.iter().map(|x| x.to_f32()).collect()),
        DecodingResult::F32(v) => Samples::F32(v),
        DecodingResult::F64(v) => Samples::F64(v),
        DecodingResult::U64(_) | DecodingResult::I64(_) => {
            return Err(EmReadError::UnsupportedSampleType {
                path: path.to_path_buf(),
                format: SourceFormat::Tiff,
                detail: "64-bit integer samples".into(),
            });
        }
    };

    let (w, h) = (width as usize, height as usize);
    let needed = match (planar, channels) {
        (false, _) => w * h * spp,
        (true, SourceChannels::Rgb | SourceChannels::Rgba) => w * h * 3,
        (true, _) => w * h,
    };
    if samples.len() < needed {
        return Err(EmReadError::Corrupt {
            path: path.to_path_buf(),
            format: SourceFormat::Tiff,
            detail: format!(
                "decoded {} samples where {w} x {h} pixels with {spp} sample(s) per pixel need {needed}",
                samples.len()
            ),
        });
    }

    Ok(NativeImage {
        samples,
        width: w,
        height: h,
        stride: spp,
        planar,
        meta: NativeMeta {
            pixel_size_nm: pixel.map(|p| p.0),
            pixel_size_origin: pixel.map(|p| p.1),
            source_format: SourceFormat::Tiff,
            sample_format: kind,
            bit_depth: bits,
            channels,
            page,
            n_pages,
        },
    })
}

/// The most bytes one stored byte can decode to with TIFF compression `code`, and its name.
/// Upper bounds: PackBits 2 → 128 bytes; Deflate about 1032:1; LZW (12-bit codes naming strings
/// of up to ~3800 bytes) and JPEG (one bit per 8×8 block and component at best) stay under 4096:1.
fn max_expansion(code: u16) -> (u64, &'static str) {
    match code {
        1 => (1, "uncompressed data"),
        32773 => (64, "PackBits"),
        8 | 32946 => (1040, "Deflate"),
        5 => (4096, "LZW"),
        6 | 7 => (4096, "JPEG"),
        _ => (4096, "any supported compression"),
    }
}

fn sample_kind(sample_format: u16, bits: u8) -> Option<SampleKind> {
    Some(match (sample_format, bits) {
        (1 | 4, 8) => SampleKind::U8,
        (1 | 4, 16) => SampleKind::U16,
        (1 | 4, 32) => SampleKind::U32,
        (2, 8) => SampleKind::I8,
        (2, 16) => SampleKind::I16,
        (2, 32) => SampleKind::I32,
        (3, 16) => SampleKind::F16,
        (3, 32) => SampleKind::F32,
        (3, 64) => SampleKind::F64,
        _ => return None,
    })
}

fn sample_format_name(sample_format: u16) -> String {
    match sample_format {
        1 => "unsigned integer".into(),
        2 => "signed integer".into(),
        3 => "floating-point".into(),
        4 => "untyped".into(),
        5 => "complex integer".into(),
        6 => "complex floating-point".into(),
        other => format!("SampleFormat={other}"),
    }
}

fn channels_of<R: Read + Seek>(
    path: &Path,
    dec: &mut Decoder<R>,
    color: ColorType,
    spp: usize,
    photometric: Option<u16>,
) -> Result<SourceChannels, EmReadError> {
    let unsupported = |detail: String| EmReadError::UnsupportedColor {
        path: path.to_path_buf(),
        format: SourceFormat::Tiff,
        detail,
    };
    Ok(match color {
        ColorType::Gray(_) => SourceChannels::Gray,
        ColorType::GrayA(_) => SourceChannels::GrayAlpha,
        ColorType::RGB(_) if spp >= 3 => SourceChannels::Rgb,
        ColorType::RGBA(_) if spp >= 4 => SourceChannels::Rgba,
        ColorType::Multiband { num_samples, .. } => {
            let extra = dec
                .find_tag_unsigned_vec::<u16>(Tag::ExtraSamples)
                .ok()
                .flatten()
                .unwrap_or_default();
            let gray = matches!(
                photometric.and_then(PhotometricInterpretation::from_u16),
                Some(
                    PhotometricInterpretation::BlackIsZero | PhotometricInterpretation::WhiteIsZero
                )
            );
            if gray && matches!(extra.first(), Some(1 | 2)) {
                SourceChannels::GrayAlpha
            } else {
                return Err(unsupported(format!(
                    "{num_samples} samples per pixel (a multi-channel image); only gray, gray+alpha, \
                     RGB and RGBA images are read — save channels as separate pages or files"
                )));
            }
        }
        other => {
            return Err(unsupported(format!(
                "{other:?} with {spp} sample(s) per pixel; only gray, gray+alpha, RGB and RGBA images are read"
            )));
        }
    })
}

/// Number of directories in the main IFD chain. Stops (without error) at the first directory
/// that cannot be read, at a cycle, or at [`MAX_PAGES`].
fn count_pages<R: Read + Seek>(dec: &mut Decoder<R>) -> usize {
    let Some(mut ptr) = dec.ifd_pointer() else {
        return 1;
    };
    let mut seen = HashSet::new();
    let mut n = 0;
    while n < MAX_PAGES && seen.insert(ptr.0) {
        let Ok(dir) = dec.read_directory(ptr) else {
            break;
        };
        n += 1;
        match dir.next() {
            Some(next) => ptr = next,
            None => break,
        }
    }
    n.max(1)
}

/// Raw bytes of an ASCII/BYTE/UNDEFINED tag of the current image, decoded as text.
fn text_tag<R: Read + Seek>(dec: &mut Decoder<R>, tag: Tag) -> Option<String> {
    let mut ifd = dec.image_ifd();
    let entry = ifd.find_entry(tag)?;
    if !matches!(
        entry.field_type(),
        Type::ASCII | Type::BYTE | Type::UNDEFINED | Type::SBYTE
    ) {
        return None;
    }
    let count = entry.count();
    if count == 0 || count > MAX_TEXT_TAG_BYTES {
        return None;
    }
    let mut buf = vec![0u8; count as usize];
    let len = ifd.find_tag_bytes(tag, &mut buf, 0).ok()??;
    buf.truncate(len.min(buf.len()));
    Some(decode_text(&buf))
}

/// A numeric (usually RATIONAL) tag as `f64`.
fn number_tag<R: Read + Seek>(dec: &mut Decoder<R>, tag: Tag) -> Option<f64> {
    use tiff::decoder::ifd::Value;
    fn value_f64(v: Value) -> Option<f64> {
        Some(match v {
            Value::Rational(n, d) => {
                if d == 0 {
                    return None;
                }
                f64::from(n) / f64::from(d)
            }
            Value::SRational(n, d) => {
                if d == 0 {
                    return None;
                }
                f64::from(n) / f64::from(d)
            }
            Value::Float(x) => f64::from(x),
            Value::Double(x) => x,
            Value::Byte(x) => f64::from(x),
            Value::Short(x) => f64::from(x),
            Value::Unsigned(x) => f64::from(x),
            Value::List(mut l) if !l.is_empty() => return value_f64(l.swap_remove(0)),
            _ => return None,
        })
    }
    dec.find_tag(tag).ok().flatten().and_then(value_f64)
}

/// Pixel size in nm and where it came from, for the current page.
fn pixel_size<R: Read + Seek>(
    path: &Path,
    dec: &mut Decoder<R>,
) -> Result<Option<(f64, PixelSizeOrigin)>, EmReadError> {
    if let Some((x, y)) = text_tag(dec, Tag::Unknown(TAG_FEI_HELIOS))
        .as_deref()
        .and_then(fei_pixel_size_nm)
    {
        let origin = PixelSizeOrigin::FeiMetadata;
        return Ok(Some((square(path, x, y, origin)?, origin)));
    }
    if let Some(nm) = text_tag(dec, Tag::Unknown(TAG_CZ_SEM))
        .as_deref()
        .and_then(zeiss_pixel_size_nm)
    {
        return Ok(Some((nm, PixelSizeOrigin::ZeissMetadata)));
    }

    let xres = number_tag(dec, Tag::XResolution).and_then(positive);
    let yres = number_tag(dec, Tag::YResolution).and_then(positive);
    let Some(xres) = xres else {
        return Ok(None);
    };
    let yres = yres.unwrap_or(xres);

    let description = text_tag(dec, Tag::ImageDescription);
    let imagej = description.as_deref().and_then(imagej_unit);
    let (unit_nm, origin) = if let Some((_, unit_nm)) = imagej {
        (unit_nm, PixelSizeOrigin::ImageJ)
    } else {
        // TIFF 6.0: ResolutionUnit defaults to 2 (inch) when absent.
        let unit = dec
            .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
            .ok()
            .flatten()
            .unwrap_or(2);
        match unit {
            2 => (NM_PER_INCH, PixelSizeOrigin::TiffResolution),
            3 => (NM_PER_CM, PixelSizeOrigin::TiffResolution),
            _ => return Ok(None),
        }
    };
    let (Some(x), Some(y)) = (positive(unit_nm / xres), positive(unit_nm / yres)) else {
        return Ok(None);
    };
    Ok(Some((square(path, x, y, origin)?, origin)))
}

fn tiff_error(path: &Path, e: TiffError) -> EmReadError {
    let corrupt = |detail: String| EmReadError::Corrupt {
        path: path.to_path_buf(),
        format: SourceFormat::Tiff,
        detail,
    };
    match e {
        TiffError::FormatError(tiff::TiffFormatError::InvalidDimensions(w, h)) => corrupt(format!(
            "invalid image size: width {w} × height {h} px (ImageWidth/ImageLength tags)"
        )),
        TiffError::FormatError(f) => corrupt(f.to_string()),
        TiffError::UnsupportedError(u) => EmReadError::UnsupportedFeature {
            path: path.to_path_buf(),
            format: SourceFormat::Tiff,
            detail: u.to_string(),
        },
        TiffError::IoError(io) => match io.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                corrupt("unexpected end of file (the file is truncated)".into())
            }
            std::io::ErrorKind::InvalidData
            | std::io::ErrorKind::InvalidInput
            | std::io::ErrorKind::Other => corrupt(io.to_string()),
            _ => EmReadError::Io {
                path: path.to_path_buf(),
                source: io,
            },
        },
        TiffError::LimitsExceeded => EmReadError::UnsupportedFeature {
            path: path.to_path_buf(),
            format: SourceFormat::Tiff,
            detail: "decoder limits exceeded (a tag value or data chunk is unreasonably large)"
                .into(),
        },
        TiffError::IntSizeError => corrupt("a size or offset does not fit this platform".into()),
        TiffError::UsageError(u) => corrupt(u.to_string()),
    }
}
