//! The engine as a library, with stages the binary does not have: a stage version bump, an
//! aggregate node over every sample, and swapping an implementation in the registry.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use corrflow::cache::Store;
use corrflow::cache::filehash::HashMemo;
use corrflow::exec::{self, RunOptions, State};
use corrflow_stage::{
    PortSpec, Ports, Registry, RunContext, Scope, StageError, TypedStage, h5, port_types,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Exp;

#[derive(Serialize, Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// Writes the length of its input file, in one of two versions.
struct FileLen {
    version: &'static str,
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

impl TypedStage for FileLen {
    type Params = NoParams;
    const ID: &'static str = "test.len";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "test";
    fn ports(&self, _: &NoParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new("file", port_types::FILE, "")],
            outputs: vec![PortSpec::new("len", "number", "")],
        }
    }
    fn run(&self, _: &NoParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        let n = std::fs::metadata(ctx.input_file("file")?)
            .map_err(|e| StageError::io("x", e))?
            .len();
        let g = ctx.output_group("len")?;
        h5::set_i64(&g, "value", n as i64)?;
        h5::set_str(&g, "version", self.version)
    }
}

/// The trait's VERSION is a constant, so a wrapper reports a configurable version.
struct Versioned(FileLen);

impl corrflow_stage::Stage for Versioned {
    fn id(&self) -> &str {
        "test.len"
    }
    fn version(&self) -> &str {
        self.0.version
    }
    fn doc(&self) -> &str {
        "test"
    }
    fn scope(&self) -> Scope {
        Scope::PerSample
    }
    fn params_schema(&self) -> schemars::Schema {
        schemars::schema_for!(NoParams)
    }
    fn canonical_params(
        &self,
        raw: &serde_json::Value,
    ) -> Result<serde_json::Value, corrflow_stage::ParamError> {
        corrflow_stage::Stage::canonical_params(&self.0, raw)
    }
    fn ports(&self, p: &serde_json::Value) -> Result<Ports, corrflow_stage::ParamError> {
        corrflow_stage::Stage::ports(&self.0, p)
    }
    fn run(&self, p: &serde_json::Value, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        corrflow_stage::Stage::run(&self.0, p, ctx)
    }
}

/// Sums the lengths over all samples and records which samples and conditions it saw.
struct Total;

impl TypedStage for Total {
    type Params = NoParams;
    const ID: &'static str = "test.total";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "test";
    const SCOPE: Scope = Scope::Aggregate;
    fn ports(&self, _: &NoParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new("len", "number", "")],
            outputs: vec![PortSpec::new("total", "number", "")],
        }
    }
    fn run(&self, _: &NoParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let mut total = 0;
        let mut seen = Vec::new();
        for (sample, g) in ctx.input_groups("len")? {
            total += h5::get_i64(&g, "value")?;
            let info = ctx
                .samples
                .iter()
                .find(|s| s.id == sample)
                .expect("sample info");
            seen.push(format!("{sample}:{}", info.columns["condition"]));
        }
        let g = ctx.output_group("total")?;
        // What the engine says this task is computed from: node@version[tasks] ← inputs.
        let lineage = ctx
            .lineage
            .expect("the engine gives aggregate tasks their lineage");
        let described: Vec<String> = lineage
            .nodes
            .iter()
            .map(|n| {
                let inputs: Vec<String> =
                    n.inputs.iter().map(|(p, s)| format!("{p}={s}")).collect();
                let samples: Vec<&str> = n.tasks.iter().map(|(s, _)| s.as_str()).collect();
                format!(
                    "{}:{}@{}{:?}<-{}",
                    n.id,
                    n.stage,
                    n.stage_version,
                    samples,
                    inputs.join(",")
                )
            })
            .collect();
        h5::set_str(
            &g,
            "lineage",
            &format!("{}|{}", lineage.pipeline, described.join(";")),
        )?;
        h5::set_i64(&g, "value", total)?;
        h5::set_str(&g, "seen", &seen.join(","))
    }
}

const PIPE: &str = "name: api\nsamples: { table: samples.csv }\nnodes:\n  - id: len\n    stage: test.len\n    inputs: { file: sample.em }\n  - id: total\n    stage: test.total\n    inputs: { len: len.len }\n";

fn registry(version: &'static str) -> Registry {
    let mut r = Registry::new();
    r.add_stage(Versioned(FileLen { version })).add_stage(Total);
    r
}

struct Ran {
    ran: usize,
    states: Vec<(String, String, State, Vec<String>)>,
}

fn run_with(reg: &Registry, pipeline: &Path) -> Ran {
    let p = corrflow::spec::load(pipeline, &[]).unwrap();
    let samples = corrflow::samples::load(&p).unwrap();
    let g = corrflow::graph::build(&p, reg, &samples)
        .map_err(|d| d.to_string())
        .unwrap();
    let store = Store::new(&p.cache_dir);
    let memo = HashMemo::load(store.memo_path());
    let plan = exec::plan::build(&g, samples, &memo, None).unwrap();
    let states = exec::status::status(&g, &plan, &store, &p.name)
        .into_iter()
        .map(|s| (s.node, s.sample, s.state, s.reasons))
        .collect();
    let opts = RunOptions {
        jobs: 2,
        quiet: true,
        workdir: p.file.parent().unwrap().to_path_buf(),
        ..Default::default()
    };
    let summary = exec::run(&g, &plan, &store, &p.name, p.results_dir.clone(), &opts);
    assert!(summary.ok(), "{:?}", summary.failed);
    Ran {
        ran: summary.ran,
        states,
    }
}

fn read_total(exp: &Exp) -> (i64, String) {
    let f = h5::open_file(&exp.entry_of("api", "total", "_all")).unwrap();
    let g = f.group("total").unwrap();
    (
        h5::get_i64(&g, "value").unwrap(),
        h5::get_str(&g, "seen").unwrap(),
    )
}

#[test]
fn version_bump_aggregate_and_swap() {
    let exp = Exp::new();
    exp.write("a.bin", "12345");
    exp.write("b.bin", "123");
    exp.write(
        "samples.csv",
        "id,em,condition\na,a.bin,npc\nb,b.bin,neuron\n",
    );
    let pipe = exp.write("pipeline.yaml", PIPE);

    let v1 = registry("1");
    assert_eq!(run_with(&v1, &pipe).ran, 3);
    assert_eq!(read_total(&exp), (8, "a:npc,b:neuron".to_string()));
    let f = h5::open_file(&exp.entry_of("api", "total", "_all")).unwrap();
    assert_eq!(
        h5::get_str(&f.group("total").unwrap(), "lineage").unwrap(),
        "api|len:test.len@1[\"a\", \"b\"]<-file=sample.em;total:test.total@1[\"_all\"]<-len=len.len"
    );
    assert_eq!(run_with(&v1, &pipe).ran, 0);

    // A stage version bump reruns that stage; the aggregate follows its upstream.
    let v2 = registry("2");
    let r = run_with(&v2, &pipe);
    assert_eq!(r.ran, 3);
    let len_a = r
        .states
        .iter()
        .find(|s| s.0 == "len" && s.1 == "a")
        .unwrap();
    assert_eq!(
        (len_a.2, len_a.3.clone()),
        (
            State::Stale,
            vec!["stage version changed from 1 to 2".to_string()]
        )
    );
    let total = r.states.iter().find(|s| s.0 == "total").unwrap();
    assert_eq!(total.1, "_all");
    assert_eq!(total.3, ["upstream 'len' changed for 2 sample(s): a, b"]);

    // Metadata seen by an aggregate enters its key.
    exp.write("samples.csv", "id,em,condition\na,a.bin,npc\nb,b.bin,npc\n");
    let r = run_with(&v2, &pipe);
    assert_eq!(r.ran, 1);
    assert_eq!(
        r.states.iter().find(|s| s.0 == "total").unwrap().3,
        ["the samples table changed"]
    );
    assert_eq!(read_total(&exp), (8, "a:npc,b:npc".to_string()));

    // Swapping an implementation in place: same id, the registry keeps one.
    let mut swapped = registry("2");
    swapped.add_stage(Versioned(FileLen { version: "3" }));
    assert_eq!(swapped.iter().count(), 2);
    assert_eq!(swapped.get("test.len").unwrap().version(), "3");
}

/// Records the metadata its task sees. `META` declares `reads_sample_metadata`.
struct Peek<const META: bool>;

impl<const META: bool> TypedStage for Peek<META> {
    type Params = NoParams;
    const ID: &'static str = if META { "test.meta" } else { "test.peek" };
    const VERSION: &'static str = "1";
    const DOC: &'static str = "test";
    const READS_SAMPLE_METADATA: bool = META;
    fn ports(&self, _: &NoParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new("file", port_types::FILE, "")],
            outputs: vec![PortSpec::new("seen", "text", "")],
        }
    }
    fn run(&self, _: &NoParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let sample = ctx.sample.expect("a per-sample task has its sample");
        let columns: Vec<String> = sample
            .columns
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let others: Vec<&str> = ctx.samples.iter().map(|s| s.id.as_str()).collect();
        let seen = format!("{}|{}|{}", sample.id, columns.join(","), others.join(","));
        let g = ctx.output_group("seen")?;
        h5::set_str(&g, "value", &seen)
    }
}

fn read_seen(exp: &Exp, node: &str, sample: &str) -> String {
    let f = h5::open_file(&exp.entry_of("meta", node, sample)).unwrap();
    h5::get_str(&f.group("seen").unwrap(), "value").unwrap()
}

#[test]
fn sample_metadata_is_seen_as_written_and_keyed_only_where_read() {
    let exp = Exp::new();
    exp.write("data/a.bin", "12345");
    exp.write("data/b.bin", "123");
    exp.write(
        "samples.csv",
        "id,em,condition\na,data/a.bin,npc\nb,data/b.bin,neuron\n",
    );
    let pipe = exp.write(
        "pipeline.yaml",
        "name: meta\nsamples: { table: samples.csv }\nnodes:\n  - id: peek\n    stage: test.peek\n    inputs: { file: sample.em }\n  - id: meta\n    stage: test.meta\n    inputs: { file: sample.em }\n",
    );
    let mut reg = Registry::new();
    reg.add_stage(Peek::<false>).add_stage(Peek::<true>);
    assert_eq!(run_with(&reg, &pipe).ran, 4);
    // A stage that does not declare it sees only its sample's id; one that does sees its row as
    // written in the table (the file column relative to the table, not resolved).
    assert_eq!(read_seen(&exp, "peek", "a"), "a||a");
    assert_eq!(
        read_seen(&exp, "meta", "b"),
        "b|condition=neuron,em=data/b.bin|b"
    );

    // The same pipeline named by another path (as from another folder) is the same work.
    let other_spelling = exp.path("data/../pipeline.yaml");
    assert_eq!(run_with(&reg, &other_spelling).ran, 0);

    // Editing a metadata column reruns only the task that reads it, and says why.
    exp.write(
        "samples.csv",
        "id,em,condition\na,data/a.bin,npc\nb,data/b.bin,npc\n",
    );
    let r = run_with(&reg, &pipe);
    assert_eq!(r.ran, 1);
    let stale: Vec<_> = r
        .states
        .iter()
        .filter(|s| s.2 != State::Fresh)
        .map(|s| (s.0.as_str(), s.1.as_str(), s.3.clone()))
        .collect();
    assert_eq!(
        stale,
        [(
            "meta",
            "b",
            vec![
                "the sample's row in the samples table changed: column 'condition' changed from \"neuron\" to \"npc\""
                    .to_string()
            ]
        )]
    );
    assert_eq!(
        read_seen(&exp, "meta", "b"),
        "b|condition=npc,em=data/b.bin|b"
    );
}
