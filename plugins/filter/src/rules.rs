//! Filter rules for segmented instances: mask operations (hole filling, opening, closing with a
//! disk), measurement thresholds (area, solidity, eccentricity, image border) and the resolution of
//! overlaps between the instances that are kept.
//!
//! # Order
//!
//! [`apply_rules`] works in three phases:
//!
//! 1. **Mask operations.** For each instance, every rule that applies to its class, in list order;
//!    within a rule: `closing_nm`, then `fill_holes`, then `opening_nm`. An instance whose mask
//!    becomes empty is removed (rule `opening`, reason `empty after opening`, and so on).
//! 2. **Measurements.** The [`region_props`](crate::regionprops::region_props) of the changed masks;
//!    each applicable rule in list order checks, in this order, `drop_border`, `min_area_um2`,
//!    `max_area_um2`, `min_solidity`, `max_eccentricity`, `min_inside_field`. The first check that fails removes the
//!    instance and is recorded with the measured value and the threshold (e.g.
//!    `area_um2 0.004 < min_area_um2 0.01`). A NaN measurement (solidity of an empty mask) fails.
//! 3. **Overlaps** between the instances kept ([`ResolveOverlaps`]). An instance left without a
//!    pixel is removed (rule `resolve_overlaps`).
//!
//! Masks that change are cropped to their pixels and the instance's `bbox` becomes that box.

use std::cmp::Ordering;

use corrflow_stage::ParamError;
use corrflow_types::{Instance, Instances, Mask};
use ndarray::{Array2, s};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::field::NanosimsField;
use crate::regionprops::{RegionProps, RegionPropsError, region_props};

/// One filter rule. Every field is optional; a rule applies to the instances of `classes`
/// (every class when empty). Several rules may apply to one instance: all of them must pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Class names this rule applies to (names of the instances' classes, checked when the stage
    /// runs). Empty or absent: every class.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Remove instances smaller than this area (µm², pixel count × pixel side²).
    #[serde(default)]
    pub min_area_um2: Option<f64>,
    /// Remove instances larger than this area (µm²).
    #[serde(default)]
    pub max_area_um2: Option<f64>,
    /// Remove instances whose solidity (area / convex hull area, 0–1) is below this.
    #[serde(default)]
    pub min_solidity: Option<f64>,
    /// Remove instances whose eccentricity (of the ellipse with the same second moments, 0 =
    /// circle, → 1 = line) is above this.
    #[serde(default)]
    pub max_eccentricity: Option<f64>,
    /// Remove instances with a pixel on the first or last row or column of the image.
    #[serde(default)]
    pub drop_border: bool,
    /// Fill the holes of the mask: background regions (4-connected) that do not reach the edge of
    /// the mask's box, as scipy.ndimage.binary_fill_holes.
    #[serde(default)]
    pub fill_holes: bool,
    /// Morphological opening (erosion then dilation) with a disk of this radius (nm; converted to
    /// whole pixels, rounded to nearest, with the pixel size; the disk as
    /// skimage.morphology.disk). Removes thin bridges and spurs. 0 or absent: none.
    #[serde(default)]
    pub opening_nm: Option<f64>,
    /// Morphological closing (dilation then erosion) with a disk of this radius (nm, as
    /// `opening_nm`). Closes thin gaps. 0 or absent: none.
    #[serde(default)]
    pub closing_nm: Option<f64>,
    /// Remove instances of which less than this fraction (0–1) lies inside the NanoSIMS field of
    /// view (EM pixel centres mapped through the registration; 1 = wholly inside). Needs the
    /// stage's `transform` and `ions` inputs, which become required when a rule sets it.
    #[serde(default)]
    pub min_inside_field: Option<f64>,
}

/// What to do where kept instances overlap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResolveOverlaps {
    /// Leave the masks as they are.
    #[default]
    None,
    /// A contested pixel goes to the instance with the higher score (on equal scores, the lower
    /// index), as the label image draws them.
    Score,
    /// A contested pixel goes to the instance whose centroid (before resolution) is nearest (then
    /// the higher score, then the lower index): the overlap is split between them.
    Split,
}

impl ResolveOverlaps {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Score => "score",
            Self::Split => "split",
        }
    }
}

impl Rule {
    /// Check the rule's values; the error names the field (relative to the rule).
    pub fn validate(&self) -> Result<(), ParamError> {
        for (i, name) in self.classes.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(ParamError::new(format!("classes[{i}]"), "is empty"));
            }
            if self.classes[..i].contains(name) {
                return Err(ParamError::new(
                    format!("classes[{i}]"),
                    format!("'{name}' is listed twice"),
                ));
            }
        }
        let non_negative = |name: &str, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x >= 0.0) => Err(ParamError::new(
                name,
                format!("must be a finite number >= 0, got {x}"),
            )),
            _ => Ok(()),
        };
        non_negative("min_area_um2", self.min_area_um2)?;
        non_negative("max_area_um2", self.max_area_um2)?;
        non_negative("opening_nm", self.opening_nm)?;
        non_negative("closing_nm", self.closing_nm)?;
        if let (Some(lo), Some(hi)) = (self.min_area_um2, self.max_area_um2)
            && lo > hi
        {
            return Err(ParamError::new(
                "min_area_um2",
                format!("{lo} is larger than max_area_um2 {hi}"),
            ));
        }
        let unit = |name: &str, v: Option<f64>| match v {
            Some(x) if !(0.0..=1.0).contains(&x) => Err(ParamError::new(
                name,
                format!("must be between 0 and 1, got {x}"),
            )),
            _ => Ok(()),
        };
        unit("min_solidity", self.min_solidity)?;
        unit("max_eccentricity", self.max_eccentricity)?;
        unit("min_inside_field", self.min_inside_field)
    }

    fn applies_to(&self, class_name: &str) -> bool {
        self.classes.is_empty() || self.classes.iter().any(|c| c == class_name)
    }
}

/// Why an instance was removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Removal {
    /// Index of the instance in the input.
    pub index: usize,
    /// Index of the rule in the list; `None` for overlap resolution.
    pub rule_index: Option<usize>,
    /// The check or operation: `min_area_um2`, `max_area_um2`, `min_solidity`,
    /// `max_eccentricity`, `drop_border`, `min_inside_field`, `closing`, `fill_holes`, `opening`
    /// or `resolve_overlaps`.
    pub rule: String,
    /// The measured value (area µm², solidity, eccentricity, fraction inside the NanoSIMS field;
    /// 1 for touching the border; the pixel count, 0, for an emptied mask).
    pub value: f64,
    /// The rule's threshold (NaN where there is none).
    pub threshold: f64,
    /// Area (µm²) of the instance when it was removed (after the mask operations).
    pub area_um2: f64,
    /// A sentence: `area_um2 0.004 < min_area_um2 0.01`, `touches the image border`,
    /// `empty after opening`.
    pub reason: String,
}

/// The result of [`apply_rules`].
#[derive(Debug, Clone)]
pub struct Filtered {
    /// The kept instances (same image, classes and pixel size as the input), in input order.
    pub kept: Instances,
    /// For each kept instance, its index in the input.
    pub kept_index: Vec<usize>,
    /// The removed instances, by input index.
    pub removed: Vec<Removal>,
}

/// What can go wrong applying rules.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A rule names a class the instances do not have.
    #[error("rules[{rule}].classes: unknown class '{name}'; the instances' classes are {known:?}")]
    UnknownClass {
        rule: usize,
        name: String,
        known: Vec<String>,
    },
    /// A rule needs the NanoSIMS field but none was given.
    #[error(
        "rules[{rule}].min_inside_field needs the NanoSIMS field: wire the stage's 'transform' and \
         'ions' inputs"
    )]
    NoField { rule: usize },
    #[error(transparent)]
    Props(#[from] RegionPropsError),
}

impl From<RulesError> for corrflow_stage::StageError {
    fn from(e: RulesError) -> Self {
        corrflow_stage::StageError::input(e.to_string())
    }
}

/// Apply `rules` and the overlap resolution to `instances` (see the module documentation for the
/// order). `field` is the NanoSIMS field for `min_inside_field`.
pub fn apply_rules(
    instances: &Instances,
    rules: &[Rule],
    overlaps: ResolveOverlaps,
    field: Option<&NanosimsField>,
) -> Result<Filtered, RulesError> {
    for (rule, r) in rules.iter().enumerate() {
        if r.min_inside_field.is_some() && field.is_none() {
            return Err(RulesError::NoField { rule });
        }
        if let Some(name) = r
            .classes
            .iter()
            .find(|c| !instances.class_names.contains(c))
        {
            return Err(RulesError::UnknownClass {
                rule,
                name: name.clone(),
                known: instances.class_names.clone(),
            });
        }
    }
    // Check the input (pixel size, boxes) before touching the masks.
    let px = instances.pixel_size_nm;
    if !(px.is_finite() && px > 0.0) {
        return Err(RegionPropsError::PixelSize(px).into());
    }
    for (index, inst) in instances.instances.iter().enumerate() {
        if inst.mask.x1() > instances.width || inst.mask.y1() > instances.height {
            return Err(RegionPropsError::MaskOutside {
                index,
                mask_box: inst.mask.box_px(),
                h: instances.height,
                w: instances.width,
            }
            .into());
        }
    }
    let applicable = |inst: &Instance| -> Vec<usize> {
        let name = instances
            .class_names
            .get(inst.class_id as usize)
            .map_or("", String::as_str);
        (0..rules.len())
            .filter(|&i| rules[i].applies_to(name))
            .collect()
    };

    // Phase 1: mask operations (instances in parallel).
    let dims = (instances.height, instances.width);
    let px = instances.pixel_size_nm;
    let outcomes: Vec<Result<(usize, Instance), Removal>> = instances
        .instances
        .par_iter()
        .enumerate()
        .map(|(index, inst)| {
            let mut inst = inst.clone();
            let mut changed = false;
            for ri in applicable(&inst) {
                let r = &rules[ri];
                let ops = [
                    radius_px(r.closing_nm, px).map(MaskOp::Closing),
                    r.fill_holes.then_some(MaskOp::FillHoles),
                    radius_px(r.opening_nm, px).map(MaskOp::Opening),
                ];
                for op in ops.into_iter().flatten() {
                    let name = op.name();
                    let before = inst.mask.area_px();
                    inst.mask = op.apply(&inst.mask, dims);
                    changed = true;
                    if before > 0 && inst.mask.area_px() == 0 {
                        return Err(Removal {
                            index,
                            rule_index: Some(ri),
                            rule: name.into(),
                            value: 0.0,
                            threshold: f64::NAN,
                            area_um2: 0.0,
                            reason: format!("empty after {name}"),
                        });
                    }
                }
            }
            if changed {
                set_tight_box(&mut inst);
            }
            Ok((index, inst))
        })
        .collect();
    let mut removed = Vec::new();
    let mut alive: Vec<(usize, Instance)> = Vec::new();
    for o in outcomes {
        match o {
            Ok(kept) => alive.push(kept),
            Err(r) => removed.push(r),
        }
    }

    // Phase 2: measurements.
    let measured = Instances {
        instances: alive.iter().map(|(_, i)| i.clone()).collect(),
        ..instances.clone()
    };
    let props = region_props(&measured, None)?;
    let mut kept: Vec<(usize, Instance)> = Vec::new();
    for ((index, inst), p) in alive.into_iter().zip(&props) {
        let inside = field.map(|f| f.inside_fraction(&inst.mask));
        let failure = applicable(&inst)
            .into_iter()
            .find_map(|ri| check(&rules[ri], p, inside).map(|f| (ri, f)));
        match failure {
            Some((ri, (rule, value, threshold, reason))) => removed.push(Removal {
                index,
                rule_index: Some(ri),
                rule: rule.into(),
                value,
                threshold,
                area_um2: p.area_um2,
                reason,
            }),
            None => kept.push((index, inst)),
        }
    }

    // Phase 3: overlaps.
    if overlaps != ResolveOverlaps::None {
        let mut masks: Vec<Instance> = kept.iter().map(|(_, i)| i.clone()).collect();
        resolve(&mut masks, overlaps, (instances.height, instances.width));
        let mut still = Vec::new();
        for ((index, _), inst) in kept.into_iter().zip(masks) {
            if inst.mask.area_px() == 0 {
                removed.push(Removal {
                    index,
                    rule_index: None,
                    rule: "resolve_overlaps".into(),
                    value: 0.0,
                    threshold: f64::NAN,
                    area_um2: 0.0,
                    reason: format!("empty after resolve_overlaps {}", overlaps.as_str()),
                });
            } else {
                still.push((index, inst));
            }
        }
        kept = still;
    }

    removed.sort_by_key(|r| r.index);
    let kept_index = kept.iter().map(|(i, _)| *i).collect();
    let kept = Instances {
        instances: kept.into_iter().map(|(_, i)| i).collect(),
        ..instances.clone()
    };
    Ok(Filtered {
        kept,
        kept_index,
        removed,
    })
}

/// The first check of `rule` that `p` (and `inside`, the fraction of the instance inside the
/// NanoSIMS field) fails: (check name, value, threshold, reason).
fn check(
    rule: &Rule,
    p: &RegionProps,
    inside: Option<f64>,
) -> Option<(&'static str, f64, f64, String)> {
    if rule.drop_border && p.touches_border {
        return Some((
            "drop_border",
            1.0,
            f64::NAN,
            "touches the image border".into(),
        ));
    }
    let below = |name: &'static str, what: &str, v: f64, min: Option<f64>| {
        min.filter(|&t| v.partial_cmp(&t).is_none_or(Ordering::is_lt))
            .map(|t| (name, v, t, format!("{what} {} < {name} {}", num(v), num(t))))
    };
    let above = |name: &'static str, what: &str, v: f64, max: Option<f64>| {
        max.filter(|&t| v.partial_cmp(&t).is_none_or(Ordering::is_gt))
            .map(|t| (name, v, t, format!("{what} {} > {name} {}", num(v), num(t))))
    };
    below("min_area_um2", "area_um2", p.area_um2, rule.min_area_um2)
        .or_else(|| above("max_area_um2", "area_um2", p.area_um2, rule.max_area_um2))
        .or_else(|| below("min_solidity", "solidity", p.solidity, rule.min_solidity))
        .or_else(|| {
            above(
                "max_eccentricity",
                "eccentricity",
                p.eccentricity,
                rule.max_eccentricity,
            )
        })
        .or_else(|| {
            // apply_rules has checked that the field is known when a rule needs it.
            below(
                "min_inside_field",
                "inside_field",
                inside.unwrap_or(f64::NAN),
                rule.min_inside_field,
            )
        })
}

/// A number with at most 6 significant digits, without trailing zeros.
fn num(v: f64) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let decimals = (5 - v.abs().log10().floor() as i32).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A mask operation of a rule, with its disk radius in px.
#[derive(Debug, Clone, Copy)]
enum MaskOp {
    Closing(usize),
    FillHoles,
    Opening(usize),
}

impl MaskOp {
    fn name(self) -> &'static str {
        match self {
            Self::Closing(_) => "closing",
            Self::FillHoles => "fill_holes",
            Self::Opening(_) => "opening",
        }
    }

    fn apply(self, mask: &Mask, dims: (usize, usize)) -> Mask {
        match self {
            Self::Closing(r) => closing(mask, r, dims),
            Self::FillHoles => fill_holes(mask),
            Self::Opening(r) => opening(mask, r, dims),
        }
    }
}

/// A radius in nm as whole pixels (rounded to nearest); `None` when absent or 0 px.
pub fn radius_px(nm: Option<f64>, pixel_size_nm: f64) -> Option<usize> {
    let r = (nm? / pixel_size_nm).round();
    (r >= 1.0).then_some(r as usize)
}

/// The offsets (dr, dc) of skimage.morphology.disk(radius): dr² + dc² ≤ radius².
pub fn disk(radius: usize) -> Vec<(isize, isize)> {
    let r = radius as isize;
    (-r..=r)
        .flat_map(|dr| (-r..=r).map(move |dc| (dr, dc)))
        .filter(|&(dr, dc)| dr * dr + dc * dc <= r * r)
        .collect()
}

/// scipy.ndimage.binary_fill_holes of the mask's box (4-connected background regions that do not
/// reach the box's edge become foreground).
pub fn fill_holes(mask: &Mask) -> Mask {
    let data = &mask.data;
    let (h, w) = data.dim();
    let mut outside = Array2::from_elem((h, w), false);
    let mut stack: Vec<(usize, usize)> = Vec::new();
    for r in 0..h {
        for c in 0..w {
            if (r == 0 || c == 0 || r + 1 == h || c + 1 == w) && !data[[r, c]] {
                outside[[r, c]] = true;
                stack.push((r, c));
            }
        }
    }
    while let Some((r, c)) = stack.pop() {
        let neighbours = [
            (r.wrapping_sub(1), c),
            (r + 1, c),
            (r, c.wrapping_sub(1)),
            (r, c + 1),
        ];
        for (nr, nc) in neighbours {
            if nr < h && nc < w && !data[[nr, nc]] && !outside[[nr, nc]] {
                outside[[nr, nc]] = true;
                stack.push((nr, nc));
            }
        }
    }
    Mask::new(mask.x0, mask.y0, outside.mapv(|o| !o))
}

/// A canvas of the image around a mask: the mask's box grown by `margin` px, clipped to the
/// image.
struct Canvas {
    y0: usize,
    x0: usize,
    data: Array2<bool>,
}

impl Canvas {
    fn around(mask: &Mask, margin: usize, (h, w): (usize, usize)) -> Self {
        let y0 = mask.y0.saturating_sub(margin);
        let x0 = mask.x0.saturating_sub(margin);
        let y1 = (mask.y1() + margin).min(h);
        let x1 = (mask.x1() + margin).min(w);
        let mut data = Array2::from_elem((y1 - y0, x1 - x0), false);
        let (my, mx) = (mask.y0 - y0, mask.x0 - x0);
        data.slice_mut(s![my..my + mask.data.nrows(), mx..mx + mask.data.ncols()])
            .assign(&mask.data);
        Self { y0, x0, data }
    }

    fn into_mask(self) -> Mask {
        crop(Mask::new(self.x0, self.y0, self.data))
    }

    /// Per row, the number of pixels equal to `v` in columns `[0, k)` for k in 0..=width.
    fn prefix_counts(&self, v: bool) -> Array2<u32> {
        let (ch, cw) = self.data.dim();
        let mut p = Array2::<u32>::zeros((ch, cw + 1));
        for r in 0..ch {
            for c in 0..cw {
                p[[r, c + 1]] = p[[r, c]] + u32::from(self.data[[r, c]] == v);
            }
        }
        p
    }

    /// Binary erosion by the disk `spans` as skimage.morphology.binary_erosion: pixels outside
    /// the image count as foreground (scipy `border_value=True`); pixels of the image outside
    /// the canvas are background. Each disk row is checked as one span with row prefix counts.
    fn erode(&mut self, spans: &[(isize, isize)], (h, w): (usize, usize)) {
        let (ch, cw) = self.data.dim();
        let falses = self.prefix_counts(false);
        let (y0, x0) = (self.y0 as isize, self.x0 as isize);
        let (h, w, ch, cw) = (h as isize, w as isize, ch as isize, cw as isize);
        let src = &self.data;
        let out = Array2::from_shape_fn(src.dim(), |(r, c)| {
            src[[r, c]]
                && spans.iter().all(|&(dr, a)| {
                    let lr = r as isize + dr;
                    if !(0..h).contains(&(y0 + lr)) {
                        return true;
                    }
                    if !(0..ch).contains(&lr) {
                        return false;
                    }
                    let xc = x0 + c as isize;
                    let (lo, hi) = ((xc - a).max(0) - x0, (xc + a).min(w - 1) - x0);
                    lo >= 0
                        && hi < cw
                        && falses[[lr as usize, hi as usize + 1]]
                            == falses[[lr as usize, lo as usize]]
                })
        });
        self.data = out;
    }

    /// Binary dilation by the (symmetric) disk `spans`, within the canvas.
    fn dilate(&mut self, spans: &[(isize, isize)]) {
        let (ch, cw) = self.data.dim();
        let trues = self.prefix_counts(true);
        let (ch, cw) = (ch as isize, cw as isize);
        self.data = Array2::from_shape_fn(self.data.dim(), |(r, c)| {
            spans.iter().any(|&(dr, a)| {
                let lr = r as isize + dr;
                let (lo, hi) = ((c as isize - a).max(0), (c as isize + a).min(cw - 1));
                (0..ch).contains(&lr)
                    && trues[[lr as usize, hi as usize + 1]] > trues[[lr as usize, lo as usize]]
            })
        });
    }
}

/// The rows of disk(radius) as (row offset, half width): the disk is
/// `{(dr, dc): |dc| <= half width of dr}`.
fn disk_spans(radius: usize) -> Vec<(isize, isize)> {
    let r = radius as isize;
    (-r..=r)
        .map(|dr| {
            let a = (0..=r)
                .rev()
                .find(|a| a * a + dr * dr <= r * r)
                .unwrap_or(0);
            (dr, a)
        })
        .collect()
}

/// skimage.morphology.binary_erosion of the instance's mask on the (height, width) image with
/// disk(radius) (the image outside counts as foreground, as scikit-image's border handling).
pub fn erosion(mask: &Mask, radius: usize, dims: (usize, usize)) -> Mask {
    let mut c = Canvas::around(mask, 0, dims);
    c.erode(&disk_spans(radius), dims);
    c.into_mask()
}

/// skimage.morphology.binary_opening of the instance's mask on the (height, width) image with
/// disk(radius).
pub fn opening(mask: &Mask, radius: usize, dims: (usize, usize)) -> Mask {
    let fp = disk_spans(radius);
    let mut c = Canvas::around(mask, 0, dims);
    c.erode(&fp, dims);
    let eroded = c.into_mask();
    if eroded.area_px() == 0 {
        return eroded;
    }
    let mut c = Canvas::around(&eroded, radius, dims);
    c.dilate(&fp);
    c.into_mask()
}

/// skimage.morphology.binary_closing of the instance's mask on the (height, width) image with
/// disk(radius).
pub fn closing(mask: &Mask, radius: usize, dims: (usize, usize)) -> Mask {
    let fp = disk_spans(radius);
    let mut c = Canvas::around(mask, radius, dims);
    c.dilate(&fp);
    c.erode(&fp, dims);
    c.into_mask()
}

/// The mask cropped to its pixels (0×0 at its origin when empty).
fn crop(mask: Mask) -> Mask {
    let (mut r0, mut c0, mut r1, mut c1) = (usize::MAX, usize::MAX, 0, 0);
    for ((r, c), &v) in mask.data.indexed_iter() {
        if v {
            (r0, c0, r1, c1) = (r0.min(r), c0.min(c), r1.max(r + 1), c1.max(c + 1));
        }
    }
    if r1 == 0 {
        return Mask::new(mask.x0, mask.y0, Array2::from_elem((0, 0), false));
    }
    Mask::new(
        mask.x0 + c0,
        mask.y0 + r0,
        mask.data.slice(s![r0..r1, c0..c1]).to_owned(),
    )
}

/// Crop the mask to its pixels and make `bbox` its box.
fn set_tight_box(inst: &mut Instance) {
    let m = crop(std::mem::replace(
        &mut inst.mask,
        Mask::new(0, 0, Array2::from_elem((0, 0), false)),
    ));
    inst.bbox = [m.x0, m.y0, m.x1(), m.y1()].map(|v| v as f32);
    inst.mask = m;
}

/// Give every pixel claimed by several instances to one of them.
fn resolve(insts: &mut [Instance], how: ResolveOverlaps, (h, w): (usize, usize)) {
    let centroid = |m: &Mask| {
        let (mut n, mut sr, mut sc) = (0.0f64, 0.0f64, 0.0f64);
        for ((r, c), &v) in m.data.indexed_iter() {
            if v {
                n += 1.0;
                sr += (m.y0 + r) as f64;
                sc += (m.x0 + c) as f64;
            }
        }
        (sr / n, sc / n)
    };
    let centroids: Vec<(f64, f64)> = insts.iter().map(|i| centroid(&i.mask)).collect();
    // Is instance a a better owner of pixel (r, c) than b?
    let better = |a: usize, b: usize, r: usize, c: usize| -> bool {
        if how == ResolveOverlaps::Split {
            let d = |k: usize| {
                let (cr, cc) = centroids[k];
                (r as f64 - cr).powi(2) + (c as f64 - cc).powi(2)
            };
            let (da, db) = (d(a), d(b));
            if da != db {
                return da < db;
            }
        }
        let (sa, sb) = (insts[a].score, insts[b].score);
        if sa != sb {
            return sa > sb;
        }
        a < b
    };
    let mut owner = Array2::<u32>::zeros((h, w));
    for (i, inst) in insts.iter().enumerate() {
        let m = &inst.mask;
        for ((r, c), &v) in m.data.indexed_iter() {
            if !v {
                continue;
            }
            let (ir, ic) = (m.y0 + r, m.x0 + c);
            let o = owner[[ir, ic]];
            if o == 0 || better(i, o as usize - 1, ir, ic) {
                owner[[ir, ic]] = i as u32 + 1;
            }
        }
    }
    for (i, inst) in insts.iter_mut().enumerate() {
        let m = &inst.mask;
        let data = Array2::from_shape_fn(m.data.dim(), |(r, c)| {
            m.data[[r, c]] && owner[[m.y0 + r, m.x0 + c]] == i as u32 + 1
        });
        if data != m.data {
            inst.mask = Mask::new(m.x0, m.y0, data);
            set_tight_box(inst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(class_id: u32, score: f32, mask: Mask) -> Instance {
        let bbox = [mask.x0, mask.y0, mask.x1(), mask.y1()].map(|v| v as f32);
        Instance {
            class_id,
            score,
            bbox,
            mask,
        }
    }

    /// Instances on an `h`×`w` image at `px` nm, classes `mito` and `er`.
    fn set(h: usize, w: usize, px: f64, insts: Vec<Instance>) -> Instances {
        Instances::new(h, w, px, vec!["mito".into(), "er".into()], insts).unwrap()
    }

    /// A mask from rows of `#` (inside) and `.` at (x0, y0).
    fn pic(x0: usize, y0: usize, rows: &[&str]) -> Mask {
        let w = rows[0].len();
        let data = Array2::from_shape_fn((rows.len(), w), |(r, c)| rows[r].as_bytes()[c] == b'#');
        Mask::new(x0, y0, data)
    }

    fn rect(x0: usize, y0: usize, h: usize, w: usize) -> Mask {
        Mask::new(x0, y0, Array2::from_elem((h, w), true))
    }

    fn rule() -> Rule {
        Rule::default()
    }

    #[test]
    fn areas_at_a_known_pixel_size() {
        // 10 nm pixels: 1 px = 1e-4 µm². 40 px = 0.004 µm², 100 px = 0.01 µm², 400 px = 0.04.
        let i = set(
            50,
            50,
            10.0,
            vec![
                inst(0, 0.9, rect(2, 2, 5, 8)),
                inst(0, 0.9, rect(20, 2, 10, 10)),
                inst(0, 0.9, rect(2, 20, 20, 20)),
            ],
        );
        let r = Rule {
            min_area_um2: Some(0.01),
            max_area_um2: Some(0.02),
            ..rule()
        };
        let f = apply_rules(&i, &[r], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept_index, [1]);
        assert_eq!(f.kept.len(), 1);
        assert_eq!(f.removed.len(), 2);
        let r0 = &f.removed[0];
        assert_eq!((r0.index, r0.rule.as_str()), (0, "min_area_um2"));
        assert_eq!(r0.reason, "area_um2 0.004 < min_area_um2 0.01");
        assert!((r0.value - 0.004).abs() < 1e-15 && r0.threshold == 0.01);
        assert_eq!(r0.rule_index, Some(0));
        let r2 = &f.removed[1];
        assert_eq!((r2.index, r2.rule.as_str()), (2, "max_area_um2"));
        assert_eq!(r2.reason, "area_um2 0.04 > max_area_um2 0.02");
        // The boundary itself passes (100 px = 0.01 µm² exactly at 10 nm).
        assert_eq!(
            apply_rules(
                &i,
                &[Rule {
                    min_area_um2: Some(0.04),
                    ..rule()
                }],
                ResolveOverlaps::None,
                None
            )
            .unwrap()
            .kept_index,
            [2]
        );
    }

    #[test]
    fn rules_per_class_and_first_failure() {
        let i = set(
            30,
            30,
            10.0,
            vec![
                inst(0, 0.9, rect(2, 2, 3, 3)),
                inst(1, 0.9, rect(10, 10, 3, 3)),
            ],
        );
        let rules = [
            Rule {
                classes: vec!["er".into()],
                min_area_um2: Some(0.01),
                ..rule()
            },
            Rule {
                max_area_um2: Some(0.0001),
                ..rule()
            },
        ];
        let f = apply_rules(&i, &rules, ResolveOverlaps::None, None).unwrap();
        assert!(f.kept.is_empty());
        assert_eq!(f.removed[0].rule_index, Some(1));
        assert_eq!(f.removed[0].rule, "max_area_um2");
        assert_eq!(f.removed[1].rule_index, Some(0));
        assert_eq!(f.removed[1].rule, "min_area_um2");
        let e = apply_rules(
            &i,
            &[Rule {
                classes: vec!["golgi".into()],
                ..rule()
            }],
            ResolveOverlaps::None,
            None,
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "rules[0].classes: unknown class 'golgi'; the instances' classes are [\"mito\", \"er\"]"
        );
    }

    #[test]
    fn border() {
        let i = set(
            20,
            20,
            5.0,
            vec![
                inst(0, 0.9, rect(0, 5, 3, 3)),
                inst(0, 0.9, rect(5, 5, 3, 3)),
                inst(0, 0.9, rect(17, 17, 3, 3)),
            ],
        );
        let r = Rule {
            drop_border: true,
            ..rule()
        };
        let f = apply_rules(&i, &[r], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept_index, [1]);
        assert_eq!(f.removed[0].reason, "touches the image border");
        assert_eq!(f.removed[1].rule, "drop_border");
        // Without the rule everything stays, untouched.
        let f = apply_rules(&i, &[], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept, i);
    }

    #[test]
    fn solidity_l_shape_vs_square() {
        let l = pic(
            2,
            2,
            &["##....", "##....", "##....", "##....", "######", "######"],
        );
        let i = set(
            20,
            20,
            5.0,
            vec![inst(0, 0.9, l), inst(0, 0.9, rect(10, 10, 6, 6))],
        );
        let r = Rule {
            min_solidity: Some(0.9),
            ..rule()
        };
        let f = apply_rules(&i, &[r], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept_index, [1]);
        assert_eq!(f.removed[0].rule, "min_solidity");
        assert!(f.removed[0].value < 0.9);
        assert!(
            f.removed[0].reason.starts_with("solidity 0."),
            "{:?}",
            f.removed[0]
        );
        // An elongated bar is dropped by eccentricity, the square is not.
        let i = set(
            20,
            30,
            5.0,
            vec![
                inst(0, 0.9, rect(2, 2, 2, 20)),
                inst(0, 0.9, rect(2, 10, 5, 5)),
            ],
        );
        let r = Rule {
            max_eccentricity: Some(0.9),
            ..rule()
        };
        let f = apply_rules(&i, &[r], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept_index, [1]);
        assert_eq!(f.removed[0].rule, "max_eccentricity");
        assert!(f.removed[0].reason.contains("> max_eccentricity 0.9"));
    }

    #[test]
    fn fill_holes_on_a_ring() {
        let ring = pic(3, 4, &["#####", "#...#", "#.#.#", "#...#", "#####"]);
        let filled = fill_holes(&ring);
        assert!(filled.data.iter().all(|&v| v));
        assert_eq!((filled.x0, filled.y0), (3, 4));
        // An open ring (a gap to the box edge) has no hole.
        let open = pic(0, 0, &["##.##", "#...#", "#####"]);
        assert_eq!(fill_holes(&open), open);
        // Diagonal contact does not connect the background (4-connectivity).
        let diag = pic(0, 0, &[".#.", "#.#", ".#."]);
        assert_eq!(fill_holes(&diag).area_px(), 5);
        // Through the rules: area grows from 16 to 25 px.
        let i = set(20, 20, 10.0, vec![inst(0, 0.9, ring)]);
        let r = Rule {
            fill_holes: true,
            min_area_um2: Some(0.0025),
            ..rule()
        };
        let f = apply_rules(&i, &[r], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept.instances[0].mask.area_px(), 25);
    }

    #[test]
    fn disk_is_skimage_disk() {
        // skimage.morphology.disk(2).sum() == 13, disk(3).sum() == 29, disk(1) the cross.
        assert_eq!(disk(1).len(), 5);
        assert_eq!(disk(2).len(), 13);
        assert_eq!(disk(3).len(), 29);
        for r in 0..6 {
            let n: isize = disk_spans(r).iter().map(|&(_, a)| 2 * a + 1).sum();
            assert_eq!(n as usize, disk(r).len());
        }
        assert_eq!(radius_px(Some(25.0), 10.0), Some(3));
        assert_eq!(radius_px(Some(4.0), 10.0), None);
        assert_eq!(radius_px(None, 10.0), None);
    }

    #[test]
    fn opening_removes_a_thin_bridge() {
        // Two 7×7 squares joined by a 1 px wide bridge.
        let rows = [
            "#######...#######",
            "#######...#######",
            "#######...#######",
            "#################",
            "#######...#######",
            "#######...#######",
            "#######...#######",
        ];
        let m = pic(5, 5, &rows);
        let opened = opening(&m, 1, (30, 30));
        // As skimage 0.26 binary_opening(m, disk(1)): the bridge's middle pixel goes (its ends
        // come back with the dilation of the squares' edges), so do the squares' corners: 92 px.
        let full = opened.to_full(30, 30);
        assert!(!full[[8, 13]] && full[[8, 12]] && full[[8, 14]]);
        assert!(!full[[5, 5]] && full[[5, 6]] && full[[11, 20]]);
        assert_eq!(opened.area_px(), 92);
        // An instance thinner than the disk disappears: removed as "empty after opening".
        let i = set(
            30,
            30,
            4.0,
            vec![inst(0, 0.9, rect(2, 2, 2, 10)), inst(0, 0.8, m)],
        );
        let r = Rule {
            opening_nm: Some(4.0),
            ..rule()
        };
        let f = apply_rules(&i, &[r], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept_index, [1]);
        assert_eq!(f.removed[0].reason, "empty after opening");
        assert_eq!(f.removed[0].rule, "opening");
        let k = &f.kept.instances[0];
        assert_eq!(k.mask.area_px(), 92);
        assert_eq!(k.bbox, [5.0, 5.0, 22.0, 12.0]);
    }

    #[test]
    fn opening_at_the_image_edge() {
        // skimage erodes with the outside of the image counting as foreground: a 2 px strip
        // along the top edge survives an opening with disk(1) whole (skimage 0.26: 20 px).
        let m = rect(0, 0, 2, 10);
        let opened = opening(&m, 1, (10, 10));
        assert_eq!(opened, m);
    }

    #[test]
    fn closing_fills_a_gap() {
        // Two bars separated by a 1 px gap.
        let m = pic(4, 4, &["###.###", "###.###", "###.###"]);
        let closed = closing(&m, 1, (20, 20));
        // As skimage 0.26 binary_closing(m, disk(1)): the gap's middle pixel is filled, its ends
        // (where the cross does not reach round) stay open: 19 px.
        assert_eq!(closed.box_px(), [4, 4, 11, 7]);
        assert_eq!(closed.area_px(), 19);
        let full = closed.to_full(20, 20);
        assert!(full[[5, 7]] && !full[[4, 7]] && !full[[6, 7]]);
        assert_eq!(closing(&m, 2, (20, 20)).area_px(), 19);
        // A 3 px gap is wider than disk(1) closes.
        let wide = pic(4, 4, &["##...##", "##...##"]);
        assert_eq!(closing(&wide, 1, (20, 20)), wide);
        // Through the rules at 2 nm / px: 2 nm → 1 px.
        let i = set(20, 20, 2.0, vec![inst(1, 0.9, m)]);
        let r = Rule {
            closing_nm: Some(2.0),
            ..rule()
        };
        let f = apply_rules(&i, &[r], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept.instances[0].mask.area_px(), 19);
    }

    #[test]
    fn overlaps_by_score_and_split() {
        // Two 4×6 boxes overlapping in columns 4..6.
        let a = inst(0, 0.5, rect(0, 0, 4, 6));
        let b = inst(0, 0.9, rect(4, 0, 4, 6));
        // c lies entirely inside b with a lower score: it loses everything.
        let c = inst(1, 0.1, rect(5, 1, 2, 2));
        let i = set(10, 12, 5.0, vec![a, b, c]);
        let f = apply_rules(&i, &[], ResolveOverlaps::Score, None).unwrap();
        assert_eq!(f.kept_index, [0, 1]);
        assert_eq!(f.kept.instances[0].mask.box_px(), [0, 0, 4, 4]);
        assert_eq!(f.kept.instances[0].bbox, [0.0, 0.0, 4.0, 4.0]);
        assert_eq!(f.kept.instances[1].mask.box_px(), [4, 0, 10, 4]);
        assert_eq!(f.removed.len(), 1);
        assert_eq!(f.removed[0].index, 2);
        assert_eq!(f.removed[0].reason, "empty after resolve_overlaps score");
        assert_eq!(f.removed[0].rule_index, None);
        // Split: columns 4 and 5 go to the nearer centroid (a at column 2.5, b at 6.5): column 4
        // is 1.5 from a and 2.5 from b → a; column 5 is 2.5 from a and 1.5 from b → b.
        let i = set(10, 12, 5.0, i.instances[..2].to_vec());
        let f = apply_rules(&i, &[], ResolveOverlaps::Split, None).unwrap();
        assert_eq!(f.kept.instances[0].mask.box_px(), [0, 0, 5, 4]);
        assert_eq!(f.kept.instances[1].mask.box_px(), [5, 0, 10, 4]);
        // None leaves them overlapping.
        let f = apply_rules(&i, &[], ResolveOverlaps::None, None).unwrap();
        assert_eq!(f.kept, i);
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |r: Rule| r.validate().unwrap_err();
        let e = bad(Rule {
            min_area_um2: Some(-1.0),
            ..rule()
        });
        assert_eq!(e.path, "min_area_um2");
        let e = bad(Rule {
            min_area_um2: Some(2.0),
            max_area_um2: Some(1.0),
            ..rule()
        });
        assert_eq!(e.path, "min_area_um2");
        assert!(e.message.contains("larger than max_area_um2"), "{e}");
        assert_eq!(
            bad(Rule {
                min_solidity: Some(1.5),
                ..rule()
            })
            .path,
            "min_solidity"
        );
        assert_eq!(
            bad(Rule {
                max_eccentricity: Some(-0.1),
                ..rule()
            })
            .path,
            "max_eccentricity"
        );
        assert_eq!(
            bad(Rule {
                opening_nm: Some(f64::NAN),
                ..rule()
            })
            .path,
            "opening_nm"
        );
        assert_eq!(
            bad(Rule {
                classes: vec!["a".into(), "a".into()],
                ..rule()
            })
            .path,
            "classes[1]"
        );
        assert!(
            Rule {
                min_area_um2: Some(0.1),
                max_area_um2: Some(0.1),
                ..rule()
            }
            .validate()
            .is_ok()
        );
        assert_eq!(num(0.004000000000000001), "0.004");
        assert_eq!(num(12345.678), "12345.7");
    }

    #[test]
    fn min_inside_field_needs_and_uses_the_field() {
        let i = set(
            30,
            30,
            10.0,
            vec![
                inst(0, 0.9, rect(0, 0, 4, 4)),
                inst(0, 0.8, rect(10, 10, 3, 3)),
            ],
        );
        let r = Rule {
            min_inside_field: Some(1.0),
            ..rule()
        };
        let e = apply_rules(&i, std::slice::from_ref(&r), ResolveOverlaps::None, None).unwrap_err();
        assert!(matches!(e, RulesError::NoField { rule: 0 }), "{e}");
        // u = x − 2, v = y: columns 0 and 1 fall left of the 20×20 raster.
        let t = corrflow_types::Transform2D::new(
            [[1.0, 0.0, -2.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            corrflow_types::TransformKind::Similarity,
            "em",
            10.0,
            "nanosims",
            10.0,
            "test",
        )
        .unwrap();
        let field = NanosimsField {
            em_to_nanosims: t,
            height: 20,
            width: 20,
        };
        let f = apply_rules(&i, &[r], ResolveOverlaps::None, Some(&field)).unwrap();
        assert_eq!(f.kept_index, [1]);
        assert_eq!(f.removed[0].rule, "min_inside_field");
        assert_eq!(f.removed[0].value, 0.5);
        assert_eq!(f.removed[0].reason, "inside_field 0.5 < min_inside_field 1");
        let bad = Rule {
            min_inside_field: Some(1.5),
            ..rule()
        };
        assert_eq!(bad.validate().unwrap_err().path, "min_inside_field");
    }
}
