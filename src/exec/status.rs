//! Fresh / stale / missing per task, and why.

use serde::Serialize;

use crate::cache::key::json_diff;
use crate::cache::{InputId, Recipe, Store};
use crate::exec::Plan;
use crate::graph::Graph;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// A committed entry exists for the current key.
    Fresh,
    /// The task ran before, with a different recipe.
    Stale,
    /// No result: never run, or its entry is gone.
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct TaskStatus {
    pub node: String,
    pub sample: String,
    pub state: State,
    pub reasons: Vec<String>,
    pub key: String,
}

/// The status of every task of the plan.
pub fn status(g: &Graph, plan: &Plan, store: &Store, pipeline: &str) -> Vec<TaskStatus> {
    plan.tasks
        .iter()
        .map(|t| {
            let node = g.nodes[t.node].id().to_string();
            let (state, reasons) = if store.lookup(&t.key).is_some() {
                (State::Fresh, Vec::new())
            } else {
                match store.read_ref(pipeline, &node, &t.sample_id) {
                    None => (State::Missing, vec!["never run".to_string()]),
                    Some(r) if r.key == t.key => (State::Missing, vec!["its cache entry was removed".to_string()]),
                    Some(r) => match store.lookup(&r.key) {
                        Some(prev) => (State::Stale, reasons(&prev.recipe, &t.recipe, &prev.sources, &t.sources)),
                        None => (State::Stale, vec!["inputs or parameters changed (the previous entry is no longer cached)".into()]),
                    },
                }
            };
            TaskStatus { node, sample: t.sample_id.clone(), state, reasons, key: t.key.clone() }
        })
        .collect()
}

fn show(v: &Option<serde_json::Value>) -> String {
    v.as_ref().map_or("(unset)".into(), |v| v.to_string())
}

/// Why `new` differs from `old`, in words.
pub fn reasons(
    old: &Recipe,
    new: &Recipe,
    old_sources: &std::collections::BTreeMap<String, Vec<String>>,
    new_sources: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = Vec::new();
    if old.stage != new.stage {
        out.push(format!("stage changed from {} to {}", old.stage, new.stage));
    } else if old.version != new.version {
        out.push(format!(
            "stage version changed from {} to {}",
            old.version, new.version
        ));
    }
    for (path, a, b) in json_diff(&old.params, &new.params) {
        out.push(format!(
            "param {path} changed from {} to {}",
            show(&a),
            show(&b)
        ));
    }
    let ports: std::collections::BTreeSet<&String> =
        old.inputs.keys().chain(new.inputs.keys()).collect();
    for port in ports {
        match (old.inputs.get(port), new.inputs.get(port)) {
            (None, Some(_)) => out.push(format!("input '{port}' was added")),
            (Some(_), None) => out.push(format!("input '{port}' was removed")),
            (Some(a), Some(b)) if a != b => out.push(input_reason(
                port,
                a,
                b,
                new_sources.get(port).or(old_sources.get(port)),
            )),
            _ => {}
        }
    }
    if old.samples != new.samples {
        out.push(samples_reason(old.samples.as_ref(), new.samples.as_ref()));
    }
    if out.is_empty() {
        out.push("recipe changed".into());
    }
    out
}

/// Why the sample metadata of a task differs: the columns that changed for a per-sample task (one
/// row), "the samples table changed" for an aggregate task.
fn samples_reason(old: Option<&serde_json::Value>, new: Option<&serde_json::Value>) -> String {
    let one_row = |v: Option<&serde_json::Value>| match v.and_then(|v| v.as_array()) {
        Some(rows) if rows.len() == 1 => rows.first().and_then(|r| r.get("columns")).cloned(),
        _ => None,
    };
    match (one_row(old), one_row(new)) {
        (Some(a), Some(b)) => {
            let changes: Vec<String> = json_diff(&a, &b)
                .into_iter()
                .map(|(path, x, y)| {
                    format!("column '{path}' changed from {} to {}", show(&x), show(&y))
                })
                .collect();
            format!(
                "the sample's row in the samples table changed: {}",
                changes.join(", ")
            )
        }
        _ => "the samples table changed".into(),
    }
}

fn input_reason(port: &str, a: &InputId, b: &InputId, paths: Option<&Vec<String>>) -> String {
    match (a, b) {
        (InputId::File { .. }, InputId::File { .. }) => {
            let p = paths
                .and_then(|p| p.first())
                .map_or(String::new(), |p| format!(" ({p})"));
            format!("input file '{port}' changed{p}")
        }
        (InputId::Text { value: x }, InputId::Text { value: y }) => {
            format!("input '{port}' changed from {x:?} to {y:?}")
        }
        (InputId::Entry { node: n1, .. }, InputId::Entry { node: n2, .. }) if n1 == n2 => {
            format!("upstream '{n2}' changed")
        }
        (InputId::Entry { node: n1, .. }, InputId::Entry { node: n2, .. }) => {
            format!("input '{port}' now comes from '{n2}' instead of '{n1}'")
        }
        (InputId::PerSample { items: x }, InputId::PerSample { items: y }) => {
            let changed: Vec<&str> = y
                .iter()
                .filter(|(s, id)| !x.iter().any(|(s2, id2)| s2 == s && id2 == id))
                .map(|(s, _)| s.as_str())
                .collect();
            let what = match y.iter().find_map(|(_, id)| match id {
                InputId::Entry { node, .. } => Some(format!("upstream '{node}'")),
                _ => None,
            }) {
                Some(w) => w,
                None => format!("input '{port}'"),
            };
            if changed.is_empty() {
                format!("{what}: samples were removed")
            } else {
                format!(
                    "{what} changed for {} sample(s): {}",
                    changed.len(),
                    changed.join(", ")
                )
            }
        }
        _ => format!("input '{port}' changed kind"),
    }
}
