//! Descriptive statistics computed with numpy's arithmetic (pairwise summation, linear
//! interpolation between order statistics) so that they equal numpy's to the last bit or so.

/// numpy's float64 `np.sum`: pairwise summation in blocks of up to 128 values, 8 partial sums
/// per block (numpy's `pairwise_sum`, starting from the additive identity).
pub fn np_sum(x: &[f64]) -> f64 {
    -0.0 + pairwise(x)
}

fn pairwise(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        a.iter().fold(-0.0, |s, &v| s + v)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let whole = n - n % 8;
        let mut i = 8;
        while i < whole {
            for (j, rj) in r.iter_mut().enumerate() {
                *rj += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[whole..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise(&a[..n2]) + pairwise(&a[n2..])
    }
}

/// Arithmetic mean as `np.mean` (NaN for no values).
pub fn mean(x: &[f64]) -> f64 {
    np_sum(x) / x.len() as f64
}

/// Sum of squared deviations from the mean, Σ(xᵢ − x̄)² (numpy's order of operations).
fn sum_sq_dev(x: &[f64]) -> f64 {
    let m = mean(x);
    let d: Vec<f64> = x.iter().map(|v| (v - m) * (v - m)).collect();
    np_sum(&d)
}

/// Sample variance as `np.var(x, ddof=1)` (NaN for fewer than 2 values).
pub fn var_ddof1(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    sum_sq_dev(x) / (x.len() - 1) as f64
}

/// Sample variance as scipy's `_var(x, ddof=1)` (used by `ttest_ind`): mean squared deviation
/// times n/(n−1) (NaN for fewer than 2 values).
pub fn var_scipy(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    if x.len() < 2 {
        return f64::NAN;
    }
    (sum_sq_dev(x) / n) * (n / (n - 1.0))
}

/// numpy's `_lerp`: a + (b − a)·t, computed from b's side when t ≥ 0.5.
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let diff = b - a;
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// Quantile `q` ∈ [0, 1] of sorted values with numpy's default (linear) method: the value at
/// virtual index q·(n − 1), interpolated between its neighbours (NaN for no values).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let virtual_index = (n - 1) as f64 * q;
    let lo = (virtual_index.floor().max(0.0) as usize).min(n - 1);
    let hi = (lo + 1).min(n - 1);
    lerp(sorted[lo], sorted[hi], virtual_index - lo as f64)
}

/// Median of sorted values as `np.median`: the middle value, or the mean of the two middle ones
/// (NaN for no values).
pub fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// A copy of the values, sorted ascending (the values must not be NaN).
pub fn sorted(x: &[f64]) -> Vec<f64> {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

/// The descriptive statistics of one group × condition (in the value's units; n is a count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of (finite) values.
    pub n: usize,
    /// Median (np.median).
    pub median: f64,
    /// 25th percentile, linear interpolation (np.percentile(x, 25)).
    pub q25: f64,
    /// 75th percentile, linear interpolation (np.percentile(x, 75)).
    pub q75: f64,
    /// Interquartile range q75 − q25.
    pub iqr: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation, √(Σ(xᵢ − x̄)²/(n − 1)) (np.std(ddof=1)); NaN for n < 2.
    pub sd: f64,
}

/// Describe finite values (no values: n = 0 and NaN everywhere else).
pub fn describe(x: &[f64]) -> Summary {
    let s = sorted(x);
    let q25 = quantile_sorted(&s, 0.25);
    let q75 = quantile_sorted(&s, 0.75);
    Summary {
        n: x.len(),
        median: median_sorted(&s),
        q25,
        q75,
        iqr: q75 - q25,
        mean: if x.is_empty() { f64::NAN } else { mean(x) },
        sd: var_ddof1(x).sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_checked_summary() {
        // 1, 2, 3, 4: median 2.5; q25 at index 0.75 → 1.75; q75 at 2.25 → 3.25; mean 2.5;
        // SD √((2.25 + 0.25 + 0.25 + 2.25)/3) = √(5/3).
        let s = describe(&[4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.n, 4);
        assert_eq!(s.median, 2.5);
        assert_eq!(s.q25, 1.75);
        assert_eq!(s.q75, 3.25);
        assert_eq!(s.iqr, 1.5);
        assert_eq!(s.mean, 2.5);
        assert!((s.sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        // Odd count: median is the middle value; one value: no SD.
        assert_eq!(describe(&[5.0, 1.0, 3.0]).median, 3.0);
        let one = describe(&[7.0]);
        assert_eq!((one.n, one.median, one.q25, one.q75), (1, 7.0, 7.0, 7.0));
        assert!(one.sd.is_nan());
        let none = describe(&[]);
        assert_eq!(none.n, 0);
        assert!(none.median.is_nan() && none.mean.is_nan() && none.q25.is_nan());
    }

    #[test]
    fn pairwise_sum_matches_plain_sum_on_exact_values() {
        let x: Vec<f64> = (1..=300).map(f64::from).collect();
        assert_eq!(np_sum(&x), 45150.0);
        assert_eq!(np_sum(&[]), 0.0);
        // Rounding follows numpy's block order: 1e16 + 1 + 1 + … (8 ones after a large value).
        let mut y = vec![1e16];
        y.extend([1.0; 15]);
        // Partial sums: r0 = 1e16 + 1 (rounds to 1e16), r1..r7 = 2 → 1e16 + 14.
        assert_eq!(np_sum(&y), 1e16 + 14.0);
        assert_eq!(var_ddof1(&[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(var_scipy(&[1.0, 2.0, 3.0]), 1.0);
    }
}
