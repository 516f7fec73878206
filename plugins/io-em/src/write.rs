//! Single-page grayscale TIFF export, scaled the way ImageJ/Fiji and tifffile read it, written
//! atomically (temporary file in the same directory, then rename).

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ndarray::Array2;
use tiff::TiffError;
use tiff::encoder::colortype::{Gray8, Gray16, Gray32, Gray32Float};
use tiff::encoder::{Compression, DeflateLevel, Rational, TiffEncoder, TiffKind};
use tiff::tags::{ResolutionUnit, Tag};

use crate::meta::{positive, rational_approx};
use crate::{EmWriteError, SampleKind};

/// Files whose pixel data exceed this many bytes are written as BigTIFF (a classic TIFF cannot
/// address more than 4 GiB). Note that plain ImageJ cannot open BigTIFF; Fiji (Bio-Formats),
/// tifffile/napari and this crate can.
const BIGTIFF_THRESHOLD_BYTES: u64 = 0xF000_0000;

/// The version string written into the ImageJ description (the one tifffile writes).
const IMAGEJ_VERSION: &str = "1.11a";

/// Compression of written TIFFs. All three are read by ImageJ/Fiji, tifffile and this crate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TiffCompression {
    /// No compression (fastest; the default).
    #[default]
    None,
    /// LZW, no predictor.
    Lzw,
    /// Deflate (zlib, "Adobe deflate", compression 8), balanced level, no predictor.
    Deflate,
}

/// Options for [`write_tiff`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TiffWriteOptions {
    /// Square pixel size in nanometres; `None` writes an uncalibrated image.
    pub pixel_size_nm: Option<f64>,
    pub compression: TiffCompression,
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for f32 {}
}

/// Tags written besides the image structure.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub struct ExtraTags {
    description: String,
    resolution: Option<(u32, u32)>,
}

/// Sample types [`write_tiff`] can store: `u8`, `u16`, `u32` (unsigned gray) and `f32`
/// (IEEE float gray). Sealed.
pub trait TiffSample: sealed::Sealed + Copy {
    /// The sample type as this crate names it.
    const KIND: SampleKind;

    #[doc(hidden)]
    fn write_image<W: Write + Seek, K: TiffKind>(
        encoder: &mut TiffEncoder<W, K>,
        width: u32,
        height: u32,
        data: &[Self],
        tags: &ExtraTags,
    ) -> Result<(), TiffError>;
}

macro_rules! impl_tiff_sample {
    ($t:ty, $color:ty, $kind:expr) => {
        impl TiffSample for $t {
            const KIND: SampleKind = $kind;

            fn write_image<W: Write + Seek, K: TiffKind>(
                encoder: &mut TiffEncoder<W, K>,
                width: u32,
                height: u32,
                data: &[Self],
                tags: &ExtraTags,
            ) -> Result<(), TiffError> {
                let mut image = encoder.new_image::<$color>(width, height)?;
                let dir = image.encoder();
                dir.write_tag(Tag::ImageDescription, tags.description.as_str())?;
                dir.write_tag(Tag::Software, "corrflow-io-em")?;
                if let Some((n, d)) = tags.resolution {
                    dir.write_tag(Tag::XResolution, Rational { n, d })?;
                    dir.write_tag(Tag::YResolution, Rational { n, d })?;
                    dir.write_tag(Tag::ResolutionUnit, ResolutionUnit::None.to_u16())?;
                }
                image.write_data(data)
            }
        }
    };
}

impl_tiff_sample!(u8, Gray8, SampleKind::U8);
impl_tiff_sample!(u16, Gray16, SampleKind::U16);
impl_tiff_sample!(u32, Gray32, SampleKind::U32);
impl_tiff_sample!(f32, Gray32Float, SampleKind::F32);

/// [`write_tiff`] without compression: the typed `write_tiff_*` functions below.
fn write_uncompressed<T: TiffSample>(
    path: &Path,
    data: &Array2<T>,
    pixel_size_nm: Option<f64>,
) -> Result<(), EmWriteError> {
    write_tiff(
        path,
        data,
        &TiffWriteOptions {
            pixel_size_nm,
            ..Default::default()
        },
    )
}

/// Write a 32-bit float grayscale TIFF (uncompressed). See [`write_tiff`].
pub fn write_tiff_f32(
    path: &Path,
    data: &Array2<f32>,
    pixel_size_nm: Option<f64>,
) -> Result<(), EmWriteError> {
    write_uncompressed(path, data, pixel_size_nm)
}

/// Write a 16-bit unsigned grayscale TIFF (uncompressed). See [`write_tiff`].
pub fn write_tiff_u16(
    path: &Path,
    data: &Array2<u16>,
    pixel_size_nm: Option<f64>,
) -> Result<(), EmWriteError> {
    write_uncompressed(path, data, pixel_size_nm)
}

/// Write a 32-bit unsigned grayscale TIFF (uncompressed), e.g. an instance-label image.
/// Read it back exactly with [`crate::read_labels_u32`]. See [`write_tiff`].
pub fn write_tiff_u32(
    path: &Path,
    data: &Array2<u32>,
    pixel_size_nm: Option<f64>,
) -> Result<(), EmWriteError> {
    write_uncompressed(path, data, pixel_size_nm)
}

/// Write an 8-bit unsigned grayscale TIFF (uncompressed). See [`write_tiff`].
pub fn write_tiff_u8(
    path: &Path,
    data: &Array2<u8>,
    pixel_size_nm: Option<f64>,
) -> Result<(), EmWriteError> {
    write_uncompressed(path, data, pixel_size_nm)
}

/// Write `data` (shape `(height, width)`, row 0 at the top) as a single-page grayscale TIFF.
///
/// The scale is stored the way ImageJ/Fiji reads it: `ImageDescription` =
/// `"ImageJ=1.11a\nunit=nm\n"` (or `unit=micron` for pixel sizes of 1000 nm and more),
/// XResolution = YResolution = pixels per unit as the closest 32-bit rational, ResolutionUnit =
/// none. Without a pixel size the description is `"ImageJ=1.11a\n"` and the resolution tags
/// are 1/1 with unit none. Files whose data exceed ~3.75 GiB are written as BigTIFF.
///
/// The file is written to a temporary file in the same directory, flushed to disk and renamed
/// over `path`; on error the temporary file is removed and `path` is untouched.
pub fn write_tiff<T: TiffSample>(
    path: &Path,
    data: &Array2<T>,
    options: &TiffWriteOptions,
) -> Result<(), EmWriteError> {
    let (height, width) = data.dim();
    if height == 0 || width == 0 {
        return Err(EmWriteError::EmptyImage {
            path: path.to_path_buf(),
            height,
            width,
        });
    }
    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
        return Err(EmWriteError::TooLarge {
            path: path.to_path_buf(),
            height,
            width,
        });
    };
    let tags = match options.pixel_size_nm {
        None => ExtraTags {
            description: format!("ImageJ={IMAGEJ_VERSION}\n"),
            resolution: None,
        },
        Some(px) => {
            let Some(px) = positive(px) else {
                return Err(EmWriteError::InvalidPixelSize {
                    path: path.to_path_buf(),
                    value: px,
                });
            };
            let (unit, per_unit) = if px < 1000.0 {
                ("nm", 1.0 / px)
            } else {
                ("micron", 1000.0 / px)
            };
            ExtraTags {
                description: format!("ImageJ={IMAGEJ_VERSION}\nunit={unit}\n"),
                resolution: Some(rational_approx(per_unit)),
            }
        }
    };
    let compression = match options.compression {
        TiffCompression::None => Compression::Uncompressed,
        TiffCompression::Lzw => Compression::Lzw,
        TiffCompression::Deflate => Compression::Deflate(DeflateLevel::Balanced),
    };
    let samples: Cow<'_, [T]> = match data.as_slice() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(data.iter().copied().collect()),
    };
    let bytes = (width as u64) * (height as u64) * u64::from(T::KIND.bits() / 8);
    let encode_err = |e: TiffError| match e {
        TiffError::IoError(io) => EmWriteError::Io {
            path: path.to_path_buf(),
            source: io,
        },
        other => EmWriteError::Encode {
            path: path.to_path_buf(),
            detail: other.to_string(),
        },
    };

    atomic_write(path, |file| {
        let mut out = BufWriter::new(file);
        if bytes > BIGTIFF_THRESHOLD_BYTES {
            let mut enc = TiffEncoder::new_big(&mut out)
                .map_err(encode_err)?
                .with_compression(compression);
            T::write_image(&mut enc, w, h, &samples, &tags).map_err(encode_err)?;
        } else {
            let mut enc = TiffEncoder::new(&mut out)
                .map_err(encode_err)?
                .with_compression(compression);
            T::write_image(&mut enc, w, h, &samples, &tags).map_err(encode_err)?;
        }
        out.flush().map_err(|e| EmWriteError::Io {
            path: path.to_path_buf(),
            source: e,
        })
    })
}

/// Removes the temporary file unless disarmed.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Write through `fill` into a fresh temporary file next to `path`, sync it, and rename it
/// over `path`.
fn atomic_write(
    path: &Path,
    fill: impl FnOnce(&mut File) -> Result<(), EmWriteError>,
) -> Result<(), EmWriteError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io_err = |e: std::io::Error| EmWriteError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let Some(name) = path.file_name() else {
        return Err(io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )));
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io_err)?;
    let mut guard = TempGuard(Some(tmp.clone()));
    fill(&mut file)?;
    file.sync_all().map_err(io_err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(io_err)?;
    guard.0 = None;
    remove_stale_temps(dir, &name.to_string_lossy());
    Ok(())
}

/// Remove temporary files of earlier writes of the same target whose writer process is gone (a
/// process killed between writing and renaming leaves one behind). Temp files of live processes
/// (a concurrent write) are left alone.
fn remove_stale_temps(dir: &Path, name: &str) {
    let prefix = format!(".{name}.");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file_name = e.file_name();
        let Some(rest) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|r| r.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
            continue;
        };
        if pid != std::process::id() as i32 && !process_alive(pid) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn process_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks whether the process exists; it sends nothing.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}
