//! Ports: the typed, named inputs and outputs of a stage.

use serde::Serialize;

/// The port types the engine itself understands. Every other port type is an opaque name that the
/// engine only compares for equality when it wires nodes together (the microscopy data types are
/// defined by the `corrflow-types` crate).
pub mod port_types {
    /// A file on disk, taken from a samples-table column; hashed by content for the cache key.
    pub const FILE: &str = "file";
    /// A text value, taken from a samples-table metadata column (e.g. `condition`).
    pub const TEXT: &str = "text";
}

/// Whether a node runs once per sample or once over all samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One task per sample (readers, preprocessing, segmentation…).
    PerSample,
    /// One task over every sample; each input holds one value per sample (statistics, reports).
    Aggregate,
}

/// One named, typed port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub doc: String,
    /// An optional input may be left unwired.
    pub optional: bool,
}

impl PortSpec {
    pub fn new(name: impl Into<String>, ty: impl Into<String>, doc: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ty: ty.into(),
            doc: doc.into(),
            optional: false,
        }
    }

    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

/// The inputs and outputs of a stage (they may depend on its parameters, as for `exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ports {
    pub inputs: Vec<PortSpec>,
    pub outputs: Vec<PortSpec>,
}

impl Ports {
    pub fn input(&self, name: &str) -> Option<&PortSpec> {
        self.inputs.iter().find(|p| p.name == name)
    }

    pub fn output(&self, name: &str) -> Option<&PortSpec> {
        self.outputs.iter().find(|p| p.name == name)
    }
}
