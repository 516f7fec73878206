//! Isotope-ratio measures of a region of interest from coverage-weighted counts (formulas from
//! `shared/notes/quantification.md`: OpenMIMS, LANS, IUPAC).

/// Natural 15N/14N abundance ratio (IUPAC, air N₂): 1/272.
pub const NATURAL_15N_14N: f64 = 0.003676;

/// Coverage-weighted sums of one mass over a region: Σ c·N and Σ c²·N (counts).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WeightedCounts {
    /// S = Σ_j c_j N_j (counts).
    pub sum: f64,
    /// Σ_j c_j² N_j (counts): the Poisson variance of `sum` (Var N_j = N_j).
    pub var: f64,
}

impl WeightedCounts {
    pub fn add(&mut self, c: f64, n: f64) {
        self.sum += c * n;
        self.var += c * c * n;
    }
}

/// The measures of one region (all dimensionless unless stated).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioMeasures {
    /// R = S_num / S_den (ratio of sums; NaN when S_den = 0).
    pub ratio: f64,
    /// Poisson 1σ of R: R · √(Var S_num / S_num² + Var S_den / S_den²), which is
    /// R · √(1/ΣN_num + 1/ΣN_den) when every coverage is 1.
    pub sigma: f64,
    /// Atom percent of the numerator isotope: 100 · R / (1 + R) (%).
    pub atom_pct: f64,
    /// Enrichment over natural abundance: R / R_nat.
    pub enrichment: f64,
    /// δ = (R / R_nat − 1) · 1000 (‰).
    pub delta_permil: f64,
    /// Fraction of new (turned-over) material, OpenMIMS "percent turnover":
    /// ((R − R_bg)/(R_label − R_bg)) · ((1 + R_label)/(1 + R)) · 100 = (F − F_bg)/(F_label − F_bg)
    /// in % with F = R/(1+R); NaN without a label ratio.
    pub fraction_new_pct: f64,
}

/// Reference ratios for the derived measures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct References {
    /// Natural abundance ratio R_nat.
    pub natural: f64,
    /// Ratio of unlabelled material R_bg (default natural).
    pub background: f64,
    /// Ratio of the label (fully new material) R_label; `None`: no turnover column.
    pub label: Option<f64>,
}

impl Default for References {
    fn default() -> Self {
        Self {
            natural: NATURAL_15N_14N,
            background: NATURAL_15N_14N,
            label: None,
        }
    }
}

/// The measures of a region from its numerator and denominator sums.
pub fn measures(num: WeightedCounts, den: WeightedCounts, refs: &References) -> RatioMeasures {
    let ratio = if den.sum > 0.0 {
        num.sum / den.sum
    } else {
        f64::NAN
    };
    // With no numerator counts the relative error is undefined (1/0); σ is then NaN.
    let sigma = ratio * (num.var / (num.sum * num.sum) + den.var / (den.sum * den.sum)).sqrt();
    let fraction_new_pct = refs.label.map_or(f64::NAN, |label| {
        (ratio - refs.background) / (label - refs.background) * (1.0 + label) / (1.0 + ratio)
            * 100.0
    });
    RatioMeasures {
        ratio,
        sigma: if num.sum > 0.0 { sigma } else { f64::NAN },
        atom_pct: 100.0 * ratio / (1.0 + ratio),
        enrichment: ratio / refs.natural,
        delta_permil: (ratio / refs.natural - 1.0) * 1000.0,
        fraction_new_pct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(n: f64) -> WeightedCounts {
        let mut w = WeightedCounts::default();
        w.add(1.0, n);
        w
    }

    #[test]
    fn sanity_values_by_hand() {
        // 46 and 10 000 counts: R = 0.0046, σ/R = √(1/46 + 1/10⁴) = 0.147 7…
        let m = measures(whole(46.0), whole(10_000.0), &References::default());
        assert!((m.ratio - 0.0046).abs() < 1e-15);
        let rel = (1.0f64 / 46.0 + 1e-4).sqrt();
        assert!((m.sigma / m.ratio - rel).abs() < 1e-12);
        assert!((m.atom_pct - 100.0 * 0.0046 / 1.0046).abs() < 1e-12);
        assert!((m.enrichment - 0.0046 / 0.003676).abs() < 1e-12);
        assert!((m.delta_permil - (0.0046 / 0.003676 - 1.0) * 1000.0).abs() < 1e-9);
        assert!(m.fraction_new_pct.is_nan());
    }

    #[test]
    fn turnover_is_the_atom_fraction_interpolation() {
        // (F − F_bg)/(F_label − F_bg) with F = R/(1+R).
        let refs = References {
            label: Some(0.1),
            ..References::default()
        };
        let m = measures(whole(200.0), whole(10_000.0), &refs);
        let f = |r: f64| r / (1.0 + r);
        let want = (f(0.02) - f(NATURAL_15N_14N)) / (f(0.1) - f(NATURAL_15N_14N)) * 100.0;
        assert!(
            (m.fraction_new_pct - want).abs() < 1e-10,
            "{}",
            m.fraction_new_pct
        );
        // Unlabelled material is 0 % new, the label itself 100 %.
        let bg = measures(whole(3.676), whole(1000.0), &refs);
        assert!(bg.fraction_new_pct.abs() < 1e-10);
        let new = measures(whole(100.0), whole(1000.0), &refs);
        assert!((new.fraction_new_pct - 100.0).abs() < 1e-10);
    }

    #[test]
    fn partial_coverage_weights_the_variance() {
        // Two pixels at half coverage: S = 0.5·(a + b), Var = 0.25·(a + b).
        let mut num = WeightedCounts::default();
        num.add(0.5, 30.0);
        num.add(0.5, 50.0);
        let mut den = WeightedCounts::default();
        den.add(0.5, 6000.0);
        den.add(0.5, 10_000.0);
        let m = measures(num, den, &References::default());
        assert!((m.ratio - 0.005).abs() < 1e-15);
        let rel = (20.0f64 / 1600.0 + 4000.0 / 64e6).sqrt();
        assert!((m.sigma / m.ratio - rel).abs() < 1e-12);
    }

    #[test]
    fn empty_regions_are_nan() {
        let m = measures(whole(0.0), whole(0.0), &References::default());
        assert!(m.ratio.is_nan() && m.sigma.is_nan() && m.atom_pct.is_nan());
        let m = measures(whole(0.0), whole(100.0), &References::default());
        assert_eq!(m.ratio, 0.0);
        assert!(m.sigma.is_nan());
    }
}
