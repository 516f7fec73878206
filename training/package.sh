#!/usr/bin/env bash
# Copy a trained model (train.py's output folder) into models/organelles-yolov8n-seg/.
# Usage: training/package.sh MODEL_DIR
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SRC="${1:?usage: package.sh MODEL_DIR (train.py --out)}"
DST="$HERE/../models/organelles-yolov8n-seg"
mkdir -p "$DST"
cp "$SRC/model.onnx" "$DST/model.onnx"
cp "$SRC/metrics.json" "$DST/metrics.json"
sha256sum "$DST/model.onnx" | cut -d' ' -f1 > "$DST/model.onnx.sha256"
echo "packaged $(du -h "$DST/model.onnx" | cut -f1) model into $DST"
