#!/usr/bin/env python3
"""Agreement of the peer's per-organelle table with corrflow's.

    compare.py CORRFLOW_RESULTS PEER_OUT [--rtol 1e-6]

CORRFLOW_RESULTS: corrflow's results folder (rois.csv, stats.csv); PEER_OUT: the folder
turnover_peer.py wrote. Organelles are matched per sample by class and mask centroid (within
0.5 EM px). Prints per sample the organelles matched and unmatched, and the largest relative
differences of the ratio, its sigma, the counts and the areas; also the p-values of stats.csv.
Exits 1 when the organelle sets differ or a matched ratio differs by more than rtol (relative).
Standard library only.
"""
import argparse
import csv
import math
import os
import sys
from collections import defaultdict


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def rel(a, b):
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isnan(a) or math.isnan(b):
        return math.inf
    if a == b:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corrflow")
    ap.add_argument("peer")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--centroid-px", type=float, default=0.5)
    args = ap.parse_args()
    cf = load(os.path.join(args.corrflow, "rois.csv"))
    pe = load(os.path.join(args.peer, "rois.csv"))
    by = defaultdict(lambda: ([], []))
    for r in cf:
        by[r["sample"]][0].append(r)
    for r in pe:
        by[r["sample"]][1].append(r)
    ok = True
    worst = defaultdict(float)
    cols = ["ratio", "ratio_sigma", "score", "area_um2", "nanosims_px", "covered_area_um2",
            "inside_field",
            "mean_pixel_ratio"] + [c for c in (cf[0].keys() if cf else []) if c.startswith("counts_")]
    total_matched = 0
    for sample in sorted(by):
        a, b = by[sample]
        used = set()
        matched, unmatched = [], []
        for r in a:
            best = None
            for j, q in enumerate(b):
                if j in used or q["class"] != r["class"]:
                    continue
                d = math.hypot(num(r["centroid_x_px"]) - num(q["centroid_x_px"]),
                               num(r["centroid_y_px"]) - num(q["centroid_y_px"]))
                if d <= args.centroid_px and (best is None or d < best[0]):
                    best = (d, j)
            if best is None:
                unmatched.append(r)
            else:
                used.add(best[1])
                matched.append((r, b[best[1]]))
        extra = [q for j, q in enumerate(b) if j not in used]
        sw = defaultdict(float)
        for r, q in matched:
            for c in cols:
                if c in r and c in q:
                    sw[c] = max(sw[c], rel(num(r[c]), num(q[c])))
        for c, v in sw.items():
            worst[c] = max(worst[c], v)
        total_matched += len(matched)
        print(f"{sample}: corrflow {len(a)}, peer {len(b)}, matched {len(matched)}; "
              f"only corrflow {len(unmatched)}, only peer {len(extra)}; "
              f"max rel. diff ratio {sw['ratio']:.3g}, area {sw['area_um2']:.3g}")
        for r in unmatched:
            print(f"  only corrflow: {r['class']} area {r['area_um2']} at "
                  f"({num(r['centroid_x_px']):.1f}, {num(r['centroid_y_px']):.1f})")
        for q in extra:
            print(f"  only peer: {q['class']} area {q['area_um2']} at "
                  f"({num(q['centroid_x_px']):.1f}, {num(q['centroid_y_px']):.1f})")
        if unmatched or extra:
            ok = False
    print(f"all: {total_matched} organelles matched; largest relative differences: " +
          ", ".join(f"{c} {v:.3g}" for c, v in worst.items()))
    if worst["ratio"] > args.rtol:
        print(f"FAIL: a ratio differs by {worst['ratio']:.3g} > {args.rtol:g} (relative)")
        ok = False
    sa, sb = os.path.join(args.corrflow, "stats.csv"), os.path.join(args.peer, "stats.csv")
    if os.path.exists(sa) and os.path.exists(sb):
        qa = {r["group"]: r for r in load(sa)}
        qb = {r["group"]: r for r in load(sb)}
        diffs = defaultdict(float)
        for g in set(qa) & set(qb):
            for c in ("median_a", "median_b", "u", "p_mannwhitney", "p_mannwhitney_holm",
                      "p_mannwhitney_bh", "t_welch_log", "p_welch", "p_welch_holm", "p_welch_bh"):
                if c in qa[g] and c in qb[g]:
                    diffs[c] = max(diffs[c], rel(num(qa[g][c]), num(qb[g][c])))
        print(f"stats: classes corrflow {len(qa)}, peer {len(qb)}, common {len(set(qa) & set(qb))}; "
              "largest relative differences: " + ", ".join(f"{c} {v:.3g}" for c, v in diffs.items()))
    print("agreement: OK" if ok else "agreement: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
