#!/usr/bin/env bash
# Train the bundled model end to end: data (make_dataset.sh) → train.py → models/organelles-yolov8n-seg.
# Usage: training/train.sh WORKDIR [extra train.py args, e.g. --hours 1.0]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
. "$HERE/env.sh"
D="${1:?usage: train.sh WORKDIR [train.py args]}"; shift
[ -d "$D/ds-heldout" ] || "$HERE/make_dataset.sh" "$D"
"$PY" "$HERE/train.py" --train "$D"/ds-s-normal "$D"/ds-s-low "$D"/ds-s-high "$D"/ds-s-normal2 \
    --val "$D/ds-heldout" --out "$D/model" "$@"
