//! `exec` and `exec.aggregate`: run an external program, in any language, as a pipeline stage.
//!
//! Protocol (version 1). corrflow writes a JSON request file and runs
//! `PROGRAM ARGS... REQUEST.json` directly — no shell — in the pipeline file's folder, with the
//! request path also in `CORRFLOW_REQUEST`. The request holds (`sample.columns` are the sample's
//! row as written in the samples table; the row is part of a per-sample task's cache key):
//! ```json
//! { "protocol": 1, "node": "seg", "sample": {"id": "s1", "columns": {...}} | null,
//!   "params": { ...the node's `params.params`... },
//!   "inputs": { "PORT": {"type": "em_image", "file": "/abs/entry.h5", "group": "image"}
//!               | {"type": "file", "path": "/abs/x.tif"} | {"type": "text", "value": "ctrl"}
//!               | {"type": "...", "items": [{"sample": "s1", ...one of the above...}]} },
//!   "output": {"file": "/abs/tmp/out.h5", "groups": {"PORT": "TYPE"}} }
//! ```
//! The program writes `output.file` as an HDF5 file with one group per output port (h5py:
//! `with h5py.File(req["output"]["file"], "w") as f: g = f.create_group("result")`), and exits 0.
//! A line `corrflow:warning: TEXT` on its standard output becomes a warning of the task (at most
//! 100 per run, each cut at 4 KiB; bytes that are not UTF-8 show as U+FFFD). A non-zero exit fails
//! the task with the end of the program's standard error (its last 40 lines, from at most its last
//! 64 KiB). Everything else the program writes is read and dropped, in bounded memory (see
//! [`output`]). The declared `version` enters the cache key: bump it whenever the program's
//! results change.

pub mod output;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use corrflow_stage::{
    InputBinding, ParamError, Plugin, PortSpec, Ports, Registry, RunContext, Scope, StageError,
    TypedStage,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Parameters of an external-program stage.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecParams {
    /// The program: a path (relative to the pipeline file) or a name looked up on PATH.
    pub program: String,
    /// Arguments, one item per argument (no shell, no word splitting). The request file's path is
    /// appended as the last argument.
    #[serde(default)]
    pub args: Vec<String>,
    /// The program's version. It enters the cache key: bump it when the program's output changes.
    pub version: String,
    /// Input ports: name → type (`file`, `text`, `em_image`, …).
    #[serde(default)]
    pub inputs: BTreeMap<String, String>,
    /// Output ports: name → type. The program writes one HDF5 group per output.
    pub outputs: BTreeMap<String, String>,
    /// Free-form parameters handed to the program in the request.
    #[serde(default)]
    pub params: Value,
    /// Stop the program after this many seconds (default: no limit).
    pub timeout_s: Option<f64>,
    /// Extra environment variables for the program.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// The per-sample external-program stage.
pub struct Exec;
/// The aggregate external-program stage (inputs hold every sample).
pub struct ExecAggregate;

/// Registers `exec` and `exec.aggregate`.
pub struct ExecPlugin;

impl Plugin for ExecPlugin {
    fn build(&self, registry: &mut Registry) {
        registry.add_stage(Exec).add_stage(ExecAggregate);
    }
}

fn valid_port(name: &str) -> bool {
    let mut c = name.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic())
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn validate(p: &ExecParams) -> Result<(), ParamError> {
    if p.program.trim().is_empty() {
        return Err(ParamError::new("program", "must name a program"));
    }
    if p.version.trim().is_empty() {
        return Err(ParamError::new(
            "version",
            "must not be empty (it enters the cache key)",
        ));
    }
    if p.outputs.is_empty() {
        return Err(ParamError::new(
            "outputs",
            "declare at least one output port",
        ));
    }
    for (kind, map) in [("inputs", &p.inputs), ("outputs", &p.outputs)] {
        for (name, ty) in map {
            if !valid_port(name) {
                return Err(ParamError::new(
                    format!("{kind}.{name}"),
                    "port names use letters, digits and '_'",
                ));
            }
            if ty.trim().is_empty() {
                return Err(ParamError::new(format!("{kind}.{name}"), "needs a type"));
            }
        }
    }
    if p.timeout_s.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
        return Err(ParamError::new(
            "timeout_s",
            "must be a positive number of seconds",
        ));
    }
    Ok(())
}

fn ports(p: &ExecParams) -> Ports {
    Ports {
        inputs: p
            .inputs
            .iter()
            .map(|(n, t)| PortSpec::new(n, t, "declared in params.inputs"))
            .collect(),
        outputs: p
            .outputs
            .iter()
            .map(|(n, t)| PortSpec::new(n, t, "declared in params.outputs"))
            .collect(),
    }
}

const DOC: &str = "Run an external program (any language) as a stage. Inputs and outputs are HDF5 files, \
parameters JSON; the program gets a request file as its last argument (protocol in the corrflow-exec docs). \
No shell is involved. The declared version enters the cache key.";

impl TypedStage for Exec {
    type Params = ExecParams;
    const ID: &'static str = "exec";
    const VERSION: &'static str = "1";
    const DOC: &'static str = DOC;
    // The request hands the program its sample's row.
    const READS_SAMPLE_METADATA: bool = true;

    fn ports(&self, p: &ExecParams) -> Ports {
        ports(p)
    }
    fn validate(&self, p: &ExecParams) -> Result<(), ParamError> {
        validate(p)
    }
    fn run(&self, p: &ExecParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        run(p, ctx)
    }
}

impl TypedStage for ExecAggregate {
    type Params = ExecParams;
    const ID: &'static str = "exec.aggregate";
    const VERSION: &'static str = "1";
    const DOC: &'static str = DOC;
    const SCOPE: Scope = Scope::Aggregate;

    fn ports(&self, p: &ExecParams) -> Ports {
        ports(p)
    }
    fn validate(&self, p: &ExecParams) -> Result<(), ParamError> {
        validate(p)
    }
    fn run(&self, p: &ExecParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        run(p, ctx)
    }
}

fn binding_json(ty: &str, b: &InputBinding) -> Value {
    match b {
        InputBinding::File(p) => json!({"type": ty, "path": p}),
        InputBinding::Text(v) => json!({"type": ty, "value": v}),
        InputBinding::Entry { file, group } => json!({"type": ty, "file": file, "group": group}),
        InputBinding::PerSample(items) => {
            let items: Vec<Value> = items
                .iter()
                .map(|(s, b)| {
                    let mut v = binding_json(ty, b);
                    v["sample"] = json!(s);
                    v
                })
                .collect();
            json!({"type": ty, "items": items})
        }
    }
}

/// Build the request for this task.
pub fn request(p: &ExecParams, ctx: &RunContext<'_>) -> Value {
    let inputs: serde_json::Map<String, Value> = ctx
        .inputs
        .iter()
        .map(|(port, b)| {
            (
                port.clone(),
                binding_json(p.inputs.get(port).map_or("", String::as_str), b),
            )
        })
        .collect();
    json!({
        "protocol": 1,
        "node": ctx.node,
        "sample": ctx.sample,
        "params": p.params,
        "inputs": inputs,
        "output": {"file": ctx.output_path(), "groups": p.outputs},
    })
}

fn resolve_program(program: &str, workdir: &Path) -> PathBuf {
    if program.contains('/') {
        workdir.join(program)
    } else {
        PathBuf::from(program)
    }
}

fn run(p: &ExecParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
    let dir = tempfile::tempdir().map_err(|e| StageError::io(std::env::temp_dir(), e))?;
    let req_path = dir.path().join("request.json");
    let req = serde_json::to_vec_pretty(&request(p, ctx))
        .map_err(|e| StageError::other(e.to_string()))?;
    std::fs::write(&req_path, req).map_err(|e| StageError::io(&req_path, e))?;
    let program = resolve_program(&p.program, &ctx.workdir);
    let mut cmd = Command::new(&program);
    cmd.args(&p.args)
        .arg(&req_path)
        .current_dir(&ctx.workdir)
        .env("CORRFLOW_REQUEST", &req_path)
        .env("CORRFLOW_THREADS", ctx.threads.to_string())
        // corrflow does not rely on HDF5 file locks; neither should the program (h5py honours this).
        .env("HDF5_USE_FILE_LOCKING", "FALSE")
        .envs(&p.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        StageError::other(format!("cannot start program '{}': {e}", program.display()))
    })?;
    // Drain both pipes on threads so a chatty program cannot block on a full pipe.
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_t = std::thread::spawn(move || {
        let mut s = output::WarningScanner::new();
        if let Some(p) = out_pipe.as_mut() {
            s.read_from(p);
        }
        s.finish()
    });
    let err_t = std::thread::spawn(move || {
        let mut t = output::StderrTail::new();
        if let Some(p) = err_pipe.as_mut() {
            t.read_from(p);
        }
        t.finish()
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                return Err(StageError::other(format!(
                    "waiting for '{}': {e}",
                    program.display()
                )));
            }
        }
        if p.timeout_s
            .is_some_and(|t| start.elapsed() > Duration::from_secs_f64(t))
        {
            let _ = child.kill();
            let _ = child.wait();
            return Err(StageError::other(format!(
                "program '{}' ran longer than timeout_s = {} s and was stopped",
                program.display(),
                p.timeout_s.unwrap_or_default()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let warnings = out_t.join().unwrap_or_default();
    let stderr_tail = err_t.join().unwrap_or_default();
    for w in warnings {
        ctx.warn(w);
    }
    if !status.success() {
        return Err(StageError::other(format!(
            "program '{}' failed ({status}); its stderr ends with:\n{}",
            program.display(),
            stderr_tail
        )));
    }
    if !ctx.output_path().exists() {
        return Err(StageError::other(format!(
            "program '{}' exited 0 but wrote no output file (expected {})",
            program.display(),
            ctx.output_path().display()
        )));
    }
    Ok(())
}
