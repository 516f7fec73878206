//! Merging instances found on overlapping tiles into one set for the whole image.
//!
//! An object in the overlap of two tiles is found twice (whole, or cut by a tile edge); an object
//! larger than a tile is found in pieces that share the overlap bands. Both tiles see the same
//! pixels where they overlap, so two instances from different tiles are the same object when their
//! masks agree there: with W the intersection of the two tiles,
//! IoS = |A ∩ B| / min(|A ∩ W|, |B ∩ W|) > `min_ios` (pixels). Groups linked this way
//! (transitively) become one instance: the union of the masks, the union of the boxes, the highest
//! score and that member's class.

use corrflow_types::{Instance, Mask};
use ndarray::{Array2, s};

/// How instances from different tiles are merged.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeOptions {
    /// Intersection over the smaller mask above which two instances are one object (0–1).
    pub min_ios: f32,
    /// Merge only instances of the same class (otherwise the higher-scoring class wins).
    pub same_class: bool,
}

impl Default for MergeOptions {
    fn default() -> Self {
        Self {
            min_ios: 0.5,
            same_class: true,
        }
    }
}

/// A tile's window in the image: `[x0, y0, x1, y1)` px.
pub type Window = [usize; 4];

/// Merge per-tile instances (already in image coordinates), by descending score. Each tile comes
/// with its window.
pub fn merge_tiles(per_tile: Vec<(Window, Vec<Instance>)>, opts: &MergeOptions) -> Vec<Instance> {
    let windows: Vec<Window> = per_tile.iter().map(|(w, _)| *w).collect();
    let mut all: Vec<(usize, Instance)> = per_tile
        .into_iter()
        .enumerate()
        .flat_map(|(t, (_, v))| v.into_iter().map(move |i| (t, i)))
        .collect();
    let n = all.len();
    let mut parent: Vec<usize> = (0..n).collect();
    // Sweep over x: only instances whose mask boxes overlap in x are compared.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| all[i].1.mask.x0);
    for (k, &i) in order.iter().enumerate() {
        let mi = &all[i].1.mask;
        for &j in &order[k + 1..] {
            let mj = &all[j].1.mask;
            if mj.x0 >= mi.x1() {
                break;
            }
            if all[i].0 == all[j].0 || (opts.same_class && all[i].1.class_id != all[j].1.class_id) {
                continue;
            }
            let (wi, wj) = (windows[all[i].0], windows[all[j].0]);
            let shared = [
                wi[0].max(wj[0]),
                wi[1].max(wj[1]),
                wi[2].min(wj[2]),
                wi[3].min(wj[3]),
            ];
            if shared[0] >= shared[2] || shared[1] >= shared[3] {
                continue;
            }
            let inter = intersection(mi, mj);
            let smaller = area_in(mi, shared).min(area_in(mj, shared));
            if smaller > 0 && inter as f32 / smaller as f32 > opts.min_ios {
                union(&mut parent, i, j);
            }
        }
    }
    let mut groups: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for i in 0..n {
        groups.entry(find(&mut parent, i)).or_default().push(i);
    }
    let mut taken: Vec<Option<Instance>> = all.drain(..).map(|(_, i)| Some(i)).collect();
    let mut out: Vec<Instance> = groups
        .into_values()
        .map(|members| {
            let parts: Vec<Instance> = members.iter().filter_map(|&m| taken[m].take()).collect();
            combine(parts)
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    out
}

fn find(parent: &mut [usize], mut i: usize) -> usize {
    while parent[i] != i {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        parent[ra.max(rb)] = ra.min(rb);
    }
}

/// Pixels of a mask inside a window `[x0, y0, x1, y1)`.
fn area_in(m: &Mask, w: Window) -> usize {
    let (x0, y0) = (m.x0.max(w[0]), m.y0.max(w[1]));
    let (x1, y1) = (m.x1().min(w[2]), m.y1().min(w[3]));
    if x0 >= x1 || y0 >= y1 {
        return 0;
    }
    m.data
        .slice(s![y0 - m.y0..y1 - m.y0, x0 - m.x0..x1 - m.x0])
        .iter()
        .filter(|&&v| v)
        .count()
}

/// Pixels inside both masks.
fn intersection(a: &Mask, b: &Mask) -> usize {
    let (x0, y0) = (a.x0.max(b.x0), a.y0.max(b.y0));
    let (x1, y1) = (a.x1().min(b.x1()), a.y1().min(b.y1()));
    if x0 >= x1 || y0 >= y1 {
        return 0;
    }
    let va = a.data.slice(s![y0 - a.y0..y1 - a.y0, x0 - a.x0..x1 - a.x0]);
    let vb = b.data.slice(s![y0 - b.y0..y1 - b.y0, x0 - b.x0..x1 - b.x0]);
    va.iter().zip(vb.iter()).filter(|&(&p, &q)| p && q).count()
}

/// One instance from the pieces of one object.
fn combine(mut parts: Vec<Instance>) -> Instance {
    parts.sort_by(|a, b| b.score.total_cmp(&a.score));
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let x0 = parts.iter().map(|p| p.mask.x0).min().unwrap_or(0);
    let y0 = parts.iter().map(|p| p.mask.y0).min().unwrap_or(0);
    let x1 = parts.iter().map(|p| p.mask.x1()).max().unwrap_or(0);
    let y1 = parts.iter().map(|p| p.mask.y1()).max().unwrap_or(0);
    let mut data = Array2::from_elem((y1 - y0, x1 - x0), false);
    for p in &parts {
        let m = &p.mask;
        let mut region = data.slice_mut(s![m.y0 - y0..m.y1() - y0, m.x0 - x0..m.x1() - x0]);
        region.zip_mut_with(&m.data, |o, &v| *o |= v);
    }
    let bbox = parts.iter().fold(
        [
            f32::INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ],
        |b, p| {
            [
                b[0].min(p.bbox[0]),
                b[1].min(p.bbox[1]),
                b[2].max(p.bbox[2]),
                b[3].max(p.bbox[3]),
            ]
        },
    );
    Instance {
        class_id: parts[0].class_id,
        score: parts[0].score,
        bbox,
        mask: Mask::new(x0, y0, data),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(class_id: u32, score: f32, x0: usize, y0: usize, w: usize, h: usize) -> Instance {
        Instance {
            class_id,
            score,
            bbox: [x0 as f32, y0 as f32, (x0 + w) as f32, (y0 + h) as f32],
            mask: Mask::new(x0, y0, Array2::from_elem((h, w), true)),
        }
    }

    #[test]
    fn pieces_of_one_object_across_a_tile_edge_become_one() {
        // A long object x 30..200 seen by tile 0 (x 0..125, cut at 125) and tile 1 (x 100..400,
        // cut at 100): in the shared window x 100..125 both pieces cover the same 25 columns,
        // although that is a small part of either piece.
        let a = rect(1, 0.8, 30, 10, 95, 20);
        let b = rect(1, 0.9, 100, 10, 100, 20);
        let other = rect(1, 0.7, 300, 10, 10, 10);
        let out = merge_tiles(
            vec![
                ([0, 0, 125, 125], vec![a]),
                ([100, 0, 400, 125], vec![b, other.clone()]),
            ],
            &MergeOptions::default(),
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].mask.box_px(), [30, 10, 200, 30]);
        assert_eq!(out[0].mask.area_px(), 170 * 20);
        assert_eq!(out[0].score, 0.9);
        assert_eq!(out[0].bbox, [30.0, 10.0, 200.0, 30.0]);
        assert_eq!(out[1], other);
    }

    #[test]
    fn same_tile_and_other_class_are_not_merged() {
        let a = rect(0, 0.8, 0, 0, 10, 10);
        let b = rect(0, 0.7, 2, 2, 10, 10);
        let c = rect(2, 0.6, 0, 0, 10, 10);
        let whole = [0, 0, 50, 50];
        let out = merge_tiles(
            vec![
                (whole, vec![a.clone(), b.clone()]),
                (whole, vec![c.clone()]),
            ],
            &MergeOptions::default(),
        );
        assert_eq!(
            out.len(),
            3,
            "same tile (a, b) and other class (c) stay apart"
        );
        let any = merge_tiles(
            vec![(whole, vec![a]), (whole, vec![c])],
            &MergeOptions {
                same_class: false,
                ..Default::default()
            },
        );
        assert_eq!(any.len(), 1);
        assert_eq!(any[0].class_id, 0, "the higher score's class");
    }

    #[test]
    fn small_overlap_keeps_neighbours_apart() {
        // Two touching vesicles overlapping by 2 of 100 px
        let a = rect(5, 0.8, 0, 0, 10, 10);
        let b = rect(5, 0.8, 8, 9, 10, 10);
        let whole = [0, 0, 50, 50];
        let out = merge_tiles(
            vec![(whole, vec![a]), (whole, vec![b])],
            &MergeOptions::default(),
        );
        assert_eq!(out.len(), 2);
    }
}
