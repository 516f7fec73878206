//! Geometric primitives in pixel units.

use crate::noise::atan2;
use rand::Rng;
use std::f32::consts::TAU;

const LUT_N: usize = 512;

/// Star-shaped smooth blob: r(θ) = r0 · lut(θ).
#[derive(Clone, Debug)]
pub struct Radial {
    pub cx: f32,
    pub cy: f32,
    pub r0: f32,
    lut: Vec<f32>,
    pub rmax: f32,
    pub rmin: f32,
}

impl Radial {
    /// Random outline with harmonic amplitudes `irregular / k^1.4`, k = 2..=kmax.
    pub fn new<R: Rng>(rng: &mut R, cx: f32, cy: f32, r0: f32, irregular: f32, kmax: u32) -> Self {
        let mut harm = Vec::new();
        for k in 2..=kmax {
            let a = irregular * rng.random_range(0.2f32..1.0) / libm::powf(k as f32, 1.4);
            let ph = rng.random_range(0.0f32..TAU);
            harm.push((k as f32, a, ph));
        }
        let lut: Vec<f32> = (0..=LUT_N)
            .map(|i| {
                let t = i as f32 / LUT_N as f32 * TAU;
                let mut r = 1.0;
                for &(k, a, ph) in &harm {
                    r += a * libm::cosf(k * t + ph);
                }
                r.max(0.3)
            })
            .collect();
        let mx = lut.iter().cloned().fold(0.0f32, f32::max);
        let mn = lut.iter().cloned().fold(f32::MAX, f32::min);
        Self {
            cx,
            cy,
            r0,
            lut,
            rmax: r0 * mx,
            rmin: r0 * mn,
        }
    }

    #[inline]
    pub fn radius_at(&self, theta: f32) -> f32 {
        let mut t = theta / TAU;
        t -= t.floor();
        let f = t * LUT_N as f32;
        let i = (f as usize).min(LUT_N - 1);
        let fr = f - i as f32;
        self.r0 * (self.lut[i] + (self.lut[i + 1] - self.lut[i]) * fr)
    }

    /// Approximate signed distance (negative inside) and polar angle.
    #[inline]
    pub fn sd(&self, x: f32, y: f32) -> (f32, f32) {
        let dx = x - self.cx;
        let dy = y - self.cy;
        let rho = (dx * dx + dy * dy).sqrt();
        let th = atan2(dy, dx);
        (rho - self.radius_at(th), th)
    }

    pub fn bbox(&self, pad: f32) -> [f32; 4] {
        let r = self.rmax + pad;
        [self.cx - r, self.cy - r, self.cx + r, self.cy + r]
    }
}

/// Slightly bent capsule (stadium) — mitochondria.
#[derive(Clone, Debug)]
pub struct Capsule {
    pub cx: f32,
    pub cy: f32,
    pub cos: f32,
    pub sin: f32,
    /// Half length of the straight part.
    pub half_len: f32,
    /// Radius (half width).
    pub radius: f32,
    /// Bend: v' = v - bend·u².
    pub bend: f32,
}

impl Capsule {
    /// Local coordinates (u along the axis, v' across, bend removed).
    #[inline]
    pub fn local(&self, x: f32, y: f32) -> (f32, f32) {
        let dx = x - self.cx;
        let dy = y - self.cy;
        let u = dx * self.cos + dy * self.sin;
        let v = -dx * self.sin + dy * self.cos;
        (u, v - self.bend * u * u)
    }

    #[inline]
    pub fn sd_local(&self, u: f32, v: f32) -> f32 {
        let a = (u.abs() - self.half_len).max(0.0);
        (a * a + v * v).sqrt() - self.radius
    }

    pub fn extent(&self) -> f32 {
        self.half_len + self.radius + self.bend.abs() * self.half_len * self.half_len
    }

    pub fn bbox(&self, pad: f32) -> [f32; 4] {
        let r = self.extent() + pad;
        [self.cx - r, self.cy - r, self.cx + r, self.cy + r]
    }

    /// Footprint circles along the axis.
    pub fn circles(&self) -> Vec<Circle> {
        let n = ((self.half_len / self.radius).ceil() as i32).max(1);
        (-n..=n)
            .map(|i| {
                let u = self.half_len * i as f32 / n as f32;
                let v = self.bend * u * u;
                Circle {
                    x: self.cx + u * self.cos - v * self.sin,
                    y: self.cy + u * self.sin + v * self.cos,
                    r: self.radius,
                }
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Circle {
    pub x: f32,
    pub y: f32,
    pub r: f32,
}

impl Circle {
    #[inline]
    pub fn gap(&self, o: &Circle) -> f32 {
        let dx = self.x - o.x;
        let dy = self.y - o.y;
        (dx * dx + dy * dy).sqrt() - self.r - o.r
    }
}

/// Distance from p to segment ab and the projection parameter t ∈ [0, 1].
#[inline]
pub fn seg_dist(px: f32, py: f32, ax: f32, ay: f32, bx: f32, by: f32) -> (f32, f32) {
    let vx = bx - ax;
    let vy = by - ay;
    let l2 = vx * vx + vy * vy;
    let t = if l2 > 0.0 {
        (((px - ax) * vx + (py - ay) * vy) / l2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let dx = px - ax - t * vx;
    let dy = py - ay - t * vy;
    ((dx * dx + dy * dy).sqrt(), t)
}
