//! Least-squares landmark fits on noisy points against the Python references: the affine fit
//! against `numpy.linalg.lstsq`, the similarity and projective fits against scikit-image's
//! `SimilarityTransform` (Umeyama) and `ProjectiveTransform` (normalised DLT). Runs where `python3`
//! has numpy (and scikit-image for the latter two); prints `SKIPPED <test>: ...` otherwise.

use corrflow_register::landmarks::{FitOptions, Point, apply, fit};
use corrflow_test_support::{Python, python_has};
use corrflow_types::TransformKind;
use serde_json::Value;

type M3 = [[f64; 3]; 3];

/// Run `script` with the points as JSON in the environment variable `POINTS`; its stdout parsed
/// as JSON. Panics with Python's output when it fails.
fn python_json(test: &str, script: &str, points: &Value) -> Value {
    Python::new(test, script)
        .env("POINTS", points.to_string())
        .run_json()
}

fn matrix(v: &Value) -> M3 {
    std::array::from_fn(|r| std::array::from_fn(|c| v[r][c].as_f64().expect("a number")))
}

/// Deterministic noisy landmarks: `n` EM points over a 2048² image mapped by `m`, plus Gaussian
/// noise of `sigma` target pixels (xorshift64* + Box–Muller).
fn noisy(m: &M3, n: usize, sigma: f64, seed: u64) -> (Vec<Point>, Vec<Point>) {
    let mut s = seed;
    let mut uniform = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut src = Vec::new();
    let mut dst = Vec::new();
    for _ in 0..n {
        let p = [2048.0 * uniform(), 2048.0 * uniform()];
        let q = apply(m, p);
        let mut normal = || {
            let (u, v) = (1.0 - uniform(), uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        };
        let noise = [sigma * normal(), sigma * normal()];
        src.push(p);
        dst.push([q[0] + noise[0], q[1] + noise[1]]);
    }
    (src, dst)
}

/// Largest |entry difference| relative to max(1, |reference entry|), both scaled to M₂₂ = 1.
fn matrix_deviation(a: &M3, reference: &M3) -> f64 {
    let mut d = 0.0f64;
    for r in 0..3 {
        for c in 0..3 {
            let (x, y) = (a[r][c] / a[2][2], reference[r][c] / reference[2][2]);
            d = d.max((x - y).abs() / y.abs().max(1.0));
        }
    }
    d
}

/// Largest distance between the two maps of the source points (target pixels).
fn point_deviation(a: &M3, b: &M3, src: &[Point]) -> f64 {
    src.iter()
        .map(|&p| {
            let (u, v) = (apply(a, p), apply(b, p));
            (u[0] - v[0]).hypot(u[1] - v[1])
        })
        .fold(0.0, f64::max)
}

fn least_squares(src: &[Point], dst: &[Point], kind: TransformKind) -> M3 {
    fit(src, dst, kind, &FitOptions::least_squares())
        .expect("fit")
        .matrix
}

fn compare(test: &str, ours: &M3, reference: &M3, src: &[Point], tol: f64) {
    let dm = matrix_deviation(ours, reference);
    let dp = point_deviation(ours, reference, src);
    println!("{test}: max relative matrix deviation {dm:.3e}, max point deviation {dp:.3e} px");
    assert!(
        dm < tol && dp < tol,
        "{test}: {dm:e} / {dp:e}\nours {ours:?}\nref {reference:?}"
    );
}

fn points_json(src: &[Point], dst: &[Point]) -> Value {
    serde_json::json!({ "src": src, "dst": dst })
}

const AFFINE_SCRIPT: &str = r#"
import json, os, numpy as np
p = json.loads(os.environ["POINTS"])
src, dst = np.array(p["src"]), np.array(p["dst"])
A = np.column_stack([src, np.ones(len(src))])      # rows [x, y, 1]
P, *_ = np.linalg.lstsq(A, dst, rcond=None)         # (3, 2): [x y 1] @ P ~ [X Y]
M = np.vstack([P.T, [0.0, 0.0, 1.0]])
res = np.linalg.norm(A @ P - dst, axis=1)
print(json.dumps({"matrix": M.tolist(), "rms": float(np.sqrt(np.mean(res ** 2)))}))
"#;

#[test]
fn affine_matches_numpy_lstsq() {
    let test = "affine_matches_numpy_lstsq";
    if !python_has(test, &["numpy"]) {
        return;
    }
    let truth = [[0.11, -0.03, 17.0], [0.045, 0.13, 9.5], [0.0, 0.0, 1.0]];
    for (n, sigma, seed) in [(3, 0.0, 1), (5, 0.8, 2), (25, 0.5, 3), (200, 2.0, 4)] {
        let (src, dst) = noisy(&truth, n, sigma, seed);
        let out = python_json(test, AFFINE_SCRIPT, &points_json(&src, &dst));
        let f = fit(
            &src,
            &dst,
            TransformKind::Affine,
            &FitOptions::least_squares(),
        )
        .unwrap();
        let name = format!("affine n={n} sigma={sigma}");
        compare(&name, &f.matrix, &matrix(&out["matrix"]), &src, 1e-9);
        let rms = out["rms"].as_f64().unwrap();
        assert!(
            (f.rms_px - rms).abs() < 1e-9,
            "{name}: rms {} vs {rms}",
            f.rms_px
        );
    }
}

const SKIMAGE_SCRIPT: &str = r#"
import json, os, numpy as np
from skimage import transform as T
p = json.loads(os.environ["POINTS"])
src, dst = np.array(p["src"]), np.array(p["dst"])
out = {}
for name, cls in [("similarity", T.SimilarityTransform), ("projective", T.ProjectiveTransform)]:
    if hasattr(cls, "from_estimate"):
        t = cls.from_estimate(src, dst)
        ok = bool(t)
    else:
        t = cls()
        ok = t.estimate(src, dst)
    assert ok, name
    out[name] = np.asarray(t.params).tolist()
print(json.dumps(out))
"#;

#[test]
fn similarity_and_projective_match_skimage() {
    let test = "similarity_and_projective_match_skimage";
    if !python_has(test, &["numpy", "skimage.transform"]) {
        return;
    }
    let (s, a) = (0.125, 30f64.to_radians());
    let sim = [
        [s * a.cos(), -s * a.sin(), 40.0],
        [s * a.sin(), s * a.cos(), -12.5],
        [0.0, 0.0, 1.0],
    ];
    let proj = [
        [0.12, -0.02, 20.0],
        [0.03, 0.118, 5.0],
        [2e-5, -1.5e-5, 1.0],
    ];
    for (n, sigma, seed) in [(4, 0.0, 5), (6, 0.8, 6), (30, 0.5, 7), (200, 2.0, 8)] {
        for (kind, truth) in [
            (TransformKind::Similarity, sim),
            (TransformKind::Projective, proj),
        ] {
            let (src, dst) = noisy(&truth, n, sigma, seed);
            let out = python_json(test, SKIMAGE_SCRIPT, &points_json(&src, &dst));
            let ours = least_squares(&src, &dst, kind);
            let name = format!("{} n={n} sigma={sigma}", kind.as_str());
            compare(&name, &ours, &matrix(&out[kind.as_str()]), &src, 1e-8);
        }
    }
}
