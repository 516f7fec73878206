//! The rerun matrix: what changes cause which tasks to rerun, checked through `run` and `status`.

use crate::common::{Exp, PIPELINE};

fn states(exp: &Exp) -> Vec<(String, String, String)> {
    exp.status("pipeline.yaml")
        .into_iter()
        .map(|(n, s, st, _)| (n, s, st))
        .collect()
}

fn reasons_of(exp: &Exp, node: &str, sample: &str) -> (String, Vec<String>) {
    exp.status("pipeline.yaml")
        .into_iter()
        .find(|(n, s, _, _)| n == node && s == sample)
        .map(|(_, _, st, r)| (st, r))
        .expect("task listed")
}

#[test]
fn rerun_matrix() {
    let exp = Exp::study(3, 64, PIPELINE);

    // Nothing has run.
    assert!(states(&exp).iter().all(|(_, _, st)| st == "missing"));
    assert_eq!(reasons_of(&exp, "em", "s0").1, ["never run"]);

    // Cold run: everything runs; then everything is fresh.
    let r = exp.run(&["run", "pipeline.yaml", "-j", "2"]);
    assert_eq!(r.ok().counts(), (6, 0));
    assert!(
        states(&exp).iter().all(|(_, _, st)| st == "fresh"),
        "{:?}",
        states(&exp)
    );
    let first_results = exp.results();
    assert_eq!(
        first_results
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
        ["s0/pre.tif", "s1/pre.tif", "s2/pre.tif"]
    );

    // A rerun does nothing.
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 6));

    // Change a param: only that node (all samples) is stale, with the change spelled out.
    exp.write(
        "pipeline.yaml",
        &PIPELINE.replace("sigma_nm: 8.0", "sigma_nm: 12.0"),
    );
    let (st, why) = reasons_of(&exp, "pre", "s1");
    assert_eq!(st, "stale");
    assert_eq!(why, ["param steps[1].sigma_nm changed from 8.0 to 12.0"]);
    assert_eq!(reasons_of(&exp, "em", "s1").0, "fresh");
    let dry = exp.run(&["run", "pipeline.yaml", "--dry-run"]);
    assert!(
        dry.ok()
            .stdout
            .contains("would run   pre/s0: param steps[1].sigma_nm changed from 8.0 to 12.0"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("3 task(s) would run"));
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (3, 3));
    assert_ne!(
        exp.results(),
        first_results,
        "exports follow the new params"
    );

    // Spelling out a default changes nothing (params are canonical).
    exp.write(
        "pipeline.yaml",
        &PIPELINE.replace("sigma_nm: 8.0", "sigma_nm: 12").replace(
            "{ op: percentile_normalize }",
            "{ op: percentile_normalize, low: 0.5, high: 99.5 }",
        ),
    );
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 6));

    // Going back to the old params finds the old entries: nothing runs.
    exp.write("pipeline.yaml", PIPELINE);
    assert!(states(&exp).iter().all(|(_, _, st)| st == "fresh"));
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 6));
    assert_eq!(
        exp.results(),
        first_results,
        "exports are rewritten from the cache"
    );

    // Rewrite an input with identical bytes (new mtime): nothing reruns.
    let img = exp.path("em/s1.tif");
    let bytes = std::fs::read(&img).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::remove_file(&img).unwrap();
    std::fs::write(&img, &bytes).unwrap();
    assert!(states(&exp).iter().all(|(_, _, st)| st == "fresh"));
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (0, 6));

    // Change its content: it and its descendants rerun, nothing else.
    exp.image("em/s1.tif", 99, 64, 71);
    let (st, why) = reasons_of(&exp, "em", "s1");
    assert_eq!(st, "stale");
    assert_eq!(why.len(), 1);
    assert!(why[0].starts_with("input file 'file' changed ("), "{why:?}");
    assert!(why[0].contains("s1.tif"), "{why:?}");
    assert_eq!(
        reasons_of(&exp, "pre", "s1"),
        (
            "stale".to_string(),
            vec!["upstream 'em' changed".to_string()]
        )
    );
    assert_eq!(reasons_of(&exp, "pre", "s0").0, "fresh");
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (2, 4));

    // --force reruns a node even though it is cached; downstream keys do not change.
    assert_eq!(
        exp.run(&["run", "pipeline.yaml", "--force", "em"])
            .ok()
            .counts(),
        (3, 3)
    );

    // A forced node's exports are written again even though its key is the same (a file edited
    // by hand is restored).
    let exported = std::fs::read_dir(exp.path("results/s0"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("pre."))
        .expect("an export of node pre");
    let original = std::fs::read(&exported).unwrap();
    std::fs::write(&exported, b"edited by hand").unwrap();
    exp.run(&["run", "pipeline.yaml"]).ok();
    assert_eq!(std::fs::read(&exported).unwrap(), b"edited by hand");
    exp.run(&["run", "pipeline.yaml", "--force", "pre"]).ok();
    assert_eq!(std::fs::read(&exported).unwrap(), original);

    // A samples column change (a new sample) adds tasks; the others stay cached.
    exp.image("em/s3.tif", 3, 64, 71);
    let csv = std::fs::read_to_string(exp.path("samples.csv")).unwrap() + "s3,em/s3.tif,npc\n";
    exp.write("samples.csv", &csv);
    assert_eq!(
        reasons_of(&exp, "pre", "s3"),
        ("missing".to_string(), vec!["never run".to_string()])
    );
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (2, 6));
}

#[test]
fn set_overrides_and_targets() {
    let exp = Exp::study(2, 48, PIPELINE);
    // Only one task (and what it needs).
    assert_eq!(
        exp.run(&["run", "pipeline.yaml", "--target", "pre:s1"])
            .ok()
            .counts(),
        (2, 0)
    );
    // --no-deps on a task whose input is not cached fails and says why.
    exp.run(&["run", "pipeline.yaml", "--target", "pre:s0", "--no-deps"])
        .fails_with(1, &["upstream em/s0 is not in the cache"]);
    exp.run(&["run", "pipeline.yaml", "--target", "em:s0", "--no-deps"])
        .ok();
    assert_eq!(
        exp.run(&["run", "pipeline.yaml", "--target", "pre:s0", "--no-deps"])
            .ok()
            .counts(),
        (1, 0)
    );
    // --set changes a param for one run; status with the same --set agrees.
    let r = exp.run(&["run", "pipeline.yaml", "--set", "pre.steps[1].sigma_nm=5"]);
    assert_eq!(r.ok().counts(), (2, 2));
    let st = exp.run(&[
        "status",
        "pipeline.yaml",
        "--set",
        "pre.steps[1].sigma_nm=5.0",
        "--json",
    ]);
    assert!(
        !st.ok().stdout.contains("stale") && !st.stdout.contains("missing"),
        "{}",
        st.stdout
    );
    // Unknown target.
    exp.run(&["run", "pipeline.yaml", "--target", "pre:nope"])
        .fails_with(2, &["no such task"]);
    exp.run(&["run", "pipeline.yaml", "--target", "nope"])
        .fails_with(2, &["no node 'nope'"]);
}

#[test]
fn include_swaps_an_implementation_and_merges_params() {
    let exp = Exp::new();
    exp.samples(2, 40);
    exp.write("base.yaml", PIPELINE);
    exp.write(
        "variant.yaml",
        "include: base.yaml\nname: variant\nnodes:\n  - id: pre\n    params:\n      steps:\n        - { op: median, size_px: 3 }\n",
    );
    exp.run(&["run", "variant.yaml"]).ok();
    let explain = exp.run(&["explain", "variant.yaml", "pre"]);
    assert!(
        explain.ok().stdout.contains("\"op\": \"median\""),
        "{}",
        explain.stdout
    );
    assert!(
        !explain.stdout.contains("\"op\": \"gaussian\""),
        "lists are replaced, not merged: {}",
        explain.stdout
    );
    // Swapping the stage for an external program is one line in the variant.
    exp.write(
        "swap.yaml",
        "include: base.yaml\nnodes:\n  - id: pre\n    stage: exec\n    params: { program: 'true', version: '1', inputs: { image: em_image }, outputs: { image: em_image } }\n",
    );
    let v = exp.run(&["validate", "swap.yaml"]);
    assert!(v.ok().stdout.contains("valid"), "{}", v.stdout);
}

/// The same pipeline named relatively from its folder or absolutely from elsewhere is the same
/// work: nothing reruns and the exports do not change (sample metadata is seen as written).
#[test]
fn the_folder_run_from_does_not_change_the_work() {
    let exp = Exp::study(3, 48, PIPELINE);
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (6, 0));
    let before = exp.results();
    let abs = exp.path("pipeline.yaml");
    let out = std::process::Command::new(crate::common::BIN)
        .args(["run", &abs.display().to_string()])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let r = crate::common::Run::from(out);
    assert_eq!(r.ok().counts(), (0, 6));
    assert_eq!(exp.results(), before);
    assert!(exp.all_fresh(&abs.display().to_string()));
}

/// `--target` plans only the targets and what they need: another sample's missing file does not
/// stop a job for this sample, and an aggregate target still needs every sample.
#[test]
fn a_target_plans_only_what_it_needs() {
    let exp = Exp::study(3, 40, PIPELINE);
    assert_eq!(exp.run(&["run", "pipeline.yaml"]).ok().counts(), (6, 0));
    std::fs::remove_file(exp.path("em/s2.tif")).unwrap();
    let r = exp.run(&["run", "pipeline.yaml", "--target", "pre:s1", "--no-deps"]);
    assert_eq!(r.ok().counts(), (0, 1));
    let r = exp.run(&["run", "pipeline.yaml", "--target", "pre:s0"]);
    assert_eq!(r.ok().counts(), (0, 2));
    // The whole node needs s2's file.
    exp.run(&["run", "pipeline.yaml", "--target", "pre"])
        .fails_with(2, &["samples.csv", "s2", "em/s2.tif"]);
    exp.run(&["run", "pipeline.yaml", "--target", "pre:s9"])
        .fails_with(2, &["--target pre:s9: no such task"]);
}
