//! Errors of the `.im` reader and writer. Every variant names the file it is about.

/// What can go wrong when reading or writing a Cameca `.im` file.
///
/// Every variant carries the file name (as given to [`crate::ImFile::open`] /
/// [`crate::ImFile::from_bytes`], or the path written to) and says what is wrong, with byte
/// offsets where they help.
#[derive(Debug, thiserror::Error)]
pub enum ImError {
    /// The file could not be read or written.
    #[error("{file}: {action}: {source}")]
    Io {
        file: String,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },

    /// The file ends before a header structure that must be there.
    #[error(
        "{file}: truncated header: {what} at offset {offset} needs {needed} bytes, \
         but the {scope} has only {available}"
    )]
    Truncated {
        file: String,
        what: String,
        offset: u64,
        needed: u64,
        available: u64,
        scope: &'static str,
    },

    /// The file type at offset 4 is not a known Cameca type in either byte order.
    #[error(
        "{file}: not a Cameca .im file (or an unknown file type): the file type field at \
         offset 4 reads {little} little-endian and {big} big-endian, and neither is a known \
         Cameca file type (0..=41)"
    )]
    UnknownByteOrder { file: String, little: i32, big: i32 },

    /// A known Cameca file that is not an image (depth profile, spot, beam stability…), or an
    /// unknown type number.
    #[error(
        "{file}: unsupported file type {file_type} ({description}); only image types 27, 29, 39 and 41 are read"
    )]
    UnsupportedFileType {
        file: String,
        file_type: i32,
        description: String,
    },

    /// A header field holds an impossible value.
    #[error("{file}: invalid header: {reason}")]
    InvalidHeader { file: String, reason: String },

    /// A header field claims a size beyond the reader's limits; refused before allocating.
    #[error("{file}: refused: {what} exceeds the limit of {limit}")]
    LimitExceeded {
        file: String,
        what: String,
        limit: String,
    },

    /// The file has a header but no pixel data (grain mode, line scan, aborted before the
    /// first plane, …).
    #[error("{file}: no image data: {reason}")]
    NoImageData { file: String, reason: String },

    /// A mass or plane index beyond the file's range.
    #[error("{file}: {what} index {index} is out of range (the file has {len})")]
    OutOfRange {
        file: String,
        what: &'static str,
        index: usize,
        len: usize,
    },

    /// A compressed container could not be unpacked.
    #[error("{file}: cannot unpack {format}: {reason}")]
    Decompress {
        file: String,
        format: &'static str,
        reason: String,
    },

    /// The writer was given data or metadata that cannot be stored in an `.im` file.
    #[error("{file}: cannot write: {reason}")]
    InvalidWrite { file: String, reason: String },
}

impl ImError {
    pub(crate) fn io(file: &str, action: &'static str, source: std::io::Error) -> Self {
        ImError::Io {
            file: file.to_string(),
            action,
            source,
        }
    }

    pub(crate) fn invalid(file: &str, reason: impl Into<String>) -> Self {
        ImError::InvalidHeader {
            file: file.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn write(file: &str, reason: impl Into<String>) -> Self {
        ImError::InvalidWrite {
            file: file.to_string(),
            reason: reason.into(),
        }
    }
}
