//! Automatic multimodal registration of an EM image to a NanoSIMS channel.
//!
//! Finds the matrix `M` mapping an EM pixel (x, y, 1) to a NanoSIMS pixel (same convention as
//! [`crate::warp`]: x = column, pixel centres at integers), with a confidence, and refuses
//! ([`AutoError::Ambiguous`]) rather than return a transform it cannot tell from another.
//!
//! # Method
//!
//! 1. **Common grid.** The pixel sizes are known, so the EM is area-averaged onto the NanoSIMS
//!    pixel size: factor `f = p_ns / p_em`; output pixel `i` averages EM over
//!    `[f·i − ½, f·(i+1) − ½)` with exact fractional-overlap weights (separable), so its centre
//!    is EM `x = f·i + (f − 1)/2`. This is what the instrument itself does (each NanoSIMS pixel
//!    integrates its footprint). The resampled EM `R` is then blurred by the beam
//!    (Gaussian, `σ_b = beam_sigma_nm / p_ns`) to match the NanoSIMS point-spread function.
//! 2. **Features.** The contrast differs between modalities (EM: electron density, often
//!    inverted with respect to ion yields), so both images are compared through their gradient
//!    magnitude `|∇(G_σ * I)|` (σ = `smooth_px`), which is invariant to contrast sign and to
//!    affine intensity changes up to a scale that normalised correlation removes.
//! 3. **Coarse search.** Model: NanoSIMS pixel `u` shows `R` at `p = s·R(θ)·F·(u − u_c) + p_c`
//!    (`F` = optional mirror). For each θ on a grid (`rotation_step_deg` over
//!    `±rotation_range_deg`), each flip and each scale in the range, the NanoSIMS feature image
//!    is rotated into a template `T` with mask `M_T` (the rotated square), and the masked
//!    normalised cross-correlation (Padfield 2012) against `R`'s feature image `I` (mask `M_I`)
//!    is evaluated for all shifts with FFTs (`rustfft`, zero-padded, no wrap-around):
//!
//!    `n = M_T⋆M_I`, `ΣT = (M_T T)⋆M_I`, `ΣI = M_T⋆(M_I I)`, `ΣTI = (M_T T)⋆(M_I I)`, …
//!
//!    `NCC = (ΣTI − ΣT·ΣI/n) / √((ΣT² − (ΣT)²/n)(ΣI² − (ΣI)²/n))`,
//!
//!    restricted to shifts where the overlap `n` covers ≥ `min_overlap` of the smaller field (the
//!    NanoSIMS field may leave the EM field, or contain it). Large images are first binned by an integer
//!    factor so the NanoSIMS side is ≤ `coarse_max_px` (the coarse search only needs to land in
//!    the capture range of step 5). Per rotation the two best non-adjacent peaks are kept.
//! 4. **Confidence.** Candidates are *distinct* from the best when the NanoSIMS field corners
//!    they imply differ by more than 15 % of the field side. With `c₁` the best NCC and `c₂` the
//!    best distinct one, `confidence = (c₁ − c₂)/(1 − c₂)`: the fraction of the decorrelation
//!    left by the runner-up that the winner removes (0 = tie, 1 = perfect unique match). The
//!    plain ratio `c₂/c₁` is a poor measure here because smooth gradient maps of a roundish cell
//!    correlate well (≈ 0.8) at wrong poses too; on synthetic studies true matches give
//!    0.24–0.55 and pure noise ≈ 0.02. Below `min_confidence` (0.15), or when `c₁ < min_score`,
//!    the result is [`AutoError::Ambiguous`] rather than a transform.
//! 5. **Refinement.** Starting from the best candidate, `(θ, ln s, p_c)` (similarity) or all six
//!    affine parameters are refined at full NanoSIMS resolution by maximising the same
//!    gradient-magnitude NCC, now with bilinear sampling of `R` at `p(u)` for every NanoSIMS
//!    pixel. The objective is cheap but not smooth enough for derivatives (bilinear kinks,
//!    changing overlap), and has 4–6 parameters, so a hand-written Nelder–Mead simplex (a few
//!    hundred evaluations, restarted once from its optimum) is the simplest robust choice
//!    and avoids a dependency.
//!
//! The final matrix composes `u → p` with `EM = f·p + (f − 1)/2` and inverts it.
//!
//! # Accuracy (synthetic studies, `tests/auto_synth.rs`, rotations drawn in ±180°)
//!
//! Error = mean distance, in NanoSIMS px, between the images of the four EM corners under the
//! recovered and the true transform (the EM corners lie outside the NanoSIMS field, so this
//! magnifies rotation/scale errors). EM 512² at 24 nm, 12C14N 64² at 120–160 nm, 8 samples:
//! median 0.36, 95th percentile 0.77, ≈ 0.3–0.6 s per registration on 2 threads. EM 2048² at
//! 8 nm, 256² at 40–60 nm: median 0.46 px (0.33 px at the NanoSIMS field corners), ≈ 0.7–1.4 s;
//! the free scale comes out 0.18 % low on these data (edges of the synthetic cell differ
//! slightly between modalities); with `fix_scale` (exact pixel sizes) the median is 0.20 px.
//! 12C, 32S and SE maps register as well; the sparse 31P map, pure noise and the NanoSIMS image
//! of another cell are refused as ambiguous.
//!
//! Limitations: non-finite pixels are read as 0 (crop NaN borders first); the ambiguity test
//! only compares poses inside the searched rotation/scale/flip ranges.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;
use rustfft::{Fft, FftPlanner, num_complex::Complex};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use crate::warp::{M3, apply, invert};

/// Transform family fitted by the refinement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AutoKind {
    /// Rotation, isotropic scale, translation (and the flip when found).
    Similarity,
    /// General affine (starts from the similarity).
    Affine,
}

/// Options of [`register_auto`] (every field optional when deserialised).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct AutoOptions {
    /// Rotations searched: `−range ..= +range` (degrees).
    pub rotation_range_deg: f64,
    /// Step of the coarse rotation grid (degrees).
    pub rotation_step_deg: f64,
    /// Also search mirrored NanoSIMS images.
    pub allow_flip: bool,
    /// Relative scale range searched coarsely around the pixel-size ratio (`0.03` = ±3 %).
    pub scale_range: f64,
    /// Step of the coarse scale grid (relative).
    pub scale_step: f64,
    pub kind: AutoKind,
    /// Smallest accepted confidence `(best − second)/(1 − second)` of the coarse peaks.
    pub min_confidence: f64,
    /// Smallest accepted coarse NCC of the best peak.
    pub min_score: f64,
    /// Primary beam σ (nm); the resampled EM is blurred by it. `None`: one NanoSIMS pixel.
    pub beam_sigma_nm: Option<f64>,
    /// Smoothing before the gradient (σ, NanoSIMS px).
    pub smooth_px: f64,
    /// The coarse search bins images so that the NanoSIMS side is at most this.
    pub coarse_max_px: usize,
    /// Smallest overlap of the NanoSIMS field with the EM, as a fraction of the smaller of the
    /// two fields (on the NanoSIMS grid).
    pub min_overlap: f64,
    /// Keep the scale at the coarse value (the pixel-size ratio when `scale_range` is 0) in
    /// the similarity refinement: for trusted pixel sizes.
    pub fix_scale: bool,
}

impl Default for AutoOptions {
    fn default() -> Self {
        Self {
            rotation_range_deg: 180.0,
            rotation_step_deg: 3.0,
            allow_flip: false,
            scale_range: 0.0,
            scale_step: 0.02,
            kind: AutoKind::Similarity,
            min_confidence: 0.15,
            min_score: 0.08,
            beam_sigma_nm: None,
            smooth_px: 1.0,
            coarse_max_px: 96,
            min_overlap: 0.5,
            fix_scale: false,
        }
    }
}

/// A registration found by [`register_auto`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AutoResult {
    /// EM pixel (x, y, 1) → NanoSIMS pixel.
    pub matrix: M3,
    /// `(best − second)/(1 − second)` of the coarse NCC peaks (0 = tie, 1 = unique).
    pub confidence: f64,
    /// Gradient-magnitude NCC after refinement.
    pub score: f64,
    /// Best coarse NCC and the best distinct one.
    pub coarse_best: f64,
    pub coarse_second: f64,
    /// Rotation of the NanoSIMS image relative to the EM (degrees, EM → NanoSIMS).
    pub rotation_deg: f64,
    /// NanoSIMS px per EM px.
    pub scale: f64,
    pub flipped: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AutoError {
    #[error("input: {0}")]
    Input(String),
    #[error(
        "ambiguous registration: best peak {best:.4}, second distinct peak {second:.4} (confidence below threshold)"
    )]
    Ambiguous { best: f64, second: f64 },
}

/// Register `em` (pixel `em_px_nm`) to the NanoSIMS channel `ns` (pixel `ns_px_nm`).
pub fn register_auto(
    em: ArrayView2<'_, f32>,
    em_px_nm: f64,
    ns: ArrayView2<'_, f32>,
    ns_px_nm: f64,
    opts: &AutoOptions,
) -> Result<AutoResult, AutoError> {
    if !(em_px_nm > 0.0 && ns_px_nm > 0.0 && em_px_nm.is_finite() && ns_px_nm.is_finite()) {
        return Err(AutoError::Input("pixel sizes must be > 0".into()));
    }
    if !(opts.rotation_step_deg > 0.0 && opts.rotation_range_deg >= 0.0) {
        return Err(AutoError::Input("rotation step must be > 0".into()));
    }
    let (nh, nw) = ns.dim();
    let f = ns_px_nm / em_px_nm;
    let (eh, ew) = em.dim();
    let rh = (eh as f64 / f).floor() as usize;
    let rw = (ew as f64 / f).floor() as usize;
    if nh < 8 || nw < 8 || rh < 8 || rw < 8 {
        return Err(AutoError::Input(
            "images too small (≥ 8 px on the NanoSIMS grid)".into(),
        ));
    }
    let em64 = em.mapv(|v| if v.is_finite() { v as f64 } else { 0.0 });
    let ns64 = ns.mapv(|v| if v.is_finite() { v as f64 } else { 0.0 });
    // 1. EM on the NanoSIMS grid, blurred by the beam.
    let mut r = area_resample(&em64, f, rh, rw);
    let beam = opts.beam_sigma_nm.unwrap_or(ns_px_nm) / ns_px_nm;
    if beam > 0.0 {
        r = gaussian(&r, beam);
    }
    // 2. Features.
    let gr = grad_mag(&gaussian(&r, opts.smooth_px));
    let gn = grad_mag(&gaussian(&ns64, opts.smooth_px));

    // 3. Coarse search on binned features.
    let k = nh.max(nw).div_ceil(opts.coarse_max_px.max(8)).max(1);
    let (cgr, cgn) = if k > 1 {
        let kf = k as f64;
        (
            area_resample(&gr, kf, gr.dim().0 / k, gr.dim().1 / k),
            area_resample(&gn, kf, gn.dim().0 / k, gn.dim().1 / k),
        )
    } else {
        (gr.clone(), gn.clone())
    };
    let cands = coarse_search(&cgr, &cgn, opts);
    let best = cands
        .iter()
        .copied()
        .max_by(|a, b| a.ncc.total_cmp(&b.ncc))
        .ok_or(AutoError::Ambiguous {
            best: 0.0,
            second: 0.0,
        })?;
    let (ch, cw) = cgn.dim();
    let side = ch.max(cw) as f64;
    let second = cands
        .iter()
        .filter(|c| corner_distance(c, &best, ch, cw) > 0.15 * side)
        .map(|c| c.ncc)
        .fold(0.0f64, f64::max);
    let confidence = if best.ncc > 0.0 {
        ((best.ncc - second) / (1.0 - second).max(1e-9)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    if !(best.ncc >= opts.min_score && confidence >= opts.min_confidence) {
        return Err(AutoError::Ambiguous {
            best: best.ncc,
            second,
        });
    }

    // Candidate at full resolution: coarse pixel i centre = fine k·i + (k − 1)/2.
    let kf = k as f64;
    let off = (kf - 1.0) / 2.0;
    let uc_c = ((cw as f64 - 1.0) / 2.0, (ch as f64 - 1.0) / 2.0);
    let pc_c = best.centre;
    let pc = (kf * pc_c.0 + off, kf * pc_c.1 + off);
    let uc_f = (kf * uc_c.0 + off, kf * uc_c.1 + off);
    let uc = ((nw as f64 - 1.0) / 2.0, (nh as f64 - 1.0) / 2.0);
    // The coarse centre maps fine NanoSIMS uc_f; shift to uc (differ by < k px, tiny).
    let a0 = sim_matrix(best.theta, best.scale, best.flip);
    let du = (uc.0 - uc_f.0, uc.1 - uc_f.1);
    let pc = (
        pc.0 + a0[0][0] * du.0 + a0[0][1] * du.1,
        pc.1 + a0[1][0] * du.0 + a0[1][1] * du.1,
    );

    // 5. Refinement.
    let obj = Objective {
        gr: &gr,
        gn: &gn,
        uc,
        min_valid: opts.min_overlap * (nh * nw).min(rh * rw) as f64,
    };
    let flip = best.flip;
    let sim = |x: &[f64]| {
        let a = sim_matrix(x[0], x[1].exp(), flip);
        (a, (x[2], x[3]))
    };
    let x0 = [best.theta, best.scale.ln(), pc.0, pc.1];
    let step_t = opts.rotation_step_deg.to_radians() * 0.5;
    let steps = [step_t, 0.01, kf.max(1.0), kf.max(1.0)];
    let ln_s0 = x0[1];
    let fix = opts.fix_scale;
    let f_sim = |x: &[f64]| {
        let mut x = x.to_vec();
        if fix {
            x[1] = ln_s0;
        }
        let (a, p) = sim(&x);
        -obj.ncc(&a, p)
    };
    let (mut x, _) = nelder_mead(&f_sim, &x0, &steps, 400);
    let (x2, _) = nelder_mead(&f_sim, &x, &[step_t * 0.2, 0.003, 0.3, 0.3], 300);
    x.copy_from_slice(&x2);
    if fix {
        x[1] = ln_s0;
    }
    let (mut a, mut p) = sim(&x);
    let mut score = obj.ncc(&a, p);
    if opts.kind == AutoKind::Affine {
        let xa = [a[0][0], a[0][1], a[1][0], a[1][1], p.0, p.1];
        let f_aff = |x: &[f64]| -obj.ncc(&[[x[0], x[1]], [x[2], x[3]]], (x[4], x[5]));
        let (xb, v) = nelder_mead(&f_aff, &xa, &[0.01, 0.01, 0.01, 0.01, 0.3, 0.3], 800);
        if -v > score {
            a = [[xb[0], xb[1]], [xb[2], xb[3]]];
            p = (xb[4], xb[5]);
            score = -v;
        }
    }
    // u → p = A(u − uc) + pc; EM = f·p + (f − 1)/2.
    let c = (f - 1.0) / 2.0;
    let ns_to_em: M3 = [
        [
            f * a[0][0],
            f * a[0][1],
            f * (p.0 - a[0][0] * uc.0 - a[0][1] * uc.1) + c,
        ],
        [
            f * a[1][0],
            f * a[1][1],
            f * (p.1 - a[1][0] * uc.0 - a[1][1] * uc.1) + c,
        ],
        [0.0, 0.0, 1.0],
    ];
    let matrix =
        invert(&ns_to_em).ok_or_else(|| AutoError::Input("singular refined transform".into()))?;
    let det = matrix[0][0] * matrix[1][1] - matrix[0][1] * matrix[1][0];
    let scale = det.abs().sqrt();
    // Rotation EM → NS: of the (un-mirrored) linear part.
    let rotation_deg = if det < 0.0 {
        // M = s R(φ) F with F = diag(−1, 1): first column = s(−cos φ, −sin φ).
        (-matrix[1][0]).atan2(-matrix[0][0]).to_degrees()
    } else {
        matrix[1][0].atan2(matrix[0][0]).to_degrees()
    };
    Ok(AutoResult {
        matrix,
        confidence,
        score,
        coarse_best: best.ncc,
        coarse_second: second,
        rotation_deg,
        scale,
        flipped: det < 0.0,
    })
}

/// `s·R(θ)·F` as a 2×2 matrix (F = diag(−1, 1) when flipped).
fn sim_matrix(theta: f64, s: f64, flip: bool) -> [[f64; 2]; 2] {
    let (sn, cs) = theta.sin_cos();
    let fx = if flip { -1.0 } else { 1.0 };
    [[s * cs * fx, -s * sn], [s * sn * fx, s * cs]]
}

/// One coarse peak: NanoSIMS centre maps to `centre` on the (coarse) EM grid.
#[derive(Debug, Clone, Copy)]
struct Cand {
    ncc: f64,
    theta: f64,
    scale: f64,
    flip: bool,
    centre: (f64, f64),
}

fn corner_distance(a: &Cand, b: &Cand, h: usize, w: usize) -> f64 {
    let uc = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let ma = sim_matrix(a.theta, a.scale, a.flip);
    let mb = sim_matrix(b.theta, b.scale, b.flip);
    let mut worst = 0.0f64;
    for (x, y) in [(0.0, 0.0), (w as f64 - 1.0, 0.0), (0.0, h as f64 - 1.0)]
        .into_iter()
        .chain([(w as f64 - 1.0, h as f64 - 1.0)])
    {
        let d = (x - uc.0, y - uc.1);
        let pa = (
            ma[0][0] * d.0 + ma[0][1] * d.1 + a.centre.0,
            ma[1][0] * d.0 + ma[1][1] * d.1 + a.centre.1,
        );
        let pb = (
            mb[0][0] * d.0 + mb[0][1] * d.1 + b.centre.0,
            mb[1][0] * d.0 + mb[1][1] * d.1 + b.centre.1,
        );
        worst = worst.max(((pa.0 - pb.0).powi(2) + (pa.1 - pb.1).powi(2)).sqrt());
    }
    worst
}

struct Fft2 {
    ny: usize,
    nx: usize,
    fx: Arc<dyn Fft<f64>>,
    fy: Arc<dyn Fft<f64>>,
    ix: Arc<dyn Fft<f64>>,
    iy: Arc<dyn Fft<f64>>,
}

impl Fft2 {
    fn new(ny: usize, nx: usize) -> Self {
        let mut p = FftPlanner::new();
        Self {
            ny,
            nx,
            fx: p.plan_fft_forward(nx),
            fy: p.plan_fft_forward(ny),
            ix: p.plan_fft_inverse(nx),
            iy: p.plan_fft_inverse(ny),
        }
    }

    fn run(&self, data: &mut [Complex<f64>], inverse: bool) {
        let (fx, fy) = if inverse {
            (&self.ix, &self.iy)
        } else {
            (&self.fx, &self.fy)
        };
        fx.process(data);
        let mut col = vec![Complex::new(0.0, 0.0); self.ny];
        for x in 0..self.nx {
            for (y, c) in col.iter_mut().enumerate() {
                *c = data[y * self.nx + x];
            }
            fy.process(&mut col);
            for (y, c) in col.iter().enumerate() {
                data[y * self.nx + x] = *c;
            }
        }
        if inverse {
            let s = 1.0 / (self.nx * self.ny) as f64;
            data.iter_mut().for_each(|v| *v *= s);
        }
    }

    /// FFT of a real (h, w) array placed at the origin of the padded grid.
    fn forward_real(&self, a: &Array2<f64>) -> Vec<Complex<f64>> {
        let mut d = vec![Complex::new(0.0, 0.0); self.nx * self.ny];
        for ((y, x), &v) in a.indexed_iter() {
            d[y * self.nx + x] = Complex::new(v, 0.0);
        }
        self.run(&mut d, false);
        d
    }

    /// Cross-correlation `C(d) = Σ_q T(q) I(q + d)` from the spectra of T and I.
    fn xcorr(&self, ft: &[Complex<f64>], fi: &[Complex<f64>]) -> Vec<f64> {
        let mut d: Vec<Complex<f64>> = ft.iter().zip(fi).map(|(a, b)| a.conj() * b).collect();
        self.run(&mut d, true);
        d.into_iter().map(|c| c.re).collect()
    }
}

/// Masked-NCC search over rotations / flips / scales; returns up to two peaks per pose.
fn coarse_search(gr: &Array2<f64>, gn: &Array2<f64>, opts: &AutoOptions) -> Vec<Cand> {
    let (rh, rw) = gr.dim();
    let (nh, nw) = gn.dim();
    let smax = 1.0 + opts.scale_range.abs();
    let l = ((nh.max(nw) as f64) * std::f64::consts::SQRT_2 * smax).ceil() as usize + 3;
    let ny = fft_size(rh + l);
    let nx = fft_size(rw + l);
    let fft = Fft2::new(ny, nx);
    let mi = Array2::<f64>::ones((rh, rw));
    let f_mi = fft.forward_real(&mi);
    let f_i = fft.forward_real(gr);
    let f_i2 = fft.forward_real(&gr.mapv(|v| v * v));

    let mut poses = Vec::new();
    let nrot = (opts.rotation_range_deg / opts.rotation_step_deg).floor() as i64;
    let full_circle = opts.rotation_range_deg >= 180.0;
    for i in -nrot..=nrot {
        let deg = i as f64 * opts.rotation_step_deg;
        if full_circle && i == nrot && (deg - 180.0).abs() < 1e-9 && nrot > 0 {
            continue; // +180° = −180°
        }
        let ns = (opts.scale_range.abs() / opts.scale_step.max(1e-6)).floor() as i64;
        for j in -ns..=ns {
            let s = 1.0 + j as f64 * opts.scale_step;
            for flip in [false, true] {
                if flip && !opts.allow_flip {
                    continue;
                }
                poses.push((deg.to_radians(), s, flip));
            }
        }
    }
    let uc = ((nw as f64 - 1.0) / 2.0, (nh as f64 - 1.0) / 2.0);
    let qc = ((l as f64 - 1.0) / 2.0, (l as f64 - 1.0) / 2.0);
    let min_n = opts.min_overlap * (nh * nw).min(rh * rw) as f64;
    poses
        .par_iter()
        .flat_map_iter(|&(theta, s, flip)| {
            // Template: q → u = (sR(θ)F)⁻¹ (q − qc) + uc.
            let a = sim_matrix(theta, s, flip);
            let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
            let ai = [
                [a[1][1] / det, -a[0][1] / det],
                [-a[1][0] / det, a[0][0] / det],
            ];
            let mut t = Array2::<f64>::zeros((l, l));
            let mut m = Array2::<f64>::zeros((l, l));
            for qy in 0..l {
                for qx in 0..l {
                    let d = (qx as f64 - qc.0, qy as f64 - qc.1);
                    let u = ai[0][0] * d.0 + ai[0][1] * d.1 + uc.0;
                    let v = ai[1][0] * d.0 + ai[1][1] * d.1 + uc.1;
                    let val = sample_f64(gn, u, v);
                    if let Some(val) = val {
                        t[[qy, qx]] = val;
                        m[[qy, qx]] = 1.0;
                    }
                }
            }
            let f_m = fft.forward_real(&m);
            let f_t = fft.forward_real(&t);
            let f_t2 = fft.forward_real(&t.mapv(|v| v * v));
            let n = fft.xcorr(&f_m, &f_mi);
            let st = fft.xcorr(&f_t, &f_mi);
            let si = fft.xcorr(&f_m, &f_i);
            let sti = fft.xcorr(&f_t, &f_i);
            let st2 = fft.xcorr(&f_t2, &f_mi);
            let si2 = fft.xcorr(&f_m, &f_i2);
            let mut map = vec![f64::NEG_INFINITY; nx * ny];
            for idx in 0..nx * ny {
                let nn = n[idx];
                if nn < min_n {
                    continue;
                }
                let vt = st2[idx] - st[idx] * st[idx] / nn;
                let vi = si2[idx] - si[idx] * si[idx] / nn;
                if vt <= 1e-12 || vi <= 1e-12 {
                    continue;
                }
                map[idx] = (sti[idx] - st[idx] * si[idx] / nn) / (vt * vi).sqrt();
            }
            // Two best peaks at least 3 px apart.
            let mut out = Vec::new();
            for _ in 0..2 {
                let (bi, bv) =
                    map.iter()
                        .enumerate()
                        .fold(
                            (0, f64::NEG_INFINITY),
                            |acc, (i, &v)| {
                                if v > acc.1 { (i, v) } else { acc }
                            },
                        );
                if !bv.is_finite() {
                    break;
                }
                let (by, bx) = (bi / nx, bi % nx);
                // Shift d (wrapped): template q ↔ image q + d.
                let dy = if by >= ny - l {
                    by as f64 - ny as f64
                } else {
                    by as f64
                };
                let dx = if bx >= nx - l {
                    bx as f64 - nx as f64
                } else {
                    bx as f64
                };
                // Sub-pixel: parabola through neighbours.
                let at = |yy: usize, xx: usize| map[(yy % ny) * nx + (xx % nx)];
                let para = |a: f64, b: f64, c: f64| {
                    let den = a - 2.0 * b + c;
                    if a.is_finite() && c.is_finite() && den < 0.0 {
                        (0.5 * (a - c) / den).clamp(-0.5, 0.5)
                    } else {
                        0.0
                    }
                };
                let ox = para(at(by, bx + nx - 1), bv, at(by, bx + 1));
                let oy = para(at(by + ny - 1, bx), bv, at(by + 1, bx));
                out.push(Cand {
                    ncc: bv,
                    theta,
                    scale: s,
                    flip,
                    centre: (qc.0 + dx + ox, qc.1 + dy + oy),
                });
                for yy in 0..7 {
                    for xx in 0..7 {
                        let y = (by + ny + yy - 3) % ny;
                        let x = (bx + nx + xx - 3) % nx;
                        map[y * nx + x] = f64::NEG_INFINITY;
                    }
                }
            }
            out
        })
        .collect()
}

/// Smallest n' ≥ n of the form 2^a·3^b·5^c (fast for rustfft, less padding than 2^a).
fn fft_size(n: usize) -> usize {
    let mut m = n.max(1);
    loop {
        let mut r = m;
        for p in [2, 3, 5] {
            while r.is_multiple_of(p) {
                r /= p;
            }
        }
        if r == 1 {
            return m;
        }
        m += 1;
    }
}

fn sample_f64(img: &Array2<f64>, x: f64, y: f64) -> Option<f64> {
    let (h, w) = img.dim();
    if !(x >= 0.0 && y >= 0.0 && x <= (w - 1) as f64 && y <= (h - 1) as f64) {
        return None;
    }
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let top = img[[y0, x0]] * (1.0 - fx) + img[[y0, x1]] * fx;
    let bottom = img[[y1, x0]] * (1.0 - fx) + img[[y1, x1]] * fx;
    Some(top * (1.0 - fy) + bottom * fy)
}

/// Refinement objective: NCC of NanoSIMS features with EM features sampled at
/// `p = A(u − uc) + pc`.
struct Objective<'a> {
    gr: &'a Array2<f64>,
    gn: &'a Array2<f64>,
    uc: (f64, f64),
    /// Smallest number of overlapping pixels.
    min_valid: f64,
}

impl Objective<'_> {
    fn ncc(&self, a: &[[f64; 2]; 2], pc: (f64, f64)) -> f64 {
        let (h, w) = self.gn.dim();
        let (mut n, mut st, mut si, mut st2, mut si2, mut sti) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for y in 0..h {
            let dy = y as f64 - self.uc.1;
            for x in 0..w {
                let dx = x as f64 - self.uc.0;
                let px = a[0][0] * dx + a[0][1] * dy + pc.0;
                let py = a[1][0] * dx + a[1][1] * dy + pc.1;
                if let Some(i) = sample_f64(self.gr, px, py) {
                    let t = self.gn[[y, x]];
                    n += 1.0;
                    st += t;
                    si += i;
                    st2 += t * t;
                    si2 += i * i;
                    sti += t * i;
                }
            }
        }
        if n < self.min_valid {
            return -1.0;
        }
        let vt = st2 - st * st / n;
        let vi = si2 - si * si / n;
        if vt <= 0.0 || vi <= 0.0 {
            return -1.0;
        }
        (sti - st * si / n) / (vt * vi).sqrt()
    }
}

/// Nelder–Mead minimisation from `x0` with initial simplex steps; returns (x, f(x)).
fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    x0: &[f64],
    steps: &[f64],
    max_eval: usize,
) -> (Vec<f64>, f64) {
    let d = x0.len();
    let mut pts: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..d {
        let mut p = x0.to_vec();
        p[i] += steps[i];
        pts.push(p);
    }
    let mut vals: Vec<f64> = pts.iter().map(|p| f(p)).collect();
    let mut evals = d + 1;
    while evals < max_eval {
        let mut order: Vec<usize> = (0..=d).collect();
        order.sort_by(|&a, &b| vals[a].total_cmp(&vals[b]));
        pts = order.iter().map(|&i| pts[i].clone()).collect();
        vals = order.iter().map(|&i| vals[i]).collect();
        if (vals[d] - vals[0]).abs() < 1e-9 {
            break;
        }
        let cen: Vec<f64> = (0..d)
            .map(|j| pts[..d].iter().map(|p| p[j]).sum::<f64>() / d as f64)
            .collect();
        let along =
            |t: f64| -> Vec<f64> { (0..d).map(|j| cen[j] + t * (pts[d][j] - cen[j])).collect() };
        let xr = along(-1.0);
        let fr = f(&xr);
        evals += 1;
        if fr < vals[0] {
            let xe = along(-2.0);
            let fe = f(&xe);
            evals += 1;
            if fe < fr {
                pts[d] = xe;
                vals[d] = fe;
            } else {
                pts[d] = xr;
                vals[d] = fr;
            }
        } else if fr < vals[d - 1] {
            pts[d] = xr;
            vals[d] = fr;
        } else {
            let (xc, fc) = if fr < vals[d] {
                let x = along(-0.5);
                let v = f(&x);
                (x, v)
            } else {
                let x = along(0.5);
                let v = f(&x);
                (x, v)
            };
            evals += 1;
            if fc < vals[d].min(fr) {
                pts[d] = xc;
                vals[d] = fc;
            } else {
                for i in 1..=d {
                    let p: Vec<f64> = (0..d)
                        .map(|j| pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]))
                        .collect();
                    vals[i] = f(&p);
                    pts[i] = p;
                    evals += 1;
                }
            }
        }
    }
    let bi = (0..=d)
        .min_by(|&a, &b| vals[a].total_cmp(&vals[b]))
        .unwrap_or(0);
    (pts[bi].clone(), vals[bi])
}

/// Exact area-average resampling by factor `f` (output px i covers input `[f·i − ½, f(i+1) − ½)`).
fn area_resample(a: &Array2<f64>, f: f64, oh: usize, ow: usize) -> Array2<f64> {
    let weights = |n_in: usize, n_out: usize| -> Vec<Vec<(usize, f64)>> {
        (0..n_out)
            .map(|i| {
                let (lo, hi) = (f * i as f64 - 0.5, f * (i + 1) as f64 - 0.5);
                let k0 = (lo + 0.5).floor().max(0.0) as usize;
                let k1 = ((hi + 0.5).ceil() as usize).min(n_in);
                let mut ws: Vec<(usize, f64)> = (k0..k1)
                    .map(|k| {
                        let (a, b) = (k as f64 - 0.5, k as f64 + 0.5);
                        (k, (b.min(hi) - a.max(lo)).max(0.0))
                    })
                    .filter(|w| w.1 > 0.0)
                    .collect();
                let s: f64 = ws.iter().map(|w| w.1).sum();
                if s > 0.0 {
                    ws.iter_mut().for_each(|w| w.1 /= s);
                }
                ws
            })
            .collect()
    };
    let (h, w) = a.dim();
    let wx = weights(w, ow);
    let wy = weights(h, oh);
    let mut tmp = Array2::<f64>::zeros((h, ow));
    for y in 0..h {
        for (i, ws) in wx.iter().enumerate() {
            tmp[[y, i]] = ws.iter().map(|&(k, wt)| a[[y, k]] * wt).sum();
        }
    }
    let mut out = Array2::<f64>::zeros((oh, ow));
    for (j, ws) in wy.iter().enumerate() {
        for x in 0..ow {
            out[[j, x]] = ws.iter().map(|&(k, wt)| tmp[[k, x]] * wt).sum();
        }
    }
    out
}

/// Separable Gaussian blur (σ px, truncated at 3σ, edges clamped).
fn gaussian(img: &Array2<f64>, sigma: f64) -> Array2<f64> {
    if sigma <= 0.0 {
        return img.clone();
    }
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let ks: f64 = k.iter().sum();
    let (h, w) = img.dim();
    let mut tmp = Array2::<f64>::zeros((h, w));
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let xx = (x as isize + j as isize - r).clamp(0, w as isize - 1) as usize;
                acc += kv * img[[y, xx]];
            }
            tmp[[y, x]] = acc / ks;
        }
    }
    let mut out = Array2::<f64>::zeros((h, w));
    for y in 0..h {
        for x in 0..w {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let yy = (y as isize + j as isize - r).clamp(0, h as isize - 1) as usize;
                acc += kv * tmp[[yy, x]];
            }
            out[[y, x]] = acc / ks;
        }
    }
    out
}

/// Gradient magnitude by central differences (one-sided at the edges).
fn grad_mag(img: &Array2<f64>) -> Array2<f64> {
    let (h, w) = img.dim();
    Array2::from_shape_fn((h, w), |(y, x)| {
        let (x0, x1) = (x.saturating_sub(1), (x + 1).min(w - 1));
        let (y0, y1) = (y.saturating_sub(1), (y + 1).min(h - 1));
        let gx = (img[[y, x1]] - img[[y, x0]]) / (x1 - x0).max(1) as f64;
        let gy = (img[[y1, x]] - img[[y0, x]]) / (y1 - y0).max(1) as f64;
        (gx * gx + gy * gy).sqrt()
    })
}

/// Mean and maximum distance (target px) between the images of the four corners of a
/// (w, h) source image under two transforms.
pub fn corner_error(a: &M3, b: &M3, w: usize, h: usize) -> (f64, f64) {
    let (w, h) = (w as f64 - 1.0, h as f64 - 1.0);
    let mut sum = 0.0;
    let mut max = 0.0f64;
    for (x, y) in [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)] {
        let (p, q) = (apply(a, x, y), apply(b, x, y));
        let d = ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
        sum += d;
        max = max.max(d);
    }
    (sum / 4.0, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_resample_averages_exactly() {
        let a = Array2::from_shape_fn((10, 10), |(y, x)| (x + 10 * y) as f64);
        // factor 2: output px 0 averages input 0 and 1.
        let r = area_resample(&a, 2.0, 5, 5);
        assert!((r[[0, 0]] - 5.5).abs() < 1e-12);
        // factor 2.5: output column 2 covers [4.5, 7) (pixels 5, 6 whole, half of 7), row 0
        // covers [−0.5, 2) (rows 0, 1 whole, half of 2).
        let r = area_resample(&a, 2.5, 4, 4);
        let col = (5.0 + 6.0 + 0.5 * 7.0) / 2.5;
        let row = (0.0 + 10.0 + 0.5 * 20.0) / 2.5;
        assert!((r[[0, 2]] - (col + row)).abs() < 1e-12);
        // a constant stays constant
        let r = area_resample(&Array2::from_elem((9, 9), 3.0), 2.2, 4, 4);
        assert!(r.iter().all(|v| (v - 3.0).abs() < 1e-12));
    }

    #[test]
    fn nelder_mead_finds_a_quadratic_minimum() {
        let f = |x: &[f64]| (x[0] - 1.5).powi(2) + 3.0 * (x[1] + 0.5).powi(2) + 0.2;
        let (x, v) = nelder_mead(&f, &[0.0, 0.0], &[0.5, 0.5], 500);
        assert!((x[0] - 1.5).abs() < 1e-3 && (x[1] + 0.5).abs() < 1e-3 && (v - 0.2).abs() < 1e-6);
    }

    #[test]
    fn fft_sizes_are_smooth() {
        assert_eq!(fft_size(182), 192);
        assert_eq!(fft_size(257), 270);
        assert_eq!(fft_size(1), 1);
    }
}
