//! Region properties of segmented instances, as scikit-image 0.26 `skimage.measure.regionprops`
//! computes them on each instance's binary mask, in pixels and in µm.
//!
//! Conventions (those of skimage): a pixel (row r, column c) is the point (r, c); the region's
//! pixel count is its area; moments are sums over the region's pixels. Lengths in µm are the pixel
//! values times the pixel side `s = pixel_size_nm / 1000` (µm), areas times `s²`.
//!
//! Where skimage's floating-point arithmetic is ill-conditioned (the minor axis of a straight line,
//! the eccentricity and orientation of an isotropic region) the values here are computed from
//! exact integer moment sums and are the exact values rounded once or twice; skimage's differ from
//! them by its rounding noise (see `tests/skimage_regionprops.rs` for the measured deviations).

use std::f64::consts::{FRAC_PI_4, PI, SQRT_2};

use corrflow_stage::StageError;
use corrflow_types::{Column, Instances, Mask, Table, TableColumn};
use ndarray::{Array2, ArrayView2, s};
use rayon::prelude::*;
use serde::Serialize;

/// What can go wrong while measuring regions.
#[derive(Debug, thiserror::Error)]
pub enum RegionPropsError {
    /// The intensity image does not cover the instances' image.
    #[error("intensity image is {got_h}×{got_w} px but the instances lie on a {h}×{w} px image")]
    IntensityShape {
        got_h: usize,
        got_w: usize,
        h: usize,
        w: usize,
    },
    /// An instance's mask box leaves the image.
    #[error(
        "instance {index} has mask box {mask_box:?} (x0, y0, x1, y1), which leaves the {h}×{w} px image"
    )]
    MaskOutside {
        index: usize,
        mask_box: [usize; 4],
        h: usize,
        w: usize,
    },
    /// The pixel size is not a positive finite number.
    #[error("pixel size {0} nm is not a positive finite number")]
    PixelSize(f64),
    /// Properties and instances do not pair up.
    #[error("{props} region properties given for {instances} instances")]
    Count { props: usize, instances: usize },
    /// The table could not be built.
    #[error("region properties table: {0}")]
    Table(#[source] StageError),
}

impl From<RegionPropsError> for StageError {
    fn from(e: RegionPropsError) -> Self {
        StageError::input(e.to_string())
    }
}

/// The properties of one instance. Pixel coordinates are those of the whole image (row, column);
/// an instance whose mask has no pixel gets area 0, perimeter 0, `bbox` of zero extent at its mask
/// box origin, `touches_border` false and NaN for every other number.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionProps {
    /// Index of the instance in [`Instances::instances`].
    pub index: usize,
    /// Class id of the instance.
    pub class_id: u32,
    /// Number of pixels (px²); skimage `area`.
    pub area_px: u64,
    /// `area_px · s²` (µm²).
    pub area_um2: f64,
    /// skimage `perimeter` (neighbourhood 4): the pixels of the region that have a 4-neighbour
    /// outside it form the border; each border pixel is weighted by the configuration of its
    /// border 8-neighbours: 1 (straight run), √2 (diagonal run) or (1 + √2)/2 (corner), others 0
    /// (so a single pixel has perimeter 0). In px.
    pub perimeter_px: f64,
    /// `perimeter_px · s` (µm).
    pub perimeter_um: f64,
    /// Diameter of the disc of the same area, `√(4·area/π)` (px); skimage
    /// `equivalent_diameter_area`.
    pub equivalent_diameter_px: f64,
    /// `equivalent_diameter_px · s` (µm).
    pub equivalent_diameter_um: f64,
    /// `4·√λ₁` (px), λ₁ ≥ λ₂ the eigenvalues of the inertia tensor
    /// `[[μ02, −μ11], [−μ11, μ20]] / μ00` (μpq the central moments, p along rows); the major axis
    /// of the ellipse with the region's second moments; skimage `axis_major_length`.
    pub major_axis_px: f64,
    /// `major_axis_px · s` (µm).
    pub major_axis_um: f64,
    /// `4·√λ₂` (px); skimage `axis_minor_length`.
    pub minor_axis_px: f64,
    /// `minor_axis_px · s` (µm).
    pub minor_axis_um: f64,
    /// `√(1 − λ₂/λ₁)` (0 for a circle or a single pixel, → 1 for a line); skimage `eccentricity`.
    pub eccentricity: f64,
    /// Number of pixels whose centre lies inside or on the convex hull of the region's pixels,
    /// each pixel taken as the diamond of its four edge midpoints (skimage
    /// `convex_hull_image(image)`; skimage `area_convex`) (px²).
    pub convex_area_px: u64,
    /// `area_px / convex_area_px`; skimage `solidity`.
    pub solidity: f64,
    /// `4π·area_px / perimeter_px²` (1 for an ideal disc; NaN when the perimeter is 0, as for a
    /// single pixel or a 1–2 px line). Not a skimage property; defined here.
    pub circularity: f64,
    /// Angle (radians, in [−π/2, π/2]) between the row axis (axis 0) and the major axis, as
    /// skimage `orientation`: `½·atan2(2·μ11, μ20 − μ02)`, and ∓π/4 when μ20 = μ02 (−π/4 unless
    /// μ11 > 0).
    pub orientation_rad: f64,
    /// Mean row of the region's pixels (px); skimage `centroid[0]`.
    pub centroid_row_px: f64,
    /// Mean column of the region's pixels (px); skimage `centroid[1]`.
    pub centroid_col_px: f64,
    /// (min_row, min_col, max_row, max_col) of the region's pixels, max exclusive (px); skimage
    /// `bbox`.
    pub bbox: [usize; 4],
    /// Mean of the intensity image over the region's pixels (accumulated in f64; skimage's
    /// `intensity_mean` accumulates a f32 image in f32); `None` when no intensity image was given.
    pub mean_intensity: Option<f64>,
    /// Whether a pixel of the region lies on the first or last row or column of the image.
    pub touches_border: bool,
}

/// The properties of every instance (in parallel), with the mean of `intensity` over each when
/// given; `intensity` must be (height, width) of the instances' image.
pub fn region_props(
    instances: &Instances,
    intensity: Option<ArrayView2<f32>>,
) -> Result<Vec<RegionProps>, RegionPropsError> {
    check_input(instances, intensity.as_ref())?;
    let um_per_px = instances.pixel_size_nm / 1000.0;
    let (h, w) = (instances.height, instances.width);
    Ok(instances
        .instances
        .par_iter()
        .enumerate()
        .map(|(index, inst)| {
            let mut p = mask_props(&inst.mask, (h, w), um_per_px, intensity.as_ref());
            p.index = index;
            p.class_id = inst.class_id;
            p
        })
        .collect())
}

fn check_input(
    instances: &Instances,
    intensity: Option<&ArrayView2<f32>>,
) -> Result<(), RegionPropsError> {
    let (h, w) = (instances.height, instances.width);
    let s = instances.pixel_size_nm;
    if !(s.is_finite() && s > 0.0) {
        return Err(RegionPropsError::PixelSize(s));
    }
    if let Some(img) = intensity
        && img.dim() != (h, w)
    {
        return Err(RegionPropsError::IntensityShape {
            got_h: img.nrows(),
            got_w: img.ncols(),
            h,
            w,
        });
    }
    for (index, inst) in instances.instances.iter().enumerate() {
        if inst.mask.x1() > w || inst.mask.y1() > h {
            return Err(RegionPropsError::MaskOutside {
                index,
                mask_box: inst.mask.box_px(),
                h,
                w,
            });
        }
    }
    Ok(())
}

/// The properties of one mask on an image of `(height, width)` px with pixels of `um_per_px` µm
/// (`index` and `class_id` are left 0). The mask must lie inside the image and `intensity`, when
/// given, must be (height, width) (checked by [`region_props`]).
fn mask_props(
    mask: &Mask,
    (h, w): (usize, usize),
    um_per_px: f64,
    intensity: Option<&ArrayView2<f32>>,
) -> RegionProps {
    let m = Moments::of(mask);
    let mean_intensity = intensity.map(|img| mean_over(mask, img));
    let Some(bbox) = m.bbox else {
        return empty_props(mask, mean_intensity);
    };
    let area = m.n as f64;
    let perimeter = perimeter_px(mask.data.view());
    let convex = convex_area_px(mask.data.view());
    let axes = m.axes();
    let equivalent_diameter = (4.0 * area / PI).sqrt();
    RegionProps {
        index: 0,
        class_id: 0,
        area_px: m.n as u64,
        area_um2: area * um_per_px * um_per_px,
        perimeter_px: perimeter,
        perimeter_um: perimeter * um_per_px,
        equivalent_diameter_px: equivalent_diameter,
        equivalent_diameter_um: equivalent_diameter * um_per_px,
        major_axis_px: axes.major,
        major_axis_um: axes.major * um_per_px,
        minor_axis_px: axes.minor,
        minor_axis_um: axes.minor * um_per_px,
        eccentricity: axes.eccentricity,
        convex_area_px: convex,
        solidity: area / convex as f64,
        circularity: circularity(area, perimeter),
        orientation_rad: axes.orientation,
        centroid_row_px: m.sr as f64 / area,
        centroid_col_px: m.sc as f64 / area,
        bbox,
        mean_intensity,
        touches_border: bbox[0] == 0 || bbox[1] == 0 || bbox[2] == h || bbox[3] == w,
    }
}

fn empty_props(mask: &Mask, mean_intensity: Option<f64>) -> RegionProps {
    let nan = f64::NAN;
    RegionProps {
        index: 0,
        class_id: 0,
        area_px: 0,
        area_um2: 0.0,
        perimeter_px: 0.0,
        perimeter_um: 0.0,
        equivalent_diameter_px: 0.0,
        equivalent_diameter_um: 0.0,
        major_axis_px: nan,
        major_axis_um: nan,
        minor_axis_px: nan,
        minor_axis_um: nan,
        eccentricity: nan,
        convex_area_px: 0,
        solidity: nan,
        circularity: nan,
        orientation_rad: nan,
        centroid_row_px: nan,
        centroid_col_px: nan,
        bbox: [mask.y0, mask.x0, mask.y0, mask.x0],
        mean_intensity,
        touches_border: false,
    }
}

/// `4π·area / perimeter²`, NaN when the perimeter is 0.
fn circularity(area: f64, perimeter: f64) -> f64 {
    if perimeter > 0.0 {
        4.0 * PI * area / (perimeter * perimeter)
    } else {
        f64::NAN
    }
}

/// Mean of `img` over the mask's pixels (f64 accumulation; NaN for an empty mask).
fn mean_over(mask: &Mask, img: &ArrayView2<f32>) -> f64 {
    let (mut sum, mut n) = (0.0f64, 0u64);
    for ((r, c), &v) in mask.data.indexed_iter() {
        if v && let Some(&x) = img.get((mask.y0 + r, mask.x0 + c)) {
            sum += f64::from(x);
            n += 1;
        }
    }
    sum / n as f64
}

/// Exact integer sums over a mask's pixels: count, first and second moments of the image
/// coordinates (row r, column c), and the tight box.
struct Moments {
    n: i128,
    /// Σr, Σc (image coordinates).
    sr: i128,
    sc: i128,
    /// Σr², Σc², Σrc in coordinates local to the mask box (central moments do not depend on the
    /// origin; small numbers keep the products below in range).
    lr: i128,
    lc: i128,
    lrr: i128,
    lcc: i128,
    lrc: i128,
    /// (min_row, min_col, max_row, max_col), max exclusive; `None` for an empty mask.
    bbox: Option<[usize; 4]>,
}

/// Axis lengths (px), eccentricity and orientation (rad) from the inertia tensor.
struct Axes {
    major: f64,
    minor: f64,
    eccentricity: f64,
    orientation: f64,
}

impl Moments {
    fn of(mask: &Mask) -> Self {
        let mut m = Moments {
            n: 0,
            sr: 0,
            sc: 0,
            lr: 0,
            lc: 0,
            lrr: 0,
            lcc: 0,
            lrc: 0,
            bbox: None,
        };
        let (mut r0, mut c0, mut r1, mut c1) = (usize::MAX, usize::MAX, 0, 0);
        for ((r, c), &v) in mask.data.indexed_iter() {
            if !v {
                continue;
            }
            let (ri, ci) = (r as i128, c as i128);
            m.n += 1;
            m.lr += ri;
            m.lc += ci;
            m.lrr += ri * ri;
            m.lcc += ci * ci;
            m.lrc += ri * ci;
            (r0, c0, r1, c1) = (r0.min(r), c0.min(c), r1.max(r + 1), c1.max(c + 1));
        }
        m.sr = m.lr + m.n * mask.y0 as i128;
        m.sc = m.lc + m.n * mask.x0 as i128;
        if m.n > 0 {
            let (y, x) = (mask.y0, mask.x0);
            m.bbox = Some([y + r0, x + c0, y + r1, x + c1]);
        }
        m
    }

    /// Second-moment axes. With `X = n·Σr² − (Σr)² = n²·μ20/μ00`, `Y = n²·μ02/μ00` and
    /// `Z = n²·μ11/μ00` (exact integers), the eigenvalues of the inertia tensor are
    /// `λ = (X + Y ± √D) / (2n²)` with `D = (X − Y)² + 4Z²`; λ₂ is computed as
    /// `2(XY − Z²) / (n²(X + Y + √D))` and `1 − λ₂/λ₁` as `2√D / (X + Y + √D)` to avoid
    /// cancellation.
    fn axes(&self) -> Axes {
        let n = self.n;
        let x = n * self.lrr - self.lr * self.lr;
        let y = n * self.lcc - self.lc * self.lc;
        let z = n * self.lrc - self.lr * self.lc;
        let (xf, yf, zf) = (x as f64, y as f64, z as f64);
        let d = (xf - yf).hypot(2.0 * zf);
        let s = xf + yf;
        let n2 = (n * n) as f64;
        let (l1, l2, ecc) = if s > 0.0 {
            let det = match x.checked_mul(y).zip(z.checked_mul(z)) {
                Some((xy, zz)) => (xy - zz) as f64,
                None => xf * yf - zf * zf,
            };
            let l2 = (2.0 * det / (n2 * (s + d))).max(0.0);
            ((s + d) / (2.0 * n2), l2, (2.0 * d / (s + d)).sqrt())
        } else {
            (0.0, 0.0, 0.0)
        };
        let orientation = if x == y {
            // skimage: b = −μ11/μ00; π/4 when b < 0, else −π/4.
            if z > 0 { FRAC_PI_4 } else { -FRAC_PI_4 }
        } else {
            // skimage: ½·atan2(−2b, c − a) with a = μ02/μ00, c = μ20/μ00; +0 when μ11 = 0.
            0.5 * (2.0 * zf + 0.0).atan2(xf - yf)
        };
        Axes {
            major: 4.0 * l1.sqrt(),
            minor: 4.0 * l2.sqrt(),
            eccentricity: ecc,
            orientation,
        }
    }
}

/// skimage `perimeter(image, neighborhood=4)` of a binary image (px): the border is the region
/// minus its erosion by the 4-cross (outside the image counts as background); the border image
/// is convolved with `[[10, 2, 10], [2, 1, 2], [10, 2, 10]]` and each border pixel's code is
/// weighted: codes 5, 7, 15, 17, 25, 27 → 1; 21, 33 → √2; 13, 23 → (1 + √2)/2; others → 0.
pub fn perimeter_px(image: ArrayView2<bool>) -> f64 {
    let border = border_image(image);
    let (h, w) = border.dim();
    let mut histogram = [0u64; 50];
    for r in 1..h.saturating_sub(1) {
        for c in 1..w.saturating_sub(1) {
            if !border[[r, c]] {
                continue;
            }
            let count = |offsets: [(usize, usize); 4]| {
                offsets
                    .iter()
                    .filter(|&&(dr, dc)| border[[r + dr - 1, c + dc - 1]])
                    .count()
            };
            let edge = count([(0, 1), (2, 1), (1, 0), (1, 2)]);
            let corner = count([(0, 0), (0, 2), (2, 0), (2, 2)]);
            histogram[1 + 2 * edge + 10 * corner] += 1;
        }
    }
    perimeter_weights()
        .iter()
        .zip(histogram)
        .map(|(w, n)| w * n as f64)
        .sum()
}

/// The region minus its erosion by the 4-cross (outside the image is background), with a margin
/// of one background pixel all round: `(h + 2, w + 2)`, pixel (r, c) at (r + 1, c + 1).
fn border_image(image: ArrayView2<bool>) -> Array2<bool> {
    let (h, w) = image.dim();
    let mut padded = Array2::from_elem((h + 2, w + 2), false);
    padded.slice_mut(s![1..=h, 1..=w]).assign(&image);
    let mut border = Array2::from_elem((h + 2, w + 2), false);
    for r in 1..=h {
        for c in 1..=w {
            let interior = padded[[r - 1, c]]
                && padded[[r + 1, c]]
                && padded[[r, c - 1]]
                && padded[[r, c + 1]];
            border[[r, c]] = padded[[r, c]] && !interior;
        }
    }
    border
}

fn perimeter_weights() -> [f64; 50] {
    let mut w = [0.0; 50];
    for k in [5, 7, 15, 17, 25, 27] {
        w[k] = 1.0;
    }
    for k in [21, 33] {
        w[k] = SQRT_2;
    }
    for k in [13, 23] {
        w[k] = (1.0 + SQRT_2) / 2.0;
    }
    w
}

/// Number of pixels of skimage `convex_hull_image(image)` (px²): pixel centres inside or on the
/// convex hull of the four edge midpoints `(r ± ½, c)`, `(r, c ± ½)` of every region pixel.
///
/// skimage takes the hull with Qhull and rasterises it with `grid_points_in_poly` (inside, vertex
/// or edge counts). Here the hull is an Andrew monotone chain over the midpoints of the first and
/// last pixel of each row (they span the same hull), in doubled integer coordinates so that every
/// test is exact; a geometry crate would bring floating-point predicates and a large dependency
/// for these ~30 lines. Each row's pixel centres inside the hull form one interval, found from the
/// hull's half-planes with integer arithmetic.
pub fn convex_area_px(image: ArrayView2<bool>) -> u64 {
    let hull = convex_hull(&row_extreme_midpoints(image));
    if hull.is_empty() {
        return 0;
    }
    let (r_lo, r_hi) = hull
        .iter()
        .fold((i64::MAX, i64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    // Pixel centres are at even doubled coordinates.
    let rows = (div_ceil(r_lo, 2)..=r_hi.div_euclid(2)).map(|r| 2 * r);
    rows.map(|row| row_count(&hull, row)).sum()
}

type Point = (i64, i64);

/// Edge midpoints, in doubled coordinates (2r, 2c), of the first and last pixel of each row.
fn row_extreme_midpoints(image: ArrayView2<bool>) -> Vec<Point> {
    let mut pts = Vec::new();
    for (r, row) in image.outer_iter().enumerate() {
        let first = row.iter().position(|&v| v);
        let last = row.iter().rposition(|&v| v);
        for c in first.into_iter().chain(last) {
            let (r2, c2) = (2 * r as i64, 2 * c as i64);
            pts.extend([(r2 - 1, c2), (r2 + 1, c2), (r2, c2 - 1), (r2, c2 + 1)]);
        }
    }
    pts
}

fn cross(o: Point, a: Point, b: Point) -> i64 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// Andrew's monotone chain: the hull's vertices counter-clockwise (in the (row, column) plane),
/// without collinear points.
fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut p = points.to_vec();
    p.sort_unstable();
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let mut hull = half_hull(p.iter());
    let upper = half_hull(p.iter().rev());
    hull.pop();
    hull.extend_from_slice(&upper[..upper.len() - 1]);
    hull
}

/// One chain of the monotone-chain hull: the points kept while only left turns are allowed.
fn half_hull<'a>(points: impl Iterator<Item = &'a Point>) -> Vec<Point> {
    let mut chain: Vec<Point> = Vec::new();
    for &q in points {
        while let [.., a, b] = chain[..]
            && cross(a, b, q) <= 0
        {
            chain.pop();
        }
        chain.push(q);
    }
    chain
}

/// Number of pixel centres (row `row`, columns at even doubled coordinates) inside or on the
/// counter-clockwise convex polygon `hull`.
fn row_count(hull: &[Point], row: i64) -> u64 {
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    for (i, &a) in hull.iter().enumerate() {
        let b = hull[(i + 1) % hull.len()];
        // cross(a, b, (row, col)) ≥ 0  ⇔  k·col ≥ rhs
        let k = b.0 - a.0;
        let rhs = k * a.1 + (b.1 - a.1) * (row - a.0);
        match k.signum() {
            1 => lo = lo.max(div_ceil(rhs, k)),
            -1 => hi = hi.min((-rhs).div_euclid(-k)),
            _ if rhs > 0 => return 0,
            _ => {}
        }
    }
    if lo == i64::MIN || hi == i64::MAX {
        return 0; // not a polygon with area (cannot happen for pixel diamonds)
    }
    let (c_lo, c_hi) = (div_ceil(lo, 2), hi.div_euclid(2));
    u64::try_from(c_hi - c_lo + 1).unwrap_or(0)
}

/// ⌈a / b⌉ for b > 0.
fn div_ceil(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// A table with one row per instance: index, class, score and every property of `props` (which
/// must be [`region_props`] of `instances`), with units on the columns (`px`, `px²`, `µm`, `µm²`,
/// `rad`, `1` for ratios). `mean_intensity` is present only when every instance has one.
pub fn props_table(
    instances: &Instances,
    props: &[RegionProps],
) -> Result<Table, RegionPropsError> {
    if props.len() != instances.len() {
        return Err(RegionPropsError::Count {
            props: props.len(),
            instances: instances.len(),
        });
    }
    let f = |name: &str, units: &str, v: fn(&RegionProps) -> f64| {
        TableColumn::new(name, Column::F64(props.iter().map(v).collect())).with_units(units)
    };
    let i = |name: &str, v: &dyn Fn(&RegionProps) -> i64| {
        TableColumn::new(name, Column::I64(props.iter().map(v).collect()))
    };
    let class_name = |p: &RegionProps| {
        instances
            .class_names
            .get(p.class_id as usize)
            .cloned()
            .unwrap_or_default()
    };
    let score = |p: &RegionProps| {
        instances
            .instances
            .get(p.index)
            .map_or(f64::NAN, |inst| f64::from(inst.score))
    };
    let mut columns = vec![
        i("instance", &|p| p.index as i64),
        i("class_id", &|p| i64::from(p.class_id)),
        TableColumn::new(
            "class",
            Column::Text(props.iter().map(class_name).collect()),
        ),
        TableColumn::new("score", Column::F64(props.iter().map(score).collect())),
        i("area_px", &|p| p.area_px as i64).with_units("px²"),
        f("area_um2", "µm²", |p| p.area_um2),
        f("perimeter_px", "px", |p| p.perimeter_px),
        f("perimeter_um", "µm", |p| p.perimeter_um),
        f("equivalent_diameter_px", "px", |p| p.equivalent_diameter_px),
        f("equivalent_diameter_um", "µm", |p| {
            p.equivalent_diameter_um
        }),
        f("major_axis_px", "px", |p| p.major_axis_px),
        f("major_axis_um", "µm", |p| p.major_axis_um),
        f("minor_axis_px", "px", |p| p.minor_axis_px),
        f("minor_axis_um", "µm", |p| p.minor_axis_um),
        f("eccentricity", "1", |p| p.eccentricity),
        i("convex_area_px", &|p| p.convex_area_px as i64).with_units("px²"),
        f("solidity", "1", |p| p.solidity),
        f("circularity", "1", |p| p.circularity),
        f("orientation", "rad", |p| p.orientation_rad),
        f("centroid_row", "px", |p| p.centroid_row_px),
        f("centroid_col", "px", |p| p.centroid_col_px),
        i("bbox_min_row", &|p| p.bbox[0] as i64).with_units("px"),
        i("bbox_min_col", &|p| p.bbox[1] as i64).with_units("px"),
        i("bbox_max_row", &|p| p.bbox[2] as i64).with_units("px"),
        i("bbox_max_col", &|p| p.bbox[3] as i64).with_units("px"),
        i("touches_border", &|p| i64::from(p.touches_border)),
    ];
    let means: Option<Vec<f64>> = props.iter().map(|p| p.mean_intensity).collect();
    if let Some(m) = means.filter(|m| !m.is_empty()) {
        columns.push(TableColumn::new("mean_intensity", Column::F64(m)));
    }
    Table::new(columns).map_err(RegionPropsError::Table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;
    use corrflow_types::Instance;

    fn instances(h: usize, w: usize, masks: Vec<Mask>) -> Instances {
        let inst = masks
            .into_iter()
            .map(|mask| Instance {
                class_id: 0,
                score: 0.5,
                bbox: [0.0, 0.0, w as f32, h as f32],
                mask,
            })
            .collect();
        Instances::new(h, w, 2.0, vec!["mito".into()], inst).unwrap()
    }

    fn full(h: usize, w: usize, pixels: &[(usize, usize)]) -> Array2<bool> {
        let mut a = Array2::from_elem((h, w), false);
        for &p in pixels {
            a[p] = true;
        }
        a
    }

    fn props_of(h: usize, w: usize, pixels: &[(usize, usize)]) -> RegionProps {
        let m = Mask::from_full(full(h, w, pixels).view());
        region_props(&instances(h, w, vec![m]), None).unwrap()[0].clone()
    }

    #[test]
    fn rectangle() {
        // Rows 1..4, columns 1..6 of a 6×8 image: 3×5 px.
        let px: Vec<_> = (1..4).flat_map(|r| (1..6).map(move |c| (r, c))).collect();
        let p = props_of(6, 8, &px);
        assert_eq!(p.area_px, 15);
        assert_relative_eq!(p.area_um2, 15.0 * 0.002 * 0.002);
        // Every border pixel of an axis-aligned rectangle weighs 1: 2·3 + 2·5 − 4.
        assert_eq!(p.perimeter_px, 12.0);
        assert_relative_eq!(p.perimeter_um, 0.024);
        assert_eq!((p.centroid_row_px, p.centroid_col_px), (2.0, 3.0));
        assert_eq!(p.bbox, [1, 1, 4, 6]);
        // Variances: rows 2/3, columns 2 → axes 4√2 and 4√(2/3), major along the columns.
        assert_relative_eq!(p.major_axis_px, 4.0 * 2f64.sqrt(), max_relative = 1e-15);
        assert_relative_eq!(
            p.minor_axis_px,
            4.0 * (2.0f64 / 3.0).sqrt(),
            max_relative = 1e-15
        );
        assert_relative_eq!(p.eccentricity, (2.0f64 / 3.0).sqrt(), max_relative = 1e-15);
        assert_eq!(p.orientation_rad, PI / 2.0);
        assert_eq!((p.convex_area_px, p.solidity), (15, 1.0));
        assert_relative_eq!(p.equivalent_diameter_px, (60.0 / PI).sqrt());
        assert_relative_eq!(p.circularity, 4.0 * PI * 15.0 / 144.0);
        assert!(!p.touches_border);
    }

    #[test]
    fn disc() {
        // Radius 3 around (5, 5): 29 px (Gauss circle). Perimeter and convex area as skimage 0.26
        // gives them (19.3137…, 37).
        let px: Vec<_> = (0..11)
            .flat_map(|r| (0..11).map(move |c| (r, c)))
            .filter(|&(r, c)| (r as i64 - 5).pow(2) + (c as i64 - 5).pow(2) <= 9)
            .collect();
        let p = props_of(11, 11, &px);
        assert_eq!(p.area_px, 29);
        assert_relative_eq!(p.perimeter_px, 8.0 + 8.0 * SQRT_2, max_relative = 1e-15);
        assert_relative_eq!(p.perimeter_px, 19.31370849898476, max_relative = 1e-15);
        assert_eq!(p.convex_area_px, 37);
        assert_relative_eq!(p.solidity, 29.0 / 37.0);
        assert_eq!(p.eccentricity, 0.0);
        assert_eq!(p.major_axis_px, p.minor_axis_px);
        assert_relative_eq!(p.major_axis_px, 6.125131947910211, max_relative = 1e-15);
        assert_eq!(p.orientation_rad, -PI / 4.0);
        assert_eq!((p.centroid_row_px, p.centroid_col_px), (5.0, 5.0));
        assert_eq!(p.bbox, [2, 2, 9, 9]);
        assert!(!p.touches_border);
    }

    #[test]
    fn l_shape() {
        // (0,0) (1,0) (2,0) (2,1) (2,2) at offset (3, 4) of a 9×9 image.
        let px = [(3, 4), (4, 4), (5, 4), (5, 5), (5, 6)];
        let p = props_of(9, 9, &px);
        assert_eq!(p.area_px, 5);
        assert_relative_eq!(p.centroid_row_px, 3.0 + 1.4, max_relative = 1e-15);
        assert_relative_eq!(p.centroid_col_px, 4.0 + 0.6, max_relative = 1e-15);
        // Codes: ends 3 → 0; arm pixels 15 → 1; the corner 5 → 1.
        assert_eq!(p.perimeter_px, 3.0);
        // n²·var: X = Y = 16, Z = 9 → λ = (32 ± 18)/50 = 1, 0.28; μ20 = μ02 and μ11 > 0 → π/4.
        assert_relative_eq!(p.major_axis_px, 4.0, max_relative = 1e-15);
        assert_relative_eq!(p.minor_axis_px, 4.0 * 0.28f64.sqrt(), max_relative = 1e-15);
        assert_relative_eq!(p.eccentricity, 0.72f64.sqrt(), max_relative = 1e-15);
        assert_eq!(p.orientation_rad, PI / 4.0);
        // The hull adds (1, 1) of the triangle's hypotenuse.
        assert_eq!(p.convex_area_px, 6);
        assert_relative_eq!(p.solidity, 5.0 / 6.0);
        assert_eq!(p.bbox, [3, 4, 6, 7]);
    }

    #[test]
    fn single_pixel() {
        let p = props_of(5, 5, &[(2, 3)]);
        assert_eq!((p.area_px, p.perimeter_px, p.convex_area_px), (1, 0.0, 1));
        assert!(p.circularity.is_nan());
        assert_eq!(
            (p.major_axis_px, p.minor_axis_px, p.eccentricity),
            (0.0, 0.0, 0.0)
        );
        assert_eq!(p.orientation_rad, -PI / 4.0);
        assert_eq!((p.centroid_row_px, p.centroid_col_px), (2.0, 3.0));
        assert_eq!(p.bbox, [2, 3, 3, 4]);
        assert!(!p.touches_border);
        assert!(props_of(5, 5, &[(4, 0)]).touches_border);
    }

    #[test]
    fn loose_box_empty_mask_and_intensity() {
        // The same pixels with a mask box larger than the region, and an empty mask.
        let mut data = Array2::from_elem((4, 5), false);
        data[[1, 1]] = true;
        data[[1, 2]] = true;
        let loose = Mask::new(2, 3, data);
        let empty = Mask::new(1, 1, Array2::from_elem((2, 2), false));
        let inst = instances(10, 10, vec![loose, empty]);
        let img = Array2::from_shape_fn((10, 10), |(r, c)| (10 * r + c) as f32);
        let p = region_props(&inst, Some(img.view())).unwrap();
        assert_eq!(p[0].bbox, [4, 3, 5, 5]);
        assert_eq!((p[0].centroid_row_px, p[0].centroid_col_px), (4.0, 3.5));
        assert_eq!(p[0].mean_intensity, Some(43.5));
        assert_eq!((p[1].index, p[1].area_px, p[1].bbox), (1, 0, [1, 1, 1, 1]));
        assert!(p[1].solidity.is_nan() && p[1].mean_intensity.is_some_and(f64::is_nan));
        let t = props_table(&inst, &p).unwrap();
        assert_eq!(t.n_rows(), 2);
        let col = |n: &str| t.column(n).unwrap();
        assert_eq!(col("area_um2").units.as_deref(), Some("µm²"));
        assert_eq!(col("perimeter_um").units.as_deref(), Some("µm"));
        assert_eq!(col("orientation").units.as_deref(), Some("rad"));
        assert_eq!(col("class").values, Column::Text(vec!["mito".into(); 2]));
        assert_eq!(col("bbox_max_col").values, Column::I64(vec![5, 1]));
        assert!(t.column("mean_intensity").is_some());
        let p = region_props(&inst, None).unwrap();
        assert!(
            props_table(&inst, &p)
                .unwrap()
                .column("mean_intensity")
                .is_none()
        );
    }

    #[test]
    fn errors() {
        let inst = instances(4, 6, vec![Mask::new(0, 0, Array2::from_elem((1, 1), true))]);
        let img = Array2::<f32>::zeros((6, 4));
        let e = region_props(&inst, Some(img.view())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "intensity image is 6×4 px but the instances lie on a 4×6 px image"
        );
        let mut bad = inst.clone();
        bad.instances[0].mask.x0 = 6;
        let e = region_props(&bad, None).unwrap_err().to_string();
        assert!(e.starts_with("instance 0 has mask box [6, 0, 7, 1]"), "{e}");
        bad = inst.clone();
        bad.pixel_size_nm = f64::NAN;
        assert!(matches!(
            region_props(&bad, None),
            Err(RegionPropsError::PixelSize(_))
        ));
        let e = props_table(&inst, &[]).unwrap_err().to_string();
        assert_eq!(e, "0 region properties given for 1 instances");
        let stage: StageError = RegionPropsError::PixelSize(0.0).into();
        assert!(matches!(stage, StageError::Input(_)));
    }
}
