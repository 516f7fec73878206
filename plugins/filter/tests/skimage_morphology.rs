//! The mask operations of `rules` against scipy / scikit-image 0.26 on random masks (unions of
//! discs with holes, some cut by the image border): `fill_holes` = scipy.ndimage.binary_fill_holes,
//! `opening` / `closing` = skimage.morphology.binary_opening / binary_closing with disk(r), all on
//! the full image. Expected identical, pixel for pixel.

use corrflow_filter::rules::{closing, fill_holes, opening};
use corrflow_test_support::{Python, python_has};
use corrflow_types::Mask;
use ndarray::Array2;

const TEST: &str = "skimage_morphology";

/// SplitMix64: deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn f(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A union of a few discs minus a few smaller ones, on an `h`×`w` image.
fn random_mask(rng: &mut Rng, h: usize, w: usize) -> Array2<bool> {
    let mut m = Array2::from_elem((h, w), false);
    let (cy, cx) = (rng.f(0.0, h as f64), rng.f(0.0, w as f64));
    let n_add = 1 + (rng.next() % 4) as usize;
    for _ in 0..n_add {
        let (y, x, r) = (
            cy + rng.f(-8.0, 8.0),
            cx + rng.f(-8.0, 8.0),
            rng.f(1.0, 9.0),
        );
        paint(&mut m, y, x, r, true);
    }
    for _ in 0..(rng.next() % 3) {
        let (y, x, r) = (
            cy + rng.f(-6.0, 6.0),
            cx + rng.f(-6.0, 6.0),
            rng.f(0.5, 3.0),
        );
        paint(&mut m, y, x, r, false);
    }
    m
}

fn paint(m: &mut Array2<bool>, y: f64, x: f64, r: f64, v: bool) {
    for ((i, j), p) in m.indexed_iter_mut() {
        if (i as f64 - y).powi(2) + (j as f64 - x).powi(2) <= r * r {
            *p = v;
        }
    }
}

fn bits(a: &Array2<bool>) -> String {
    a.iter().map(|&v| if v { '1' } else { '0' }).collect()
}

const SCRIPT: &str = r#"
import json, sys
import warnings
import numpy as np
from scipy.ndimage import binary_fill_holes
from skimage.morphology import binary_opening, binary_closing, disk
warnings.simplefilter("ignore")
cases = json.load(sys.stdin)
out = []
for c in cases:
    m = np.array([ch == "1" for ch in c["mask"]], bool).reshape(c["h"], c["w"])
    r = c["r"]
    b = lambda a: "".join("1" if v else "0" for v in a.ravel())
    out.append(dict(fill=b(binary_fill_holes(m)), open=b(binary_opening(m, disk(r))),
                    close=b(binary_closing(m, disk(r)))))
json.dump(out, sys.stdout)
"#;

#[test]
fn skimage_morphology() {
    if !python_has(TEST, &["numpy", "scipy", "skimage"]) {
        return;
    }
    let mut rng = Rng(0x0F11_7E25_0000_0001);
    let sizes = [(30, 40), (24, 24), (40, 33), (12, 50)];
    let mut cases = Vec::new();
    for k in 0..60 {
        let (h, w) = sizes[k % sizes.len()];
        let m = random_mask(&mut rng, h, w);
        let r = 1 + k % 4;
        cases.push((h, w, r, m));
    }
    let input = serde_json::Value::Array(
        cases
            .iter()
            .map(|(h, w, r, m)| serde_json::json!({"h": h, "w": w, "r": r, "mask": bits(m)}))
            .collect(),
    );
    let out = Python::new(TEST, SCRIPT).stdin(input.to_string()).run();
    let expected: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let mut nonempty = 0;
    for (k, ((h, w, r, m), e)) in cases.iter().zip(&expected).enumerate() {
        let (h, w, r) = (*h, *w, *r);
        let mask = Mask::from_full(m.view());
        nonempty += usize::from(mask.area_px() > 0);
        // A loose box (one pixel of margin where the image allows) must not matter.
        let loose = {
            let y0 = mask.y0.saturating_sub(1);
            let x0 = mask.x0.saturating_sub(1);
            let y1 = (mask.y1() + 1).min(h);
            let x1 = (mask.x1() + 1).min(w);
            Mask::new(x0, y0, m.slice(ndarray::s![y0..y1, x0..x1]).to_owned())
        };
        let dims = (h, w);
        for (name, ours) in [
            ("fill", fill_holes(&mask)),
            ("open", opening(&mask, r, dims)),
            ("close", closing(&mask, r, dims)),
            ("open", opening(&loose, r, dims)),
            ("close", closing(&loose, r, dims)),
        ] {
            assert_eq!(
                bits(&ours.to_full(h, w)),
                e[name].as_str().unwrap(),
                "case {k} ({h}×{w}, r = {r}): {name} differs"
            );
        }
    }
    assert!(nonempty > 40, "{nonempty}");
    println!("{TEST}: {} cases identical to scipy/skimage", cases.len());
}
