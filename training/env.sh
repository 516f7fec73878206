# Sourced by the training scripts: a Python venv with ultralytics, kept offline.
# Creates training/.venv on first use (torch's Linux wheel is a CUDA build, ~6 GB; it runs on CPU).
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import ultralytics' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q -r "$HERE/requirements.txt"
fi
export YOLO_OFFLINE=1
export YOLO_CONFIG_DIR="$HERE/.yolo-config"
mkdir -p "$YOLO_CONFIG_DIR/Ultralytics"
# ultralytics' dataset checks want this font even with plots off; matplotlib ships one.
FONT="$YOLO_CONFIG_DIR/Ultralytics/Arial.ttf"
if [ ! -f "$FONT" ]; then
    cp "$("$VENV/bin/python" -c 'import matplotlib, os; print(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data/fonts/ttf/DejaVuSans.ttf"))')" "$FONT"
fi
PY="$VENV/bin/python"
