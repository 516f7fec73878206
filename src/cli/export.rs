//! `corrflow export snakemake PIPELINE --out DIR`: the pipeline's task graph as a Snakefile, so that
//! Snakemake's executors (SLURM, Kubernetes, cloud batch) run corrflow tasks on many machines.
//!
//! Every (node, sample) task becomes one job of a single generic rule. Its output is the task's
//! cache manifest, `CACHE/entries/<key[..2]>/<key>.json` (the commit point of an entry), and its
//! inputs are the manifests of the tasks it reads. The job runs
//! `corrflow run PIPELINE --target NODE:SAMPLE --no-deps` against the shared cache folder. Keys
//! are known before anything runs (they hash inputs, params, stage versions and upstream keys,
//! never outputs), so the whole DAG is written out up front; a second Snakemake invocation finds
//! every manifest and runs nothing. The cache needs no locks (atomic renames and manifests only),
//! so it is safe on NFS and other shared file systems where locks are unreliable.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use corrflow_stage::Registry;

use super::{CliError, PipelineArgs, context};

#[derive(Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub to: ExportTo,
}

#[derive(Subcommand)]
pub enum ExportTo {
    /// Write a Snakefile (one job per task, against the shared cache) and a SLURM profile example.
    Snakemake(SnakemakeArgs),
}

#[derive(Args)]
pub struct SnakemakeArgs {
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    /// Folder to write `Snakefile` and `profiles/slurm/config.yaml` into.
    #[arg(long)]
    pub out: PathBuf,
    /// The corrflow binary the jobs run (default: this one).
    #[arg(long)]
    pub corrflow: Option<PathBuf>,
    /// Write nothing: succeed if `OUT/Snakefile` is what this export would write (the pipeline,
    /// its samples, params and inputs are unchanged since), fail (exit 2) otherwise. The exported
    /// Snakefile runs this check when Snakemake starts.
    #[arg(long)]
    pub check: bool,
}

pub fn export(registry: &Registry, a: ExportArgs) -> Result<(), CliError> {
    match a.to {
        ExportTo::Snakemake(s) => snakemake(registry, s),
    }
}

/// Threads and memory (MB) hinted for a task of `stage`: inference and registration use more.
fn resources(stage: &str) -> (usize, u64) {
    match stage.split('.').next().unwrap_or("") {
        "segment" => (2, 4000),
        "register" | "quantify" | "filter" => (1, 3000),
        "report" | "stats" | "table" => (1, 2000),
        _ => (1, 2000),
    }
}

fn absolute(p: &Path) -> Result<PathBuf, CliError> {
    std::path::absolute(p).map_err(|e| CliError::Other(format!("{}: {e}", p.display())))
}

/// A Python string literal (JSON strings are valid Python string literals).
fn py(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "''".into())
}

fn snakemake(registry: &Registry, a: SnakemakeArgs) -> Result<(), CliError> {
    // The keys depend on the samples: like `corrflow run`, make an absent samples table first.
    let (l, _) = context::load_with(registry, &a.pipeline, true, &[])?;
    // What a task computes does not depend on the folder corrflow runs in (sample metadata is seen
    // as written in the table), so jobs name the pipeline by its absolute path and run anywhere.
    let pipeline = absolute(&a.pipeline.pipeline)?;
    let cache = absolute(&l.pipeline.cache_dir)?;
    let corrflow = match &a.corrflow {
        Some(p) => absolute(p)?,
        None => std::env::current_exe().map_err(|e| CliError::Other(e.to_string()))?,
    };
    let manifest = |key: &str| {
        cache
            .join("entries")
            .join(key.get(..2).unwrap_or("00"))
            .join(format!("{key}.json"))
    };
    let mut tasks = String::new();
    for (t, task) in l.plan.tasks.iter().enumerate() {
        let node = &l.graph.nodes[task.node];
        let (threads, mem_mb) = resources(node.stage.id());
        let deps: Vec<String> = task
            .deps
            .iter()
            .map(|&d| py(&manifest(&l.plan.tasks[d].key).display().to_string()))
            .collect();
        let _ = writeln!(
            tasks,
            "    {}: {{\"target\": {}, \"deps\": [{}], \"threads\": {threads}, \"mem_mb\": {mem_mb}}},  # {}",
            py(&task.key),
            py(&format!("{}:{}", node.id(), task.sample_id)),
            deps.join(", "),
            l.plan.label(&l.graph, t)
        );
    }
    let sets: Vec<String> = a
        .pipeline
        .sets
        .iter()
        .flat_map(|s| ["--set".to_string(), s.clone()])
        .map(|s| py(&s))
        .collect();
    let text = format!(
        r#"# Snakefile written by `corrflow export snakemake` (corrflow {version}) for
# {pipeline_path}: {n} tasks. Regenerate it when the pipeline, its params or its samples change
# (task keys change with them).
#
# Each job runs one corrflow task against the shared cache folder; its output is the task's cache
# manifest (the entry's commit point) and its inputs are the manifests of the tasks it reads. A
# second invocation finds every manifest and runs nothing. The cache takes no locks (atomic renames
# and manifests only), so it may live on NFS.
#
#   snakemake --cores 8                                  # on this machine
#   snakemake --profile profiles/slurm                   # on SLURM (snakemake-executor-plugin-slurm)

import shlex
import subprocess

CORRFLOW = {corrflow}
PIPELINE = {pipeline}
CACHE = {cache}
SETS = [{sets}]

# When Snakemake starts (not in each job), check that this file still matches the pipeline: after
# an edit of the pipeline, its params, its samples or its input files the task keys change, and
# this file would wait for the old keys' results. `--config corrflow_check=0` skips the check.
if getattr(workflow, "is_main_process", True) and str(config.get("corrflow_check", 1)) != "0":
    _check = subprocess.run(
        [CORRFLOW, "export", "snakemake", PIPELINE, *SETS, "--corrflow", CORRFLOW]
        + ["--out", workflow.basedir, "--check"],
        capture_output=True,
        text=True,
    )
    if _check.returncode != 0:
        raise WorkflowError(_check.stderr.strip() or _check.stdout.strip())

# key -> task: corrflow target NODE:SAMPLE, the manifests it reads, resource hints.
TASKS = {{
{tasks}}}


def manifest(key):
    return f"{{CACHE}}/entries/{{key[:2]}}/{{key}}.json"


rule all:
    input:
        [manifest(k) for k in TASKS],


rule task:
    output:
        CACHE + "/entries/{{shard}}/{{key}}.json",
    input:
        lambda wc: TASKS[wc.key]["deps"],
    params:
        cmd=lambda wc: " ".join(
            shlex.quote(a)
            for a in [CORRFLOW, "run", PIPELINE, *SETS]
            + ["--target", TASKS[wc.key]["target"], "--no-deps", "--expect-key", wc.key]
            + ["-j", "1", "-q"]
        ),
    threads: lambda wc: TASKS[wc.key]["threads"]
    resources:
        mem_mb=lambda wc: TASKS[wc.key]["mem_mb"],
    shell:
        "{{params.cmd}}"
"#,
        version = env!("CARGO_PKG_VERSION"),
        pipeline_path = pipeline.display(),
        n = l.plan.tasks.len(),
        corrflow = py(&corrflow.display().to_string()),
        pipeline = py(&pipeline.display().to_string()),
        cache = py(&cache.display().to_string()),
        sets = sets.join(", "),
    );
    let profile = r#"# Snakemake profile for the SLURM executor plugin (pip install snakemake-executor-plugin-slurm).
# Use: snakemake --profile profiles/slurm
executor: slurm
jobs: 100                      # jobs queued at once
latency-wait: 60               # seconds to wait for outputs to appear on a shared file system
retries: 1
# Where sacct does not work (no slurmdbd), ask squeue instead; the plugin honours it only when
# slurm.conf has MinJobAge >= 120 (s). Logs of failed jobs: .snakemake/slurm_logs/rule_task/.
# slurm-status-command: squeue
default-resources:
  slurm_partition: "normal"    # your partition
  slurm_account: "mylab"       # your account
  runtime: 30                  # minutes per job
  mem_mb: 2000
"#;
    let out = &a.out;
    let snakefile = out.join("Snakefile");
    if a.check {
        let current = std::fs::read_to_string(&snakefile).unwrap_or_default();
        if current == text {
            return Ok(());
        }
        return Err(CliError::Other(format!(
            "{} is out of date: {} (or its samples, params or input files) changed since it was \
             exported, so its task keys changed; run `corrflow export snakemake {} --out {}` again",
            snakefile.display(),
            pipeline.display(),
            pipeline.display(),
            out.display()
        )));
    }
    let write = |rel: &str, text: &str| -> Result<(), CliError> {
        let p = out.join(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d)
                .map_err(|e| CliError::Other(format!("{}: {e}", d.display())))?;
        }
        std::fs::write(&p, text).map_err(|e| CliError::Other(format!("{}: {e}", p.display())))
    };
    write("Snakefile", &text)?;
    // The profile is the user's to edit (partition, account, run time): never overwritten.
    let profile_path = out.join("profiles/slurm/config.yaml");
    let kept = profile_path.exists();
    if !kept {
        write("profiles/slurm/config.yaml", profile)?;
    }
    println!(
        "wrote {} ({} tasks); {} {}",
        snakefile.display(),
        l.plan.tasks.len(),
        if kept { "kept" } else { "wrote" },
        profile_path.display()
    );
    Ok(())
}
