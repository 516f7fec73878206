//! Export a **YOLO-seg** training set (the format ultralytics YOLOv8 / YOLO11
//! `task=segment` trains on) from EM images with instance label truth.
//!
//! The truth can be the synthetic instance labels of `corrflow-synth` or any
//! user label image (0 = background, every other value = one instance) plus a
//! table mapping instance ids to class indices (see [`read_class_table`]).
//!
//! # Output layout (ultralytics convention)
//!
//! ```text
//! out/
//!   data.yaml                  path (absolute), train, val, nc, names
//!   images/train/STEM.png      8-bit grayscale PNG
//!   images/val/STEM.png
//!   labels/train/STEM.txt      one line per polygon: `class x1 y1 x2 y2 ...`
//!   labels/val/STEM.txt
//!   tiles.csv                  manifest: stem, source, split, y0, x0, height, width, polygons
//! ```
//!
//! `STEM` is the (sanitised) image name for whole-image export, or
//! `NAME_rY0_cX0` when tiling, where `Y0`/`X0` are the **pixel offsets** of the
//! tile's top-left corner in the source image (so tiles can be mapped back).
//!
//! # Format decisions
//!
//! * **Coordinates.** Polygon vertices lie on pixel *corners* (the boundary
//!   between pixels), `x` = column, `y` = row, normalised by the tile width and
//!   height, so every coordinate is in `[0, 1]` and a pixel is inside the
//!   polygon exactly when its centre is (before simplification). This is the
//!   convention `cv2.fillPoly`-style rasterisation in ultralytics expects.
//! * **One line per connected component.** Ultralytics allows one polygon per
//!   line. An instance whose mask inside a tile has several 8-connected
//!   components (e.g. a cell cut by the tile edge into two pieces, or a
//!   non-contiguous label) is written as several lines with the same class.
//!   Components smaller than [`ExportOptions::min_area_px`] pixels are dropped
//!   (they are mostly slivers cut off by tile edges).
//! * **Holes are not representable** in YOLO-seg polygons: only the outer
//!   contour is written, so a ring-shaped instance becomes a filled disc.
//! * **Simplification.** The pixel-exact staircase contour is simplified with
//!   Douglas–Peucker ([`ExportOptions::simplify_epsilon_px`], default 0.7 px),
//!   always keeping at least 3 vertices.
//! * **Tiling.** With `tile_px = Some(t)`, tiles are `t × t` with
//!   `overlap_px` overlap; the last tile in each row/column is shifted back so
//!   it ends at the image edge (full coverage, no padding). A dimension smaller
//!   than `t` gives a single tile of the image's size. Instances inside an
//!   overlap appear in both tiles, clipped to each tile.
//! * **Split.** Images are split by *source image* (deterministic for a given
//!   seed and independent of input order), so tiles of one image never land in
//!   both splits. With a single source image the tiles are split instead, and
//!   [`ExportReport::split_unit`] / `notes` say so.
//! * **Intensity.** The 8-bit mapping is computed once per *source image*
//!   (default: 0.5–99.5 percentile stretch), so all tiles of an image share
//!   one grey scale. Non-finite pixels map to 0.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2, s};
use rayon::prelude::*;
use serde::Serialize;

mod command;
pub use command::{DatasetPlugin, ExportDatasetCommand, SYNTH_CLASSES};
pub use corrflow_types::intensity::{Intensity, to_u8};
pub use corrflow_types::tiling::tile_starts;

/// One source image with its instance truth.
#[derive(Debug, Clone)]
pub struct LabeledImage<'a> {
    /// Name used for the output files (characters outside `[A-Za-z0-9._-]`
    /// are replaced by `_`). Must be unique after sanitising.
    pub name: String,
    /// Intensity image (any range; mapped to 8-bit by [`Intensity`]).
    pub image: ArrayView2<'a, f32>,
    /// Instance labels, same shape as `image`: 0 = background, else instance id.
    pub labels: ArrayView2<'a, u32>,
    /// Instance id -> class index (into `class_names`). Every non-zero id in
    /// `labels` must be present.
    pub class_of: &'a BTreeMap<u32, usize>,
}

/// Export options.
#[derive(Debug, Clone, Serialize)]
pub struct ExportOptions {
    /// Square tile size in pixels; `None` exports whole images.
    pub tile_px: Option<usize>,
    /// Overlap between neighbouring tiles (must be `< tile_px`).
    pub overlap_px: usize,
    /// Fraction of source images (or tiles, with a single source) for `val`.
    pub val_fraction: f64,
    /// Seed for the deterministic split.
    pub seed: u64,
    /// Connected components (per instance, per tile) with fewer pixels are dropped.
    pub min_area_px: usize,
    /// Douglas–Peucker tolerance in pixels (0 = keep the exact pixel contour).
    pub simplify_epsilon_px: f64,
    /// Intensity mapping to 8 bit.
    pub intensity: Intensity,
    /// Skip tiles without any polygon (otherwise they are written with an
    /// empty label file, which ultralytics treats as a background image).
    pub skip_empty_tiles: bool,
    /// Remove existing `images/`, `labels/`, `data.yaml`, `tiles.csv` in the
    /// output directory first. Without it, non-empty `images/` or `labels/`
    /// directories are an error (stale files would silently join the dataset).
    pub overwrite: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            tile_px: None,
            overlap_px: 0,
            val_fraction: 0.2,
            seed: 0,
            min_area_px: 10,
            simplify_epsilon_px: 0.7,
            intensity: Intensity::default(),
            skip_empty_tiles: false,
            overwrite: false,
        }
    }
}

/// Whether the train/val split was made over source images or tiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SplitUnit {
    SourceImage,
    Tile,
}

/// Counts for one split.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SplitCounts {
    /// Source images contributing at least one written tile.
    pub images: usize,
    /// Tiles (PNG + label file pairs) written.
    pub tiles: usize,
    /// (tile, instance) occurrences with at least one polygon, per class index.
    pub instances_per_class: Vec<usize>,
    /// Polygon lines written.
    pub polygons: usize,
}

/// Summary of an export.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub out_dir: PathBuf,
    pub data_yaml: PathBuf,
    pub source_images: usize,
    pub split_unit: SplitUnit,
    pub train: SplitCounts,
    pub val: SplitCounts,
    /// Tiles dropped by `skip_empty_tiles`.
    pub skipped_empty_tiles: usize,
    /// Connected components dropped by `min_area_px`.
    pub dropped_small_components: usize,
    /// Human-readable remarks (e.g. split fallback to tiles).
    pub notes: Vec<String>,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write PNG {path}: {source}")]
    Png {
        path: PathBuf,
        #[source]
        source: image::ImageError,
    },
    #[error("class list is empty: at least one class name is required")]
    NoClasses,
    #[error("no images to export")]
    NoImages,
    #[error(
        "image '{image}': image shape {image_shape:?} differs from label shape {label_shape:?}"
    )]
    ShapeMismatch {
        image: String,
        image_shape: (usize, usize),
        label_shape: (usize, usize),
    },
    #[error("image '{image}' is empty (shape {shape:?})")]
    EmptyImage {
        image: String,
        shape: (usize, usize),
    },
    #[error("image '{image}': label id {label} has no class in the class table")]
    MissingClass { image: String, label: u32 },
    #[error(
        "image '{image}': label id {label} maps to class index {class}, but only {n_classes} class names were given"
    )]
    ClassOutOfRange {
        image: String,
        label: u32,
        class: usize,
        n_classes: usize,
    },
    #[error("image name '{0}' is empty or used twice (after sanitising to [A-Za-z0-9._-])")]
    BadName(String),
    #[error("invalid export options: {0}")]
    InvalidOptions(String),
    #[error(
        "output directory {0} already contains images/ or labels/ files; set overwrite or choose another directory"
    )]
    OutputNotEmpty(PathBuf),
    #[error("class table {path}, line {line}: {msg}")]
    ClassTable {
        path: PathBuf,
        line: usize,
        msg: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

// ---------------------------------------------------------------------------
// Class table
// ---------------------------------------------------------------------------

/// Read a class table for a user label image.
///
/// Format: a CSV text file with one `label,class` row per instance id.
/// * `label` is the non-zero integer instance id in the label image.
/// * `class` is either a class **name** from `class_names` (matched exactly,
///   after trimming; names take precedence) or a zero-based class **index**.
/// * An optional header row whose first field is not an integer (e.g.
///   `label,class`) is skipped, as are blank lines and lines starting with `#`.
/// * Fields are trimmed; surrounding double quotes are removed.
///
/// ```text
/// label,class
/// 1,nucleus
/// 2,nucleus
/// 7,1
/// ```
///
/// Duplicate labels, label 0 and unknown classes are errors with the line number.
pub fn read_class_table(
    path: impl AsRef<Path>,
    class_names: &[String],
) -> Result<BTreeMap<u32, usize>, DatasetError> {
    let path = path.as_ref();
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    parse_class_table(&text, class_names).map_err(|(line, msg)| DatasetError::ClassTable {
        path: path.to_path_buf(),
        line,
        msg,
    })
}

/// Parse the text of a class table (see [`read_class_table`]); errors are
/// `(1-based line, message)`.
pub fn parse_class_table(
    text: &str,
    class_names: &[String],
) -> Result<BTreeMap<u32, usize>, (usize, String)> {
    let mut map = BTreeMap::new();
    let mut seen_data = false;
    for (i, raw) in text.lines().enumerate() {
        let lineno = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line
            .split(',')
            .map(|f| f.trim().trim_matches('"').trim())
            .collect();
        if fields.len() != 2 {
            return Err((
                lineno,
                format!("expected 2 fields 'label,class', found {}", fields.len()),
            ));
        }
        let label: u32 = match fields[0].parse() {
            Ok(v) => v,
            Err(_) if !seen_data && map.is_empty() => {
                seen_data = true; // header row
                continue;
            }
            Err(_) => {
                return Err((
                    lineno,
                    format!("label '{}' is not a non-negative integer", fields[0]),
                ));
            }
        };
        seen_data = true;
        if label == 0 {
            return Err((
                lineno,
                "label 0 is background and cannot have a class".into(),
            ));
        }
        let class = if let Some(idx) = class_names.iter().position(|n| n.trim() == fields[1]) {
            idx
        } else if let Ok(idx) = fields[1].parse::<usize>() {
            if idx >= class_names.len() {
                return Err((
                    lineno,
                    format!(
                        "class index {idx} out of range ({} classes)",
                        class_names.len()
                    ),
                ));
            }
            idx
        } else {
            return Err((
                lineno,
                format!(
                    "unknown class '{}' (known: {})",
                    fields[1],
                    class_names.join(", ")
                ),
            ));
        };
        if map.insert(label, class).is_some() {
            return Err((lineno, format!("label {label} listed twice")));
        }
    }
    Ok(map)
}

/// Map every non-zero id of `labels` to `class` (e.g. synthetic truth with a
/// single class).
pub fn uniform_class_map(labels: ArrayView2<'_, u32>, class: usize) -> BTreeMap<u32, usize> {
    let ids: BTreeSet<u32> = labels.iter().copied().filter(|&v| v != 0).collect();
    ids.into_iter().map(|id| (id, class)).collect()
}

// ---------------------------------------------------------------------------
// Geometry: tiling, contour tracing, simplification
// ---------------------------------------------------------------------------

/// Outer boundary of the 8-connected component containing pixel
/// `(row0, col0)`, which must be the component's first pixel in raster order.
/// `inside(col, row)` tells whether a pixel belongs to the component (and
/// must return false outside the image). Returns pixel-corner vertices
/// `(x = col, y = row)` at direction changes, clockwise on screen.
fn trace_outer(inside: impl Fn(i64, i64) -> bool, row0: usize, col0: usize) -> Vec<(i64, i64)> {
    // E, S, W, N in (dx, dy) with y pointing down; index + 1 = right turn.
    const DIRS: [(i64, i64); 4] = [(1, 0), (0, 1), (-1, 0), (0, -1)];
    let start = (col0 as i64, row0 as i64);
    let mut pts = vec![start];
    let mut v = start;
    let mut d = 0usize; // heading east along the top edge; object on the right
    loop {
        v = (v.0 + DIRS[d].0, v.1 + DIRS[d].1);
        if v == start {
            break;
        }
        let (dx, dy) = DIRS[d];
        let (rx, ry) = DIRS[(d + 1) % 4];
        let pix = |ox: i64, oy: i64| (v.0 + ox.min(0), v.1 + oy.min(0));
        let ahead_right = pix(dx + rx, dy + ry);
        let ahead_left = pix(dx - rx, dy - ry);
        let nd = if inside(ahead_left.0, ahead_left.1) {
            (d + 3) % 4 // 8-connectivity: join diagonal neighbours
        } else if inside(ahead_right.0, ahead_right.1) {
            d
        } else {
            (d + 1) % 4
        };
        if nd != d {
            pts.push(v);
        }
        d = nd;
    }
    pts
}

fn seg_dist(p: (f64, f64), a: (f64, f64), b: (f64, f64)) -> f64 {
    let (vx, vy) = (b.0 - a.0, b.1 - a.1);
    let (wx, wy) = (p.0 - a.0, p.1 - a.1);
    let l2 = vx * vx + vy * vy;
    if l2 == 0.0 {
        return (wx * wx + wy * wy).sqrt();
    }
    let t = ((wx * vx + wy * vy) / l2).clamp(0.0, 1.0);
    let (ex, ey) = (wx - t * vx, wy - t * vy);
    (ex * ex + ey * ey).sqrt()
}

/// Douglas–Peucker on an open chain; marks kept indices.
fn dp_open(pts: &[(f64, f64)], eps: f64, keep: &mut [bool]) {
    let mut stack = vec![(0usize, pts.len() - 1)];
    keep[0] = true;
    keep[pts.len() - 1] = true;
    while let Some((a, b)) = stack.pop() {
        if b <= a + 1 {
            continue;
        }
        let (mut best, mut bi) = (-1.0, a);
        for (i, &p) in pts.iter().enumerate().take(b).skip(a + 1) {
            let d = seg_dist(p, pts[a], pts[b]);
            if d > best {
                best = d;
                bi = i;
            }
        }
        if best > eps {
            keep[bi] = true;
            stack.push((a, bi));
            stack.push((bi, b));
        }
    }
}

/// Douglas–Peucker simplification of a closed polygon (no repeated end
/// vertex), keeping at least 3 vertices.
pub fn simplify_closed(pts: &[(f64, f64)], eps: f64) -> Vec<(f64, f64)> {
    let n = pts.len();
    if n <= 3 || eps <= 0.0 {
        return pts.to_vec();
    }
    // Split at vertex 0 and the vertex farthest from it.
    let far = (1..n)
        .max_by(|&i, &j| {
            let di = (pts[i].0 - pts[0].0).hypot(pts[i].1 - pts[0].1);
            let dj = (pts[j].0 - pts[0].0).hypot(pts[j].1 - pts[0].1);
            di.total_cmp(&dj)
        })
        .unwrap();
    let mut keep = vec![false; n + 1];
    let ring: Vec<(f64, f64)> = pts.iter().copied().chain(std::iter::once(pts[0])).collect();
    dp_open(&ring[..=far], eps, &mut keep[..=far]);
    dp_open(&ring[far..], eps, &mut keep[far..]);
    let mut out: Vec<(f64, f64)> = (0..n).filter(|&i| keep[i]).map(|i| pts[i]).collect();
    if out.len() < 3 {
        // Add the vertex farthest from the chord to reach a triangle.
        let (a, b) = (pts[0], pts[far]);
        if let Some(extra) = (0..n)
            .filter(|&i| i != 0 && i != far)
            .max_by(|&i, &j| seg_dist(pts[i], a, b).total_cmp(&seg_dist(pts[j], a, b)))
        {
            let mut idx = vec![0, far, extra];
            idx.sort_unstable();
            out = idx.into_iter().map(|i| pts[i]).collect();
        }
    }
    out
}

/// One polygon of one instance inside a tile (pixel-corner coordinates
/// relative to the tile's top-left corner).
#[derive(Debug, Clone, PartialEq)]
pub struct InstancePolygon {
    pub instance: u32,
    pub class: usize,
    /// Pixels in the connected component.
    pub area_px: usize,
    /// Vertices `(x = col, y = row)` in tile pixel units, in `[0, w] × [0, h]`.
    pub vertices: Vec<(f64, f64)>,
}

/// Per-tile polygon extraction result.
#[derive(Debug, Clone, Default)]
pub struct TilePolygons {
    pub polygons: Vec<InstancePolygon>,
    /// Distinct instances with at least one polygon.
    pub instances: Vec<(u32, usize)>,
    /// Components dropped because of `min_area_px`.
    pub dropped: usize,
}

/// Extract outer-contour polygons for every instance in a label tile.
/// `class_of` must contain every non-zero id (ids missing are skipped).
pub fn tile_polygons(
    labels: ArrayView2<'_, u32>,
    class_of: &BTreeMap<u32, usize>,
    min_area_px: usize,
    epsilon_px: f64,
) -> TilePolygons {
    let (h, w) = labels.dim();
    // Bounding boxes per instance: (r0, c0, r1, c1) inclusive.
    let mut bbox: BTreeMap<u32, (usize, usize, usize, usize)> = BTreeMap::new();
    for ((r, c), &id) in labels.indexed_iter() {
        if id == 0 {
            continue;
        }
        bbox.entry(id)
            .and_modify(|b| {
                b.0 = b.0.min(r);
                b.1 = b.1.min(c);
                b.2 = b.2.max(r);
                b.3 = b.3.max(c);
            })
            .or_insert((r, c, r, c));
    }
    let mut out = TilePolygons::default();
    for (&id, &(r0, c0, r1, c1)) in &bbox {
        let Some(&class) = class_of.get(&id) else {
            continue;
        };
        let sub = labels.slice(s![r0..=r1, c0..=c1]);
        let (bh, bw) = sub.dim();
        // 8-connected component labelling within the bounding box.
        let mut comp = Array2::<u32>::zeros((bh, bw));
        let mut n_comp = 0u32;
        let mut stack = Vec::new();
        let mut any = false;
        for r in 0..bh {
            for c in 0..bw {
                if sub[(r, c)] != id || comp[(r, c)] != 0 {
                    continue;
                }
                n_comp += 1;
                let k = n_comp;
                comp[(r, c)] = k;
                stack.push((r, c));
                let mut area = 0usize;
                while let Some((pr, pc)) = stack.pop() {
                    area += 1;
                    for dr in -1i64..=1 {
                        for dc in -1i64..=1 {
                            let (nr, nc) = (pr as i64 + dr, pc as i64 + dc);
                            if nr < 0 || nc < 0 || nr >= bh as i64 || nc >= bw as i64 {
                                continue;
                            }
                            let (nr, nc) = (nr as usize, nc as usize);
                            if sub[(nr, nc)] == id && comp[(nr, nc)] == 0 {
                                comp[(nr, nc)] = k;
                                stack.push((nr, nc));
                            }
                        }
                    }
                }
                if area < min_area_px.max(1) {
                    out.dropped += 1;
                    continue;
                }
                let comp_ref = &comp;
                let inside = |x: i64, y: i64| {
                    x >= 0
                        && y >= 0
                        && (x as usize) < bw
                        && (y as usize) < bh
                        && comp_ref[(y as usize, x as usize)] == k
                };
                let raw = trace_outer(inside, r, c);
                let pts: Vec<(f64, f64)> = raw
                    .iter()
                    .map(|&(x, y)| ((x + c0 as i64) as f64, (y + r0 as i64) as f64))
                    .collect();
                let vertices = simplify_closed(&pts, epsilon_px);
                debug_assert!(
                    vertices
                        .iter()
                        .all(|&(x, y)| x >= 0.0 && y >= 0.0 && x <= w as f64 && y <= h as f64)
                );
                out.polygons.push(InstancePolygon {
                    instance: id,
                    class,
                    area_px: area,
                    vertices,
                });
                any = true;
            }
        }
        if any {
            out.instances.push((id, class));
        }
    }
    out
}

/// Format a YOLO-seg label line with coordinates normalised by `w`, `h`.
pub fn format_label_line(class: usize, vertices: &[(f64, f64)], w: usize, h: usize) -> String {
    let mut s = class.to_string();
    for &(x, y) in vertices {
        let nx = (x / w as f64).clamp(0.0, 1.0);
        let ny = (y / h as f64).clamp(0.0, 1.0);
        let _ = write!(s, " {nx:.6} {ny:.6}");
    }
    s
}

// ---------------------------------------------------------------------------
// Split
// ---------------------------------------------------------------------------

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic split of `keys` (any order): returns the set of keys that go
/// to `val`. Keys are sorted first so the result does not depend on input
/// order; `round(n * val_fraction)` keys go to val, clamped to `[1, n-1]` when
/// `val_fraction > 0` and `n >= 2`.
pub fn split_val(keys: &[String], val_fraction: f64, seed: u64) -> HashSet<String> {
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    let n = sorted.len();
    let mut n_val = (n as f64 * val_fraction).round() as usize;
    if val_fraction > 0.0 && n >= 2 {
        n_val = n_val.clamp(1, n - 1);
    }
    n_val = n_val.min(n);
    let mut state = seed ^ 0xC0FF_EE00_D15E_A5E5;
    // Fisher–Yates
    for i in (1..n).rev() {
        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
        sorted.swap(i, j);
    }
    sorted.into_iter().take(n_val).cloned().collect()
}

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn yaml_quote(s: &str) -> String {
    let mut q = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(q, "\\x{:02x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Content of `data.yaml` for ultralytics.
pub fn data_yaml(abs_out: &Path, class_names: &[String]) -> String {
    let mut y = String::new();
    let _ = writeln!(y, "# YOLO-seg dataset written by corrflow-dataset");
    let _ = writeln!(y, "path: {}", yaml_quote(&abs_out.to_string_lossy()));
    let _ = writeln!(y, "train: images/train");
    let _ = writeln!(y, "val: images/val");
    let _ = writeln!(y, "nc: {}", class_names.len());
    let _ = writeln!(y, "names:");
    for (i, n) in class_names.iter().enumerate() {
        let _ = writeln!(y, "  {i}: {}", yaml_quote(n));
    }
    y
}

struct Tile {
    img: usize,
    y0: usize,
    x0: usize,
    h: usize,
    w: usize,
    stem: String,
    polys: TilePolygons,
    val: bool,
}

fn dir_nonempty(p: &Path) -> bool {
    fs::read_dir(p)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

/// Export a YOLO-seg dataset to `out` (created if needed). See the crate docs
/// for the layout and conventions.
pub fn export_yolo_seg<'a>(
    out: &Path,
    class_names: &[String],
    images: impl IntoIterator<Item = LabeledImage<'a>>,
    opts: &ExportOptions,
) -> Result<ExportReport, DatasetError> {
    if class_names.is_empty() {
        return Err(DatasetError::NoClasses);
    }
    if let Some(t) = opts.tile_px {
        if t == 0 {
            return Err(DatasetError::InvalidOptions("tile_px must be > 0".into()));
        }
        if opts.overlap_px >= t {
            return Err(DatasetError::InvalidOptions(format!(
                "overlap_px ({}) must be smaller than tile_px ({t})",
                opts.overlap_px
            )));
        }
    }
    if !(0.0..=1.0).contains(&opts.val_fraction) {
        return Err(DatasetError::InvalidOptions(format!(
            "val_fraction must be in [0, 1], got {}",
            opts.val_fraction
        )));
    }
    if opts.simplify_epsilon_px.is_nan() || opts.simplify_epsilon_px < 0.0 {
        return Err(DatasetError::InvalidOptions(
            "simplify_epsilon_px must be >= 0".into(),
        ));
    }
    let images: Vec<LabeledImage<'a>> = images.into_iter().collect();
    if images.is_empty() {
        return Err(DatasetError::NoImages);
    }

    // Validate images, names and class tables before touching the disk.
    let mut stems = Vec::with_capacity(images.len());
    let mut seen = HashSet::new();
    for im in &images {
        let stem = sanitize(&im.name);
        if stem.is_empty() || !seen.insert(stem.clone()) {
            return Err(DatasetError::BadName(im.name.clone()));
        }
        stems.push(stem);
        if im.image.dim() != im.labels.dim() {
            return Err(DatasetError::ShapeMismatch {
                image: im.name.clone(),
                image_shape: im.image.dim(),
                label_shape: im.labels.dim(),
            });
        }
        let (h, w) = im.image.dim();
        if h == 0 || w == 0 {
            return Err(DatasetError::EmptyImage {
                image: im.name.clone(),
                shape: (h, w),
            });
        }
        let ids: BTreeSet<u32> = im.labels.iter().copied().filter(|&v| v != 0).collect();
        for id in ids {
            match im.class_of.get(&id) {
                None => {
                    return Err(DatasetError::MissingClass {
                        image: im.name.clone(),
                        label: id,
                    });
                }
                Some(&c) if c >= class_names.len() => {
                    return Err(DatasetError::ClassOutOfRange {
                        image: im.name.clone(),
                        label: id,
                        class: c,
                        n_classes: class_names.len(),
                    });
                }
                _ => {}
            }
        }
    }

    // Tiles and polygons.
    let mut tiles = Vec::new();
    for (idx, im) in images.iter().enumerate() {
        let (h, w) = im.image.dim();
        let (ys, th) = match opts.tile_px {
            Some(t) => tile_starts(h, t, opts.overlap_px),
            None => (vec![0], h),
        };
        let (xs, tw) = match opts.tile_px {
            Some(t) => tile_starts(w, t, opts.overlap_px),
            None => (vec![0], w),
        };
        for &y0 in &ys {
            for &x0 in &xs {
                let stem = if opts.tile_px.is_some() {
                    format!("{}_r{y0}_c{x0}", stems[idx])
                } else {
                    stems[idx].clone()
                };
                tiles.push(Tile {
                    img: idx,
                    y0,
                    x0,
                    h: th,
                    w: tw,
                    stem,
                    polys: TilePolygons::default(),
                    val: false,
                });
            }
        }
    }
    tiles.par_iter_mut().for_each(|t| {
        let im = &images[t.img];
        let lab = im.labels.slice(s![t.y0..t.y0 + t.h, t.x0..t.x0 + t.w]);
        t.polys = tile_polygons(lab, im.class_of, opts.min_area_px, opts.simplify_epsilon_px);
    });
    let dropped_small_components = tiles.iter().map(|t| t.polys.dropped).sum();
    let before = tiles.len();
    if opts.skip_empty_tiles {
        tiles.retain(|t| !t.polys.polygons.is_empty());
    }
    let skipped_empty_tiles = before - tiles.len();

    // Split.
    let mut notes = Vec::new();
    let split_unit = if images.len() == 1 {
        let keys: Vec<String> = tiles.iter().map(|t| t.stem.clone()).collect();
        let val = split_val(&keys, opts.val_fraction, opts.seed);
        for t in &mut tiles {
            t.val = val.contains(&t.stem);
        }
        notes.push(
            "single source image: the train/val split was made over tiles, so val tiles \
             come from the same image as train tiles (and may overlap them)"
                .to_string(),
        );
        SplitUnit::Tile
    } else {
        let val = split_val(&stems, opts.val_fraction, opts.seed);
        for t in &mut tiles {
            t.val = val.contains(&stems[t.img]);
        }
        SplitUnit::SourceImage
    };

    // Output directories.
    fs::create_dir_all(out).map_err(io_err(out))?;
    for sub in ["images", "labels"] {
        let p = out.join(sub);
        if p.exists() {
            if opts.overwrite {
                fs::remove_dir_all(&p).map_err(io_err(&p))?;
            } else if dir_nonempty(&p.join("train")) || dir_nonempty(&p.join("val")) {
                return Err(DatasetError::OutputNotEmpty(out.to_path_buf()));
            }
        }
    }
    for sub in ["images/train", "images/val", "labels/train", "labels/val"] {
        let p = out.join(sub);
        fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    let abs_out = fs::canonicalize(out).map_err(io_err(out))?;

    // Write tiles, image by image (the 8-bit mapping is per source image).
    for (idx, im) in images.iter().enumerate() {
        let grey = to_u8(im.image, opts.intensity);
        tiles.par_iter().filter(|t| t.img == idx).try_for_each(
            |t| -> Result<(), DatasetError> {
                let split = if t.val { "val" } else { "train" };
                let png = out
                    .join("images")
                    .join(split)
                    .join(format!("{}.png", t.stem));
                let buf: Vec<u8> = grey
                    .slice(s![t.y0..t.y0 + t.h, t.x0..t.x0 + t.w])
                    .iter()
                    .copied()
                    .collect();
                image::save_buffer_with_format(
                    &png,
                    &buf,
                    t.w as u32,
                    t.h as u32,
                    image::ExtendedColorType::L8,
                    image::ImageFormat::Png,
                )
                .map_err(|source| DatasetError::Png {
                    path: png.clone(),
                    source,
                })?;
                let txt = out
                    .join("labels")
                    .join(split)
                    .join(format!("{}.txt", t.stem));
                let mut body = String::new();
                for p in &t.polys.polygons {
                    body.push_str(&format_label_line(p.class, &p.vertices, t.w, t.h));
                    body.push('\n');
                }
                fs::write(&txt, body).map_err(io_err(&txt))
            },
        )?;
    }

    // Manifest and data.yaml.
    let mut csv = String::from("stem,source,split,y0,x0,height,width,polygons\n");
    for t in &tiles {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{}",
            t.stem,
            stems[t.img],
            if t.val { "val" } else { "train" },
            t.y0,
            t.x0,
            t.h,
            t.w,
            t.polys.polygons.len()
        );
    }
    let manifest = out.join("tiles.csv");
    fs::write(&manifest, csv).map_err(io_err(&manifest))?;
    let yaml_path = out.join("data.yaml");
    fs::write(&yaml_path, data_yaml(&abs_out, class_names)).map_err(io_err(&yaml_path))?;

    // Report.
    let nc = class_names.len();
    let mut train = SplitCounts {
        instances_per_class: vec![0; nc],
        ..Default::default()
    };
    let mut val = train.clone();
    let (mut train_imgs, mut val_imgs) = (BTreeSet::new(), BTreeSet::new());
    for t in &tiles {
        let (c, set) = if t.val {
            (&mut val, &mut val_imgs)
        } else {
            (&mut train, &mut train_imgs)
        };
        set.insert(t.img);
        c.tiles += 1;
        c.polygons += t.polys.polygons.len();
        for &(_, class) in &t.polys.instances {
            c.instances_per_class[class] += 1;
        }
    }
    train.images = train_imgs.len();
    val.images = val_imgs.len();
    if val.tiles == 0 && opts.val_fraction > 0.0 {
        notes.push("the val split is empty (too few images/tiles for val_fraction)".into());
    }
    Ok(ExportReport {
        out_dir: abs_out,
        data_yaml: yaml_path,
        source_images: images.len(),
        split_unit,
        train,
        val,
        skipped_empty_tiles,
        dropped_small_components,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_pixel_trace() {
        let mut l = Array2::<u32>::zeros((3, 3));
        l[(1, 1)] = 5;
        let m = BTreeMap::from([(5, 0)]);
        let p = tile_polygons(l.view(), &m, 1, 0.0);
        assert_eq!(p.polygons.len(), 1);
        assert_eq!(
            p.polygons[0].vertices,
            vec![(1.0, 1.0), (2.0, 1.0), (2.0, 2.0), (1.0, 2.0)]
        );
    }

    #[test]
    fn diagonal_pixels_are_one_component() {
        let mut l = Array2::<u32>::zeros((4, 4));
        l[(1, 1)] = 1;
        l[(2, 2)] = 1;
        let m = BTreeMap::from([(1, 0)]);
        let p = tile_polygons(l.view(), &m, 1, 0.0);
        assert_eq!(p.polygons.len(), 1);
        assert_eq!(p.polygons[0].area_px, 2);
        assert_eq!(p.polygons[0].vertices.len(), 8);
    }

    #[test]
    fn tile_starts_cover() {
        assert_eq!(tile_starts(100, 40, 10), (vec![0, 30, 60], 40));
        assert_eq!(tile_starts(100, 50, 0), (vec![0, 50], 50));
        assert_eq!(tile_starts(30, 64, 8), (vec![0], 30));
        assert_eq!(tile_starts(64, 64, 8), (vec![0], 64));
    }

    #[test]
    fn class_table_parsing() {
        let names = vec!["nucleus".to_string(), "cell".to_string()];
        let m =
            parse_class_table("label,class\n# c\n1,nucleus\n\n2, 1\n3,\"cell\"\n", &names).unwrap();
        assert_eq!(m, BTreeMap::from([(1, 0), (2, 1), (3, 1)]));
        assert_eq!(parse_class_table("1,golgi", &names).unwrap_err().0, 1);
        assert_eq!(parse_class_table("1,0\n1,1", &names).unwrap_err().0, 2);
        assert_eq!(parse_class_table("1,5", &names).unwrap_err().0, 1);
        assert_eq!(parse_class_table("0,0", &names).unwrap_err().0, 1);
        assert_eq!(parse_class_table("1,0\nx,0", &names).unwrap_err().0, 2);
    }

    #[test]
    fn yaml_escaping() {
        let y = data_yaml(Path::new("/a b/c"), &["a\"b".to_string()]);
        assert!(y.contains("path: \"/a b/c\""));
        assert!(y.contains("  0: \"a\\\"b\""));
    }
}
