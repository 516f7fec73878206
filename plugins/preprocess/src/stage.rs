//! The `preprocess.em` stage: an ordered list of [`Step`]s applied to an `em_image`.

use std::path::PathBuf;

use corrflow_stage::{
    ExportContext, Plugin, PortSpec, Ports, Registry, RunContext, StageError, TypedStage,
};
use corrflow_types::{EmImage, types};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Step, apply_steps};

/// Parameters of `preprocess.em`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PreprocessParams {
    /// Operations applied in order; each sees the previous one's output and pixel size.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// EM preprocessing: normalisation, CLAHE, Gaussian/median denoising, background flattening,
/// inversion and resampling, matching scipy / scikit-image.
pub struct PreprocessEm;

impl TypedStage for PreprocessEm {
    type Params = PreprocessParams;
    const ID: &'static str = "preprocess.em";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "Preprocess an EM image with an ordered list of steps: percentile_normalize, clahe \
(= skimage equalize_adapthist), gaussian and median (= scipy.ndimage), flatten_background, invert, resample \
(area-averaging down, bilinear up). Lengths are in nm.";

    fn ports(&self, _: &PreprocessParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new("image", types::EM_IMAGE, "the EM image")],
            outputs: vec![PortSpec::new(
                "image",
                types::EM_IMAGE,
                "the preprocessed image (pixel size updated by resample)",
            )],
        }
    }

    fn validate(&self, p: &PreprocessParams) -> Result<(), corrflow_stage::ParamError> {
        for (i, step) in p.steps.iter().enumerate() {
            step.validate().map_err(|e| {
                corrflow_stage::ParamError::new(format!("steps[{i}]"), e.to_string())
            })?;
        }
        Ok(())
    }

    fn run(&self, p: &PreprocessParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let input = EmImage::read(&ctx.input_group("image")?)?;
        let (data, pixel_size_nm) = apply_steps(input.data.view(), input.pixel_size_nm, &p.steps)
            .map_err(|e| {
            StageError::input(format!("{} ({}): {e}", ctx.sample_id(), input.source))
        })?;
        let out = EmImage::new(
            data,
            pixel_size_nm,
            format!("{} after {}", input.source, ctx.node),
        )?;
        out.write(&ctx.output_group("image")?)
    }

    /// A float32 TIFF with the pixel size, as Fiji/napari open it: `results/SAMPLE/NODE.tif`.
    fn export(
        &self,
        _: &PreprocessParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        let img = EmImage::read(&ctx.entry.group("image")?)?;
        let path = ctx.path("tif");
        corrflow_io_em::write_tiff_f32(&path, &img.data, Some(img.pixel_size_nm))
            .map_err(|e| StageError::other(e.to_string()))?;
        Ok(vec![path])
    }
}

/// Registers `preprocess.em`.
pub struct PreprocessPlugin;

impl Plugin for PreprocessPlugin {
    fn build(&self, registry: &mut Registry) {
        registry.add_stage(PreprocessEm);
    }
}
