//! The pipeline file format, as serde types. The JSON Schema in `schemas/` is generated from these
//! (see `crate::schema`), so their doc comments are what editors show.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A corrflow pipeline: where the samples are, and the nodes that process them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "corrflow pipeline")]
pub struct PipelineFile {
    /// Name of the pipeline (default: the file name without extension). Cache references are kept
    /// per name, so two pipelines may share one cache folder.
    pub name: Option<String>,
    /// Base pipeline file(s) that this file extends, relative to this file. Nodes with the same id
    /// are overridden: `stage` replaces the base's; `inputs` and `params` are merged key by key
    /// (lists are replaced); another `stage` starts from empty params and keeps only the base's
    /// inputs that it also has.
    pub include: Option<Includes>,
    /// Cache folder, relative to this file (default: the included pipeline's, so that a variant
    /// reuses its base's results; without includes `.corrflow/cache` next to this file).
    pub cache: Option<String>,
    /// Folder for human-readable exports, relative to this file (default: the included
    /// pipeline's; without includes `results` next to this file).
    pub results: Option<String>,
    /// Where the samples come from.
    pub samples: Option<SamplesSpec>,
    /// The processing nodes. Order does not matter: the graph follows the inputs.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
}

/// One include or several.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Includes {
    One(String),
    Many(Vec<String>),
}

impl Includes {
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Includes::One(s) => vec![s],
            Includes::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
}

/// The samples: a CSV table with one row per sample, or a glob of files (one sample per file).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SamplesSpec {
    /// CSV file (relative to this pipeline file): a header row, an id column, file columns (paths
    /// relative to the CSV file's own folder, or absolute) and metadata columns such as
    /// `condition`.
    pub table: Option<String>,
    /// Glob pattern (relative to this pipeline file); each match is one sample whose id is the file
    /// name without extension.
    pub glob: Option<String>,
    /// The id column of the table (default `id`).
    #[serde(default = "default_id_column")]
    pub id_column: String,
    /// For `glob`: the column name under which each matched path is offered (default `file`).
    #[serde(default = "default_glob_column")]
    pub column: String,
    /// For `table`: a command that creates the table (and its files) when it does not exist, run
    /// by `corrflow run` before anything else: program and arguments, without a shell, in this
    /// pipeline file's folder. `corrflow` as the program is this corrflow. E.g.
    /// `[corrflow, synth, --out, data, --samples, "20"]` for a synthetic study.
    #[serde(default)]
    pub make: Option<Vec<String>>,
}

fn default_id_column() -> String {
    "id".into()
}

fn default_glob_column() -> String {
    "file".into()
}

/// One node: a stage implementation, its inputs and its parameters.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique id ([A-Za-z0-9_-], starting with a letter); other nodes refer to `ID.OUTPUT`.
    pub id: String,
    /// The stage implementation, e.g. `io.em` or `preprocess.em` (`corrflow stages` lists them).
    /// Naming another implementation here is how a stage is swapped.
    pub stage: Option<String>,
    /// Input port → source: `NODE.OUTPUT` for another node's output, or `sample.COLUMN` for a column
    /// of the samples table (a file path or a metadata value), or `file:PATH` for one file shared
    /// by every sample, such as a model (relative to this pipeline file, hashed by content).
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Parameters of the stage (see the stage's schema).
    pub params: Option<Value>,
    /// Write this node's human-readable exports (TIFF, CSV, PNG…) into the results folder
    /// (default `true`; stages without exports write nothing).
    pub export: Option<bool>,
}
