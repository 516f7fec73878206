#!/usr/bin/env bash
# Synthetic training and held-out data for the bundled model, made with corrflow itself.
# Usage: training/make_dataset.sh WORKDIR   (needs a built corrflow: target/release/corrflow)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
B="${CORRFLOW:-$HERE/../target/release/corrflow}"
D="${1:?usage: make_dataset.sh WORKDIR}"
mkdir -p "$D"
synth() { "$B" synth --out "$D/$1" --samples "$2" --seed "$3" --config "$HERE/$4" >/dev/null; }
synth s-normal 8 101 synth-train.yaml
synth s-low 4 202 synth-train-lowdose.yaml
synth s-high 4 303 synth-train-highdose.yaml
synth s-normal2 6 404 synth-train.yaml
synth heldout 4 9001 synth-train.yaml       # never trained on: validation + evaluation
for s in s-normal s-low s-high s-normal2; do
    "$B" export-dataset --synth "$D/$s" --out "$D/ds-$s" --tile 320 --overlap 32 --val 0 --overwrite
done
"$B" export-dataset --synth "$D/heldout" --out "$D/ds-heldout" --tile 320 --overlap 32 --val 1 --overwrite
