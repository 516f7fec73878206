//! `corrflow status` and `corrflow explain`.

use clap::Args;
use corrflow_stage::Registry;
use serde::Serialize;

use super::context::{load, node_index};
use super::{CliError, PipelineArgs};
use crate::exec::{State, status::status as task_status};
use crate::graph::Wire;

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub p: PipelineArgs,
    /// Print a JSON array of {node, sample, state, reasons}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct JsonRow<'a> {
    node: &'a str,
    sample: &'a str,
    state: State,
    reasons: &'a [String],
}

pub fn status(registry: &Registry, a: StatusArgs) -> Result<(), CliError> {
    let l = load(registry, &a.p)?;
    let st = task_status(&l.graph, &l.plan, &l.store, &l.pipeline.name);
    if a.json {
        let rows: Vec<JsonRow> = st
            .iter()
            .map(|s| JsonRow {
                node: &s.node,
                sample: &s.sample,
                state: s.state,
                reasons: &s.reasons,
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(());
    }
    let wn = st.iter().map(|s| s.node.len()).max().unwrap_or(4).max(4);
    let ws = st.iter().map(|s| s.sample.len()).max().unwrap_or(6).max(6);
    println!("{:wn$}  {:ws$}  {:7}  REASONS", "NODE", "SAMPLE", "STATE");
    for s in &st {
        let state = match s.state {
            State::Fresh => "fresh",
            State::Stale => "stale",
            State::Missing => "missing",
        };
        println!(
            "{:wn$}  {:ws$}  {state:7}  {}",
            s.node,
            s.sample,
            s.reasons.join("; ")
        );
    }
    let count = |x: State| st.iter().filter(|s| s.state == x).count();
    println!(
        "{} fresh, {} stale, {} missing",
        count(State::Fresh),
        count(State::Stale),
        count(State::Missing)
    );
    Ok(())
}

#[derive(Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub p: PipelineArgs,
    /// The node to explain.
    pub node: String,
}

pub fn explain(registry: &Registry, a: ExplainArgs) -> Result<(), CliError> {
    let l = load(registry, &a.p)?;
    let ni = node_index(&l, &a.node)?;
    let n = &l.graph.nodes[ni];
    println!("node {} — defined at {}", n.id(), n.def.id_loc);
    println!(
        "stage {} version {} ({:?}), chosen at {}",
        n.stage.id(),
        n.stage.version(),
        n.scope(),
        n.def.stage_loc
    );
    println!("  {}", n.stage.doc());
    println!("params (canonical, defaults filled in; these enter the cache key):");
    let params = serde_json::to_string_pretty(&n.params).unwrap_or_default();
    for line in params.lines() {
        println!("  {line}");
    }
    println!("inputs:");
    for (port, w) in &n.wires {
        match w {
            Wire::Node { node, port: out } => {
                println!("  {port} ← {}.{out}", l.graph.nodes[*node].id())
            }
            Wire::File { path, written } => {
                println!(
                    "  {port} ← file:{written} ({}, hashed by content)",
                    path.display()
                )
            }
            Wire::Column { column, is_file } => {
                println!(
                    "  {port} ← sample.{column} ({})",
                    if *is_file {
                        "file, hashed by content"
                    } else {
                        "text"
                    }
                )
            }
        }
    }
    println!(
        "outputs: {}",
        n.ports
            .outputs
            .iter()
            .map(|p| format!("{} ({})", p.name, p.ty))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let st = task_status(&l.graph, &l.plan, &l.store, &l.pipeline.name);
    println!("tasks:");
    for t in l.plan.tasks_of(ni) {
        let s = &st[t];
        let state = format!("{:?}", s.state).to_lowercase();
        println!("  {}  key {}  {state}", s.sample, &s.key[..16]);
        for r in &s.reasons {
            println!("      because {r}");
        }
        if let Some(m) = l.store.lookup(&s.key) {
            println!(
                "      entry {} ({} bytes, computed in {:.2} s)",
                l.store.data_path(&m).display(),
                m.size,
                m.duration_s
            );
        }
    }
    Ok(())
}
