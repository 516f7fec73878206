#!/usr/bin/env python3
"""Reference data for the corrflow-preprocess tests (tests/reference.rs).

Builds small deterministic float32 test images and writes them, together with
the outputs of numpy / scipy.ndimage / scikit-image / OpenCV for every function
of the crate, to ``plugins/preprocess/tests/data/``:

* ``<name>.npy``   - little-endian float32 arrays (.npy format version 1.0),
* ``manifest.json`` - the list of cases: function, input, parameters, expected
  output file, plus the library versions that produced them.

How to run (from the repository root)::

    pip install numpy==2.4.6 scipy==1.17.1 scikit-image==0.26.0 \
        opencv-python-headless==5.0.0.93
    python3 plugins/preprocess/reference/make_reference.py

The committed data were generated with Python 3.11.7, numpy 2.4.6,
scipy 1.17.1, scikit-image 0.26.0 and opencv-python-headless 5.0.0.93
(cv2 5.0.0). The output is deterministic: re-running the script with these
versions reproduces the files byte for byte.

Reference used for each function of the crate:

* percentile_normalize: ``np.percentile`` (default linear method), then
  ``np.clip((x - lo) / (hi - lo), 0, 1)`` in float32;
* clahe: ``skimage.exposure.equalize_adapthist``;
* gaussian: ``scipy.ndimage.gaussian_filter(mode='reflect', truncate=4.0)``;
* median: ``scipy.ndimage.median_filter(size=s, mode='reflect')``;
* flatten_background: ``B = gaussian_filter(...)``, ``m = float32(mean(B) in
  float64)``, ``(x - B) + m`` or ``(x / B) * m`` in float32;
* invert: ``(min + max) - x`` in float32;
* resample: shrinking by an integer factor that divides the shape:
  ``skimage.measure.block_reduce(img, (f, f), np.mean)``; other shrinking:
  ``cv2.resize(..., interpolation=cv2.INTER_AREA)``; enlarging:
  ``skimage.transform.resize(img, shape, order=1, mode='edge',
  anti_aliasing=False, preserve_range=True)``. The output shape is
  ``floor(n * from_nm / to_nm + 0.5)`` (at least 1), the crate's rule.
"""

import json
import math
import pathlib
import platform

import cv2
import numpy as np
import scipy
import scipy.ndimage as ndi
import skimage
from skimage.exposure import equalize_adapthist
from skimage.measure import block_reduce
from skimage.transform import resize

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"


def f32(a):
    return np.ascontiguousarray(np.asarray(a, dtype="<f4"))


def make_images():
    rng = np.random.default_rng(20240611)
    imgs = {}

    # 37 x 53: smooth gradients + texture + Gaussian noise, values ~70..170
    y, x = np.mgrid[0:37, 0:53].astype(np.float64)
    a = (
        100.0
        + 40.0 * x / 52.0
        + 25.0 * y / 36.0
        + 10.0 * np.sin(x / 5.0) * np.cos(y / 7.0)
        + rng.normal(0.0, 3.0, (37, 53))
    )
    imgs["a"] = f32(a)

    # 64 x 48: vignetting-like background, a constant plateau, hot pixels
    y, x = np.mgrid[0:64, 0:48].astype(np.float64)
    r2 = ((y - 30.0) / 40.0) ** 2 + ((x - 20.0) / 30.0) ** 2
    b = 200.0 * np.exp(-r2) + 20.0 + rng.normal(0.0, 4.0, (64, 48))
    b[10:30, 5:25] = 50.0  # constant region
    hot = rng.integers(0, 64 * 48, 12)
    b.flat[hot] = 400.0  # salt noise
    imgs["b"] = f32(b)

    # [0, 1] versions for CLAHE (scikit-image needs float images in [-1, 1])
    for k in ("a", "b"):
        v = imgs[k].astype(np.float64)
        imgs[k + "01"] = f32((v - v.min()) / (v.max() - v.min()))
    # some negative values: clipped to 0 by skimage's 16-bit conversion
    imgs["neg"] = f32(imgs["a01"].astype(np.float64) * 1.2 - 0.2)

    # tiny images: windows/kernels larger than the image
    imgs["c"] = f32(rng.random((5, 7)))
    imgs["row"] = f32(rng.random((1, 9)))
    return imgs


def out_shape(shape, from_nm, to_nm):
    return tuple(max(1, int(math.floor(n * from_nm / to_nm + 0.5))) for n in shape)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.npy"):
        old.unlink()
    imgs = make_images()
    for name, img in imgs.items():
        np.save(OUT / f"{name}.npy", img)

    cases = []

    def add(func, inp, params, expected, note=""):
        fname = f"{func}_{len(cases):02d}_{inp}.npy"
        np.save(OUT / fname, f32(expected))
        cases.append(
            {
                "func": func,
                "input": f"{inp}.npy",
                "params": params,
                "expected": fname,
                "reference": note,
            }
        )

    # percentile_normalize
    for inp, lo, hi in [("a", 0.5, 99.5), ("a", 2.0, 98.0), ("b", 0.5, 99.5),
                        ("b", 0.0, 100.0), ("c", 10.0, 90.0), ("row", 25.0, 75.0)]:
        img = imgs[inp]
        p_lo = np.percentile(img, lo)
        p_hi = np.percentile(img, hi)
        assert p_lo.dtype == np.float32 and p_hi.dtype == np.float32
        exp = np.clip((img - p_lo) / (p_hi - p_lo), 0, 1)
        add("percentile_normalize", inp, {"low": lo, "high": hi}, exp,
            "np.clip((x - np.percentile(x, low)) / (np.percentile(x, high) - np.percentile(x, low)), 0, 1)")

    # clahe
    for inp, ks, clip, nbins in [
        ("a01", None, 0.01, 256),
        ("a01", [8, 8], 0.03, 128),
        ("a01", [10, 20], 0.05, 300),
        ("a01", [37, 53], 0.01, 64),
        ("b01", None, 0.01, 256),
        ("b01", [5, 7], 0.0, 256),
        ("b01", [16, 12], 1.0, 256),
        ("neg", None, 0.01, 256),
        ("c", None, 0.01, 256),
        ("c", [3, 4], 0.1, 32),
        ("row", None, 0.01, 256),
    ]:
        kernel = None if ks is None else tuple(ks)
        exp = equalize_adapthist(imgs[inp], kernel_size=kernel, clip_limit=clip, nbins=nbins)
        assert exp.dtype == np.float32
        add("clahe", inp, {"kernel_size": ks, "clip_limit": clip, "nbins": nbins}, exp,
            "skimage.exposure.equalize_adapthist")

    # gaussian
    for inp, s in [("a", 0.8), ("a", 2.0), ("a", 5.0), ("b", 1.5), ("b", 12.0),
                   ("c", 3.0), ("row", 2.0), ("a", 0.1),
                   ("a", 1.2), ("b", 0.9), ("c", 0.125)]:
        exp = ndi.gaussian_filter(imgs[inp], s, mode="reflect", truncate=4.0)
        add("gaussian", inp, {"sigma_px": s}, exp,
            "scipy.ndimage.gaussian_filter(mode='reflect', truncate=4.0)")

    # median
    for inp, size in [("a", 3), ("a", 5), ("b", 3), ("b", 9), ("c", 5), ("c", 7),
                      ("row", 3), ("b", 1)]:
        exp = ndi.median_filter(imgs[inp], size=size, mode="reflect")
        add("median", inp, {"size": size}, exp, "scipy.ndimage.median_filter(mode='reflect')")

    # flatten_background
    for inp, s, mode in [("a", 3.0, "subtract"), ("a", 8.0, "divide"),
                         ("b", 10.0, "divide"), ("b", 4.0, "subtract")]:
        img = imgs[inp]
        bg = ndi.gaussian_filter(img, s, mode="reflect", truncate=4.0)
        m = np.float32(bg.astype(np.float64).mean())
        exp = (img - bg) + m if mode == "subtract" else (img / bg) * m
        add("flatten_background", inp, {"sigma_px": s, "mode": mode}, exp,
            "B = gaussian_filter; (x - B) + mean(B) | (x / B) * mean(B)")

    # invert
    for inp in ("a", "b", "c"):
        img = imgs[inp]
        add("invert", inp, {}, (img.min() + img.max()) - img, "(min + max) - x")

    # resample
    for inp, from_nm, to_nm in [("b", 1.0, 2.0), ("b", 1.0, 4.0), ("a", 1.0, 1.7),
                                ("b", 2.0, 3.0), ("a", 1.0, 2.0), ("c", 1.0, 2.5),
                                ("a", 2.0, 1.3), ("c", 1.0, 0.4), ("row", 1.0, 0.5),
                                ("b", 1.0, 0.7), ("a", 1.0, 1.0)]:
        img = imgs[inp]
        shape = out_shape(img.shape, from_nm, to_nm)
        h, w = img.shape
        if shape[0] < h:
            f = to_nm / from_nm
            if f == int(f) and h % int(f) == 0 and w % int(f) == 0 \
                    and shape == (h // int(f), w // int(f)):
                f = int(f)
                exp = block_reduce(img, (f, f), np.mean)
                note = f"skimage.measure.block_reduce(img, ({f}, {f}), np.mean)"
            else:
                exp = cv2.resize(img, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
                note = "cv2.resize(INTER_AREA)"
        else:
            exp = resize(img, shape, order=1, mode="edge", anti_aliasing=False,
                         preserve_range=True)
            note = "skimage.transform.resize(order=1, mode='edge', anti_aliasing=False)"
        assert exp.shape == shape, (exp.shape, shape)
        add("resample", inp, {"from_nm": from_nm, "to_nm": to_nm}, exp, note)

    manifest = {
        "generated_by": "plugins/preprocess/reference/make_reference.py",
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-image": skimage.__version__,
            "opencv": cv2.__version__,
        },
        "cases": cases,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(cases)} cases, {total} bytes to {OUT}")


if __name__ == "__main__":
    main()
