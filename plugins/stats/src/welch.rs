//! Welch's unequal-variance t-test as `scipy.stats.ttest_ind(x, y, equal_var=False)`, and
//! Hedges' g.

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::summary::{mean, var_ddof1, var_scipy};

/// The result of Welch's t-test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Welch {
    /// t = (x̄ − ȳ)/√(s²ₓ/nₓ + s²ᵧ/nᵧ) (units of 1; sample variances with ddof = 1).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom (s²ₓ/nₓ + s²ᵧ/nᵧ)² /
    /// ((s²ₓ/nₓ)²/(nₓ − 1) + (s²ᵧ/nᵧ)²/(nᵧ − 1)); 1 when both variances are zero (as scipy).
    pub df: f64,
    /// Two-sided p-value 2·P(T_df ≥ |t|) from Student's t distribution.
    pub p: f64,
}

/// Welch's t-test of `x` against `y` (finite values); `None` when a sample has fewer than 2.
pub fn welch_t(x: &[f64], y: &[f64]) -> Option<Welch> {
    if x.len() < 2 || y.len() < 2 {
        return None;
    }
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let vn1 = var_scipy(x) / n1;
    let vn2 = var_scipy(y) / n2;
    let df = (vn1 + vn2).powi(2) / (vn1.powi(2) / (n1 - 1.0) + vn2.powi(2) / (n2 - 1.0));
    let df = if df.is_nan() { 1.0 } else { df };
    let t = (mean(x) - mean(y)) / (vn1 + vn2).sqrt();
    Some(Welch {
        t,
        df,
        p: 2.0 * student_t_sf(t.abs(), df),
    })
}

/// P(T ≥ t) for Student's t distribution with `df` degrees of freedom (NaN if t is NaN).
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() {
        return f64::NAN;
    }
    match StudentsT::new(0.0, 1.0, df) {
        Ok(d) => d.sf(t),
        Err(_) => f64::NAN,
    }
}

/// Hedges' g of `y` relative to `x`: Cohen's d = (ȳ − x̄)/s_p with the pooled SD
/// s_p = √(((nₓ − 1)s²ₓ + (nᵧ − 1)s²ᵧ)/(nₓ + nᵧ − 2)), times the small-sample correction
/// J = 1 − 3/(4(nₓ + nᵧ) − 9) (units of 1). NaN when a sample has fewer than 2 values.
pub fn hedges_g(x: &[f64], y: &[f64]) -> f64 {
    if x.len() < 2 || y.len() < 2 {
        return f64::NAN;
    }
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let pooled = (((n1 - 1.0) * var_ddof1(x) + (n2 - 1.0) * var_ddof1(y)) / (n1 + n2 - 2.0)).sqrt();
    let d = (mean(y) - mean(x)) / pooled;
    d * (1.0 - 3.0 / (4.0 * (n1 + n2) - 9.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn welch_by_hand() {
        // x = 1, 2, 3 (mean 2, s² 1), y = 4, 6, 8 (mean 6, s² 4): se² = 1/3 + 4/3 = 5/3,
        // t = −4/√(5/3); df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = (25/9)/(17/18) = 50/17.
        let w = welch_t(&[1.0, 2.0, 3.0], &[4.0, 6.0, 8.0]).unwrap();
        assert!((w.t + 4.0 / (5.0f64 / 3.0).sqrt()).abs() < 1e-14);
        assert!((w.df - 50.0 / 17.0).abs() < 1e-14);
        // scipy.stats.ttest_ind([1,2,3],[4,6,8],equal_var=False).pvalue
        assert!((w.p - 0.054_786_766_041_076_435).abs() < 1e-10, "{}", w.p);
        assert!(welch_t(&[1.0], &[1.0, 2.0]).is_none());
        // Student t with 1 df is Cauchy: P(T ≥ 1) = 1/4.
        assert!((student_t_sf(1.0, 1.0) - 0.25).abs() < 1e-15);
    }

    #[test]
    fn hedges_by_hand() {
        // Same samples: s_p² = (2·1 + 2·4)/4 = 2.5, d = 4/√2.5, J = 1 − 3/15 = 0.8.
        let g = hedges_g(&[1.0, 2.0, 3.0], &[4.0, 6.0, 8.0]);
        assert!((g - 0.8 * 4.0 / 2.5f64.sqrt()).abs() < 1e-14);
        assert!(hedges_g(&[1.0], &[1.0, 2.0]).is_nan());
    }
}
