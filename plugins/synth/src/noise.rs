//! Deterministic, platform-independent hash noise (no RNG state, so pixels can
//! be evaluated in parallel in any order).

#[inline]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[inline]
pub fn hash2(seed: u64, x: i32, y: i32) -> u64 {
    mix64(
        seed ^ (x as u32 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (y as u32 as u64)
                .wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
                .rotate_left(29),
    )
}

/// Uniform in [0, 1).
#[inline]
pub fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// White noise in [-1, 1) at an integer pixel.
#[inline]
pub fn white(seed: u64, x: i32, y: i32) -> f32 {
    unit(hash2(seed, x, y)) * 2.0 - 1.0
}

#[inline]
fn smooth(t: f32) -> f32 {
    t * t * (3.0 - 2.0 * t)
}

/// Value noise in [-1, 1] with feature size `scale` (px).
#[inline]
pub fn value(seed: u64, x: f32, y: f32, scale: f32) -> f32 {
    let fx = x / scale;
    let fy = y / scale;
    let ix = fx.floor();
    let iy = fy.floor();
    let tx = smooth(fx - ix);
    let ty = smooth(fy - iy);
    let (ix, iy) = (ix as i32, iy as i32);
    let a = unit(hash2(seed, ix, iy));
    let b = unit(hash2(seed, ix + 1, iy));
    let c = unit(hash2(seed, ix, iy + 1));
    let d = unit(hash2(seed, ix + 1, iy + 1));
    let top = a + (b - a) * tx;
    let bot = c + (d - c) * tx;
    (top + (bot - top) * ty) * 2.0 - 1.0
}

/// Two-octave value noise, roughly in [-1, 1].
#[inline]
pub fn fbm2(seed: u64, x: f32, y: f32, scale: f32) -> f32 {
    0.65 * value(seed, x, y, scale) + 0.35 * value(seed ^ 0x5555, x + 17.3, y - 9.1, scale * 0.45)
}

/// Standard normal deviate from two hash uniforms (Box–Muller with libm, so
/// identical on every platform).
#[inline]
pub fn gauss(h: u64) -> f32 {
    let u1 = ((h >> 40) as f32 + 0.5) * (1.0 / 16_777_216.0);
    let u2 = ((h & 0xFF_FFFF) as f32) * (1.0 / 16_777_216.0);
    libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(std::f32::consts::TAU * u2)
}

/// Poisson deviate with mean `lambda` from a pixel hash.
#[inline]
pub fn poisson(h: u64, lambda: f32) -> f32 {
    if lambda <= 0.0 {
        return 0.0;
    }
    if lambda < 24.0 {
        // Knuth's multiplication method with a hash chain as uniform source.
        let limit = libm::expf(-lambda);
        let mut p = 1.0f32;
        let mut k = 0u32;
        let mut s = h;
        loop {
            s = mix64(s.wrapping_add(0x9E37_79B9_7F4A_7C15));
            p *= unit(s).max(1e-7);
            if p <= limit || k > 200 {
                return k as f32;
            }
            k += 1;
        }
    }
    (lambda + libm::sqrtf(lambda) * gauss(h)).max(0.0).round()
}

#[allow(clippy::excessive_precision)]
/// Approximate atan2 (max error ≈ 1e-5 rad); pure arithmetic, hence
/// bit-identical everywhere.
#[inline]
pub fn atan2(y: f32, x: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, PI};
    let ax = x.abs();
    let ay = y.abs();
    let mx = ax.max(ay);
    if mx == 0.0 {
        return 0.0;
    }
    let a = ax.min(ay) / mx;
    let s = a * a;
    let mut r = ((((-0.013_480_47 * s + 0.057_477_314) * s - 0.121_239_07) * s + 0.195_635_925)
        * s
        - 0.332_994_6)
        * s
        * a
        + 0.999_995_6 * a;
    if ay > ax {
        r = FRAC_PI_2 - r;
    }
    if x < 0.0 {
        r = PI - r;
    }
    if y < 0.0 { -r } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atan2_accurate() {
        for i in 0..1000 {
            let t = i as f32 * 0.00628 * 1.0 - 3.1;
            let (y, x) = (libm::sinf(t) * 3.0, libm::cosf(t) * 3.0);
            assert!((atan2(y, x) - libm::atan2f(y, x)).abs() < 1e-4, "{t}");
        }
    }

    #[test]
    fn poisson_mean() {
        for &lam in &[3.0f32, 50.0] {
            let n = 20000;
            let m: f32 = (0..n).map(|i| poisson(mix64(i), lam)).sum::<f32>() / n as f32;
            assert!((m - lam).abs() < 0.05 * lam, "{lam} {m}");
        }
    }
}
