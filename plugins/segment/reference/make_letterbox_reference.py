#!/usr/bin/env python3
"""Reference data for `plugins/segment/src/letterbox.rs`, made with the real cv2 and ultralytics.

What it writes (into `plugins/segment/reference/letterbox/`, committed, about 0.4 MB):

* `index.json`: versions of cv2 / ultralytics / torch / numpy used, and the list of cases;
* `resize_NNN.bin`: `cv2.resize(img, (ow, oh), interpolation=cv2.INTER_LINEAR)` of a uint8 gray image,
  raw row-major uint8 (oh * ow bytes);
* `lbS_NNN.bin`: the letterboxed uint8 gray image (S * S bytes) that ultralytics' `BasePredictor.preprocess`
  feeds a static-shape ONNX model of input side S (S = 320 and 64), recovered from its float tensor, and
  checked here to equal `LetterBox((S, S))(image=bgr)` channel by channel;
* in `index.json` also: LetterBox geometries (`LetterBox.get_params`) for many shapes, box mappings through
  `ultralytics.utils.ops.scale_boxes` (torch float32 on CPU), the crop `ultralytics.utils.ops.scale_masks`
  takes out of a mask, and the 256 values `uint8 -> float32 / 255` of `preprocess`.

The input images are not stored: they are generated from integer formulas (splitmix64 hash, triangle
waves) that `letterbox.rs` reproduces exactly, see `make_image` below and `reference_image` in the tests.

Run from the repository root with the training virtual environment (it has ultralytics, cv2, torch):

    training/.venv/bin/python plugins/segment/reference/make_letterbox_reference.py

then `cargo test --release -p corrflow-segment letterbox`. The script only reads the ultralytics / cv2 code,
it needs no model and no GPU.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import cv2
import numpy as np
import torch
import ultralytics
from ultralytics.data.augment import LetterBox
from ultralytics.engine.predictor import BasePredictor
from ultralytics.utils import ops

OUT = Path(__file__).resolve().parent / "letterbox"

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(z: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 arrays (wrapping arithmetic), as `splitmix64` in letterbox.rs."""
    with np.errstate(over="ignore"):
        z = (z + np.uint64(0x9E3779B97F4A7C15)) & M64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & M64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & M64
        return z ^ (z >> np.uint64(31))


def make_image(kind: str, seed: int, h: int, w: int) -> np.ndarray:
    """Deterministic uint8 gray image; integer arithmetic only, so that Rust regenerates it bit for bit.

    noise:  hash(seed, y * w + x) >> 56
    binary: 0 or 255 by the top bit of the hash
    smooth: two triangle waves (periods and phases from the seed) blended, plus hash noise 0..7, clipped to 255
    """
    y, x = np.mgrid[0:h, 0:w]
    idx = (y.astype(np.uint64) * np.uint64(w) + x.astype(np.uint64)) & M64
    hsh = splitmix64((np.uint64(seed) << np.uint64(32)) ^ idx)
    if kind == "noise":
        return (hsh >> np.uint64(56)).astype(np.uint8)
    if kind == "binary":
        return ((hsh >> np.uint64(63)) * np.uint64(255)).astype(np.uint8)
    if kind == "smooth":
        px, py = 3 + seed % 37, 5 + (seed * 7) % 53  # half periods, px
        ox, oy = (seed * 13) % (2 * px), (seed * 29) % (2 * py)
        tx = (x + ox) % (2 * px)
        tx = np.minimum(tx, 2 * px - tx) * 255 // px
        ty = (y + oy) % (2 * py)
        ty = np.minimum(ty, 2 * py - ty) * 255 // py
        a = 64 + seed % 128
        v = (tx * a + ty * (256 - a)) // 256 + (hsh >> np.uint64(61)).astype(np.int64)
        return np.minimum(v, 255).astype(np.uint8)
    raise ValueError(kind)


def predictor(s: int) -> BasePredictor:
    """A BasePredictor set up as for an exported ONNX model with static input s x s, without loading one."""
    p = BasePredictor.__new__(BasePredictor)
    p.model = SimpleNamespace(fp16=False, format="onnx", dynamic=False, stride=32)
    p.imgsz = (s, s)
    p.args = SimpleNamespace(rect=True)  # rect=True must still give auto=False for a static ONNX model
    p.scale_fill = False
    p.device = torch.device("cpu")
    return p


def write_bin(name: str, arr: np.ndarray) -> str:
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    (OUT / name).write_bytes(arr.tobytes())
    return name


def resize_cases(rng: np.random.Generator) -> list[dict]:
    fixed = [
        # (kind, h, w, oh, ow)
        ("noise", 1, 1, 5, 7),
        ("noise", 1, 50, 3, 70),
        ("noise", 5, 1, 9, 4),
        ("smooth", 1, 3000, 1, 320),
        ("smooth", 3000, 1, 320, 1),
        ("noise", 2, 2, 1, 1),
        ("noise", 3, 5, 1, 1),
        ("noise", 7, 7, 7, 7),
        ("binary", 40, 40, 20, 20),  # exact 2x down
        ("noise", 20, 20, 40, 40),  # exact 2x up
        ("noise", 64, 64, 16, 16),  # 4x down
        ("smooth", 33, 17, 64, 31),
        ("binary", 31, 47, 97, 13),
        ("noise", 500, 300, 19, 33),
        ("smooth", 64, 64, 64, 48),
        ("noise", 1, 2, 1, 3),
    ]
    cases = [dict(kind=k, seed=i + 1, h=h, w=w, oh=oh, ow=ow) for i, (k, h, w, oh, ow) in enumerate(fixed)]
    kinds = ["noise", "smooth", "binary"]
    for i in range(40):
        h, w = (int(v) for v in rng.integers(1, 220, 2))
        oh, ow = (int(v) for v in rng.integers(1, 90, 2))
        cases.append(dict(kind=kinds[i % 3], seed=100 + i, h=h, w=w, oh=oh, ow=ow))
    out = []
    for n, c in enumerate(cases):
        img = make_image(c["kind"], c["seed"], c["h"], c["w"])
        res = cv2.resize(img, (c["ow"], c["oh"]), interpolation=cv2.INTER_LINEAR)
        assert res.shape == (c["oh"], c["ow"]), (res.shape, c)
        # a 3-channel image of the replicated gray one resizes channel by channel identically
        res3 = cv2.resize(np.repeat(img[:, :, None], 3, axis=2), (c["ow"], c["oh"]), interpolation=cv2.INTER_LINEAR)
        res3 = res3.reshape(c["oh"], c["ow"], 3)
        assert all(np.array_equal(res3[:, :, k], res) for k in range(3)), c
        c["file"] = write_bin(f"resize_{n:03d}.bin", res)
        out.append(c)
    return out


def letterbox_cases(rng: np.random.Generator) -> list[dict]:
    fixed = [
        # (S, kind, h, w)
        (320, "noise", 2048, 2048),
        (320, "smooth", 777, 1234),
        (320, "noise", 100, 60),  # upscaling, odd padding
        (64, "smooth", 1, 3000),
        (64, "noise", 3000, 1),
        (64, "noise", 1, 1),
        (64, "smooth", 64, 64),  # no resize
        (64, "binary", 128, 128),  # exact 2x down
        (64, "noise", 32, 32),  # exact 2x up
        (64, "smooth", 5, 3),
        (64, "noise", 2000, 30),
        (64, "smooth", 63, 65),
        (64, "binary", 480, 640),
        (64, "noise", 128, 5),  # 5 * 0.5 = 2.5 rounds to 2
    ]
    cases = [dict(s=s, kind=k, seed=200 + i, h=h, w=w) for i, (s, k, h, w) in enumerate(fixed)]
    kinds = ["noise", "smooth", "binary"]
    for i in range(8):
        h, w = (int(v) for v in rng.integers(1, 400, 2))
        cases.append(dict(s=64, kind=kinds[i % 3], seed=300 + i, h=h, w=w))
    out = []
    for n, c in enumerate(cases):
        s = c["s"]
        gray = make_image(c["kind"], c["seed"], c["h"], c["w"])
        bgr = np.repeat(gray[:, :, None], 3, axis=2)
        direct = LetterBox((s, s))(image=bgr.copy())
        assert direct.shape == (s, s, 3) and all(np.array_equal(direct[:, :, k], direct[:, :, 0]) for k in range(3))
        t = predictor(s).preprocess([bgr.copy()])  # (1, 3, s, s) float32 RGB / 255
        assert t.shape == (1, 3, s, s) and t.dtype == torch.float32
        t = t[0].numpy()
        u8 = np.rint(t[0] * 255).astype(np.uint8)
        assert np.array_equal(u8, direct[:, :, 0])
        assert all(np.array_equal(t[k], u8.astype(np.float32) / np.float32(255)) for k in range(3))
        params = LetterBox((s, s)).get_params({"img": bgr})
        c["new_h"], c["new_w"] = params["new_unpad"][1], params["new_unpad"][0]
        c["top"], c["left"] = params["top"], params["left"]
        c["file"] = write_bin(f"lb{s}_{n:03d}.bin", u8)
        out.append(c)
    return out


def geometry_cases(rng: np.random.Generator) -> list[dict]:
    shapes = [(1, 1, 320, 320), (1, 3000, 320, 320), (3000, 1, 320, 320), (2048, 2048, 320, 320),
              (777, 1234, 320, 320), (100, 100, 320, 320), (480, 640, 640, 640), (1080, 1920, 640, 640),
              (321, 320, 320, 320), (5, 7, 64, 64), (999, 1001, 64, 64), (480, 640, 320, 256),
              (640, 480, 256, 320), (7, 1, 640, 640), (1, 2, 2, 2),
              # src * r exactly k + 0.5: Python rounds to even
              (640, 5, 320, 320), (5, 640, 320, 320), (1000, 9, 500, 500), (10, 5, 5, 5), (2, 1, 1, 1), (6, 4, 3, 3)]
    for _ in range(300):
        s = int(rng.choice([32, 64, 320, 640, 1024]))
        h, w = (int(v) for v in rng.integers(1, 5000, 2))
        shapes.append((h, w, s, s))
    for _ in range(20):
        h, w, sh, sw = (int(v) for v in rng.integers(1, 900, 4))
        shapes.append((h, w, sh, sw))
    out = []
    for h, w, sh, sw in shapes:
        p = LetterBox((sh, sw)).get_params({"img": np.zeros((h, w, 3), np.uint8)})
        out.append(dict(h=h, w=w, dst_h=sh, dst_w=sw, new_h=p["new_unpad"][1], new_w=p["new_unpad"][0],
                        top=p["top"], bottom=p["bottom"], left=p["left"], right=p["right"],
                        ratio=repr(p["ratio"][0])))  # a string: exact f64 whatever the JSON parser
    return out


def box_cases(rng: np.random.Generator) -> list[dict]:
    geoms = [(2048, 2048, 320), (777, 1234, 320), (1234, 777, 320), (100, 60, 320), (1, 3000, 320),
             (3000, 1, 64), (480, 640, 640), (1080, 1920, 640), (4096, 3000, 640), (999, 1001, 64),
             (5, 3, 64), (8000, 6000, 1024)]
    out = []
    for h, w, s in geoms:
        boxes = rng.uniform(-0.1 * s, 1.1 * s, (12, 4)).astype(np.float32)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        boxes[0] = [0, 0, s, s]
        boxes[1] = [s / 2 - 0.25, s / 2 + 0.25, s / 2 + 1.5, s / 2 + 3.75]
        res = ops.scale_boxes((s, s), torch.from_numpy(boxes.copy()), (h, w, 3))
        assert res.dtype == torch.float32
        out.append(dict(h=h, w=w, s=s, boxes=boxes.astype(np.float64).tolist(),
                        expected=res.numpy().astype(np.float64).tolist()))
    return out


def mask_crop_cases(rng: np.random.Generator) -> list[dict]:
    """The [top:bottom, left:right] slice scale_masks cuts, observed by replacing its F.interpolate."""
    geoms = [(2048, 2048, 320, 320), (777, 1234, 320, 320), (1, 3000, 320, 320), (3000, 1, 80, 80),
             (777, 1234, 80, 80), (777, 1234, 160, 160), (100, 60, 320, 320), (480, 640, 160, 160),
             (64, 64, 64, 64), (5, 3, 16, 16)]
    for _ in range(30):
        h, w = (int(v) for v in rng.integers(1, 3000, 2))
        m = int(rng.choice([16, 80, 160, 320, 640]))
        geoms.append((h, w, m, m))
    out = []
    for h, w, mh, mw in geoms:
        masks = torch.arange(mh * mw, dtype=torch.float64).view(1, 1, mh, mw)
        seen = {}

        def fake_interpolate(x, size=None, mode=None, **kw):
            seen["crop"] = x
            return x

        with mock.patch.object(ops.F, "interpolate", fake_interpolate):
            ops.scale_masks(masks, (h, w))
        crop = seen.get("crop")
        if crop is None:  # same shape: scale_masks returns the masks untouched
            top, left, ch, cw = 0, 0, mh, mw
        else:
            ch, cw = crop.shape[2:]
            first = int(crop[0, 0, 0, 0]) if ch and cw else 0
            top, left = divmod(first, mw)
        out.append(dict(h=h, w=w, mask_h=mh, mask_w=mw, top=top, left=left, crop_h=int(ch), crop_w=int(cw)))
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for f in OUT.glob("*.bin"):
        f.unlink()
    rng = np.random.default_rng(20240611)
    lut = (torch.arange(256, dtype=torch.uint8).float().div_(255)).numpy()  # as preprocess on CPU
    index = dict(
        versions=dict(cv2=cv2.__version__, ultralytics=ultralytics.__version__, torch=torch.__version__,
                      numpy=np.__version__),
        resize=resize_cases(rng),
        letterbox=letterbox_cases(rng),
        geometry=geometry_cases(rng),
        boxes=box_cases(rng),
        mask_crop=mask_crop_cases(rng),
        input_values=lut.astype(np.float64).tolist(),
    )
    (OUT / "index.json").write_text(json.dumps(index, separators=(",", ":")) + "\n")
    total = sum(f.stat().st_size for f in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files, {total / 1e6:.3f} MB, into {os.path.relpath(OUT)}")


if __name__ == "__main__":
    main()
