//! Errors a stage reports to the engine.

use std::path::PathBuf;

/// A parameter that does not fit the stage's parameter type. `path` is the location inside the
/// node's `params` mapping (e.g. `steps[1].sigma_nm`; empty for the mapping itself) so that the
/// engine can point at the exact line and column of the pipeline file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if path.is_empty() { String::new() } else { format!("params.{path}: ") })]
pub struct ParamError {
    pub path: String,
    pub message: String,
}

impl ParamError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// What can go wrong while a stage runs.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The input data are not usable (wrong shape, unreadable file…); the message names what.
    #[error("{0}")]
    Input(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// An HDF5 call failed.
    #[error("HDF5: {0}")]
    Hdf5(#[from] hdf5_metno::Error),
    /// The parameters are valid by type but not for these data.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// Anything else, with a message that says what.
    #[error("{0}")]
    Other(String),
}

impl StageError {
    pub fn input(msg: impl Into<String>) -> Self {
        Self::Input(msg.into())
    }

    pub fn other(msg: impl Into<String>) -> Self {
        Self::Other(msg.into())
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
