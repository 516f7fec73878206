#!/usr/bin/env python3
"""Train the bundled corrflow organelle model (YOLOv8n-seg) on CPU, offline, and export ONNX.

Inputs: YOLO-seg datasets written by `corrflow export-dataset` (see make_dataset.sh).
Outputs (in --out): best.pt, model.onnx, metrics.json, train.txt/val.txt (the image lists used).

Run through ./train.sh, which sets up the offline environment; see README.md.
"""
import argparse
import csv
import json
import os
import random
import shutil
import sys
from pathlib import Path

NAMES = ["nucleus", "mitochondrion", "er", "golgi", "lysosome", "vesicle"]


def image_list(datasets, split, empty_fraction, rng):
    """Tiles with at least one polygon, plus a sample of empty (background) tiles."""
    out = []
    for d in datasets:
        d = Path(d)
        with open(d / "tiles.csv", newline="") as f:
            for row in csv.DictReader(f):
                if split is not None and row["split"] != split:
                    continue
                img = d / "images" / row["split"] / f"{row['stem']}.png"
                if int(row["polygons"]) > 0 or rng.random() < empty_fraction:
                    out.append(str(img.resolve()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--train", nargs="+", required=True, help="dataset folders for training")
    ap.add_argument("--val", nargs="+", required=True, help="held-out dataset folders")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="yolov8n-seg.yaml")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--hours", type=float, default=None, help="wall-time budget (overrides epochs)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--empty-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr0", type=float, default=None,
                    help="initial learning rate with AdamW (default: ultralytics' automatic choice)")
    ap.add_argument("--warmup-epochs", type=float, default=3.0)
    args = ap.parse_args()

    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO  # imported late: the environment above must be set first

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    train = image_list(args.train, "train", args.empty_fraction, rng)
    val = image_list(args.val, None, 1.0, rng)
    (out / "train.txt").write_text("\n".join(train) + "\n")
    (out / "val.txt").write_text("\n".join(val) + "\n")
    data = out / "data.yaml"
    data.write_text(
        f"path: {out}\ntrain: {out / 'train.txt'}\nval: {out / 'val.txt'}\n"
        f"nc: {len(NAMES)}\nnames:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(NAMES))
    )
    print(f"train: {len(train)} tiles, val: {len(val)} tiles", flush=True)

    # Built from the YAML (no weights are downloaded), or continued from a checkpoint of ours.
    model = YOLO(args.model, task="segment")
    from_checkpoint = args.model.endswith(".pt")
    kw = dict(
        data=str(data), imgsz=args.imgsz, batch=args.batch, epochs=args.epochs, device="cpu",
        pretrained=from_checkpoint, amp=False, warmup_epochs=args.warmup_epochs, workers=2, seed=args.seed, deterministic=True,
        project=str(out), name="run", exist_ok=True, plots=False, verbose=True,
        # EM is grayscale: no hue/saturation jitter; flips and 90° turns are physically valid.
        hsv_h=0.0, hsv_s=0.0, hsv_v=0.3, fliplr=0.5, flipud=0.5, degrees=0.0, mosaic=1.0,
        close_mosaic=5, patience=100,
    )
    if args.hours:
        kw["time"] = args.hours
    if args.lr0:
        kw.update(optimizer="AdamW", lr0=args.lr0)
    model.train(**kw)

    best = out / "run" / "weights" / "best.pt"
    shutil.copy(best, out / "best.pt")
    trained = YOLO(str(best), task="segment")
    metrics = trained.val(data=str(data), imgsz=args.imgsz, batch=args.batch, device="cpu",
                          plots=False, conf=0.001, iou=0.7)
    per_class = {}
    for i, name in enumerate(NAMES):
        p, r, ap50, ap = metrics.seg.class_result(i) if i in metrics.seg.ap_class_index else (0, 0, 0, 0)
        per_class[name] = {"mask_AP50": float(ap50), "mask_AP50_95": float(ap)}
    summary = {
        "model": args.model, "imgsz": args.imgsz, "train_tiles": len(train), "val_tiles": len(val),
        "mask_mAP50": float(metrics.seg.map50), "mask_mAP50_95": float(metrics.seg.map),
        "box_mAP50": float(metrics.box.map50), "box_mAP50_95": float(metrics.box.map),
        "per_class": per_class, "evaluated_by": "ultralytics val on the held-out tiles",
    }
    (out / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    onnx = trained.export(format="onnx", imgsz=args.imgsz, opset=17, dynamic=False, simplify=True,
                          nms=False)
    shutil.copy(onnx, out / "model.onnx")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(main())
