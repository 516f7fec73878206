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

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_stage::{InputBinding, SampleInfo, Stage, h5};
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::path::Path;

    /// A table over all samples: mito ctrl 1, 2, 3 / drug 4, 6, 8; er ctrl 1.0 only / drug 2, 3.
    fn rois() -> Table {
        let rows: [(&str, &str, f64); 9] = [
            ("mito", "ctrl", 1.0),
            ("mito", "ctrl", 2.0),
            ("er", "ctrl", 1.0),
            ("mito", "ctrl", 3.0),
            ("mito", "drug", 4.0),
            ("mito", "drug", 6.0),
            ("er", "drug", 2.0),
            ("mito", "drug", 8.0),
            ("er", "drug", 3.0),
        ];
        Table::new(vec![
            TableColumn::new(
                "class",
                Column::Text(rows.iter().map(|r| r.0.to_string()).collect()),
            ),
            TableColumn::new(
                "condition",
                Column::Text(rows.iter().map(|r| r.1.to_string()).collect()),
            ),
            TableColumn::new("ratio", Column::F64(rows.iter().map(|r| r.2).collect()))
                .with_units("1"),
        ])
        .unwrap()
    }

    fn write_input(path: &Path, groups: &[(&str, &Table)]) {
        let f = h5::create_file(path).unwrap();
        for (name, t) in groups {
            t.write(&f.create_group(name).unwrap()).unwrap();
        }
        f.close().unwrap();
    }

    fn entry(file: &Path, group: &str) -> InputBinding {
        InputBinding::Entry {
            file: file.to_path_buf(),
            group: group.into(),
        }
    }

    fn text(t: &Table, name: &str) -> Vec<String> {
        match &t.column(name).unwrap().values {
            Column::Text(v) => v.clone(),
            other => panic!("{name}: {other:?}"),
        }
    }

    fn num(t: &Table, name: &str) -> Vec<f64> {
        match &t.column(name).unwrap().values {
            Column::F64(v) => v.clone(),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn compares_and_exports() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.h5");
        write_input(&input, &[("table", &rois())]);
        let inputs = BTreeMap::from([("rois".to_string(), entry(&input, "table"))]);
        let out = dir.path().join("out.h5");
        let warnings =
            corrflow_stage::run_once(&StatsCompare, &json!({}), "stats", "_all", &inputs, &out)
                .unwrap();
        assert_eq!(
            warnings,
            ["class 'er', condition 'ctrl': 1 value(s), fewer than 2: its tests are NaN"]
        );
        let f = h5::open_file(&out).unwrap();
        let summary = Table::read(&f.group("summary").unwrap()).unwrap();
        assert_eq!(text(&summary, "group"), ["mito", "mito", "er", "er"]);
        assert_eq!(
            text(&summary, "condition"),
            ["ctrl", "drug", "ctrl", "drug"]
        );
        assert_eq!(
            summary.column("n").unwrap().values,
            Column::I64(vec![3, 3, 1, 2])
        );
        assert_eq!(num(&summary, "median"), [2.0, 6.0, 1.0, 2.5]);
        assert_eq!(num(&summary, "q25"), [1.5, 5.0, 1.0, 2.25]);
        assert_eq!(
            summary.column("median").unwrap().units.as_deref(),
            Some("1")
        );
        let sd = num(&summary, "sd");
        assert_eq!(sd[..2], [1.0, 2.0]);
        assert!(sd[2].is_nan());

        let tests = Table::read(&f.group("tests").unwrap()).unwrap();
        assert_eq!(text(&tests, "group"), ["mito", "er"]);
        assert_eq!(text(&tests, "condition_a"), ["ctrl", "ctrl"]);
        assert_eq!(text(&tests, "condition_b"), ["drug", "drug"]);
        // mito: complete separation, exact p = 2/C(6,3) = 0.1; one valid test, so the adjusted
        // p-values equal it; er: NaN.
        let p = num(&tests, "p_mannwhitney");
        assert!((p[0] - 0.1).abs() < 1e-15 && p[1].is_nan());
        assert_eq!(num(&tests, "p_mannwhitney_holm")[0], p[0]);
        assert_eq!(num(&tests, "median_ratio")[0], 3.0);
        assert_eq!(num(&tests, "rank_biserial")[0], 1.0);
        assert_eq!(num(&tests, "u")[0], 0.0);
        assert_eq!(text(&tests, "significant_mannwhitney_holm"), ["false", ""]);

        let results = dir.path().join("results");
        std::fs::create_dir_all(&results).unwrap();
        let ectx = ExportContext {
            node: "stats",
            sample: None,
            entry: &f,
            dir: &results,
        };
        let files = Stage::export(&StatsCompare, &json!({}), &ectx).unwrap();
        assert_eq!(
            files,
            [results.join("stats.csv"), results.join("stats.summary.csv")]
        );
        let csv = std::fs::read_to_string(&files[0]).unwrap();
        assert!(
            csv.starts_with(
                "group,condition_a,condition_b,n_a,n_b,median_a,median_b,median_ratio,u,\
                 p_mannwhitney,p_mannwhitney_holm,p_mannwhitney_bh,rank_biserial,n_log_a,\
                 n_log_b,t_welch_log,df_welch,p_welch,p_welch_holm,p_welch_bh,hedges_g_log,\
                 significant_mannwhitney_holm,significant_mannwhitney_bh,\
                 significant_welch_holm,significant_welch_bh\nmito,ctrl,drug,3,3,2.0,6.0,3.0,\
                 0.0,0.1"
            ),
            "{csv}"
        );
        assert!(
            csv.contains("\ner,ctrl,drug,1,2,1.0,2.5,,,,,,,1,2,"),
            "{csv}"
        );
        let summary_csv = std::fs::read_to_string(&files[1]).unwrap();
        assert!(
            summary_csv.starts_with("group,condition,n,median,q25,q75,iqr,mean,sd\n"),
            "{summary_csv}"
        );
    }

    #[test]
    fn per_sample_tables_take_the_condition_from_the_samples_table() {
        let dir = tempfile::tempdir().unwrap();
        let per_sample = |ratios: &[f64]| {
            Table::new(vec![
                TableColumn::new("class", Column::I64(vec![1; ratios.len()])),
                TableColumn::new("ratio", Column::F64(ratios.to_vec())),
            ])
            .unwrap()
        };
        let (t1, t2) = (per_sample(&[1.0, 2.0, 3.0]), per_sample(&[4.0, 5.0]));
        let input = dir.path().join("in.h5");
        write_input(&input, &[("a", &t1), ("b", &t2)]);
        let sample = |id: &str, condition: &str| SampleInfo {
            id: id.into(),
            columns: BTreeMap::from([("treatment".to_string(), condition.to_string())]),
        };
        let samples = [sample("s1", "wt"), sample("s2", "ko")];
        let inputs = BTreeMap::from([(
            "rois".to_string(),
            InputBinding::PerSample(vec![
                ("s1".into(), entry(&input, "a")),
                ("s2".into(), entry(&input, "b")),
            ]),
        )]);
        let out = dir.path().join("out.h5");
        let params =
            Stage::canonical_params(&StatsCompare, &json!({"between": "treatment"})).unwrap();
        let mut ctx = RunContext::new("stats", None, &samples, &inputs, &out, 1);
        Stage::run(&StatsCompare, &params, &mut ctx).unwrap();
        ctx.close_output().unwrap();
        assert!(ctx.take_warnings().is_empty());
        let f = h5::open_file(&out).unwrap();
        let tests = Table::read(&f.group("tests").unwrap()).unwrap();
        assert_eq!(text(&tests, "group"), ["1"]);
        assert_eq!(text(&tests, "condition_a"), ["wt"]);
        assert_eq!(text(&tests, "condition_b"), ["ko"]);
        assert_eq!(num(&tests, "median_ratio"), [2.25]);
    }

    #[test]
    fn missing_columns_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.h5");
        write_input(&input, &[("table", &rois())]);
        let inputs = BTreeMap::from([("rois".to_string(), entry(&input, "table"))]);
        let out = dir.path().join("out.h5");
        let e = corrflow_stage::run_once(
            &StatsCompare,
            &json!({"value": "delta"}),
            "stats",
            "_all",
            &inputs,
            &out,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "sample '_all': the table has no value column 'delta' (params.value); its columns \
             are [class, condition, ratio]"
        );
        let e = corrflow_stage::run_once(
            &StatsCompare,
            &json!({"group_by": "ratio"}),
            "stats",
            "_all",
            &inputs,
            &out,
        )
        .unwrap_err();
        assert!(e.contains("column 'ratio' holds floats"), "{e}");
    }

    #[test]
    fn params_are_checked() {
        let stage = StatsCompare;
        let err = |v: serde_json::Value| Stage::canonical_params(&stage, &v).unwrap_err();
        assert!(
            err(json!({"values": "x"}))
                .message
                .contains("unknown field")
        );
        assert_eq!(err(json!({"alpha": 1.5})).path, "alpha");
        assert_eq!(
            err(json!({"conditions": ["a", "b", "a"]})).path,
            "conditions[2]"
        );
        assert_eq!(err(json!({"conditions": []})).path, "conditions");
        assert_eq!(err(json!({"value": ""})).path, "value");
        let canon = Stage::canonical_params(&stage, &json!({})).unwrap();
        assert_eq!(
            canon,
            json!({"value": "ratio", "group_by": "class", "between": "condition",
                   "conditions": null, "alpha": 0.05})
        );
        assert_eq!(Stage::scope(&stage), Scope::Aggregate);
        let ports = Stage::ports(&stage, &canon).unwrap();
        assert_eq!(ports.inputs[0].name, "rois");
        assert_eq!(ports.outputs.len(), 2);
    }

    #[test]
    fn plugin_registers_the_stage() {
        let mut registry = corrflow_stage::Registry::default();
        corrflow_stage::Plugin::build(&crate::StatsPlugin, &mut registry);
        assert!(registry.get("stats.compare").is_some());
    }
}
