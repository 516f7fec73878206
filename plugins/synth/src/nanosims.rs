//! Synthetic NanoSIMS acquisition of a rendered cell: ion maps of 12C⁻, 12C14N⁻, 12C15N⁻, 31P⁻,
//! 32S⁻ and secondary electrons, seen through a known EM → NanoSIMS similarity transform.
//!
//! Per NanoSIMS pixel the expected counts of each species are the area-weighted mean of the EM
//! materials under its footprint (supersampled), blurred by the primary beam (Gaussian, σ in nm);
//! 12C15N⁻ = 12C14N⁻ × the local true 15N/14N ratio. Each plane is drawn with Poisson statistics
//! after a small drift of the stage, and the detector dead time then loses counts
//! (`N_rec = N/(1 + N·d/τ)`, the inverse of the non-paralysable correction), so that a correction
//! has something to undo.

use ndarray::{Array2, Array4};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::design::NATURAL_15N_14N;
use crate::{EmSample, OrganelleClass};

/// The species written, in this order (labels as the instrument stores them; SE unlabelled).
pub const SPECIES: [(&str, f64, i32); 6] = [
    ("12C", 12.0, 1),
    ("12C 14N", 26.003074, 2),
    ("12C 15N", 27.000109, 3),
    ("31P", 30.973762, 4),
    ("32S", 31.972071, 5),
    ("", 0.0, 8),
];

/// Expected counts per pixel and plane (at the configured dwell time) of each species in each
/// material, before dead time: `[12C, 12C14N, 31P, 32S, SE]` (12C15N follows from the ratio).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Yields {
    pub resin: [f64; 5],
    pub cytoplasm: [f64; 5],
    pub nucleus: [f64; 5],
    pub mitochondrion: [f64; 5],
    pub er: [f64; 5],
    pub golgi: [f64; 5],
    pub lysosome: [f64; 5],
    pub vesicle: [f64; 5],
}

impl Default for Yields {
    /// Carbon everywhere (resin is carbon-rich), CN⁻ from protein, P⁻ from nucleic acids and
    /// ribosomes, S⁻ from protein (lysosomes high), SE from topography and density.
    fn default() -> Self {
        Self {
            resin: [700.0, 25.0, 4.0, 4.0, 250.0],
            cytoplasm: [900.0, 520.0, 70.0, 55.0, 420.0],
            nucleus: [950.0, 780.0, 320.0, 45.0, 470.0],
            mitochondrion: [1000.0, 690.0, 110.0, 85.0, 500.0],
            er: [920.0, 610.0, 160.0, 60.0, 450.0],
            golgi: [920.0, 590.0, 90.0, 60.0, 440.0],
            lysosome: [1100.0, 760.0, 120.0, 190.0, 560.0],
            vesicle: [700.0, 280.0, 50.0, 30.0, 380.0],
        }
    }
}

impl Yields {
    fn of(&self, class: Option<OrganelleClass>, in_cell: bool) -> [f64; 5] {
        match class {
            None if in_cell => self.cytoplasm,
            None => self.resin,
            Some(OrganelleClass::Nucleus) => self.nucleus,
            Some(OrganelleClass::Mitochondrion) => self.mitochondrion,
            Some(OrganelleClass::Er) => self.er,
            Some(OrganelleClass::Golgi) => self.golgi,
            Some(OrganelleClass::Lysosome) => self.lysosome,
            Some(OrganelleClass::Vesicle) => self.vesicle,
        }
    }
}

/// The NanoSIMS acquisition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NanosimsConfig {
    /// Image side (px).
    pub size_px: usize,
    /// Pixel size range (nm); drawn per sample.
    pub pixel_size_nm: [f64; 2],
    /// Rotation of the NanoSIMS field relative to the EM image (degrees), drawn in ±this.
    pub max_rotation_deg: f64,
    /// Offset of the NanoSIMS field centre from the cell centre, as a fraction of the field.
    pub max_offset_frac: f64,
    pub planes: usize,
    /// Random-walk drift per plane (px, standard deviation per axis).
    pub drift_px: f64,
    /// Primary beam blur (σ, nm).
    pub beam_sigma_nm: f64,
    /// Dwell time per pixel and plane (µs).
    pub dwell_us: f64,
    /// Detector dead time (ns).
    pub dead_time_ns: f64,
    /// Supersampling of the EM under each NanoSIMS pixel (per axis).
    pub supersample: usize,
    pub yields: Yields,
}

impl Default for NanosimsConfig {
    fn default() -> Self {
        Self {
            size_px: 256,
            pixel_size_nm: [40.0, 60.0],
            max_rotation_deg: 20.0,
            max_offset_frac: 0.1,
            planes: 5,
            drift_px: 0.4,
            beam_sigma_nm: 50.0,
            dwell_us: 1000.0,
            dead_time_ns: 44.0,
            supersample: 6,
            yields: Yields::default(),
        }
    }
}

impl NanosimsConfig {
    pub fn validate(&self) -> Result<(), String> {
        let bad = |what: &str| Err(format!("nanosims: {what}"));
        if !(8..=4096).contains(&self.size_px) {
            return bad("size_px must be in 8..=4096");
        }
        let [a, b] = self.pixel_size_nm;
        if !(a.is_finite() && a > 0.0 && b >= a) {
            return bad("pixel_size_nm must be [min, max] with 0 < min ≤ max");
        }
        if self.planes == 0 || self.planes > 1000 {
            return bad("planes must be in 1..=1000");
        }
        if !(self.dwell_us.is_finite() && self.dwell_us >= 1.0 && self.dwell_us.fract() == 0.0) {
            return bad("dwell_us must be a whole number of µs ≥ 1 (the file stores µs)");
        }
        if !(self.dead_time_ns >= 0.0 && self.beam_sigma_nm >= 0.0 && self.drift_px >= 0.0) {
            return bad("dead_time_ns, beam_sigma_nm and drift_px must be ≥ 0");
        }
        if self.supersample == 0 || self.supersample > 32 {
            return bad("supersample must be in 1..=32");
        }
        Ok(())
    }
}

/// A synthetic acquisition: raw counts (masses × planes × h × w, as the instrument records
/// them), the truth transform and the drift applied to each plane.
pub struct IonSample {
    pub counts: Array4<u32>,
    pub pixel_size_nm: f64,
    /// 3×3 matrix mapping an EM pixel (x, y, 1) to the NanoSIMS pixel of plane 1 (pixel centres
    /// at integer coordinates, x = column).
    pub em_to_nanosims: [[f64; 3]; 3],
    /// Drift of each plane relative to plane 1 (dy, dx) in NanoSIMS px: content of plane p
    /// appears shifted by this much.
    pub drift_px: Vec<(f64, f64)>,
    pub dwell_s: f64,
}

/// Simulate the acquisition of `em` with per-organelle ratios `organelle_ratio[id]` (index by
/// organelle id; index 0 unused) and the cytoplasm ratio.
pub fn acquire(
    em: &EmSample,
    organelle_ratio: &[f64],
    cytoplasm_ratio: f64,
    cfg: &NanosimsConfig,
    seed: u64,
) -> IonSample {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4E61_6E6F_5349_4D53);
    let n = cfg.size_px;
    let ns_px = rng.random_range(cfg.pixel_size_nm[0]..=cfg.pixel_size_nm[1]);
    let theta = (rng.random::<f64>() * 2.0 - 1.0) * cfg.max_rotation_deg.to_radians();
    let (h, w) = em.labels.dim();
    // Centre the field on the cell (its mask's centroid), plus a random offset.
    let (mut cy, mut cx, mut cn) = (0.0, 0.0, 0.0);
    for ((y, x), &inside) in em.cell_mask.indexed_iter() {
        if inside {
            cy += y as f64;
            cx += x as f64;
            cn += 1.0;
        }
    }
    let (cy, cx) = if cn > 0.0 {
        (cy / cn, cx / cn)
    } else {
        (h as f64 / 2.0, w as f64 / 2.0)
    };
    let field_em_px = n as f64 * ns_px / em.pixel_size_nm;
    let off = cfg.max_offset_frac * field_em_px;
    let centre_em = (
        cx + (rng.random::<f64>() * 2.0 - 1.0) * off,
        cy + (rng.random::<f64>() * 2.0 - 1.0) * off,
    );
    // EM (x, y) → NS (u, v): s·R(θ)·(p − c_em) + c_ns, s = em_px / ns_px.
    let s = em.pixel_size_nm / ns_px;
    let (sin, cos) = theta.sin_cos();
    let c_ns = (n as f64 - 1.0) / 2.0;
    let a = [[s * cos, -s * sin], [s * sin, s * cos]];
    let t = [
        c_ns - (a[0][0] * centre_em.0 + a[0][1] * centre_em.1),
        c_ns - (a[1][0] * centre_em.0 + a[1][1] * centre_em.1),
    ];
    let em_to_ns = [
        [a[0][0], a[0][1], t[0]],
        [a[1][0], a[1][1], t[1]],
        [0.0, 0.0, 1.0],
    ];
    // Inverse: NS (u, v) → EM (x, y) = R(−θ)/s·((u, v) − t).
    let inv = |u: f64, v: f64| {
        let (du, dv) = (u - t[0], v - t[1]);
        ((cos * du + sin * dv) / s, (-sin * du + cos * dv) / s)
    };

    // Drift: a random walk from plane 1.
    let mut drift = vec![(0.0, 0.0)];
    for _ in 1..cfg.planes {
        let &(py, px) = drift.last().unwrap_or(&(0.0, 0.0));
        let g = |rng: &mut ChaCha8Rng| {
            let u1: f64 = rng.random::<f64>().max(1e-300);
            let u2: f64 = rng.random();
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        };
        drift.push((
            py + cfg.drift_px * g(&mut rng),
            px + cfg.drift_px * g(&mut rng),
        ));
    }

    let class_of: Vec<Option<OrganelleClass>> = std::iter::once(None)
        .chain(em.organelles.iter().map(|o| Some(o.class)))
        .collect();
    // Ids are 1..=n in order (EmSample guarantees contiguous ids).
    let ratio_of = |id: u32, in_cell: bool| -> f64 {
        if id == 0 {
            if in_cell {
                cytoplasm_ratio
            } else {
                NATURAL_15N_14N
            }
        } else {
            organelle_ratio
                .get(id as usize)
                .copied()
                .unwrap_or(cytoplasm_ratio)
        }
    };
    let ss = cfg.supersample;
    let beam_px = cfg.beam_sigma_nm / ns_px;
    let dwell_s = cfg.dwell_us * 1e-6;
    let d = cfg.dead_time_ns * 1e-9;
    let mut counts = Array4::<u32>::zeros((SPECIES.len(), cfg.planes, n, n));
    for (p, &(dy, dx)) in drift.iter().enumerate() {
        // Expected counts of [12C, 14N, 15N, 31P, 32S, SE] on this plane.
        let mut expect: Vec<Array2<f64>> = (0..6).map(|_| Array2::zeros((n, n))).collect();
        for v in 0..n {
            for u in 0..n {
                let mut acc = [0.0f64; 6];
                for sv in 0..ss {
                    for su in 0..ss {
                        // Content of plane p shows the sample displaced by the drift.
                        let uu = u as f64 - dx + (su as f64 + 0.5) / ss as f64 - 0.5;
                        let vv = v as f64 - dy + (sv as f64 + 0.5) / ss as f64 - 0.5;
                        let (x, y) = inv(uu, vv);
                        let (xi, yi) = (x.round(), y.round());
                        let (id, in_cell) =
                            if xi >= 0.0 && yi >= 0.0 && (xi as usize) < w && (yi as usize) < h {
                                let (yi, xi) = (yi as usize, xi as usize);
                                (em.labels[[yi, xi]], em.cell_mask[[yi, xi]])
                            } else {
                                (0, false)
                            };
                        let class = class_of.get(id as usize).copied().flatten();
                        let y5 = cfg.yields.of(class, in_cell);
                        let r = ratio_of(id, in_cell);
                        acc[0] += y5[0];
                        acc[1] += y5[1];
                        acc[2] += y5[1] * r;
                        acc[3] += y5[2];
                        acc[4] += y5[3];
                        acc[5] += y5[4];
                    }
                }
                let k = (ss * ss) as f64;
                for (e, a) in expect.iter_mut().zip(acc) {
                    e[[v, u]] = a / k;
                }
            }
        }
        for (m, e) in expect.iter().enumerate() {
            let blurred = if beam_px > 0.0 {
                gaussian(e, beam_px)
            } else {
                e.clone()
            };
            for ((v, u), &lambda) in blurred.indexed_iter() {
                let true_n = poisson(&mut rng, lambda.max(0.0));
                // Dead-time loss (non-paralysable), with stochastic rounding to whole counts.
                let rec = true_n / (1.0 + true_n * d / dwell_s);
                let whole = rec.floor() + f64::from(u8::from(rng.random::<f64>() < rec.fract()));
                counts[[m, p, v, u]] = whole as u32;
            }
        }
    }
    IonSample {
        counts,
        pixel_size_nm: ns_px,
        em_to_nanosims: em_to_ns,
        drift_px: drift,
        dwell_s,
    }
}

/// Poisson draw (Knuth for small means, normal approximation above 500 — exact enough for
/// counts and much faster).
fn poisson(rng: &mut impl Rng, lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    if lambda > 500.0 {
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (lambda + lambda.sqrt() * z + 0.5).floor().max(0.0);
    }
    let l = (-lambda).exp();
    let mut k = 0.0;
    let mut p = 1.0;
    loop {
        p *= rng.random::<f64>();
        if p <= l {
            return k;
        }
        k += 1.0;
    }
}

/// Separable Gaussian blur (σ in px, truncated at 4σ, edges clamped): the beam profile.
fn gaussian(img: &Array2<f64>, sigma: f64) -> Array2<f64> {
    let r = (4.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
        .collect();
    let ksum: f64 = k.iter().sum();
    let (h, w) = img.dim();
    let pass = |src: &Array2<f64>, horizontal: bool| {
        let mut out = Array2::zeros((h, w));
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for (j, kv) in k.iter().enumerate() {
                    let o = j as isize - r;
                    let (yy, xx) = if horizontal {
                        (y as isize, x as isize + o)
                    } else {
                        (y as isize + o, x as isize)
                    };
                    let yy = yy.clamp(0, h as isize - 1) as usize;
                    let xx = xx.clamp(0, w as isize - 1) as usize;
                    acc += kv * src[[yy, xx]];
                }
                out[[y, x]] = acc / ksum;
            }
        }
        out
    };
    pass(&pass(img, true), false)
}
