//! Plane drift: sub-pixel shift estimation by phase correlation and shift application.
//!
//! [`estimate_shift`] reproduces `skimage.registration.phase_cross_correlation(reference,
//! moving, upsample_factor=U)` (scikit-image 0.26, default `normalization="phase"`,
//! `disambiguate=False`), i.e. the algorithm of Guizar-Sicairos, Thurman & Fienup,
//! "Efficient subpixel image registration algorithms", Opt. Lett. 33, 156 (2008):
//!
//! 1. `F = FFT(reference)`, `G = FFT(moving)`, `P = F·conj(G) / max(|F·conj(G)|, 100·ε)`
//!    (ε = f64 machine epsilon);
//! 2. `c = IFFT(P)` (normalised by 1/(h·w)); the integer peak `argmax |c|` (first in row-major
//!    order on ties), wrapped to `(−n/2, n/2]` per axis (`n/2` truncated) is the whole-pixel shift;
//! 3. if `U > 1`: the cross-correlation is evaluated by a matrix-multiply DFT on a
//!    `⌈1.5·U⌉ × ⌈1.5·U⌉` grid of step `1/U` px centred on the integer peak (skimage's
//!    `_upsampled_dft`), and its peak refines the shift to `1/U` px;
//! 4. axes of length 1 get shift 0.
//!
//! Sign convention (the same as skimage): the returned `(dy, dx)` is the shift to **apply to
//! `moving`** to register it onto `reference`. If `moving(y, x) = reference(y − a, x − b)`
//! (the content of `moving` sits `a` rows lower and `b` columns further right), the result is
//! `(−a, −b)`, and `apply_shift(moving, dy, dx, …)` (which computes
//! `out(y, x) = moving(y − dy, x − dx)`) undoes the drift.
//!
//! Options beyond skimage's defaults ([`ShiftOptions`], used by [`estimate_shift_with`] and
//! [`align_planes_with`]): `normalization = None` (plain cross-correlation, skimage's
//! `normalization=None`) and a separable Hann window applied after subtracting the image mean
//! (`x' = (x − mean(x))·w(y)·w(x)`, `w(i) = 0.5 − 0.5·cos(2πi/(n−1))`), which removes the
//! wrap-around edge artefact of non-periodic drifted planes. On noisy planes (≲ 100
//! counts/px) `Normalization::None` with the window is markedly more precise than the
//! whitening phase normalisation (see `tests/align_real.rs`); the defaults stay skimage's.
//!
//! The `error` of [`Shift`] is skimage's "translation invariant normalized RMS error",
//! `sqrt(|1 − |CCmax|² / (A_ref·A_mov)|)`, with skimage's normalisation quirks kept
//! (`A = Σ|FFT|²`, divided by `h·w` only when `U = 1`; `CCmax` taken from the phase-normalised
//! correlation): with phase normalisation it is not a calibrated RMS error, only comparable
//! with skimage's value. It is NaN/∞ when an image is all zero.

use std::sync::Arc;

use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;
use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};
use thiserror::Error;

/// Errors of shift estimation and application.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum AlignError {
    /// An image has no pixel.
    #[error("alignment: {what} is empty ({h}×{w} pixels)")]
    Empty { what: String, h: usize, w: usize },
    /// The reference and moving images differ in shape.
    #[error("alignment: reference is {reference:?} pixels but moving image is {moving:?}")]
    ShapeMismatch {
        reference: (usize, usize),
        moving: (usize, usize),
    },
    /// An image holds NaN or infinite values (phase correlation needs finite data; mask or
    /// fill them first).
    #[error("alignment: {what} has {count} non-finite pixel(s) (NaN or ±inf)")]
    NonFinite { what: String, count: usize },
    /// An image is constant (no spatial structure to correlate); skimage would return an
    /// arbitrary shift (`−⌊0.75·U⌋/U` on both axes) there.
    #[error("alignment: {what} is constant (no structure to correlate)")]
    NoSignal { what: String },
    /// The FFT overflowed (values too large for f64 arithmetic).
    #[error("alignment: numerical overflow in the FFT of {what}; rescale the image")]
    Overflow { what: String },
    /// `upsample` must be ≥ 1.
    #[error("alignment: upsample factor must be ≥ 1, got {0}")]
    InvalidUpsample(usize),
    /// A shift to apply is NaN or infinite.
    #[error("alignment: shift to apply must be finite, got (dy, dx) = ({dy}, {dx})")]
    InvalidShift { dy: f64, dx: f64 },
    /// `max_shift_px` must be ≥ 0 and not NaN.
    #[error("alignment: max_shift_px must be ≥ 0, got {0}")]
    InvalidMaxShift(f64),
    /// The reference plane index is not in the stack.
    #[error("alignment: reference plane {reference} does not exist (stack has {n_planes} planes)")]
    ReferencePlaneOutOfRange { reference: usize, n_planes: usize },
    /// A plane drifted more than allowed.
    #[error(
        "alignment: plane {plane} needs a shift of (dy, dx) = ({dy:.3}, {dx:.3}) px to match the \
         reference plane, beyond max_shift_px = {max_shift_px} (per axis); the reference \
         channel may be too weak or the planes unrelated"
    )]
    ShiftTooLarge {
        plane: usize,
        dy: f64,
        dx: f64,
        max_shift_px: f64,
    },
}

/// Result of [`estimate_shift`]: the shift (px) to apply to the moving image to register it
/// onto the reference (see the module docs for the sign convention), and skimage's error
/// metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// Rows (px), positive = move the moving image down.
    pub dy: f64,
    /// Columns (px), positive = move the moving image right.
    pub dx: f64,
    /// skimage's `error` (module docs); dimensionless.
    pub error: f64,
    /// skimage's `phasediff`: global phase of the correlation peak (rad).
    pub phase_diff: f64,
}

/// Weighting of the cross-power spectrum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalization {
    /// `P = F·conj(G)/|F·conj(G)|` (phase correlation, skimage's default `"phase"`).
    #[default]
    Phase,
    /// `P = F·conj(G)` (plain cross-correlation, skimage's `normalization=None`).
    None,
}

/// Options of [`estimate_shift_with`] / [`align_planes_with`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftOptions {
    /// Upsampling factor `U` (≥ 1): precision `1/U` px.
    pub upsample: usize,
    /// Cross-power weighting.
    pub normalization: Normalization,
    /// Subtract the mean and apply a separable Hann window to both images first (module docs);
    /// not part of skimage. Needs ≥ 3 px along every axis longer than 1.
    pub hann_window: bool,
}

impl ShiftOptions {
    /// skimage's defaults (`normalization="phase"`, no window) with upsampling `U`.
    pub fn skimage(upsample: usize) -> Self {
        Self {
            upsample,
            normalization: Normalization::Phase,
            hann_window: false,
        }
    }

    /// Plain cross-correlation of mean-subtracted, Hann-windowed images with upsampling `U`:
    /// more robust on noisy, non-periodic planes. The window stays put while the content
    /// moves, which pulls the estimate slightly towards 0 when the shift is a sizeable
    /// fraction of the image (≈ 0.2 px for 2 px on 35 px; ≤ 0.1 px for 4 px on 224 px).
    pub fn robust(upsample: usize) -> Self {
        Self {
            upsample,
            normalization: Normalization::None,
            hann_window: true,
        }
    }
}

/// Symmetric Hann window of length `n` (`[1.0]` for `n = 1`).
fn hann(n: usize) -> Vec<f64> {
    if n <= 1 {
        return vec![1.0; n];
    }
    let d = (n - 1) as f64;
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / d).cos())
        .collect()
}

/// Row-major 2-D FFT plan (rows, then columns through a transpose).
struct Fft2 {
    h: usize,
    w: usize,
    fwd_rows: Arc<dyn Fft<f64>>,
    fwd_cols: Arc<dyn Fft<f64>>,
    inv_rows: Arc<dyn Fft<f64>>,
    inv_cols: Arc<dyn Fft<f64>>,
}

impl Fft2 {
    fn new(h: usize, w: usize) -> Self {
        let mut planner = FftPlanner::<f64>::new();
        Self {
            h,
            w,
            fwd_rows: planner.plan_fft_forward(w),
            fwd_cols: planner.plan_fft_forward(h),
            inv_rows: planner.plan_fft_inverse(w),
            inv_cols: planner.plan_fft_inverse(h),
        }
    }

    /// Unnormalised transform of a row-major `h × w` buffer, in place.
    fn transform(&self, data: &mut [Complex64], inverse: bool) {
        let (h, w) = (self.h, self.w);
        debug_assert_eq!(data.len(), h * w);
        let (rows, cols) = if inverse {
            (&self.inv_rows, &self.inv_cols)
        } else {
            (&self.fwd_rows, &self.fwd_cols)
        };
        let scratch_len = rows
            .get_inplace_scratch_len()
            .max(cols.get_inplace_scratch_len());
        let mut scratch = vec![Complex64::default(); scratch_len];
        rows.process_with_scratch(data, &mut scratch);
        let mut t = vec![Complex64::default(); h * w];
        for y in 0..h {
            for x in 0..w {
                t[x * h + y] = data[y * w + x];
            }
        }
        cols.process_with_scratch(&mut t, &mut scratch);
        for x in 0..w {
            for y in 0..h {
                data[y * w + x] = t[x * h + y];
            }
        }
    }

    fn forward_real(&self, img: ArrayView2<'_, f64>) -> Vec<Complex64> {
        let mut buf: Vec<Complex64> = img.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        self.transform(&mut buf, false);
        buf
    }

    /// Forward transform (after the optional mean subtraction and window), failing for a
    /// constant image: every non-DC coefficient ≤ 1e-10·|DC| (exactly zero for an all-zero
    /// image); with the window, every coefficient ≤ 1e-10·max|x|·h·w (the Hann window of an
    /// axis of 2 px is zero, so windowed images need ≥ 3 px per axis longer than 1). A 1×1
    /// image has no non-DC coefficient and passes without window.
    fn forward_checked(
        &self,
        img: ArrayView2<'_, f64>,
        window: Option<&(Vec<f64>, Vec<f64>)>,
        what: &str,
    ) -> Result<Vec<Complex64>, AlignError> {
        let f = match window {
            None => self.forward_real(img),
            Some((wy, wx)) => {
                let mean = img.sum() / img.len() as f64;
                let prepared =
                    Array2::from_shape_fn(img.dim(), |(y, x)| (img[[y, x]] - mean) * wy[y] * wx[x]);
                self.forward_real(prepared.view())
            }
        };
        if f.len() > 1 && window.is_some() {
            // mean removed: compare with the energy instead of the DC term
            let ac = f.iter().map(|c| c.norm()).fold(0.0f64, f64::max);
            let scale = img.iter().fold(0.0f64, |m, v| m.max(v.abs())) * img.len() as f64;
            if ac.is_nan() || ac <= 1e-10 * scale {
                return Err(AlignError::NoSignal {
                    what: what.to_string(),
                });
            }
            return Ok(f);
        }
        if f.len() > 1 {
            let dc = f[0].norm();
            let ac = f[1..].iter().map(|c| c.norm()).fold(0.0f64, f64::max);
            if ac.is_nan() || ac <= 1e-10 * dc {
                return Err(AlignError::NoSignal {
                    what: what.to_string(),
                });
            }
        }
        Ok(f)
    }
}

/// `numpy.fft.fftfreq(n, d)` (the signed frequency of FFT bin `k`): `k'/(n·d)` with
/// `k' = k` for `k ≤ (n−1)/2`, else `k − n`.
fn fftfreq(n: usize, d: f64) -> Vec<f64> {
    let val = 1.0 / (n as f64 * d);
    (0..n)
        .map(|k| {
            let ks = if k <= (n - 1) / 2 {
                k as f64
            } else {
                k as f64 - n as f64
            };
            ks * val
        })
        .collect()
}

fn check_image(img: ArrayView2<'_, f64>, what: &str) -> Result<(), AlignError> {
    let (h, w) = img.dim();
    if h == 0 || w == 0 {
        return Err(AlignError::Empty {
            what: what.to_string(),
            h,
            w,
        });
    }
    let bad = img.iter().filter(|v| !v.is_finite()).count();
    if bad > 0 {
        return Err(AlignError::NonFinite {
            what: what.to_string(),
            count: bad,
        });
    }
    Ok(())
}

fn argmax_abs(v: &[Complex64]) -> usize {
    let mut best = 0usize;
    let mut best_v = f64::NEG_INFINITY;
    for (i, c) in v.iter().enumerate() {
        let a = c.norm();
        if a > best_v {
            best_v = a;
            best = i;
        }
    }
    best
}

/// Phase correlation of two spectra (both `h × w`, row-major), skimage's algorithm.
fn phase_correlation(
    plan: &Fft2,
    src: &[Complex64],
    tgt: &[Complex64],
    upsample: usize,
    normalization: Normalization,
    what: &str,
) -> Result<Shift, AlignError> {
    let (h, w) = (plan.h, plan.w);
    let n = h * w;
    let floor = 100.0 * f64::EPSILON;
    let prod: Vec<Complex64> = src
        .iter()
        .zip(tgt)
        .map(|(a, b)| {
            let p = a * b.conj();
            match normalization {
                Normalization::Phase => p / p.norm().max(floor),
                Normalization::None => p,
            }
        })
        .collect();
    if prod.iter().any(|c| !(c.re.is_finite() && c.im.is_finite())) {
        return Err(AlignError::Overflow {
            what: what.to_string(),
        });
    }
    let mut cc = prod.clone();
    plan.transform(&mut cc, true);
    let inv_n = 1.0 / n as f64;
    for c in cc.iter_mut() {
        *c *= inv_n;
    }
    let peak = argmax_abs(&cc);
    let (py, px) = (peak / w, peak % w);
    let wrap = |p: usize, len: usize| {
        let s = p as f64;
        if s > (len / 2) as f64 {
            s - len as f64
        } else {
            s
        }
    };
    let mut sy = wrap(py, h);
    let mut sx = wrap(px, w);

    let amp = |f: &[Complex64]| f.iter().map(|c| c.re * c.re + c.im * c.im).sum::<f64>();
    let (cc_max, src_amp, tgt_amp);
    if upsample == 1 {
        src_amp = amp(src) / n as f64;
        tgt_amp = amp(tgt) / n as f64;
        cc_max = cc[peak];
    } else {
        let u = upsample as f64;
        // shifts are whole pixels here, so skimage's round(shift·U)/U is the identity
        let region = (u * 1.5).ceil() as usize;
        let dftshift = (region as f64 / 2.0).trunc();
        let off_y = dftshift - sy * u;
        let off_x = dftshift - sx * u;
        // cc_up = conj(K_y · conj(P) · K_xᵀ) = conj(K_y) · P · conj(K_x)ᵀ with
        // K[i, k] = exp(−2πi·(i − off)·fftfreq(n, U)[k])
        let two_pi = 2.0 * std::f64::consts::PI;
        let kernel = |len: usize, off: f64| -> Vec<Complex64> {
            let f = fftfreq(len, u);
            let mut k = Vec::with_capacity(region * len);
            for i in 0..region {
                let r = i as f64 - off;
                for &fk in &f {
                    // conj(exp(−iθ)) = exp(+iθ)
                    let theta = two_pi * (r * fk);
                    k.push(Complex64::new(theta.cos(), theta.sin()));
                }
            }
            k
        };
        let kx = kernel(w, off_x); // region × w
        let ky = kernel(h, off_y); // region × h
        // a[m, j] = Σ_n P[m, n] · kx[j, n]
        let mut a = vec![Complex64::default(); h * region];
        for m in 0..h {
            let prow = &prod[m * w..(m + 1) * w];
            for j in 0..region {
                let krow = &kx[j * w..(j + 1) * w];
                let mut acc = Complex64::default();
                for (p, k) in prow.iter().zip(krow) {
                    acc += p * k;
                }
                a[m * region + j] = acc;
            }
        }
        // up[i, j] = Σ_m ky[i, m] · a[m, j]
        let mut up = vec![Complex64::default(); region * region];
        for i in 0..region {
            let krow = &ky[i * h..(i + 1) * h];
            let out = &mut up[i * region..(i + 1) * region];
            for (m, k) in krow.iter().enumerate() {
                let arow = &a[m * region..(m + 1) * region];
                for (o, av) in out.iter_mut().zip(arow) {
                    *o += k * av;
                }
            }
        }
        let best = argmax_abs(&up);
        cc_max = up[best];
        let (my, mx) = ((best / region) as f64, (best % region) as f64);
        sy += (my - dftshift) / u;
        sx += (mx - dftshift) / u;
        src_amp = amp(src);
        tgt_amp = amp(tgt);
    }
    if h == 1 {
        sy = 0.0;
    }
    if w == 1 {
        sx = 0.0;
    }
    let ccabs2 = cc_max.re * cc_max.re + cc_max.im * cc_max.im;
    let error = (1.0 - ccabs2 / (src_amp * tgt_amp)).abs().sqrt();
    Ok(Shift {
        dy: sy,
        dx: sx,
        error,
        phase_diff: cc_max.im.atan2(cc_max.re),
    })
}

/// Sub-pixel shift between two images by phase correlation, refined to `1/upsample` px by an
/// upsampled DFT around the peak; matches
/// `skimage.registration.phase_cross_correlation(reference, moving, upsample_factor=upsample)`
/// (module docs: algorithm, the sign convention, the `error` metric).
///
/// Returns the shift `(dy, dx)` (px) to apply to `moving` to register it to `reference`.
/// The shift is periodic: only values in `(−h/2, h/2]` × `(−w/2, w/2]` (plus < 1 px) can be
/// found. `upsample = 1` gives whole pixels; 10–100 is typical. Cost: two FFTs plus
/// `O(h·w·1.5U + h·(1.5U)²)` for the refinement.
///
/// Errors: empty images, different shapes, non-finite pixels, `upsample = 0`, and constant
/// (e.g. all-zero) images ([`AlignError::NoSignal`], where skimage returns an arbitrary shift).
///
/// Phase normalisation whitens the spectrum: on noise-free, very smooth synthetic images the
/// round-off-level high frequencies get the same weight as the signal and bias the result;
/// real (Poisson-noisy) ion maps are fine.
pub fn estimate_shift(
    reference: ArrayView2<'_, f64>,
    moving: ArrayView2<'_, f64>,
    upsample: usize,
) -> Result<Shift, AlignError> {
    estimate_shift_with(reference, moving, &ShiftOptions::skimage(upsample))
}

/// [`estimate_shift`] with [`ShiftOptions`] (normalisation, window); with
/// `ShiftOptions::skimage(U)` it is `estimate_shift(…, U)`, and with
/// `Normalization::None` and no window it matches skimage's `normalization=None`.
pub fn estimate_shift_with(
    reference: ArrayView2<'_, f64>,
    moving: ArrayView2<'_, f64>,
    opts: &ShiftOptions,
) -> Result<Shift, AlignError> {
    let upsample = opts.upsample;
    if upsample == 0 {
        return Err(AlignError::InvalidUpsample(upsample));
    }
    if reference.dim() != moving.dim() {
        return Err(AlignError::ShapeMismatch {
            reference: reference.dim(),
            moving: moving.dim(),
        });
    }
    check_image(reference, "reference image")?;
    check_image(moving, "moving image")?;
    let (h, w) = reference.dim();
    let plan = Fft2::new(h, w);
    let window = opts.hann_window.then(|| (hann(h), hann(w)));
    let src = plan.forward_checked(reference, window.as_ref(), "reference image")?;
    let tgt = plan.forward_checked(moving, window.as_ref(), "moving image")?;
    phase_correlation(
        &plan,
        &src,
        &tgt,
        upsample,
        opts.normalization,
        "the images",
    )
}

/// Shifts (px) that register every plane of `stack` (`planes × h × w`, one strong species,
/// e.g. 12C14N⁻ or SE) onto plane `reference_plane`, each by [`estimate_shift`] against the
/// reference plane; same sign convention (apply `(dy, dx)` to plane `p` with [`apply_shift`]).
/// The reference plane gets exactly `(0, 0)`. Apply the same shift to every mass of a plane.
///
/// Errors: empty stack, `reference_plane` out of range, non-finite pixels or a constant plane
/// (naming the plane),
/// `upsample = 0`, `max_shift_px` negative/NaN (∞ = no limit), and a plane whose `|dy|` or
/// `|dx|` exceeds `max_shift_px` ([`AlignError::ShiftTooLarge`], the lowest such plane).
pub fn align_planes(
    stack: ArrayView3<'_, f64>,
    reference_plane: usize,
    max_shift_px: f64,
    upsample: usize,
) -> Result<Vec<(f64, f64)>, AlignError> {
    Ok(align_planes_with(
        stack,
        reference_plane,
        max_shift_px,
        &ShiftOptions::skimage(upsample),
    )?
    .into_iter()
    .map(|s| (s.dy, s.dx))
    .collect())
}

/// [`align_planes`] with [`ShiftOptions`], returning the full [`Shift`] of every plane (with
/// skimage's error metric); the reference plane gets `Shift { dy: 0, dx: 0, error: 0,
/// phase_diff: 0 }`.
pub fn align_planes_with(
    stack: ArrayView3<'_, f64>,
    reference_plane: usize,
    max_shift_px: f64,
    opts: &ShiftOptions,
) -> Result<Vec<Shift>, AlignError> {
    let upsample = opts.upsample;
    if upsample == 0 {
        return Err(AlignError::InvalidUpsample(upsample));
    }
    if max_shift_px.is_nan() || max_shift_px < 0.0 {
        return Err(AlignError::InvalidMaxShift(max_shift_px));
    }
    let (np, h, w) = stack.dim();
    if reference_plane >= np {
        return Err(AlignError::ReferencePlaneOutOfRange {
            reference: reference_plane,
            n_planes: np,
        });
    }
    for p in 0..np {
        check_image(stack.index_axis(Axis(0), p), &format!("plane {p}"))?;
    }
    let plan = Fft2::new(h, w);
    let window = opts.hann_window.then(|| (hann(h), hann(w)));
    let src = plan.forward_checked(
        stack.index_axis(Axis(0), reference_plane),
        window.as_ref(),
        &format!("reference plane {reference_plane}"),
    )?;
    let shifts: Vec<Result<Shift, AlignError>> = (0..np)
        .into_par_iter()
        .map(|p| {
            if p == reference_plane {
                return Ok(Shift {
                    dy: 0.0,
                    dx: 0.0,
                    error: 0.0,
                    phase_diff: 0.0,
                });
            }
            let what = format!("plane {p}");
            let tgt = plan.forward_checked(stack.index_axis(Axis(0), p), window.as_ref(), &what)?;
            phase_correlation(&plan, &src, &tgt, upsample, opts.normalization, &what)
        })
        .collect();
    let mut out = Vec::with_capacity(np);
    for (p, s) in shifts.into_iter().enumerate() {
        let s = s?;
        if s.dy.abs() > max_shift_px || s.dx.abs() > max_shift_px {
            return Err(AlignError::ShiftTooLarge {
                plane: p,
                dy: s.dy,
                dx: s.dx,
                max_shift_px,
            });
        }
        out.push(s);
    }
    Ok(out)
}

/// How [`apply_shift`] resamples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShiftMode {
    /// Bilinear interpolation at `(y − dy, x − dx)`; input pixels outside the image count as 0.
    /// Mixes neighbouring counts (not integral any more).
    #[default]
    Bilinear,
    /// Shift by `(round(dy), round(dx))` (half away from zero): every output pixel is one input
    /// pixel or 0, so counts stay integral and are never double-counted.
    Integer,
}

/// A shifted image and where it is fully defined.
#[derive(Debug, Clone, PartialEq)]
pub struct ShiftedImage {
    /// The shifted image (f64).
    pub image: Array2<f64>,
    /// `true` where the output pixel is computed only from input pixels inside the image;
    /// `false` where it used pixels from outside (those counted as 0, so the value is 0 or a
    /// partial, too-low interpolation). Exclude `false` pixels from sums over planes.
    pub valid: Array2<bool>,
}

/// Shift an image by `(dy, dx)` px: `out(y, x) = image(y − dy, x − dx)`, i.e. content moves
/// down by `dy` and right by `dx` (the convention of `scipy.ndimage.shift`; pass the result of
/// [`estimate_shift`]/[`align_planes`] to register a plane). See [`ShiftMode`] for the
/// resampling and [`ShiftedImage::valid`] for the edge rule (outside = 0, flagged invalid).
///
/// Errors: non-finite `dy`/`dx`. An empty image gives empty outputs. NaN input pixels
/// propagate only into outputs that give them a non-zero weight.
pub fn apply_shift<T: Copy + Into<f64>>(
    image: ArrayView2<'_, T>,
    dy: f64,
    dx: f64,
    mode: ShiftMode,
) -> Result<ShiftedImage, AlignError> {
    if !(dy.is_finite() && dx.is_finite()) {
        return Err(AlignError::InvalidShift { dy, dx });
    }
    let (h, w) = image.dim();
    let mut out = Array2::<f64>::zeros((h, w));
    let mut valid = Array2::from_elem((h, w), false);
    let (hf, wf) = (h as f64, w as f64);
    match mode {
        ShiftMode::Integer => {
            let (ry, rx) = (dy.round(), dx.round());
            if ry.abs() >= hf || rx.abs() >= wf {
                return Ok(ShiftedImage { image: out, valid });
            }
            let (ry, rx) = (ry as isize, rx as isize);
            for y in 0..h {
                let sy = y as isize - ry;
                if sy < 0 || sy >= h as isize {
                    continue;
                }
                for x in 0..w {
                    let sx = x as isize - rx;
                    if sx < 0 || sx >= w as isize {
                        continue;
                    }
                    out[[y, x]] = image[[sy as usize, sx as usize]].into();
                    valid[[y, x]] = true;
                }
            }
        }
        ShiftMode::Bilinear => {
            for y in 0..h {
                let sy = y as f64 - dy;
                if sy <= -1.0 || sy >= hf {
                    continue;
                }
                let y0f = sy.floor();
                let fy = sy - y0f;
                let y0 = y0f as isize;
                for x in 0..w {
                    let sx = x as f64 - dx;
                    if sx <= -1.0 || sx >= wf {
                        continue;
                    }
                    let x0f = sx.floor();
                    let fx = sx - x0f;
                    let x0 = x0f as isize;
                    let mut acc = 0.0;
                    let mut ok = true;
                    for (yy, wy) in [(y0, 1.0 - fy), (y0 + 1, fy)] {
                        if wy == 0.0 {
                            continue;
                        }
                        for (xx, wx) in [(x0, 1.0 - fx), (x0 + 1, fx)] {
                            let wgt = wy * wx;
                            if wgt == 0.0 {
                                continue;
                            }
                            if yy < 0 || xx < 0 || yy >= h as isize || xx >= w as isize {
                                ok = false;
                            } else {
                                let v: f64 = image[[yy as usize, xx as usize]].into();
                                acc += wgt * v;
                            }
                        }
                    }
                    out[[y, x]] = acc;
                    valid[[y, x]] = ok;
                }
            }
        }
    }
    Ok(ShiftedImage { image: out, valid })
}

/// Periodic sub-pixel shift through the Fourier domain:
/// `real(IFFT(FFT(image) · exp(−2πi·(dy·f_y + dx·f_x))))` with `f = fftfreq(n)` (cycles/px),
/// i.e. `out(y, x) = image(y − dy, x − dx)` with wrap-around, the same as
/// `numpy.fft.ifft2(scipy.ndimage.fourier_shift(numpy.fft.fft2(image), (dy, dx))).real`.
///
/// Meant for tests and simulations (it rings at edges and can create negative values; do not
/// use it on counts to be quantified). For an even size the Nyquist row/column cannot carry
/// a sub-pixel phase once the real part is taken, which biases phase correlation by up to
/// ~0.02 px on white-noise-like images (skimage gives the same biased value).
/// Errors: empty image, non-finite pixels or shift.
pub fn fourier_shift(
    image: ArrayView2<'_, f64>,
    dy: f64,
    dx: f64,
) -> Result<Array2<f64>, AlignError> {
    if !(dy.is_finite() && dx.is_finite()) {
        return Err(AlignError::InvalidShift { dy, dx });
    }
    check_image(image, "image")?;
    let (h, w) = image.dim();
    let plan = Fft2::new(h, w);
    let mut f = plan.forward_real(image);
    let (fy, fx) = (fftfreq(h, 1.0), fftfreq(w, 1.0));
    let two_pi = 2.0 * std::f64::consts::PI;
    for y in 0..h {
        for x in 0..w {
            let theta = -two_pi * (dy * fy[y] + dx * fx[x]);
            f[y * w + x] *= Complex64::new(theta.cos(), theta.sin());
        }
    }
    plan.transform(&mut f, true);
    let inv_n = 1.0 / (h * w) as f64;
    Ok(Array2::from_shape_fn((h, w), |(y, x)| {
        f[y * w + x].re * inv_n
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, array};

    /// Smooth blobs plus a deterministic pseudo-random texture (phase correlation needs
    /// signal at all frequencies).
    fn blobs(h: usize, w: usize) -> Array2<f64> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        Array2::from_shape_fn((h, w), |(y, x)| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 11) as f64 / (1u64 << 53) as f64;
            let (y, x) = (y as f64, x as f64);
            10.0 * noise
                + 100.0 * (-((y - 10.0).powi(2) + (x - 14.0).powi(2)) / 18.0).exp()
                + 60.0 * (-((y - 25.0).powi(2) + (x - 7.0).powi(2)) / 8.0).exp()
                + 30.0 * (-((y - 20.0).powi(2) + (x - 24.0).powi(2)) / 30.0).exp()
                + 5.0
        })
    }

    #[test]
    fn fftfreq_matches_numpy() {
        assert_eq!(fftfreq(4, 1.0), vec![0.0, 0.25, -0.5, -0.25]);
        assert_eq!(fftfreq(5, 1.0), vec![0.0, 0.2, 0.4, -0.4, -0.2]);
        assert_eq!(fftfreq(1, 1.0), vec![0.0]);
    }

    #[test]
    fn integer_shift_sign_convention() {
        let r = blobs(32, 40);
        // moving content sits 3 rows lower, 5 columns left: moving(y, x) = r(y − 3, x + 5)
        let m = fourier_shift(r.view(), 3.0, -5.0).unwrap();
        for u in [1, 10] {
            let s = estimate_shift(r.view(), m.view(), u).unwrap();
            assert!(
                (s.dy + 3.0).abs() < 1e-9 && (s.dx - 5.0).abs() < 1e-9,
                "{s:?}"
            );
        }
        // undoing it with apply_shift gives back the reference where valid
        let back = apply_shift(m.view(), -3.0, 5.0, ShiftMode::Integer).unwrap();
        for ((v, ok), e) in back.image.iter().zip(back.valid.iter()).zip(r.iter()) {
            if *ok {
                assert!((v - e).abs() < 1e-9);
            }
        }
        assert_eq!(
            back.valid.iter().filter(|v| **v).count(),
            (32 - 3) * (40 - 5)
        );
    }

    #[test]
    fn subpixel_fourier_shift_recovered() {
        // odd size: no Nyquist bin, so the Fourier shift is exact (see `fourier_shift`)
        let r = blobs(35, 35);
        let m = fourier_shift(r.view(), -1.37, 2.81).unwrap();
        let s = estimate_shift(r.view(), m.view(), 100).unwrap();
        assert!(
            (s.dy - 1.37).abs() <= 0.0101 && (s.dx + 2.81).abs() <= 0.0101,
            "{s:?}"
        );
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let z = Array2::<f64>::zeros((8, 8));
        let c = Array2::<f64>::from_elem((8, 8), 7.0);
        let t = blobs(8, 8);
        for (a, b) in [(&z, &t), (&t, &z), (&c, &t), (&t, &c)] {
            assert!(matches!(
                estimate_shift(a.view(), b.view(), 10),
                Err(AlignError::NoSignal { .. })
            ));
        }
        let e = Array2::<f64>::zeros((0, 5));
        assert!(matches!(
            estimate_shift(e.view(), e.view(), 1),
            Err(AlignError::Empty { .. })
        ));
        let a = Array2::<f64>::ones((4, 4));
        let b = Array2::<f64>::ones((4, 5));
        assert!(matches!(
            estimate_shift(a.view(), b.view(), 1),
            Err(AlignError::ShapeMismatch { .. })
        ));
        let mut n = a.clone();
        n[[1, 1]] = f64::NAN;
        assert!(matches!(
            estimate_shift(a.view(), n.view(), 1),
            Err(AlignError::NonFinite { count: 1, .. })
        ));
        assert!(matches!(
            estimate_shift(a.view(), a.view(), 0),
            Err(AlignError::InvalidUpsample(0))
        ));
        let huge = Array2::from_elem((4, 4), 1e300);
        let _ = estimate_shift(huge.view(), huge.view(), 3);
        // one row: dy is 0; 1×1 works
        let row = array![[1.0, 5.0, 2.0, 0.0, 0.0, 0.0]];
        let row2 = array![[0.0, 1.0, 5.0, 2.0, 0.0, 0.0]];
        let s = estimate_shift(row.view(), row2.view(), 4).unwrap();
        assert_eq!(s.dy, 0.0);
        assert!((s.dx + 1.0).abs() < 1e-9, "{s:?}");
        let two = array![[1.0, 2.0], [3.0, 5.0]];
        assert!(matches!(
            estimate_shift_with(two.view(), two.view(), &ShiftOptions::robust(4)),
            Err(AlignError::NoSignal { .. })
        ));
        let r = blobs(35, 41);
        let m = fourier_shift(r.view(), 2.25, -1.5).unwrap();
        let s = estimate_shift_with(r.view(), m.view(), &ShiftOptions::robust(20)).unwrap();
        // the fixed window biases towards 0 when the shift is a sizeable part of the image
        assert!(
            (s.dy + 2.25).abs() <= 0.25 && (s.dx - 1.5).abs() <= 0.25,
            "{s:?}"
        );
        let one = array![[3.0]];
        let s = estimate_shift(one.view(), one.view(), 7).unwrap();
        assert_eq!((s.dy, s.dx), (0.0, 0.0));
    }

    #[test]
    fn bilinear_and_integer_modes() {
        let img = array![[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]];
        let s = apply_shift(img.view(), 0.0, 0.5, ShiftMode::Bilinear).unwrap();
        // out(y, x) = img(y, x − 0.5)
        assert_eq!(s.image[[0, 1]], 1.5);
        assert_eq!(s.image[[0, 0]], 0.5); // half of pixel (0, −1) = 0 outside
        assert_eq!(s.valid.row(0).to_vec(), vec![false, true, true]);
        let s = apply_shift(img.view(), 1.0, 0.0, ShiftMode::Bilinear).unwrap();
        assert_eq!(
            s.image,
            array![[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
        );
        assert_eq!(s.valid.row(0).to_vec(), vec![false; 3]);
        assert_eq!(s.valid.row(1).to_vec(), vec![true; 3]);
        let i = apply_shift(img.view(), 0.6, -1.4, ShiftMode::Integer).unwrap();
        assert_eq!(
            i.image,
            array![[0.0, 0.0, 0.0], [2.0, 3.0, 0.0], [5.0, 6.0, 0.0]]
        );
        let u16img = array![[1u16, 2], [3, 4]];
        let i = apply_shift(u16img.view(), 0.0, 0.0, ShiftMode::Integer).unwrap();
        assert_eq!(i.image, array![[1.0, 2.0], [3.0, 4.0]]);
        assert!(i.valid.iter().all(|v| *v));
        for (dy, dx) in [(1e300, 0.0), (-1e18, 3.0), (0.0, 1e20), (2.5, 4.0)] {
            for mode in [ShiftMode::Bilinear, ShiftMode::Integer] {
                let s = apply_shift(img.view(), dy, dx, mode).unwrap();
                assert!(s.valid.iter().all(|v| !*v));
                assert!(s.image.iter().all(|v| *v == 0.0));
            }
        }
        assert!(apply_shift(img.view(), f64::NAN, 0.0, ShiftMode::Bilinear).is_err());
        let e = Array2::<f64>::zeros((0, 0));
        assert_eq!(
            apply_shift(e.view(), 1.0, 1.0, ShiftMode::Bilinear)
                .unwrap()
                .image
                .len(),
            0
        );
    }

    #[test]
    fn align_planes_stack() {
        let r = blobs(40, 40);
        let shifts = [(0.0, 0.0), (1.5, -0.75), (-2.25, 3.0), (0.4, 0.2)];
        let mut stack = Array3::<f64>::zeros((4, 40, 40));
        for (p, (dy, dx)) in shifts.iter().enumerate() {
            stack
                .index_axis_mut(Axis(0), p)
                .assign(&fourier_shift(r.view(), *dy, *dx).unwrap());
        }
        let got = align_planes(stack.view(), 1, 10.0, 20).unwrap();
        assert_eq!(got[1], (0.0, 0.0));
        for (p, (dy, dx)) in shifts.iter().enumerate() {
            // plane p must be moved by (s1 − sp) to match plane 1
            let (ey, ex) = (shifts[1].0 - dy, shifts[1].1 - dx);
            assert!(
                (got[p].0 - ey).abs() <= 0.05 && (got[p].1 - ex).abs() <= 0.05,
                "{p}: {:?}",
                got[p]
            );
        }
        let e = align_planes(stack.view(), 1, 3.0, 20).unwrap_err();
        assert!(
            matches!(e, AlignError::ShiftTooLarge { plane: 2, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("plane 2"));
        assert!(matches!(
            align_planes(stack.view(), 4, 3.0, 20),
            Err(AlignError::ReferencePlaneOutOfRange { .. })
        ));
        assert!(align_planes(stack.view(), 0, f64::NAN, 20).is_err());
        stack[[3, 5, 5]] = f64::INFINITY;
        let e = align_planes(stack.view(), 0, 10.0, 20).unwrap_err();
        assert!(e.to_string().contains("plane 3"), "{e}");
        let empty = Array3::<f64>::zeros((0, 4, 4));
        assert!(align_planes(empty.view(), 0, 1.0, 1).is_err());
    }
}
