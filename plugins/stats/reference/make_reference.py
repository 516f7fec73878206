#!/usr/bin/env python3
"""Regenerate scipy_reference.json: the reference values that tests/scipy_reference.rs compares
`stats.compare` against.

    python3 plugins/stats/reference/make_reference.py   # needs numpy and scipy

Each dataset is a list of rows (group, condition, value) and optionally a condition order. The
expected results follow the stage's rules with numpy/scipy doing the arithmetic:

* values that are not finite are left out of everything; per group x condition: n, np.median,
  np.percentile 25/75 (linear), np.mean, np.std(ddof=1);
* per group and pair of conditions (A before B): scipy.stats.mannwhitneyu(a, b,
  alternative='two-sided') (method 'auto'), rank-biserial 1 - 2U/(n_a n_b), median_b/median_a,
  scipy.stats.ttest_ind(log b, log a, equal_var=False) on the values > 0, Hedges' g of log b vs
  log a; a pair with fewer than 2 values on a side gets NaN tests;
* Holm and Benjamini-Hochberg over the non-NaN p-values of each test, exactly as
  statsmodels.stats.multitest.multipletests(method='holm' / 'fdr_bh') computes them (written out
  here because statsmodels may be absent; checked against it when it is present).

In the results NaN is written as null; in the rows a non-finite value is written as a string.
"""

import json
import math
import os

import numpy as np
import scipy
from scipy import stats

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scipy_reference.json")


def holm(p):
    # statsmodels multipletests(method='holm'): sorted p times (m, m-1, ..., 1), running maximum,
    # capped at 1.
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p)
    raw = p[order] * np.arange(m, 0, -1)
    adj = np.maximum.accumulate(raw)
    adj[adj > 1] = 1
    out = np.empty(m)
    out[order] = adj
    return out


def bh(p):
    # statsmodels multipletests(method='fdr_bh'): sorted p divided by i/m, running minimum from the
    # largest, capped at 1.
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p)
    ecdf = np.arange(1, m + 1) / float(m)
    raw = p[order] / ecdf
    adj = np.minimum.accumulate(raw[::-1])[::-1]
    adj[adj > 1] = 1
    out = np.empty(m)
    out[order] = adj
    return out


def adjust_nan(p, f):
    p = np.asarray(p, dtype=float)
    out = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = f(p[ok])
    return out


def summarize(x):
    n = len(x)
    if n == 0:
        return dict(n=0, median=None, q25=None, q75=None, iqr=None, mean=None, sd=None)
    q25, q75 = np.percentile(x, [25, 75])
    return dict(
        n=n,
        median=float(np.median(x)),
        q25=float(q25),
        q75=float(q75),
        iqr=float(q75 - q25),
        mean=float(np.mean(x)),
        sd=float(np.std(x, ddof=1)) if n >= 2 else None,
    )


def hedges_g(la, lb):
    na, nb = len(la), len(lb)
    va, vb = np.var(la, ddof=1), np.var(lb, ddof=1)
    sp = math.sqrt(((na - 1) * va + (nb - 1) * vb) / (na + nb - 2))
    d = (np.mean(lb) - np.mean(la)) / sp
    return d * (1 - 3 / (4 * (na + nb) - 9))


def nan_none(x):
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) else x


def encode(v):
    """A row value: the number, or "nan" / "inf" / "-inf"."""
    return v if math.isfinite(v) else str(v)


def analyze(rows, conditions, alpha=0.05):
    groups = []
    for g, _, _ in rows:
        if g not in groups:
            groups.append(g)
    if conditions is None:
        conditions = []
        for _, c, _ in rows:
            if c not in conditions:
                conditions.append(c)
    vals = {(g, c): [] for g in groups for c in conditions}
    for g, c, v in rows:
        if c in conditions and v is not None and math.isfinite(v):
            vals[(g, c)].append(v)
    summary = []
    for g in groups:
        for c in conditions:
            s = summarize(np.array(vals[(g, c)], dtype=float))
            summary.append(dict(group=g, condition=c, **s))
    tests = []
    for g in groups:
        for i in range(len(conditions)):
            for j in range(i + 1, len(conditions)):
                ca, cb = conditions[i], conditions[j]
                a = np.array(vals[(g, ca)], dtype=float)
                b = np.array(vals[(g, cb)], dtype=float)
                row = dict(group=g, condition_a=ca, condition_b=cb, n_a=len(a), n_b=len(b))
                row["median_a"] = float(np.median(a)) if len(a) else None
                row["median_b"] = float(np.median(b)) if len(b) else None
                ok = len(a) >= 2 and len(b) >= 2
                row["median_ratio"] = row["median_b"] / row["median_a"] if ok else None
                if ok:
                    res = stats.mannwhitneyu(a, b, alternative="two-sided")
                    row["u"] = float(res.statistic)
                    row["p_mannwhitney"] = float(res.pvalue)
                    row["rank_biserial"] = 1 - 2 * float(res.statistic) / (len(a) * len(b))
                else:
                    row["u"] = row["p_mannwhitney"] = row["rank_biserial"] = None
                la, lb = np.log(a[a > 0]), np.log(b[b > 0])
                row["n_log_a"], row["n_log_b"] = len(la), len(lb)
                if ok and len(la) >= 2 and len(lb) >= 2:
                    res = stats.ttest_ind(lb, la, equal_var=False)
                    row["t_welch_log"] = float(res.statistic)
                    row["df_welch"] = float(res.df)
                    row["p_welch"] = float(res.pvalue)
                    row["hedges_g_log"] = float(hedges_g(la, lb))
                else:
                    row["t_welch_log"] = row["df_welch"] = row["p_welch"] = None
                    row["hedges_g_log"] = None
                tests.append(row)
    for test in ["p_mannwhitney", "p_welch"]:
        p = [np.nan if r[test] is None else r[test] for r in tests]
        for name, f in [("holm", holm), ("bh", bh)]:
            adj = adjust_nan(p, f)
            for r, q in zip(tests, adj):
                r[f"{test}_{name}"] = nan_none(q)
                kind = test.removeprefix("p_")
                r[f"significant_{kind}_{name}"] = None if math.isnan(q) else bool(q <= alpha)
            try:
                from statsmodels.stats.multitest import multipletests

                ok = ~np.isnan(p)
                if ok.any():
                    method = {"holm": "holm", "bh": "fdr_bh"}[name]
                    sm = multipletests(np.asarray(p)[ok], method=method)[1]
                    assert np.array_equal(sm, adj[ok]), (sm, adj[ok])
            except ImportError:
                pass
    for r in tests:
        for k, v in r.items():
            if isinstance(v, float):
                r[k] = nan_none(v)
    return summary, tests


def rows_of(**conds):
    """Rows for one group 'g' from condition -> values."""
    return [("g", c, float(v)) for c, vs in conds.items() for v in vs]


def datasets():
    rng = np.random.default_rng(20261125)
    out = []

    def add(name, rows, conditions=None):
        out.append((name, rows, conditions))

    # 1. Exact path, tiny samples (3 vs 4), no ties.
    add("exact_3_vs_4", rows_of(A=[1.2, 0.8, 1.5], B=[2.1, 1.9, 2.6, 1.1]))
    # 2. Exact path, complete separation (5 vs 5): p = 2/252.
    add("exact_separated_5_vs_5", rows_of(A=[1, 2, 3, 4, 5], B=[6, 7, 8, 9, 10]))
    # 3. Exact path with one side small and the other large (8 vs 40).
    a = rng.lognormal(0.0, 0.5, 8)
    b = rng.lognormal(0.3, 0.5, 40)
    add("exact_8_vs_40", rows_of(A=a, B=b))
    # 4. Ties in small samples: asymptotic with tie correction.
    add("ties_small", rows_of(A=[1, 2, 2, 3, 5], B=[2, 3, 3, 4, 6, 6]))
    # 5. Both samples > 8, no ties: asymptotic.
    a = rng.lognormal(0.0, 0.4, 9)
    b = rng.lognormal(0.2, 0.4, 10)
    add("asymptotic_9_vs_10", rows_of(A=a, B=b))
    # 6. Larger samples with unequal variances.
    a = rng.lognormal(0.0, 0.2, 40)
    b = rng.lognormal(0.15, 0.9, 35)
    add("unequal_var_40_vs_35", rows_of(A=a, B=b))
    # 7. Heavy ties (integer counts), 20 vs 25.
    a = rng.poisson(3, 20) + 1
    b = rng.poisson(4, 25) + 1
    add("integer_ties_20_vs_25", rows_of(A=a, B=b))
    # 8. Three classes, two conditions, varied sizes: adjustment across classes.
    rows = []
    for g, (na, nb, shift) in {"mito": (12, 15, 0.5), "er": (6, 7, 0.0), "lipid": (25, 3, 0.2)}.items():
        rows += [(g, "ctrl", float(v)) for v in rng.lognormal(0, 0.5, na)]
        rows += [(g, "treated", float(v)) for v in rng.lognormal(shift, 0.5, nb)]
    rng.shuffle(rows)
    add("three_classes", [tuple(r) for r in rows])
    # 9. Three conditions, two classes: every pair, adjusted over all (class, pair) tests.
    rows = []
    for g in ["mito", "er"]:
        for c, mu, n in [("ctrl", 0.0, 10), ("low", 0.2, 7), ("high", 0.6, 14)]:
            rows += [(g, c, float(v)) for v in np.round(rng.lognormal(mu, 0.4, n), 3)]
    add("three_conditions", rows)
    # 10. The same with the condition order given (high first = reference).
    add("three_conditions_ordered", rows, ["high", "ctrl", "low"])
    # 11. Zeros, negatives, NaN and infinity: left out of the log test / everything.
    a = list(rng.lognormal(0, 0.3, 10)) + [0.0, -0.5, float("nan")]
    b = list(rng.lognormal(0.4, 0.3, 9)) + [0.0, float("inf")]
    add("nonpositive_and_nan", rows_of(A=a, B=b))
    # 12. A class with a single value in one condition: NaN tests for it, the others adjusted.
    rows = rows_of(A=[1.0, 1.3, 0.9, 1.1], B=[1.6, 1.4, 2.0])
    rows += [("rare", "A", 1.0), ("rare", "B", 2.0), ("rare", "B", 3.0)]
    rows += [("other", "A", v) for v in [3.0, 3.5, 2.5]] + [("other", "B", v) for v in [3.1, 2.9, 3.3]]
    add("single_value_class", rows)
    # 13. Identical distributions, ties across samples (U = n1 n2 / 2).
    add("equal_medians_ties", rows_of(A=[1, 2, 3, 4], B=[1, 2, 3, 4]))
    # 14. Exact path 7 vs 8, interleaved.
    a = rng.normal(10, 1, 7)
    b = rng.normal(10.5, 3, 8)
    add("exact_7_vs_8_unequal_var", rows_of(A=np.abs(a), B=np.abs(b)))
    return out


def main():
    data = []
    for name, rows, conditions in datasets():
        summary, tests = analyze(rows, conditions)
        data.append(
            dict(
                name=name,
                conditions=conditions,
                rows=[dict(group=g, condition=c, value=encode(v)) for g, c, v in rows],
                summary=summary,
                tests=tests,
            )
        )
    doc = dict(
        generator="plugins/stats/reference/make_reference.py",
        numpy=np.__version__,
        scipy=scipy.__version__,
        datasets=data,
    )
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1, allow_nan=False)
        f.write("\n")
    print(f"wrote {OUT}: {len(data)} datasets")


if __name__ == "__main__":
    main()
