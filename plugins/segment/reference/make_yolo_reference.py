#!/usr/bin/env python3
"""Reference outputs of ultralytics predict for corrflow's segment.yolo tests.

Runs `YOLO(model.onnx, task="segment").predict(...)` (ultralytics 8.4.x, ONNX Runtime backend) on
the PNG images given, with default parameters (conf 0.25, iou 0.7, max_det 300) and
retina_masks False and True, and writes one JSON per image and mode:
  {"image", "height", "width", "imgsz", "retina_masks", "ultralytics", "model_sha256",
   "detections": [{"class_id", "score", "xyxy": [x1, y1, x2, y2] (original px),
                   "mask": {"size": [h, w], "counts": pycocotools RLE string} (original px)}]}
Default-mode masks are brought to the original size as ultralytics does for `Results.masks.xy`
and friends: `ops.scale_masks(masks[None].float(), orig_shape)[0] > 0.5`.

Not needed by CI: the outputs are committed. Regenerate (with the training venv, see
training/README.md) at the predict default conf 0.25 and at conf 0.05 (many more detections, so
that every step of the decoding is exercised; files `*.conf0.05.json`):
  . training/env.sh && for c in 0.25 0.05; do $PY plugins/segment/reference/make_yolo_reference.py \
      --conf $c --model models/organelles-yolov8n-seg/model.onnx \
      --out plugins/segment/reference/yolo plugins/segment/reference/yolo/*.png; done
"""
import argparse
import hashlib
import json
import os

os.environ.setdefault("YOLO_OFFLINE", "1")

import numpy as np  # noqa: E402
import ultralytics  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402
from ultralytics import YOLO  # noqa: E402
from ultralytics.utils import ops  # noqa: E402


def rle(mask):
    r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--imgsz", type=int, default=None, help="default: the model's")
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("images", nargs="+")
    args = ap.parse_args()
    model = YOLO(args.model, task="segment")
    sha = hashlib.sha256(open(args.model, "rb").read()).hexdigest()
    for path in args.images:
        for retina in (False, True):
            kw = dict(conf=args.conf, iou=0.7, max_det=300, retina_masks=retina, verbose=False)
            if args.imgsz:
                kw["imgsz"] = args.imgsz
            r = model.predict(path, **kw)[0]
            h, w = r.orig_shape
            dets = []
            if r.masks is not None:
                masks = r.masks.data.float()
                if not retina:
                    masks = ops.scale_masks(masks[None], (h, w))[0] > 0.5
                else:
                    masks = masks > 0.5
                masks = masks.cpu().numpy()
                for k in range(len(r.boxes)):
                    dets.append({
                        "class_id": int(r.boxes.cls[k]),
                        "score": float(r.boxes.conf[k]),
                        "xyxy": [float(v) for v in r.boxes.xyxy[k]],
                        "mask": rle(masks[k]),
                    })
            stem = os.path.splitext(os.path.basename(path))[0]
            tag = "" if args.conf == 0.25 else f".conf{args.conf:g}"
            name = f"{stem}.{'retina' if retina else 'default'}{tag}.json"
            doc = {
                "image": os.path.basename(path), "height": h, "width": w,
                "imgsz": list(model.predictor.imgsz),
                "retina_masks": retina, "conf": args.conf, "ultralytics": ultralytics.__version__,
                "model_sha256": sha, "detections": dets,
            }
            with open(os.path.join(args.out, name), "w") as f:
                json.dump(doc, f, indent=1)
            print(f"{name}: {len(dets)} detections")


if __name__ == "__main__":
    main()
