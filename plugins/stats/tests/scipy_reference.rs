//! `stats.compare`'s numbers against numpy / scipy / statsmodels-equivalent values, stored in
//! `reference/scipy_reference.json` (regenerate with `reference/make_reference.py`): 14 datasets
//! covering the exact and asymptotic Mann–Whitney paths, ties, n = 1..40, unequal variances,
//! non-positive and non-finite values, several classes and three conditions.

use corrflow_stats::compare::{Observation, Options, compare};
use serde_json::Value;

/// Relative tolerance for everything computed with elementary arithmetic and the normal CDF.
const TOL: f64 = 1e-12;
/// Relative tolerance for p-values from Student's t CDF (statrs' regularized incomplete beta
/// against scipy's `stdtr`).
const TOL_T_CDF: f64 = 1e-11;

fn reference() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/reference/scipy_reference.json"
    );
    let text = std::fs::read_to_string(path).expect("reference JSON");
    serde_json::from_str(&text).expect("valid JSON")
}

fn row_value(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().expect("a number"),
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("unexpected value {other:?}"),
        },
        other => panic!("unexpected value {other:?}"),
    }
}

/// The expected number (null = NaN).
fn expected(v: &Value, key: &str) -> f64 {
    match &v[key] {
        Value::Null => f64::NAN,
        x => x.as_f64().unwrap_or_else(|| panic!("{key}: {x:?}")),
    }
}

/// Relative difference (0 when both are NaN or equal; infinite when only one is NaN).
fn rel_diff(got: f64, want: f64) -> f64 {
    if got.is_nan() && want.is_nan() || got == want {
        return 0.0;
    }
    if got.is_nan() || want.is_nan() {
        return f64::INFINITY;
    }
    (got - want).abs() / got.abs().max(want.abs())
}

#[derive(Default)]
struct Worst {
    /// (relative difference, what) per tolerance class.
    exact: (f64, String),
    t_cdf: (f64, String),
}

impl Worst {
    fn check(&mut self, what: String, got: f64, want: f64, t_cdf: bool) {
        let d = rel_diff(got, want);
        let (slot, tol) = if t_cdf {
            (&mut self.t_cdf, TOL_T_CDF)
        } else {
            (&mut self.exact, TOL)
        };
        assert!(
            d <= tol,
            "{what}: got {got:e}, scipy {want:e} (relative difference {d:e})"
        );
        if d > slot.0 {
            *slot = (d, what);
        }
    }
}

#[test]
fn matches_scipy_and_statsmodels() {
    let doc = reference();
    let datasets = doc["datasets"].as_array().expect("datasets");
    assert!(datasets.len() >= 10);
    let mut worst = Worst::default();
    let mut exact_mwu = 0;
    for ds in datasets {
        let name = ds["name"].as_str().unwrap_or_default();
        let observations: Vec<Observation> = ds["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| Observation {
                group: r["group"].as_str().expect("group").into(),
                condition: r["condition"].as_str().expect("condition").into(),
                value: row_value(&r["value"]),
            })
            .collect();
        let conditions = ds["conditions"].as_array().map(|c| {
            c.iter()
                .map(|x| x.as_str().expect("condition").to_string())
                .collect()
        });
        let r = compare(
            &observations,
            &Options {
                conditions,
                ..Options::default()
            },
        );

        let summary = ds["summary"].as_array().expect("summary");
        assert_eq!(r.summary.len(), summary.len(), "{name}: summary rows");
        for (got, want) in r.summary.iter().zip(summary) {
            let at = format!("{name} summary {}/{}", got.group, got.condition);
            assert_eq!(
                got.group,
                want["group"].as_str().unwrap_or_default(),
                "{at}"
            );
            assert_eq!(
                got.condition,
                want["condition"].as_str().unwrap_or_default(),
                "{at}"
            );
            assert_eq!(
                got.summary.n as u64,
                want["n"].as_u64().unwrap_or(0),
                "{at}"
            );
            let s = &got.summary;
            for (key, v) in [
                ("median", s.median),
                ("q25", s.q25),
                ("q75", s.q75),
                ("iqr", s.iqr),
                ("mean", s.mean),
                ("sd", s.sd),
            ] {
                worst.check(format!("{at} {key}"), v, expected(want, key), false);
            }
        }

        let tests = ds["tests"].as_array().expect("tests");
        assert_eq!(r.tests.len(), tests.len(), "{name}: test rows");
        for (got, want) in r.tests.iter().zip(tests) {
            let at = format!(
                "{name} {} {} vs {}",
                got.group, got.condition_a, got.condition_b
            );
            assert_eq!(
                got.group,
                want["group"].as_str().unwrap_or_default(),
                "{at}"
            );
            assert_eq!(
                got.condition_a,
                want["condition_a"].as_str().unwrap_or_default()
            );
            assert_eq!(
                got.condition_b,
                want["condition_b"].as_str().unwrap_or_default()
            );
            for (key, n) in [
                ("n_a", got.n_a),
                ("n_b", got.n_b),
                ("n_log_a", got.n_log_a),
                ("n_log_b", got.n_log_b),
            ] {
                assert_eq!(
                    n as u64,
                    want[key].as_u64().unwrap_or(u64::MAX),
                    "{at} {key}"
                );
            }
            let (na, nb) = (got.n_a, got.n_b);
            if na >= 2 && nb >= 2 && (na <= 8 || nb <= 8) {
                exact_mwu += 1;
            }
            for (key, v, t_cdf) in [
                ("median_a", got.median_a, false),
                ("median_b", got.median_b, false),
                ("median_ratio", got.median_ratio, false),
                ("u", got.u, false),
                ("p_mannwhitney", got.p_mannwhitney, false),
                ("p_mannwhitney_holm", got.p_mannwhitney_holm, false),
                ("p_mannwhitney_bh", got.p_mannwhitney_bh, false),
                ("rank_biserial", got.rank_biserial, false),
                ("t_welch_log", got.t_welch_log, false),
                ("df_welch", got.df_welch, false),
                ("p_welch", got.p_welch, true),
                ("p_welch_holm", got.p_welch_holm, true),
                ("p_welch_bh", got.p_welch_bh, true),
                ("hedges_g_log", got.hedges_g_log, false),
            ] {
                worst.check(format!("{at} {key}"), v, expected(want, key), t_cdf);
            }
            for (key, flag) in [
                (
                    "significant_mannwhitney_holm",
                    got.significant_mannwhitney_holm,
                ),
                ("significant_mannwhitney_bh", got.significant_mannwhitney_bh),
                ("significant_welch_holm", got.significant_welch_holm),
                ("significant_welch_bh", got.significant_welch_bh),
            ] {
                assert_eq!(flag, want[key].as_bool(), "{at} {key}");
            }
        }
    }
    assert!(exact_mwu >= 3, "too few tests on the exact path");
    println!(
        "max relative difference from scipy: {:e} ({}); p-values from the t CDF: {:e} ({})",
        worst.exact.0, worst.exact.1, worst.t_cdf.0, worst.t_cdf.1
    );
}
