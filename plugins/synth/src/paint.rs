//! Rasterisation of the scene into an optical-density canvas with labels.

use crate::canvas::{Canvas, Px, line, smoothstep};
use crate::noise::{fbm2, value, white};
use crate::scene::{Er, Golgi, Lysosome, Mito, Nucleus, Obj, Scene, Vesicle};
use crate::shapes::seg_dist;
use rayon::prelude::*;

pub const RESIN: f32 = 0.12;
const CYTO: f32 = 0.72;
/// Peak optical density added by a unit membrane.
const MEM: f32 = 1.25;

/// Texture scales in px, clamped so sub-pixel scales become white-ish noise.
struct Scales {
    px_nm: f32,
}

impl Scales {
    #[inline]
    fn s(&self, nm: f32) -> f32 {
        (nm / self.px_nm).max(1.0)
    }
    #[inline]
    fn nm(&self, nm: f32) -> f32 {
        nm / self.px_nm
    }
}

pub fn render(scene: &Scene, w: usize, h: usize, px_nm: f32) -> Canvas {
    let mut cv = Canvas::new(w, h);
    let sc = Scales { px_nm };
    base(&mut cv, scene, &sc);
    for r in &scene.free_ribosomes {
        cv.dot(r[0], r[1], scene.ribosome_r, 0.75, 0);
    }
    for (k, obj) in scene.objects.iter().enumerate() {
        let id = k as u32 + 1;
        match obj {
            Obj::Nucleus(n) => nucleus(&mut cv, id, n, &sc),
            Obj::Mito(m) => mito(&mut cv, id, m, &sc),
            Obj::Er(e) => er(&mut cv, id, e, &sc, scene.ribosome_r),
            Obj::Golgi(g) => golgi(&mut cv, id, g, &sc),
            Obj::Lyso(l) => lyso(&mut cv, id, l, &sc),
            Obj::Vesicle(v) => vesicle(&mut cv, id, v, &sc),
        }
    }
    cv
}

/// Resin background, cytoplasm texture and plasma membrane.
fn base(cv: &mut Canvas, scene: &Scene, sc: &Scales) {
    let w = cv.w;
    let cell = &scene.cell;
    let mh = scene.cell_mem_half;
    let seed = scene.seed;
    let (s_fine, s_mid, s_low, s_resin) = (sc.s(7.0), sc.s(28.0), sc.s(400.0), sc.s(60.0));
    let cortex = sc.nm(120.0).max(1.0);
    cv.dens
        .par_chunks_mut(w)
        .zip(cv.cell.par_chunks_mut(w))
        .enumerate()
        .for_each(|(y, (d, c))| {
            let yf = y as f32;
            for x in 0..w {
                let xf = x as f32;
                let (sd, _) = cell.sd(xf, yf);
                if sd <= mh * 1.6 {
                    c[x] = true;
                    let tex = 0.1 * value(seed, xf, yf, s_fine)
                        + 0.1 * value(seed ^ 1, xf, yf, s_mid)
                        + 0.05 * value(seed ^ 2, xf, yf, s_low)
                        + 0.05 * white(seed ^ 3, x as i32, y as i32);
                    let cort = 0.06 * smoothstep(-cortex, 0.0, sd);
                    d[x] = CYTO + tex + cort + MEM * line(sd, mh);
                } else {
                    let fade = line(sd, mh);
                    d[x] = RESIN + 0.025 * value(seed ^ 4, xf, yf, s_resin) + MEM * fade;
                }
            }
        });
}

fn nucleus(cv: &mut Canvas, id: u32, n: &Nucleus, sc: &Scales) {
    let mh = n.mem_half;
    let inner_c = -(2.0 * mh + n.gap); // centre of inner membrane
    let inner_edge = inner_c - mh;
    let lut_n = n.pore_lut.len();
    let seed = n.seed;
    let (s_fine, s_mid, s_clump, s_band, s_nuc) =
        (sc.s(8.0), sc.s(30.0), sc.s(220.0), sc.s(300.0), sc.s(25.0));
    let hd = n.hetero_depth;
    let pore_half = n.pore_half;
    cv.paint(id, n.shape.bbox(2.0), |x, y, _, _| {
        let (sd, th) = n.shape.sd(x, y);
        if sd > mh * 1.6 {
            return Px::Skip;
        }
        let mut t = th / std::f32::consts::TAU;
        t -= t.floor();
        let pd = n.pore_lut[((t * lut_n as f32) as usize).min(lut_n - 1)];
        let in_pore = pd < pore_half;
        // nucleoplasm (euchromatin)
        let mut v = 0.6
            + 0.1 * value(seed, x, y, s_fine)
            + 0.06 * value(seed ^ 7, x, y, s_mid)
            + 0.04 * white(seed ^ 9, x as i32, y as i32);
        let depth = -sd + inner_edge; // distance inside the inner membrane
        if depth > 0.0 {
            // heterochromatin: peripheral band (interrupted at pores) + clumps
            let band = hd * (0.55 + 0.9 * value(seed ^ 11, x, y, s_band)).max(0.0);
            let pore_free = smoothstep(pore_half * 1.2, pore_half * 3.0, pd);
            let hp =
                (1.0 - smoothstep(
                    band * 0.6,
                    band,
                    depth + 0.25 * band * value(seed ^ 37, x, y, s_mid),
                )) * pore_free;
            let cl = value(seed ^ 13, x, y, s_clump)
                + 0.45 * value(seed ^ 17, x, y, s_clump * 0.4)
                + 0.12 * value(seed ^ 31, x, y, s_mid);
            let hc = smoothstep(0.55, 0.75, cl);
            let het = hp.max(hc);
            v += het * (0.65 + 0.1 * value(seed ^ 19, x, y, s_fine));
            for nu in &n.nucleoli {
                let (nsd, _) = nu.sd(x, y);
                if nsd < 2.0 {
                    let wgt = 1.0 - smoothstep(-2.0, 2.0, nsd);
                    let g = fbm2(seed ^ 23, x, y, s_nuc);
                    let fc = smoothstep(0.55, 0.8, value(seed ^ 29, x, y, s_nuc * 4.0));
                    let nv = 1.55 + 0.3 * g - 0.6 * fc;
                    v = v + (nv - v) * wgt;
                }
            }
        } else if !in_pore {
            // perinuclear cisterna and the two membranes
            v = 0.55 + 0.03 * value(seed ^ 5, x, y, s_fine);
            v += MEM * (line(sd, mh) + line(sd - inner_c, mh));
        } else {
            // pore: membranes fused, lightly stained diaphragm
            v += 0.25 * line(sd - inner_c * 0.5, mh * 1.5);
        }
        if depth > 0.0 {
            v += MEM * line(sd - inner_c, mh) * if in_pore { 0.0 } else { 1.0 };
        }
        Px::Set(v)
    });
}

fn mito(cv: &mut Canvas, id: u32, m: &Mito, sc: &Scales) {
    let cap = &m.cap;
    let mh = m.mem_half;
    let inner_c = -(2.0 * mh + m.gap);
    let inner_edge = inner_c - mh;
    let seed = m.seed;
    let (s_fine, s_mid) = (sc.s(8.0), sc.s(40.0));
    let ch = m.crista_half;
    let wobble = cap.radius * 0.08;
    let s_wob = (cap.radius * 1.5).max(2.0);
    cv.paint(id, cap.bbox(2.0 + wobble), |x, y, _, _| {
        let (u, v) = cap.local(x, y);
        let sd = cap.sd_local(u, v) + wobble * value(seed ^ 13, x, y, s_wob);
        if sd > mh * 1.6 {
            return Px::Skip;
        }
        let mut d = m.matrix
            + 0.1 * value(seed, x, y, s_fine)
            + 0.06 * value(seed ^ 3, x, y, s_mid)
            + 0.04 * white(seed ^ 5, x as i32, y as i32);
        if sd > inner_edge {
            // intermembrane space
            d = 0.7 + 0.04 * value(seed ^ 7, x, y, s_fine);
        } else {
            // cristae
            let k = ((u - m.u_first) / m.spacing).round() as i64;
            let mut best = f32::MAX;
            for j in (k - 2)..=(k + 2) {
                if j < 0 || j as usize >= m.cristae.len() {
                    continue;
                }
                let Some(c) = &m.cristae[j as usize] else {
                    continue;
                };
                let (dd, _) = seg_dist(u, v, c.u + c.tilt * c.v0, c.v0, c.u + c.tilt * c.v1, c.v1);
                best = best.min(dd);
            }
            if best < ch + 3.0 * mh {
                if best < ch {
                    d = 0.6 + 0.05 * value(seed ^ 11, x, y, s_fine);
                }
                d += MEM * 0.9 * line(best - ch - mh, mh);
            }
        }
        d += MEM * (line(sd, mh) + line(sd - inner_c, mh));
        Px::Set(d)
    });
}

fn er(cv: &mut Canvas, id: u32, e: &Er, sc: &Scales, rib_r: f32) {
    let mh = e.mem_half;
    let hw_max = e.hw.iter().cloned().fold(0.0f32, f32::max);
    let reach = hw_max + 2.0 * mh + 2.0;
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for p in &e.pts {
        b[0] = b[0].min(p[0] - reach);
        b[1] = b[1].min(p[1] - reach);
        b[2] = b[2].max(p[0] + reach);
        b[3] = b[3].max(p[1] + reach);
    }
    let Some([x0, y0, x1, y1]) = crate::canvas::clip_box(cv.w, cv.h, b) else {
        return;
    };
    // local distance field (distance to centre line minus local half width)
    let bw = x1 - x0;
    let bh = y1 - y0;
    let mut field = vec![f32::MAX; bw * bh];
    for s in 0..e.pts.len().saturating_sub(1) {
        let (a, c) = (e.pts[s], e.pts[s + 1]);
        let (ha, hb) = (e.hw[s], e.hw[s + 1]);
        let r = ha.max(hb) + 2.0 * mh + 2.0;
        let sx0 = ((a[0].min(c[0]) - r).floor().max(x0 as f32)) as usize;
        let sy0 = ((a[1].min(c[1]) - r).floor().max(y0 as f32)) as usize;
        let sx1 = ((a[0].max(c[0]) + r).ceil() + 1.0).min(x1 as f32) as usize;
        let sy1 = ((a[1].max(c[1]) + r).ceil() + 1.0).min(y1 as f32) as usize;
        for y in sy0..sy1 {
            for x in sx0..sx1 {
                let (dd, t) = seg_dist(x as f32, y as f32, a[0], a[1], c[0], c[1]);
                let v = dd - (ha + (hb - ha) * t);
                let f = &mut field[(y - y0) * bw + (x - x0)];
                if v < *f {
                    *f = v;
                }
            }
        }
    }
    let seed = e.seed;
    let s_fine = sc.s(10.0);
    let outer = 2.0 * mh; // mask ends at the outer edge of the membrane
    cv.paint(
        id,
        [x0 as f32, y0 as f32, (x1 - 1) as f32, (y1 - 1) as f32],
        |x, y, _, _| {
            let f = field[(y as usize - y0) * bw + (x as usize - x0)];
            if f > outer {
                return Px::Skip;
            }
            let mut d =
                0.6 + 0.08 * value(seed, x, y, s_fine) + 0.03 * white(seed ^ 1, x as i32, y as i32);
            d += MEM * line(f - mh, mh);
            Px::Set(d)
        },
    );
    for r in &e.ribosomes {
        cv.dot(r[0], r[1], rib_r, 0.85, 0);
    }
}

fn golgi(cv: &mut Canvas, id: u32, g: &Golgi, sc: &Scales) {
    let mh = g.mem_half;
    let mut ext = 0.0f32;
    for c in &g.cisternae {
        ext = ext.max(c.radius + c.hw * c.rim + 3.0 * mh);
    }
    // bounding box from sampled arc points
    let mut b = [f32::MAX, f32::MAX, f32::MIN, f32::MIN];
    for c in &g.cisternae {
        let pad = c.hw * c.rim + 3.0 * mh + 2.0;
        for k in 0..=32 {
            let a = c.phi - c.half_angle + 2.0 * c.half_angle * k as f32 / 32.0;
            let (x, y) = (
                g.ax + c.radius * libm::cosf(a),
                g.ay + c.radius * libm::sinf(a),
            );
            b = [
                b[0].min(x - pad),
                b[1].min(y - pad),
                b[2].max(x + pad),
                b[3].max(y + pad),
            ];
        }
    }
    let seed = g.seed;
    let s_fine = sc.s(10.0);
    cv.paint(id, b, |x, y, _, _| {
        let dx = x - g.ax;
        let dy = y - g.ay;
        let rho = (dx * dx + dy * dy).sqrt();
        let th = crate::noise::atan2(dy, dx);
        let mut best = f32::MAX;
        let mut lum = 0.6;
        for c in &g.cisternae {
            if (rho - c.radius).abs() > c.hw * c.rim + 3.0 * mh + 2.0 {
                continue;
            }
            let (s, _) = c.sd(rho, th, dx, dy);
            if s < best {
                best = s;
                lum = c.lumen;
            }
        }
        if best > 2.0 * mh {
            return Px::Skip;
        }
        let d = lum
            + 0.06 * value(seed, x, y, s_fine)
            + 0.03 * white(seed ^ 1, x as i32, y as i32)
            + MEM * line(best - mh, mh);
        Px::Set(d)
    });
}

fn lyso(cv: &mut Canvas, id: u32, l: &Lysosome, sc: &Scales) {
    let mh = l.mem_half;
    let seed = l.seed;
    let (s_g, s_m, s_f) = (sc.s(25.0), sc.s(70.0), sc.s(8.0));
    let halo = sc.nm(10.0).max(0.6);
    cv.paint(id, l.shape.bbox(2.0), |x, y, _, _| {
        let (sd, _) = l.shape.sd(x, y);
        if sd > mh * 1.6 {
            return Px::Skip;
        }
        let mut d = l.content
            + 0.35 * fbm2(seed, x, y, s_m)
            + 0.2 * value(seed ^ 3, x, y, s_g)
            + 0.08 * value(seed ^ 5, x, y, s_f)
            + 0.05 * white(seed ^ 7, x as i32, y as i32);
        // light halo under the membrane
        let hz = smoothstep(-(mh + 2.5 * halo), -(mh + halo), sd);
        d = d + (0.7 - d) * hz * 0.8;
        for c in &l.inclusions {
            let dx = x - c.x;
            let dy = y - c.y;
            let r = (dx * dx + dy * dy).sqrt() - c.r;
            if r < mh * 1.6 {
                if r < 0.0 {
                    d = 0.75 + 0.1 * value(seed ^ 9, x, y, s_f);
                }
                d += MEM * 0.6 * line(r, mh);
            }
        }
        d += MEM * line(sd, mh);
        Px::Set(d.max(0.2))
    });
}

fn vesicle(cv: &mut Canvas, id: u32, v: &Vesicle, sc: &Scales) {
    let mh = v.mem_half;
    let c = v.c;
    let s_f = sc.s(10.0);
    let pad = mh * 1.6 + 1.0;
    cv.paint(
        id,
        [
            c.x - c.r - pad,
            c.y - c.r - pad,
            c.x + c.r + pad,
            c.y + c.r + pad,
        ],
        |x, y, _, _| {
            let dx = x - c.x;
            let dy = y - c.y;
            // membrane centre at r - mh so the mask (r) includes the membrane
            let sd = (dx * dx + dy * dy).sqrt() - (c.r - mh);
            if sd > mh {
                return Px::Skip;
            }
            let d = v.lumen + 0.05 * value(c.x.to_bits() as u64, x, y, s_f) + MEM * line(sd, mh);
            Px::Set(d)
        },
    );
}
