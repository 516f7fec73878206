//! Shared by `tests/real_ionmap.rs` and `examples/accuracy.rs` (included there with `#[path]`):
//! real NanoSIMS ion maps from `shared/data/nanosims`, the "EM-like" image made from them
//! through a known transform, corner errors and a small deterministic random generator.
#![allow(dead_code)]

use corrflow_register::warp::{M3, apply, invert, sample};
use ndarray::Array2;
use std::path::PathBuf;

/// `shared/data/nanosims` next to the workspace (`None` when absent).
pub fn nanosims_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/nanosims");
    d.is_dir().then_some(d)
}

/// SplitMix64: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.uniform()
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Poisson draw (Knuth below λ = 30, rounded normal approximation above).
    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0);
        }
        let l = (-lambda).exp();
        let (mut k, mut p) = (0.0, 1.0);
        loop {
            p *= self.uniform();
            if p <= l {
                return k;
            }
            k += 1.0;
        }
    }
}

/// One channel of a `.im` file summed over its planes, with the pixel size (nm) and the label
/// of the mass used. `keys`: mass labels tried in order.
pub fn load_channel(path: &std::path::Path, keys: &[&str]) -> (Array2<f32>, f64, String) {
    let f = corrflow_im::ImFile::open(path).unwrap();
    let h = f.header();
    let m = keys
        .iter()
        .find_map(|k| f.mass_index(k))
        .unwrap_or_else(|| panic!("{}: none of {keys:?}", path.display()));
    let label = h.masses[m].label.clone();
    let px = h.pixel_size_nm.unwrap();
    let stack = f.mass_counts(m).unwrap(); // planes × h × w
    let sum = stack.sum_axis(ndarray::Axis(0)).mapv(|v| v as f32);
    (sum, px, label)
}

/// A known EM → NanoSIMS similarity for an EM-like image.
#[derive(Debug, Clone, Copy)]
pub struct RealCase {
    /// Rotation EM → NanoSIMS (degrees).
    pub rotation_deg: f64,
    /// NanoSIMS pixel / EM pixel (EM pixels are this many times smaller).
    pub scale: f64,
    /// Offset of the EM field centre from the NanoSIMS field centre (NanoSIMS px), as a
    /// fraction of the largest offset that keeps the EM field inside (−1..1 per axis).
    pub offset_frac: (f64, f64),
    /// Gaussian noise σ as a fraction of the (0.5–99.5 percentile) range.
    pub noise_frac: f64,
    /// Gaussian blur σ (EM px) after the upsampling.
    pub blur_em_px: f64,
    /// EM side as a fraction of the NanoSIMS field side (≤ 0.7 keeps it inside at any angle).
    pub em_frac: f64,
}

impl RealCase {
    /// Draw rotation in ±180°, scale 3–6, offsets, noise 10–20 % and blur 0.5–1.5 EM px.
    pub fn random(rng: &mut Rng) -> Self {
        Self {
            rotation_deg: rng.range(-180.0, 180.0),
            scale: rng.range(3.0, 6.0),
            offset_frac: (rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)),
            noise_frac: rng.range(0.10, 0.20),
            blur_em_px: rng.range(0.5, 1.5),
            em_frac: 0.6,
        }
    }
}

/// EM-like image of the NanoSIMS map `ns`: a square EM field of side `em_frac` × the NanoSIMS
/// field, rotated and offset inside it, sampled bilinearly from `ns` at EM pixels
/// (`scale` EM px per NanoSIMS px), blurred, contrast-inverted and with Gaussian noise.
/// Returns (EM image, truth EM → NanoSIMS matrix). The EM pixel size is `ns_px / scale`.
pub fn make_em_like(ns: &Array2<f32>, c: &RealCase, rng: &mut Rng) -> (Array2<f32>, M3) {
    let (nh, nw) = ns.dim();
    let n = nh.min(nw) as f64;
    let side_ns = c.em_frac * n; // EM side in NanoSIMS px
    let l = (side_ns * c.scale).floor() as usize; // EM side in EM px
    let th = c.rotation_deg.to_radians();
    let (sn, cs) = th.sin_cos();
    // Half extent of the rotated EM square on each NanoSIMS axis; room left for an offset.
    let half = 0.5 * side_ns * (cs.abs() + sn.abs());
    let room_x = (0.5 * (nw as f64 - 1.0) - half - 1.0).max(0.0);
    let room_y = (0.5 * (nh as f64 - 1.0) - half - 1.0).max(0.0);
    let c_ns = (
        0.5 * (nw as f64 - 1.0) + c.offset_frac.0 * room_x,
        0.5 * (nh as f64 - 1.0) + c.offset_frac.1 * room_y,
    );
    let c_em = 0.5 * (l as f64 - 1.0);
    let s = 1.0 / c.scale;
    let a = [[s * cs, -s * sn], [s * sn, s * cs]];
    let truth: M3 = [
        [a[0][0], a[0][1], c_ns.0 - (a[0][0] + a[0][1]) * c_em],
        [a[1][0], a[1][1], c_ns.1 - (a[1][0] + a[1][1]) * c_em],
        [0.0, 0.0, 1.0],
    ];
    let mean = ns.mean().unwrap_or(0.0);
    let up = Array2::from_shape_fn((l, l), |(y, x)| {
        let (u, v) = apply(&truth, x as f64, y as f64);
        let val = sample(ns.view(), u, v);
        if val.is_finite() { val } else { mean }
    });
    let up = blur(&up, c.blur_em_px);
    let mut sorted: Vec<f32> = up.iter().copied().collect();
    sorted.sort_by(f32::total_cmp);
    let q = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize] as f64;
    let (lo, hi) = (q(0.005), q(0.995));
    let sigma = c.noise_frac * (hi - lo);
    let top = sorted[sorted.len() - 1] as f64;
    let em = up.mapv(|v| (top - v as f64 + sigma * rng.normal()) as f32);
    (em, truth)
}

/// The NanoSIMS map re-drawn with Poisson statistics (independent noise, mean = the counts).
pub fn poisson_redraw(ns: &Array2<f32>, rng: &mut Rng) -> Array2<f32> {
    ns.mapv(|v| rng.poisson(v as f64) as f32)
}

/// Separable Gaussian blur (σ px, edges clamped).
pub fn blur(img: &Array2<f32>, sigma: f64) -> Array2<f32> {
    if sigma <= 0.0 {
        return img.clone();
    }
    let r = (3.0 * sigma).ceil() as isize;
    let k: Vec<f64> = (-r..=r)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let ks: f64 = k.iter().sum();
    let (h, w) = img.dim();
    let pass = |src: &Array2<f32>, horizontal: bool| {
        Array2::from_shape_fn((h, w), |(y, x)| {
            let mut acc = 0.0;
            for (j, kv) in k.iter().enumerate() {
                let o = j as isize - r;
                let v = if horizontal {
                    src[[y, (x as isize + o).clamp(0, w as isize - 1) as usize]]
                } else {
                    src[[(y as isize + o).clamp(0, h as isize - 1) as usize, x]]
                };
                acc += kv * v as f64;
            }
            (acc / ks) as f32
        })
    };
    pass(&pass(img, true), false)
}

/// Mean and max error (NanoSIMS px) at the NanoSIMS field corners: u → truth⁻¹ → EM →
/// recovered.
pub fn ns_corner_error(rec: &M3, truth: &M3, nw: usize, nh: usize) -> (f64, f64) {
    let inv = invert(truth).unwrap();
    let (mx, my) = ((nw - 1) as f64, (nh - 1) as f64);
    let mut sum = 0.0;
    let mut max = 0.0f64;
    for (u, v) in [(0.0, 0.0), (mx, 0.0), (0.0, my), (mx, my)] {
        let (x, y) = apply(&inv, u, v);
        let (a, b) = apply(rec, x, y);
        let d = ((a - u).powi(2) + (b - v).powi(2)).sqrt();
        sum += d;
        max = max.max(d);
    }
    (sum / 4.0, max)
}

/// Quantile `q` (0..1, nearest rank) of `v` (NaN when empty).
pub fn pct(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[((s.len() - 1) as f64 * q).round() as usize]
}
