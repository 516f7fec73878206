//! The compressed RLE strings equal pycocotools' for random masks (runs where Python with
//! pycocotools is installed; says it was skipped otherwise).

use corrflow_test_support::{Python, python_has};
use corrflow_types::coco::{rle_counts, rle_from_string, rle_to_string};
use ndarray::Array2;

const SCRIPT: &str = r#"
import sys, numpy as np
from pycocotools import mask
for line in sys.stdin:
    h, w, bits = line.split()
    m = np.array([c == "1" for c in bits], dtype=np.uint8).reshape(int(h), int(w))
    print(mask.encode(np.asfortranarray(m))["counts"].decode())
"#;

#[test]
fn compressed_rle_equals_pycocotools() {
    const TEST: &str = "compressed_rle_equals_pycocotools";
    if !python_has(TEST, &["pycocotools.mask", "numpy"]) {
        return;
    }
    // Random blobs of several sizes, including empty, full and thin shapes.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut masks = vec![
        Array2::from_elem((4, 9), false),
        Array2::from_elem((6, 3), true),
    ];
    for i in 0..40 {
        let (h, w) = (5 + (next() % 120) as usize, 5 + (next() % 90) as usize);
        let (cy, cx) = ((next() % h as u64) as f64, (next() % w as u64) as f64);
        let (ry, rx) = (1.0 + (next() % 60) as f64, 1.0 + (next() % 60) as f64);
        let noise = i % 3 == 0;
        masks.push(Array2::from_shape_fn((h, w), |(y, x)| {
            let d = ((y as f64 - cy) / ry).powi(2) + ((x as f64 - cx) / rx).powi(2);
            d < 1.0 || (noise && (y * 31 + x * 17) % 11 == 0)
        }));
    }
    let input: String = masks
        .iter()
        .map(|m| {
            let bits: String = m.iter().map(|&b| if b { '1' } else { '0' }).collect();
            format!("{} {} {bits}\n", m.nrows(), m.ncols())
        })
        .collect();
    let expected: Vec<String> = Python::new(TEST, SCRIPT)
        .stdin(input)
        .run()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(expected.len(), masks.len());
    for (m, want) in masks.iter().zip(&expected) {
        let counts = rle_counts(m.view());
        assert_eq!(
            &rle_to_string(&counts),
            want,
            "{}×{} mask",
            m.nrows(),
            m.ncols()
        );
        assert_eq!(rle_from_string(want).unwrap(), counts);
    }
}
