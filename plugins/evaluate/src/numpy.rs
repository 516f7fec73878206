//! The few numpy operations COCOeval's numbers depend on, reproduced to the last bit: `linspace`,
//! `mean` (pairwise summation), stable `argsort` and `searchsorted`. Hand-written: these are
//! numpy's exact floating-point orders, which no Rust crate promises.

use std::cmp::Ordering;

/// `np.linspace(start, stop, num)` with `endpoint=True`: `i·step + start` with
/// `step = (stop − start)/(num − 1)`, the last value set to `stop` exactly.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num <= 1 {
        return vec![start; num];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut y: Vec<f64> = (0..num).map(|i| i as f64 * step + start).collect();
    y[num - 1] = stop;
    y
}

/// numpy's pairwise summation of a contiguous `float64` array (`pairwise_sum_DOUBLE`, block
/// size 128, 8 partial sums), which `np.sum` and `np.mean` use.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(0.0, |r, &x| r + x)
    } else if n <= 128 {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &a[i..] {
            res += x;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// `np.mean` of a 1-D `float64` array: pairwise sum / count; `None` when empty.
pub fn mean(a: &[f64]) -> Option<f64> {
    (!a.is_empty()).then(|| pairwise_sum(a) / a.len() as f64)
}

/// `np.argsort(-scores, kind='mergesort')`: indices by descending score, ties in input order
/// (NaN last, as numpy sorts it).
pub fn argsort_descending(scores: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (-scores[a], -scores[b]);
        match (x.is_nan(), y.is_nan()) {
            (false, false) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (a_nan, b_nan) => a_nan.cmp(&b_nan),
        }
    });
    idx
}

/// `np.argsort(flags, kind='mergesort')` of booleans: the `false` indices, then the `true` ones,
/// each in input order.
pub fn argsort_bools(flags: &[bool]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..flags.len()).collect();
    idx.sort_by_key(|&i| flags[i]);
    idx
}

/// `np.searchsorted(sorted, v, side='left')`: the first index whose value is `>= v`.
pub fn searchsorted_left(sorted: &[f64], v: f64) -> usize {
    sorted.partition_point(|&x| x < v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_is_numpys() {
        // Bit patterns printed by numpy: np.linspace(.5, .95, 10)[k].hex().
        let t = linspace(0.5, 0.95, 10);
        assert_eq!(t[0], 0.5);
        assert_eq!(t[1], f64::from_bits(0x3FE1_9999_9999_999A));
        assert_eq!(t[4], f64::from_bits(0x3FE6_6666_6666_6666));
        assert_eq!(t[5], 0.75);
        assert_eq!(t[9], 0.95);
        let r = linspace(0.0, 1.0, 101);
        assert_eq!(r.len(), 101);
        assert!((0..100).all(|i| r[i] == i as f64 * 0.01));
        assert_eq!(linspace(2.0, 3.0, 1), vec![2.0]);
        assert!(linspace(2.0, 3.0, 0).is_empty());
    }

    #[test]
    fn pairwise_sum_blocks() {
        // Small, one block and split arrays all add up (integers: exact in any order).
        for n in [0usize, 1, 7, 8, 9, 17, 128, 129, 300, 1000] {
            let a: Vec<f64> = (0..n).map(|i| i as f64).collect();
            assert_eq!(pairwise_sum(&a), (n * n.saturating_sub(1) / 2) as f64);
        }
        // The order matters for non-integers: 8 partial sums, not left to right.
        let a = [1e16, 1.0, -1e16, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        assert_eq!(pairwise_sum(&a), ((1e16 + 1.0) + (-1e16 + 1.0)) + 1.0);
        assert_eq!(mean(&[]), None);
        assert_eq!(mean(&[1.0, 2.0]), Some(1.5));
    }

    #[test]
    fn stable_sorts_and_search() {
        assert_eq!(
            argsort_descending(&[0.5, 0.9, 0.5, 1.0, 0.9]),
            vec![3, 1, 4, 0, 2]
        );
        assert_eq!(argsort_descending(&[0.0, -0.0, 0.0]), vec![0, 1, 2]);
        assert_eq!(argsort_bools(&[true, false, true, false]), vec![1, 3, 0, 2]);
        let rc = [0.0, 0.25, 0.25, 0.5];
        assert_eq!(searchsorted_left(&rc, 0.25), 1);
        assert_eq!(searchsorted_left(&rc, 0.3), 3);
        assert_eq!(searchsorted_left(&rc, 0.6), 4);
        assert_eq!(searchsorted_left(&rc, -1.0), 0);
    }
}
