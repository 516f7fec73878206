//! Detector dead-time correction (non-paralysable model) and the pixel dwell time.
//!
//! An electron multiplier cannot count a second ion that arrives within its dead time `d`
//! after the previous one, so at a true arrival rate `a` the measured rate is `a/(1 + a·d)`.
//! Inverting per pixel, with `N` the counts of one pixel of one plane and `τ` the dwell time
//! of the beam on that pixel (s):
//!
//! ```text
//! N' = N / (1 − N·d/τ)                                   (counts)
//! ```
//!
//! as OpenMIMS, Look@NanoSIMS (LANS) and the `sims` package do. The quantity `N·d/τ` (the
//! fraction of the dwell time the detector was blind, here called the *load*) must be < 1;
//! a pixel with load ≥ 1 is *saturated*: the model has no finite solution, which almost
//! always means the dwell time or dead time given is wrong.
//!
//! LANS additionally subtracts a detector background rate `bkg` (counts/s) and divides by the
//! detector yield `y` (a fraction, e.g. 0.95 for a yield of 95 %):
//!
//! ```text
//! a  = N/τ                                               (counts/s)
//! a' = (a − bkg) / (1 − (a − bkg)·d) / y                 (counts/s)
//! N' = a'·τ                                              (counts)
//! ```
//!
//! which reduces to the first formula for `bkg = 0`, `y = 1`; the load is then `(a − bkg)·d`.
//!
//! Source: `shared/notes/quantification.md` (formulas as implemented by OpenMIMS, LANS and
//! the `sims` package).

use ndarray::{Array, ArrayView, ArrayViewMut, Dimension, Zip};
use thiserror::Error;

use crate::Sample;

/// Dead time of the NanoSIMS electron multipliers when the header gives none (s).
pub const DEFAULT_DEAD_TIME_S: f64 = 44e-9;

/// Errors of the dead-time correction.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum DeadTimeError {
    /// A parameter is out of its domain.
    #[error("dead-time correction: invalid {name} = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
    /// Some pixels have a load `N·d/τ ≥ 1` (with the policy [`SaturationPolicy::Error`]).
    #[error(
        "dead-time correction: {count} of {total} pixels are saturated (N·d/τ ≥ 1, largest \
         N·d/τ = {max_load:.4}); the counts cannot be corrected — check the dwell time \
         ({dwell_s:e} s) and the dead time ({dead_time_s:e} s), or choose SaturationPolicy::SetNan"
    )]
    Saturated {
        count: usize,
        total: usize,
        max_load: f64,
        dwell_s: f64,
        dead_time_s: f64,
    },
    /// The dwell-time helper got an image or timing it cannot use.
    #[error("dwell time: {0}")]
    Dwell(String),
}

/// What to do with pixels for which a correction has no finite solution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaturationPolicy {
    /// Fail with an error naming how many pixels are affected; the input is left untouched.
    #[default]
    Error,
    /// Set those pixels to NaN and report their number in [`CorrectionReport::n_saturated`].
    SetNan,
}

/// Summary of a per-pixel correction.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CorrectionReport {
    /// Number of pixels processed.
    pub n_pixels: usize,
    /// Pixels without a finite solution (set to NaN under [`SaturationPolicy::SetNan`]).
    pub n_saturated: usize,
    /// Largest load over the finite pixels: `N·d/τ` (or `(a − bkg)·d`) for dead time, `K/2`
    /// for QSA. 0 for an empty array.
    pub max_load: f64,
}

/// Parameters of the dead-time correction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeadTimeParams {
    /// Detector dead time `d` (s), ≥ 0 (e.g. 44e-9).
    pub dead_time_s: f64,
    /// Dwell time `τ` of the beam per pixel (s), > 0; see [`dwell_time_s`].
    pub dwell_s: f64,
    /// Detector yield `y` as a fraction in (0, ∞) (1 = no yield correction; LANS quotes %).
    pub yield_fraction: f64,
    /// Detector background `bkg` (counts/s) subtracted from the rate (0 = none).
    pub background_cps: f64,
    /// What to do with saturated pixels.
    pub saturation: SaturationPolicy,
}

impl DeadTimeParams {
    /// Plain non-paralysable correction: yield 1, no background, error on saturation.
    pub fn new(dead_time_s: f64, dwell_s: f64) -> Self {
        Self {
            dead_time_s,
            dwell_s,
            yield_fraction: 1.0,
            background_cps: 0.0,
            saturation: SaturationPolicy::Error,
        }
    }

    fn validate(&self) -> Result<(), DeadTimeError> {
        let bad = |name, value, reason| {
            Err(DeadTimeError::InvalidParameter {
                name,
                value,
                reason,
            })
        };
        if !(self.dead_time_s.is_finite() && self.dead_time_s >= 0.0) {
            return bad("dead_time_s", self.dead_time_s, "must be finite and ≥ 0");
        }
        if !(self.dwell_s.is_finite() && self.dwell_s > 0.0) {
            return bad("dwell_s", self.dwell_s, "must be finite and > 0");
        }
        if !(self.yield_fraction.is_finite() && self.yield_fraction > 0.0) {
            return bad(
                "yield_fraction",
                self.yield_fraction,
                "must be finite and > 0 (a fraction: 0.95 for 95 %)",
            );
        }
        if !self.background_cps.is_finite() {
            return bad("background_cps", self.background_cps, "must be finite");
        }
        Ok(())
    }

    fn plain(&self) -> bool {
        self.background_cps == 0.0 && self.yield_fraction == 1.0
    }

    /// Load of one pixel (`N·d/τ` or `(N/τ − bkg)·d`).
    #[inline]
    fn load(&self, n: f64) -> f64 {
        if self.plain() {
            n * self.dead_time_s / self.dwell_s
        } else {
            (n / self.dwell_s - self.background_cps) * self.dead_time_s
        }
    }

    /// Corrected value of one pixel; `None` when saturated (load ≥ 1 or infinite).
    /// NaN stays NaN.
    #[inline]
    fn correct(&self, n: f64) -> Option<f64> {
        let load = self.load(n);
        if n.is_nan() {
            return Some(f64::NAN);
        }
        if load.is_nan() || load >= 1.0 || !n.is_finite() {
            return None;
        }
        if self.plain() {
            Some(n / (1.0 - load))
        } else {
            let a = n / self.dwell_s - self.background_cps;
            Some(a / (1.0 - load) / self.yield_fraction * self.dwell_s)
        }
    }
}

/// Scan for saturated pixels: (count, max finite load).
fn scan<I: Iterator<Item = f64>>(p: &DeadTimeParams, values: I) -> (usize, usize, f64) {
    let mut n = 0usize;
    let mut sat = 0usize;
    let mut max_load = 0.0f64;
    for v in values {
        n += 1;
        if v.is_nan() {
            continue;
        }
        let load = p.load(v);
        if load.is_nan() || load >= 1.0 || !v.is_finite() {
            sat += 1;
        }
        if load.is_finite() && load > max_load {
            max_load = load;
        }
    }
    (n, sat, max_load)
}

fn check_saturation(
    p: &DeadTimeParams,
    n: usize,
    sat: usize,
    max_load: f64,
) -> Result<(), DeadTimeError> {
    if sat > 0 && p.saturation == SaturationPolicy::Error {
        return Err(DeadTimeError::Saturated {
            count: sat,
            total: n,
            max_load,
            dwell_s: p.dwell_s,
            dead_time_s: p.dead_time_s,
        });
    }
    Ok(())
}

/// Dead-time correction in place: every element `N` (counts of one pixel of one plane)
/// becomes `N' = N/(1 − N·d/τ)`, or the LANS form with yield and background (module docs).
///
/// Works on arrays of any dimension (one image, or a stack of planes that share `d` and `τ`,
/// i.e. one mass). NaN pixels stay NaN. Saturated pixels (`N·d/τ ≥ 1`, or infinite `N`)
/// either make the call fail *before anything is modified* ([`SaturationPolicy::Error`]) or
/// become NaN ([`SaturationPolicy::SetNan`]). An empty array is fine (nothing to do).
pub fn correct_dead_time_inplace<T: Sample, D: Dimension>(
    mut counts: ArrayViewMut<'_, T, D>,
    params: &DeadTimeParams,
) -> Result<CorrectionReport, DeadTimeError> {
    params.validate()?;
    let (n, sat, max_load) = scan(params, counts.iter().map(|v| v.to_f64()));
    check_saturation(params, n, sat, max_load)?;
    counts.map_inplace(|v| {
        *v = T::from_f64(params.correct(v.to_f64()).unwrap_or(f64::NAN));
    });
    Ok(CorrectionReport {
        n_pixels: n,
        n_saturated: sat,
        max_load,
    })
}

/// Dead-time correction into a new `f64` array (input e.g. raw `u16`/`u32` counts).
/// Same formula and rules as [`correct_dead_time_inplace`].
pub fn correct_dead_time<T: Copy + Into<f64>, D: Dimension>(
    counts: ArrayView<'_, T, D>,
    params: &DeadTimeParams,
) -> Result<(Array<f64, D>, CorrectionReport), DeadTimeError> {
    params.validate()?;
    let (n, sat, max_load) = scan(params, counts.iter().map(|&v| v.into()));
    check_saturation(params, n, sat, max_load)?;
    let out = Zip::from(&counts).map_collect(|&v| params.correct(v.into()).unwrap_or(f64::NAN));
    Ok((
        out,
        CorrectionReport {
            n_pixels: n,
            n_saturated: sat,
            max_load,
        },
    ))
}

/// Dwell time of the primary beam on one pixel (s):
///
/// ```text
/// τ = T_plane / (width · height)            (n_masses ≤ 8)
/// τ = T_plane / (width · height) / n_B      (n_masses > 8)
/// ```
///
/// `T_plane` is the counting time of one plane (s, from the mass table). Up to 8 masses
/// (7 electron multipliers + SE) are counted simultaneously (multicollection), so every mass
/// sees the full dwell time. With more than 8 masses the acquisition switches the magnetic
/// field between `n_B` settings (peak switching) within a plane, so each mass is counted only
/// during `1/n_B` of the time; `n_bfield_cycles` is ignored for ≤ 8 masses.
pub fn dwell_time_s(
    counting_time_per_plane_s: f64,
    width: usize,
    height: usize,
    n_masses: usize,
    n_bfield_cycles: usize,
) -> Result<f64, DeadTimeError> {
    if !(counting_time_per_plane_s.is_finite() && counting_time_per_plane_s > 0.0) {
        return Err(DeadTimeError::Dwell(format!(
            "counting time per plane must be finite and > 0 s, got {counting_time_per_plane_s}"
        )));
    }
    if width == 0 || height == 0 {
        return Err(DeadTimeError::Dwell(format!(
            "image of {width}×{height} pixels has no pixel"
        )));
    }
    let mut tau = counting_time_per_plane_s / (width as f64 * height as f64);
    if n_masses > 8 {
        if n_bfield_cycles == 0 {
            return Err(DeadTimeError::Dwell(format!(
                "{n_masses} masses (peak switching) need the number of B-field cycles, got 0"
            )));
        }
        tau /= n_bfield_cycles as f64;
    }
    Ok(tau)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use ndarray::{Array1, Array2, array};

    #[test]
    fn plain_formula() {
        let d = 44e-9;
        let tau = 1e-3;
        let mut a = array![[0.0f64, 100.0], [1000.0, 10000.0]];
        let expect = a.mapv(|n| n / (1.0 - n * d / tau));
        let rep = correct_dead_time_inplace(a.view_mut(), &DeadTimeParams::new(d, tau)).unwrap();
        assert_eq!(rep.n_pixels, 4);
        assert_eq!(rep.n_saturated, 0);
        assert_relative_eq!(rep.max_load, 10000.0 * d / tau, max_relative = 1e-12);
        for (x, e) in a.iter().zip(expect.iter()) {
            assert_relative_eq!(*x, *e, max_relative = 1e-14);
        }
        // 10000 counts in 1 ms with 44 ns: factor 1/(1-0.44)
        assert_relative_eq!(a[[1, 1]], 10000.0 / 0.56, max_relative = 1e-12);
    }

    #[test]
    fn u16_input_and_f32_inplace_agree() {
        let raw: Array2<u16> = array![[1, 2, 3], [4000, 5000, 6000]];
        let p = DeadTimeParams::new(44e-9, 1e-3);
        let (out, _) = correct_dead_time(raw.view(), &p).unwrap();
        let mut f = raw.mapv(|v| v as f32);
        correct_dead_time_inplace(f.view_mut(), &p).unwrap();
        for (a, b) in out.iter().zip(f.iter()) {
            assert_relative_eq!(*a as f32, *b, max_relative = 1e-6);
        }
    }

    #[test]
    fn lans_yield_background() {
        let (d, tau, y, bkg) = (44e-9, 2e-3, 0.9, 50.0);
        let p = DeadTimeParams {
            yield_fraction: y,
            background_cps: bkg,
            ..DeadTimeParams::new(d, tau)
        };
        let n = 3000.0;
        let a = n / tau;
        let a2 = (a - bkg) / (1.0 - (a - bkg) * d) / y;
        let (out, _) = correct_dead_time(Array1::from(vec![n]).view(), &p).unwrap();
        assert_relative_eq!(out[0], a2 * tau, max_relative = 1e-14);
    }

    #[test]
    fn saturation_error_leaves_input_and_counts_pixels() {
        let d = 44e-9;
        let tau = 1e-5; // 1/d·τ = 227 counts saturate
        let mut a = array![10.0f64, 300.0, 227.5, f64::INFINITY, f64::NAN];
        let before = a.clone();
        let err =
            correct_dead_time_inplace(a.view_mut(), &DeadTimeParams::new(d, tau)).unwrap_err();
        match &err {
            DeadTimeError::Saturated { count, total, .. } => {
                assert_eq!((*count, *total), (3, 5));
            }
            e => panic!("{e}"),
        }
        assert!(err.to_string().contains("3 of 5 pixels are saturated"));
        assert!(
            a.iter()
                .zip(before.iter())
                .all(|(x, y)| x == y || x.is_nan() && y.is_nan())
        );

        let p = DeadTimeParams {
            saturation: SaturationPolicy::SetNan,
            ..DeadTimeParams::new(d, tau)
        };
        let rep = correct_dead_time_inplace(a.view_mut(), &p).unwrap();
        assert_eq!(rep.n_saturated, 3);
        assert!(a[0].is_finite() && a[1].is_nan() && a[2].is_nan() && a[3].is_nan());
        assert!(a[4].is_nan());
    }

    #[test]
    fn bad_parameters_and_empty() {
        let mut e = Array1::<f64>::zeros(0);
        let rep = correct_dead_time_inplace(e.view_mut(), &DeadTimeParams::new(44e-9, 1e-3));
        assert_eq!(rep.unwrap().n_pixels, 0);
        for (d, tau) in [
            (44e-9, 0.0),
            (44e-9, f64::NAN),
            (-1.0, 1e-3),
            (f64::INFINITY, 1.0),
        ] {
            let r = correct_dead_time_inplace(e.view_mut(), &DeadTimeParams::new(d, tau));
            assert!(matches!(r, Err(DeadTimeError::InvalidParameter { .. })));
        }
        let p = DeadTimeParams {
            yield_fraction: 0.0,
            ..DeadTimeParams::new(44e-9, 1e-3)
        };
        assert!(correct_dead_time(e.view(), &p).is_err());
        // zero dead time: identity
        let (o, _) =
            correct_dead_time(array![1.0, 2.0].view(), &DeadTimeParams::new(0.0, 1.0)).unwrap();
        assert_eq!(o, array![1.0, 2.0]);
    }

    #[test]
    fn dwell() {
        assert_relative_eq!(dwell_time_s(65.536, 256, 256, 5, 0).unwrap(), 1e-3);
        assert_relative_eq!(dwell_time_s(65.536, 256, 256, 12, 2).unwrap(), 0.5e-3);
        assert!(dwell_time_s(65.536, 256, 256, 12, 0).is_err());
        assert!(dwell_time_s(0.0, 256, 256, 1, 1).is_err());
        assert!(dwell_time_s(1.0, 0, 256, 1, 1).is_err());
        assert!(dwell_time_s(f64::NAN, 1, 1, 1, 1).is_err());
    }
}
