//! Quasi-simultaneous arrival (QSA) correction (Slodzian et al. 2004), applied after the
//! dead-time correction.
//!
//! When one primary ion sputters several secondary ions of the same mass at once, the
//! electron multiplier counts them as one. With `N'` the dead-time-corrected counts of one
//! pixel of one plane, `τ` the dwell time per pixel (s) and `FCo` the primary beam current
//! (pA) measured in the Faraday cup:
//!
//! ```text
//! K   = (N'/τ) / (FCo · 6.24151e6)      secondary ions detected per primary ion (1)
//! K'  = K / (1 − K/2)                   (1)
//! N'' = N' · (1 + β·K')                 (counts)
//! ```
//!
//! `6.24151e6` is the number of elementary charges per second in 1 pA. `β` is an
//! empirical per-mass coefficient (default 1). `K' ` has a pole at `K = 2`: pixels with
//! `K ≥ 2` (load `K/2 ≥ 1`) have no finite correction and are treated as saturated.
//!
//! Source: `shared/notes/quantification.md` (as in LANS and OpenMIMS).

use ndarray::{Array, ArrayView, ArrayViewMut, Dimension, Zip};
use thiserror::Error;

use crate::Sample;
pub use crate::deadtime::{CorrectionReport, SaturationPolicy};

/// Elementary charges per second in a current of 1 pA (1e-12 / 1.602176634e-19).
pub const CHARGES_PER_S_PER_PA: f64 = 6.24151e6;

/// Errors of the QSA correction.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum QsaError {
    /// A parameter is out of its domain.
    #[error("QSA correction: invalid {name} = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    /// Some pixels have `K ≥ 2` (with the policy [`SaturationPolicy::Error`]).
    #[error(
        "QSA correction: {count} of {total} pixels have K ≥ 2 secondary ions per primary ion \
         (largest K = {max_k:.4}), where the correction diverges — check the primary current \
         FCo ({fco_pa} pA) and the dwell time ({dwell_s:e} s), or choose SaturationPolicy::SetNan"
    )]
    Saturated {
        count: usize,
        total: usize,
        max_k: f64,
        fco_pa: f64,
        dwell_s: f64,
    },
}

/// Parameters of the QSA correction for one mass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QsaParams {
    /// Primary beam current `FCo` (pA), > 0.
    pub fco_pa: f64,
    /// Dwell time `τ` per pixel (s), > 0.
    pub dwell_s: f64,
    /// Coefficient `β` of this mass (1 by default; 0 disables the correction).
    pub beta: f64,
    /// What to do with pixels with `K ≥ 2`.
    pub saturation: SaturationPolicy,
}

impl QsaParams {
    /// `β = 1`, error on saturation.
    pub fn new(fco_pa: f64, dwell_s: f64) -> Self {
        Self {
            fco_pa,
            dwell_s,
            beta: 1.0,
            saturation: SaturationPolicy::Error,
        }
    }

    fn validate(&self) -> Result<(), QsaError> {
        let bad = |name, value, reason| {
            Err(QsaError::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        if !(self.fco_pa.is_finite() && self.fco_pa > 0.0) {
            return bad("fco_pa", self.fco_pa, "must be finite and > 0 pA");
        }
        if !(self.dwell_s.is_finite() && self.dwell_s > 0.0) {
            return bad("dwell_s", self.dwell_s, "must be finite and > 0 s");
        }
        if !self.beta.is_finite() {
            return bad("beta", self.beta, "must be finite");
        }
        Ok(())
    }

    /// `K` of one pixel.
    #[inline]
    fn k(&self, n: f64) -> f64 {
        (n / self.dwell_s) / (self.fco_pa * CHARGES_PER_S_PER_PA)
    }

    /// `N''`, `None` when `K ≥ 2` or `N'` infinite; NaN stays NaN.
    #[inline]
    fn correct(&self, n: f64) -> Option<f64> {
        if n.is_nan() {
            return Some(f64::NAN);
        }
        let k = self.k(n);
        if k.is_nan() || k >= 2.0 || !n.is_finite() {
            return None;
        }
        let k1 = k / (1.0 - k / 2.0);
        Some(n * (1.0 + self.beta * k1))
    }
}

fn scan<I: Iterator<Item = f64>>(p: &QsaParams, values: I) -> (usize, usize, f64) {
    let (mut n, mut sat, mut max_k) = (0usize, 0usize, 0.0f64);
    for v in values {
        n += 1;
        if v.is_nan() {
            continue;
        }
        let k = p.k(v);
        if k.is_nan() || k >= 2.0 || !v.is_finite() {
            sat += 1;
        }
        if k.is_finite() && k > max_k {
            max_k = k;
        }
    }
    (n, sat, max_k)
}

fn check(p: &QsaParams, n: usize, sat: usize, max_k: f64) -> Result<CorrectionReport, QsaError> {
    if sat > 0 && p.saturation == SaturationPolicy::Error {
        return Err(QsaError::Saturated {
            count: sat,
            total: n,
            max_k,
            fco_pa: p.fco_pa,
            dwell_s: p.dwell_s,
        });
    }
    Ok(CorrectionReport {
        n_pixels: n,
        n_saturated: sat,
        max_load: max_k / 2.0,
    })
}

/// QSA correction in place: `N'' = N'·(1 + β·K/(1 − K/2))` with `K = (N'/τ)/(FCo·6.24151e6)`
/// (module docs). Any dimension (one image or the planes of one mass). NaN stays NaN; pixels
/// with `K ≥ 2` fail the call before anything is modified, or become NaN, per
/// [`QsaParams::saturation`]. The report's `max_load` is `max K / 2`.
pub fn correct_qsa_inplace<T: Sample, D: Dimension>(
    mut counts: ArrayViewMut<'_, T, D>,
    params: &QsaParams,
) -> Result<CorrectionReport, QsaError> {
    params.validate()?;
    let (n, sat, max_k) = scan(params, counts.iter().map(|v| v.to_f64()));
    let rep = check(params, n, sat, max_k)?;
    counts.map_inplace(|v| *v = T::from_f64(params.correct(v.to_f64()).unwrap_or(f64::NAN)));
    Ok(rep)
}

/// QSA correction into a new `f64` array; same formula and rules as [`correct_qsa_inplace`].
pub fn correct_qsa<T: Copy + Into<f64>, D: Dimension>(
    counts: ArrayView<'_, T, D>,
    params: &QsaParams,
) -> Result<(Array<f64, D>, CorrectionReport), QsaError> {
    params.validate()?;
    let (n, sat, max_k) = scan(params, counts.iter().map(|&v| v.into()));
    let rep = check(params, n, sat, max_k)?;
    let out = Zip::from(&counts).map_collect(|&v| params.correct(v.into()).unwrap_or(f64::NAN));
    Ok((out, rep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use ndarray::{Array1, array};

    #[test]
    fn formula() {
        // 1 pA, 1 ms: 6241.51 primary ions per pixel; 624.151 counts → K = 0.1
        let p = QsaParams::new(1.0, 1e-3);
        let n = 624.151;
        let (out, rep) = correct_qsa(Array1::from(vec![0.0, n]).view(), &p).unwrap();
        let k1 = 0.1 / (1.0 - 0.05);
        assert_eq!(out[0], 0.0);
        assert_relative_eq!(out[1], n * (1.0 + k1), max_relative = 1e-12);
        assert_relative_eq!(rep.max_load, 0.05, max_relative = 1e-12);

        let p2 = QsaParams { beta: 0.7, ..p };
        let mut a = array![[n as f32]];
        correct_qsa_inplace(a.view_mut(), &p2).unwrap();
        assert_relative_eq!(a[[0, 0]] as f64, n * (1.0 + 0.7 * k1), max_relative = 1e-6);

        let p0 = QsaParams { beta: 0.0, ..p };
        let (o, _) = correct_qsa(array![5.0, 7.0].view(), &p0).unwrap();
        assert_eq!(o, array![5.0, 7.0]);
    }

    #[test]
    fn saturation_and_bad_params() {
        let p = QsaParams::new(1.0, 1e-3); // K = 2 at 12483.02 counts
        let a = array![1.0, 20000.0, f64::NAN, 12490.0];
        let e = correct_qsa(a.view(), &p).unwrap_err();
        assert!(
            matches!(
                e,
                QsaError::Saturated {
                    count: 2,
                    total: 4,
                    ..
                }
            ),
            "{e}"
        );
        let p2 = QsaParams {
            saturation: SaturationPolicy::SetNan,
            ..p
        };
        let (o, rep) = correct_qsa(a.view(), &p2).unwrap();
        assert_eq!(rep.n_saturated, 2);
        assert!(o[0].is_finite() && o[1].is_nan() && o[2].is_nan() && o[3].is_nan());
        for (f, t) in [
            (0.0, 1e-3),
            (1.0, 0.0),
            (f64::NAN, 1.0),
            (1.0, f64::INFINITY),
        ] {
            assert!(matches!(
                correct_qsa(a.view(), &QsaParams::new(f, t)),
                Err(QsaError::InvalidParameter { .. })
            ));
        }
        let empty = Array1::<f64>::zeros(0);
        assert_eq!(correct_qsa(empty.view(), &p).unwrap().1.n_pixels, 0);
    }
}
