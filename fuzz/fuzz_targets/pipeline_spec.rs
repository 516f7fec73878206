//! Arbitrary bytes as a pipeline file: `corrflow::spec::load` (YAML parse, includes, schema,
//! names), then the samples and `corrflow::graph::build` (stage lookup in the real registry,
//! params validation, wiring, cycles) — what `corrflow validate`/`run` do before any task runs.
//! It must return a value or diagnostics, never panic, hang or allocate without bound.
//!
//! The bytes are written to `pipeline.yaml` in a per-process temporary folder (the loader
//! resolves includes and tables relative to the file), beside a fixed `base.yaml` that the input
//! may `include:`. Samples tables and globs named by the
//! input are replaced by two fixed samples, so no fuzzed path is read as a table.
//!
//! ```text
//! cargo +nightly fuzz run pipeline_spec /tmp/spec-corpus /tmp/spec-seeds -- -max_total_time=360 -malloc_limit_mb=2048 -timeout=10 -max_len=8192
//! ```
#![no_main]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use corrflow::samples::{SampleRow, Samples};
use corrflow::spec::yaml::{Loc, Source};
use corrflow_stage::Registry;
use libfuzzer_sys::fuzz_target;

const BASE: &str = "name: base
samples: { table: samples.csv }
nodes:
  - id: em
    stage: io.em
    inputs: { file: sample.em }
  - id: pre
    stage: preprocess.em
    inputs: { image: em.image }
    params:
      steps:
        - { op: median, size_px: 3 }
        - { op: percentile_normalize, low: 0.5, high: 99.5 }
";

struct Fixture {
    _dir: tempfile::TempDir,
    file: PathBuf,
    registry: Registry,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary folder");
        let file = dir.path().join("pipeline.yaml");
        // A fixed base that inputs can `include:` (merging, overrides by node id).
        std::fs::write(dir.path().join("base.yaml"), BASE).expect("write base.yaml");
        // The same stage families as the `corrflow` binary (src/main.rs).
        let mut registry = Registry::new();
        registry
            .add_plugin(corrflow_io_em::IoEmPlugin)
            .add_plugin(corrflow_preprocess::PreprocessPlugin)
            .add_plugin(corrflow_nanosims::NanosimsPlugin)
            .add_plugin(corrflow_synth::SynthPlugin)
            .add_plugin(corrflow_dataset::DatasetPlugin)
            .add_plugin(corrflow_segment::SegmentPlugin)
            .add_plugin(corrflow_evaluate::EvaluatePlugin)
            .add_plugin(corrflow_filter::FilterPlugin)
            .add_plugin(corrflow_register::RegisterPlugin)
            .add_plugin(corrflow_quantify::QuantifyPlugin)
            .add_plugin(corrflow_tables::TablesPlugin)
            .add_plugin(corrflow_stats::StatsPlugin)
            .add_plugin(corrflow_report::ReportPlugin)
            .add_plugin(corrflow_exec::ExecPlugin);
        Fixture {
            _dir: dir,
            file,
            registry,
        }
    })
}

fn fixed_samples(base: PathBuf) -> Samples {
    let src = Arc::new(Source {
        name: "samples.csv".into(),
        text: "id,em,condition\ns1,a.tif,ctrl\ns2,b.tif,treated\n".into(),
    });
    let row = |id: &str, em: &str, cond: &str| SampleRow {
        id: id.into(),
        columns: BTreeMap::from([
            ("em".to_string(), em.to_string()),
            ("condition".to_string(), cond.to_string()),
        ]),
        loc: Loc::whole(&src),
    };
    Samples {
        rows: vec![row("s1", "a.tif", "ctrl"), row("s2", "b.tif", "treated")],
        base,
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    std::fs::write(&f.file, data).expect("write the pipeline file");
    let Ok(pipeline) = corrflow::spec::load(&f.file, &[]) else {
        return;
    };
    let base = f.file.parent().unwrap().to_path_buf();
    let samples = fixed_samples(base);
    if let Ok(graph) = corrflow::graph::build(&pipeline, &f.registry, &samples) {
        let _ = corrflow::graph::to_dot(&graph);
        let _ = corrflow::graph::to_mermaid(&graph);
    }
});
