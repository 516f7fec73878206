"""Accuracy of the turnover pipeline against the synthetic truth (run by bench/turnover/run).

For each variant (turnover = YOLO + automatic registration, manual-masks = truth masks + landmark
registration), every measured organelle is matched to the true organelle it overlaps most in the
truth label image (intersection over union >= 0.5 counts as a match), and its measured
12C15N/12C14N ratio of sums is compared with the ratio the synthesis drew for it.

Usage: accuracy.py WORK_DIR N_SAMPLES   (prints Markdown)
"""

import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import tifffile

W = Path(sys.argv[1])
N = int(sys.argv[2])
VARIANTS = {"turnover": "YOLO + register.auto", "manual-masks": "truth masks + register.landmarks"}
COUNTS_MIN = 1e4


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(v):
    return float(v) if v not in ("", None) else float("nan")


samples = read_csv(W / "study" / "samples.csv")
truth = {}
labels = {}
for s in samples:
    sid = s["id"]
    truth[sid] = json.loads((W / "study" / "truth" / f"{sid}.json").read_text())
    labels[sid] = tifffile.imread(W / "study" / "truth" / f"{sid}_labels.tif")

times = dict(line.split() for line in (W / "times.txt").read_text().splitlines())


def matched_rows(variant):
    """Rows of the variant's organelles with their true organelle (or None) and IoU."""
    out = []
    res = W / f"results-{variant}"
    for s in samples:
        sid = s["id"]
        t = truth[sid]
        true_by_id = {o["id"]: o for o in t["organelles"]}
        lab = labels[sid]
        true_area = np.bincount(lab.ravel())
        pred = tifffile.imread(res / sid / "organelles.labels.tif")
        for r in read_csv(res / sid / "quant.csv"):
            k = int(r["instance"]) + 1
            m = pred == k
            area = int(m.sum())
            under = lab[m]
            under = under[under > 0]
            match, iou = None, 0.0
            if under.size:
                ids, cnt = np.unique(under, return_counts=True)
                j = int(np.argmax(cnt))
                tid, inter = int(ids[j]), int(cnt[j])
                iou = inter / (area + int(true_area[tid]) - inter)
                if iou >= 0.5:
                    match = true_by_id.get(tid)
            out.append(
                {
                    "sample": sid,
                    "condition": t["condition"],
                    "class": r["class"],
                    "ratio": num(r["ratio"]),
                    "sigma": num(r["ratio_sigma"]),
                    "n14": num(r["counts_12C14N"]),
                    "truth": match,
                    "iou": iou,
                }
            )
    return out


def fmt(x, d=3):
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{d}f}"


def accuracy_table(rows):
    ok = [r for r in rows if r["truth"] and np.isfinite(r["ratio"])]
    lines = [
        "| class | measured | matched (IoU ≥ 0.5) | ≥ 1e4 ¹⁴N counts | median abs. rel. error, all / ≥ 1e4 | median rel. error (bias), ≥ 1e4 | within 2σ, ≥ 1e4 |",
        "|---|---|---|---|---|---|---|",
    ]
    by_class = defaultdict(list)
    for r in rows:
        by_class[r["class"]].append(r)
    summary = {}
    for cls in sorted(by_class) + ["all"]:
        rs = rows if cls == "all" else by_class[cls]
        m = [r for r in rs if r["truth"] and np.isfinite(r["ratio"])]
        big = [r for r in m if r["n14"] >= COUNTS_MIN]
        rel = lambda rr: np.array([(r["ratio"] - r["truth"]["ratio_15N_14N"]) / r["truth"]["ratio_15N_14N"] for r in rr])
        within = lambda rr: np.mean([abs(r["ratio"] - r["truth"]["ratio_15N_14N"]) <= 2 * r["sigma"] for r in rr]) if rr else float("nan")
        med_all = float(np.median(np.abs(rel(m)))) * 100 if m else float("nan")
        med_big = float(np.median(np.abs(rel(big)))) * 100 if big else float("nan")
        bias_big = float(np.median(rel(big))) * 100 if big else float("nan")
        w = within(big) * 100
        summary[cls] = (med_big, w, len(big))
        lines.append(
            f"| {cls} | {len(rs)} | {len(m)} | {len(big)} | {fmt(med_all, 2)} % / {fmt(med_big, 2)} % | {fmt(bias_big, 2)} % | {fmt(w, 0)} % |"
        )
    return "\n".join(lines), summary, ok


print(f"# End-to-end accuracy on a synthetic study ({N} cells)\n")
print(
    "Study: `corrflow synth --samples %d --seed 77 --config pipelines/study.synth.yaml` "
    "(2048² EM at 8 nm/px, 256² NanoSIMS at 40–60 nm/px, 5 planes, beam σ 50 nm, drift, dead time). "
    "A measured organelle is matched to the true organelle it overlaps most (IoU ≥ 0.5); its ratio "
    "of sums is compared with the ratio the synthesis drew for it. σ is the Poisson 1σ that "
    "quantify.ratio reports.\n" % N
)
print("Wall time (2 cores, cold cache, all stages incl. reading and exports):\n")
print("| step | total | per cell |\n|---|---|---|")
print(f"| synthesis (not part of an analysis) | {float(times['synth']):.1f} s | {float(times['synth'])/N:.2f} s |")
for v, desc in VARIANTS.items():
    print(f"| `{v}.yaml` ({desc}) | {float(times[v]):.1f} s | {float(times[v])/N:.2f} s |")
print()

results = {}
for v, desc in VARIANTS.items():
    rows = matched_rows(v)
    table, summary, ok = accuracy_table(rows)
    results[v] = (rows, ok)
    print(f"## `{v}.yaml`: {desc}\n")
    print(table)
    print()

# Agreement between the YOLO path and the truth-mask path on the same true organelles.
yolo = {(r["sample"], r["truth"]["id"]): r for r in results["turnover"][1]}
man = {(r["sample"], r["truth"]["id"]): r for r in results["manual-masks"][1]}
common = sorted(set(yolo) & set(man))
print("## Agreement: YOLO path vs truth-mask path (Bland–Altman)\n")
if common:
    a = np.array([yolo[k]["ratio"] for k in common])
    b = np.array([man[k]["ratio"] for k in common])
    d = (a - b) / ((a + b) / 2) * 100
    big = np.array([min(yolo[k]["n14"], man[k]["n14"]) >= COUNTS_MIN for k in common])
    print("| organelles | n | bias (YOLO − truth masks) | 95 % limits of agreement |\n|---|---|---|---|")
    for name, sel in [("all matched in both", np.ones_like(big)), ("≥ 1e4 ¹⁴N counts", big)]:
        dd = d[sel.astype(bool)]
        if dd.size > 1:
            sd = dd.std(ddof=1)
            print(f"| {name} | {dd.size} | {dd.mean():+.2f} % | {dd.mean() - 1.96 * sd:+.2f} % to {dd.mean() + 1.96 * sd:+.2f} % |")
    print("\n(differences relative to the pair's mean ratio)\n")
else:
    print("no organelle was matched in both paths\n")

# Does each path find the true condition difference with the right sign?
print("## Condition difference per class (neuron vs hNPC)\n")
true_by = defaultdict(lambda: defaultdict(list))
for s in samples:
    t = truth[s["id"]]
    for o in t["organelles"]:
        true_by[o["class"]][t["condition"]].append(o["ratio_15N_14N"])
print("| class | truth: median neuron / hNPC | " + " | ".join(f"`{v}`: median ratio, p (MWU, BH)" for v in VARIANTS) + " | right sign |")
print("|---|---|" + "---|" * len(VARIANTS) + "---|")
stats = {v: {r["group"]: r for r in read_csv(W / f"results-{v}" / "stats.csv")} for v in VARIANTS}
for cls in sorted(true_by):
    tn, tp = true_by[cls].get("neuron", []), true_by[cls].get("hNPC", [])
    if not tn or not tp:
        continue
    tr = float(np.median(tn) / np.median(tp))
    cells, right = [], []
    for v in VARIANTS:
        r = stats[v].get(cls)
        if r is None:
            cells.append("not measured")
            right.append("–")
            continue
        mr, p = num(r["median_ratio"]), num(r["p_mannwhitney_bh"])
        cells.append(f"{fmt(mr, 3)}, p = {p:.2g}")
        right.append("yes" if np.sign(mr - 1) == np.sign(tr - 1) else "no")
    print(f"| {cls} | {tr:.3f} | " + " | ".join(cells) + f" | {' / '.join(right)} |")
print()
