//! What an aggregate task is computed from: the nodes upstream of it, with their stages,
//! parameters, wiring and cache keys — for reports and provenance records.
//!
//! Every field here is already part of the task's cache key (through its inputs' keys), so a
//! result that shows its lineage is never stale.

use serde::Serialize;

use crate::Scope;

/// The upstream part of the pipeline of one task.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Lineage {
    /// The pipeline's name.
    pub pipeline: String,
    /// The nodes the task depends on (directly or not), in dependency order, then the task's own
    /// node last.
    pub nodes: Vec<LineageNode>,
}

/// One upstream node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineageNode {
    pub id: String,
    /// Stage id and version.
    pub stage: String,
    pub stage_version: String,
    pub scope: Scope,
    /// The node's parameters, defaults filled in.
    pub params: serde_json::Value,
    /// `(port, source)`: `node.port`, `sample.COLUMN` or `file:PATH`.
    pub inputs: Vec<(String, String)>,
    /// `(sample id, cache key)` of the node's tasks (`_all` for an aggregate node).
    pub tasks: Vec<(String, String)>,
}
