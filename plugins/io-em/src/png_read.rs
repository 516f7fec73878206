//! PNG decoding with the `image` crate; the header and `pHYs` chunk are parsed here.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader};

use crate::convert::{NativeImage, NativeMeta, Samples};
use crate::meta::square;
use crate::{
    EmReadError, MAX_DECODED_BYTES, MAX_SIDE_PX, PixelSizeOrigin, SampleKind, SourceChannels,
    SourceFormat, check_size,
};

/// What the chunk scan learns before decoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PngHeader {
    pub width: u32,
    pub height: u32,
    pub bit_depth: u8,
    pub color_type: u8,
    /// `pHYs`: pixels per unit in x and y, unit specifier (1 = metre, 0 = unknown).
    pub phys: Option<(u32, u32, u8)>,
}

pub(crate) fn read_png(
    path: &Path,
    mut file: File,
    page: Option<usize>,
) -> Result<NativeImage, EmReadError> {
    let page = page.unwrap_or(0);
    if page != 0 {
        return Err(EmReadError::PageOutOfRange {
            path: path.to_path_buf(),
            page,
            n_pages: 1,
        });
    }
    let corrupt = |detail: String| EmReadError::Corrupt {
        path: path.to_path_buf(),
        format: SourceFormat::Png,
        detail,
    };
    file.seek(SeekFrom::Start(0))
        .map_err(|e| crate::io_error(path, e))?;
    let header = scan_chunks(&mut BufReader::new(&mut file)).map_err(|e| match e {
        ScanError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            corrupt("unexpected end of file before the image data (the file is truncated)".into())
        }
        ScanError::Io(io) => crate::io_error(path, io),
        ScanError::Invalid(detail) => corrupt(detail),
    })?;
    let n_channels: u64 = match header.color_type {
        0 => 1,
        2 => 3,
        3 => 4, // palette expands to RGB(A)
        4 => 2,
        6 => 4,
        other => return Err(corrupt(format!("invalid PNG color type {other}"))),
    };
    check_size(
        path,
        header.width.into(),
        header.height.into(),
        n_channels,
        if header.bit_depth == 16 { 2 } else { 1 },
    )?;

    // The decoder allocates the whole image before it inflates any data: refuse a header that
    // claims more than the file can hold. Stored bytes (non-interlaced, a lower bound):
    // a filter byte plus the packed samples per row; zlib expands at most 1032:1.
    let file_len = file.metadata().map_err(|e| crate::io_error(path, e))?.len();
    let stored_channels: u64 = match header.color_type {
        2 => 3,
        4 => 2,
        6 => 4,
        _ => 1,
    };
    let row_bits = u64::from(header.width) * stored_channels * u64::from(header.bit_depth.max(1));
    let stored = u64::from(header.height) * (1 + row_bits.div_ceil(8));
    crate::check_plausible(
        path,
        SourceFormat::Png,
        stored,
        file_len,
        1040,
        "zlib/Deflate",
    )?;

    let pixel = match header.phys {
        Some((px, py, 1)) if px > 0 && py > 0 => {
            let origin = PixelSizeOrigin::PngPhys;
            let x = 1e9 / f64::from(px);
            let y = 1e9 / f64::from(py);
            Some((square(path, x, y, origin)?, origin))
        }
        _ => None,
    };

    file.seek(SeekFrom::Start(0))
        .map_err(|e| crate::io_error(path, e))?;
    let mut reader = ImageReader::with_format(BufReader::new(file), ImageFormat::Png);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE_PX as u32);
    limits.max_image_height = Some(MAX_SIDE_PX as u32);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| image_error(path, e, &header))?;

    let (width, height) = (img.width() as usize, img.height() as usize);
    let (samples, stride, channels, kind) = match img {
        DynamicImage::ImageLuma8(b) => (
            Samples::U8(b.into_raw()),
            1,
            SourceChannels::Gray,
            SampleKind::U8,
        ),
        DynamicImage::ImageLumaA8(b) => (
            Samples::U8(b.into_raw()),
            2,
            SourceChannels::GrayAlpha,
            SampleKind::U8,
        ),
        DynamicImage::ImageRgb8(b) => (
            Samples::U8(b.into_raw()),
            3,
            SourceChannels::Rgb,
            SampleKind::U8,
        ),
        DynamicImage::ImageRgba8(b) => (
            Samples::U8(b.into_raw()),
            4,
            SourceChannels::Rgba,
            SampleKind::U8,
        ),
        DynamicImage::ImageLuma16(b) => (
            Samples::U16(b.into_raw()),
            1,
            SourceChannels::Gray,
            SampleKind::U16,
        ),
        DynamicImage::ImageLumaA16(b) => (
            Samples::U16(b.into_raw()),
            2,
            SourceChannels::GrayAlpha,
            SampleKind::U16,
        ),
        DynamicImage::ImageRgb16(b) => (
            Samples::U16(b.into_raw()),
            3,
            SourceChannels::Rgb,
            SampleKind::U16,
        ),
        DynamicImage::ImageRgba16(b) => (
            Samples::U16(b.into_raw()),
            4,
            SourceChannels::Rgba,
            SampleKind::U16,
        ),
        DynamicImage::ImageRgb32F(b) => (
            Samples::F32(b.into_raw()),
            3,
            SourceChannels::Rgb,
            SampleKind::F32,
        ),
        DynamicImage::ImageRgba32F(b) => (
            Samples::F32(b.into_raw()),
            4,
            SourceChannels::Rgba,
            SampleKind::F32,
        ),
        other => {
            return Err(EmReadError::UnsupportedSampleType {
                path: path.to_path_buf(),
                format: SourceFormat::Png,
                detail: format!("decoded color type {:?}", other.color()),
            });
        }
    };
    if samples.len() < width * height * stride {
        return Err(corrupt(format!(
            "decoded {} samples where {width} x {height} pixels need {}",
            samples.len(),
            width * height * stride
        )));
    }
    Ok(NativeImage {
        samples,
        width,
        height,
        stride,
        planar: false,
        meta: NativeMeta {
            pixel_size_nm: pixel.map(|p| p.0),
            pixel_size_origin: pixel.map(|p| p.1),
            source_format: SourceFormat::Png,
            sample_format: kind,
            bit_depth: kind.bits(),
            channels,
            page: 0,
            n_pages: 1,
        },
    })
}

#[derive(Debug)]
pub(crate) enum ScanError {
    Io(std::io::Error),
    Invalid(String),
}

impl From<std::io::Error> for ScanError {
    fn from(e: std::io::Error) -> Self {
        ScanError::Io(e)
    }
}

/// Walk the chunks before the first `IDAT`, collecting `IHDR` and `pHYs`.
pub(crate) fn scan_chunks<R: Read + Seek>(r: &mut R) -> Result<PngHeader, ScanError> {
    let mut sig = [0u8; 8];
    r.read_exact(&mut sig)?;
    if &sig != b"\x89PNG\r\n\x1a\n" {
        return Err(ScanError::Invalid("bad PNG signature".into()));
    }
    let mut header: Option<PngHeader> = None;
    loop {
        let mut chunk = [0u8; 8];
        r.read_exact(&mut chunk)?;
        let len = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let kind = [chunk[4], chunk[5], chunk[6], chunk[7]];
        if len > i32::MAX as u32 {
            return Err(ScanError::Invalid(format!(
                "chunk length {len} exceeds the PNG maximum"
            )));
        }
        if !kind.iter().all(|b| b.is_ascii_alphabetic()) {
            return Err(ScanError::Invalid(format!(
                "invalid chunk type {:02x?}",
                kind
            )));
        }
        match &kind {
            b"IHDR" => {
                if header.is_some() {
                    return Err(ScanError::Invalid("duplicate IHDR chunk".into()));
                }
                if len != 13 {
                    return Err(ScanError::Invalid(format!(
                        "IHDR chunk of length {len}, not 13"
                    )));
                }
                let mut d = [0u8; 13];
                r.read_exact(&mut d)?;
                header = Some(PngHeader {
                    width: u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                    height: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                    bit_depth: d[8],
                    color_type: d[9],
                    phys: None,
                });
                r.seek(SeekFrom::Current(4))?;
            }
            _ if header.is_none() => {
                return Err(ScanError::Invalid("the first chunk is not IHDR".into()));
            }
            b"pHYs" if len == 9 => {
                let mut d = [0u8; 9];
                r.read_exact(&mut d)?;
                if let Some(h) = header.as_mut() {
                    h.phys = Some((
                        u32::from_be_bytes([d[0], d[1], d[2], d[3]]),
                        u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
                        d[8],
                    ));
                }
                r.seek(SeekFrom::Current(4))?;
            }
            b"IDAT" | b"IEND" => break,
            _ => {
                r.seek(SeekFrom::Current(i64::from(len) + 4))?;
            }
        }
    }
    header.ok_or_else(|| ScanError::Invalid("no IHDR chunk".into()))
}

fn image_error(path: &Path, e: ImageError, header: &PngHeader) -> EmReadError {
    let corrupt = |detail: String| EmReadError::Corrupt {
        path: path.to_path_buf(),
        format: SourceFormat::Png,
        detail,
    };
    match e {
        ImageError::Decoding(d) => corrupt(d.to_string()),
        ImageError::Encoding(d) => corrupt(d.to_string()),
        ImageError::Parameter(d) => corrupt(d.to_string()),
        ImageError::Limits(l) => EmReadError::TooLarge {
            path: path.to_path_buf(),
            width: header.width.into(),
            height: header.height.into(),
            detail: l.to_string(),
        },
        ImageError::Unsupported(u) => EmReadError::UnsupportedFeature {
            path: path.to_path_buf(),
            format: SourceFormat::Png,
            detail: u.to_string(),
        },
        ImageError::IoError(io) => match io.kind() {
            std::io::ErrorKind::UnexpectedEof => {
                corrupt("unexpected end of file (the file is truncated)".into())
            }
            std::io::ErrorKind::InvalidData | std::io::ErrorKind::Other => corrupt(io.to_string()),
            _ => EmReadError::Io {
                path: path.to_path_buf(),
                source: io,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut v = (data.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(data);
        v.extend_from_slice(&[0, 0, 0, 0]); // CRC, not checked by the scan
        v
    }

    #[test]
    fn scan_reads_ihdr_and_phys() {
        let mut f = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = 7u32.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&5u32.to_be_bytes());
        ihdr.extend_from_slice(&[16, 0, 0, 0, 0]);
        f.extend(chunk(b"IHDR", &ihdr));
        f.extend(chunk(b"tEXt", b"Comment\0hello"));
        let mut phys = 200_000_000u32.to_be_bytes().to_vec();
        phys.extend_from_slice(&200_000_000u32.to_be_bytes());
        phys.push(1);
        f.extend(chunk(b"pHYs", &phys));
        f.extend(chunk(b"IDAT", &[1, 2, 3]));
        let h = scan_chunks(&mut Cursor::new(&f)).unwrap();
        assert_eq!(
            h,
            PngHeader {
                width: 7,
                height: 5,
                bit_depth: 16,
                color_type: 0,
                phys: Some((200_000_000, 200_000_000, 1)),
            }
        );
        // Truncated inside the chunk list.
        let cut = &f[..40];
        assert!(matches!(
            scan_chunks(&mut Cursor::new(cut)),
            Err(ScanError::Io(_))
        ));
    }
}
