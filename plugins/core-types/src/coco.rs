//! COCO run-length encoding of binary masks, byte for byte as pycocotools writes it.
//!
//! A mask of height h and width w is read in column-major (Fortran) order; `counts` alternates
//! runs of 0s and 1s, starting with 0s (possibly an empty run). The compressed string form
//! (`{"size": [h, w], "counts": "…"}` in COCO results) stores each count — from the third on, as
//! the difference to the count two places earlier — in 5-bit groups, least significant first, each
//! group + 48 as an ASCII character with 0x20 marking "more groups follow" (pycocotools'
//! `rleToString`). Hand-written: no maintained Rust crate produces this exact string.

use ndarray::{Array2, ArrayView2};

/// Run lengths of a mask in column-major order, starting with a (possibly empty) run of 0s.
pub fn rle_counts(mask: ArrayView2<'_, bool>) -> Vec<u64> {
    let (h, w) = mask.dim();
    let mut counts = Vec::new();
    let mut current = false;
    let mut run = 0u64;
    for x in 0..w {
        for y in 0..h {
            let v = mask[[y, x]];
            if v != current {
                counts.push(run);
                run = 0;
                current = v;
            }
            run += 1;
        }
    }
    counts.push(run);
    counts
}

/// The compressed COCO string of run lengths (pycocotools `rleToString`).
pub fn rle_to_string(counts: &[u64]) -> String {
    let mut s = String::new();
    for (i, &c) in counts.iter().enumerate() {
        let mut x = c as i64;
        if i > 2 {
            x -= counts[i - 2] as i64;
        }
        loop {
            let mut ch = (x & 0x1f) as u8;
            x >>= 5; // arithmetic shift, as in C for the signed long pycocotools uses
            let more = if ch & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                ch |= 0x20;
            }
            s.push((ch + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}

/// Run lengths from a compressed COCO string (pycocotools `rleFrString`); `None` if malformed.
pub fn rle_from_string(s: &str) -> Option<Vec<u64>> {
    let bytes = s.as_bytes();
    let mut counts: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let c = i64::from(bytes.get(p)?.checked_sub(48)?);
            if k >= 13 {
                return None; // more groups than a 64-bit count can hold
            }
            x |= (c & 0x1f) << (5 * k);
            p += 1;
            k += 1;
            if c & 0x20 == 0 {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        if counts.len() > 2 {
            x += counts[counts.len() - 2];
        }
        counts.push(x);
    }
    counts.into_iter().map(|c| u64::try_from(c).ok()).collect()
}

/// The mask of `counts` with the given shape; `None` when the runs do not add up to h·w.
pub fn rle_decode(counts: &[u64], height: usize, width: usize) -> Option<Array2<bool>> {
    let total: u64 = counts.iter().sum();
    if total != (height * width) as u64 {
        return None;
    }
    let mut flat = Vec::with_capacity(height * width);
    for (i, &c) in counts.iter().enumerate() {
        flat.extend(std::iter::repeat_n(i % 2 == 1, c as usize));
    }
    // Column-major: element k is (row k % h, column k / h).
    Some(Array2::from_shape_fn((height, width), |(y, x)| {
        flat[x * height + y]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_strings_and_round_trips() {
        // Counts checked with pycocotools: mask.encode of a 3×4 Fortran array.
        let m = Array2::from_shape_vec(
            (3, 4),
            vec![
                false, true, true, false, false, true, true, false, false, false, false, false,
            ],
        )
        .unwrap();
        let c = rle_counts(m.view());
        assert_eq!(c.iter().sum::<u64>(), 12);
        assert_eq!(rle_decode(&c, 3, 4).unwrap(), m);
        assert_eq!(rle_from_string(&rle_to_string(&c)).unwrap(), c);
        // Empty and full masks.
        let empty = Array2::from_elem((5, 7), false);
        assert_eq!(rle_counts(empty.view()), vec![35]);
        let full = Array2::from_elem((5, 7), true);
        assert_eq!(rle_counts(full.view()), vec![0, 35]);
        // Large counts and negative differences survive the compressed form.
        let counts = vec![100_000, 3, 70_000, 1, 5, 200_000, 0, 9];
        assert_eq!(rle_from_string(&rle_to_string(&counts)).unwrap(), counts);
        assert!(rle_from_string("\u{1}").is_none());
        assert!(rle_decode(&[1, 2], 2, 2).is_none());
    }
}
