#!/usr/bin/env python3
"""Reference data for the corrflow-nanosims alignment tests (tests/skimage_reference.rs).

Computes ``skimage.registration.phase_cross_correlation(reference, moving,
upsample_factor=U)`` (default ``normalization="phase"``; a few cases with
``normalization=None``) on a set of image pairs and writes
the results to ``plugins/nanosims/tests/data/``:

* ``align_<name>_{ref,mov}.npy`` - synthetic image pairs (little-endian float64, .npy 1.0):
  Gaussian blobs on a background, shifted with a Fourier shift or cut from a larger image
  at offset positions, with independent Poisson noise on each image (seeded);
* ``align_manifest.json`` - the list of cases (inputs, upsample factor, normalization
  ("phase" when absent, or "none" for ``normalization=None``), the shift applied to the
  content of the moving image, skimage's ``shift``, ``error`` and ``phasediff``) and the
  library versions.

Cases on the real ion map ``shared/data/nanosims/OpenMIMS_doc_051117_05-32dRe-03b.im``
(12C14N, read in place, never copied) are described in the manifest by how to rebuild their
inputs (crop rows/cols of one mass; moving = periodic Fourier shift of the reference, or
another crop), so only skimage's outputs are committed; the Rust test rebuilds the inputs
and skips those cases when the file is absent. The Fourier shift is
``real(ifft2(fft2(a) * exp(-2j*pi*(dy*fftfreq(h)[:, None] + dx*fftfreq(w)[None, :]))))``
(checked below against ``scipy.ndimage.fourier_shift``), the same as
``corrflow_nanosims::align::fourier_shift``.

How to run (from the repository root)::

    pip install numpy==2.4.6 scipy==1.17.1 scikit-image==0.26.0
    python3 plugins/nanosims/reference/make_reference.py

The committed data were generated with Python 3.11.7, numpy 2.4.6, scipy 1.17.1 and
scikit-image 0.26.0; the output is deterministic (seeded ``numpy.random.default_rng``).
"""

import json
import sys
from pathlib import Path

import numpy as np
import scipy
import scipy.ndimage
import skimage
from skimage.registration import phase_cross_correlation

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "tests" / "data"
REPO = HERE.parents[2]
IM_FILE = REPO.parent / "shared" / "data" / "nanosims" / "OpenMIMS_doc_051117_05-32dRe-03b.im"
IM_HEADER = 25184
IM_SHAPE = (4, 256, 256)  # masses 12C, 13C, 12C14N, 12C15N; 1 plane; big-endian u16


def fourier_shift(a, dy, dx):
    h, w = a.shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    out = np.fft.ifft2(np.fft.fft2(a) * np.exp(-2j * np.pi * (dy * fy + dx * fx))).real
    ref = np.fft.ifft2(scipy.ndimage.fourier_shift(np.fft.fft2(a), (dy, dx))).real
    assert np.allclose(out, ref, rtol=0, atol=1e-9 * np.abs(a).max()), "fourier_shift differs"
    return out


def blobs(h, w, rng, n=12):
    """Gaussian blobs on a textured background (expected counts per pixel)."""
    y, x = np.mgrid[0:h, 0:w].astype(float)
    texture = scipy.ndimage.gaussian_filter(rng.uniform(0, 1, (h, w)), 0.8, mode="wrap")
    img = 20.0 + 300.0 * texture
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        s = rng.uniform(1.5, 5.0)
        amp = rng.uniform(50, 400)
        img += amp * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    return img


def save(name, a):
    a = np.ascontiguousarray(a, dtype="<f8")
    np.save(OUT / name, a, allow_pickle=False)
    return name


def pcc(ref, mov, u, normalization="phase"):
    shift, error, phasediff = phase_cross_correlation(
        ref, mov, upsample_factor=u, normalization=normalization
    )
    return {
        "shift": [float(shift[0]), float(shift[1])],
        "error": float(error),
        "phasediff": float(phasediff),
    }


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240517)
    cases = []

    def synthetic_fourier(name, h, w, shift, ups):
        truth = blobs(h, w, rng)
        ref = rng.poisson(truth).astype(float)
        mov = rng.poisson(np.clip(fourier_shift(truth, *shift), 0, None)).astype(float)
        fr, fm = save(f"align_{name}_ref.npy", ref), save(f"align_{name}_mov.npy", mov)
        for u in ups:
            cases.append({
                "name": f"{name}_U{u}",
                "reference": {"npy": fr},
                "moving": {"npy": fm},
                "applied_shift": list(shift),
                "upsample": u,
                "skimage": pcc(ref, mov, u),
            })

    synthetic_fourier("s64", 64, 64, (3.37, -5.81), [1, 10, 100])
    s64 = cases[-1]
    synthetic_fourier("s48x80", 48, 80, (-7.62, 12.15), [20])
    synthetic_fourier("s33x47", 33, 47, (2.5, -1.25), [10, 4])
    synthetic_fourier("wrap33x47", 33, 47, (-15.3, 21.6), [50])

    # plain cross-correlation (normalization=None)
    def no_norm(case, u):
        ref = np.load(OUT / case["reference"]["npy"])
        mov = np.load(OUT / case["moving"]["npy"])
        base = case["name"].rsplit("_U", 1)[0]
        c = dict(case, name=f"{base}_none_U{u}", upsample=u, normalization="none")
        c["skimage"] = pcc(ref, mov, u, None)
        cases.append(c)

    no_norm(s64, 10)

    # non-periodic drift: two 64x64 windows of a larger image
    big_truth = blobs(96, 96, rng, n=30)
    ref = rng.poisson(big_truth[10:74, 12:76]).astype(float)
    mov = rng.poisson(big_truth[13:77, 8:72]).astype(float)
    fr, fm = save("align_crop_ref.npy", ref), save("align_crop_mov.npy", mov)
    for u in (1, 10):
        cases.append({
            "name": f"crop_U{u}",
            "reference": {"npy": fr},
            "moving": {"npy": fm},
            "applied_shift": [-3.0, 4.0],
            "upsample": u,
            "skimage": pcc(ref, mov, u),
        })
    no_norm(cases[-1], 20)

    # real ion map cases: inputs rebuilt by the Rust test from the .im file
    if IM_FILE.exists():
        data = np.fromfile(IM_FILE, dtype=">u2", offset=IM_HEADER)
        assert data.size == np.prod(IM_SHAPE), data.size
        cn = data.reshape(IM_SHAPE)[2].astype(float)  # 12C14N
        full = {"im_mass": 2, "rows": [0, 256], "cols": [0, 256]}
        for shift, u in (((1.3, -2.7), 100), ((0.25, 0.5), 100), ((-3.6, 4.05), 20)):
            mov = fourier_shift(cn, *shift)
            cases.append({
                "name": f"im_12C14N_fourier_{shift[0]}_{shift[1]}_U{u}",
                "reference": full,
                "moving": {"fourier_shift_of_reference": list(shift)},
                "applied_shift": list(shift),
                "upsample": u,
                "skimage": pcc(cn, mov, u),
            })
        r = {"im_mass": 2, "rows": [40, 168], "cols": [60, 188]}
        m = {"im_mass": 2, "rows": [45, 173], "cols": [57, 185]}
        ref = cn[40:168, 60:188]
        mov = cn[45:173, 57:185]
        cases.append({
            "name": "im_12C14N_crop_U20",
            "reference": r,
            "moving": m,
            "applied_shift": [-5.0, 3.0],
            "upsample": 20,
            "skimage": pcc(ref, mov, 20),
        })
        c = dict(cases[-1], name="im_12C14N_crop_none_U20", normalization="none")
        c["skimage"] = pcc(ref, mov, 20, None)
        cases.append(c)
    else:
        print(f"note: {IM_FILE} not found: real ion map cases skipped", file=sys.stderr)

    manifest = {
        "generator": "plugins/nanosims/reference/make_reference.py",
        "function": "skimage.registration.phase_cross_correlation(reference, moving, "
        "upsample_factor=upsample)  # normalization='phase'",
        "im_file": "shared/data/nanosims/OpenMIMS_doc_051117_05-32dRe-03b.im",
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "scikit-image": skimage.__version__,
        },
        "cases": cases,
    }
    (OUT / "align_manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(p.stat().st_size for p in OUT.glob("align_*"))
    print(f"{len(cases)} cases, {total / 1024:.0f} KiB in {OUT}")
    for c in cases:
        print(f"  {c['name']:40s} applied {c['applied_shift']} -> skimage {c['skimage']['shift']}")


if __name__ == "__main__":
    main()
