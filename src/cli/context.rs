//! Loading a pipeline for a command: spec, samples, graph, plan, cache.

use corrflow_stage::Registry;

use super::{CliError, PipelineArgs};
use crate::cache::Store;
use crate::cache::filehash::HashMemo;
use crate::exec::{Plan, plan};
use crate::graph::{self, Graph};
use crate::samples;
use crate::spec::{self, Pipeline};

pub struct Loaded {
    pub pipeline: Pipeline,
    pub graph: Graph,
    pub plan: Plan,
    pub store: Store,
}

/// Load and validate everything; every problem is reported with its location.
pub fn load(registry: &Registry, args: &PipelineArgs) -> Result<Loaded, CliError> {
    load_with(registry, args, false, &[]).map(|(l, _)| l)
}

/// [`load`]; with `make_samples`, first run the pipeline's `samples.make` command when its
/// samples table is absent (`corrflow run` does). With `targets` (`NODE` or `NODE:SAMPLE`), only
/// those tasks and what they need are planned, and their task indices are returned too.
pub fn load_with(
    registry: &Registry,
    args: &PipelineArgs,
    make_samples: bool,
    targets: &[String],
) -> Result<(Loaded, Option<Vec<usize>>), CliError> {
    let pipeline = spec::load(&args.pipeline, &args.sets)?;
    if make_samples {
        samples::make_if_absent(&pipeline)?;
    }
    let samples = samples::load(&pipeline)?;
    let graph = graph::build(&pipeline, registry, &samples)?;
    let wanted = resolve_targets(&graph, &pipeline, &samples, targets)?;
    let only = (!targets.is_empty()).then(|| plan::needed(&graph, samples.rows.len(), &wanted));
    let store = Store::new(&pipeline.cache_dir);
    let memo = HashMemo::load(store.memo_path());
    let plan = plan::build(&graph, samples, &memo, only.as_ref())?;
    if let Err(e) = memo.save() {
        eprintln!("warning: could not save the file-hash memo: {e}");
    }
    let target_tasks = (!targets.is_empty()).then(|| {
        wanted
            .iter()
            .filter_map(|&(ni, si)| plan.task(ni, si))
            .collect()
    });
    Ok((
        Loaded {
            pipeline,
            graph,
            plan,
            store,
        },
        target_tasks,
    ))
}

/// `NODE` (every task of the node) or `NODE:SAMPLE` as tasks, or a helpful error.
fn resolve_targets(
    g: &Graph,
    p: &Pipeline,
    samples: &samples::Samples,
    specs: &[String],
) -> Result<Vec<plan::TaskId>, CliError> {
    let mut out = Vec::new();
    for spec in specs {
        let (node, sample) = match spec.split_once(':') {
            Some((n, s)) => (n, Some(s)),
            None => (spec.as_str(), None),
        };
        let ni = node_in(g, p, node)?;
        let aggregate = g.nodes[ni].scope() == corrflow_stage::Scope::Aggregate;
        let position = |id: &str| samples.rows.iter().position(|r| r.id == id);
        match (aggregate, sample) {
            (true, None) => out.push((ni, None)),
            (true, Some(s)) if s == plan::ALL_SAMPLES => out.push((ni, None)),
            (false, None) => out.extend((0..samples.rows.len()).map(|s| (ni, Some(s)))),
            (false, Some(s)) if position(s).is_some() => out.push((ni, position(s))),
            _ => {
                return Err(CliError::Other(format!(
                    "--target {spec}: no such task (is the sample id right?)"
                )));
            }
        }
    }
    Ok(out)
}

/// A node index by id, or a helpful error.
pub fn node_index(l: &Loaded, id: &str) -> Result<usize, CliError> {
    node_in(&l.graph, &l.pipeline, id)
}

fn node_in(g: &Graph, p: &Pipeline, id: &str) -> Result<usize, CliError> {
    g.index(id).ok_or_else(|| {
        let ids: Vec<&str> = g.nodes.iter().map(|n| n.id()).collect();
        CliError::Other(format!(
            "no node '{id}' in {} (nodes: {})",
            p.file.display(),
            ids.join(", ")
        ))
    })
}
