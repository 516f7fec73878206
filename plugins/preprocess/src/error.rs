//! Typed errors of the preprocessing functions.

use thiserror::Error;

/// Everything that can go wrong in this crate. No function of the crate panics on
/// bad input; it returns one of these instead.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum PreprocessError {
    /// The image has zero rows or zero columns.
    #[error("image is empty ({height}x{width} px)")]
    EmptyImage {
        /// Number of rows (px).
        height: usize,
        /// Number of columns (px).
        width: usize,
    },

    /// A pixel size (nm/px) is NaN, infinite, zero or negative.
    #[error("pixel size `{name}` must be finite and > 0 nm/px, got {value}")]
    InvalidPixelSize {
        /// Which pixel size (e.g. `from_nm`).
        name: &'static str,
        /// The offending value (nm/px).
        value: f64,
    },

    /// A numeric parameter is outside its valid domain (e.g. sigma <= 0,
    /// percentile outside 0..=100, low >= high, even median size).
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name as it appears in the function signature.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What the valid domain is.
        reason: String,
    },

    /// A kernel / window / output would exceed the crate's size limits
    /// (these exist so that absurd parameters give an error instead of
    /// exhausting memory or running for days).
    #[error("`{name}` = {value} exceeds the allowed maximum of {max}")]
    TooLarge {
        /// What is too large (e.g. `median size`, `gaussian radius`).
        name: &'static str,
        /// Requested value.
        value: u64,
        /// Largest allowed value.
        max: u64,
    },

    /// The operation does not accept NaN or infinite pixels.
    #[error("{op} does not accept non-finite (NaN or infinite) pixels")]
    NonFinitePixels {
        /// The operation that refused the image.
        op: &'static str,
    },

    /// The image has no finite pixel at all, so a statistic (percentile,
    /// min/max, mean) cannot be computed.
    #[error("{op}: image has no finite pixel")]
    NoFinitePixels {
        /// The operation that needed a finite statistic.
        op: &'static str,
    },

    /// CLAHE (like scikit-image) needs float images within [-1, 1].
    #[error(
        "CLAHE needs pixel values in [-1, 1] (normalise first, e.g. with percentile_normalize); got range [{min}, {max}]"
    )]
    ValueOutOfRange {
        /// Smallest pixel value.
        min: f32,
        /// Largest pixel value.
        max: f32,
    },

    /// Background division is undefined because the smoothed background has
    /// a pixel <= 0.
    #[error(
        "background (gaussian-smoothed image) has values <= 0 (min {min}); divide mode needs a strictly positive background, use subtract mode or offset the image"
    )]
    NonPositiveBackground {
        /// Smallest background value.
        min: f32,
    },

    /// An error raised by one step of [`crate::apply_steps`].
    #[error("step {index} ({op}): {source}")]
    Step {
        /// Zero-based index of the step in the list.
        index: usize,
        /// The step's `op` tag (e.g. `gaussian`).
        op: &'static str,
        /// The underlying error.
        #[source]
        source: Box<PreprocessError>,
    },
}

impl PreprocessError {
    pub(crate) fn param(
        name: &'static str,
        value: impl std::fmt::Display,
        reason: impl Into<String>,
    ) -> Self {
        PreprocessError::InvalidParameter {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }
}
