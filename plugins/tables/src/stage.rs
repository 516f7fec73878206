//! The `table.concat` stage: one table from the per-sample tables of a node (e.g. the organelles
//! of every sample), exported as CSV and Parquet.

use std::path::PathBuf;

use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, Scope, StageError, TypedStage,
};
use corrflow_types::{Table, types};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::concat::concat;
use crate::parquet_out::write_parquet;

/// Parameters of `table.concat` (none yet).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConcatParams {}

/// Concatenate the per-sample tables of a node.
pub struct TableConcat;

impl TypedStage for TableConcat {
    type Params = ConcatParams;
    const ID: &'static str = "table.concat";
    const VERSION: &'static str = "1";
    const SCOPE: Scope = Scope::Aggregate;
    const DOC: &'static str = "One table from every sample's table (rows in samples-table order; \
the tables must have the same columns). Exports NODE.csv and NODE.parquet in the results folder: \
name the node `rois` to get results/rois.csv and results/rois.parquet.";

    fn ports(&self, _: &ConcatParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new(
                "table",
                types::TABLE,
                "a table per sample (e.g. quantify.ratio's rois)",
            )],
            outputs: vec![PortSpec::new(
                "table",
                types::TABLE,
                "the rows of every sample's table",
            )],
        }
    }

    fn validate(&self, _: &ConcatParams) -> Result<(), ParamError> {
        Ok(())
    }

    fn run(&self, _: &ConcatParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let parts = ctx
            .input_groups("table")?
            .into_iter()
            .map(|(sample, g)| Ok((sample, Table::read(&g)?)))
            .collect::<Result<Vec<_>, StageError>>()?;
        let all = concat(&parts).map_err(|e| StageError::input(e.to_string()))?;
        all.write(&ctx.output_group("table")?)
    }

    /// `NODE.csv` and `NODE.parquet`.
    fn export(
        &self,
        _: &ConcatParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        let t = Table::read(&ctx.entry.group("table")?)?;
        let csv = ctx.path("csv");
        t.to_csv(&csv)?;
        let parquet = ctx.path("parquet");
        write_parquet(&t, &parquet)?;
        Ok(vec![csv, parquet])
    }
}
