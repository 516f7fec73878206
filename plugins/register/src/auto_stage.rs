//! `register.auto`: the EM → NanoSIMS transform found from the images themselves (see
//! [`crate::auto`]: EM resampled to the NanoSIMS pixel size, rotation search by masked normalised
//! cross-correlation of gradient magnitudes, Nelder–Mead refinement). When the match is
//! ambiguous it refuses with an error — or, if a landmark CSV is wired to `landmarks`, falls back
//! to the landmark fit with a warning — instead of returning a wrong transform.

use std::path::PathBuf;

use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage, port_types,
};
use corrflow_types::{EmImage, IonStack, Transform2D, TransformKind, types};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auto::{AutoError, AutoKind, AutoOptions, register_auto};
use crate::landmarks::{FitOptions, fit, read_landmarks_csv, split};
use crate::output::{channel, export_entry, write_transform};

/// Parameters of `register.auto`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoParams {
    /// NanoSIMS channel compared with the EM (default: SE, 12C14N, 31P or 32S, the first present).
    #[serde(default)]
    pub channel: Option<String>,
    /// Search and refinement settings (rotation range and step, flip, scale range, kind,
    /// minimum confidence…); every field optional.
    #[serde(default)]
    pub search: AutoOptions,
}

/// The `register.auto` stage.
pub struct RegisterAuto;

impl TypedStage for RegisterAuto {
    type Params = AutoParams;
    const ID: &'static str = "register.auto";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "Automatic EM → NanoSIMS registration against a chosen NanoSIMS channel: EM \
resampled to the NanoSIMS pixel size, coarse rotation search (normalised cross-correlation of gradient \
magnitudes, robust to inverted contrast), refinement; reports its confidence and refuses ambiguous matches \
(or falls back to the landmark CSV wired to `landmarks`). Exports SAMPLE/transform.json and \
SAMPLE/registration.png.";

    fn ports(&self, _: &AutoParams) -> Ports {
        Ports {
            inputs: vec![
                PortSpec::new("image", types::EM_IMAGE, "the EM image"),
                PortSpec::new("ions", types::ION_STACK, "the NanoSIMS ion stack"),
                PortSpec::new(
                    "landmarks",
                    port_types::FILE,
                    "landmark CSV used when the automatic match is ambiguous",
                )
                .optional(),
            ],
            outputs: vec![PortSpec::new(
                "transform",
                types::TRANSFORM,
                "EM pixel (x, y, 1) → NanoSIMS pixel, with its confidence",
            )],
        }
    }

    fn validate(&self, p: &AutoParams) -> Result<(), ParamError> {
        if p.channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(ParamError::new("channel", "is empty"));
        }
        let s = &p.search;
        if !(s.rotation_step_deg.is_finite() && s.rotation_step_deg > 0.0) {
            return Err(ParamError::new("search.rotation_step_deg", "must be > 0"));
        }
        if !(s.min_confidence.is_finite() && (0.0..1.0).contains(&s.min_confidence)) {
            return Err(ParamError::new(
                "search.min_confidence",
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }

    fn run(&self, p: &AutoParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let em = EmImage::read(&ctx.input_group("image")?)?;
        let ions = IonStack::read(&ctx.input_group("ions")?)?;
        let (name, ch) = channel(&ions, p.channel.as_deref())?;
        let t = match register_auto(
            em.data.view(),
            em.pixel_size_nm,
            ch.view(),
            ions.pixel_size_nm,
            &p.search,
        ) {
            Ok(r) => {
                let kind = if r.flipped || p.search.kind == AutoKind::Affine {
                    TransformKind::Affine
                } else {
                    TransformKind::Similarity
                };
                Transform2D::new(
                    r.matrix,
                    kind,
                    "em",
                    em.pixel_size_nm,
                    "nanosims",
                    ions.pixel_size_nm,
                    format!("auto ({name})"),
                )?
                .with_quality(f64::NAN, r.confidence.clamp(0.0, 1.0))?
            }
            Err(AutoError::Ambiguous { best, second }) if ctx.has_input("landmarks") => {
                let path = ctx.input_file("landmarks")?.to_path_buf();
                ctx.warn(format!(
                    "automatic registration on {name} is ambiguous (best {best:.3}, second \
                     {second:.3}); using the landmarks in {}",
                    path.display()
                ));
                let pts =
                    read_landmarks_csv(&path).map_err(|e| StageError::input(e.to_string()))?;
                let (src, dst) = split(&pts);
                fit(
                    &src,
                    &dst,
                    TransformKind::Similarity,
                    &FitOptions::default(),
                )
                .and_then(|f| {
                    f.to_transform("em", em.pixel_size_nm, "nanosims", ions.pixel_size_nm)
                })
                .map_err(|e| StageError::input(format!("{}: {e}", path.display())))?
            }
            Err(e) => {
                return Err(StageError::input(format!(
                    "{}: {e} on channel {name}; check the channel and pixel sizes, or give \
                     landmarks (register.landmarks, or a CSV on this stage's `landmarks` input)",
                    ctx.sample_id()
                )));
            }
        };
        write_transform(&ctx.output_group("transform")?, &t, &em, &ch)
    }

    fn export(&self, _: &AutoParams, ctx: &ExportContext<'_>) -> Result<Vec<PathBuf>, StageError> {
        export_entry(ctx)
    }
}
