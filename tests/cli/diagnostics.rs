//! Every kind of bad input gets a diagnostic naming the file, line and column, exit code 2, no panic.

use crate::common::{Exp, PIPELINE};

fn exp_with(pipeline: &str) -> Exp {
    let exp = Exp::new();
    exp.samples(2, 32);
    exp.write("pipeline.yaml", pipeline);
    exp
}

fn check(pipeline: &str, needles: &[&str]) {
    let exp = exp_with(pipeline);
    for cmd in ["validate", "run", "status"] {
        exp.run(&[cmd, "pipeline.yaml"]).fails_with(2, needles);
    }
    assert!(
        !exp.path(".corrflow").exists(),
        "nothing is computed for an invalid pipeline"
    );
}

#[test]
fn yaml_syntax_error() {
    check(
        "name: x\nnodes:\n  - id: em\n    stage: [io.em\n",
        &["pipeline.yaml:", "YAML syntax"],
    );
}

#[test]
fn duplicate_yaml_key() {
    check("name: x\nname: y\n", &["pipeline.yaml:2:1"]);
}

#[test]
fn unknown_top_level_field() {
    check(
        &format!("{PIPELINE}colour: blue\n"),
        &["pipeline.yaml:15:1", "unknown field `colour`"],
    );
}

#[test]
fn unknown_stage_with_suggestion() {
    check(
        &PIPELINE.replace("stage: preprocess.em", "stage: preproces.em"),
        &[
            "pipeline.yaml:9:12",
            "unknown stage 'preproces.em'",
            "did you mean 'preprocess.em'",
        ],
    );
}

#[test]
fn unknown_param() {
    check(
        &PIPELINE.replace("sigma_nm: 8.0", "sigma: 8.0"),
        &["pipeline.yaml:14:27", "unknown field `sigma`"],
    );
}

#[test]
fn ill_typed_param() {
    check(
        &PIPELINE.replace("sigma_nm: 8.0", "sigma_nm: wide"),
        &["pipeline.yaml:14:", "invalid type"],
    );
}

#[test]
fn out_of_range_param() {
    check(
        &PIPELINE.replace("sigma_nm: 8.0", "sigma_nm: -2"),
        &["pipeline.yaml:14:", "must be finite and > 0 nm"],
    );
}

#[test]
fn missing_input() {
    check(
        &PIPELINE.replace("    inputs: { image: em.image }\n", ""),
        &[
            "pipeline.yaml:8:9",
            "required input 'image' (em_image) is not wired",
        ],
    );
}

#[test]
fn extra_input() {
    check(
        &PIPELINE.replace("{ image: em.image }", "{ image: em.image, mask: em.image }"),
        &[
            "pipeline.yaml:10:32",
            "has no input 'mask'",
            "its inputs are: image",
        ],
    );
}

#[test]
fn unknown_upstream_node_and_output() {
    check(
        &PIPELINE.replace("{ image: em.image }", "{ image: emm.image }"),
        &[
            "pipeline.yaml:10:22",
            "no node 'emm'",
            "did you mean 'em.image'",
        ],
    );
    check(
        &PIPELINE.replace("{ image: em.image }", "{ image: em.picture }"),
        &["no output 'picture'", "its outputs are: image"],
    );
}

#[test]
fn port_type_mismatch() {
    let p = format!(
        "{PIPELINE}  - id: tab\n    stage: exec\n    inputs: {{ image: pre.image }}\n    params: {{ program: x, version: '1', inputs: {{ image: em_image }}, outputs: {{ t: table }} }}\n  - id: bad\n    stage: preprocess.em\n    inputs: {{ image: tab.t }}\n"
    );
    check(
        &p,
        &[
            "pipeline.yaml:21:22",
            "type mismatch: tab.t is table, but input 'image' of preprocess.em expects em_image",
        ],
    );
}

#[test]
fn cycle() {
    let p = "samples: { table: samples.csv }\nnodes:\n  - id: a\n    stage: exec\n    inputs: { x: b.y }\n    params: { program: x, version: '1', inputs: { x: t }, outputs: { y: t } }\n  - id: b\n    stage: exec\n    inputs: { x: a.y }\n    params: { program: x, version: '1', inputs: { x: t }, outputs: { y: t } }\n";
    check(
        p,
        &["pipeline.yaml:", "the pipeline has a cycle: b → a → b"],
    );
}

#[test]
fn duplicate_id() {
    check(
        &format!("{PIPELINE}  - id: em\n    stage: io.em\n    inputs: {{ file: sample.em }}\n"),
        &[
            "pipeline.yaml:15:9",
            "duplicate node id 'em'",
            "first defined at",
        ],
    );
}

#[test]
fn missing_sample_file_names_the_table_row() {
    let exp = exp_with(PIPELINE);
    std::fs::remove_file(exp.path("em/s1.tif")).unwrap();
    exp.run(&["validate", "pipeline.yaml"]).fails_with(
        2,
        &["samples.csv:3:1", "sample 's1', column 'em'", "s1.tif"],
    );
}

#[test]
fn unknown_samples_column_and_bad_sample_ids() {
    check(
        &PIPELINE.replace("sample.em", "sample.image"),
        &[
            "pipeline.yaml:7:21",
            "the samples have no column 'image'",
            "columns: condition, em",
        ],
    );
    let exp = exp_with(PIPELINE);
    exp.write(
        "samples.csv",
        "id,em,condition\n../evil,em/s0.tif,x\ns0,em/s0.tif,y\ns0,em/s1.tif,z\n",
    );
    exp.run(&["validate", "pipeline.yaml"]).fails_with(
        2,
        &[
            "samples.csv:2:1",
            "invalid sample id '../evil'",
            "samples.csv:4:1",
            "duplicate sample id 's0'",
        ],
    );
}

#[test]
fn missing_pipeline_and_include_problems() {
    let exp = exp_with(PIPELINE);
    exp.run(&["validate", "nope.yaml"])
        .fails_with(2, &["cannot read pipeline file nope.yaml"]);
    exp.write("a.yaml", "include: b.yaml\n");
    exp.write("b.yaml", "include: a.yaml\n");
    exp.run(&["validate", "a.yaml"])
        .fails_with(2, &["include cycle"]);
    exp.write("c.yaml", "include: [pipeline.yaml, missing.yaml]\n");
    exp.run(&["validate", "c.yaml"])
        .fails_with(2, &["c.yaml:1:26", "cannot read pipeline file"]);
}

#[test]
fn set_errors() {
    let exp = exp_with(PIPELINE);
    exp.run(&["validate", "pipeline.yaml", "--set", "nope.x=1"])
        .fails_with(2, &["no node 'nope'", "nodes: em, pre"]);
    exp.run(&["validate", "pipeline.yaml", "--set", "pre"])
        .fails_with(2, &["expected NODE.PARAM=VALUE"]);
    exp.run(&[
        "validate",
        "pipeline.yaml",
        "--set",
        "pre.steps[1].sigma_nm=[1",
    ])
    .fails_with(2, &["--set", "value"]);
}

#[test]
fn several_problems_are_reported_together() {
    let p = PIPELINE
        .replace("stage: io.em", "stage: io.emm")
        .replace("sigma_nm: 8.0", "sigma: 8.0");
    check(
        &p,
        &[
            "unknown stage 'io.emm'",
            "unknown field `sigma`",
            "2 problems found",
        ],
    );
}
