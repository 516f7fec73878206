#!/usr/bin/env python3
"""The turnover analysis of pipelines/turnover.yaml (with landmark registration, as in
bench/peer/pipeline.yaml), done the way a scientist would with standard Python tools:

  tifffile (EM + pixel size from the ImageJ tags) -> numpy percentile normalisation ->
  8-bit grey -> 320 px tiles -> ultralytics YOLO predict on the same ONNX -> merge across tiles ->
  sims (.im) -> dead-time correction -> skimage phase_cross_correlation + scipy.ndimage.shift ->
  skimage SimilarityTransform from the landmark CSV -> filter rules -> area-weighted coverage
  (numpy bincount) -> ratios -> scipy.stats tests.

Every step follows the definition in corrflow's Rust sources (named at each function) so that the
per-organelle table is the same; this is the *peer* that corrflow is timed against.

    turnover_peer.py STUDY_DIR OUT_DIR [--jobs N] [--model PATH]

STUDY_DIR holds samples.csv (id, em, nanosims, condition, landmarks) as `corrflow synth` writes.
Writes OUT_DIR/rois.csv (one row per organelle) and OUT_DIR/stats.csv; prints the wall time per
stage and in total.
"""
import argparse
import csv
import math
import os
import sys
import time
from collections import defaultdict
from multiprocessing import Pool

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np  # noqa: E402
import scipy.ndimage as ndi  # noqa: E402
import scipy.stats as st  # noqa: E402
import sims  # noqa: E402
import tifffile  # noqa: E402
from skimage.registration import phase_cross_correlation  # noqa: E402
from skimage.transform import SimilarityTransform  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "..", "..", "models", "organelles-yolov8n-seg", "model.onnx")

# Parameters of pipelines/turnover.yaml (+ bench/peer/pipeline.yaml).
NORM_LOW, NORM_HIGH = 0.5, 99.5          # preprocess.em percentile_normalize
U8_LOW, U8_HIGH = 0.5, 99.5              # segment.yolo intensity: auto (= percentile 0.5/99.5)
TILE, OVERLAP = 320, 64                  # segment.yolo tile (320 = model input)
CONF, IOU, MAX_DET = 0.25, 0.7, 300
MERGE_MIN_IOS = 0.5
ALIGN_REF, ALIGN_UPSAMPLE, ALIGN_MAX_SHIFT = "12C14N", 20, 5.0
MIN_AREA_UM2 = 0.02
MIN_INSIDE_FIELD = 1.0
NUM, DEN = "12C15N", "12C14N"
R_NAT = 0.003676
CONDITIONS = ("hNPC", "neuron")


def rust_round(x):
    """Round half away from zero (Rust's f32/f64::round), elementwise, exact."""
    t = np.trunc(x)
    f = x - t
    return t + np.where(f >= 0.5, 1, 0).astype(x.dtype) - np.where(f <= -0.5, 1, 0).astype(x.dtype)


# --- EM -----------------------------------------------------------------------------------------

def read_em(path):
    """io.em: the grey plane as float32 and the pixel size (nm) from the ImageJ unit and
    XResolution (plugins/io-em/src/tiff_read.rs)."""
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        img = page.asarray().astype(np.float32)
        num, den = page.tags["XResolution"].value
        unit = (tif.imagej_metadata or {}).get("unit", "")
    unit_nm = {"nm": 1.0, "micron": 1e3, "um": 1e3, "µm": 1e3, "\\u00B5m": 1e3, "mm": 1e6}.get(unit)
    if unit_nm is None:
        raise SystemExit(f"{path}: no ImageJ unit to read the pixel size from")
    return img, unit_nm / (num / den)


def percentile_normalize(img, low, high):
    """preprocess.em percentile_normalize: numpy percentiles, float32 (plugins/preprocess)."""
    lo = np.percentile(img, low)
    hi = np.percentile(img, high)
    return np.clip((img - lo) / (hi - lo), np.float32(0), np.float32(1)).astype(np.float32)


def to_u8(img, low, high):
    """segment.yolo intensity auto: nearest-rank percentiles of the float image, linear stretch to
    0..255, rounded half away from zero (plugins/core-types/src/intensity.rs), float32."""
    flat = img[np.isfinite(img)].ravel()
    n = flat.size
    k = []
    for p in (low, high):
        v = (n - 1) * (p / 100.0)
        k.append(int(math.floor(v)) + (1 if v - math.floor(v) >= 0.5 else 0))  # half away from 0
    part = np.partition(flat, k)
    lo, hi = part[k[0]], part[k[1]]
    scale = np.float32(255.0) / (hi - lo) if hi > lo else np.float32(0)
    v = rust_round((img - lo) * scale)
    return np.clip(v, 0, 255).astype(np.uint8)


def tile_starts(length, tile, overlap):
    """corrflow_types::tiling::tile_starts."""
    if tile >= length:
        return [0], length
    stride = tile - overlap
    starts, s = [], 0
    while s + tile < length:
        starts.append(s)
        s += stride
    if not starts or starts[-1] != length - tile:
        starts.append(length - tile)
    return starts, tile


_MODEL = None


def yolo(model_path):
    global _MODEL
    if _MODEL is None:
        from ultralytics import YOLO
        _MODEL = YOLO(model_path, task="segment")
    return _MODEL


def segment(gray, model_path):
    """segment.yolo with tile: ultralytics predict per 320 px tile, then the cross-tile merge of
    plugins/segment/src/tiling.rs. Returns instances as dicts (class_id, score, box, y0, x0,
    mask) in image coordinates, by descending score."""
    from ultralytics.utils import ops
    model = yolo(model_path)
    h, w = gray.shape
    ys, th = tile_starts(h, TILE, OVERLAP)
    xs, tw = tile_starts(w, TILE, OVERLAP)
    dets = []  # (tile index, window, class, score, xyxy, tile-local mask)
    windows = []
    for y in ys:
        for x in xs:
            t = len(windows)
            windows.append((x, y, x + tw, y + th))
            tile = np.ascontiguousarray(np.repeat(gray[y:y + th, x:x + tw, None], 3, axis=2))
            r = model.predict(tile, conf=CONF, iou=IOU, max_det=MAX_DET, imgsz=TILE,
                              verbose=False)[0]
            if r.masks is None:
                continue
            masks = ops.scale_masks(r.masks.data.float()[None], (th, tw))[0] > 0.5
            masks = masks.cpu().numpy()
            cls = r.boxes.cls.cpu().numpy().astype(int)
            conf = r.boxes.conf.cpu().numpy().astype(np.float32)
            xyxy = r.boxes.xyxy.cpu().numpy().astype(np.float32)
            for k in range(len(cls)):
                if not masks[k].any():
                    continue
                b = xyxy[k] + np.array([x, y, x, y], np.float32)
                dets.append((t, cls[k], conf[k], b, masks[k]))
    n = len(dets)
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # mask boxes in image coordinates, for a quick overlap test
    mbox = []
    for (t, _, _, _, m) in dets:
        x0, y0 = windows[t][0], windows[t][1]
        rows, cols = np.any(m, axis=1), np.any(m, axis=0)
        r0, r1 = np.argmax(rows), len(rows) - np.argmax(rows[::-1])
        c0, c1 = np.argmax(cols), len(cols) - np.argmax(cols[::-1])
        mbox.append((x0 + c0, y0 + r0, x0 + c1, y0 + r1))
    for i in range(n):
        for j in range(i + 1, n):
            ti, ci = dets[i][0], dets[i][1]
            tj, cj = dets[j][0], dets[j][1]
            if ti == tj or ci != cj:
                continue
            bi, bj = mbox[i], mbox[j]
            if bi[0] >= bj[2] or bj[0] >= bi[2] or bi[1] >= bj[3] or bj[1] >= bi[3]:
                continue
            wi, wj = windows[ti], windows[tj]
            sx0, sy0 = max(wi[0], wj[0]), max(wi[1], wj[1])
            sx1, sy1 = min(wi[2], wj[2]), min(wi[3], wj[3])
            if sx0 >= sx1 or sy0 >= sy1:
                continue
            a = dets[i][4][sy0 - wi[1]:sy1 - wi[1], sx0 - wi[0]:sx1 - wi[0]]
            b = dets[j][4][sy0 - wj[1]:sy1 - wj[1], sx0 - wj[0]:sx1 - wj[0]]
            inter = int(np.count_nonzero(a & b))
            smaller = min(int(np.count_nonzero(a)), int(np.count_nonzero(b)))
            if smaller > 0 and np.float32(inter) / np.float32(smaller) > np.float32(MERGE_MIN_IOS):
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    groups = defaultdict(list)
    for i in range(n):
        groups[find(i)].append(i)
    out = []
    for root in sorted(groups):
        members = sorted(groups[root], key=lambda m: -dets[m][2])  # stable
        best = dets[members[0]]
        x0 = min(windows[dets[m][0]][0] for m in members)
        y0 = min(windows[dets[m][0]][1] for m in members)
        x1 = max(windows[dets[m][0]][2] for m in members)
        y1 = max(windows[dets[m][0]][3] for m in members)
        canvas = np.zeros((y1 - y0, x1 - x0), bool)
        for m in members:
            wx, wy = windows[dets[m][0]][0], windows[dets[m][0]][1]
            canvas[wy - y0:wy - y0 + th, wx - x0:wx - x0 + tw] |= dets[m][4]
        box = np.array([min(dets[m][3][0] for m in members), min(dets[m][3][1] for m in members),
                        max(dets[m][3][2] for m in members), max(dets[m][3][3] for m in members)])
        out.append(tight(dict(class_id=int(best[1]), score=np.float32(best[2]), box=box,
                              y0=y0, x0=x0, mask=canvas)))
    out.sort(key=lambda d: -d["score"])  # stable: ties keep the group order
    return out


def tight(inst):
    """Crop an instance's mask to its pixels."""
    m = inst["mask"]
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    if rows.size == 0:
        inst["mask"] = np.zeros((0, 0), bool)
        return inst
    inst["mask"] = m[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    inst["y0"] += int(rows[0])
    inst["x0"] += int(cols[0])
    return inst


# --- NanoSIMS -----------------------------------------------------------------------------------

TROLLEY_DETECTOR = {1: "Detector 1", 2: "Detector 2", 3: "Detector 3", 4: "Detector 4",
                    5: "Detector 5", 10: "Detector 6", 11: "Detector 7"}


def read_nanosims(path):
    """io.nanosims with dead_time: header and align {reference 12C14N, upsample 20}
    (plugins/nanosims/src/stage_io.rs, deadtime.rs, align.rs): counts (masses, planes, h, w)
    float32, mass names, pixel size (nm)."""
    s = sims.SIMS(path)
    hdr = s.header
    counts = s.data.values.astype(np.float32)
    names = [str(v).replace(" ", "") for v in s.data.species.values]
    labels = [str(v) for v in s.data.species.values]
    bfields = hdr["BFields"]
    if len(bfields) != 1:
        raise SystemExit(f"{path}: {len(bfields)} B fields (peak switching): not handled here")
    dwell = bfields[0]["time per pixel"]  # s
    table = hdr["MassTable"]
    entries = list(table.values()) if isinstance(table, dict) else list(table)
    for m, label in enumerate(labels):
        det = TROLLEY_DETECTOR.get(entries[m].get("trolley index"))
        dead_ns = hdr["Detectors"][det]["em deadtime"] if det else 44  # 44 ns when absent
        d = float(dead_ns) * 1e-9
        n = counts[m].astype(np.float64)
        counts[m] = (n / (1.0 - n * d / dwell)).astype(np.float32)
    ref = counts[names.index(ALIGN_REF)].astype(np.float64)
    for p in range(1, counts.shape[1]):
        shift, _, _ = phase_cross_correlation(ref[0], ref[p], upsample_factor=ALIGN_UPSAMPLE)
        dy, dx = float(shift[0]), float(shift[1])
        if max(abs(dy), abs(dx)) > ALIGN_MAX_SHIFT:
            raise SystemExit(f"{path}: plane {p} drift ({dy}, {dx}) beyond {ALIGN_MAX_SHIFT} px")
        if dy == 0.0 and dx == 0.0:
            continue
        for m in range(counts.shape[0]):
            counts[m, p] = ndi.shift(counts[m, p].astype(np.float64), (dy, dx), order=1,
                                     mode="grid-constant", cval=0.0).astype(np.float32)
    width = hdr["Image"]["width"]
    pixel_nm = float(hdr["Image"]["raster"]) / width
    return counts, names, pixel_nm


def landmark_transform(path):
    """register.landmarks, similarity, no RANSAC: skimage's Umeyama fit of the landmark CSV."""
    rows = [r for r in csv.DictReader(line for line in open(path) if not line.startswith("#"))]
    src = np.array([[float(r["em_x"]), float(r["em_y"])] for r in rows])
    dst = np.array([[float(r["nanosims_x"]), float(r["nanosims_y"])] for r in rows])
    t = SimilarityTransform.from_estimate(src, dst)
    if not t:
        raise SystemExit(f"{path}: landmark fit failed: {t}")
    return t.params


def apply(M, x, y):
    """EM (x, y) -> NanoSIMS (u, v), in the order of Transform2D::apply."""
    tx = M[0, 0] * x + M[0, 1] * y + M[0, 2]
    ty = M[1, 0] * x + M[1, 1] * y + M[1, 2]
    w = M[2, 0] * x + M[2, 1] * y + M[2, 2]
    return tx / w, ty / w


# --- filter.morphology --------------------------------------------------------------------------

def filter_instances(insts, shape, px_nm, M, ns_shape):
    """The rules of pipelines/turnover.yaml (plugins/filter/src/rules.rs, field.rs):
    min_area_um2 0.02, min_inside_field 1.0 (pixel centres on the raster), nucleus drop_border,
    resolve_overlaps score. Returns the kept instances (in input order) and removal counts."""
    h, w = shape
    nh, nw = ns_shape
    um = px_nm / 1000.0
    kept, removed = [], defaultdict(int)
    for inst in insts:
        m = inst["mask"]
        area = float(np.count_nonzero(m))
        area_um2 = area * um * um
        cls = CLASS_NAMES[inst["class_id"]]
        y0, x0 = inst["y0"], inst["x0"]
        touches = y0 == 0 or x0 == 0 or y0 + m.shape[0] == h or x0 + m.shape[1] == w
        rr, cc = np.nonzero(m)
        u, v = apply(M, (cc + x0).astype(np.float64), (rr + y0).astype(np.float64))
        inside = np.count_nonzero((u >= -0.5) & (u < nw - 0.5) & (v >= -0.5) & (v < nh - 0.5))
        inside = inside / rr.size
        if not (area_um2 >= MIN_AREA_UM2):
            removed["min_area_um2"] += 1
        elif not (inside >= MIN_INSIDE_FIELD):
            removed["min_inside_field"] += 1
        elif cls == "nucleus" and touches:
            removed["drop_border"] += 1
        else:
            kept.append(inst)
    # resolve_overlaps score: each pixel to the highest score (ties: the earlier instance)
    owner = np.zeros((h, w), np.int32)
    owner_score = np.full((h, w), -np.inf, np.float32)
    for i, inst in enumerate(kept):
        m = inst["mask"]
        sl = np.s_[inst["y0"]:inst["y0"] + m.shape[0], inst["x0"]:inst["x0"] + m.shape[1]]
        take = m & ((owner[sl] == 0) | (inst["score"] > owner_score[sl]))
        owner[sl][take] = i + 1
        owner_score[sl][take] = inst["score"]
    out = []
    for i, inst in enumerate(kept):
        m = inst["mask"]
        sl = np.s_[inst["y0"]:inst["y0"] + m.shape[0], inst["x0"]:inst["x0"] + m.shape[1]]
        mine = m & (owner[sl] == i + 1)
        if not mine.any():
            removed["resolve_overlaps"] += 1
            continue
        if not np.array_equal(mine, m):
            inst = tight(dict(inst, mask=mine))
        out.append(inst)
    return out, dict(removed)


# --- quantify.ratio -----------------------------------------------------------------------------

def lattice_targets(M, xs, ys, s, ns_shape):
    """NanoSIMS pixel index (row * width + col, or -1 off the raster) of the s x s sub-pixel
    centres of EM pixels (xs, ys) (plugins/quantify/src/coverage.rs)."""
    nh, nw = ns_shape
    off = (np.arange(s) + 0.5) / s
    sx = (xs.astype(np.float64)[:, None, None] - 0.5) + off[None, None, :]   # [pixel, k, i]
    sy = (ys.astype(np.float64)[:, None, None] - 0.5) + off[None, :, None]
    sx, sy = np.broadcast_arrays(sx, sy)
    u, v = apply(M, sx, sy)
    c = np.floor(u + 0.5)
    r = np.floor(v + 0.5)
    ok = (c >= 0) & (r >= 0) & (c < nw) & (r < nh)
    return np.where(ok, r * nw + c, -1).astype(np.int64).ravel()


def full_counts(M, s, ns_shape, pixels):
    """Sub-pixels of the whole (unbounded) EM lattice in each NanoSIMS pixel of `pixels`."""
    nh, nw = ns_shape
    inv = np.linalg.inv(M)
    rr, cc = pixels // nw, pixels % nw
    corners = []
    for du, dv in ((-0.5, -0.5), (0.5, -0.5), (-0.5, 0.5), (0.5, 0.5)):
        corners.append(apply(inv, (cc + du).astype(np.float64), (rr + dv).astype(np.float64)))
    xs = np.concatenate([c[0] for c in corners])
    ys = np.concatenate([c[1] for c in corners])
    x0, x1 = int(np.floor(xs.min())) - 2, int(np.ceil(xs.max())) + 2
    y0, y1 = int(np.floor(ys.min())) - 2, int(np.ceil(ys.max())) + 2
    total = np.zeros(nh * nw, np.int64)
    gx = np.arange(x0, x1 + 1)
    for ya in range(y0, y1 + 1, 128):
        gy = np.arange(ya, min(ya + 128, y1 + 1))
        X, Y = np.meshgrid(gx, gy)
        t = lattice_targets(M, X.ravel(), Y.ravel(), s, ns_shape)
        total += np.bincount(t[t >= 0], minlength=nh * nw)
    return total[pixels]


def quantify(insts, M, counts, names, em_px_nm, ns_px_nm):
    """Per organelle: area-weighted coverage c_j and the measures of measure.rs."""
    ns_shape = counts.shape[2:]
    nh, nw = ns_shape
    summed = counts.astype(np.float64).sum(axis=1).reshape(len(names), -1)  # (masses, h*w)
    # Lattice::auto_supersample: >= 8 lattice points across a NanoSIMS pixel, at most 8
    s = min(max(math.ceil(8.0 / (ns_px_nm / em_px_nm)), 1), 8)
    covs = []
    for inst in insts:
        rr, cc = np.nonzero(inst["mask"])
        t = lattice_targets(M, cc + inst["x0"], rr + inst["y0"], s, ns_shape)
        inside = np.count_nonzero(t >= 0) / t.size
        pix, n = np.unique(t[t >= 0], return_counts=True)
        covs.append((pix, n, inside))
    allpix = np.unique(np.concatenate([c[0] for c in covs])) if covs else np.zeros(0, np.int64)
    full = dict(zip(allpix.tolist(), full_counts(M, s, ns_shape, allpix).tolist())) if allpix.size else {}
    rows = []
    um2_em = (em_px_nm / 1000.0) ** 2
    um2_ns = (ns_px_nm / 1000.0) ** 2
    inum, iden = names.index(NUM), names.index(DEN)
    for inst, (pix, n, inside) in zip(insts, covs):
        f = np.array([max(full[p], k) for p, k in zip(pix.tolist(), n.tolist())], np.float64)
        c = n / f
        N = summed[:, pix]
        S = (c * N).sum(axis=1)
        V = (c * c * N).sum(axis=1)
        rr, cc = np.nonzero(inst["mask"])
        ratio = S[inum] / S[iden] if S[iden] > 0 else float("nan")
        sigma = ratio * math.sqrt(V[inum] / (S[inum] * S[inum]) + V[iden] / (S[iden] * S[iden])) \
            if S[inum] > 0 else float("nan")
        d = N[iden]
        ok = d > 0
        mpr = (c[ok] * N[inum][ok] / d[ok]).sum() / c[ok].sum()
        row = dict(class_=CLASS_NAMES[inst["class_id"]], score=float(inst["score"]),
                   area_um2=rr.size * um2_em,
                   centroid_x_px=float((cc + inst["x0"]).mean()),
                   centroid_y_px=float((rr + inst["y0"]).mean()),
                   inside_field=inside, nanosims_px=int(pix.size),
                   covered_area_um2=float(c.sum()) * um2_ns)
        for k, name in enumerate(names):
            row["counts_" + name] = float(S[k])
        row.update(ratio=ratio, ratio_sigma=sigma, atom_pct=100.0 * ratio / (1.0 + ratio),
                   enrichment=ratio / R_NAT, delta_permil=(ratio / R_NAT - 1.0) * 1000.0,
                   mean_pixel_ratio=mpr)
        rows.append(row)
    return rows


CLASS_NAMES = ["nucleus", "mitochondrion", "er", "golgi", "lysosome", "vesicle"]


def run_sample(args):
    sid, row, study, model_path = args
    times = {}
    t0 = time.perf_counter()

    def lap(name):
        nonlocal t0
        t = time.perf_counter()
        times[name] = times.get(name, 0.0) + t - t0
        t0 = t

    global CLASS_NAMES
    yolo(model_path)  # import ultralytics (torch) and open the ONNX, once per process
    lap("setup (ultralytics import, model)")
    img, px = read_em(os.path.join(study, row["em"]))
    lap("io.em")
    pre = percentile_normalize(img, NORM_LOW, NORM_HIGH)
    lap("preprocess.em")
    gray = to_u8(pre, U8_LOW, U8_HIGH)
    insts = segment(gray, model_path)
    names = yolo(model_path).names  # after predict: read from the loaded predictor
    CLASS_NAMES = [names[k] for k in sorted(names)]
    lap("segment.yolo")
    counts, names, ns_px = read_nanosims(os.path.join(study, row["nanosims"]))
    lap("io.nanosims")
    M = landmark_transform(os.path.join(study, row["landmarks"]))
    lap("register.landmarks")
    kept, removed = filter_instances(insts, img.shape, px, M, counts.shape[2:])
    lap("filter.morphology")
    rows = quantify(kept, M, counts, names, px, ns_px)
    lap("quantify.ratio")
    for k, r in enumerate(rows):
        r.update(sample=sid, condition=row["condition"], instance=k)
    return sid, rows, times, len(insts), removed


def holm(p):
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    idx = [i for i in range(len(p)) if np.isfinite(p[i])]
    order = sorted(idx, key=lambda i: p[i])
    m, running = len(order), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out


def bh(p):
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = st.false_discovery_control(p[ok], method="bh")
    return out


def statistics(rows):
    """stats.compare (plugins/stats): per class, hNPC vs neuron: Mann-Whitney U (scipy auto) and
    Welch's t on log ratios, Holm and BH across classes."""
    a_name, b_name = CONDITIONS
    classes = sorted({r["class_"] for r in rows})
    out = []
    for cls in classes:
        a = np.array([r["ratio"] for r in rows if r["class_"] == cls and r["condition"] == a_name
                      and np.isfinite(r["ratio"])])
        b = np.array([r["ratio"] for r in rows if r["class_"] == cls and r["condition"] == b_name
                      and np.isfinite(r["ratio"])])
        rec = dict(group=cls, condition_a=a_name, condition_b=b_name, n_a=a.size, n_b=b.size,
                   median_a=np.median(a) if a.size else np.nan,
                   median_b=np.median(b) if b.size else np.nan)
        rec["median_ratio"] = rec["median_b"] / rec["median_a"]
        if a.size >= 2 and b.size >= 2:
            mw = st.mannwhitneyu(a, b, alternative="two-sided", method="auto")
            rec.update(u=float(mw.statistic), p_mannwhitney=float(mw.pvalue))
            la, lb = np.log(a[a > 0]), np.log(b[b > 0])
            tt = st.ttest_ind(lb, la, equal_var=False)
            rec.update(t_welch_log=float(tt.statistic), p_welch=float(tt.pvalue))
        else:
            rec.update(u=np.nan, p_mannwhitney=np.nan, t_welch_log=np.nan, p_welch=np.nan)
        out.append(rec)
    for key in ("p_mannwhitney", "p_welch"):
        ps = [r[key] for r in out]
        for r, h_, b_ in zip(out, holm(ps), bh(ps)):
            r[key + "_holm"], r[key + "_bh"] = h_, b_
    return out


def write_csv(path, rows, cols):
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(cols)
        for r in rows:
            wr.writerow([repr(float(r[c])) if isinstance(r[c], (float, np.floating)) else
                         int(r[c]) if isinstance(r[c], np.integer) else r[c] for c in cols])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("study")
    ap.add_argument("out")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    args = ap.parse_args()
    t_start = time.perf_counter()
    with open(os.path.join(args.study, "samples.csv")) as f:
        samples = list(csv.DictReader(f))
    work = [(r["id"], r, args.study, args.model) for r in samples]
    if args.jobs > 1:
        with Pool(args.jobs) as pool:
            results = pool.map(run_sample, work, chunksize=1)
    else:
        results = [run_sample(w) for w in work]
    rows = []
    stage_total = defaultdict(float)
    for sid, r, times, n_seg, removed in results:
        rows.extend(r)
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in times.items())
        print(f"{sid}: {n_seg} instances, {len(r)} kept (removed {removed}); {parts}; "
              f"total {sum(times.values()):.2f} s")
        for k, v in times.items():
            stage_total[k] += v
    t0 = time.perf_counter()
    stats = statistics(rows)
    t_stats = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    masses = [k for k in rows[0] if k.startswith("counts_")] if rows else []
    for r in rows:
        r["class"] = r["class_"]
    write_csv(os.path.join(args.out, "rois.csv"), rows,
              ["sample", "condition", "instance", "class", "score", "area_um2", "centroid_x_px",
               "centroid_y_px", "inside_field", "nanosims_px", "covered_area_um2", *masses,
               "ratio", "ratio_sigma", "atom_pct", "enrichment", "delta_permil",
               "mean_pixel_ratio"])
    if stats:
        write_csv(os.path.join(args.out, "stats.csv"), stats, list(stats[0].keys()))
    total = time.perf_counter() - t_start
    print("per stage (summed over samples): " + ", ".join(
        f"{k} {v:.2f} s" for k, v in stage_total.items()) + f", stats.compare {t_stats:.3f} s")
    print(f"peer total wall time: {total:.2f} s for {len(samples)} sample(s), jobs {args.jobs}")


if __name__ == "__main__":
    sys.exit(main())
