//! The executor: runs the selected tasks in dependency order, independent tasks in parallel,
//! streaming sample by sample (a sample's downstream tasks are preferred over new samples), and
//! commits each result to the cache as soon as it is computed, so that nothing finished is lost
//! when a later task fails or the run is killed.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use corrflow_stage::{ExportContext, InputBinding, RunContext};

use super::exports::Exports;
use super::plan::Plan;
use super::progress::{Outcome, Progress};
use crate::cache::store::{Found, unix_now};
use crate::cache::{InputId, Manifest, Store};
use crate::graph::{Graph, Wire};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Tasks run at once (≥ 1).
    pub jobs: usize,
    /// Nodes whose tasks rerun even when cached.
    pub force: Vec<usize>,
    /// Only these tasks (and, unless `no_deps`, what they need).
    pub targets: Option<Vec<usize>>,
    /// With targets: do not run upstream tasks; they must be cached.
    pub no_deps: bool,
    /// Keep starting independent tasks after a failure.
    pub keep_going: bool,
    /// Do not write exports into the results folder.
    pub no_export: bool,
    pub quiet: bool,
    /// Working folder for external programs (the pipeline file's folder).
    pub workdir: PathBuf,
}

#[derive(Debug, Default)]
pub struct RunSummary {
    pub ran: usize,
    pub cached: usize,
    pub failed: Vec<(String, String)>,
    pub skipped: usize,
    pub warnings: Vec<(String, String)>,
}

impl RunSummary {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped == 0
    }
}

/// The tasks to run for these options: the targets and everything they depend on.
pub fn select(plan: &Plan, opts: &RunOptions) -> Vec<usize> {
    let Some(targets) = &opts.targets else {
        return (0..plan.tasks.len()).collect();
    };
    let mut keep = vec![false; plan.tasks.len()];
    let mut stack = targets.clone();
    while let Some(t) = stack.pop() {
        if std::mem::replace(&mut keep[t], true) {
            continue;
        }
        if !opts.no_deps {
            stack.extend(plan.tasks[t].deps.iter().copied());
        }
    }
    (0..plan.tasks.len()).filter(|&t| keep[t]).collect()
}

struct Shared<'a> {
    g: &'a Graph,
    plan: &'a Plan,
    store: &'a Store,
    pipeline: &'a str,
    opts: &'a RunOptions,
    exports: Exports,
    progress: Progress,
    /// Verified manifests of committed entries, by task.
    done: Mutex<HashMap<usize, Manifest>>,
    /// Data files checked against their checksum in this run (or written by it).
    verified: Mutex<std::collections::HashSet<String>>,
    repair: Mutex<()>,
    threads_per_task: usize,
    /// Temp data files of entries being computed: kept young (see [`keep_pending_young`]).
    pending: Mutex<std::collections::HashSet<PathBuf>>,
}

struct Sched {
    waiting: HashMap<usize, usize>,
    dependents: HashMap<usize, Vec<usize>>,
    ready: BinaryHeap<(std::cmp::Reverse<(usize, usize)>, usize)>,
    running: usize,
    stop: bool,
    summary: RunSummary,
}

pub fn run(
    g: &Graph,
    plan: &Plan,
    store: &Store,
    pipeline: &str,
    results_dir: PathBuf,
    opts: &RunOptions,
) -> RunSummary {
    let selected = select(plan, opts);
    let in_run: std::collections::HashSet<usize> = selected.iter().copied().collect();
    let mut per_node: Vec<(String, usize)> =
        g.nodes.iter().map(|n| (n.id().to_string(), 0)).collect();
    for &t in &selected {
        per_node[plan.tasks[t].node].1 += 1;
    }
    let jobs = opts.jobs.max(1);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shared = Shared {
        g,
        plan,
        store,
        pipeline,
        opts,
        exports: Exports::new(&results_dir),
        progress: Progress::new(&per_node, opts.quiet),
        done: Mutex::new(HashMap::new()),
        verified: Mutex::new(Default::default()),
        repair: Mutex::new(()),
        threads_per_task: (cores / jobs).max(1),
        pending: Mutex::new(Default::default()),
    };
    let topo_pos: HashMap<usize, usize> =
        g.order.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    let priority = |t: usize| {
        let task = &plan.tasks[t];
        std::cmp::Reverse((task.sample.unwrap_or(usize::MAX), topo_pos[&task.node]))
    };
    let mut sched = Sched {
        waiting: HashMap::new(),
        dependents: HashMap::new(),
        ready: BinaryHeap::new(),
        running: 0,
        stop: false,
        summary: RunSummary::default(),
    };
    for &t in &selected {
        let deps: Vec<usize> = plan.tasks[t]
            .deps
            .iter()
            .copied()
            .filter(|d| in_run.contains(d))
            .collect();
        for &d in &deps {
            sched.dependents.entry(d).or_default().push(t);
        }
        if deps.is_empty() {
            sched.ready.push((priority(t), t));
        } else {
            sched.waiting.insert(t, deps.len());
        }
    }
    let state = Mutex::new(sched);
    let cv = Condvar::new();
    let finished = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let keeper = scope.spawn(|| keep_pending_young(&shared, &finished));
        let workers: Vec<_> = (0..jobs.min(selected.len().max(1)))
            .map(|_| scope.spawn(|| worker(&shared, &state, &cv, &priority)))
            .collect();
        for w in workers {
            let _ = w.join();
        }
        finished.store(true, AtomicOrdering::SeqCst);
        keeper.thread().unpark();
    });
    shared.progress.finish();
    let mut summary = state
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .summary;
    // Tasks never started (a failure stopped the run, or an upstream failed).
    summary.skipped = selected.len() - summary.ran - summary.cached - summary.failed.len();
    summary
}

/// How often the temp files of entries being computed get their modification time refreshed.
/// `corrflow gc` leaves temp files younger than its grace period (default 900 s) alone, so a task
/// that computes for hours keeps its temp file while a gc runs beside it.
pub const PENDING_REFRESH: Duration = Duration::from_secs(60);

/// Refresh the modification time of every pending temp file each [`PENDING_REFRESH`] until
/// `finished` (the thread is unparked then).
fn keep_pending_young(sh: &Shared<'_>, finished: &AtomicBool) {
    let mut last = Instant::now();
    while !finished.load(AtomicOrdering::SeqCst) {
        std::thread::park_timeout(PENDING_REFRESH.saturating_sub(last.elapsed()));
        if finished.load(AtomicOrdering::SeqCst) || last.elapsed() < PENDING_REFRESH {
            continue;
        }
        last = Instant::now();
        let paths: Vec<PathBuf> = lock(&sh.pending).iter().cloned().collect();
        for p in paths {
            // Stamped by the file system's clock, as gc reads it (a missing file is simply done).
            let _ = crate::cache::fsutil::touch_now(&p);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn worker(
    sh: &Shared<'_>,
    state: &Mutex<Sched>,
    cv: &Condvar,
    priority: &dyn Fn(usize) -> std::cmp::Reverse<(usize, usize)>,
) {
    loop {
        let task = {
            let mut s = lock(state);
            loop {
                if s.stop && s.running == 0 {
                    cv.notify_all();
                    return;
                }
                if !s.stop
                    && let Some((_, t)) = s.ready.pop()
                {
                    s.running += 1;
                    break t;
                }
                if s.running == 0 {
                    cv.notify_all();
                    return;
                }
                s = cv
                    .wait(s)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        let label = sh.plan.label(sh.g, task);
        let start = Instant::now();
        let result = execute(sh, task, sh.opts.force.contains(&sh.plan.tasks[task].node));
        let secs = start.elapsed().as_secs_f64();
        let mut s = lock(state);
        s.running -= 1;
        let node = sh.plan.tasks[task].node;
        match result {
            Ok((outcome, warnings)) => {
                for w in warnings {
                    sh.progress.println(&format!("warning: {label}: {w}"));
                    s.summary.warnings.push((label.clone(), w));
                }
                match outcome {
                    Outcome::Cached => s.summary.cached += 1,
                    _ => s.summary.ran += 1,
                }
                sh.progress.finish_task(node, &label, outcome, secs);
                for d in s.dependents.get(&task).cloned().unwrap_or_default() {
                    let w = s.waiting.get_mut(&d).map(|w| {
                        *w -= 1;
                        *w
                    });
                    if w == Some(0) {
                        s.waiting.remove(&d);
                        s.ready.push((priority(d), d));
                    }
                }
            }
            Err(msg) => {
                sh.progress.println(&format!("error: {label}: {msg}"));
                sh.progress.finish_task(node, &label, Outcome::Failed, secs);
                s.summary.failed.push((label, msg));
                if !sh.opts.keep_going {
                    s.stop = true;
                }
            }
        }
        cv.notify_all();
    }
}

/// Make task `t`'s entry exist (cached or computed); export it. Returns how, and its warnings.
fn execute(sh: &Shared<'_>, t: usize, force: bool) -> Result<(Outcome, Vec<String>), String> {
    let task = &sh.plan.tasks[t];
    let node = &sh.g.nodes[task.node];
    let found = if force {
        Found::Nothing
    } else {
        sh.store.find(&task.key)
    };
    let (outcome, manifest) = match found {
        Found::Entry(m) => (Outcome::Cached, *m),
        Found::Nothing => (Outcome::Ran, compute(sh, t)?),
        Found::Damaged { path, reason } => {
            sh.progress.println(&format!(
                "warning: cache entry {} of {} is damaged ({reason}); recomputing it",
                path.display(),
                sh.plan.label(sh.g, t)
            ));
            (Outcome::Ran, compute(sh, t)?)
        }
    };
    let warnings = if outcome == Outcome::Ran {
        manifest.warnings.clone()
    } else {
        Vec::new()
    };
    sh.store
        .write_ref(sh.pipeline, node.id(), &task.sample_id, &task.key)
        .map_err(|e| e.to_string())?;
    if node.def.export && !sh.opts.no_export {
        export(sh, t, &manifest)?;
    }
    lock(&sh.done).insert(t, manifest);
    Ok((outcome, warnings))
}

/// A verified manifest for an upstream task; an entry that fails verification is recomputed.
fn verified_upstream(sh: &Shared<'_>, t: usize) -> Result<Manifest, String> {
    let key = &sh.plan.tasks[t].key;
    let known = lock(&sh.done).get(&t).cloned();
    let m = match known.or_else(|| sh.store.lookup(key)) {
        Some(m) => m,
        None => {
            return Err(format!(
                "upstream {} is not in the cache (run it first, or drop --no-deps)",
                sh.plan.label(sh.g, t)
            ));
        }
    };
    if lock(&sh.verified).contains(&m.data_file) {
        return Ok(m);
    }
    let m = check_or_repair(sh, t, m)?;
    lock(&sh.verified).insert(m.data_file.clone());
    Ok(m)
}

fn check_or_repair(sh: &Shared<'_>, t: usize, m: Manifest) -> Result<Manifest, String> {
    if sh.store.verify(&m).is_ok() {
        return Ok(m);
    }
    let _guard = lock(&sh.repair);
    // Someone may have repaired it while we waited.
    if let Some(m2) = sh.store.lookup(&m.key)
        && sh.store.verify(&m2).is_ok()
    {
        return Ok(m2);
    }
    sh.progress.println(&format!(
        "warning: cache entry {} of {} is corrupt (checksum mismatch); recomputing it",
        sh.store.data_path(&m).display(),
        sh.plan.label(sh.g, t)
    ));
    sh.store.quarantine(&m);
    let fresh = compute(sh, t)?;
    lock(&sh.done).insert(t, fresh.clone());
    Ok(fresh)
}

/// The nodes upstream of task `t` (transitively), in dependency order, and its own node last.
fn lineage(sh: &Shared<'_>, t: usize) -> corrflow_stage::Lineage {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![t];
    while let Some(x) = stack.pop() {
        if seen.insert(x) {
            stack.extend(sh.plan.tasks[x].deps.iter().copied());
        }
    }
    let nodes =
        sh.g.order
            .iter()
            .copied()
            .filter_map(|ni| {
                let tasks: Vec<(String, String)> = seen
                    .iter()
                    .map(|&x| &sh.plan.tasks[x])
                    .filter(|task| task.node == ni)
                    .map(|task| (task.sample_id.clone(), task.key.clone()))
                    .collect();
                if tasks.is_empty() {
                    return None;
                }
                let mut tasks = tasks;
                tasks.sort();
                let n = &sh.g.nodes[ni];
                let inputs = n
                    .wires
                    .iter()
                    .map(|(port, w)| {
                        let source = match w {
                            Wire::Node { node, port: out } => {
                                format!("{}.{out}", sh.g.nodes[*node].id())
                            }
                            Wire::Column { column, .. } => format!("sample.{column}"),
                            Wire::File { written, .. } => format!("file:{written}"),
                        };
                        (port.clone(), source)
                    })
                    .collect();
                Some(corrflow_stage::LineageNode {
                    id: n.id().to_string(),
                    stage: n.stage.id().to_string(),
                    stage_version: n.stage.version().to_string(),
                    scope: n.scope(),
                    params: n.params.clone(),
                    inputs,
                    tasks,
                })
            })
            .collect();
    corrflow_stage::Lineage {
        pipeline: sh.pipeline.to_string(),
        nodes,
    }
}

/// Bindings for a task's inputs, from the plan's recipe.
fn bindings(sh: &Shared<'_>, t: usize) -> Result<BTreeMap<String, InputBinding>, String> {
    let task = &sh.plan.tasks[t];
    let mut out = BTreeMap::new();
    for (port, id) in &task.recipe.inputs {
        let files = task.sources.get(port).cloned().unwrap_or_default();
        let mut file_iter = files.into_iter();
        out.insert(port.clone(), binding(sh, t, port, id, &mut file_iter)?);
    }
    Ok(out)
}

fn binding(
    sh: &Shared<'_>,
    t: usize,
    port: &str,
    id: &InputId,
    files: &mut impl Iterator<Item = String>,
) -> Result<InputBinding, String> {
    Ok(match id {
        InputId::File { .. } => InputBinding::File(PathBuf::from(files.next().unwrap_or_default())),
        InputId::Text { value } => InputBinding::Text(value.clone()),
        InputId::Entry { port: out, key, .. } => {
            let dep = sh.plan.tasks[t]
                .deps
                .iter()
                .copied()
                .find(|&d| &sh.plan.tasks[d].key == key)
                .ok_or_else(|| format!("input '{port}': upstream task not found"))?;
            let m = verified_upstream(sh, dep)?;
            InputBinding::Entry {
                file: sh.store.data_path(&m),
                group: out.clone(),
            }
        }
        InputId::PerSample { items } => InputBinding::PerSample(
            items
                .iter()
                .map(|(s, id)| Ok((s.clone(), binding(sh, t, port, id, files)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Run the stage of task `t` into a new entry and commit it.
fn compute(sh: &Shared<'_>, t: usize) -> Result<Manifest, String> {
    let task = &sh.plan.tasks[t];
    let node = &sh.g.nodes[task.node];
    let inputs = bindings(sh, t)?;
    let pending = sh.store.begin(&task.key).map_err(|e| e.to_string())?;
    lock(&sh.pending).insert(pending.path.clone());
    crate::crashpoint::hit("compute.start");
    let start = Instant::now();
    let (sample, samples) = sh.plan.sample_view(sh.g, t);
    let lineage = (node.scope() == corrflow_stage::Scope::Aggregate).then(|| lineage(sh, t));
    let result = (|| -> Result<Vec<String>, String> {
        let mut ctx = RunContext::new(
            node.id(),
            sample,
            samples,
            &inputs,
            &pending.path,
            sh.threads_per_task,
        );
        ctx.workdir = sh.opts.workdir.clone();
        ctx.lineage = lineage.as_ref();
        let r =
            std::panic::catch_unwind(AssertUnwindSafe(|| node.stage.run(&node.params, &mut ctx)));
        crate::crashpoint::hit("compute.written");
        let warnings = ctx.take_warnings();
        let closed = ctx.close_output();
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                return Err(format!(
                    "stage {} panicked (a bug, please report it): {msg}",
                    node.stage.id()
                ));
            }
        }
        closed.map_err(|e| format!("cannot close cache entry: {e}"))?;
        check_outputs(node, &pending.path)?;
        Ok(warnings)
    })();
    let warnings = match result {
        Ok(w) => w,
        Err(e) => {
            lock(&sh.pending).remove(&pending.path);
            sh.store.abort(pending);
            return Err(e);
        }
    };
    let manifest = Manifest {
        format: 1,
        key: task.key.clone(),
        node: node.id().to_string(),
        sample: task.sample_id.clone(),
        recipe: task.recipe.clone(),
        sources: task.sources.clone(),
        data_file: String::new(),
        checksum: String::new(),
        size: 0,
        created: unix_now(),
        duration_s: start.elapsed().as_secs_f64(),
        warnings,
        corrflow_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let pending_path = pending.path.clone();
    let committed = sh.store.commit(pending, manifest);
    lock(&sh.pending).remove(&pending_path);
    let m = committed.map_err(|e| e.to_string())?;
    lock(&sh.verified).insert(m.data_file.clone());
    Ok(m)
}

fn export(sh: &Shared<'_>, t: usize, m: &Manifest) -> Result<(), String> {
    let task = &sh.plan.tasks[t];
    let node = &sh.g.nodes[task.node];
    // A forced node is exported again too: its files may have been edited or deleted by hand.
    if sh.exports.is_current(&task.sample_id, node.id(), &task.key)
        && !sh.opts.force.contains(&task.node)
    {
        return Ok(());
    }
    let dir = match task.sample {
        Some(_) => sh.exports.dir().join(&task.sample_id),
        None => sh.exports.dir().to_path_buf(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // A cached entry is checked against its checksum before its exports are written from it
    // (one just computed was hashed at commit).
    let verified = if lock(&sh.verified).contains(&m.data_file) {
        m.clone()
    } else {
        let v = check_or_repair(sh, t, m.clone())?;
        lock(&sh.verified).insert(v.data_file.clone());
        v
    };
    let m = &verified;
    let path = sh.store.data_path(m);
    let file = corrflow_stage::h5::open_file(&path)
        .map_err(|e| format!("cannot open cache entry {}: {e}", path.display()))?;
    let ctx = ExportContext {
        node: node.id(),
        sample: sh.plan.sample_view(sh.g, t).0,
        entry: &file,
        dir: &dir,
    };
    let files = node
        .stage
        .export(&node.params, &ctx)
        .map_err(|e| format!("export: {e}"))?;
    crate::crashpoint::hit("export.written");
    // The record only saves work: without it the next run writes these exports again.
    let _ = sh
        .exports
        .record(&task.sample_id, node.id(), &task.key, &files);
    Ok(())
}

/// Every declared output port must be a group of the entry file.
fn check_outputs(node: &crate::graph::GNode, path: &std::path::Path) -> Result<(), String> {
    if node.ports.outputs.is_empty() && !path.exists() {
        // A stage with no outputs still gets an (empty) entry, so that it is cached.
        corrflow_stage::h5::create_file(path).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let file = corrflow_stage::h5::open_file(path).map_err(|e| {
        format!(
            "stage {} wrote no readable output file: {e}",
            node.stage.id()
        )
    })?;
    for port in &node.ports.outputs {
        if file.group(&port.name).is_err() {
            return Err(format!(
                "stage {} did not write its output '{}' ({})",
                node.stage.id(),
                port.name,
                port.ty
            ));
        }
    }
    Ok(())
}
