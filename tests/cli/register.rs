//! Registration stages through the binary: landmarks from a CSV and from the pipeline file,
//! RANSAC flagging a wrong landmark, exports, and errors.

use serde_json::Value;

use crate::common::Exp;

fn study(exp: &Exp) -> Value {
    exp.write(
        "small.yaml",
        "em: { width_px: 320, height_px: 320, pixel_size_nm: 40.0 }\nnanosims: { size_px: 64, pixel_size_nm: [200.0, 220.0], planes: 2, supersample: 2 }\n",
    );
    exp.run(&[
        "synth",
        "--out",
        "study",
        "--samples",
        "1",
        "--seed",
        "4",
        "--config",
        "small.yaml",
    ])
    .ok();
    serde_json::from_slice(&std::fs::read(exp.path("study/truth/s01.json")).unwrap()).unwrap()
}

fn map(m: &Value, x: f64, y: f64) -> (f64, f64) {
    let r = |i: usize, j: usize| m[i][j].as_f64().unwrap();
    (
        r(0, 0) * x + r(0, 1) * y + r(0, 2),
        r(1, 0) * x + r(1, 1) * y + r(1, 2),
    )
}

const PIPELINE: &str = "samples: { table: study/samples.csv }\nnodes:\n  - { id: em, stage: io.em, inputs: { file: sample.em } }\n  - { id: ions, stage: io.nanosims, inputs: { file: sample.nanosims } }\n";

#[test]
fn landmarks_recover_the_true_transform_and_flag_an_outlier() {
    let exp = Exp::new();
    let truth = study(&exp);
    let m = &truth["em_to_nanosims"];
    let mut csv = String::from("name,em_x,em_y,nanosims_x,nanosims_y\n");
    for (i, (x, y)) in [
        (20.0, 30.0),
        (300.0, 25.0),
        (160.0, 160.0),
        (40.0, 290.0),
        (280.0, 300.0),
        (100.0, 220.0),
    ]
    .into_iter()
    .enumerate()
    {
        let (u, v) = map(m, x, y);
        csv += &format!("p{i},{x},{y},{u},{v}\n");
    }
    let (u, v) = map(m, 200.0, 100.0);
    csv += &format!("wrong,200,100,{},{}\n", u + 9.0, v - 7.0); // a mis-clicked landmark
    exp.write("landmarks.csv", &csv);
    exp.write(
        "reg.yaml",
        &format!("{PIPELINE}  - id: reg\n    stage: register.landmarks\n    inputs: {{ image: em.image, ions: ions.ions, landmarks: file:landmarks.csv }}\n"),
    );
    exp.run(&["run", "reg.yaml"]).ok();
    let t: Value =
        serde_json::from_slice(&std::fs::read(exp.path("results/s01/transform.json")).unwrap())
            .unwrap();
    for i in 0..2 {
        for j in 0..3 {
            let (a, b) = (
                t["em_to_nanosims"][i][j].as_f64().unwrap(),
                m[i][j].as_f64().unwrap(),
            );
            assert!(
                (a - b).abs() < 1e-6 * (1.0 + b.abs()),
                "[{i}][{j}] {a} vs {b}"
            );
        }
    }
    assert_eq!(t["method"], "landmarks_ransac");
    assert!(t["rms_nm"].as_f64().unwrap() < 1e-3, "{t}");
    let residuals = std::fs::read_to_string(exp.path("results/s01/reg.residuals.csv")).unwrap();
    let wrong = residuals.lines().find(|l| l.starts_with("wrong,")).unwrap();
    assert!(
        wrong.ends_with(",0"),
        "the wrong landmark is not an inlier: {residuals}"
    );
    assert!(exp.path("results/s01/registration.png").is_file());

    // Two points in the pipeline file give the similarity exactly; one is too few.
    let (u0, v0) = map(m, 10.0, 10.0);
    let (u1, v1) = map(m, 300.0, 250.0);
    exp.write(
        "two.yaml",
        &format!("{PIPELINE}  - id: reg\n    stage: register.landmarks\n    inputs: {{ image: em.image, ions: ions.ions }}\n    params:\n      points:\n        - {{ em: [10, 10], nanosims: [{u0}, {v0}] }}\n        - {{ em: [300, 250], nanosims: [{u1}, {v1}] }}\n"),
    );
    exp.run(&["run", "two.yaml"]).ok();
    exp.write(
        "one.yaml",
        &format!("{PIPELINE}  - id: reg\n    stage: register.landmarks\n    inputs: {{ image: em.image, ions: ions.ions }}\n    params:\n      points:\n        - {{ em: [10, 10], nanosims: [{u0}, {v0}] }}\n"),
    );
    exp.run(&["run", "one.yaml"])
        .fails_with(1, &["params.points", "2"]);
}

#[test]
fn register_auto_recovers_the_truth_on_a_synthetic_sample() {
    let exp = Exp::new();
    exp.write(
        "small.yaml",
        "em: { width_px: 512, height_px: 512, pixel_size_nm: 24.0 }\nnanosims: { size_px: 64, pixel_size_nm: [120.0, 160.0], planes: 2, supersample: 3 }\n",
    );
    exp.run(&[
        "synth",
        "--out",
        "study",
        "--samples",
        "1",
        "--seed",
        "11",
        "--config",
        "small.yaml",
    ])
    .ok();
    let truth: Value =
        serde_json::from_slice(&std::fs::read(exp.path("study/truth/s01.json")).unwrap()).unwrap();
    exp.write(
        "auto.yaml",
        &format!("{PIPELINE}  - id: reg\n    stage: register.auto\n    inputs: {{ image: em.image, ions: ions.ions }}\n    params: {{ channel: 12C14N }}\n"),
    );
    exp.run(&["run", "auto.yaml"]).ok();
    let t: Value =
        serde_json::from_slice(&std::fs::read(exp.path("results/s01/transform.json")).unwrap())
            .unwrap();
    // Mean distance of the EM corners mapped by both transforms, in NanoSIMS px.
    let m = &truth["em_to_nanosims"];
    let mut err = 0.0;
    for (x, y) in [(0.0, 0.0), (511.0, 0.0), (0.0, 511.0), (511.0, 511.0)] {
        let (u, v) = map(m, x, y);
        let (p, q) = map(&t["em_to_nanosims"], x, y);
        err += ((u - p).powi(2) + (v - q).powi(2)).sqrt() / 4.0;
    }
    assert!(err < 1.0, "corner error {err} px: {t}");
    assert!(t["confidence"].as_f64().unwrap() > 0.15, "{t}");
    assert!(t["method"].as_str().unwrap().starts_with("auto"));
}

#[test]
fn register_command_writes_the_same_files() {
    let exp = Exp::new();
    let truth = study(&exp);
    let m = &truth["em_to_nanosims"];
    let mut csv = String::from("em_x,em_y,nanosims_x,nanosims_y\n");
    for (x, y) in [(20.0, 30.0), (300.0, 25.0), (160.0, 160.0), (40.0, 290.0)] {
        let (u, v) = map(m, x, y);
        csv += &format!("{x},{y},{u},{v}\n");
    }
    exp.write("lm.csv", &csv);
    let r = exp.run(&[
        "register",
        "--em",
        "study/em/s01.tif",
        "--nanosims",
        "study/nanosims/s01.im",
        "--landmarks",
        "lm.csv",
        "--out",
        "out",
    ]);
    assert!(r.ok().stdout.contains("transform.json"), "{}", r.stdout);
    let t: Value =
        serde_json::from_slice(&std::fs::read(exp.path("out/transform.json")).unwrap()).unwrap();
    let (u, v) = map(&t["em_to_nanosims"], 100.0, 200.0);
    let (u0, v0) = map(m, 100.0, 200.0);
    assert!((u - u0).abs() < 1e-6 && (v - v0).abs() < 1e-6, "{t}");
    assert!(exp.path("out/registration.png").is_file());
    exp.run(&[
        "register",
        "--em",
        "study/em/s01.tif",
        "--nanosims",
        "study/nanosims/s01.im",
        "--channel",
        "99Xx",
        "--out",
        "out",
    ])
    .fails_with(2, &["99Xx", "12C14N"]);
    exp.run(&[
        "register",
        "--em",
        "none.tif",
        "--nanosims",
        "study/nanosims/s01.im",
        "--out",
        "o",
    ])
    .fails_with(2, &["none.tif"]);
}
