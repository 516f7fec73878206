"""Make the three small EM-like example images used by pipelines/em-preprocess.yaml.

They stand in for real TEM sections until `corrflow synth` exists: a granular cytoplasm with a
bright nucleus-like region, dark membrane-bound round bodies, an illumination gradient and shot
noise, stored as 16-bit TIFF at 4 nm/px (ImageJ resolution tags).

Run from this folder: `python3 make_images.py` (numpy, scipy, tifffile). Deterministic per seed.
"""

import numpy as np
import tifffile
from scipy import ndimage

SIZE = 384
PIXEL_NM = 4.0


def make(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    img = ndimage.gaussian_filter(rng.normal(0.0, 1.0, (SIZE, SIZE)), 1.5) * 900 + 22000
    # A large bright region with a darker rim (nucleus-like).
    cy, cx, r = rng.uniform(80, 300, 2).tolist() + [rng.uniform(60, 90)]
    d = np.hypot(yy - cy, xx - cx)
    img += 6000 * (d < r) - 9000 * (np.abs(d - r) < 2.5)
    # Dark round bodies with a membrane.
    for _ in range(12):
        by, bx = rng.uniform(0, SIZE, 2)
        br = rng.uniform(6, 22)
        d = np.hypot(yy - by, xx - bx)
        img -= 7000 * (d < br) + 5000 * (np.abs(d - br) < 1.5)
    img *= 1.0 + 0.25 * (xx / SIZE - 0.5)  # uneven illumination
    img = rng.poisson(np.clip(img, 0, None) / 8.0) * 8.0  # shot noise
    return np.clip(img, 0, 65535).astype(np.uint16)


for i in range(3):
    tifffile.imwrite(
        f"cell{i + 1}.tif",
        make(i + 1),
        imagej=True,
        resolution=(1 / PIXEL_NM, 1 / PIXEL_NM),
        metadata={"unit": "nm"},
        compression="zlib",
    )
