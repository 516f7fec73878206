//! The errors of this crate. Every variant names the file it is about.

use std::path::PathBuf;

/// Why an evaluation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid JSON.
    #[error("{}: not valid JSON: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A CSV table could not be read.
    #[error("{}: {source}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    /// The contents of a file do not have the expected form.
    #[error("{}: {msg}", path.display())]
    Invalid { path: PathBuf, msg: String },
    /// A label image could not be read (the message names the file).
    #[error(transparent)]
    Labels(#[from] corrflow_io_em::EmReadError),
    /// A class table could not be read (the message names the file).
    #[error(transparent)]
    ClassTable(#[from] corrflow_dataset::DatasetError),
    /// Predictions refer to images the truth does not have.
    #[error(
        "{}: {count} prediction(s) for image(s) not in the truth: {names} (skip them with --ignore-unknown)",
        path.display()
    )]
    UnknownImages {
        path: PathBuf,
        count: usize,
        names: String,
    },
    /// Predictions refer to categories the truth does not have.
    #[error(
        "{}: {count} prediction(s) of categories not in the truth: {names} (truth categories: {known}; skip them with --ignore-unknown)",
        path.display()
    )]
    UnknownCategories {
        path: PathBuf,
        count: usize,
        names: String,
        known: String,
    },
    /// The evaluation parameters cannot be used.
    #[error("invalid evaluation parameters: {0}")]
    Params(String),
}

impl EvalError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        EvalError::Invalid {
            path: path.into(),
            msg: msg.into(),
        }
    }
}
