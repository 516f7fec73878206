//! Running one stage once outside the engine, exactly as the engine does (canonical params, a
//! run context, the output closed) — for stage tests and one-shot tools.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{InputBinding, RunContext, SampleInfo, Stage};

/// Run `stage` for sample `sample_id` with `params` (defaults filled in as the engine does),
/// writing its entry to `out` (replaced if present). Returns the task's warnings, or the error
/// message (a parameter error or the stage's).
pub fn run_once(
    stage: &dyn Stage,
    params: &serde_json::Value,
    node: &str,
    sample_id: &str,
    inputs: &BTreeMap<String, InputBinding>,
    out: &Path,
) -> Result<Vec<String>, String> {
    let params = stage.canonical_params(params).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(out);
    let sample = SampleInfo {
        id: sample_id.into(),
        columns: BTreeMap::new(),
    };
    let samples = [sample.clone()];
    let mut ctx = RunContext::new(node, Some(&sample), &samples, inputs, out, 1);
    let r = stage.run(&params, &mut ctx);
    let closed = ctx.close_output();
    r.map_err(|e| e.to_string())?;
    closed.map_err(|e| e.to_string())?;
    Ok(ctx.take_warnings())
}
