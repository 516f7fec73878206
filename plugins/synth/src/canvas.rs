//! Density canvas with instance labels; painting happens in z-order, the last
//! painted instance is the visible one.

use rayon::prelude::*;

type RowSlices<'a> = (usize, ((&'a mut [f32], &'a mut [u32]), &'a [bool]));

/// What a painter does to one pixel.
pub enum Px {
    /// Leave the pixel untouched.
    Skip,
    /// The pixel belongs to the instance being painted: set density and label.
    Set(f32),
}

pub struct Canvas {
    pub w: usize,
    pub h: usize,
    /// Optical density (transmission = exp(-density)).
    pub dens: Vec<f32>,
    pub label: Vec<u32>,
    pub cell: Vec<bool>,
}

/// Integer pixel bounds `[x0, x1) × [y0, y1)` of a float box, clipped.
pub fn clip_box(w: usize, h: usize, b: [f32; 4]) -> Option<[usize; 4]> {
    let x0 = b[0].floor().max(0.0);
    let y0 = b[1].floor().max(0.0);
    let x1 = (b[2].ceil() + 1.0).min(w as f32);
    let y1 = (b[3].ceil() + 1.0).min(h as f32);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    Some([x0 as usize, y0 as usize, x1 as usize, y1 as usize])
}

impl Canvas {
    pub fn new(w: usize, h: usize) -> Self {
        Self {
            w,
            h,
            dens: vec![0.0; w * h],
            label: vec![0; w * h],
            cell: vec![false; w * h],
        }
    }

    /// Paint instance `id` over float box `b` = [xmin, ymin, xmax, ymax].
    /// `f(x, y, density, label)` is only called inside the cell. Rows are
    /// processed in parallel; the result does not depend on scheduling.
    pub fn paint<F>(&mut self, id: u32, b: [f32; 4], f: F)
    where
        F: Fn(f32, f32, f32, u32) -> Px + Sync,
    {
        let Some([x0, y0, x1, y1]) = clip_box(self.w, self.h, b) else {
            return;
        };
        let w = self.w;
        let row = |(j, ((d, l), c)): RowSlices<'_>| {
            let y = (y0 + j) as f32;
            for x in x0..x1 {
                if !c[x] {
                    continue;
                }
                match f(x as f32, y, d[x], l[x]) {
                    Px::Skip => {}
                    Px::Set(v) => {
                        d[x] = v;
                        l[x] = id;
                    }
                }
            }
        };
        let dens = &mut self.dens[y0 * w..y1 * w];
        let label = &mut self.label[y0 * w..y1 * w];
        let cell = &self.cell[y0 * w..y1 * w];
        if (x1 - x0) * (y1 - y0) < 8192 {
            dens.chunks_mut(w)
                .zip(label.chunks_mut(w))
                .zip(cell.chunks(w))
                .enumerate()
                .for_each(row);
        } else {
            dens.par_chunks_mut(w)
                .zip(label.par_chunks_mut(w))
                .zip(cell.par_chunks(w))
                .enumerate()
                .for_each(row);
        }
    }

    /// Add a soft dark dot (ribosome, granule) of radius `r` px to pixels whose
    /// label is `on_label` (inside the cell).
    pub fn dot(&mut self, cx: f32, cy: f32, r: f32, amp: f32, on_label: u32) {
        let re = r.max(0.7);
        let k = (r / re).min(1.0);
        let a = amp * k * k;
        let ext = re * 1.2;
        let Some([x0, y0, x1, y1]) =
            clip_box(self.w, self.h, [cx - ext, cy - ext, cx + ext, cy + ext])
        else {
            return;
        };
        let inv = 1.0 / (ext * ext);
        for y in y0..y1 {
            for x in x0..x1 {
                let i = y * self.w + x;
                if !self.cell[i] || self.label[i] != on_label {
                    continue;
                }
                let dx = x as f32 - cx;
                let dy = y as f32 - cy;
                let q = 1.0 - (dx * dx + dy * dy) * inv;
                if q > 0.0 {
                    self.dens[i] += a * q * q;
                }
            }
        }
    }
}

/// Profile of a membrane (dark line) at distance `d` px from its centre line
/// with half thickness `half` px: 1 at the centre, 0 beyond ~1.5 half widths.
/// Sub-pixel membranes get a proportionally lower amplitude.
#[inline]
pub fn line(d: f32, half: f32) -> f32 {
    let w = half.max(0.55);
    let t = d / (1.5 * w);
    let q = 1.0 - t * t;
    if q <= 0.0 { 0.0 } else { (half / w) * q * q }
}

#[inline]
pub fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}
