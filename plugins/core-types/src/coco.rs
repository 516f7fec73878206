//! COCO run-length encoding of binary masks, byte for byte as pycocotools writes it.
//!
//! A mask of height h and width w is read in column-major (Fortran) order; `counts` alternates
//! runs of 0s and 1s, starting with 0s (possibly an empty run). The compressed string form
//! (`{"size": [h, w], "counts": "…"}` in COCO results) stores each count — from the third on, as
//! the difference to the count two places earlier — in 5-bit groups, least significant first, each
//! group + 48 as an ASCII character with 0x20 marking "more groups follow" (pycocotools'
//! `rleToString`). Hand-written: no maintained Rust crate produces this exact string.

use std::borrow::Borrow;

use ndarray::{Array2, ArrayView2};

/// Run lengths of a mask in column-major order, starting with a (possibly empty) run of 0s.
pub fn rle_counts(mask: ArrayView2<'_, bool>) -> Vec<u64> {
    let (h, w) = mask.dim();
    let mut counts = Vec::new();
    let mut current = false;
    let mut run = 0u64;
    for x in 0..w {
        for y in 0..h {
            let v = mask[[y, x]];
            if v != current {
                counts.push(run);
                run = 0;
                current = v;
            }
            run += 1;
        }
    }
    counts.push(run);
    counts
}

/// The compressed COCO string of run lengths (pycocotools `rleToString`).
pub fn rle_to_string(counts: &[u64]) -> String {
    let mut s = String::new();
    for (i, &c) in counts.iter().enumerate() {
        let mut x = c as i64;
        if i > 2 {
            x -= counts[i - 2] as i64;
        }
        loop {
            let mut ch = (x & 0x1f) as u8;
            x >>= 5; // arithmetic shift, as in C for the signed long pycocotools uses
            let more = if ch & 0x10 != 0 { x != -1 } else { x != 0 };
            if more {
                ch |= 0x20;
            }
            s.push((ch + 48) as char);
            if !more {
                break;
            }
        }
    }
    s
}

/// Run lengths from a compressed COCO string (pycocotools `rleFrString`); `None` if malformed.
pub fn rle_from_string(s: &str) -> Option<Vec<u64>> {
    let bytes = s.as_bytes();
    let mut counts: Vec<i64> = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let (mut x, mut k) = (0i64, 0u32);
        loop {
            let c = i64::from(bytes.get(p)?.checked_sub(48)?);
            if k >= 13 {
                return None; // more groups than a 64-bit count can hold
            }
            x |= (c & 0x1f) << (5 * k);
            p += 1;
            k += 1;
            if c & 0x20 == 0 {
                if c & 0x10 != 0 {
                    x |= -1i64 << (5 * k);
                }
                break;
            }
        }
        if counts.len() > 2 {
            x += counts[counts.len() - 2];
        }
        counts.push(x);
    }
    counts.into_iter().map(|c| u64::try_from(c).ok()).collect()
}

/// The mask of `counts` with the given shape; `None` when the runs do not add up to h·w.
pub fn rle_decode(counts: &[u64], height: usize, width: usize) -> Option<Array2<bool>> {
    let total: u64 = counts.iter().sum();
    if total != (height * width) as u64 {
        return None;
    }
    let mut flat = Vec::with_capacity(height * width);
    for (i, &c) in counts.iter().enumerate() {
        flat.extend(std::iter::repeat_n(i % 2 == 1, c as usize));
    }
    // Column-major: element k is (row k % h, column k / h).
    Some(Array2::from_shape_fn((height, width), |(y, x)| {
        flat[x * height + y]
    }))
}

/// A run-length encoded mask with its shape (pycocotools' `RLE`: `h`, `w`, `cnts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rle {
    /// Mask height h (rows).
    pub height: usize,
    /// Mask width w (columns).
    pub width: usize,
    /// Column-major run lengths, starting with a (possibly empty) run of 0s.
    pub counts: Vec<u64>,
}

impl Rle {
    /// The RLE of a boolean mask.
    pub fn encode(mask: ArrayView2<'_, bool>) -> Self {
        let (height, width) = mask.dim();
        Rle {
            height,
            width,
            counts: rle_counts(mask),
        }
    }

    /// Number of foreground pixels (pycocotools `rleArea`).
    pub fn area(&self) -> u64 {
        rle_area(&self.counts)
    }

    /// Bounding box `[x, y, w, h]` (pycocotools `rleToBbox`).
    pub fn bbox(&self) -> [f64; 4] {
        rle_to_bbox(&self.counts, self.height, self.width)
    }
}

/// Number of foreground pixels: the sum of the odd-indexed runs (pycocotools `rleArea`).
pub fn rle_area(counts: &[u64]) -> u64 {
    counts.iter().skip(1).step_by(2).sum()
}

/// The bounding box `[x, y, w, h]` of a mask, as pycocotools `rleToBbox` computes it.
///
/// For each run of 1s the first and last pixel update the box; a run that spans more than one
/// column widens the box to all rows (`y = 0`, `h = height`), exactly like pycocotools. The
/// arithmetic is 32-bit unsigned with wrap-around, as in the C code (`uint`), so even degenerate
/// run lists (empty runs) give pycocotools' box. An empty mask gives `[0, 0, 0, 0]`.
pub fn rle_to_bbox(counts: &[u64], height: usize, width: usize) -> [f64; 4] {
    let h = height as u32;
    let w = width as u32;
    let m = counts.len() / 2 * 2;
    if m == 0 || h == 0 {
        return [0.0; 4];
    }
    let (mut xs, mut ys, mut xe, mut ye) = (w, h, 0u32, 0u32);
    let (mut cc, mut xp) = (0u32, 0u32);
    for (j, &c) in counts[..m].iter().enumerate() {
        cc = cc.wrapping_add(c as u32);
        let t = cc.wrapping_sub((j % 2) as u32);
        let y = t % h;
        let x = (t - y) / h;
        if j % 2 == 0 {
            xp = x;
        } else if xp < x {
            ys = 0;
            ye = h - 1;
        }
        xs = xs.min(x);
        xe = xe.max(x);
        ys = ys.min(y);
        ye = ye.max(y);
    }
    [
        f64::from(xs),
        f64::from(ys),
        f64::from(xe.wrapping_sub(xs).wrapping_add(1)),
        f64::from(ye.wrapping_sub(ys).wrapping_add(1)),
    ]
}

/// Union (`intersect = false`) or intersection (`intersect = true`) of masks of one shape
/// (pycocotools `rleMerge`, the run walk ported as is). No masks give an empty list; one mask is
/// returned unchanged.
pub fn rle_merge(rles: &[Vec<u64>], intersect: bool) -> Vec<u64> {
    let Some((first, rest)) = rles.split_first() else {
        return Vec::new();
    };
    let mut cnts = first.clone();
    for b in rest {
        let a = std::mem::take(&mut cnts);
        let mut ca = a.first().copied().unwrap_or(0);
        let mut cb = b.first().copied().unwrap_or(0);
        let (mut v, mut va, mut vb) = (false, false, false);
        let (mut ia, mut ib) = (1usize, 1usize);
        let (mut cc, mut ct) = (0u64, 1u64);
        while ct > 0 {
            let c = ca.min(cb);
            cc += c;
            ct = 0;
            ca -= c;
            if ca == 0 && ia < a.len() {
                ca = a[ia];
                ia += 1;
                va = !va;
            }
            ct += ca;
            cb -= c;
            if cb == 0 && ib < b.len() {
                cb = b[ib];
                ib += 1;
                vb = !vb;
            }
            ct += cb;
            let vp = v;
            v = if intersect { va && vb } else { va || vb };
            if v != vp || ct == 0 {
                cnts.push(cc);
                cc = 0;
            }
        }
    }
    cnts
}

/// Intersection over union of boxes `[x, y, w, h]` (pycocotools `bbIou`); for a crowd box the
/// denominator is the area of `dt` alone.
pub fn bbox_iou(dt: [f64; 4], gt: [f64; 4], gt_iscrowd: bool) -> f64 {
    let (da, ga) = (dt[2] * dt[3], gt[2] * gt[3]);
    let w = (dt[2] + dt[0]).min(gt[2] + gt[0]) - dt[0].max(gt[0]);
    if w <= 0.0 {
        return 0.0;
    }
    let h = (dt[3] + dt[1]).min(gt[3] + gt[1]) - dt[1].max(gt[1]);
    if h <= 0.0 {
        return 0.0;
    }
    let i = w * h;
    let u = if gt_iscrowd { da } else { da + ga - i };
    i / u
}

/// Mask IoU of every detection with every ground truth, `[dt, gt]`, as pycocotools `rleIou`
/// (`pycocotools.mask.iou(dt, gt, iscrowd)`).
///
/// IoU = |d ∩ g| / |d ∪ g|, or |d ∩ g| / |d| when `gt_iscrowd[g]`. As in pycocotools the
/// masks are compared only where their `rleToBbox` boxes overlap (elsewhere 0), a pair of
/// different shapes gives -1, and no overlap gives 0. `gt_iscrowd` must be as long as `gt`
/// (missing entries count as not crowd).
pub fn rle_iou<D: Borrow<Rle>, G: Borrow<Rle>>(
    dt: &[D],
    gt: &[G],
    gt_iscrowd: &[bool],
) -> Array2<f64> {
    let db: Vec<[f64; 4]> = dt.iter().map(|r| r.borrow().bbox()).collect();
    let gb: Vec<[f64; 4]> = gt.iter().map(|r| r.borrow().bbox()).collect();
    Array2::from_shape_fn((dt.len(), gt.len()), |(d, g)| {
        let crowd = gt_iscrowd.get(g).copied().unwrap_or(false);
        let o = bbox_iou(db[d], gb[g], crowd);
        if o <= 0.0 {
            return o;
        }
        let (a, b) = (dt[d].borrow(), gt[g].borrow());
        if a.height != b.height || a.width != b.width {
            return -1.0;
        }
        let (i, u) = intersection_union(&a.counts, &b.counts);
        let u = if i == 0 {
            1
        } else if crowd {
            a.area()
        } else {
            u
        };
        i as f64 / u as f64
    })
}

/// |a ∩ b| and |a ∪ b| of two run lists of one shape (the run walk of pycocotools `rleIou`).
fn intersection_union(a: &[u64], b: &[u64]) -> (u64, u64) {
    let mut ca = a.first().copied().unwrap_or(0);
    let mut cb = b.first().copied().unwrap_or(0);
    let (mut va, mut vb) = (false, false);
    let (mut ia, mut ib) = (1usize, 1usize);
    let (mut i, mut u, mut ct) = (0u64, 0u64, 1u64);
    while ct > 0 {
        let c = ca.min(cb);
        if va || vb {
            u += c;
            if va && vb {
                i += c;
            }
        }
        ct = 0;
        ca -= c;
        if ca == 0 && ia < a.len() {
            ca = a[ia];
            ia += 1;
            va = !va;
        }
        ct += ca;
        cb -= c;
        if cb == 0 && ib < b.len() {
            cb = b[ib];
            ib += 1;
            vb = !vb;
        }
        ct += cb;
    }
    (i, u)
}

/// The mask of a polygon `[x0, y0, x1, y1, …]` (pixel coordinates, x = column), bit for bit as
/// pycocotools `rleFrPoly` rasterises it.
///
/// The vertices are scaled by 5 and rounded (`(int)(5·v + 0.5)`, truncating toward zero as C
/// does), every edge is walked one upsampled step at a time, and at each change of the upsampled
/// x a boundary point is kept where `x' = (x_up + 0.5)/5 − 0.5` is a whole pixel column inside
/// the image, at row `ceil(clamp((y_up + 0.5)/5 − 0.5, 0, h))`. Sorting the column-major
/// positions of these points and taking differences gives the runs. An odd trailing coordinate
/// is ignored; no vertices give the empty mask. Arithmetic is C's: 32-bit `int` positions and
/// `uint` runs. Hand-written: no Rust crate reproduces pycocotools' rasterisation.
pub fn rle_from_polygon(xy: &[f64], height: usize, width: usize) -> Vec<u64> {
    const SCALE: f64 = 5.0;
    let k = xy.len() / 2;
    if k == 0 {
        return vec![(height * width) as u32 as u64];
    }
    // Upsample and get discrete points densely along the entire boundary.
    let up = |v: f64| (SCALE * v + 0.5) as i32;
    let mut x: Vec<i32> = (0..k).map(|j| up(xy[2 * j])).collect();
    let mut y: Vec<i32> = (0..k).map(|j| up(xy[2 * j + 1])).collect();
    x.push(x[0]);
    y.push(y[0]);
    let mut u: Vec<i32> = Vec::new();
    let mut v: Vec<i32> = Vec::new();
    for j in 0..k {
        let (mut xs, mut xe, mut ys, mut ye) = (x[j], x[j + 1], y[j], y[j + 1]);
        let dx = xe.wrapping_sub(xs).wrapping_abs();
        let dy = ys.wrapping_sub(ye).wrapping_abs();
        let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
        if flip {
            std::mem::swap(&mut xs, &mut xe);
            std::mem::swap(&mut ys, &mut ye);
        }
        if dx >= dy {
            // dx = dy = 0 gives s = NaN in C too; that point's v is never read (its u equals
            // both neighbours').
            let s = f64::from(ye - ys) / f64::from(dx);
            for d in 0..=dx {
                let t = if flip { dx - d } else { d };
                u.push(t + xs);
                v.push((f64::from(ys) + s * f64::from(t) + 0.5) as i32);
            }
        } else {
            let s = f64::from(xe - xs) / f64::from(dy);
            for d in 0..=dy {
                let t = if flip { dy - d } else { d };
                v.push(t + ys);
                u.push((f64::from(xs) + s * f64::from(t) + 0.5) as i32);
            }
        }
    }
    // Get points along the y-boundary and downsample.
    let w_last = width.wrapping_sub(1) as f64;
    let mut a: Vec<u32> = Vec::new();
    for j in 1..u.len() {
        if u[j] == u[j - 1] {
            continue;
        }
        let xd = f64::from(if u[j] < u[j - 1] { u[j] } else { u[j] - 1 });
        let xd = (xd + 0.5) / SCALE - 0.5;
        if xd.floor() != xd || xd < 0.0 || xd > w_last {
            continue;
        }
        let yd = f64::from(if v[j] < v[j - 1] { v[j] } else { v[j - 1] });
        let mut yd = (yd + 0.5) / SCALE - 0.5;
        if yd < 0.0 {
            yd = 0.0;
        } else if yd > height as f64 {
            yd = height as f64;
        }
        let yd = yd.ceil();
        let (xi, yi) = (xd as i32, yd as i32);
        a.push(xi.wrapping_mul(height as i32).wrapping_add(yi) as u32);
    }
    // Compute the RLE from the y-boundary points.
    a.push((height * width) as u32);
    a.sort_unstable();
    let mut p = 0u32;
    for e in a.iter_mut() {
        let t = *e;
        *e = e.wrapping_sub(p);
        p = t;
    }
    let mut b: Vec<u32> = vec![a[0]];
    let mut j = 1;
    while j < a.len() {
        if a[j] > 0 {
            b.push(a[j]);
            j += 1;
        } else {
            j += 1;
            if j < a.len() {
                if let Some(last) = b.last_mut() {
                    *last = last.wrapping_add(a[j]);
                }
                j += 1;
            }
        }
    }
    b.into_iter().map(u64::from).collect()
}

/// The mask of a box `[x, y, w, h]` (pycocotools `rleFrBbox`: the polygon
/// `(x, y), (x, y+h), (x+w, y+h), (x+w, y)` through [`rle_from_polygon`]).
pub fn rle_from_bbox(bb: [f64; 4], height: usize, width: usize) -> Vec<u64> {
    let (xs, ys) = (bb[0], bb[1]);
    let (xe, ye) = (xs + bb[2], ys + bb[3]);
    rle_from_polygon(&[xs, ys, xs, ye, xe, ye, xe, ys], height, width)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_strings_and_round_trips() {
        // Counts checked with pycocotools: mask.encode of a 3×4 Fortran array.
        let m = Array2::from_shape_vec(
            (3, 4),
            vec![
                false, true, true, false, false, true, true, false, false, false, false, false,
            ],
        )
        .unwrap();
        let c = rle_counts(m.view());
        assert_eq!(c.iter().sum::<u64>(), 12);
        assert_eq!(rle_decode(&c, 3, 4).unwrap(), m);
        assert_eq!(rle_from_string(&rle_to_string(&c)).unwrap(), c);
        // Empty and full masks.
        let empty = Array2::from_elem((5, 7), false);
        assert_eq!(rle_counts(empty.view()), vec![35]);
        let full = Array2::from_elem((5, 7), true);
        assert_eq!(rle_counts(full.view()), vec![0, 35]);
        // Large counts and negative differences survive the compressed form.
        let counts = vec![100_000, 3, 70_000, 1, 5, 200_000, 0, 9];
        assert_eq!(rle_from_string(&rle_to_string(&counts)).unwrap(), counts);
        assert!(rle_from_string("\u{1}").is_none());
        assert!(rle_decode(&[1, 2], 2, 2).is_none());
    }

    #[test]
    fn polygons_boxes_and_merge_as_pycocotools() {
        // Expected strings from pycocotools 2.0 (frPyObjects, merge, toBbox).
        let sq = rle_from_polygon(&[0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0, 0.0], 4, 4);
        assert_eq!(rle_to_string(&sq), "02208");
        assert_eq!(rle_from_bbox([0.0, 0.0, 2.0, 2.0], 4, 4), sq);
        let tri = rle_from_polygon(&[1.2, 0.7, 3.6, 1.1, 2.4, 3.9], 5, 5);
        assert_eq!(rle_to_string(&tri), ";3;");
        assert_eq!(rle_to_bbox(&tri, 5, 5), [2.0, 1.0, 1.0, 3.0]);
        assert_eq!(rle_area(&tri), 3);
        let sq2 = rle_from_polygon(&[1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 1.0], 4, 4);
        let union = rle_merge(&[sq.clone(), sq2.clone()], false);
        assert_eq!(rle_to_string(&union), "02210O3");
        let inter = rle_merge(&[sq.clone(), sq2.clone()], true);
        assert_eq!(rle_area(&inter), 1);
        assert_eq!(rle_merge(std::slice::from_ref(&sq), false), sq);
        assert!(rle_merge(&[], false).is_empty());
        // No vertices: the empty mask.
        assert_eq!(rle_from_polygon(&[], 3, 2), vec![6]);
    }

    #[test]
    fn iou_plain_crowd_and_shapes() {
        let mask = |h: usize, w: usize, f: &dyn Fn(usize, usize) -> bool| {
            Rle::encode(Array2::from_shape_fn((h, w), |(y, x)| f(y, x)).view())
        };
        let a = mask(6, 6, &|y, x| y < 3 && x < 4); // 12 px
        let b = mask(6, 6, &|y, x| y < 3 && x >= 2); // 12 px, 6 shared
        let far = mask(6, 6, &|y, x| y == 5 && x == 5);
        let other_shape = mask(5, 6, &|y, x| y < 3 && x < 4);
        let iou = rle_iou(
            &[a.clone(), far.clone(), other_shape],
            &[b.clone(), a.clone()],
            &[false, true],
        );
        assert_eq!(iou[[0, 0]], 6.0 / 18.0);
        assert_eq!(iou[[0, 1]], 1.0);
        assert_eq!(iou[[1, 0]], 0.0);
        assert_eq!(iou[[2, 0]], -1.0);
        // Crowd: intersection over the detection's area.
        let crowd = rle_iou(std::slice::from_ref(&b), std::slice::from_ref(&a), &[true]);
        assert_eq!(crowd[[0, 0]], 6.0 / 12.0);
        assert_eq!(a.area(), 12);
        assert_eq!(a.bbox(), [0.0, 0.0, 4.0, 3.0]);
        assert_eq!(
            Rle::encode(Array2::from_elem((3, 3), false).view()).bbox(),
            [0.0; 4]
        );
    }
}
