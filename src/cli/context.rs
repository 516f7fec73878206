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
    load_with(registry, args, false)
}

/// [`load`]; with `make_samples`, first run the pipeline's `samples.make` command when its
/// samples table is absent (`corrflow run` does).
pub fn load_with(
    registry: &Registry,
    args: &PipelineArgs,
    make_samples: bool,
) -> Result<Loaded, CliError> {
    let pipeline = spec::load(&args.pipeline, &args.sets)?;
    if make_samples {
        samples::make_if_absent(&pipeline)?;
    }
    let samples = samples::load(&pipeline)?;
    let graph = graph::build(&pipeline, registry, &samples)?;
    let store = Store::new(&pipeline.cache_dir);
    let memo = HashMemo::load(store.memo_path());
    let plan = plan::build(&graph, samples, &memo)?;
    if let Err(e) = memo.save() {
        eprintln!("warning: could not save the file-hash memo: {e}");
    }
    Ok(Loaded {
        pipeline,
        graph,
        plan,
        store,
    })
}

/// A node index by id, or a helpful error.
pub fn node_index(l: &Loaded, id: &str) -> Result<usize, CliError> {
    l.graph.index(id).ok_or_else(|| {
        let ids: Vec<&str> = l.graph.nodes.iter().map(|n| n.id()).collect();
        CliError::Other(format!(
            "no node '{id}' in {} (nodes: {})",
            l.pipeline.file.display(),
            ids.join(", ")
        ))
    })
}
