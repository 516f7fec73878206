//! Box-plot statistics (quartiles as numpy's default `linear` percentiles, Tukey whiskers) and
//! the deterministic jitter of the strip plot.

/// The `q`-th quantile (0 ≤ q ≤ 1) of sorted finite values, interpolated linearly between the
/// closest ranks (numpy's `percentile(..., method="linear")`, R's type 7). `None` when empty.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let pos = q * (n - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let (a, b) = (sorted[lo.min(n - 1)], sorted[hi.min(n - 1)]);
    Some(a + (b - a) * (pos - lo as f64))
}

/// What one box shows.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxStats {
    pub n: usize,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    /// The most extreme values within 1.5 IQR of the box (Tukey).
    pub whisker_lo: f64,
    pub whisker_hi: f64,
}

impl BoxStats {
    /// The statistics of the finite values (others are left out); `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let q1 = quantile_sorted(&v, 0.25)?;
        let median = quantile_sorted(&v, 0.5)?;
        let q3 = quantile_sorted(&v, 0.75)?;
        let iqr = q3 - q1;
        let (lo_fence, hi_fence) = (q1 - 1.5 * iqr, q3 + 1.5 * iqr);
        let whisker_lo = v.iter().copied().find(|&x| x >= lo_fence).unwrap_or(q1);
        let whisker_hi = v
            .iter()
            .rev()
            .copied()
            .find(|&x| x <= hi_fence)
            .unwrap_or(q3);
        Some(Self {
            n: v.len(),
            q1,
            median,
            q3,
            whisker_lo: whisker_lo.min(q1),
            whisker_hi: whisker_hi.max(q3),
        })
    }
}

/// Horizontal offset in [−width/2, width/2) of the `i`-th point of a strip: the fractional part
/// of i·φ (golden ratio), which spreads any number of points evenly and never changes between
/// runs.
pub fn jitter(i: usize, width: f64) -> f64 {
    const PHI_FRAC: f64 = 0.618_033_988_749_894_9;
    let t = (i as f64 * PHI_FRAC).fract();
    (t - 0.5) * width
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Expected values from numpy: `np.percentile(x, [25, 50, 75])`.
    #[test]
    fn quartiles_match_numpy_linear() {
        let s = BoxStats::of(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert!(close(s.q1, 1.75) && close(s.median, 2.5) && close(s.q3, 3.25));
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = BoxStats::of(&x).unwrap();
        assert!(close(s.q1, 3.25) && close(s.median, 5.5) && close(s.q3, 7.75));
        // np.percentile([1, 2, 3, 4, 100], [25, 50, 75]) = [2, 3, 4]
        let s = BoxStats::of(&[1.0, 2.0, 3.0, 4.0, 100.0, f64::NAN]).unwrap();
        assert_eq!((s.n, s.q1, s.median, s.q3), (5, 2.0, 3.0, 4.0));
        // Fences 2 − 3 = −1 and 4 + 3 = 7: 100 is an outlier, the upper whisker ends at 4.
        assert_eq!((s.whisker_lo, s.whisker_hi), (1.0, 4.0));
        let one = BoxStats::of(&[0.5]).unwrap();
        assert_eq!((one.q1, one.median, one.q3), (0.5, 0.5, 0.5));
        assert!(BoxStats::of(&[f64::NAN]).is_none());
        assert!(close(quantile_sorted(&[0.1, 0.2, 0.4], 0.9).unwrap(), 0.36));
    }

    #[test]
    fn jitter_is_bounded_and_deterministic() {
        for i in 0..1000 {
            let j = jitter(i, 0.4);
            assert!((-0.2..0.2).contains(&j));
            assert_eq!(j, jitter(i, 0.4));
        }
        assert_ne!(jitter(1, 0.4), jitter(2, 0.4));
    }
}
