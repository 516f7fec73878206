//! Small statistics helpers shared by the modules.

/// Percentiles `q_lo`, `q_hi` (0–100) of the finite values of `values`, with numpy's
/// default ("linear") interpolation: position `(n − 1)·q/100` between the sorted values.
/// `None` when there is no finite value or a `q` is not within [0, 100].
pub(crate) fn percentiles_finite<I: IntoIterator<Item = f64>>(
    values: I,
    q_lo: f64,
    q_hi: f64,
) -> Option<(f64, f64)> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| x.is_finite()).collect();
    let lo = percentile_sorted_in_place(&mut v, q_lo)?;
    let hi = percentile_sorted_in_place(&mut v, q_hi)?;
    Some((lo, hi))
}

fn percentile_sorted_in_place(v: &mut [f64], q: f64) -> Option<f64> {
    if v.is_empty() || !(0.0..=100.0).contains(&q) {
        return None;
    }
    if !v.is_sorted_by(|a, b| a <= b) {
        v.sort_unstable_by(f64::total_cmp);
    }
    let pos = (v.len() - 1) as f64 * (q / 100.0);
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(v.len() - 1);
    let frac = pos - lo as f64;
    Some(v[lo] + (v[hi] - v[lo]) * frac)
}

/// Median of a small slice (sorted in place). Even length: mean of the two middle values.
/// `None` when empty. Values must not be NaN (callers filter them).
pub(crate) fn median_small(v: &mut [f64]) -> Option<f64> {
    let n = v.len();
    if n == 0 {
        return None;
    }
    // insertion sort: n ≤ 8 here
    for i in 1..n {
        let x = v[i];
        let mut j = i;
        while j > 0 && v[j - 1] > x {
            v[j] = v[j - 1];
            j -= 1;
        }
        v[j] = x;
    }
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_matches_numpy_linear() {
        // np.percentile([1, 2, 3, 4], [0, 25, 50, 90, 100]) = 1, 1.75, 2.5, 3.7, 4
        let v = [4.0, f64::NAN, 2.0, 1.0, 3.0];
        for (q, e) in [
            (0.0, 1.0),
            (25.0, 1.75),
            (50.0, 2.5),
            (90.0, 3.7),
            (100.0, 4.0),
        ] {
            let p = percentiles_finite(v, q, q).unwrap().0;
            assert!((p - e).abs() < 1e-12, "{q}: {p}");
        }
        assert_eq!(percentiles_finite([f64::NAN], 50.0, 50.0), None);
        assert_eq!(percentiles_finite([1.0], 50.0, 150.0), None);
        assert_eq!(
            percentiles_finite([1.0, 2.0, 3.0], 0.0, 100.0),
            Some((1.0, 3.0))
        );
    }

    #[test]
    fn median_small_even_odd() {
        assert_eq!(median_small(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median_small(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median_small(&mut []), None);
    }
}
