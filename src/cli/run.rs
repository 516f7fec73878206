//! `corrflow run`.

use clap::Args;
use corrflow_stage::Registry;

use super::context::{load_with, node_index};
use super::{CliError, PipelineArgs};
use crate::exec::{self, RunOptions, State};

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub p: PipelineArgs,
    /// Tasks to run at once (default: the number of cores).
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
    /// Show what would run and why, without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Rerun this node's tasks even if cached (repeatable).
    #[arg(long, value_name = "NODE")]
    pub force: Vec<String>,
    /// Run only NODE (all samples) or NODE:SAMPLE, plus what it needs (repeatable).
    #[arg(long, value_name = "NODE[:SAMPLE]")]
    pub target: Vec<String>,
    /// With --target: run only the target tasks; their inputs must already be cached.
    /// This is how an external scheduler runs one task against a shared cache folder.
    #[arg(long, requires = "target")]
    pub no_deps: bool,
    /// With one --target task: fail (exit 2) unless its cache key is KEY. Exported Snakefiles pass
    /// it, so that a job of a Snakefile older than the pipeline says so instead of committing an
    /// entry under another key than the one Snakemake waits for.
    #[arg(long, value_name = "KEY", requires = "target")]
    pub expect_key: Option<String>,
    /// Keep running independent tasks after a task fails.
    #[arg(short = 'k', long)]
    pub keep_going: bool,
    /// Do not write human-readable exports into the results folder.
    #[arg(long)]
    pub no_export: bool,
    /// No progress output (errors and warnings are still shown).
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(registry: &Registry, a: RunArgs) -> Result<(), CliError> {
    let (l, targets) = load_with(registry, &a.p, !a.dry_run, &a.target)?;
    if let Some(expected) = &a.expect_key {
        check_expected_key(&l, targets.as_deref().unwrap_or_default(), expected)?;
    }
    let mut force = Vec::new();
    for f in &a.force {
        force.push(node_index(&l, f)?);
    }
    let opts = RunOptions {
        jobs: a
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        force,
        targets,
        no_deps: a.no_deps,
        keep_going: a.keep_going,
        no_export: a.no_export,
        quiet: a.quiet,
        workdir: std::path::absolute(
            l.pipeline
                .file
                .parent()
                .unwrap_or(std::path::Path::new(".")),
        )
        .unwrap_or_else(|_| ".".into()),
    };
    if a.dry_run {
        return dry_run(&l, &opts);
    }
    let start = std::time::Instant::now();
    let summary = exec::run(
        &l.graph,
        &l.plan,
        &l.store,
        &l.pipeline.name,
        l.pipeline.results_dir.clone(),
        &opts,
    );
    let secs = start.elapsed().as_secs_f64();
    if !a.quiet || !summary.ok() {
        eprintln!(
            "{} task(s) ran, {} cached, {} failed, {} not run in {secs:.2} s; results in {}",
            summary.ran,
            summary.cached,
            summary.failed.len(),
            summary.skipped,
            l.pipeline.results_dir.display()
        );
    }
    if summary.ok() {
        Ok(())
    } else {
        Err(CliError::RunFailed)
    }
}

/// The one target task must have the key `expected`.
fn check_expected_key(
    l: &super::context::Loaded,
    targets: &[usize],
    expected: &str,
) -> Result<(), CliError> {
    let [t] = targets else {
        return Err(CliError::Other(format!(
            "--expect-key needs exactly one target task, not {}",
            targets.len()
        )));
    };
    let task = &l.plan.tasks[*t];
    if task.key == expected {
        return Ok(());
    }
    Err(CliError::Other(format!(
        "task {} has key {} but {} was expected: {} (its samples, params or input files, or the \
         stages of this corrflow) changed after the workflow was exported; run \
         `corrflow export snakemake` again",
        l.plan.label(&l.graph, *t),
        task.key,
        expected,
        l.pipeline.file.display()
    )))
}

fn dry_run(l: &super::context::Loaded, opts: &RunOptions) -> Result<(), CliError> {
    let selected = exec::run::select(&l.plan, opts);
    let st = exec::status::status(&l.graph, &l.plan, &l.store, &l.pipeline.name);
    let mut would = 0;
    for t in selected {
        let s = &st[t];
        let forced = opts.force.contains(&l.plan.tasks[t].node);
        if s.state == State::Fresh && !forced {
            println!("cached      {}/{}", s.node, s.sample);
        } else {
            would += 1;
            let why = if forced && s.state == State::Fresh {
                "forced".to_string()
            } else {
                s.reasons.join("; ")
            };
            println!("would run   {}/{}: {why}", s.node, s.sample);
        }
    }
    println!("{would} task(s) would run");
    Ok(())
}
