//! The `nanosims.ratio` stage: a ratio image (e.g. 12C15N/12C14N) of an ion stack, with the
//! plain colour-mapped and HSI renderings as PNG exports.

use std::path::PathBuf;

use corrflow_stage::hdf5::Group;
use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage, h5,
};
use corrflow_types::{IonStack, types};
use ndarray::Array2;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::colorbar::ColorbarOptions;
use crate::hsi::{HsiOptions, Limits, RatioImageOptions, render_hsi_png, render_ratio_png};
use crate::ratio::{RatioOptions, ratio_image, ratio_of_sums};

/// The port type of a ratio image.
pub const RATIO_IMAGE: &str = "ratio_image";

/// Parameters of `nanosims.ratio`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RatioParams {
    /// Numerator mass name (as in the ion stack, without spaces).
    #[serde(default = "default_num")]
    pub numerator: String,
    /// Denominator mass name.
    #[serde(default = "default_den")]
    pub denominator: String,
    /// Pixels whose (smoothed, plane-summed) denominator is below this many counts are masked.
    #[serde(default = "default_min_den")]
    pub min_denominator: f64,
    /// Box smoothing of both count images before dividing (odd side in px; 1 = none).
    #[serde(default = "default_smooth")]
    pub smooth_px: usize,
    /// Colour scale of the ratio `[min, max]`; default: 1st–99th percentiles.
    #[serde(default)]
    pub ratio_range: Option<[f64; 2]>,
    /// HSI intensity scale of the denominator counts `[min, max]`; default: 1st–99th percentiles.
    #[serde(default)]
    pub intensity_range: Option<[f64; 2]>,
}

fn default_num() -> String {
    "12C15N".into()
}
fn default_den() -> String {
    "12C14N".into()
}
fn default_min_den() -> f64 {
    1.0
}
fn default_smooth() -> usize {
    1
}

impl Default for RatioParams {
    fn default() -> Self {
        Self {
            numerator: default_num(),
            denominator: default_den(),
            min_denominator: default_min_den(),
            smooth_px: default_smooth(),
            ratio_range: None,
            intensity_range: None,
        }
    }
}

/// A ratio image with the counts it came from.
///
/// HDF5 layout (group, `corrflow_type = "ratio_image"`, `layout_version = 1`): datasets `ratio`
/// (float32 (height, width), NaN where masked), `numerator_counts` and `denominator_counts`
/// (float32, summed over planes, unsmoothed); attributes `numerator`, `denominator` (mass names),
/// `min_denominator` (counts), `smooth_px`, `pixel_size_nm`, and the whole-image ratio of sums
/// `ratio_of_sums` with its Poisson relative error `rel_error`.
pub struct RatioImage {
    pub ratio: Array2<f32>,
    pub numerator_counts: Array2<f32>,
    pub denominator_counts: Array2<f32>,
    pub numerator: String,
    pub denominator: String,
    pub min_denominator: f64,
    pub smooth_px: usize,
    pub pixel_size_nm: f64,
    pub ratio_of_sums: f64,
    pub rel_error: f64,
}

impl RatioImage {
    pub fn write(&self, g: &Group) -> Result<(), StageError> {
        h5::set_str(g, "corrflow_type", RATIO_IMAGE)?;
        h5::set_i64(g, "layout_version", 1)?;
        h5::set_str(g, "numerator", &self.numerator)?;
        h5::set_str(g, "denominator", &self.denominator)?;
        h5::set_f64(g, "min_denominator", self.min_denominator)?;
        h5::set_i64(g, "smooth_px", self.smooth_px as i64)?;
        h5::set_f64(g, "pixel_size_nm", self.pixel_size_nm)?;
        h5::set_f64(g, "ratio_of_sums", self.ratio_of_sums)?;
        h5::set_f64(g, "rel_error", self.rel_error)?;
        for (name, data, units) in [
            ("ratio", &self.ratio, "ratio"),
            ("numerator_counts", &self.numerator_counts, "counts"),
            ("denominator_counts", &self.denominator_counts, "counts"),
        ] {
            let ds = g.new_dataset_builder().with_data(data).create(name)?;
            h5::set_str(&ds, "units", units)?;
        }
        Ok(())
    }

    pub fn read(g: &Group) -> Result<Self, StageError> {
        let ty = h5::get_str(g, "corrflow_type")?;
        if ty != RATIO_IMAGE {
            return Err(StageError::input(format!(
                "HDF5 group '{}' holds '{ty}', expected '{RATIO_IMAGE}'",
                g.name()
            )));
        }
        Ok(Self {
            ratio: g.dataset("ratio")?.read_2d()?,
            numerator_counts: g.dataset("numerator_counts")?.read_2d()?,
            denominator_counts: g.dataset("denominator_counts")?.read_2d()?,
            numerator: h5::get_str(g, "numerator")?,
            denominator: h5::get_str(g, "denominator")?,
            min_denominator: h5::get_f64(g, "min_denominator")?,
            smooth_px: usize::try_from(h5::get_i64(g, "smooth_px")?).unwrap_or(1),
            pixel_size_nm: h5::get_f64(g, "pixel_size_nm")?,
            ratio_of_sums: h5::get_f64(g, "ratio_of_sums")?,
            rel_error: h5::get_f64(g, "rel_error")?,
        })
    }
}

/// Ratio images of NanoSIMS ion stacks.
pub struct NanosimsRatio;

fn limits(range: Option<[f64; 2]>) -> Limits {
    match range {
        Some([min, max]) => Limits::Fixed { min, max },
        None => Limits::Percentiles {
            low: 1.0,
            high: 99.0,
        },
    }
}

impl TypedStage for NanosimsRatio {
    type Params = RatioParams;
    const ID: &'static str = "nanosims.ratio";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "Ratio image of two masses of an ion stack (default 12C15N/12C14N), summed over \
planes, with a minimum-denominator mask and optional box smoothing; exports the ratio as a colour-mapped PNG \
and an HSI PNG (hue = ratio, intensity = denominator counts), both with a labelled colour bar, and a float TIFF.";

    fn ports(&self, _: &RatioParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new("ions", types::ION_STACK, "the ion stack")],
            outputs: vec![PortSpec::new(
                "ratio",
                RATIO_IMAGE,
                "the ratio image and its counts",
            )],
        }
    }

    fn validate(&self, p: &RatioParams) -> Result<(), ParamError> {
        if p.smooth_px == 0 || p.smooth_px.is_multiple_of(2) {
            return Err(ParamError::new(
                "smooth_px",
                "must be odd (1 = no smoothing)",
            ));
        }
        if p.min_denominator.is_nan() || p.min_denominator < 0.0 {
            return Err(ParamError::new("min_denominator", "must be ≥ 0 counts"));
        }
        for (name, r) in [
            ("ratio_range", p.ratio_range),
            ("intensity_range", p.intensity_range),
        ] {
            if let Some([a, b]) = r
                && !(a.is_finite() && b.is_finite() && a < b)
            {
                return Err(ParamError::new(name, "must be [min, max] with min < max"));
            }
        }
        if p.numerator == p.denominator {
            return Err(ParamError::new(
                "denominator",
                "must differ from the numerator",
            ));
        }
        Ok(())
    }

    fn run(&self, p: &RatioParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let stack = IonStack::read(&ctx.input_group("ions")?)?;
        let num = stack.channel_sum(&p.numerator)?;
        let den = stack.channel_sum(&p.denominator)?;
        let opts = RatioOptions {
            min_den: p.min_denominator,
            smooth_px: p.smooth_px,
        };
        let ratio = ratio_image(num.view(), den.view(), &opts)
            .map_err(|e| StageError::input(e.to_string()))?;
        let sums = ratio_of_sums(num.view(), den.view(), None)
            .map_err(|e| StageError::input(e.to_string()))?;
        let masked = ratio.iter().filter(|v| v.is_nan()).count();
        if masked == ratio.len() {
            ctx.warn(format!(
                "every pixel has fewer than {} {} counts: the ratio image is empty",
                p.min_denominator, p.denominator
            ));
        }
        let out = RatioImage {
            ratio: ratio.mapv(|v| v as f32),
            numerator_counts: num.mapv(|v| v as f32),
            denominator_counts: den.mapv(|v| v as f32),
            numerator: p.numerator.clone(),
            denominator: p.denominator.clone(),
            min_denominator: p.min_denominator,
            smooth_px: p.smooth_px,
            pixel_size_nm: stack.pixel_size_nm,
            ratio_of_sums: sums.ratio,
            rel_error: sums.rel_error,
        };
        out.write(&ctx.output_group("ratio")?)
    }

    /// `NODE.ratio.png` (viridis), `NODE.hsi.png`, `NODE.ratio.tif` (float32, NaN where masked).
    fn export(&self, p: &RatioParams, ctx: &ExportContext<'_>) -> Result<Vec<PathBuf>, StageError> {
        let r = RatioImage::read(&ctx.entry.group("ratio")?)?;
        let ratio = r.ratio.mapv(f64::from);
        let den = r.denominator_counts.mapv(f64::from);
        let title = format!("{}/{}", r.numerator, r.denominator);
        let scale = (512 / ratio.ncols().max(1)).clamp(1, 4) as u32;
        let colorbar = ColorbarOptions {
            title: Some(title),
            scale,
            ..ColorbarOptions::default()
        };
        let png = ctx.dir.join(format!("{}.ratio.png", ctx.node));
        let ropts = RatioImageOptions {
            limits: limits(p.ratio_range),
            colorbar: colorbar.clone(),
            ..Default::default()
        };
        render_ratio_png(&png, ratio.view(), &ropts)
            .map_err(|e| StageError::other(e.to_string()))?;
        let hsi = ctx.dir.join(format!("{}.hsi.png", ctx.node));
        let hopts = HsiOptions {
            ratio_limits: limits(p.ratio_range),
            intensity_limits: limits(p.intensity_range),
            colorbar,
        };
        render_hsi_png(&hsi, ratio.view(), den.view(), &hopts)
            .map_err(|e| StageError::other(e.to_string()))?;
        let tif = ctx.dir.join(format!("{}.ratio.tif", ctx.node));
        corrflow_io_em::write_tiff_f32(&tif, &r.ratio, Some(r.pixel_size_nm))
            .map_err(|e| StageError::other(e.to_string()))?;
        Ok(vec![png, hsi, tif])
    }
}
