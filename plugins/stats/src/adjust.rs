//! Multiple-testing adjustment of p-values, as statsmodels' `multipletests` computes them. NaN
//! p-values (tests that could not be done) are left out: they stay NaN and do not count in m.

/// The indices of the non-NaN p-values, sorted by p ascending (stable).
fn sorted_finite(p: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..p.len()).filter(|&i| !p[i].is_nan()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
    idx
}

/// Holm–Bonferroni step-down: the i-th smallest of m p-values times (m − i + 1), made
/// non-decreasing with a running maximum, capped at 1 (`method='holm'`).
pub fn holm(p: &[f64]) -> Vec<f64> {
    let idx = sorted_finite(p);
    let m = idx.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = f64::NEG_INFINITY;
    for (rank, &i) in idx.iter().enumerate() {
        running = running.max(p[i] * (m - rank) as f64);
        out[i] = running.min(1.0);
    }
    out
}

/// Benjamini–Hochberg false discovery rate: the i-th smallest of m p-values divided by i/m,
/// made non-decreasing with a running minimum from the largest, capped at 1 (`method='fdr_bh'`).
pub fn benjamini_hochberg(p: &[f64]) -> Vec<f64> {
    let idx = sorted_finite(p);
    let m = idx.len();
    let mut out = vec![f64::NAN; p.len()];
    let mut running = f64::INFINITY;
    for (rank, &i) in idx.iter().enumerate().rev() {
        let ecdf = (rank + 1) as f64 / m as f64;
        running = running.min(p[i] / ecdf);
        out[i] = running.min(1.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_by_hand() {
        // Sorted 0.01, 0.02, 0.03, 0.5 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.06, 0.5.
        let p = [0.03, 0.01, 0.5, 0.02];
        let h = holm(&p);
        let want = [0.06, 0.04, 0.5, 0.06];
        for (a, b) in h.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{h:?}");
        }
        // Running maximum and the cap at 1.
        let h = holm(&[0.4, 0.3]);
        assert_eq!(h, [0.6, 0.6]);
        assert_eq!(holm(&[0.9, 0.8]), [1.0, 1.0]);
    }

    #[test]
    fn bh_by_hand() {
        // Sorted 0.01, 0.02, 0.03, 0.5 → ×4/1, ×4/2, ×4/3, ×4/4 = 0.04, 0.04, 0.04, 0.5.
        let p = [0.03, 0.01, 0.5, 0.02];
        let q = benjamini_hochberg(&p);
        let want = [0.04, 0.04, 0.5, 0.04];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{q:?}");
        }
    }

    #[test]
    fn nan_is_left_out() {
        let h = holm(&[0.01, f64::NAN, 0.04]);
        assert_eq!(h[0], 0.02);
        assert!(h[1].is_nan());
        assert_eq!(h[2], 0.04);
        let q = benjamini_hochberg(&[f64::NAN, 0.02]);
        assert!(q[0].is_nan());
        assert_eq!(q[1], 0.02);
        assert!(holm(&[]).is_empty());
    }
}
