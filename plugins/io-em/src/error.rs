//! Error types. Every variant names the file it is about.

use std::path::PathBuf;

use crate::SourceFormat;

/// Why [`crate::read_em`] (or [`crate::read_labels_u32`]) could not produce a raster.
///
/// Every message starts with the path of the file, then says what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum EmReadError {
    /// The path does not exist.
    #[error("{}: file not found", path.display())]
    NotFound { path: PathBuf },

    /// The path exists but is not a regular file (a directory, for instance).
    #[error("{}: not a regular file", path.display())]
    NotAFile { path: PathBuf },

    /// Opening or reading the file failed for a reason other than truncation.
    #[error("{}: cannot read file: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The bytes are not a TIFF or PNG (sniffed from the magic bytes, not the extension).
    #[error("{}: not a supported image: {detail}; supported formats are TIFF and PNG", path.display())]
    UnsupportedFormat { path: PathBuf, detail: String },

    /// The samples are of a type this reader does not convert (e.g. 1-bit, 12-bit, complex).
    #[error("{}: unsupported sample type in {format} image: {detail}", path.display())]
    UnsupportedSampleType {
        path: PathBuf,
        format: SourceFormat,
        detail: String,
    },

    /// The channel layout is not grayscale, gray+alpha, RGB or RGBA (e.g. TIFF palette, CMYK,
    /// YCbCr, CIE Lab, multi-channel stacks stored as samples).
    #[error("{}: unsupported color layout in {format} image: {detail}", path.display())]
    UnsupportedColor {
        path: PathBuf,
        format: SourceFormat,
        detail: String,
    },

    /// A feature of the file that the decoder does not implement (e.g. an exotic compression).
    #[error("{}: unsupported {format} feature: {detail}", path.display())]
    UnsupportedFeature {
        path: PathBuf,
        format: SourceFormat,
        detail: String,
    },

    /// The file is truncated or its structure is invalid.
    #[error("{}: corrupt or truncated {format} file: {detail}", path.display())]
    Corrupt {
        path: PathBuf,
        format: SourceFormat,
        detail: String,
    },

    /// Width or height is zero.
    #[error("{}: image has zero size ({width} x {height} pixels)", path.display())]
    ZeroSize {
        path: PathBuf,
        width: u64,
        height: u64,
    },

    /// The requested page does not exist.
    #[error(
        "{}: page {page} is out of range: the file has {n_pages} page(s) (valid pages: 0..={last})",
        path.display(),
        last = n_pages.saturating_sub(1)
    )]
    PageOutOfRange {
        path: PathBuf,
        page: usize,
        n_pages: usize,
    },

    /// The image exceeds [`crate::MAX_SIDE_PX`], [`crate::MAX_PIXELS`] or
    /// [`crate::MAX_DECODED_BYTES`]; refused before allocating.
    #[error("{}: image too large ({width} x {height} pixels): {detail}", path.display())]
    TooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        detail: String,
    },

    /// Pixel width and height differ; the pipeline needs square pixels.
    #[error(
        "{}: anisotropic pixels (x = {x_nm} nm, y = {y_nm} nm, from {origin}); the pipeline needs square pixels",
        path.display()
    )]
    AnisotropicPixels {
        path: PathBuf,
        x_nm: f64,
        y_nm: f64,
        origin: String,
    },

    /// [`crate::read_labels_u32`] was given an image that is not unsigned-integer grayscale.
    #[error("{}: not a label image: {detail}", path.display())]
    NotALabelImage { path: PathBuf, detail: String },
}

impl EmReadError {
    /// The file this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            EmReadError::NotFound { path }
            | EmReadError::NotAFile { path }
            | EmReadError::Io { path, .. }
            | EmReadError::UnsupportedFormat { path, .. }
            | EmReadError::UnsupportedSampleType { path, .. }
            | EmReadError::UnsupportedColor { path, .. }
            | EmReadError::UnsupportedFeature { path, .. }
            | EmReadError::Corrupt { path, .. }
            | EmReadError::ZeroSize { path, .. }
            | EmReadError::PageOutOfRange { path, .. }
            | EmReadError::TooLarge { path, .. }
            | EmReadError::AnisotropicPixels { path, .. }
            | EmReadError::NotALabelImage { path, .. } => path,
        }
    }
}

/// Why a `write_tiff_*` call failed. The destination file is left untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum EmWriteError {
    /// Creating, writing, syncing or renaming the file failed.
    #[error("{}: cannot write file: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The array has a zero-length axis.
    #[error("{}: refusing to write an empty image ({height} x {width} pixels)", path.display())]
    EmptyImage {
        path: PathBuf,
        height: usize,
        width: usize,
    },

    /// A side is longer than a TIFF can describe (`u32::MAX`).
    #[error("{}: image too large for TIFF ({height} x {width} pixels)", path.display())]
    TooLarge {
        path: PathBuf,
        height: usize,
        width: usize,
    },

    /// The pixel size is not a finite, positive number.
    #[error("{}: invalid pixel size {value} nm: must be finite and > 0", path.display())]
    InvalidPixelSize { path: PathBuf, value: f64 },

    /// The TIFF encoder failed.
    #[error("{}: TIFF encoding failed: {detail}", path.display())]
    Encode { path: PathBuf, detail: String },
}

impl EmWriteError {
    /// The file this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            EmWriteError::Io { path, .. }
            | EmWriteError::EmptyImage { path, .. }
            | EmWriteError::TooLarge { path, .. }
            | EmWriteError::InvalidPixelSize { path, .. }
            | EmWriteError::Encode { path, .. } => path,
        }
    }
}
