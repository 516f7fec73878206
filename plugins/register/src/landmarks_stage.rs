//! `register.landmarks`: the EM → NanoSIMS transform from corresponding points, given in the
//! pipeline file (`points`) or in a CSV wired to the `landmarks` input (per sample with
//! `sample.COLUMN`, or one file with `file:PATH`; columns `em_x, em_y, nanosims_x, nanosims_y`,
//! optional `name`). Least squares (similarity, affine or projective), with RANSAC when there are
//! more points than the minimum; residual per point in NanoSIMS px and nm, RMS in nm.

use std::path::PathBuf;

use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage, port_types,
};
use corrflow_types::{Column, EmImage, IonStack, Table, TableColumn, TransformKind, types};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::landmarks::{FitOptions, Landmark, Ransac, fit, read_landmarks_csv};
use crate::output::{channel, export_entry, write_transform};

/// One landmark pair in the pipeline file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PointPair {
    /// EM pixel [x = column, y = row].
    pub em: [f64; 2],
    /// NanoSIMS pixel [x, y].
    pub nanosims: [f64; 2],
    /// Optional label shown in the residual table.
    #[serde(default)]
    pub name: Option<String>,
}

/// The transform model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KindParam {
    /// Rotation, uniform scale, translation (≥ 2 points).
    #[default]
    Similarity,
    /// Any linear map plus translation (≥ 3 points).
    Affine,
    /// Homography (≥ 4 points).
    Projective,
}

fn default_threshold() -> f64 {
    3.0
}
fn yes() -> bool {
    true
}

/// Parameters of `register.landmarks`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LandmarkParams {
    /// Landmark pairs (used when the `landmarks` input is not wired).
    #[serde(default)]
    pub points: Vec<PointPair>,
    /// The transform model.
    #[serde(default)]
    pub kind: KindParam,
    /// RANSAC when there are more points than the minimum (outlier landmarks are then reported,
    /// not used).
    #[serde(default = "yes")]
    pub ransac: bool,
    /// RANSAC inlier threshold (NanoSIMS px).
    #[serde(default = "default_threshold")]
    pub ransac_threshold_px: f64,
    /// NanoSIMS channel shown in the QC image (default: SE, 12C14N, 31P or 32S).
    #[serde(default)]
    pub channel: Option<String>,
}

impl Default for LandmarkParams {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

/// The `register.landmarks` stage.
pub struct RegisterLandmarks;

impl TypedStage for RegisterLandmarks {
    type Params = LandmarkParams;
    const ID: &'static str = "register.landmarks";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "EM → NanoSIMS transform from landmark pairs (params.points, or a CSV em_x,em_y,\
nanosims_x,nanosims_y[,name] on the `landmarks` input): similarity/affine/projective least squares, RANSAC \
with more points than the minimum. Outputs the transform and a residual table (px, nm, inlier); exports \
SAMPLE/transform.json, SAMPLE/registration.png and NODE.residuals.csv.";

    fn ports(&self, _: &LandmarkParams) -> Ports {
        Ports {
            inputs: vec![
                PortSpec::new("image", types::EM_IMAGE, "the EM image"),
                PortSpec::new("ions", types::ION_STACK, "the NanoSIMS ion stack"),
                PortSpec::new(
                    "landmarks",
                    port_types::FILE,
                    "CSV of landmark pairs (instead of params.points)",
                )
                .optional(),
            ],
            outputs: vec![
                PortSpec::new(
                    "transform",
                    types::TRANSFORM,
                    "EM pixel (x, y, 1) → NanoSIMS pixel",
                ),
                PortSpec::new(
                    "residuals",
                    types::TABLE,
                    "per landmark: residual (NanoSIMS px, nm) and whether it was used",
                ),
            ],
        }
    }

    fn validate(&self, p: &LandmarkParams) -> Result<(), ParamError> {
        if !(p.ransac_threshold_px.is_finite() && p.ransac_threshold_px > 0.0) {
            return Err(ParamError::new(
                "ransac_threshold_px",
                "must be a positive number of px",
            ));
        }
        for (i, pt) in p.points.iter().enumerate() {
            if pt.em.iter().chain(&pt.nanosims).any(|v| !v.is_finite()) {
                return Err(ParamError::new(
                    format!("points[{i}]"),
                    "has a non-finite coordinate",
                ));
            }
        }
        Ok(())
    }

    fn run(&self, p: &LandmarkParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let em = EmImage::read(&ctx.input_group("image")?)?;
        let ions = IonStack::read(&ctx.input_group("ions")?)?;
        let (points, source) = if ctx.has_input("landmarks") {
            let path = ctx.input_file("landmarks")?.to_path_buf();
            let pts = read_landmarks_csv(&path).map_err(|e| StageError::input(e.to_string()))?;
            (pts, path.display().to_string())
        } else {
            let pts = p
                .points
                .iter()
                .enumerate()
                .map(|(i, pt)| Landmark {
                    name: pt.name.clone(),
                    line: i,
                    src: pt.em,
                    dst: pt.nanosims,
                })
                .collect();
            (pts, "params.points".to_string())
        };
        let kind = match p.kind {
            KindParam::Similarity => TransformKind::Similarity,
            KindParam::Affine => TransformKind::Affine,
            KindParam::Projective => TransformKind::Projective,
        };
        let opts = if p.ransac {
            FitOptions {
                ransac: Some(Ransac {
                    threshold_px: p.ransac_threshold_px,
                    ..Ransac::default()
                }),
            }
        } else {
            FitOptions::least_squares()
        };
        let src: Vec<[f64; 2]> = points.iter().map(|l| l.src).collect();
        let dst: Vec<[f64; 2]> = points.iter().map(|l| l.dst).collect();
        let f = fit(&src, &dst, kind, &opts)
            .map_err(|e| StageError::input(format!("{source}: {e}")))?;
        let t = f
            .to_transform("em", em.pixel_size_nm, "nanosims", ions.pixel_size_nm)
            .map_err(|e| StageError::input(format!("{source}: {e}")))?;
        let (_, ch) = channel(&ions, p.channel.as_deref())?;
        write_transform(&ctx.output_group("transform")?, &t, &em, &ch)?;
        let names: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, l)| l.name.clone().unwrap_or_else(|| format!("{}", i + 1)))
            .collect();
        let table = Table::new(vec![
            TableColumn::new("landmark", Column::Text(names)),
            TableColumn::new("em_x", Column::F64(src.iter().map(|p| p[0]).collect()))
                .with_units("px"),
            TableColumn::new("em_y", Column::F64(src.iter().map(|p| p[1]).collect()))
                .with_units("px"),
            TableColumn::new(
                "nanosims_x",
                Column::F64(dst.iter().map(|p| p[0]).collect()),
            )
            .with_units("px"),
            TableColumn::new(
                "nanosims_y",
                Column::F64(dst.iter().map(|p| p[1]).collect()),
            )
            .with_units("px"),
            TableColumn::new("residual_px", Column::F64(f.residuals_px.clone())).with_units("px"),
            TableColumn::new(
                "residual_nm",
                Column::F64(
                    f.residuals_px
                        .iter()
                        .map(|r| r * ions.pixel_size_nm)
                        .collect(),
                ),
            )
            .with_units("nm"),
            TableColumn::new(
                "inlier",
                Column::I64(f.inliers.iter().map(|&b| i64::from(b)).collect()),
            ),
        ])?;
        table.write(&ctx.output_group("residuals")?)
    }

    fn export(
        &self,
        _: &LandmarkParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        let mut out = export_entry(ctx)?;
        let table = Table::read(&ctx.entry.group("residuals")?)?;
        let csv = ctx.dir.join(format!("{}.residuals.csv", ctx.node));
        table.to_csv(&csv)?;
        out.push(csv);
        Ok(out)
    }
}
