//! The `io.em` stage: read a sample's EM image file into an `em_image` entry.

use corrflow_stage::{
    ParamError, Plugin, PortSpec, Ports, Registry, RunContext, StageError, TypedStage, port_types,
};
use corrflow_types::{EmImage, types};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::read_em;

/// Parameters of `io.em`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IoEmParams {
    /// Pixel size in nm. When set it overrides the file's resolution tags; when null the file
    /// must carry one (TIFF resolution tags, ImageJ/FEI/Zeiss metadata, PNG pHYs).
    #[serde(default)]
    pub pixel_size_nm: Option<f64>,
    /// Page of a multi-page TIFF (0-based).
    #[serde(default)]
    pub page: usize,
}

/// Reads 8/16/32-bit integer and float TIFF (single or multi-page) and PNG EM images.
pub struct IoEm;

impl TypedStage for IoEm {
    type Params = IoEmParams;
    const ID: &'static str = "io.em";
    const VERSION: &'static str = "2";
    const DOC: &'static str = "Read an EM image (8/16-bit or float32 grayscale TIFF, multi-page TIFF, PNG; \
RGB is converted to luminance) with its pixel size from the file's tags or the pixel_size_nm param. \
Intensities are kept exactly as float32.";

    fn ports(&self, _: &IoEmParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new(
                "file",
                port_types::FILE,
                "the image file (TIFF or PNG)",
            )],
            outputs: vec![PortSpec::new(
                "image",
                types::EM_IMAGE,
                "the image with its pixel size",
            )],
        }
    }

    fn validate(&self, p: &IoEmParams) -> Result<(), ParamError> {
        match p.pixel_size_nm {
            Some(s) if !(s.is_finite() && s > 0.0) => Err(ParamError::new(
                "pixel_size_nm",
                format!("must be a positive number of nm, got {s}"),
            )),
            _ => Ok(()),
        }
    }

    fn run(&self, p: &IoEmParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let path = ctx.input_file("file")?;
        let raster = read_em(path, Some(p.page)).map_err(|e| StageError::input(e.to_string()))?;
        let pixel_size_nm = match (p.pixel_size_nm, raster.pixel_size_nm) {
            (Some(over), _) => over,
            (None, Some(from_file)) => from_file,
            (None, None) => {
                return Err(StageError::input(format!(
                    "{}: the file has no usable pixel size (no FEI or Zeiss metadata, and no \
                     resolution tags with a finite positive value and a known unit); set \
                     params.pixel_size_nm (nm per pixel)",
                    path.display()
                )));
            }
        };
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().to_string(),
        );
        let image = EmImage::new(raster.data, pixel_size_nm, name)
            .map_err(|e| StageError::input(format!("{}: {e}", path.display())))?
            .with_compact_storage();
        image.write(&ctx.output_group("image")?)
    }
}

/// Registers `io.em`.
pub struct IoEmPlugin;

impl Plugin for IoEmPlugin {
    fn build(&self, registry: &mut Registry) {
        registry.add_stage(IoEm).add_inspector(crate::EmInspector);
    }
}
