//! The aggregate stage `stats.compare`: one table of per-object values over all samples in, a
//! summary table (group × condition) and a tests table (group × pair of conditions) out.

use std::path::PathBuf;

use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, Scope, StageError, TypedStage,
};
use corrflow_types::{Column, Table, TableColumn, types};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::compare::{Comparison, Observation, Options, compare};

fn default_value() -> String {
    "ratio".into()
}
fn default_group_by() -> String {
    "class".into()
}
fn default_between() -> String {
    "condition".into()
}
fn default_alpha() -> f64 {
    0.05
}

/// Parameters of `stats.compare`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareParams {
    /// The column of the values to compare (float or integer), e.g. an isotope ratio. Values that
    /// are NaN or infinite are left out (with a warning); the log-scale statistics use only the
    /// values > 0.
    #[serde(default = "default_value")]
    pub value: String,
    /// The column that splits the rows into groups compared separately (text or integer), e.g.
    /// the organelle class.
    #[serde(default = "default_group_by")]
    pub group_by: String,
    /// The column of the condition (text or integer). When the input tables lack it (one table
    /// per sample), it is taken from the samples table's column of that name.
    #[serde(default = "default_between")]
    pub between: String,
    /// The conditions to compare, in order: the first is the reference A of its pairs (ratios
    /// and effect sizes are B relative to A). Default: every condition in order of first
    /// appearance. Rows of other conditions are left out.
    #[serde(default)]
    pub conditions: Option<Vec<String>>,
    /// Level of the significant_* columns: an adjusted p-value ≤ alpha is significant.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
}

impl Default for CompareParams {
    fn default() -> Self {
        Self {
            value: default_value(),
            group_by: default_group_by(),
            between: default_between(),
            conditions: None,
            alpha: default_alpha(),
        }
    }
}

/// Comparison of a per-object value between conditions, per group.
pub struct StatsCompare;

impl TypedStage for StatsCompare {
    type Params = CompareParams;
    const ID: &'static str = "stats.compare";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "Compare a per-object value (default: ratio) between conditions, \
separately for each group (default: class), over all samples. Summary per group × condition: n, \
median, q25, q75 and IQR (numpy's linear percentiles), mean, SD (ddof 1). For every pair of \
conditions (A before B in the conditions order): two-sided Mann–Whitney U as scipy's \
mannwhitneyu (exact when a sample has ≤ 8 values and there are no ties, else normal with tie and \
continuity correction), rank-biserial correlation 1 − 2U/(n_a n_b) (> 0: B larger), the ratio of \
medians B/A, Welch's t-test of ln B against ln A (values > 0) and Hedges' g on the logs; p-values \
adjusted across all group × pair tests of each kind by Holm and by Benjamini–Hochberg (as \
statsmodels' multipletests). A condition with fewer than 2 values gets NaN tests and a warning. \
Exports NODE.csv (tests) and NODE.summary.csv.";
    const SCOPE: Scope = Scope::Aggregate;

    fn ports(&self, _: &CompareParams) -> Ports {
        Ports {
            inputs: vec![PortSpec::new(
                "rois",
                types::TABLE,
                "one row per object with the value, group and condition columns: one table over \
                 all samples (from an aggregate node), or one table per sample",
            )],
            outputs: vec![
                PortSpec::new(
                    "summary",
                    types::TABLE,
                    "one row per group × condition: group, condition, n, median, q25, q75, iqr, \
                     mean, sd",
                ),
                PortSpec::new(
                    "tests",
                    types::TABLE,
                    "one row per group × pair of conditions: group, condition_a, condition_b, \
                     n_a, n_b, median_a, median_b, median_ratio, u, p_mannwhitney(_holm, _bh), \
                     rank_biserial, n_log_a, n_log_b, t_welch_log, df_welch, p_welch(_holm, \
                     _bh), hedges_g_log, significant_{mannwhitney,welch}_{holm,bh}",
                ),
            ],
        }
    }

    fn validate(&self, p: &CompareParams) -> Result<(), ParamError> {
        for (name, v) in [
            ("value", &p.value),
            ("group_by", &p.group_by),
            ("between", &p.between),
        ] {
            if v.is_empty() {
                return Err(ParamError::new(name, "must name a column"));
            }
        }
        if !(p.alpha > 0.0 && p.alpha < 1.0) {
            return Err(ParamError::new(
                "alpha",
                format!("{} is not between 0 and 1", p.alpha),
            ));
        }
        if let Some(c) = &p.conditions {
            if c.is_empty() {
                return Err(ParamError::new(
                    "conditions",
                    "lists no condition; leave it out to use every condition",
                ));
            }
            for (i, name) in c.iter().enumerate() {
                if c[..i].contains(name) {
                    return Err(ParamError::new(
                        format!("conditions[{i}]"),
                        format!("'{name}' is listed twice"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn run(&self, p: &CompareParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let mut observations = Vec::new();
        let mut units = None;
        for (sample, group) in ctx.input_groups("rois")? {
            let table = Table::read(&group)?;
            let metadata = ctx
                .samples
                .iter()
                .find(|s| s.id == sample)
                .and_then(|s| s.columns.get(&p.between));
            let (obs, u) = observations_of(&table, p, &sample, metadata.map(String::as_str))?;
            observations.extend(obs);
            units = units.or(u);
        }
        let opts = Options {
            conditions: p.conditions.clone(),
            alpha: p.alpha,
            value_name: p.value.clone(),
            group_name: p.group_by.clone(),
        };
        let result = compare(&observations, &opts);
        for w in &result.warnings {
            ctx.warn(w.clone());
        }
        summary_table(&result, units.as_deref())?.write(&ctx.output_group("summary")?)?;
        tests_table(&result, units.as_deref())?.write(&ctx.output_group("tests")?)
    }

    /// `NODE.csv` (the tests) and `NODE.summary.csv`, in `results/`.
    fn export(
        &self,
        _: &CompareParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        let tests = ctx.path("csv");
        Table::read(&ctx.entry.group("tests")?)?.to_csv(&tests)?;
        let summary = ctx.path("summary.csv");
        Table::read(&ctx.entry.group("summary")?)?.to_csv(&summary)?;
        Ok(vec![tests, summary])
    }
}

/// A text or integer column as text.
fn text_column(table: &Table, name: &str, sample: &str) -> Result<Option<Vec<String>>, StageError> {
    let Some(c) = table.column(name) else {
        return Ok(None);
    };
    match &c.values {
        Column::Text(v) => Ok(Some(v.clone())),
        Column::I64(v) => Ok(Some(v.iter().map(i64::to_string).collect())),
        Column::F64(_) => Err(StageError::input(format!(
            "sample '{sample}': column '{name}' holds floats; a grouping column must hold text or \
             integers"
        ))),
    }
}

fn columns_list(table: &Table) -> String {
    let names: Vec<&str> = table.columns().iter().map(|c| c.name.as_str()).collect();
    format!("[{}]", names.join(", "))
}

/// The observations of one input table (and the value's units), the condition taken from the
/// table or else from the sample's metadata.
fn observations_of(
    table: &Table,
    p: &CompareParams,
    sample: &str,
    metadata_condition: Option<&str>,
) -> Result<(Vec<Observation>, Option<String>), StageError> {
    let missing = |name: &str, what: &str| {
        StageError::input(format!(
            "sample '{sample}': the table has no {what} column '{name}' (params.{}); its \
             columns are {}",
            match what {
                "value" => "value",
                "group" => "group_by",
                _ => "between",
            },
            columns_list(table)
        ))
    };
    let value_col = table
        .column(&p.value)
        .ok_or_else(|| missing(&p.value, "value"))?;
    let values: Vec<f64> = match &value_col.values {
        Column::F64(v) => v.clone(),
        Column::I64(v) => v.iter().map(|&x| x as f64).collect(),
        Column::Text(_) => {
            return Err(StageError::input(format!(
                "sample '{sample}': column '{}' holds text; the value must be a number",
                p.value
            )));
        }
    };
    let groups =
        text_column(table, &p.group_by, sample)?.ok_or_else(|| missing(&p.group_by, "group"))?;
    let conditions = match text_column(table, &p.between, sample)? {
        Some(c) => c,
        None => match metadata_condition {
            Some(c) => vec![c.to_string(); table.n_rows()],
            None => {
                return Err(StageError::input(format!(
                    "sample '{sample}': the table has no condition column '{}' (params.between) \
                     and the samples table has no such column either; the table's columns are {}",
                    p.between,
                    columns_list(table)
                )));
            }
        },
    };
    let obs = groups
        .into_iter()
        .zip(conditions)
        .zip(values)
        .map(|((group, condition), value)| Observation {
            group,
            condition,
            value,
        })
        .collect();
    Ok((obs, value_col.units.clone()))
}

fn f64_col(name: &str, v: Vec<f64>) -> TableColumn {
    TableColumn::new(name, Column::F64(v))
}

fn with_units(c: TableColumn, units: Option<&str>) -> TableColumn {
    match units {
        Some(u) => c.with_units(u),
        None => c,
    }
}

fn summary_table(r: &Comparison, units: Option<&str>) -> Result<Table, StageError> {
    let rows = &r.summary;
    let col = |f: fn(&crate::summary::Summary) -> f64| -> Vec<f64> {
        rows.iter().map(|s| f(&s.summary)).collect()
    };
    Table::new(vec![
        TableColumn::new(
            "group",
            Column::Text(rows.iter().map(|s| s.group.clone()).collect()),
        ),
        TableColumn::new(
            "condition",
            Column::Text(rows.iter().map(|s| s.condition.clone()).collect()),
        ),
        TableColumn::new(
            "n",
            Column::I64(rows.iter().map(|s| s.summary.n as i64).collect()),
        ),
        with_units(f64_col("median", col(|s| s.median)), units),
        with_units(f64_col("q25", col(|s| s.q25)), units),
        with_units(f64_col("q75", col(|s| s.q75)), units),
        with_units(f64_col("iqr", col(|s| s.iqr)), units),
        with_units(f64_col("mean", col(|s| s.mean)), units),
        with_units(f64_col("sd", col(|s| s.sd)), units),
    ])
}

fn tests_table(r: &Comparison, units: Option<&str>) -> Result<Table, StageError> {
    use crate::compare::TestRow;
    let rows = &r.tests;
    let text = |name: &str, f: fn(&TestRow) -> &String| {
        TableColumn::new(
            name,
            Column::Text(rows.iter().map(|t| f(t).clone()).collect()),
        )
    };
    let int = |name: &str, f: fn(&TestRow) -> usize| {
        TableColumn::new(
            name,
            Column::I64(rows.iter().map(|t| f(t) as i64).collect()),
        )
    };
    let num = |name: &str, f: fn(&TestRow) -> f64| f64_col(name, rows.iter().map(f).collect());
    let one = |c: TableColumn| c.with_units("1");
    let flag = |name: &str, f: fn(&TestRow) -> Option<bool>| {
        let v = rows.iter().map(|t| match f(t) {
            Some(true) => "true".to_string(),
            Some(false) => "false".to_string(),
            None => String::new(),
        });
        TableColumn::new(name, Column::Text(v.collect()))
    };
    Table::new(vec![
        text("group", |t| &t.group),
        text("condition_a", |t| &t.condition_a),
        text("condition_b", |t| &t.condition_b),
        int("n_a", |t| t.n_a),
        int("n_b", |t| t.n_b),
        with_units(num("median_a", |t| t.median_a), units),
        with_units(num("median_b", |t| t.median_b), units),
        one(num("median_ratio", |t| t.median_ratio)),
        num("u", |t| t.u),
        num("p_mannwhitney", |t| t.p_mannwhitney),
        num("p_mannwhitney_holm", |t| t.p_mannwhitney_holm),
        num("p_mannwhitney_bh", |t| t.p_mannwhitney_bh),
        one(num("rank_biserial", |t| t.rank_biserial)),
        int("n_log_a", |t| t.n_log_a),
        int("n_log_b", |t| t.n_log_b),
        one(num("t_welch_log", |t| t.t_welch_log)),
        num("df_welch", |t| t.df_welch),
        num("p_welch", |t| t.p_welch),
        num("p_welch_holm", |t| t.p_welch_holm),
        num("p_welch_bh", |t| t.p_welch_bh),
        one(num("hedges_g_log", |t| t.hedges_g_log)),
        flag("significant_mannwhitney_holm", |t| {
            t.significant_mannwhitney_holm
        }),
        flag("significant_mannwhitney_bh", |t| {
            t.significant_mannwhitney_bh
        }),
        flag("significant_welch_holm", |t| t.significant_welch_holm),
        flag("significant_welch_bh", |t| t.significant_welch_bh),
    ])
}
