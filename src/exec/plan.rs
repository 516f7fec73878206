//! Tasks: one per (per-sample node × sample) and one per aggregate node, each with its recipe and
//! cache key, computed before anything runs (keys depend on upstream keys, not on outputs).

use std::collections::{BTreeMap, HashMap, HashSet};

use corrflow_stage::{SampleInfo, Scope};
use serde_json::Value;

use crate::cache::filehash::HashMemo;
use crate::cache::{InputId, Recipe};
use crate::diagnostic::{Diag, Diagnostics};
use crate::graph::{Graph, Wire};
use crate::samples::Samples;

/// The sample name of aggregate tasks (sample ids cannot start with `_`).
pub const ALL_SAMPLES: &str = "_all";

pub struct Task {
    pub node: usize,
    /// Index into the samples for per-sample tasks.
    pub sample: Option<usize>,
    pub sample_id: String,
    pub recipe: Recipe,
    pub key: String,
    /// File inputs' paths by port (for messages).
    pub sources: BTreeMap<String, Vec<String>>,
    /// Tasks this one reads from.
    pub deps: Vec<usize>,
}

pub struct Plan {
    pub tasks: Vec<Task>,
    pub samples: Samples,
    /// Every sample with its metadata columns, as written in the table.
    pub infos: Vec<SampleInfo>,
    /// Every sample with its id only: what a stage that does not declare
    /// `reads_sample_metadata` sees, so that no task depends on metadata its key lacks.
    ids_only: Vec<SampleInfo>,
    by_node_sample: HashMap<(usize, Option<usize>), usize>,
}

impl Plan {
    pub fn task(&self, node: usize, sample: Option<usize>) -> Option<usize> {
        self.by_node_sample.get(&(node, sample)).copied()
    }

    pub fn tasks_of(&self, node: usize) -> impl Iterator<Item = usize> + '_ {
        self.tasks
            .iter()
            .enumerate()
            .filter(move |(_, t)| t.node == node)
            .map(|(i, _)| i)
    }

    /// The sample task `t` sees, and the samples it sees: an aggregate task sees every sample with
    /// its metadata (the whole table is in its key); a per-sample task sees only its own sample,
    /// with its metadata only when its stage reads it (its row is then in its key).
    pub fn sample_view(&self, g: &Graph, t: usize) -> (Option<&SampleInfo>, &[SampleInfo]) {
        let task = &self.tasks[t];
        match task.sample {
            None => (None, &self.infos),
            Some(s) => {
                let view = if g.nodes[task.node].stage.reads_sample_metadata() {
                    &self.infos[s..=s]
                } else {
                    &self.ids_only[s..=s]
                };
                (view.first(), view)
            }
        }
    }

    /// `node/sample`, for messages.
    pub fn label(&self, g: &Graph, t: usize) -> String {
        let task = &self.tasks[t];
        format!("{}/{}", g.nodes[task.node].id(), task.sample_id)
    }
}

/// A task's place in the graph: (node, sample index; `None` for an aggregate node).
pub type TaskId = (usize, Option<usize>);

/// The tasks that `targets` need, themselves included: their upstream tasks, transitively. A
/// per-sample task needs its own sample's upstream tasks; an aggregate task needs every sample's.
pub fn needed(g: &Graph, n_samples: usize, targets: &[TaskId]) -> HashSet<TaskId> {
    let mut seen: HashSet<TaskId> = HashSet::new();
    let mut stack = targets.to_vec();
    while let Some((ni, si)) = stack.pop() {
        if !seen.insert((ni, si)) {
            continue;
        }
        for wire in g.nodes[ni].wires.values() {
            let Wire::Node { node: up, .. } = wire else {
                continue;
            };
            match (g.nodes[*up].scope(), si) {
                (Scope::Aggregate, _) => stack.push((*up, None)),
                (Scope::PerSample, Some(s)) => stack.push((*up, Some(s))),
                (Scope::PerSample, None) => stack.extend((0..n_samples).map(|s| (*up, Some(s)))),
            }
        }
    }
    seen
}

/// Build every task, or with `only` just those tasks (which must include everything they need,
/// see [`needed`]): a job that runs one task of a 10,000-sample pipeline then neither hashes the
/// other samples' files nor computes their keys. Fails (with the samples table row) if an input
/// file of a planned task is missing.
pub fn build(
    g: &Graph,
    samples: Samples,
    memo: &HashMemo,
    only: Option<&HashSet<TaskId>>,
) -> Result<Plan, Diagnostics> {
    let infos = samples.infos();
    let mut tasks: Vec<Task> = Vec::new();
    let mut by: HashMap<(usize, Option<usize>), usize> = HashMap::new();
    let mut diags = Diagnostics::default();
    let n_samples = samples.rows.len();
    for &ni in &g.order {
        let node = &g.nodes[ni];
        let instances: Vec<Option<usize>> = match node.scope() {
            Scope::PerSample => (0..n_samples).map(Some).collect(),
            Scope::Aggregate => vec![None],
        };
        for si in instances {
            if only.is_some_and(|o| !o.contains(&(ni, si))) {
                continue;
            }
            let mut inputs = BTreeMap::new();
            let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut deps = Vec::new();
            let mut ok = true;
            for (port, wire) in &node.wires {
                // One sample's identity for this input, recording dependencies and file paths.
                let mut one = |s: Option<usize>| -> Option<InputId> {
                    match wire {
                        Wire::Column { column, is_file } => {
                            let row = &samples.rows[s?];
                            let value = row.columns.get(column).cloned().unwrap_or_default();
                            if !*is_file {
                                return Some(InputId::Text { value });
                            }
                            let path = samples.base.join(&value);
                            match memo.hash(&path) {
                                Ok(hash) => {
                                    sources
                                        .entry(port.clone())
                                        .or_default()
                                        .push(path.display().to_string());
                                    Some(InputId::File { hash })
                                }
                                Err(e) => {
                                    let what = if value.is_empty() {
                                        "is empty".to_string()
                                    } else {
                                        format!("{}: {e}", path.display())
                                    };
                                    diags.push(Diag::at(
                                        &row.loc,
                                        format!(
                                            "sample '{}', column '{column}': file {what}",
                                            row.id
                                        ),
                                    ));
                                    None
                                }
                            }
                        }
                        Wire::File { path, .. } => match memo.hash(path) {
                            Ok(hash) => {
                                sources
                                    .entry(port.clone())
                                    .or_default()
                                    .push(path.display().to_string());
                                Some(InputId::File { hash })
                            }
                            Err(e) => {
                                diags.push(Diag::at(
                                    &node.def.inputs[port.as_str()].value_loc,
                                    format!("file {}: {e}", path.display()),
                                ));
                                None
                            }
                        },
                        Wire::Node {
                            node: up,
                            port: out,
                        } => {
                            let up_si = if g.nodes[*up].scope() == Scope::Aggregate {
                                None
                            } else {
                                s
                            };
                            let &ti = by.get(&(*up, up_si))?;
                            deps.push(ti);
                            let t = &tasks[ti];
                            Some(InputId::Entry {
                                node: g.nodes[*up].id().to_string(),
                                port: out.clone(),
                                sample: t.sample_id.clone(),
                                key: t.key.clone(),
                            })
                        }
                    }
                };
                let upstream_is_aggregate = matches!(wire, Wire::Node { node: up, .. } if g.nodes[*up].scope() == Scope::Aggregate);
                let id = match si {
                    Some(s) => one(Some(s)),
                    None if upstream_is_aggregate => one(None),
                    None => (0..n_samples)
                        .map(|s| one(Some(s)).map(|id| (samples.rows[s].id.clone(), id)))
                        .collect::<Option<Vec<_>>>()
                        .map(|items| InputId::PerSample { items }),
                };
                match id {
                    Some(id) => {
                        inputs.insert(port.clone(), id);
                    }
                    None => ok = false,
                }
            }
            if !ok {
                continue;
            }
            deps.sort_unstable();
            deps.dedup();
            // The metadata the task sees (see `Plan::sample_view`) enters its key.
            let row_meta = |r: &crate::samples::SampleRow| serde_json::json!({"id": r.id, "columns": r.columns});
            let samples_meta = match si {
                None => Some(Value::Array(samples.rows.iter().map(row_meta).collect())),
                Some(s) if node.stage.reads_sample_metadata() => {
                    Some(Value::Array(vec![row_meta(&samples.rows[s])]))
                }
                Some(_) => None,
            };
            let recipe = Recipe {
                stage: node.stage.id().to_string(),
                version: node.stage.version().to_string(),
                params: node.params.clone(),
                inputs,
                samples: samples_meta,
            };
            let key = recipe.key();
            let sample_id = si.map_or(ALL_SAMPLES.to_string(), |s| samples.rows[s].id.clone());
            by.insert((ni, si), tasks.len());
            tasks.push(Task {
                node: ni,
                sample: si,
                sample_id,
                recipe,
                key,
                sources,
                deps,
            });
        }
    }
    diags.into_result()?;
    let ids_only = infos
        .iter()
        .map(|i| SampleInfo {
            id: i.id.clone(),
            columns: BTreeMap::new(),
        })
        .collect();
    Ok(Plan {
        tasks,
        samples,
        infos,
        ids_only,
        by_node_sample: by,
    })
}
