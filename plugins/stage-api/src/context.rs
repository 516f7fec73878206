//! What a stage sees while it runs: its inputs, its output entry and the sample.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::StageError;
use crate::hdf5::{File, Group};

/// A sample: its id and its metadata columns, exactly as written in the samples table (a file
/// column holds the path as written, relative to the table's folder; a stage reads the file itself
/// through an input port, never through this path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SampleInfo {
    pub id: String,
    pub columns: BTreeMap<String, String>,
}

/// What an input port is bound to for one task.
#[derive(Debug, Clone, PartialEq)]
pub enum InputBinding {
    /// A plain file (port type `file`).
    File(PathBuf),
    /// A text value (port type `text`).
    Text(String),
    /// One output group of a committed cache entry.
    Entry { file: PathBuf, group: String },
    /// For aggregate nodes: one binding per sample, in samples-table order.
    PerSample(Vec<(String, InputBinding)>),
}

/// The context of one task (one node × one sample, or one node over all samples).
pub struct RunContext<'a> {
    pub node: &'a str,
    /// The sample of a per-sample task; `None` for an aggregate task.
    pub sample: Option<&'a SampleInfo>,
    /// For an aggregate task, every sample of the pipeline in table order; for a per-sample task,
    /// only its own sample. Metadata columns are empty unless the stage reads them
    /// ([`crate::Stage::reads_sample_metadata`]), which puts them in the cache key.
    pub samples: &'a [SampleInfo],
    pub inputs: &'a BTreeMap<String, InputBinding>,
    /// Where the entry file is being written (a temporary path until the engine commits it).
    output_path: &'a Path,
    output: std::cell::OnceCell<File>,
    /// Threads this task may use.
    pub threads: usize,
    /// The folder of the pipeline file (working directory for external programs).
    pub workdir: PathBuf,
    /// For aggregate tasks run by the engine: the nodes upstream of this one.
    pub lineage: Option<&'a crate::Lineage>,
    warnings: Vec<String>,
}

impl<'a> RunContext<'a> {
    pub fn new(
        node: &'a str,
        sample: Option<&'a SampleInfo>,
        samples: &'a [SampleInfo],
        inputs: &'a BTreeMap<String, InputBinding>,
        output_path: &'a Path,
        threads: usize,
    ) -> Self {
        Self {
            node,
            sample,
            samples,
            inputs,
            output_path,
            output: std::cell::OnceCell::new(),
            threads,
            workdir: PathBuf::from("."),
            lineage: None,
            warnings: Vec::new(),
        }
    }

    /// The path of the entry file. A stage that runs another program may let that program write
    /// the whole file here (with one group per output port) instead of calling [`Self::output_group`].
    pub fn output_path(&self) -> &'a Path {
        self.output_path
    }

    /// The entry file, created on first use.
    pub fn output_file(&self) -> Result<&File, StageError> {
        if let Some(f) = self.output.get() {
            return Ok(f);
        }
        let f = crate::h5::create_file(self.output_path)?;
        Ok(self.output.get_or_init(|| f))
    }

    /// Close the entry file if this context created it (the engine calls this after `run`).
    pub fn close_output(&mut self) -> Result<(), StageError> {
        if let Some(f) = self.output.take() {
            f.close()?;
        }
        Ok(())
    }

    /// The id of the sample (per-sample tasks) or `"_all"` (aggregate tasks).
    pub fn sample_id(&self) -> &str {
        self.sample.map_or("_all", |s| s.id.as_str())
    }

    fn binding(&self, port: &str) -> Result<&'a InputBinding, StageError> {
        self.inputs
            .get(port)
            .ok_or_else(|| StageError::input(format!("input '{port}' is not wired")))
    }

    /// Whether an (optional) input is wired.
    pub fn has_input(&self, port: &str) -> bool {
        self.inputs.contains_key(port)
    }

    /// The path bound to a `file` input.
    pub fn input_file(&self, port: &str) -> Result<&'a Path, StageError> {
        match self.binding(port)? {
            InputBinding::File(p) => Ok(p),
            other => Err(StageError::input(format!(
                "input '{port}' is not a file: {other:?}"
            ))),
        }
    }

    /// The value bound to a `text` input.
    pub fn input_text(&self, port: &str) -> Result<&'a str, StageError> {
        match self.binding(port)? {
            InputBinding::Text(t) => Ok(t),
            other => Err(StageError::input(format!(
                "input '{port}' is not text: {other:?}"
            ))),
        }
    }

    /// The HDF5 group of an entry input (opened read-only).
    pub fn input_group(&self, port: &str) -> Result<Group, StageError> {
        open_binding(port, self.binding(port)?)
    }

    /// For aggregate tasks: `(sample id, group)` for every sample, in table order.
    pub fn input_groups(&self, port: &str) -> Result<Vec<(String, Group)>, StageError> {
        match self.binding(port)? {
            InputBinding::PerSample(list) => list
                .iter()
                .map(|(s, b)| Ok((s.clone(), open_binding(port, b)?)))
                .collect(),
            other => Ok(vec![(
                self.sample_id().to_string(),
                open_binding(port, other)?,
            )]),
        }
    }

    /// Create the group for an output port in the entry file.
    pub fn output_group(&self, port: &str) -> Result<Group, StageError> {
        Ok(self.output_file()?.create_group(port)?)
    }

    /// Record a warning; the engine shows it and keeps it in the entry's manifest.
    pub fn warn(&mut self, message: impl Into<String>) {
        self.warnings.push(message.into());
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

fn open_binding(port: &str, b: &InputBinding) -> Result<Group, StageError> {
    match b {
        InputBinding::Entry { file, group } => {
            let f = crate::h5::open_file(file)?;
            Ok(f.group(group)?)
        }
        other => Err(StageError::input(format!(
            "input '{port}' is not a data entry: {other:?}"
        ))),
    }
}

/// What a stage sees when it exports a committed entry to the results folder.
pub struct ExportContext<'a> {
    pub node: &'a str,
    pub sample: Option<&'a SampleInfo>,
    /// The committed entry (read-only).
    pub entry: &'a File,
    /// The folder to write into (`results/SAMPLE/` or `results/` for aggregate nodes); it exists.
    pub dir: &'a Path,
}

impl ExportContext<'_> {
    /// A path in the export folder named after the node: `dir/NODE.ext`. `ext` may come from data
    /// (a mass name read from a file): every character other than letters, digits, `.`, `-`, `_`
    /// and `+` becomes `_`, so that the path stays a plain file name inside `dir` (node ids are
    /// validated names already).
    pub fn path(&self, ext: &str) -> PathBuf {
        let safe: String = ext
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.join(format!("{}.{safe}", self.node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names from data cannot leave the export folder.
    #[test]
    fn export_paths_stay_in_their_folder() {
        let dir = tempfile::tempdir().unwrap();
        let entry = crate::h5::create_file(&dir.path().join("e.h5")).unwrap();
        let ctx = ExportContext {
            node: "ions",
            sample: None,
            entry: &entry,
            dir: dir.path(),
        };
        assert_eq!(ctx.path("12C14N.tif"), dir.path().join("ions.12C14N.tif"));
        for hostile in ["../../evil.tif", "/etc/passwd", "a\\b", "x\0y", "..", "../"] {
            let p = ctx.path(hostile);
            assert_eq!(
                p.parent(),
                Some(dir.path()),
                "{hostile:?} gave {}",
                p.display()
            );
            assert!(
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("ions.")
            );
        }
    }
}
