//! Scene layout: cell, organelle geometry and placement (all random choices
//! happen here, sequentially, from one ChaCha stream).

use crate::config::EmConfig;
use crate::shapes::{Capsule, Circle, Radial};
use crate::{OrganelleClass, noise};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::f32::consts::{PI, TAU};

pub struct Nucleus {
    pub shape: Radial,
    pub mem_half: f32,
    pub gap: f32,
    /// Per angle bin: arc distance (px) to the nearest pore centre.
    pub pore_lut: Vec<f32>,
    pub pore_half: f32,
    pub hetero_depth: f32,
    pub nucleoli: Vec<Radial>,
    pub seed: u64,
}

pub struct Crista {
    pub u: f32,
    pub tilt: f32,
    pub v0: f32,
    pub v1: f32,
}

pub struct Mito {
    pub cap: Capsule,
    pub mem_half: f32,
    pub gap: f32,
    /// Indexed by position along the axis (`u_first + i·spacing`).
    pub cristae: Vec<Option<Crista>>,
    pub u_first: f32,
    pub spacing: f32,
    pub crista_half: f32,
    pub matrix: f32,
    pub seed: u64,
}

pub struct Er {
    pub pts: Vec<[f32; 2]>,
    pub hw: Vec<f32>,
    pub mem_half: f32,
    pub ribosomes: Vec<[f32; 2]>,
    pub seed: u64,
}

pub struct Cisterna {
    pub radius: f32,
    pub half_angle: f32,
    pub phi: f32,
    pub hw: f32,
    pub rim: f32,
    pub lumen: f32,
}

pub struct Golgi {
    pub ax: f32,
    pub ay: f32,
    pub cisternae: Vec<Cisterna>,
    pub mem_half: f32,
    pub seed: u64,
}

pub struct Lysosome {
    pub shape: Radial,
    pub mem_half: f32,
    pub content: f32,
    pub inclusions: Vec<Circle>,
    pub seed: u64,
}

pub struct Vesicle {
    pub c: Circle,
    pub mem_half: f32,
    pub lumen: f32,
}

pub enum Obj {
    Nucleus(Nucleus),
    Mito(Mito),
    Er(Er),
    Golgi(Golgi),
    Lyso(Lysosome),
    Vesicle(Vesicle),
}

impl Obj {
    pub fn class(&self) -> OrganelleClass {
        match self {
            Obj::Nucleus(_) => OrganelleClass::Nucleus,
            Obj::Mito(_) => OrganelleClass::Mitochondrion,
            Obj::Er(_) => OrganelleClass::Er,
            Obj::Golgi(_) => OrganelleClass::Golgi,
            Obj::Lyso(_) => OrganelleClass::Lysosome,
            Obj::Vesicle(_) => OrganelleClass::Vesicle,
        }
    }
}

pub struct Scene {
    pub cell: Radial,
    pub cell_mem_half: f32,
    /// In paint (z) order.
    pub objects: Vec<Obj>,
    pub free_ribosomes: Vec<[f32; 2]>,
    pub ribosome_r: f32,
    pub seed: u64,
}

impl Golgi {
    /// Signed distance to the union of cisternae (negative inside), ignoring
    /// membranes.
    pub fn sd(&self, x: f32, y: f32) -> f32 {
        let dx = x - self.ax;
        let dy = y - self.ay;
        let rho = (dx * dx + dy * dy).sqrt();
        let th = noise::atan2(dy, dx);
        let mut best = f32::MAX;
        for c in &self.cisternae {
            best = best.min(c.sd(rho, th, x - self.ax, y - self.ay).0);
        }
        best
    }
}

impl Cisterna {
    /// (signed distance to the membrane-bounded lumen edge, half width there)
    #[inline]
    pub fn sd(&self, rho: f32, th: f32, dx: f32, dy: f32) -> (f32, f32) {
        let mut d = th - self.phi;
        d -= TAU * (d / TAU).round();
        let a = d.abs();
        if a <= self.half_angle {
            let f = a / self.half_angle;
            let w = self.hw * (1.0 + (self.rim - 1.0) * crate::canvas::smoothstep(0.75, 1.0, f));
            ((rho - self.radius).abs() - w, w)
        } else {
            let e = self.phi + d.signum() * self.half_angle;
            let ex = self.radius * libm::cosf(e);
            let ey = self.radius * libm::sinf(e);
            let w = self.hw * self.rim;
            let ddx = dx - ex;
            let ddy = dy - ey;
            ((ddx * ddx + ddy * ddy).sqrt() - w, w)
        }
    }
}

struct Ctx<'a> {
    cfg: &'a EmConfig,
    w: f32,
    h: f32,
    cell: Radial,
    nucleus: Option<Radial>,
    obstacles: Vec<Circle>,
    /// obstacles[..golgi_end] are Golgi footprints.
    golgi_end: usize,
}

impl Ctx<'_> {
    fn um(&self, v: f64) -> f32 {
        (v * 1000.0 / self.cfg.pixel_size_nm) as f32
    }
    fn nm(&self, v: f64) -> f32 {
        (v / self.cfg.pixel_size_nm) as f32
    }
    fn in_cyto(&self, c: &Circle, margin: f32) -> bool {
        if self.cell.sd(c.x, c.y).0 > -(c.r + margin) {
            return false;
        }
        match &self.nucleus {
            Some(n) => n.sd(c.x, c.y).0 > c.r + margin,
            None => true,
        }
    }
    fn free(&self, c: &Circle, gap: f32) -> bool {
        self.obstacles.iter().all(|o| c.gap(o) >= gap)
    }
    /// Free, or (if `overlap`) only partially overlapping others.
    fn free_or_partial(&self, c: &Circle, gap: f32, overlap: bool) -> bool {
        if overlap {
            self.obstacles
                .iter()
                .all(|o| c.gap(o) >= -0.4 * c.r.min(o.r))
        } else {
            self.free(c, gap)
        }
    }
    fn in_view(&self, x: f32, y: f32, margin: f32) -> bool {
        x >= -margin && y >= -margin && x < self.w + margin && y < self.h + margin
    }
    fn random_in_view<R: Rng>(&self, rng: &mut R) -> (f32, f32) {
        (rng.random_range(0.0..self.w), rng.random_range(0.0..self.h))
    }
}

fn urange<R: Rng>(rng: &mut R, r: [f64; 2]) -> f64 {
    if r[1] > r[0] {
        rng.random_range(r[0]..=r[1])
    } else {
        r[0]
    }
}

fn count<R: Rng>(rng: &mut R, r: [u32; 2]) -> u32 {
    if r[1] > r[0] {
        rng.random_range(r[0]..=r[1])
    } else {
        r[0]
    }
}

pub fn build(cfg: &EmConfig, rng: &mut ChaCha8Rng) -> Scene {
    let px = cfg.pixel_size_nm as f32;
    let (w, h) = (cfg.width_px as f32, cfg.height_px as f32);
    let um = |v: f64| (v * 1000.0 / cfg.pixel_size_nm) as f32;
    let nm = |v: f64| (v / cfg.pixel_size_nm) as f32;

    // --- cell
    let r_cell = um(urange(rng, cfg.cell_diameter_um)) / 2.0;
    let off = rng.random_range(0.0..=cfg.cell_offset_frac as f32) * r_cell;
    let oa = rng.random_range(0.0..TAU);
    let cell = Radial::new(
        rng,
        w / 2.0 + off * libm::cosf(oa),
        h / 2.0 + off * libm::sinf(oa),
        r_cell,
        0.16,
        7,
    );
    let mut ctx = Ctx {
        cfg,
        w,
        h,
        cell: cell.clone(),
        nucleus: None,
        obstacles: Vec::new(),
        golgi_end: 0,
    };
    let mut objects = Vec::new();

    // --- nucleus
    let n_nuc = count(rng, cfg.counts.nucleus);
    for _ in 0..n_nuc {
        if let Some(n) = place_nucleus(&mut ctx, rng) {
            ctx.nucleus = Some(n.shape.clone());
            objects.push(Obj::Nucleus(n));
        }
    }

    // --- Golgi first among the cytoplasmic ones (perinuclear), but painted later.
    let mut golgis = Vec::new();
    for _ in 0..count(rng, cfg.counts.golgi) {
        if let Some(g) = place_golgi(&mut ctx, rng) {
            golgis.push(g);
        }
    }
    ctx.golgi_end = ctx.obstacles.len();
    let mut mitos = Vec::new();
    for _ in 0..count(rng, cfg.counts.mitochondrion) {
        if let Some(m) = place_mito(&mut ctx, rng) {
            mitos.push(m);
        }
    }
    let mut lysos = Vec::new();
    for _ in 0..count(rng, cfg.counts.lysosome) {
        if let Some(l) = place_lyso(&mut ctx, rng) {
            lysos.push(l);
        }
    }
    let mut ers = Vec::new();
    let n_er = count(rng, cfg.counts.er) as usize;
    let mut tries = 0;
    while ers.len() < n_er && tries < n_er * 4 {
        tries += 1;
        let got = place_er(&mut ctx, rng, n_er - ers.len());
        ers.extend(got);
    }
    let mut vesicles = Vec::new();
    let n_ves = count(rng, cfg.counts.vesicle) as usize;
    let mut tries = 0;
    while vesicles.len() < n_ves && tries < n_ves * 30 {
        tries += 1;
        if let Some(v) = place_vesicle(&mut ctx, rng, &golgis, vesicles.len(), n_ves) {
            vesicles.push(v);
        }
    }

    objects.extend(ers.into_iter().map(Obj::Er));
    objects.extend(mitos.into_iter().map(Obj::Mito));
    objects.extend(golgis.into_iter().map(Obj::Golgi));
    objects.extend(lysos.into_iter().map(Obj::Lyso));
    objects.extend(vesicles.into_iter().map(Obj::Vesicle));

    // --- free ribosomes, partly as polysome clusters
    let area_um2 = (w * px / 1000.0) * (h * px / 1000.0);
    let n_rib = (cfg.ribosomes_per_um2 as f32 * area_um2) as usize;
    let mut free_ribosomes = Vec::with_capacity(n_rib);
    let rib_r = nm(11.0);
    while free_ribosomes.len() < n_rib {
        let (x, y) = ctx.random_in_view(rng);
        if rng.random_bool(0.2) {
            let k = rng.random_range(3..7);
            let mut a = rng.random_range(0.0..TAU);
            let turn =
                if rng.random_bool(0.5) { 1.0 } else { -1.0 } * rng.random_range(0.6f32..1.2);
            let (mut cx, mut cy) = (x, y);
            for _ in 0..k {
                free_ribosomes.push([cx, cy]);
                a += turn + rng.random_range(-0.3f32..0.3);
                let s = nm(rng.random_range(24.0..34.0));
                cx += s * libm::cosf(a);
                cy += s * libm::sinf(a);
            }
        } else {
            free_ribosomes.push([x, y]);
        }
    }
    let _ = um;

    Scene {
        cell,
        cell_mem_half: nm(4.0),
        objects,
        free_ribosomes,
        ribosome_r: rib_r,
        seed: rng.random(),
    }
}

fn place_nucleus(ctx: &mut Ctx, rng: &mut ChaCha8Rng) -> Option<Nucleus> {
    let cfg = ctx.cfg;
    for attempt in 0..200 {
        let shrink = 1.0 - 0.004 * attempt as f32;
        let r = ctx.um(urange(rng, cfg.nucleus_diameter_um)) / 2.0 * shrink;
        let r = r.min(ctx.cell.rmin * 0.7);
        let (x, y) = ctx.random_in_view(rng);
        // keep the centre away from the border so most of the nucleus is seen
        let m = 0.15 * ctx.w.min(ctx.h);
        if !ctx.in_view(x, y, -m) {
            continue;
        }
        let shape = Radial::new(rng, x, y, r, 0.12, 6);
        let margin = ctx.um(0.35);
        // all outline points inside the cell with a margin
        let ok = (0..64).all(|i| {
            let t = i as f32 / 64.0 * TAU;
            let rr = shape.radius_at(t);
            let (px_, py_) = (x + rr * libm::cosf(t), y + rr * libm::sinf(t));
            ctx.cell.sd(px_, py_).0 < -margin
        });
        if !ok {
            continue;
        }
        // pores
        let mem_half = ctx.nm(3.5);
        let perim = TAU * r;
        let n_pores = (perim / ctx.nm(rng.random_range(450.0..1000.0))).max(2.0) as usize;
        let mut pores: Vec<f32> = (0..n_pores).map(|_| rng.random_range(0.0..TAU)).collect();
        pores.sort_by(f32::total_cmp);
        let lut_n = 2048;
        let pore_lut = (0..lut_n)
            .map(|i| {
                let t = i as f32 / lut_n as f32 * TAU;
                pores
                    .iter()
                    .map(|&p| {
                        let mut d = t - p;
                        d -= TAU * (d / TAU).round();
                        d.abs() * r
                    })
                    .fold(f32::MAX, f32::min)
            })
            .collect();
        let mut nucleoli = Vec::new();
        let n_nucleoli = rng
            .random_range(0..=2u32)
            .max(if rng.random_bool(0.7) { 1 } else { 0 });
        for _ in 0..n_nucleoli {
            let rn = ctx.um(rng.random_range(0.18..0.42)).min(r * 0.3);
            let a = rng.random_range(0.0..TAU);
            let d = rng.random_range(0.0..(shape.rmin - rn * 1.3).max(0.0) + 1e-3);
            nucleoli.push(Radial::new(
                rng,
                x + d * libm::cosf(a),
                y + d * libm::sinf(a),
                rn,
                0.25,
                6,
            ));
        }
        return Some(Nucleus {
            shape,
            mem_half,
            gap: ctx.nm(rng.random_range(15.0..35.0)),
            pore_lut,
            pore_half: ctx.nm(rng.random_range(28.0..45.0)),
            hetero_depth: ctx.nm(rng.random_range(60.0..220.0)),
            nucleoli,
            seed: rng.random(),
        });
    }
    None
}

fn place_mito(ctx: &mut Ctx, rng: &mut ChaCha8Rng) -> Option<Mito> {
    let cfg = ctx.cfg;
    for _ in 0..150 {
        let width = ctx.um(urange(rng, cfg.mitochondrion_width_um));
        let len = ctx.um(urange(rng, cfg.mitochondrion_length_um)).max(width);
        let radius = width / 2.0;
        let half_len = (len - width) / 2.0;
        let (x, y) = ctx.random_in_view(rng);
        let ang = rng.random_range(0.0..PI);
        let bend = if half_len > 0.0 {
            rng.random_range(-1.0f32..1.0) * 0.3 * radius
                / ((half_len + radius) * (half_len + radius)).max(1.0)
        } else {
            0.0
        };
        let cap = Capsule {
            cx: x,
            cy: y,
            cos: libm::cosf(ang),
            sin: libm::sinf(ang),
            half_len,
            radius,
            bend,
        };
        let circles = cap.circles();
        let overlap = rng.random_bool(ctx.cfg.overlap_probability);
        let gap = ctx.nm(15.0);
        if !circles
            .iter()
            .all(|c| ctx.in_cyto(c, ctx.nm(30.0)) && ctx.free_or_partial(c, gap, overlap))
        {
            continue;
        }
        ctx.obstacles.extend(circles);
        let mem_half = ctx.nm(3.5);
        let spacing = ctx.nm(rng.random_range(45.0..95.0)).max(2.5);
        let u_first = -(half_len + radius * 0.7);
        let n = ((2.0 * (half_len + radius * 0.7)) / spacing) as usize + 1;
        let win = radius - ctx.nm(20.0);
        let mut cristae = Vec::new();
        for i in 0..n {
            if rng.random_bool(0.12) {
                cristae.push(None);
                continue;
            }
            let u = u_first + (i as f32 + rng.random_range(-0.2..0.2)) * spacing;
            let tilt = rng.random_range(-0.2f32..0.2);
            let (v0, v1) = match rng.random_range(0..4) {
                0 | 3 => (-radius * 1.2, radius * 1.2),
                1 => (
                    -radius * 1.2,
                    -win + 2.0 * win * rng.random_range(0.35f32..0.8),
                ),
                _ => (
                    win - 2.0 * win * rng.random_range(0.35f32..0.8),
                    radius * 1.2,
                ),
            };
            cristae.push(Some(Crista { u, tilt, v0, v1 }));
        }
        return Some(Mito {
            cap,
            mem_half,
            gap: ctx.nm(rng.random_range(6.0..10.0)),
            cristae,
            u_first,
            spacing,
            crista_half: ctx.nm(rng.random_range(6.0..12.0)),
            matrix: rng.random_range(0.95..1.25),
            seed: rng.random(),
        });
    }
    None
}

fn place_lyso(ctx: &mut Ctx, rng: &mut ChaCha8Rng) -> Option<Lysosome> {
    let cfg = ctx.cfg;
    for _ in 0..150 {
        let r = ctx.um(urange(rng, cfg.lysosome_diameter_um)) / 2.0;
        let (x, y) = ctx.random_in_view(rng);
        let c = Circle { x, y, r: r * 1.1 };
        let overlap = rng.random_bool(ctx.cfg.overlap_probability);
        if !ctx.in_cyto(&c, ctx.nm(30.0)) || !ctx.free_or_partial(&c, ctx.nm(15.0), overlap) {
            continue;
        }
        ctx.obstacles.push(c);
        let shape = Radial::new(rng, x, y, r, 0.1, 5);
        let n_inc = rng.random_range(0..=4);
        let mut inclusions = Vec::new();
        for _ in 0..n_inc {
            let ri = (r * rng.random_range(0.08..0.3)).max(ctx.nm(15.0));
            let a = rng.random_range(0.0..TAU);
            let d = rng.random_range(0.0..(r * 0.85 - ri).max(0.1));
            inclusions.push(Circle {
                x: x + d * libm::cosf(a),
                y: y + d * libm::sinf(a),
                r: ri,
            });
        }
        return Some(Lysosome {
            shape,
            mem_half: ctx.nm(3.5),
            content: rng.random_range(1.5..2.2),
            inclusions,
            seed: rng.random(),
        });
    }
    None
}

fn place_golgi(ctx: &mut Ctx, rng: &mut ChaCha8Rng) -> Option<Golgi> {
    let cfg = ctx.cfg;
    for _ in 0..300 {
        let n = count(rng, cfg.golgi_cisternae).max(1) as usize;
        let len = ctx.um(urange(rng, cfg.golgi_length_um));
        let rc = ctx.um(rng.random_range(0.5..1.4)).max(len * 0.5);
        let hw = ctx.nm(rng.random_range(6.0..12.0));
        let mem_half = ctx.nm(3.5);
        let spacing = 2.0 * (hw + 2.0 * mem_half) + ctx.nm(rng.random_range(8.0..22.0));
        // position and outward normal
        let (gx, gy, nx, ny) = match &ctx.nucleus {
            Some(nuc) if rng.random_bool(0.85) => {
                let t = rng.random_range(0.0..TAU);
                let d = nuc.radius_at(t) + ctx.um(rng.random_range(0.25..0.9));
                let (c, s) = (libm::cosf(t), libm::sinf(t));
                let a = t + rng.random_range(-0.3f32..0.3);
                (nuc.cx + d * c, nuc.cy + d * s, libm::cosf(a), libm::sinf(a))
            }
            _ => {
                let (x, y) = ctx.random_in_view(rng);
                let a = rng.random_range(0.0..TAU);
                (x, y, libm::cosf(a), libm::sinf(a))
            }
        };
        if !ctx.in_view(gx, gy, 0.0) {
            continue;
        }
        let ax = gx - nx * rc;
        let ay = gy - ny * rc;
        let phi_c = noise::atan2(ny, nx);
        let half_angle = len / (2.0 * rc);
        let cisternae: Vec<Cisterna> = (0..n)
            .map(|i| {
                let rad = rc + (i as f32 - (n as f32 - 1.0) / 2.0) * spacing;
                Cisterna {
                    radius: rad,
                    half_angle: half_angle * rng.random_range(0.7..1.1) * rc / rad,
                    phi: phi_c + rng.random_range(-0.06f32..0.06),
                    hw: hw * rng.random_range(0.8..1.25),
                    rim: rng.random_range(1.6..3.2),
                    lumen: rng.random_range(0.45..0.8) + 0.05 * i as f32,
                }
            })
            .collect();
        // footprint: circles along the middle arc
        let thick = n as f32 * spacing / 2.0 + ctx.nm(30.0);
        let steps = ((len / thick).ceil() as usize).max(1) * 2;
        let circles: Vec<Circle> = (0..=steps)
            .map(|k| {
                let a = phi_c - half_angle * 1.1 + 2.2 * half_angle * k as f32 / steps as f32;
                Circle {
                    x: ax + rc * libm::cosf(a),
                    y: ay + rc * libm::sinf(a),
                    r: thick,
                }
            })
            .collect();
        if !circles
            .iter()
            .all(|c| ctx.in_cyto(c, ctx.nm(20.0)) && ctx.free(c, ctx.nm(40.0)))
        {
            continue;
        }
        ctx.obstacles.extend(circles);
        return Some(Golgi {
            ax,
            ay,
            cisternae,
            mem_half,
            seed: rng.random(),
        });
    }
    None
}

/// Grow one ER sheet (plus possibly parallel siblings). Returns 0..=max sheets.
fn place_er(ctx: &mut Ctx, rng: &mut ChaCha8Rng, max: usize) -> Vec<Er> {
    let cfg = ctx.cfg;
    let step = ctx.nm(15.0).max(1.5);
    let hw0 = ctx.nm(rng.random_range(8.0..18.0));
    let mem_half = ctx.nm(3.5);
    let rib_r = ctx.nm(11.0);
    let clear = hw0 * 1.6 + 2.0 * mem_half + 2.0 * rib_r + ctx.nm(12.0);
    let target = ctx.um(urange(rng, cfg.er_length_um));
    let min_len = ctx.um(cfg.er_length_um[0] * 0.4);
    let seed: u64 = rng.random();
    let ok = |ctx: &Ctx, x: f32, y: f32| {
        let c = Circle { x, y, r: clear };
        ctx.in_view(x, y, 0.1 * ctx.w) && ctx.in_cyto(&c, ctx.nm(10.0)) && ctx.free(&c, 0.0)
    };
    let mut line: Vec<[f32; 2]> = Vec::new();
    let perinuclear = ctx.nucleus.is_some() && rng.random_bool(0.45);
    for _ in 0..60 {
        line.clear();
        if perinuclear {
            let nuc = ctx.nucleus.clone().unwrap();
            let mut t = rng.random_range(0.0..TAU);
            let dir = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let mut off = ctx.nm(rng.random_range(120.0..450.0));
            let mut doff = 0.0f32;
            let mut len = 0.0;
            while len < target {
                let r = nuc.radius_at(t) + off;
                let (x, y) = (nuc.cx + r * libm::cosf(t), nuc.cy + r * libm::sinf(t));
                if !ok(ctx, x, y) {
                    break;
                }
                line.push([x, y]);
                t += dir * step / r;
                doff = (doff + rng.random_range(-0.02f32..0.02)).clamp(-0.15, 0.15);
                off = (off + doff * step).max(ctx.nm(80.0));
                len += step;
            }
        } else {
            let (mut x, mut y) = ctx.random_in_view(rng);
            let mut a = rng.random_range(0.0..TAU);
            let kmax = 1.0 / ctx.um(0.35);
            let mut k = rng.random_range(-0.5f32..0.5) * kmax;
            let mut len = 0.0;
            while len < target {
                if !ok(ctx, x, y) {
                    break;
                }
                line.push([x, y]);
                k = (k + rng.random_range(-0.12f32..0.12) * kmax).clamp(-kmax, kmax);
                a += k * step;
                x += step * libm::cosf(a);
                y += step * libm::sinf(a);
                len += step;
            }
        }
        if line.len() as f32 * step >= min_len {
            break;
        }
    }
    if (line.len() as f32 * step) < min_len {
        return Vec::new();
    }
    let mut lines = vec![line.clone()];
    // parallel siblings (stacked rough ER)
    if max > 1 && rng.random_bool(0.5) {
        let n_sib = rng.random_range(1..=2usize).min(max - 1);
        let side = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        let mut base = line.clone();
        for _ in 0..n_sib {
            let off = side * ctx.nm(rng.random_range(110.0..260.0));
            let normal = normals(&base);
            let cand: Vec<[f32; 2]> = base
                .iter()
                .zip(&normal)
                .map(|(p, n)| [p[0] + off * n[0], p[1] + off * n[1]])
                .collect();
            // obstacles of the accepted lines must be registered to check siblings
            // against each other; the parent is excluded by construction.
            let mut best: (usize, usize) = (0, 0);
            let mut start = None;
            for (i, p) in cand.iter().enumerate() {
                let good = ok(ctx, p[0], p[1])
                    && lines.iter().all(|l| {
                        l.iter().all(|q| {
                            let dx = q[0] - p[0];
                            let dy = q[1] - p[1];
                            dx * dx + dy * dy >= (off.abs() * 0.7) * (off.abs() * 0.7)
                        })
                    });
                match (good, start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        if i - s > best.1 - best.0 {
                            best = (s, i);
                        }
                        start = None;
                    }
                    _ => {}
                }
            }
            if let Some(s) = start
                && cand.len() - s > best.1 - best.0
            {
                best = (s, cand.len());
            }
            if ((best.1 - best.0) as f32 * step) < min_len {
                break;
            }
            let sib = cand[best.0..best.1].to_vec();
            base = sib.clone();
            lines.push(sib);
        }
    }
    let mut out = Vec::new();
    for (li, l) in lines.into_iter().enumerate() {
        for p in &l {
            ctx.obstacles.push(Circle {
                x: p[0],
                y: p[1],
                r: clear * 0.8,
            });
        }
        let s = seed.wrapping_add(li as u64 * 0x1234_5678_9ABC);
        let hw: Vec<f32> = (0..l.len())
            .map(|i| {
                let n = noise::value(s, i as f32 * step, 0.0, ctx.nm(250.0));
                hw0 * (1.0 + 0.35 * n).max(0.5)
            })
            .collect();
        let normal = normals(&l);
        let mut ribosomes = Vec::new();
        for side in [-1.0f32, 1.0] {
            let mut acc = 0.0;
            let mut gapleft = 0.0;
            for i in 0..l.len() {
                acc += step;
                let sp = ctx.nm(rng.random_range(22.0..32.0));
                if acc < sp {
                    continue;
                }
                acc = 0.0;
                if gapleft > 0.0 {
                    gapleft -= sp;
                    continue;
                }
                if rng.random_bool(0.02) {
                    gapleft = ctx.nm(rng.random_range(60.0..250.0));
                }
                let d = hw[i] + 2.0 * mem_half + rib_r + ctx.nm(rng.random_range(1.0..6.0));
                let j = rng.random_range(-0.3f32..0.3) * step;
                ribosomes.push([
                    l[i][0] + side * d * normal[i][0] + j * normal[i][1],
                    l[i][1] + side * d * normal[i][1] - j * normal[i][0],
                ]);
            }
        }
        out.push(Er {
            pts: l,
            hw,
            mem_half,
            ribosomes,
            seed: s,
        });
    }
    out
}

fn normals(l: &[[f32; 2]]) -> Vec<[f32; 2]> {
    (0..l.len())
        .map(|i| {
            let a = l[i.saturating_sub(1)];
            let b = l[(i + 1).min(l.len() - 1)];
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            let n = (dx * dx + dy * dy).sqrt().max(1e-6);
            [-dy / n, dx / n]
        })
        .collect()
}

fn place_vesicle(
    ctx: &mut Ctx,
    rng: &mut ChaCha8Rng,
    golgis: &[Golgi],
    i: usize,
    n: usize,
) -> Option<Vesicle> {
    let cfg = ctx.cfg;
    let mode = if !golgis.is_empty() && (i as f32) < 0.4 * n as f32 {
        0 // near Golgi
    } else if rng.random_bool(0.45) {
        1 // near plasma membrane
    } else {
        2
    };
    let r = if mode == 0 {
        ctx.nm(rng.random_range(
            cfg.vesicle_diameter_nm[0]
                ..=cfg.vesicle_diameter_nm[0].max(
                    cfg.vesicle_diameter_nm[0]
                        + 0.35 * (cfg.vesicle_diameter_nm[1] - cfg.vesicle_diameter_nm[0]),
                ),
        )) / 2.0
    } else {
        ctx.nm(urange(rng, cfg.vesicle_diameter_nm)) / 2.0
    };
    let (x, y) = match mode {
        0 => {
            let g = &golgis[rng.random_range(0..golgis.len())];
            let c = &g.cisternae[rng.random_range(0..g.cisternae.len())];
            let (phi, rad) = if rng.random_bool(0.65) {
                // at a rim
                let s = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
                (
                    c.phi
                        + s * (c.half_angle
                            + rng.random_range(0.3f32..2.5) * (c.hw * c.rim + r) / c.radius),
                    c.radius + rng.random_range(-1.0f32..1.0) * c.hw * 3.0,
                )
            } else {
                // on the outer (trans) face or inner face
                let last = g.cisternae.last().unwrap();
                let first = &g.cisternae[0];
                let out = rng.random_bool(0.6);
                let rad = if out {
                    last.radius + last.hw * last.rim + r + ctx.nm(rng.random_range(10.0..140.0))
                } else {
                    first.radius - first.hw * first.rim - r - ctx.nm(rng.random_range(10.0..100.0))
                };
                (c.phi + rng.random_range(-1.1f32..1.1) * c.half_angle, rad)
            };
            (g.ax + rad * libm::cosf(phi), g.ay + rad * libm::sinf(phi))
        }
        1 => {
            let t = rng.random_range(0.0..TAU);
            let d = ctx.cell.radius_at(t) - r - ctx.nm(rng.random_range(25.0..350.0));
            (
                ctx.cell.cx + d * libm::cosf(t),
                ctx.cell.cy + d * libm::sinf(t),
            )
        }
        _ => ctx.random_in_view(rng),
    };
    if !ctx.in_view(x, y, 0.0) {
        return None;
    }
    let c = Circle { x, y, r };
    if !ctx.in_cyto(&c, ctx.nm(8.0)) {
        return None;
    }
    if mode == 0 {
        // near its Golgi: only check the cisternae geometry and other vesicles
        let clear_g = golgis.iter().all(|g| g.sd(x, y) > r + ctx.nm(6.0));
        if !clear_g {
            return None;
        }
    }
    let overlap = rng.random_bool(cfg.overlap_probability * 0.5);
    let free = ctx.obstacles.iter().enumerate().all(|(k, o)| {
        // Golgi footprint circles are coarse; vesicles may sit inside them
        c.gap(o) >= ctx.nm(4.0) || (mode == 0 && k < ctx.golgi_end)
    });
    if !free && !overlap {
        return None;
    }
    ctx.obstacles.push(c);
    Some(Vesicle {
        c,
        mem_half: ctx.nm(3.0),
        lumen: rng.random_range(0.25..0.55),
    })
}
