//! The two-sided Mann–Whitney U test as `scipy.stats.mannwhitneyu(x, y,
//! alternative='two-sided')` with its default `method='auto'` (scipy ≥ 1.7): the exact null
//! distribution of U when either sample has at most 8 values and there are no ties, otherwise the
//! normal approximation with tie and continuity correction.

use crate::summary::np_sum;

/// How the p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Exact,
    Asymptotic,
}

/// The result of one test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U₁ = R₁ − n₁(n₁ + 1)/2: the number of pairs (xᵢ, yⱼ) with xᵢ > yⱼ, ties counting ½
    /// (scipy's statistic, that of the first sample; U₂ = n₁n₂ − U₁).
    pub u: f64,
    /// Two-sided p-value.
    pub p: f64,
    pub method: Method,
}

/// Mid-ranks (1-based, ties get the average rank) of `values`, and the sizes of the tie groups.
/// The values must not be NaN.
pub fn rank_average(values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut ties = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end (0-based) share the ranks start+1..=end: their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        ties.push(end - start);
        start = end;
    }
    (ranks, ties)
}

/// Two-sided Mann–Whitney U test of `x` against `y` (both non-empty, no NaN); `None` when a
/// sample is empty.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let all: Vec<f64> = x.iter().chain(y).copied().collect();
    let (ranks, ties) = rank_average(&all);
    // Rank sum of the first sample R₁, and U₁ = R₁ − n₁(n₁ + 1)/2.
    let r1 = np_sum(&ranks[..n1]);
    let (f1, f2) = (n1 as f64, n2 as f64);
    let u1 = r1 - f1 * (f1 + 1.0) / 2.0;
    let u2 = f1 * f2 - u1;
    // The two-sided p-value doubles the upper tail of the larger of U₁ and U₂.
    let u = u1.max(u2);
    let has_ties = ties.iter().any(|&t| t > 1);
    // scipy's "auto": exact when either sample has at most 8 values and nothing is tied.
    let exact = (n1 <= 8 || n2 <= 8) && !has_ties;
    let (p, method) = if exact {
        (exact_sf(u, n1, n2), Method::Exact)
    } else {
        let t: Vec<f64> = ties.iter().map(|&t| t as f64).collect();
        (asymptotic_sf(u, f1, f2, &t), Method::Asymptotic)
    };
    Some(MannWhitney {
        u: u1,
        p: (2.0 * p).clamp(0.0, 1.0),
        method,
    })
}

/// P(U ≥ u) under the normal approximation: z = (u − n₁n₂/2 − ½)/σ with the tie-corrected
/// σ = √(n₁n₂/12 · ((n + 1) − Σ(t³ − t)/(n(n − 1)))) over tie-group sizes t, P = Φ(−z).
fn asymptotic_sf(u: f64, n1: f64, n2: f64, ties: &[f64]) -> f64 {
    let mu = n1 * n2 / 2.0;
    let n = n1 + n2;
    let tie_term = np_sum(&ties.iter().map(|t| t * t * t - t).collect::<Vec<_>>());
    let s = (n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    let z = (u - mu - 0.5) / s;
    standard_normal_cdf(-z)
}

/// Φ(x), the standard normal CDF, computed as scipy's `ndtr` (cephes): ½ + ½·erf(x/√2) near 0,
/// else from ½·erfc(|x|/√2), with libm's erf/erfc (accurate to about 1 ulp).
pub fn standard_normal_cdf(x: f64) -> f64 {
    let s = x * std::f64::consts::FRAC_1_SQRT_2;
    let z = s.abs();
    if z < std::f64::consts::FRAC_1_SQRT_2 {
        0.5 + 0.5 * libm::erf(s)
    } else {
        let y = 0.5 * libm::erfc(z);
        if s > 0.0 { 1.0 - y } else { y }
    }
}

/// P(U ≥ u) under the exact null distribution of U for samples of n₁ and n₂ values without ties
/// (u ≥ n₁n₂/2, an integer). By symmetry P(U ≥ u) = P(U ≤ n₁n₂ − u): the number of
/// arrangements with U ≤ n₁n₂ − u over C(n₁ + n₂, n₁).
fn exact_sf(u: f64, n1: usize, n2: usize) -> f64 {
    let mn = n1 * n2;
    let k = (mn as f64 - u).round();
    if k < 0.0 {
        return 0.0;
    }
    let k = (k as usize).min(mn);
    let (m, n) = (n1.min(n2), n1.max(n2));
    match u_counts_exact(m, n, k) {
        Some((counts, total)) => {
            let below: i128 = counts.iter().sum();
            below as f64 / total as f64
        }
        None => {
            let (counts, total) = u_counts_float(m, n, k);
            counts.iter().sum::<f64>() / total
        }
    }
}

/// The number of arrangements of m + n values giving U = 0..=k, and C(m + n, m): the
/// coefficients of the Gaussian binomial [m + n choose m]_q = Π_{i=1..m} (1 − q^{n+i})/(1 − q^i),
/// built factor by factor (each partial product has integer coefficients). `None` on overflow.
fn u_counts_exact(m: usize, n: usize, k: usize) -> Option<(Vec<i128>, i128)> {
    let mut c = vec![0i128; k + 1];
    c[0] = 1;
    let mut total: i128 = 1;
    for i in 1..=m {
        // Multiply by (1 − q^{n+i}), from the top down.
        let d = n + i;
        for j in (d..=k).rev() {
            c[j] = c[j].checked_sub(c[j - d])?;
        }
        // Divide by (1 − q^i): a running sum with stride i.
        for j in i..=k {
            c[j] = c[j].checked_add(c[j - i])?;
        }
        // C(n + i, i) = C(n + i − 1, i − 1)·(n + i)/i.
        total = total.checked_mul((n + i) as i128)? / i as i128;
    }
    Some((c, total))
}

/// As [`u_counts_exact`] in floating point (for sizes whose counts overflow 128 bits).
fn u_counts_float(m: usize, n: usize, k: usize) -> (Vec<f64>, f64) {
    let mut c = vec![0.0; k + 1];
    c[0] = 1.0;
    let mut total = 1.0;
    for i in 1..=m {
        let d = n + i;
        for j in (d..=k).rev() {
            c[j] -= c[j - d];
        }
        for j in i..=k {
            c[j] += c[j - i];
        }
        total = total * (n + i) as f64 / i as f64;
    }
    (c, total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_with_ties() {
        let (r, t) = rank_average(&[3.0, 1.0, 3.0, 2.0]);
        assert_eq!(r, [3.5, 1.0, 3.5, 2.0]);
        assert_eq!(t, [1, 1, 2]);
    }

    #[test]
    fn exact_by_hand() {
        // Complete separation, 3 vs 3: U₁ = 0; P(U ≤ 0) = 1/C(6,3) = 1/20, two-sided 0.1.
        let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
        assert_eq!(r.method, Method::Exact);
        assert_eq!(r.u, 0.0);
        assert!((r.p - 0.1).abs() < 1e-15);
        // U₁ = 9 the other way round, same p.
        let r = mann_whitney_u(&[4.0, 5.0, 6.0], &[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(r.u, 9.0);
        assert!((r.p - 0.1).abs() < 1e-15);
        // 2 vs 2, x = {1, 3}, y = {2, 4}: U₁ = 1 (3 > 2). Counts of U over C(4,2) = 6 arrangements:
        // U = 0,1,2,2,3,4 → P(U ≤ 1) = 2/6, two-sided 2/3.
        let r = mann_whitney_u(&[1.0, 3.0], &[2.0, 4.0]).unwrap();
        assert_eq!(r.u, 1.0);
        assert!((r.p - 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn counts_are_the_gaussian_binomial() {
        // [4 choose 2]_q = 1 + q + 2q² + q³ + q⁴.
        let (c, total) = u_counts_exact(2, 2, 4).unwrap();
        assert_eq!(c, [1, 1, 2, 1, 1]);
        assert_eq!(total, 6);
        let (f, ft) = u_counts_float(2, 2, 4);
        assert_eq!(f, [1.0, 1.0, 2.0, 1.0, 1.0]);
        assert_eq!(ft, 6.0);
    }

    #[test]
    fn asymptotic_with_ties_by_hand() {
        // x = {1, 2}, y = {2, 3}: ties → normal approximation. Ranks 1, 2.5 | 2.5, 4: R₁ = 3.5,
        // U₁ = 0.5, U = 3.5; σ² = 4/12·(5 − 6/12) = 1.5; z = (3.5 − 2 − 0.5)/√1.5.
        let r = mann_whitney_u(&[1.0, 2.0], &[2.0, 3.0]).unwrap();
        assert_eq!(r.method, Method::Asymptotic);
        assert_eq!(r.u, 0.5);
        let z = 1.0 / 1.5f64.sqrt();
        let want = 2.0 * standard_normal_cdf(-z);
        assert!((r.p - want).abs() < 1e-15);
        // Φ(−0.8165) ≈ 0.2071 → p ≈ 0.4142.
        assert!((r.p - 0.414_216_178).abs() < 1e-6, "{}", r.p);
        // All values equal: σ = 0, p = 1.
        let r = mann_whitney_u(&[2.0, 2.0], &[2.0, 2.0, 2.0]).unwrap();
        assert_eq!(r.p, 1.0);
        assert!(mann_whitney_u(&[], &[1.0]).is_none());
    }
}
