//! `corrflow dag` and `corrflow validate`.

use clap::{Args, ValueEnum};
use corrflow_stage::Registry;

use super::context::load;
use super::{CliError, PipelineArgs};
use crate::graph;

#[derive(Clone, Copy, ValueEnum)]
pub enum DagFormat {
    Dot,
    Mermaid,
}

#[derive(Args)]
pub struct DagArgs {
    #[command(flatten)]
    pub p: PipelineArgs,
    #[arg(long, value_enum, default_value = "dot")]
    pub format: DagFormat,
}

pub fn dag(registry: &Registry, a: DagArgs) -> Result<(), CliError> {
    let l = load(registry, &a.p)?;
    let text = match a.format {
        DagFormat::Dot => graph::to_dot(&l.graph),
        DagFormat::Mermaid => graph::to_mermaid(&l.graph),
    };
    print!("{text}");
    Ok(())
}

#[derive(Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub p: PipelineArgs,
}

pub fn validate(registry: &Registry, a: ValidateArgs) -> Result<(), CliError> {
    let l = load(registry, &a.p)?;
    println!(
        "{}: valid — {} node(s), {} sample(s), {} task(s)",
        a.p.pipeline.display(),
        l.graph.nodes.len(),
        l.plan.samples.rows.len(),
        l.plan.tasks.len()
    );
    Ok(())
}
