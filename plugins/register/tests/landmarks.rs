//! Landmark fits: exact recovery, RANSAC with gross outliers, degenerate inputs, CSV errors.

use corrflow_register::landmarks::{
    FitOptions, LandmarkError, Point, Ransac, apply, fit, min_points, read_landmarks_csv, split,
};
use corrflow_types::TransformKind;

type M3 = [[f64; 3]; 3];

const SIM: TransformKind = TransformKind::Similarity;
const AFF: TransformKind = TransformKind::Affine;
const PROJ: TransformKind = TransformKind::Projective;

/// EM (5 nm/px, 2048² image) → NanoSIMS (40 nm/px): scale 1/8, rotated 30°, shifted.
fn similarity_truth() -> M3 {
    let (s, a) = (0.125, 30f64.to_radians());
    [
        [s * a.cos(), -s * a.sin(), 40.0],
        [s * a.sin(), s * a.cos(), -12.5],
        [0.0, 0.0, 1.0],
    ]
}

fn affine_truth() -> M3 {
    [[0.11, -0.03, 17.0], [0.045, 0.13, 9.5], [0.0, 0.0, 1.0]]
}

fn projective_truth() -> M3 {
    [
        [0.12, -0.02, 20.0],
        [0.03, 0.118, 5.0],
        [2e-5, -1.5e-5, 1.0],
    ]
}

fn truth(kind: TransformKind) -> M3 {
    match kind {
        TransformKind::Similarity => similarity_truth(),
        TransformKind::Affine => affine_truth(),
        TransformKind::Projective => projective_truth(),
    }
}

/// A deterministic generator for test data (xorshift64*, uniform in [0, 1)).
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(&mut self) -> f64 {
        let u = 1.0 - self.uniform();
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` EM points scattered over a 2048×2048 image.
fn scattered(n: usize, seed: u64) -> Vec<Point> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| [2048.0 * rng.uniform(), 2048.0 * rng.uniform()])
        .collect()
}

fn mapped(m: &M3, src: &[Point]) -> Vec<Point> {
    src.iter().map(|&p| apply(m, p)).collect()
}

/// Largest |entry difference| after scaling both to M₂₂ = 1, relative to max(1, |entry|).
fn matrix_deviation(a: &M3, b: &M3) -> f64 {
    let mut d = 0.0f64;
    for r in 0..3 {
        for c in 0..3 {
            let (x, y) = (a[r][c] / a[2][2], b[r][c] / b[2][2]);
            d = d.max((x - y).abs() / y.abs().max(1.0));
        }
    }
    d
}

fn max_point_deviation(a: &M3, b: &M3, pts: &[Point]) -> f64 {
    pts.iter()
        .map(|&p| {
            let (u, v) = (apply(a, p), apply(b, p));
            (u[0] - v[0]).hypot(u[1] - v[1])
        })
        .fold(0.0, f64::max)
}

fn all_kinds() -> [TransformKind; 3] {
    [SIM, AFF, PROJ]
}

#[test]
fn exact_points_recover_the_matrix() {
    for kind in all_kinds() {
        let m = truth(kind);
        for n in [min_points(kind), 12] {
            let src = scattered(n, 7 + n as u64);
            let dst = mapped(&m, &src);
            for opts in [FitOptions::least_squares(), FitOptions::default()] {
                let f = fit(&src, &dst, kind, &opts).unwrap();
                let dev = matrix_deviation(&f.matrix, &m);
                assert!(dev < 1e-9, "{kind:?} n={n}: matrix deviation {dev:e}");
                let worst = f.residuals_px.iter().fold(0.0, |a: f64, &b| a.max(b));
                assert!(worst <= 1e-9, "{kind:?} n={n}: residual {worst:e}");
                assert!(f.rms_px <= 1e-9);
                assert_eq!(f.inliers, vec![true; n]);
                assert_eq!(f.ransac, opts.ransac.is_some() && n > min_points(kind));
                assert_eq!(f.kind, kind);
                if kind != PROJ {
                    assert_eq!(f.matrix[2], [0.0, 0.0, 1.0]);
                }
            }
        }
    }
}

#[test]
fn similarity_is_never_a_reflection_and_has_exact_structure() {
    // Mirrored targets: the best similarity is a rotation/scale, never det < 0.
    let src = scattered(10, 3);
    let dst: Vec<Point> = src.iter().map(|p| [p[0] * 0.1, -p[1] * 0.1]).collect();
    let f = fit(&src, &dst, SIM, &FitOptions::least_squares()).unwrap();
    let m = f.matrix;
    assert_eq!(m[0][0], m[1][1]);
    assert_eq!(m[0][1], -m[1][0]);
    assert!(m[0][0] * m[1][1] - m[0][1] * m[1][0] > 0.0);
    f.to_transform("em", 5.0, "nanosims", 40.0).unwrap();
}

#[test]
fn residuals_in_nm_and_the_transform() {
    let src = scattered(8, 11);
    let mut dst = mapped(&similarity_truth(), &src);
    dst[3][0] += 0.5;
    let f = fit(&src, &dst, SIM, &FitOptions::least_squares()).unwrap();
    let nm = f.residuals_nm(40.0).unwrap();
    for (a, b) in nm.iter().zip(&f.residuals_px) {
        assert_eq!(*a, b * 40.0);
    }
    let expect_rms =
        (f.residuals_px.iter().map(|r| r * r).sum::<f64>() / f.residuals_px.len() as f64).sqrt();
    assert!((f.rms_px - expect_rms).abs() < 1e-15);
    assert!(f.residuals_px[3] > 0.3);
    let t = f.to_transform("em", 5.0, "nanosims", 40.0).unwrap();
    assert_eq!(t.method, "landmarks");
    assert_eq!(t.kind, SIM);
    assert_eq!(t.matrix, f.matrix);
    assert_eq!(t.rms_nm, f.rms_px * 40.0);
    assert!(t.confidence.is_nan());
    assert!(matches!(
        f.residuals_nm(f64::NAN),
        Err(LandmarkError::Options(_))
    ));
    assert!(f.to_transform("em", 5.0, "nanosims", 0.0).is_err());
}

/// 40 points, 12 (30 %) of them moved by 15–100 px; the rest with 0.3 px noise.
fn with_outliers(kind: TransformKind, seed: u64) -> (Vec<Point>, Vec<Point>, Vec<bool>) {
    let m = truth(kind);
    let src = scattered(40, seed);
    let mut rng = Rng(seed ^ 0xABCD);
    let mut truth_inliers = vec![true; 40];
    let dst = src
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            let q = apply(&m, p);
            if i % 10 < 3 {
                truth_inliers[i] = false;
                let (r, a) = (
                    15.0 + 85.0 * rng.uniform(),
                    std::f64::consts::TAU * rng.uniform(),
                );
                [q[0] + r * a.cos(), q[1] + r * a.sin()]
            } else {
                [q[0] + 0.3 * rng.normal(), q[1] + 0.3 * rng.normal()]
            }
        })
        .collect();
    (src, dst, truth_inliers)
}

#[test]
fn ransac_recovers_the_transform_with_30_percent_outliers() {
    for kind in all_kinds() {
        let (src, dst, truth_inliers) = with_outliers(kind, 21);
        let f = fit(&src, &dst, kind, &FitOptions::default()).unwrap();
        assert!(f.ransac);
        assert_eq!(f.inliers, truth_inliers, "{kind:?}");
        let grid = scattered(50, 99);
        let dev = max_point_deviation(&f.matrix, &truth(kind), &grid);
        assert!(dev < 0.5, "{kind:?}: {dev} px from the truth");
        assert!(f.rms_px < 0.6, "{kind:?}: rms {}", f.rms_px);
        // The final fit is the least-squares fit on the inliers.
        let (s, d): (Vec<Point>, Vec<Point>) = (0..40)
            .filter(|&i| truth_inliers[i])
            .map(|i| (src[i], dst[i]))
            .unzip();
        let ls = fit(&s, &d, kind, &FitOptions::least_squares()).unwrap();
        assert!(matrix_deviation(&ls.matrix, &f.matrix) < 1e-12);
        // Deterministic.
        assert_eq!(fit(&src, &dst, kind, &FitOptions::default()).unwrap(), f);
        // Without RANSAC the outliers pull the fit away.
        let plain = fit(&src, &dst, kind, &FitOptions::least_squares()).unwrap();
        assert!(!plain.ransac && plain.inliers.iter().all(|&b| b));
        assert!(plain.rms_px > 5.0, "{kind:?}: {}", plain.rms_px);
        let t = f.to_transform("em", 5.0, "nanosims", 40.0).unwrap();
        assert_eq!(t.method, "landmarks_ransac");
    }
}

#[test]
fn ransac_seeds_and_no_consensus() {
    let (src, dst, truth_inliers) = with_outliers(AFF, 5);
    for seed in [1, 2, 3] {
        let opts = FitOptions {
            ransac: Some(Ransac {
                seed,
                ..Ransac::default()
            }),
        };
        assert_eq!(fit(&src, &dst, AFF, &opts).unwrap().inliers, truth_inliers);
    }
    // Random targets: no 4 points agree within 1e-6 px.
    let noise: Vec<Point> = scattered(12, 77).iter().map(|p| [p[1], p[0]]).collect();
    let src = scattered(12, 78);
    let opts = FitOptions {
        ransac: Some(Ransac {
            threshold_px: 1e-6,
            max_iterations: 50,
            ..Ransac::default()
        }),
    };
    let e = fit(&src, &noise, PROJ, &opts).unwrap_err();
    assert!(
        matches!(
            e,
            LandmarkError::NoConsensus {
                tried: 50,
                best: 4,
                need: 5,
                ..
            }
        ),
        "{e}"
    );
}

fn degenerate_reason(r: Result<impl std::fmt::Debug, LandmarkError>) -> String {
    match r {
        Err(LandmarkError::Degenerate { reason, .. }) => reason,
        other => panic!("expected a degenerate error, got {other:?}"),
    }
}

#[test]
fn degenerate_inputs_are_errors() {
    let ls = FitOptions::least_squares();
    let on_line: Vec<Point> = (0..6)
        .map(|i| [10.0 * i as f64, 3.0 + 5.0 * i as f64])
        .collect();
    let spot = [[100.0, 200.0]; 5];
    let good = scattered(6, 1);
    for kind in all_kinds() {
        let r = degenerate_reason(fit(&spot, &good[..5], kind, &ls));
        assert_eq!(r, "the source points coincide", "{kind:?}");
        // Coinciding targets give a singular (zero) map.
        let r = degenerate_reason(fit(&good, &[[1.0, 1.0]; 6], kind, &ls));
        if kind == PROJ {
            assert_eq!(r, "the target points coincide");
        } else {
            assert!(
                r.starts_with("the fitted matrix is singular"),
                "{kind:?}: {r}"
            );
        }
    }
    for kind in [AFF, PROJ] {
        for n in [min_points(kind), 6] {
            let r = degenerate_reason(fit(&on_line[..n], &good[..n], kind, &ls));
            assert_eq!(r, "the source points are collinear", "{kind:?} n={n}");
        }
        // Collinear targets: singular.
        let r = degenerate_reason(fit(&good, &on_line, kind, &FitOptions::default()));
        assert!(!r.is_empty());
    }
    // Two points of a similarity on one spot.
    let r = degenerate_reason(fit(
        &[[1.0, 2.0], [1.0, 2.0]],
        &[[0.0, 0.0], [1.0, 1.0]],
        SIM,
        &ls,
    ));
    assert_eq!(r, "the source points coincide");
    // Three of four projective points on a line.
    let src = [[0.0, 0.0], [10.0, 10.0], [20.0, 20.0], [0.0, 30.0]];
    let dst = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let r = degenerate_reason(fit(&src, &dst, PROJ, &ls));
    assert_eq!(r, "source points 0, 1 and 2 are collinear");
    let r = degenerate_reason(fit(&dst, &src, PROJ, &ls));
    assert_eq!(r, "target points 0, 1 and 2 are collinear");
    let e = fit(&src, &dst, PROJ, &ls).unwrap_err().to_string();
    assert_eq!(
        e,
        "degenerate landmarks for a projective fit: source points 0, 1 and 2 are collinear"
    );
}

#[test]
fn bad_inputs_are_errors() {
    let ls = FitOptions::least_squares();
    let p = scattered(5, 2);
    let e = fit(&p[..3], &p[..3], PROJ, &ls).unwrap_err();
    assert_eq!(
        e.to_string(),
        "a projective fit needs at least 4 landmark pairs, got 3"
    );
    let e = fit(&p[..1], &p[..1], SIM, &ls).unwrap_err();
    assert!(matches!(
        e,
        LandmarkError::TooFewPoints {
            need: 2,
            got: 1,
            ..
        }
    ));
    let e = fit(&p[..4], &p[..3], AFF, &ls).unwrap_err();
    assert_eq!(
        e.to_string(),
        "4 source points but 3 target points: landmarks come in pairs"
    );
    let mut q = p.clone();
    q[2][1] = f64::NAN;
    let e = fit(&p, &q, AFF, &ls).unwrap_err();
    assert!(
        matches!(e, LandmarkError::NonFinite { index: 2, .. }),
        "{e}"
    );
    let mut q = p.clone();
    q[4][0] = f64::INFINITY;
    assert!(fit(&q, &p, SIM, &ls).is_err());
    for bad in [
        Ransac {
            threshold_px: 0.0,
            ..Ransac::default()
        },
        Ransac {
            threshold_px: f64::NAN,
            ..Ransac::default()
        },
        Ransac {
            max_iterations: 0,
            ..Ransac::default()
        },
        Ransac {
            confidence: 1.0,
            ..Ransac::default()
        },
    ] {
        let e = fit(&p, &p, AFF, &FitOptions { ransac: Some(bad) }).unwrap_err();
        assert!(matches!(e, LandmarkError::Options(_)), "{e}");
    }
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn csv_reads_landmarks() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        &dir,
        "l.csv",
        "\u{feff}# clicked in Fiji\nName, EM_X,em_y,nanosims_x,nanosims_y,comment\r\n\
         a,10,20.5,1.25,2.5,first\n\n\"b\",\"30\",40,3,4e0,\nc,-1,0,0,0,x\n",
    );
    let l = read_landmarks_csv(&p).unwrap();
    assert_eq!(l.len(), 3);
    assert_eq!(l[0].name.as_deref(), Some("a"));
    assert_eq!(
        (l[0].line, l[0].src, l[0].dst),
        (3, [10.0, 20.5], [1.25, 2.5])
    );
    assert_eq!((l[1].name.as_deref(), l[1].line), (Some("b"), 5));
    assert_eq!((l[1].src, l[1].dst), ([30.0, 40.0], [3.0, 4.0]));
    let (s, d) = split(&l);
    assert_eq!(s[2], [-1.0, 0.0]);
    assert_eq!(d[2], [0.0, 0.0]);
    // No name column.
    let p = write(
        &dir,
        "n.csv",
        "nanosims_y,nanosims_x,em_y,em_x\n1,2,3,4\n5,6,7,8\n",
    );
    let l = read_landmarks_csv(&p).unwrap();
    assert_eq!(
        (l[0].name.clone(), l[0].src, l[0].dst),
        (None, [4.0, 3.0], [2.0, 1.0])
    );
}

fn csv_error(dir: &tempfile::TempDir, text: &str) -> String {
    let p = write(dir, "bad.csv", text);
    let e = read_landmarks_csv(&p).unwrap_err().to_string();
    let prefix = format!("{}", p.display());
    assert!(e.starts_with(&prefix), "{e}");
    e[prefix.len()..].to_string()
}

#[test]
fn csv_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let h = "em_x,em_y,nanosims_x,nanosims_y\n";
    assert_eq!(
        csv_error(&dir, &format!("{h}1,2,3,4\n5,x,7,8\n")),
        ":3: em_y 'x' is not a number"
    );
    assert_eq!(
        csv_error(&dir, &format!("{h}1,2,3,4\n\n5,6,NaN,8\n")),
        ":4: nanosims_x is NaN; coordinates must be finite"
    );
    assert_eq!(
        csv_error(&dir, &format!("{h}1,2,3,4\n5,6,7\n")),
        ":3: expected 4 cells as in the header, got 3"
    );
    assert_eq!(
        csv_error(&dir, &format!("{h}1,2,3,4\n")),
        ": 1 landmark rows, need at least 2"
    );
    assert_eq!(
        csv_error(&dir, "# only a comment\n"),
        ":1: no header line (expected the columns em_x, em_y, nanosims_x, nanosims_y)"
    );
    assert_eq!(
        csv_error(&dir, "x,em_y,nanosims_x,nanosims_y\n1,2,3,4\n"),
        ":1: header has no column 'em_x' (expected em_x, em_y, nanosims_x, nanosims_y, optional \
         name; found: x, em_y, nanosims_x, nanosims_y)"
    );
    assert_eq!(
        csv_error(&dir, "em_x,em_x,em_y,nanosims_x,nanosims_y\n"),
        ":1: column 'em_x' appears 2 times in the header"
    );
    assert_eq!(
        csv_error(
            &dir,
            "name,em_x,em_y,nanosims_x,nanosims_y\nA,1,2,3,4\nA,5,6,7,8\n"
        ),
        ":3: landmark name repeats 'A' (line 2)"
    );
    let missing = dir.path().join("nope.csv");
    let e = read_landmarks_csv(&missing).unwrap_err();
    assert!(matches!(e, LandmarkError::Io { .. }));
    assert!(
        e.to_string()
            .starts_with(&format!("{}: ", missing.display()))
    );
}

#[test]
fn far_from_the_origin_is_well_conditioned() {
    // A tile 80 000 px into a stitched EM montage; targets shifted to match.
    let src: Vec<Point> = scattered(9, 31)
        .iter()
        .map(|p| [p[0] + 8e4, p[1] + 6e4])
        .collect();
    for kind in all_kinds() {
        let mut m = truth(kind);
        m[0][2] -= 0.12 * 8e4;
        m[1][2] -= 0.12 * 6e4;
        if kind == PROJ {
            m[2] = [2e-8, -1e-8, 1.0];
        }
        let dst = mapped(&m, &src);
        let f = fit(&src, &dst, kind, &FitOptions::least_squares()).unwrap();
        let dev = max_point_deviation(&f.matrix, &m, &src);
        assert!(dev < 1e-7, "{kind:?}: {dev:e} px");
        assert!(f.rms_px < 1e-7, "{kind:?}: {:e}", f.rms_px);
    }
}
