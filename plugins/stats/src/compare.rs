//! The comparison behind `stats.compare`: summaries per group × condition and, per group, tests
//! between every pair of conditions, with p-values adjusted across all tests of a kind.

use crate::adjust::{benjamini_hochberg, holm};
use crate::mann_whitney::mann_whitney_u;
use crate::summary::{Summary, describe, median_sorted, sorted};
use crate::welch::{hedges_g, welch_t};

/// One observation: its group (e.g. the class), its condition and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub group: String,
    pub condition: String,
    pub value: f64,
}

/// How to compare (the names only appear in warnings).
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// The condition order (the first is the reference A of its pairs); `None`: order of first
    /// appearance. Observations of other conditions are left out.
    pub conditions: Option<Vec<String>>,
    /// Level for the `significant_*` flags (adjusted p ≤ alpha).
    pub alpha: f64,
    /// Name of the value (for warnings), e.g. `ratio`.
    pub value_name: String,
    /// Name of the grouping (for warnings), e.g. `class`.
    pub group_name: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            conditions: None,
            alpha: 0.05,
            value_name: "value".into(),
            group_name: "group".into(),
        }
    }
}

/// The summary of one group × condition.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub group: String,
    pub condition: String,
    pub summary: Summary,
}

/// The tests of one group between conditions A and B. Every statistic is NaN when A or B has
/// fewer than 2 values; the log-scale ones also when fewer than 2 are positive.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRow {
    pub group: String,
    pub condition_a: String,
    pub condition_b: String,
    /// Finite values in A and B.
    pub n_a: usize,
    pub n_b: usize,
    /// Medians of A and B (value units).
    pub median_a: f64,
    pub median_b: f64,
    /// median_b / median_a (units of 1).
    pub median_ratio: f64,
    /// Mann–Whitney U₁ of A (pairs with a > b, ties ½), scipy's `mannwhitneyu(a, b)` statistic.
    pub u: f64,
    /// Two-sided Mann–Whitney p-value, unadjusted, Holm- and BH-adjusted.
    pub p_mannwhitney: f64,
    pub p_mannwhitney_holm: f64,
    pub p_mannwhitney_bh: f64,
    /// Rank-biserial correlation r = 1 − 2U₁/(n_a n_b) = P(b > a) − P(a > b) ∈ [−1, 1]:
    /// positive when B tends to be larger than A.
    pub rank_biserial: f64,
    /// Positive values in A and B (those that enter the log-scale statistics).
    pub n_log_a: usize,
    pub n_log_b: usize,
    /// Welch's t of ln B against ln A (scipy `ttest_ind(log b, log a, equal_var=False)`):
    /// positive when B is larger on the log scale.
    pub t_welch_log: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df_welch: f64,
    /// Two-sided Welch p-value, unadjusted, Holm- and BH-adjusted.
    pub p_welch: f64,
    pub p_welch_holm: f64,
    pub p_welch_bh: f64,
    /// Hedges' g of ln B relative to ln A (positive when B is larger).
    pub hedges_g_log: f64,
    /// Adjusted p ≤ alpha; `None` when the p-value is NaN.
    pub significant_mannwhitney_holm: Option<bool>,
    pub significant_mannwhitney_bh: Option<bool>,
    pub significant_welch_holm: Option<bool>,
    pub significant_welch_bh: Option<bool>,
}

/// Everything the comparison found, with its warnings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Comparison {
    /// The conditions in order.
    pub conditions: Vec<String>,
    /// One row per group × condition (groups in order of first appearance).
    pub summary: Vec<SummaryRow>,
    /// One row per group × pair (A before B in condition order).
    pub tests: Vec<TestRow>,
    pub warnings: Vec<String>,
}

/// Index of `name` in `list`, appending it when absent.
fn index_of(list: &mut Vec<String>, name: &str) -> usize {
    match list.iter().position(|x| x == name) {
        Some(i) => i,
        None => {
            list.push(name.to_string());
            list.len() - 1
        }
    }
}

/// Compare the observations.
pub fn compare(observations: &[Observation], opts: &Options) -> Comparison {
    let mut warnings = Vec::new();
    let given = opts.conditions.is_some();
    let mut conditions: Vec<String> = opts.conditions.clone().unwrap_or_default();
    let mut groups: Vec<String> = Vec::new();
    // values[group][condition]
    let mut values: Vec<Vec<Vec<f64>>> = Vec::new();
    let (mut non_finite, mut other_condition) = (0usize, Vec::<String>::new());
    let mut n_other = 0usize;
    for o in observations {
        let g = index_of(&mut groups, &o.group);
        let c = if given {
            match conditions.iter().position(|c| *c == o.condition) {
                Some(c) => c,
                None => {
                    n_other += 1;
                    if !other_condition.contains(&o.condition) {
                        other_condition.push(o.condition.clone());
                    }
                    continue;
                }
            }
        } else {
            index_of(&mut conditions, &o.condition)
        };
        if values.len() < groups.len() {
            values.resize(groups.len(), Vec::new());
        }
        if values[g].len() < conditions.len() {
            values[g].resize(conditions.len(), Vec::new());
        }
        if o.value.is_finite() {
            values[g][c].push(o.value);
        } else {
            non_finite += 1;
        }
    }
    values.resize(groups.len(), Vec::new());
    for v in &mut values {
        v.resize(conditions.len(), Vec::new());
    }
    if non_finite > 0 {
        warnings.push(format!(
            "{non_finite} values of '{}' are NaN or infinite and were left out",
            opts.value_name
        ));
    }
    if n_other > 0 {
        warnings.push(format!(
            "{n_other} rows of conditions not in params.conditions ({}) were left out",
            other_condition.join(", ")
        ));
    }
    for (c, name) in conditions.iter().enumerate() {
        if values.iter().all(|v| v[c].is_empty()) {
            warnings.push(format!("condition '{name}' has no values"));
        }
    }
    if conditions.len() < 2 {
        warnings.push(format!(
            "{} condition(s) ({}): nothing to compare",
            conditions.len(),
            conditions.join(", ")
        ));
    }

    let mut summary = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        for (c, condition) in conditions.iter().enumerate() {
            summary.push(SummaryRow {
                group: group.clone(),
                condition: condition.clone(),
                summary: describe(&values[g][c]),
            });
        }
    }

    let mut tests = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        if conditions.len() < 2 {
            break;
        }
        let logs: Vec<Vec<f64>> = values[g]
            .iter()
            .map(|v| v.iter().filter(|&&x| x > 0.0).map(|x| x.ln()).collect())
            .collect();
        for (c, condition) in conditions.iter().enumerate() {
            let n = values[g][c].len();
            if n < 2 {
                warnings.push(format!(
                    "{} '{group}', condition '{condition}': {n} value(s), fewer than 2: its tests \
                     are NaN",
                    opts.group_name
                ));
                continue;
            }
            let dropped = n - logs[c].len();
            if dropped > 0 {
                let consequence = if logs[c].len() < 2 {
                    "; fewer than 2 remain: its log-scale tests are NaN"
                } else {
                    ""
                };
                warnings.push(format!(
                    "{} '{group}', condition '{condition}': {dropped} of {n} values of '{}' are \
                     ≤ 0 and were left out of the log-scale Welch test and Hedges' g{consequence}",
                    opts.group_name, opts.value_name
                ));
            }
        }
        for a in 0..conditions.len() {
            for b in a + 1..conditions.len() {
                tests.push(test_row(
                    group,
                    (&conditions[a], &values[g][a], &logs[a]),
                    (&conditions[b], &values[g][b], &logs[b]),
                ));
            }
        }
    }
    adjust_all(&mut tests, opts.alpha);
    Comparison {
        conditions,
        summary,
        tests,
        warnings,
    }
}

fn test_row(group: &str, a: (&String, &[f64], &[f64]), b: (&String, &[f64], &[f64])) -> TestRow {
    let (name_a, xa, la) = a;
    let (name_b, xb, lb) = b;
    let median_a = median_sorted(&sorted(xa));
    let median_b = median_sorted(&sorted(xb));
    let ok = xa.len() >= 2 && xb.len() >= 2;
    let nan = f64::NAN;
    let mw = if ok { mann_whitney_u(xa, xb) } else { None };
    let (n1, n2) = (xa.len() as f64, xb.len() as f64);
    let welch = if ok { welch_t(lb, la) } else { None };
    TestRow {
        group: group.to_string(),
        condition_a: name_a.clone(),
        condition_b: name_b.clone(),
        n_a: xa.len(),
        n_b: xb.len(),
        median_a,
        median_b,
        median_ratio: if ok { median_b / median_a } else { nan },
        u: mw.map_or(nan, |m| m.u),
        p_mannwhitney: mw.map_or(nan, |m| m.p),
        p_mannwhitney_holm: nan,
        p_mannwhitney_bh: nan,
        rank_biserial: mw.map_or(nan, |m| 1.0 - 2.0 * m.u / (n1 * n2)),
        n_log_a: la.len(),
        n_log_b: lb.len(),
        t_welch_log: welch.map_or(nan, |w| w.t),
        df_welch: welch.map_or(nan, |w| w.df),
        p_welch: welch.map_or(nan, |w| w.p),
        p_welch_holm: nan,
        p_welch_bh: nan,
        hedges_g_log: if welch.is_some() {
            hedges_g(la, lb)
        } else {
            nan
        },
        significant_mannwhitney_holm: None,
        significant_mannwhitney_bh: None,
        significant_welch_holm: None,
        significant_welch_bh: None,
    }
}

/// Holm and BH across all rows, for each test separately, and the significance flags.
fn adjust_all(tests: &mut [TestRow], alpha: f64) {
    let flag = |p: f64| (!p.is_nan()).then_some(p <= alpha);
    let p_mw: Vec<f64> = tests.iter().map(|t| t.p_mannwhitney).collect();
    let p_w: Vec<f64> = tests.iter().map(|t| t.p_welch).collect();
    let (mw_holm, mw_bh) = (holm(&p_mw), benjamini_hochberg(&p_mw));
    let (w_holm, w_bh) = (holm(&p_w), benjamini_hochberg(&p_w));
    for (i, t) in tests.iter_mut().enumerate() {
        t.p_mannwhitney_holm = mw_holm[i];
        t.p_mannwhitney_bh = mw_bh[i];
        t.p_welch_holm = w_holm[i];
        t.p_welch_bh = w_bh[i];
        t.significant_mannwhitney_holm = flag(mw_holm[i]);
        t.significant_mannwhitney_bh = flag(mw_bh[i]);
        t.significant_welch_holm = flag(w_holm[i]);
        t.significant_welch_bh = flag(w_bh[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(group: &str, condition: &str, values: &[f64]) -> Vec<Observation> {
        values
            .iter()
            .map(|&value| Observation {
                group: group.into(),
                condition: condition.into(),
                value,
            })
            .collect()
    }

    #[test]
    fn two_conditions_by_hand() {
        let mut o = obs("mito", "ctrl", &[1.0, 2.0, 3.0]);
        o.extend(obs("mito", "drug", &[4.0, 6.0, 8.0]));
        let r = compare(&o, &Options::default());
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        assert_eq!(r.conditions, ["ctrl", "drug"]);
        assert_eq!(r.summary.len(), 2);
        assert_eq!(r.summary[1].summary.median, 6.0);
        let t = &r.tests[0];
        assert_eq!(
            (t.condition_a.as_str(), t.condition_b.as_str()),
            ("ctrl", "drug")
        );
        assert_eq!(t.median_ratio, 3.0);
        // Complete separation with A below B: U₁ = 0, r = 1, exact p = 2/20.
        assert_eq!(t.u, 0.0);
        assert_eq!(t.rank_biserial, 1.0);
        assert!((t.p_mannwhitney - 0.1).abs() < 1e-15);
        // One test: adjustment changes nothing.
        assert_eq!(t.p_mannwhitney_holm, t.p_mannwhitney);
        assert_eq!(t.p_mannwhitney_bh, t.p_mannwhitney);
        assert!(t.t_welch_log > 0.0 && t.hedges_g_log > 0.0);
        assert_eq!(t.significant_mannwhitney_holm, Some(false));
    }

    #[test]
    fn small_groups_and_nonpositive_values_warn() {
        let mut o = obs("er", "A", &[1.0]);
        o.extend(obs("er", "B", &[1.0, 2.0]));
        o.extend(obs("mito", "A", &[1.0, 0.0, -1.0, f64::NAN]));
        o.extend(obs("mito", "B", &[1.0, 2.0, 3.0]));
        let opts = Options {
            group_name: "class".into(),
            value_name: "ratio".into(),
            ..Options::default()
        };
        let r = compare(&o, &opts);
        assert_eq!(
            r.warnings,
            [
                "1 values of 'ratio' are NaN or infinite and were left out",
                "class 'er', condition 'A': 1 value(s), fewer than 2: its tests are NaN",
                "class 'mito', condition 'A': 2 of 3 values of 'ratio' are ≤ 0 and were left out \
                 of the log-scale Welch test and Hedges' g; fewer than 2 remain: its log-scale \
                 tests are NaN"
            ]
        );
        let er = &r.tests[0];
        assert!(er.u.is_nan() && er.p_mannwhitney.is_nan() && er.p_welch.is_nan());
        assert!(er.p_mannwhitney_holm.is_nan() && er.significant_welch_bh.is_none());
        let mito = &r.tests[1];
        assert_eq!((mito.n_a, mito.n_log_a), (3, 1));
        assert!(!mito.p_mannwhitney.is_nan());
        assert!(mito.p_welch.is_nan() && mito.hedges_g_log.is_nan());
    }

    #[test]
    fn condition_order_and_unknown_conditions() {
        let mut o = obs("g", "a", &[1.0, 2.0]);
        o.extend(obs("g", "b", &[3.0, 4.0]));
        o.extend(obs("g", "c", &[5.0, 6.0]));
        let opts = Options {
            conditions: Some(vec!["c".into(), "a".into(), "z".into()]),
            ..Options::default()
        };
        let r = compare(&o, &opts);
        assert_eq!(r.conditions, ["c", "a", "z"]);
        let pairs: Vec<(String, String)> = r
            .tests
            .iter()
            .map(|t| (t.condition_a.clone(), t.condition_b.clone()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("c".into(), "a".into()),
                ("c".into(), "z".into()),
                ("a".into(), "z".into())
            ]
        );
        assert_eq!(
            r.warnings,
            [
                "2 rows of conditions not in params.conditions (b) were left out",
                "condition 'z' has no values",
                "group 'g', condition 'z': 0 value(s), fewer than 2: its tests are NaN"
            ]
        );
        // Only one condition: nothing to compare, no panic.
        let r = compare(&obs("g", "a", &[1.0, 2.0]), &Options::default());
        assert!(r.tests.is_empty());
        assert_eq!(r.warnings, ["1 condition(s) (a): nothing to compare"]);
        assert!(compare(&[], &Options::default()).summary.is_empty());
    }
}
