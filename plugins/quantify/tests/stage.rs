//! `quantify.ratio` run as the engine runs it, against counts summed by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use corrflow_quantify::stage::QuantifyRatio;
use corrflow_stage::{InputBinding, h5};
use corrflow_types::{
    Column, Instance, Instances, IonStack, Mask, MassInfo, Table, Transform2D, TransformKind,
};
use ndarray::{Array2, Array4};
use serde_json::json;

fn rect(class_id: u32, x0: usize, y0: usize, h: usize, w: usize) -> Instance {
    Instance {
        class_id,
        score: 0.9,
        bbox: [x0 as f32, y0 as f32, (x0 + w) as f32, (y0 + h) as f32],
        mask: Mask::new(x0, y0, Array2::from_elem((h, w), true)),
    }
}

/// 14N counts of NanoSIMS pixel (r, c), summed over the two planes.
fn n14(r: usize, c: usize) -> f64 {
    1000.0 + 10.0 * r as f64 + c as f64
}
fn n15(r: usize, c: usize) -> f64 {
    5.0 + ((r + c) % 3) as f64
}

/// EM 40×60 px at 10 nm; NanoSIMS 10×10 px at 40 nm, u = (x + 0.5)/4 − 0.5 (EM pixels 4c..4c+4
/// make NanoSIMS column c); two planes splitting the counts 1:3.
fn setup(dir: &Path, transform_to_nm: f64) -> PathBuf {
    let insts = vec![
        rect(0, 4, 8, 4, 8),   // NanoSIMS (2, 1) and (2, 2), wholly
        rect(1, 4, 0, 4, 2),   // half of NanoSIMS (0, 1)
        rect(0, 48, 10, 4, 4), // beyond column 9: outside the field
    ];
    let inst = Instances::new(40, 60, 10.0, vec!["mito".into(), "lyso".into()], insts).unwrap();
    let t = Transform2D::new(
        [[0.25, 0.0, -0.375], [0.0, 0.25, -0.375], [0.0, 0.0, 1.0]],
        TransformKind::Similarity,
        "em",
        10.0,
        "nanosims",
        transform_to_nm,
        "test",
    )
    .unwrap();
    let mut counts = Array4::<f32>::zeros((2, 2, 10, 10));
    for r in 0..10 {
        for c in 0..10 {
            for (m, v) in [(0, n14(r, c)), (1, n15(r, c))] {
                counts[[m, 0, r, c]] = (v * 0.25) as f32;
                counts[[m, 1, r, c]] = (v * 0.75) as f32;
            }
        }
    }
    let masses = vec![
        MassInfo::new("12C 14N", 26.0, 2, 44.0),
        MassInfo::new("12C 15N", 27.0, 3, 44.0),
    ];
    let ions = IonStack::new(counts, masses, 400.0, 1e-3, "t.im").unwrap();
    let path = dir.join("in.h5");
    let f = h5::create_file(&path).unwrap();
    inst.write(&f.create_group("instances").unwrap()).unwrap();
    t.write(&f.create_group("transform").unwrap()).unwrap();
    ions.write(&f.create_group("ions").unwrap()).unwrap();
    f.close().unwrap();
    path
}

fn run(
    dir: &Path,
    input: &Path,
    params: serde_json::Value,
) -> Result<(Table, Vec<String>), String> {
    let entry = |g: &str| InputBinding::Entry {
        file: input.to_path_buf(),
        group: g.into(),
    };
    let inputs: BTreeMap<String, InputBinding> = ["instances", "transform", "ions"]
        .iter()
        .map(|p| (p.to_string(), entry(p)))
        .collect();
    let out = dir.join("out.h5");
    let warnings = corrflow_stage::run_once(&QuantifyRatio, &params, "quant", "s1", &inputs, &out)?;
    let f = h5::open_file(&out).unwrap();
    Ok((Table::read(&f.group("rois").unwrap()).unwrap(), warnings))
}

fn f64s(t: &Table, name: &str) -> Vec<f64> {
    match &t
        .column(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .values
    {
        Column::F64(v) => v.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1e-300)
}

#[test]
fn counts_ratios_and_errors_match_hand_sums() {
    let dir = tempfile::tempdir().unwrap();
    let input = setup(dir.path(), 40.0);
    let (t, warnings) = run(dir.path(), &input, json!({"label_ratio": 0.05})).unwrap();
    assert_eq!(t.n_rows(), 3);
    assert_eq!(
        t.column("class").unwrap().values,
        Column::Text(vec!["mito".into(), "lyso".into(), "mito".into()])
    );
    let c14 = f64s(&t, "counts_12C14N");
    let c15 = f64s(&t, "counts_12C15N");
    let ratio = f64s(&t, "ratio");
    let sigma = f64s(&t, "ratio_sigma");

    // Instance 0: two whole pixels.
    let (a14, a15) = (n14(2, 1) + n14(2, 2), n15(2, 1) + n15(2, 2));
    assert!(close(c14[0], a14) && close(c15[0], a15), "{c14:?} {c15:?}");
    let r0 = a15 / a14;
    assert!(close(ratio[0], r0));
    assert!(close(sigma[0], r0 * (1.0 / a15 + 1.0 / a14).sqrt()));
    // Instance 1: half a pixel: half the counts, and the whole pixel's Poisson error.
    assert!(close(c14[1], 0.5 * n14(0, 1)) && close(c15[1], 0.5 * n15(0, 1)));
    let r1 = n15(0, 1) / n14(0, 1);
    assert!(close(ratio[1], r1));
    assert!(close(
        sigma[1],
        r1 * (1.0 / n15(0, 1) + 1.0 / n14(0, 1)).sqrt()
    ));
    assert!(close(f64s(&t, "covered_area_um2")[1], 0.5 * 0.04 * 0.04));
    // Instance 2 is outside: NaN, with a warning.
    assert!(ratio[2].is_nan() && c14[2] == 0.0);
    assert_eq!(f64s(&t, "inside_field"), vec![1.0, 1.0, 0.0]);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("1 of 3 organelles cover no NanoSIMS pixel")),
        "{warnings:?}"
    );

    // Derived measures, from the ratio by their formulas.
    let nat = 0.003676;
    assert!(close(f64s(&t, "atom_pct")[0], 100.0 * r0 / (1.0 + r0)));
    assert!(close(
        f64s(&t, "delta_permil")[0],
        (r0 / nat - 1.0) * 1000.0
    ));
    let frac = |r: f64| r / (1.0 + r);
    assert!(close(
        f64s(&t, "fraction_new_pct")[0],
        (frac(r0) - frac(nat)) / (frac(0.05) - frac(nat)) * 100.0
    ));
    // The per-pixel mean for instance 0: mean of the two pixel ratios.
    let mp = (n15(2, 1) / n14(2, 1) + n15(2, 2) / n14(2, 2)) / 2.0;
    assert!(close(f64s(&t, "mean_pixel_ratio")[0], mp));
    // The sample's metadata leads each row.
    assert_eq!(
        t.column("sample").unwrap().values,
        Column::Text(vec!["s1".into(); 3])
    );
}

#[test]
fn a_margin_erodes_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let input = setup(dir.path(), 40.0);
    // 10 nm = 1 EM px: instance 0 (4 × 8 px) keeps 2 × 6 px → rows 9..11, columns 5..11.
    let (t, _) = run(dir.path(), &input, json!({"margin_nm": 10.0})).unwrap();
    let c14 = f64s(&t, "counts_12C14N");
    let want = 12.0 / 16.0 * n14(2, 1) * 0.5 + 12.0 / 16.0 * n14(2, 2) * 0.5;
    assert!(close(c14[0], want), "{} vs {want}", c14[0]);
}

#[test]
fn mismatches_and_unknown_masses_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = setup(dir.path(), 50.0);
    let e = run(dir.path(), &input, json!({})).unwrap_err();
    assert!(
        e.contains("the transform maps to 50 nm pixels but the ion stack has 40 nm pixels"),
        "{e}"
    );
    let input = setup(dir.path(), 40.0);
    let e = run(dir.path(), &input, json!({"numerator": "13C"})).unwrap_err();
    assert!(e.contains("13C"), "{e}");
    let e = run(dir.path(), &input, json!({"label_ratio": 0.001})).unwrap_err();
    assert!(e.contains("label_ratio"), "{e}");
}
