//! Reading and writing electron-microscopy images for corrflow.
//!
//! # Reading
//!
//! [`read_em`] turns a TIFF or PNG file (recognised by its magic bytes, never by its extension)
//! into an [`EmRaster`]: one grayscale `f32` plane of shape `(height, width)` plus the pixel size
//! in nanometres when the file records one.
//!
//! * Samples: unsigned 8/16/32-bit, signed 8/16/32-bit, IEEE float 16/32/64-bit (TIFF); 8/16-bit
//!   (PNG; 1/2/4-bit PNG gray is expanded to the 8-bit range by the decoder). Integer values are
//!   kept exactly as `f32` (exact up to 2^24; 32-bit integers above that, and `f64` samples, are
//!   rounded to the nearest `f32`). No rescaling is applied, except that the `tiff` crate inverts
//!   PhotometricInterpretation WhiteIsZero images (`max - v` for integers, `1 - v` for floats).
//! * Channels: gray; gray+alpha (alpha dropped); RGB and RGBA (alpha dropped) converted to
//!   luminance with the ITU-R BT.601 luma weights `Y = 0.299 R + 0.587 G + 0.114 B`, computed in
//!   `f64` and not rounded. This is the formula of MATLAB `rgb2gray`, OpenCV `cvtColor` and
//!   Pillow `convert("L")` (which additionally rounds to integers). Note that scikit-image
//!   `rgb2gray` uses different (BT.709) weights, `0.2125 R + 0.7154 G + 0.0721 B`, and that
//!   ImageJ's default RGB→8-bit conversion is the unweighted mean `(R + G + B) / 3`.
//!   PNG palette images are expanded to RGB(A) by the decoder and then converted to luminance.
//!   TIFF palette (indexed) images are refused with [`EmReadError::UnsupportedColor`]: the
//!   `tiff` crate does not decode them.
//! * TIFF layout: strips or tiles, chunky or planar, uncompressed / LZW / Deflate / PackBits /
//!   JPEG / CCITT fax (whatever the `tiff` crate decodes), predictors, both byte orders, BigTIFF,
//!   multi-page (choose the page; the page count is reported).
//! * Pixel size (nm), first match wins:
//!   1. FEI/Thermo Fisher SEM/FIB metadata (TIFF tag 34682, `[Scan] PixelWidth/PixelHeight`, m);
//!   2. Zeiss SmartSEM metadata (TIFF tag 34118, `Image Pixel Size = 2.5 nm`);
//!   3. ImageJ/Fiji: `ImageDescription` starting with `ImageJ=` and containing `unit=` (`nm`,
//!      `um`, `micron`, `µm`, `\u00B5m`, `mm`, `cm`, `m`, `pm`, `Å`, `inch`…), with
//!      XResolution/YResolution = pixels per unit (ImageJ writes the description into the
//!      first page only; it then applies to all pages);
//!   4. TIFF XResolution/YResolution with ResolutionUnit 2 (inch, also the TIFF default when the
//!      tag is absent) or 3 (cm); ResolutionUnit 1 (none) means "no physical size";
//!   5. PNG `pHYs` chunk with unit = metre.
//!
//!   Resolutions that are zero, negative or not finite count as absent. Pixel width and height
//!   that differ by more than 1e-6 (relative) are an error ([`EmReadError::AnisotropicPixels`]).
//!
//! # Writing
//!
//! [`write_tiff_f32`], [`write_tiff_u16`], [`write_tiff_u32`] (and [`write_tiff_u8`], or the
//! generic [`write_tiff`] with compression) write a single-page grayscale TIFF that Fiji/ImageJ,
//! napari/tifffile and this reader open with the right scale: XResolution = YResolution = pixels
//! per unit, ResolutionUnit = none, `ImageDescription = "ImageJ=1.11a\nunit=nm\n"` (or `micron`
//! for pixel sizes of 1 µm and above). Files are written to a temporary file in the destination
//! directory, flushed to disk and renamed over the destination, so readers never see a
//! half-written file.

mod convert;
mod error;
mod figure_encode;
mod inspect;
mod meta;
mod png_read;
mod stage;
pub use inspect::EmInspector;
mod tiff_read;
mod write;
pub use stage::{IoEm, IoEmParams, IoEmPlugin};

use std::fmt;
use std::io::Read;
use std::path::Path;

use ndarray::Array2;

pub use error::{EmReadError, EmWriteError};
pub use figure_encode::{JPEG_QUALITY, encode_jpeg_rgb, encode_png_rgb, reduce_to_width};
pub use write::{
    TiffCompression, TiffSample, TiffWriteOptions, write_tiff, write_tiff_f32, write_tiff_u8,
    write_tiff_u16, write_tiff_u32,
};

/// Largest accepted width or height, in pixels.
pub const MAX_SIDE_PX: u64 = 100_000;
/// Largest accepted number of pixels (2^30, i.e. 4 GiB of `f32`).
pub const MAX_PIXELS: u64 = 1 << 30;
/// Largest accepted size of the decoded sample buffer before conversion (all channels, native
/// sample type), in bytes.
pub const MAX_DECODED_BYTES: u64 = 8 << 30;

/// The container format a raster was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceFormat {
    Tiff,
    Png,
}

impl fmt::Display for SourceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceFormat::Tiff => "TIFF",
            SourceFormat::Png => "PNG",
        })
    }
}

/// The type of the samples stored in the file (before conversion to `f32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SampleKind {
    U8,
    U16,
    U32,
    I8,
    I16,
    I32,
    F16,
    F32,
    F64,
}

impl SampleKind {
    /// Bits per sample of this type.
    pub fn bits(self) -> u8 {
        match self {
            SampleKind::U8 | SampleKind::I8 => 8,
            SampleKind::U16 | SampleKind::I16 | SampleKind::F16 => 16,
            SampleKind::U32 | SampleKind::I32 | SampleKind::F32 => 32,
            SampleKind::F64 => 64,
        }
    }

    /// Whether the samples are unsigned integers.
    pub fn is_unsigned_int(self) -> bool {
        matches!(self, SampleKind::U8 | SampleKind::U16 | SampleKind::U32)
    }
}

impl fmt::Display for SampleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SampleKind::U8 => "uint8",
            SampleKind::U16 => "uint16",
            SampleKind::U32 => "uint32",
            SampleKind::I8 => "int8",
            SampleKind::I16 => "int16",
            SampleKind::I32 => "int32",
            SampleKind::F16 => "float16",
            SampleKind::F32 => "float32",
            SampleKind::F64 => "float64",
        })
    }
}

/// The channel layout of the source image, before it was reduced to one gray plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceChannels {
    /// One gray channel, used as is.
    Gray,
    /// Gray plus alpha; alpha was dropped.
    GrayAlpha,
    /// RGB, converted to BT.601 luminance.
    Rgb,
    /// RGBA; alpha was dropped and RGB converted to BT.601 luminance.
    Rgba,
}

/// Where the pixel size came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelSizeOrigin {
    /// FEI / Thermo Fisher metadata (TIFF tag 34682).
    FeiMetadata,
    /// Zeiss SmartSEM metadata (TIFF tag 34118).
    ZeissMetadata,
    /// ImageJ `ImageDescription` unit plus X/YResolution.
    ImageJ,
    /// TIFF X/YResolution with ResolutionUnit inch or centimetre.
    TiffResolution,
    /// PNG `pHYs` chunk (pixels per metre).
    PngPhys,
}

impl fmt::Display for PixelSizeOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PixelSizeOrigin::FeiMetadata => "FEI metadata (TIFF tag 34682)",
            PixelSizeOrigin::ZeissMetadata => "Zeiss SEM metadata (TIFF tag 34118)",
            PixelSizeOrigin::ImageJ => "ImageJ description and X/YResolution",
            PixelSizeOrigin::TiffResolution => "TIFF X/YResolution and ResolutionUnit",
            PixelSizeOrigin::PngPhys => "PNG pHYs chunk",
        })
    }
}

/// One grayscale image plane read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct EmRaster {
    /// Sample values, shape `(height, width)`, row 0 at the top. Values are the stored values
    /// (no rescaling), or BT.601 luminance for RGB(A) sources.
    pub data: Array2<f32>,
    /// Pixel size in nanometres (square pixels), if the file records a physical one.
    pub pixel_size_nm: Option<f64>,
    /// Where [`Self::pixel_size_nm`] came from; `None` when it is `None`.
    pub pixel_size_origin: Option<PixelSizeOrigin>,
    pub source_format: SourceFormat,
    /// Type of the stored samples.
    pub sample_format: SampleKind,
    /// Bits per stored sample (8, 16, 32 or 64; PNG gray below 8 bits is reported as 8).
    pub bit_depth: u8,
    /// Channel layout of the source.
    pub channels: SourceChannels,
    /// Which page (TIFF directory) was read, 0-based.
    pub page: usize,
    /// Number of pages (TIFF directories in the main chain; 1 for PNG).
    pub n_pages: usize,
}

impl EmRaster {
    /// `(height, width)` in pixels.
    pub fn shape(&self) -> (usize, usize) {
        self.data.dim()
    }
}

/// An instance-label image read exactly as `u32` (see [`read_labels_u32`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRaster {
    /// Labels, shape `(height, width)`.
    pub data: Array2<u32>,
    pub pixel_size_nm: Option<f64>,
    pub pixel_size_origin: Option<PixelSizeOrigin>,
    pub source_format: SourceFormat,
    pub sample_format: SampleKind,
    pub bit_depth: u8,
    pub page: usize,
    pub n_pages: usize,
}

/// Read one page of a TIFF or PNG image as a grayscale `f32` raster.
///
/// `page` selects the TIFF directory (default 0); PNG files have exactly one page.
/// See the crate documentation for what is supported. Never panics on malformed input.
pub fn read_em(path: &Path, page: Option<usize>) -> Result<EmRaster, EmReadError> {
    let native = read_native(path, page)?;
    let data = native.to_gray_f32();
    Ok(EmRaster {
        data,
        pixel_size_nm: native.meta.pixel_size_nm,
        pixel_size_origin: native.meta.pixel_size_origin,
        source_format: native.meta.source_format,
        sample_format: native.meta.sample_format,
        bit_depth: native.meta.bit_depth,
        channels: native.meta.channels,
        page: native.meta.page,
        n_pages: native.meta.n_pages,
    })
}

/// Read one page of a label image exactly, as `u32`.
///
/// Accepts single-channel unsigned 8/16/32-bit images, e.g. files written
/// by [`write_tiff_u32`]; anything else is [`EmReadError::NotALabelImage`].
pub fn read_labels_u32(path: &Path, page: Option<usize>) -> Result<LabelRaster, EmReadError> {
    let native = read_native(path, page)?;
    let meta = &native.meta;
    if meta.channels != SourceChannels::Gray {
        return Err(EmReadError::NotALabelImage {
            path: path.to_path_buf(),
            detail: format!(
                "it has {:?} channels; label images must have a single channel",
                meta.channels
            ),
        });
    }
    let Some(data) = native.to_labels_u32() else {
        return Err(EmReadError::NotALabelImage {
            path: path.to_path_buf(),
            detail: format!(
                "samples are {}; label images must be unsigned integers (uint8, uint16 or uint32)",
                meta.sample_format
            ),
        });
    };
    Ok(LabelRaster {
        data,
        pixel_size_nm: meta.pixel_size_nm,
        pixel_size_origin: meta.pixel_size_origin,
        source_format: meta.source_format,
        sample_format: meta.sample_format,
        bit_depth: meta.bit_depth,
        page: meta.page,
        n_pages: meta.n_pages,
    })
}

fn read_native(path: &Path, page: Option<usize>) -> Result<convert::NativeImage, EmReadError> {
    let md = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
    if !md.is_file() {
        return Err(EmReadError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mut file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    let mut head = [0u8; 16];
    let n = read_up_to(&mut file, &mut head).map_err(|e| io_error(path, e))?;
    let head = &head[..n];
    match sniff(head) {
        Sniffed::Tiff => tiff_read::read_tiff(path, file, page),
        Sniffed::Png => png_read::read_png(path, file, page),
        Sniffed::Other(what) => Err(EmReadError::UnsupportedFormat {
            path: path.to_path_buf(),
            detail: what,
        }),
    }
}

fn io_error(path: &Path, e: std::io::Error) -> EmReadError {
    if e.kind() == std::io::ErrorKind::NotFound {
        EmReadError::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        EmReadError::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// Read until `buf` is full or EOF; returns the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[derive(Debug, PartialEq)]
enum Sniffed {
    Tiff,
    Png,
    Other(String),
}

/// Identify the format from the first bytes of the file.
fn sniff(head: &[u8]) -> Sniffed {
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
    if head.is_empty() {
        return Sniffed::Other("the file is empty".into());
    }
    if head.starts_with(b"II*\0")
        || head.starts_with(b"MM\0*")
        || head.starts_with(b"II+\0")
        || head.starts_with(b"MM\0+")
    {
        return Sniffed::Tiff;
    }
    if head.starts_with(PNG) {
        return Sniffed::Png;
    }
    let known: &[(&[u8], &str)] = &[
        (b"\xff\xd8\xff", "JPEG"),
        (b"\x89HDF\r\n\x1a\n", "HDF5"),
        (b"GIF8", "GIF"),
        (b"BM", "BMP"),
        (b"RIFF", "RIFF (WebP/AVI)"),
        (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
        (b"PK\x03\x04", "ZIP archive"),
        (b"\x1f\x8b", "gzip archive"),
        (b"%PDF", "PDF"),
        (b"\x00\x00\x00\x03", "possibly Gatan DM3"),
        (b"\x00\x00\x00\x04", "possibly Gatan DM4"),
        (b"\x93NUMPY", "NumPy .npy"),
    ];
    for (magic, name) in known {
        if head.starts_with(magic) {
            return Sniffed::Other(format!("the file looks like {name}"));
        }
    }
    if PNG.starts_with(head) || b"II*\0".starts_with(head) || b"MM\0*".starts_with(head) {
        return Sniffed::Other(format!(
            "the file is only {} byte(s) long, too short for an image header",
            head.len()
        ));
    }
    let hex: Vec<String> = head.iter().take(8).map(|b| format!("{b:02x}")).collect();
    Sniffed::Other(format!(
        "unrecognised magic bytes [{}] (TIFF starts with 49 49 2a 00 or 4d 4d 00 2a, PNG with 89 50 4e 47)",
        hex.join(" ")
    ))
}

/// Refuse images whose size exceeds the crate's limits, before anything is allocated.
fn check_size(
    path: &Path,
    width: u64,
    height: u64,
    samples_per_pixel: u64,
    bytes_per_sample: u64,
) -> Result<(), EmReadError> {
    if width == 0 || height == 0 {
        return Err(EmReadError::ZeroSize {
            path: path.to_path_buf(),
            width,
            height,
        });
    }
    let too_large = |detail: String| EmReadError::TooLarge {
        path: path.to_path_buf(),
        width,
        height,
        detail,
    };
    if width > MAX_SIDE_PX || height > MAX_SIDE_PX {
        return Err(too_large(format!(
            "a side exceeds the limit of {MAX_SIDE_PX} pixels"
        )));
    }
    let pixels = width * height;
    if pixels > MAX_PIXELS {
        return Err(too_large(format!(
            "{pixels} pixels exceed the limit of {MAX_PIXELS} (4 GiB of f32)"
        )));
    }
    let bytes = pixels
        .saturating_mul(samples_per_pixel.max(1))
        .saturating_mul(bytes_per_sample.max(1));
    if bytes > MAX_DECODED_BYTES {
        return Err(too_large(format!(
            "decoding needs {bytes} bytes, more than the limit of {MAX_DECODED_BYTES}"
        )));
    }
    Ok(())
}

/// Refuse headers that claim more sample bytes than the file can hold, before the decoder
/// allocates its buffer: `stored_bytes` (a lower bound of the sample bytes the header implies)
/// must fit in `file_len` bytes at `max_ratio`, the highest expansion the compression can reach
/// (1 for uncompressed data, about 1032 for Deflate). A tiny file claiming a huge image is then
/// refused at once, whatever the size limits allow.
pub(crate) fn check_plausible(
    path: &Path,
    format: SourceFormat,
    stored_bytes: u64,
    file_len: u64,
    max_ratio: u64,
    codec: &str,
) -> Result<(), EmReadError> {
    let can_hold = file_len.saturating_mul(max_ratio);
    if stored_bytes > can_hold {
        return Err(EmReadError::Corrupt {
            path: path.to_path_buf(),
            format,
            detail: format!(
                "the header claims {stored_bytes} bytes of samples, more than the {file_len}-byte \
                 file can hold even at the highest ratio of {codec} ({max_ratio}:1); the file is \
                 truncated or its header is corrupt"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_recognises_formats() {
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Sniffed::Tiff);
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Sniffed::Tiff);
        assert_eq!(sniff(b"II+\0\x08\0\0\0"), Sniffed::Tiff);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), Sniffed::Png);
        match sniff(b"\xff\xd8\xff\xe0") {
            Sniffed::Other(s) => assert!(s.contains("JPEG"), "{s}"),
            other => panic!("{other:?}"),
        }
        match sniff(b"II") {
            Sniffed::Other(s) => assert!(s.contains("too short"), "{s}"),
            other => panic!("{other:?}"),
        }
        match sniff(b"hello world") {
            Sniffed::Other(s) => assert!(s.contains("68 65 6c 6c"), "{s}"),
            other => panic!("{other:?}"),
        }
        match sniff(b"") {
            Sniffed::Other(s) => assert!(s.contains("empty"), "{s}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn size_limits() {
        let p = Path::new("x.tif");
        assert!(check_size(p, 10, 10, 1, 4).is_ok());
        assert!(matches!(
            check_size(p, 0, 10, 1, 1),
            Err(EmReadError::ZeroSize { .. })
        ));
        assert!(matches!(
            check_size(p, MAX_SIDE_PX + 1, 1, 1, 1),
            Err(EmReadError::TooLarge { .. })
        ));
        assert!(matches!(
            check_size(p, 90_000, 90_000, 1, 1),
            Err(EmReadError::TooLarge { .. })
        ));
        assert!(matches!(
            check_size(p, 32_768, 32_768, 4, 8),
            Err(EmReadError::TooLarge { .. })
        ));
    }
}
