//! Every kind of bad input gets a diagnostic naming the file, line and column, exit code 2, no panic.
//! (The single-problem cases of bad pipelines and samples tables are rows of `catalogue.rs`.)

use crate::common::{Exp, PIPELINE};

fn check(pipeline: &str, needles: &[&str]) {
    let exp = Exp::study(2, 32, pipeline);
    for cmd in ["validate", "run", "status"] {
        exp.run(&[cmd, "pipeline.yaml"]).fails_with(2, needles);
    }
    assert!(
        !exp.path(".corrflow").exists(),
        "nothing is computed for an invalid pipeline"
    );
}

#[test]
fn duplicate_yaml_key() {
    check("name: x\nname: y\n", &["pipeline.yaml:2:1"]);
}

#[test]
fn unknown_param() {
    check(
        &PIPELINE.replace("sigma_nm: 8.0", "sigma: 8.0"),
        &["pipeline.yaml:14:27", "unknown field `sigma`"],
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
fn set_errors() {
    let exp = Exp::study(2, 32, PIPELINE);
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
