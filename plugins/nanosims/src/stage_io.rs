//! The `io.nanosims` stage: a Cameca `.im` file → an `ion_stack` entry, corrected and aligned.
//!
//! Order of operations, per plane and mass unless said otherwise:
//! 1. read (optionally without the 1-pixel border the Cameca scan leaves), select planes;
//! 2. hot-pixel removal on the raw counts;
//! 3. dead-time correction `N' = N/(1 − N·d/τ)` (d: the mass's detector dead time, τ: dwell time
//!    per pixel from the file's B-field table);
//! 4. QSA `N'' = N'·(1 + β·K')`, `K = (N'/τ)/(FCo·6.24151e6)`, `K' = K/(1 − K/2)`;
//! 5. drift: each plane's shift is estimated on one reference species against a reference plane
//!    (sub-pixel phase correlation) and the same shift is applied to every mass of that plane;
//! 6. optionally the planes are summed into one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use corrflow_im::ImFile;
use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage, port_types,
};
use corrflow_types::{IonStack, MassInfo, types};
use ndarray::{Array4, Axis, s};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::align::{ShiftMode, ShiftOptions, align_planes_with, apply_shift};
use crate::deadtime::{DeadTimeParams, SaturationPolicy, correct_dead_time_inplace};
use crate::hotpix::{HotPixelParams, remove_hot_pixels};
use crate::qsa::{QsaParams, correct_qsa_inplace};

/// Dead-time correction: `header` (each mass's detector dead time from the file), `off`, or a
/// dead time in ns used for every mass.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum DeadTime {
    Mode(DeadTimeMode),
    /// Dead time (ns) for every mass.
    Ns(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeadTimeMode {
    /// Each mass's detector dead time as recorded in the file (44 ns when absent).
    Header,
    /// No correction.
    Off,
}

impl Default for DeadTime {
    fn default() -> Self {
        DeadTime::Mode(DeadTimeMode::Header)
    }
}

/// What to do with pixels whose correction has no finite value (e.g. `N·d/τ ≥ 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Saturation {
    /// Fail, naming how many pixels are saturated.
    #[default]
    Error,
    /// Set them to NaN and warn.
    Nan,
}

/// Quasi-simultaneous arrival correction (Slodzian 2004).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QsaSpec {
    /// Primary beam current FCo (pA).
    pub fco_pa: f64,
    /// β per mass name (e.g. `12C14N: 0.8`); masses not listed use `default_beta`.
    #[serde(default)]
    pub beta: BTreeMap<String, f64>,
    /// β of the masses not listed in `beta` (1 = the usual value; 0 disables for them).
    #[serde(default = "one")]
    pub default_beta: f64,
}

fn one() -> f64 {
    1.0
}

/// Plane (drift) alignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlignSpec {
    /// Species whose images are registered (a strong, structured channel); default: the first
    /// present of 12C14N, SE, 32S, 12C, 16O. Weak channels (12C15N, 13C) must not be used.
    #[serde(default)]
    pub reference: Option<String>,
    /// Reference plane, 1-based (default 1).
    #[serde(default = "first")]
    pub reference_plane: usize,
    /// Sub-pixel precision 1/upsample px (phase correlation refined by an upsampled DFT).
    #[serde(default = "default_upsample")]
    pub upsample: usize,
    /// Largest plausible drift (px); a larger estimate fails the task, naming the plane.
    #[serde(default = "default_max_shift")]
    pub max_shift_px: f64,
    /// `bilinear` (sub-pixel) or `integer` (whole pixels: counts stay integral).
    #[serde(default)]
    pub mode: ShiftModeSpec,
    /// Mean-subtract and Hann-window the planes before correlating (more robust at low counts;
    /// not what scikit-image does).
    #[serde(default)]
    pub robust: bool,
}

fn first() -> usize {
    1
}
fn default_upsample() -> usize {
    20
}
fn default_max_shift() -> f64 {
    10.0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShiftModeSpec {
    #[default]
    Bilinear,
    Integer,
}

/// Planes to use, 1-based and inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaneRange {
    #[serde(default = "first")]
    pub first: usize,
    /// Last plane (default: the last one in the file).
    #[serde(default)]
    pub last: Option<usize>,
}

/// Hot-pixel removal: a pixel more than `k·sqrt(m)` and `min_excess` counts above the median m
/// of its 3×3 neighbours is replaced by m.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HotPixelSpec {
    #[serde(default = "default_k")]
    pub k: f64,
    #[serde(default = "default_min_excess")]
    pub min_excess: f64,
}

fn default_k() -> f64 {
    10.0
}
fn default_min_excess() -> f64 {
    10.0
}

/// Parameters of `io.nanosims`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IoNanosimsParams {
    /// Dead-time correction: `header`, `off`, or a dead time in ns for every mass.
    #[serde(default)]
    pub dead_time: DeadTime,
    /// Pixels whose correction has no finite value: `error` (default) or `nan`.
    #[serde(default)]
    pub saturation: Saturation,
    /// Dwell time per pixel and plane (µs); default: the file's B-field table.
    #[serde(default)]
    pub dwell_time_us: Option<f64>,
    /// QSA correction after dead time; null = off.
    #[serde(default)]
    pub qsa: Option<QsaSpec>,
    /// Drift alignment of the planes; null = off.
    #[serde(default)]
    pub align: Option<AlignSpec>,
    /// Planes to use (1-based, inclusive); null = all.
    #[serde(default)]
    pub planes: Option<PlaneRange>,
    /// Sum the selected (aligned) planes into one.
    #[serde(default)]
    pub accumulate: bool,
    /// Drop the 1-pixel border (the Cameca first row/column artefact).
    #[serde(default)]
    pub crop_border: bool,
    /// Hot-pixel removal on the raw counts; null = off.
    #[serde(default)]
    pub hot_pixels: Option<HotPixelSpec>,
}

/// Reads Cameca NanoSIMS `.im` images into an ion stack.
pub struct IoNanosims;

const DOC: &str = "Read a Cameca NanoSIMS .im image (any release, either byte order, gz/bz2/zip) into an ion \
stack of counts (masses × planes × height × width), with per-pixel dead-time and QSA corrections, hot-pixel \
removal, sub-pixel drift alignment of the planes (one shift per plane for every mass), plane selection, \
accumulation and border cropping.";

impl TypedStage for IoNanosims {
    type Params = IoNanosimsParams;
    const ID: &'static str = "io.nanosims";
    const VERSION: &'static str = "1";
    const DOC: &'static str = DOC;

    fn ports(&self, _: &IoNanosimsParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new("file", port_types::FILE, "the .im file")],
            outputs: vec![PortSpec::new(
                "ions",
                types::ION_STACK,
                "counts per mass, plane and pixel, corrected as asked",
            )],
        }
    }

    fn validate(&self, p: &IoNanosimsParams) -> Result<(), ParamError> {
        let positive = |path: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(ParamError::new(
                    path,
                    format!("must be a positive number, got {v}"),
                ))
            }
        };
        if let DeadTime::Ns(ns) = p.dead_time
            && !(ns.is_finite() && ns >= 0.0)
        {
            return Err(ParamError::new(
                "dead_time",
                format!("must be header, off or ≥ 0 ns, got {ns}"),
            ));
        }
        if let Some(d) = p.dwell_time_us {
            positive("dwell_time_us", d)?;
        }
        if let Some(q) = &p.qsa {
            positive("qsa.fco_pa", q.fco_pa)?;
            for (m, b) in q
                .beta
                .iter()
                .chain([(&"default_beta".to_string(), &q.default_beta)])
            {
                if !b.is_finite() {
                    return Err(ParamError::new(format!("qsa.beta.{m}"), "must be finite"));
                }
            }
        }
        if let Some(a) = &p.align {
            if a.upsample == 0 || a.upsample > 1000 {
                return Err(ParamError::new("align.upsample", "must be in 1..=1000"));
            }
            if a.reference_plane == 0 {
                return Err(ParamError::new(
                    "align.reference_plane",
                    "planes are numbered from 1",
                ));
            }
            if a.max_shift_px.is_nan() || a.max_shift_px < 0.0 {
                return Err(ParamError::new("align.max_shift_px", "must be ≥ 0"));
            }
        }
        if let Some(r) = p.planes {
            if r.first == 0 {
                return Err(ParamError::new(
                    "planes.first",
                    "planes are numbered from 1",
                ));
            }
            if r.last.is_some_and(|l| l < r.first) {
                return Err(ParamError::new("planes.last", "must be ≥ planes.first"));
            }
        }
        if let Some(h) = p.hot_pixels {
            positive("hot_pixels.k", h.k)?;
            if h.min_excess.is_nan() || h.min_excess < 0.0 {
                return Err(ParamError::new("hot_pixels.min_excess", "must be ≥ 0"));
            }
        }
        Ok(())
    }

    fn run(&self, p: &IoNanosimsParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let path = ctx.input_file("file")?;
        let file = ImFile::open(path).map_err(|e| StageError::input(e.to_string()))?;
        for w in file.warnings() {
            ctx.warn(w.clone());
        }
        let stack = read_stack(&file, p, ctx)?;
        stack.write(&ctx.output_group("ions")?)
    }

    /// One float32 TIFF per mass, summed over planes: `results/SAMPLE/NODE.MASS.tif`.
    fn export(
        &self,
        _: &IoNanosimsParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        let stack = IonStack::read(&ctx.entry.group("ions")?)?;
        let mut written = Vec::new();
        for m in &stack.masses {
            let sum = stack.channel_sum(&m.name)?.mapv(|v| v as f32);
            // The mass name comes from the file: ExportContext::path keeps it a plain name.
            let path = ctx.path(&format!("{}.tif", m.name));
            corrflow_io_em::write_tiff_f32(&path, &sum, Some(stack.pixel_size_nm))
                .map_err(|e| StageError::other(e.to_string()))?;
            written.push(path);
        }
        Ok(written)
    }
}

fn err(file: &ImFile, e: impl std::fmt::Display) -> StageError {
    StageError::input(format!("{}: {e}", file.header().file_name))
}

/// The default reference species for alignment.
const ALIGN_CANDIDATES: [&str; 5] = ["12C14N", "SE", "32S", "12C", "16O"];

/// Read, correct and align; see the module docs for the order.
pub fn read_stack(
    file: &ImFile,
    p: &IoNanosimsParams,
    ctx: &mut RunContext<'_>,
) -> Result<IonStack, StageError> {
    let h = file.header().clone();
    if !file.has_image_data() {
        return Err(err(
            file,
            format!(
                "no image data ({})",
                file.no_data_reason().unwrap_or("header only")
            ),
        ));
    }
    // Decoded straight to f32 (exact for any count a detector records in one dwell).
    let raw = file
        .counts_as::<f32>(usize::from(p.crop_border))
        .map_err(|e| err(file, e))?;
    // Plane selection (1-based, inclusive).
    let n_planes = raw.len_of(Axis(1));
    let (first, last) = match p.planes {
        None => (1, n_planes),
        Some(r) => (r.first, r.last.unwrap_or(n_planes)),
    };
    if first > n_planes || last > n_planes {
        return Err(err(
            file,
            format!("planes {first}..={last} asked, the file has {n_planes}"),
        ));
    }
    let mut counts: Array4<f32> = if first == 1 && last == n_planes {
        raw
    } else {
        raw.slice(s![.., first - 1..last, .., ..]).to_owned()
    };
    let (n_masses, planes, _height, width) = counts.dim();
    let mut corrections: Vec<String> = Vec::new();

    if let Some(hp) = p.hot_pixels {
        let params = HotPixelParams {
            k: hp.k,
            min_excess: hp.min_excess,
        };
        let mut total = 0;
        for mut mass in counts.outer_iter_mut() {
            for img in mass.outer_iter_mut() {
                total += remove_hot_pixels(img, &params).map_err(|e| err(file, e))?;
            }
        }
        if total > 0 {
            ctx.warn(format!(
                "{total} hot pixel(s) replaced by their neighbourhood median"
            ));
        }
        corrections.push(format!("hot_pixels(k={})", hp.k));
    }

    let saturation = match p.saturation {
        Saturation::Error => SaturationPolicy::Error,
        Saturation::Nan => SaturationPolicy::SetNan,
    };
    // Dwell time per pixel and plane (s), per mass.
    let dwell: Vec<f64> = (0..n_masses)
        .map(|m| match p.dwell_time_us {
            Some(us) => Ok(us * 1e-6),
            None => h.mass_dwell_time_s(m).ok_or_else(|| {
                err(
                    file,
                    "the file records no dwell time per pixel; set params.dwell_time_us",
                )
            }),
        })
        .collect::<Result<_, _>>()?;
    let dead_time_ns = |m: usize| -> Option<f64> {
        match p.dead_time {
            DeadTime::Mode(DeadTimeMode::Off) => None,
            DeadTime::Mode(DeadTimeMode::Header) => Some(f64::from(h.masses[m].dead_time_ns)),
            DeadTime::Ns(ns) => Some(ns),
        }
    };
    if !matches!(p.dead_time, DeadTime::Mode(DeadTimeMode::Off)) {
        for (m, mut mass) in counts.outer_iter_mut().enumerate() {
            let d = dead_time_ns(m).unwrap_or(0.0) * 1e-9;
            let mut params = DeadTimeParams::new(d, dwell[m]);
            params.saturation = saturation;
            let r = correct_dead_time_inplace(mass.view_mut(), &params)
                .map_err(|e| err(file, format!("{}: {e}", h.masses[m].name)))?;
            if r.n_saturated > 0 {
                ctx.warn(format!(
                    "{}: {} saturated pixel(s) set to NaN by the dead-time correction",
                    h.masses[m].name, r.n_saturated
                ));
            }
        }
        corrections.push(match p.dead_time {
            DeadTime::Ns(ns) => format!("dead_time({ns} ns)"),
            _ => "dead_time(header)".to_string(),
        });
    }
    if let Some(q) = &p.qsa {
        for (m, mut mass) in counts.outer_iter_mut().enumerate() {
            let beta = q
                .beta
                .get(&h.masses[m].name)
                .copied()
                .unwrap_or(q.default_beta);
            let mut params = QsaParams::new(q.fco_pa, dwell[m]);
            params.beta = beta;
            params.saturation = saturation;
            let r = correct_qsa_inplace(mass.view_mut(), &params)
                .map_err(|e| err(file, format!("{}: {e}", h.masses[m].name)))?;
            if r.n_saturated > 0 {
                ctx.warn(format!(
                    "{}: {} pixel(s) set to NaN by the QSA correction",
                    h.masses[m].name, r.n_saturated
                ));
            }
        }
        corrections.push(format!("qsa(FCo={} pA)", q.fco_pa));
    }

    let mut shifts = ndarray::Array2::<f64>::zeros((planes, 2));
    if let Some(a) = &p.align {
        let reference = match &a.reference {
            Some(r) => h.mass_index(r).filter(|&i| i < n_masses).ok_or_else(|| {
                let names: Vec<&str> = h.masses.iter().take(n_masses).map(|m| m.name.as_str()).collect();
                err(file, format!("align.reference '{r}' is not a mass of this file ({})", names.join(", ")))
            })?,
            None => ALIGN_CANDIDATES
                .iter()
                .find_map(|c| h.mass_index(c).filter(|&i| i < n_masses))
                .ok_or_else(|| err(file, "no strong channel (12C14N, SE, 32S, 12C, 16O) to align on; set align.reference"))?,
        };
        if a.reference_plane > planes {
            return Err(err(
                file,
                format!(
                    "align.reference_plane {} > {planes} planes",
                    a.reference_plane
                ),
            ));
        }
        if planes > 1 {
            let opts = if a.robust {
                ShiftOptions::robust(a.upsample)
            } else {
                ShiftOptions::skimage(a.upsample)
            };
            let reference_images = counts.index_axis(Axis(0), reference).mapv(f64::from);
            let found = align_planes_with(
                reference_images.view(),
                a.reference_plane - 1,
                a.max_shift_px,
                &opts,
            )
            .map_err(|e| {
                err(
                    file,
                    format!("aligning on {}: {e}", h.masses[reference].name),
                )
            })?;
            let mode = match a.mode {
                ShiftModeSpec::Bilinear => ShiftMode::Bilinear,
                ShiftModeSpec::Integer => ShiftMode::Integer,
            };
            let mut edge = 0usize;
            for (pl, shift) in found.iter().enumerate() {
                shifts[[pl, 0]] = shift.dy;
                shifts[[pl, 1]] = shift.dx;
                if shift.dy == 0.0 && shift.dx == 0.0 {
                    continue;
                }
                for m in 0..n_masses {
                    let img = counts.slice(s![m, pl, .., ..]);
                    let out =
                        apply_shift(img, shift.dy, shift.dx, mode).map_err(|e| err(file, e))?;
                    if m == 0 {
                        edge += out.valid.iter().filter(|v| !**v).count();
                    }
                    // Pixels shifted in from outside the field are 0 in every mass of the plane,
                    // which leaves ratios of sums unbiased.
                    counts
                        .slice_mut(s![m, pl, .., ..])
                        .assign(&out.image.mapv(|v| v as f32));
                }
            }
            let max = found.iter().map(|s| s.dy.hypot(s.dx)).fold(0.0, f64::max);
            ctx.warn(format!(
                "aligned {planes} planes on {}: largest drift {max:.2} px; {edge} edge pixel(s) without data set to 0",
                h.masses[reference].name
            ));
        }
        corrections.push(format!("aligned({})", h.masses[reference].name));
    }

    let mut plane_shifts = shifts;
    if p.accumulate && planes > 1 {
        counts = counts.sum_axis(Axis(1)).insert_axis(Axis(1));
        plane_shifts = ndarray::Array2::zeros((1, 2));
        corrections.push(format!("accumulated({planes} planes)"));
    }
    let masses: Vec<MassInfo> = h
        .masses
        .iter()
        .take(n_masses)
        .enumerate()
        .map(|(i, m)| {
            // The dead time used (or, when the correction is off, the detector's).
            let dt = dead_time_ns(i).unwrap_or(f64::from(m.dead_time_ns));
            let mut info = MassInfo::new(&m.label, m.mass_amu, m.detector, dt);
            info.name = m.name.clone();
            info
        })
        .collect();
    // Width of the field in nm: the crop removes one pixel on each side.
    let full_width = h.width.max(1) as f64;
    let raster_nm = f64::from(h.raster_nm) * width as f64 / full_width;
    let dwell_mean = dwell.iter().sum::<f64>() / dwell.len().max(1) as f64;
    let name = std::path::Path::new(&h.file_name)
        .file_name()
        .map_or(h.file_name.clone(), |n| n.to_string_lossy().to_string());
    let stack = IonStack::new(counts, masses, raster_nm, dwell_mean, name)
        .map_err(|e| err(file, e))?
        .with_corrections(if corrections.is_empty() {
            "none".to_string()
        } else {
            corrections.join("+")
        })?
        .with_plane_shifts(plane_shifts)?;
    Ok(stack)
}
