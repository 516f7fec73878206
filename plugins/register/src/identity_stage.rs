//! `register.identity`: EM and NanoSIMS images that are already aligned (same field of view, same
//! orientation, both starting at the same corner): the transform only converts pixel sizes.
//!
//! With s = EM pixel / NanoSIMS pixel (nm/nm), EM pixel centre x maps to the physical position
//! (x + 0.5)·p_em from the field's edge, i.e. NanoSIMS pixel u = (x + 0.5)·s − 0.5:
//! matrix = [[s, 0, s/2 − 1/2], [0, s, s/2 − 1/2], [0, 0, 1]].

use std::path::PathBuf;

use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage,
};
use corrflow_types::{EmImage, IonStack, Transform2D, TransformKind, types};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::output::{channel, export_entry, write_transform};

/// Parameters of `register.identity`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityParams {
    /// NanoSIMS channel shown in the QC image (default: SE, 12C14N, 31P or 32S, the first present).
    #[serde(default)]
    pub channel: Option<String>,
}

/// The `register.identity` stage.
pub struct RegisterIdentity;

/// The matrix of aligned fields with EM pixel `em_nm` and NanoSIMS pixel `ns_nm`.
pub fn aligned_matrix(em_nm: f64, ns_nm: f64) -> [[f64; 3]; 3] {
    let s = em_nm / ns_nm;
    let t = s / 2.0 - 0.5;
    [[s, 0.0, t], [0.0, s, t], [0.0, 0.0, 1.0]]
}

impl TypedStage for RegisterIdentity {
    type Params = IdentityParams;
    const ID: &'static str = "register.identity";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "Registration of data that are already aligned: EM and NanoSIMS cover the same \
field from the same corner, so EM pixel → NanoSIMS pixel only converts pixel sizes. Exports \
SAMPLE/transform.json and SAMPLE/registration.png (EM green, NanoSIMS magenta).";

    fn ports(&self, _: &IdentityParams) -> Ports {
        Ports {
            inputs: vec![
                PortSpec::new("image", types::EM_IMAGE, "the EM image"),
                PortSpec::new("ions", types::ION_STACK, "the NanoSIMS ion stack"),
            ],
            outputs: vec![PortSpec::new(
                "transform",
                types::TRANSFORM,
                "EM pixel (x, y, 1) → NanoSIMS pixel",
            )],
        }
    }

    fn validate(&self, p: &IdentityParams) -> Result<(), ParamError> {
        if p.channel.as_deref().is_some_and(|c| c.trim().is_empty()) {
            return Err(ParamError::new("channel", "is empty"));
        }
        Ok(())
    }

    fn run(&self, p: &IdentityParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let em = EmImage::read(&ctx.input_group("image")?)?;
        let ions = IonStack::read(&ctx.input_group("ions")?)?;
        let (_, ch) = channel(&ions, p.channel.as_deref())?;
        let t = Transform2D::new(
            aligned_matrix(em.pixel_size_nm, ions.pixel_size_nm),
            TransformKind::Similarity,
            "em",
            em.pixel_size_nm,
            "nanosims",
            ions.pixel_size_nm,
            "identity",
        )?;
        write_transform(&ctx.output_group("transform")?, &t, &em, &ch)
    }

    fn export(
        &self,
        _: &IdentityParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        export_entry(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_centres_map_through_physical_position() {
        // EM 10 nm, NanoSIMS 40 nm: EM pixels 0..3 cover NanoSIMS pixel 0, whose centre is at
        // EM x = 1.5.
        let m = aligned_matrix(10.0, 40.0);
        let u = |x: f64| m[0][0] * x + m[0][2];
        assert!((u(1.5) - 0.0).abs() < 1e-12);
        assert!((u(5.5) - 1.0).abs() < 1e-12);
        assert_eq!(
            aligned_matrix(5.0, 5.0),
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        );
    }
}
