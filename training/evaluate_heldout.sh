#!/usr/bin/env bash
# Mask AP of a model on held-out synthetic images (never trained on), through corrflow and, as a
# cross-check, through pycocotools on the same files.
#   training/evaluate_heldout.sh MODEL.onnx WORKDIR [N_IMAGES]
# Needs target/release/corrflow and a Python with pycocotools, numpy and tifffile (./scripts/test
# installs them into .setup/venv).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
B="${CORRFLOW:-$HERE/../target/release/corrflow}"
MODEL="${1:?usage: evaluate_heldout.sh MODEL.onnx WORKDIR [N]}"; D="${2:?}"; N="${3:-4}"
PY="${PYTHON:-$HERE/../.setup/venv/bin/python}"
[ -f "$D/heldout/samples.csv" ] || "$B" synth --out "$D/heldout" --samples "$N" --seed 9001 --config "$HERE/synth-train.yaml" >/dev/null
for conf in 0.001 0.25; do
  "$B" predict --model "$MODEL" --out "$D/pred-$conf" --tile --conf "$conf" "$D"/heldout/em/*.tif > "$D/predict-$conf.log"
  echo "== corrflow evaluate, tiled prediction at conf $conf =="
  "$B" evaluate --pred "$D/pred-$conf/predictions.json" --synth "$D/heldout" --json "$D/eval-$conf.json"
done
echo "== pycocotools COCOeval on the same files (conf 0.001) =="
"$PY" - "$D/heldout" "$D/pred-0.001/predictions.json" <<'PY'
import csv, json, sys, numpy as np, tifffile
from pycocotools import mask as mu
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
study, pred = sys.argv[1], sys.argv[2]
names = ["nucleus", "mitochondrion", "er", "golgi", "lysosome", "vesicle"]
gt = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
rows = list(csv.DictReader(open(f"{study}/samples.csv")))
ids = {}
for k, r in enumerate(rows, 1):
    lab = tifffile.imread(f"{study}/truth/{r['id']}_labels.tif")
    cls = {o["id"]: o["class"] for o in json.load(open(f"{study}/truth/{r['id']}.json"))["organelles"]}
    name = r["em"].split("/")[-1]
    ids[name] = k
    gt["images"].append({"id": k, "file_name": name, "height": lab.shape[0], "width": lab.shape[1]})
    for v in np.unique(lab[lab > 0]):
        m = np.asfortranarray((lab == v).astype(np.uint8))
        rle = mu.encode(m); area = float(mu.area(rle)); bb = [float(x) for x in mu.toBbox(rle)]
        rle["counts"] = rle["counts"].decode()
        gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": k, "category_id": names.index(cls[int(v)]) + 1,
                                  "segmentation": rle, "area": area, "bbox": bb, "iscrowd": 0})
coco = COCO(); coco.dataset = gt; coco.createIndex()
dets = json.load(open(pred))
for d in dets:
    d["image_id"] = ids[d["image"]]; d["category_id"] = names.index(d["category_name"]) + 1
dt = coco.loadRes(dets)
E = COCOeval(coco, dt, "segm"); E.evaluate(); E.accumulate(); E.summarize()
p = E.eval["precision"]
for k, n in enumerate(names):
    a = p[:, :, k, 0, -1]; a50 = p[0, :, k, 0, -1]
    ap = a[a > -1].mean() if (a > -1).any() else float("nan"); ap50 = a50[a50 > -1].mean() if (a50 > -1).any() else float("nan")
    print(f"pycocotools {n:14s} AP50 {ap50:.4f}  AP50-95 {ap:.4f}")
PY
