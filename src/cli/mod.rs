//! The command line: one module per subcommand, errors rendered as diagnostics.

mod context;
mod export;
mod gc;
mod init;
mod inspect;
mod inspect_graph;
mod run;
mod stages;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use corrflow_stage::Registry;

use crate::diagnostic::{Diagnostics, render};

/// Declarative, cached, swappable pipelines for correlative EM and NanoSIMS imaging.
#[derive(Parser)]
#[command(name = "corrflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: execute what is not cached, export results.
    Run(run::RunArgs),
    /// Show each task as fresh, stale or missing, with the reasons.
    Status(status::StatusArgs),
    /// Explain one node: its stage, params, inputs, and each task's key and state.
    Explain(status::ExplainArgs),
    /// Print the pipeline graph as Graphviz DOT or Mermaid.
    Dag(inspect_graph::DagArgs),
    /// Check a pipeline file (syntax, stages, params, wiring, cycles, sample files) without running.
    Validate(inspect_graph::ValidateArgs),
    /// Print the JSON Schema of pipeline files (for editor completion and checks).
    Schema(stages::SchemaArgs),
    /// List the stage implementations, or show one with its params and ports.
    Stages(stages::StagesArgs),
    /// Remove cache entries that no pipeline refers to any more.
    Gc(gc::GcArgs),
    /// Hand the task graph to another workflow engine (Snakemake: SLURM, Kubernetes, cloud batch).
    Export(export::ExportArgs),
    /// Create a new experiment folder: a commented pipeline file and a samples table.
    Init(init::InitArgs),
    /// Describe a data file: a NanoSIMS .im file's header, masses and counts; an EM image's size and pixel size.
    Inspect(inspect::InspectArgs),
}

/// The pipeline file and `--set` overrides, shared by the commands that read a pipeline.
#[derive(Args, Clone)]
pub struct PipelineArgs {
    /// The pipeline file (YAML).
    pub pipeline: PathBuf,
    /// Override a parameter: NODE.PARAM=VALUE (VALUE is YAML; PARAM may be a.b or a[0].b).
    #[arg(long = "set", value_name = "NODE.PARAM=VALUE")]
    pub sets: Vec<String>,
}

/// What a command failed with.
pub enum CliError {
    /// Problems with the user's files, with locations.
    Diagnostics(Diagnostics),
    /// The run went wrong (tasks failed): already reported.
    RunFailed,
    Other(String),
}

impl From<Diagnostics> for CliError {
    fn from(d: Diagnostics) -> Self {
        CliError::Diagnostics(d)
    }
}

impl From<crate::diagnostic::Diag> for CliError {
    fn from(d: crate::diagnostic::Diag) -> Self {
        CliError::Diagnostics(d.into())
    }
}

/// Run the CLI with the given stage registry.
pub fn main_with(registry: Registry) -> ExitCode {
    // Long messages stay on one line: logs and `grep` see whole diagnostics.
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    // The engine's subcommands, plus those the plugins contribute.
    let mut app = Cli::command();
    for c in registry.commands() {
        app = app.subcommand(c.command());
    }
    let matches = app.get_matches();
    if let Some((name, sub)) = matches.subcommand()
        && let Some(c) = registry.commands().find(|c| c.command().get_name() == name)
    {
        return match c.run(sub, &registry) {
            Ok(()) => ExitCode::SUCCESS,
            Err(msg) => {
                eprintln!("error: {msg}");
                ExitCode::from(2)
            }
        };
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Run(a) => run::run(&registry, a),
        Command::Status(a) => status::status(&registry, a),
        Command::Explain(a) => status::explain(&registry, a),
        Command::Dag(a) => inspect_graph::dag(&registry, a),
        Command::Validate(a) => inspect_graph::validate(&registry, a),
        Command::Schema(a) => stages::schema(&registry, a),
        Command::Stages(a) => stages::stages(&registry, a),
        Command::Gc(a) => gc::gc(a),
        Command::Export(a) => export::export(&registry, a),
        Command::Init(a) => init::init(&registry, a),
        Command::Inspect(a) => inspect::inspect(&registry, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Diagnostics(d)) => {
            for diag in &d.0 {
                eprintln!("{:?}", render(diag));
            }
            if d.0.len() > 1 {
                eprintln!("{} problems found", d.0.len());
            }
            ExitCode::from(2)
        }
        Err(CliError::RunFailed) => ExitCode::from(1),
        Err(CliError::Other(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}
