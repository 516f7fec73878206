//! The aggregate stage `report.html`.
//!
//! `run` builds the whole page (and the plot as SVG and PNG) and stores them in the entry, so
//! that the cache key alone determines the bytes (no timestamp is written); `export` only copies
//! them to `results/`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::PathBuf;

use corrflow_nanosims::hsi::{HsiOptions, RatioImageOptions, render_hsi, render_ratio};
use corrflow_nanosims::{RATIO_IMAGE, RatioImage};
use corrflow_stage::hdf5::Group;
use corrflow_stage::{
    ExportContext, Lineage, ParamError, PortSpec, Ports, RunContext, Scope, StageError, TypedStage,
    h5,
};
use corrflow_types::{Instances, Table, Transform2D, types};
use ndarray::Array2;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::html::{escape, fmt_num, fmt_p, num_values, shown_units, table_html, text_values};
use crate::images::{Encoding, encoded_img_tag, img_tag, png_bytes, read_rgb};
use crate::plot::{PlotData, render_rgb, render_svg};

/// Port type of the report output.
pub const REPORT: &str = "report";
/// Layout version of the `report` group.
pub const LAYOUT_VERSION: i64 = 1;
/// Datasets of the `report` group (u8 bytes).
pub const HTML_DATASET: &str = "html";
pub const PLOT_SVG_DATASET: &str = "plot_svg";
pub const PLOT_PNG_DATASET: &str = "plot_png";
/// Attribute of the `report` group: the plot's file name part (`ratio_by_class`).
pub const PLOT_NAME_ATTR: &str = "plot_name";

/// quantify.ratio's organelle figure in its `ratio` group ([`corrflow_types::figure`] layout;
/// quantify's `ROI_FIGURE`, named here to keep this crate independent of quantify).
pub const ORGANELLES_FIGURE: &str = "organelles";
/// Widest per-sample figure in the page (px): the width of stored previews.
const FIGURE_MAX_WIDTH: u32 = corrflow_types::figure::PREVIEW_MAX_WIDTH;
/// Rows of a full table shown in the page.
const MAX_TABLE_ROWS: usize = 2000;

fn default_title() -> String {
    "corrflow report".into()
}
fn default_value() -> String {
    "ratio".into()
}
fn default_group_by() -> String {
    "class".into()
}
fn default_between() -> String {
    "condition".into()
}
fn default_max_samples() -> usize {
    12
}

/// Parameters of `report.html`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Title of the page.
    #[serde(default = "default_title")]
    pub title: String,
    /// The column of `rois` plotted (float or integer), e.g. an isotope ratio.
    #[serde(default = "default_value")]
    pub value: String,
    /// The column that splits the rows into plot panels (text or integer), e.g. the class.
    #[serde(default = "default_group_by")]
    pub group_by: String,
    /// The column of the condition (text or integer); taken from the samples table when the
    /// rows lack it.
    #[serde(default = "default_between")]
    pub between: String,
    /// Per-sample figures are shown for the first this many samples (in samples-table order).
    #[serde(default = "default_max_samples")]
    pub max_samples_shown: usize,
}

impl Default for ReportParams {
    fn default() -> Self {
        Self {
            title: default_title(),
            value: default_value(),
            group_by: default_group_by(),
            between: default_between(),
            max_samples_shown: default_max_samples(),
        }
    }
}

/// A self-contained HTML report.
pub struct ReportHtml;

impl TypedStage for ReportHtml {
    type Params = ReportParams;
    const ID: &'static str = "report.html";
    const VERSION: &'static str = "2";
    const SCOPE: Scope = Scope::Aggregate;
    const DOC: &'static str = "A self-contained HTML report of the run (inline CSS, images as \
data URIs, inline SVG: it opens offline and can be mailed as one file). In order: the title, \
pipeline and corrflow version (no timestamp: the cache key determines the page); the numbers of \
samples and of organelles per class × condition; box + strip plots of the value per class × \
condition; the statistics (tests: medians, ratio of medians, p-values raw/Holm/BH, significant \
ones marked; the summary table); what the filter removed and why; per-sample figures \
(segmentation overlay, registration overlay with method, RMS and confidence, organelles \
coloured by ratio, ratio and HSI images) for the first max_samples_shown samples; and the \
provenance: the pipeline graph, every upstream node's stage@version and parameters, and the \
cache key of every task. Exports NODE.html and the plot as NODE.VALUE_by_GROUP.png and .svg \
(name the node `report` to get results/report.html and results/report.ratio_by_class.png).";

    fn ports(&self, _: &ReportParams) -> Ports {
        Ports {
            inputs: vec![
                PortSpec::new(
                    "rois",
                    types::TABLE,
                    "one row per organelle over all samples (e.g. table.concat of \
                     quantify.ratio's rois)",
                ),
                PortSpec::new("tests", types::TABLE, "stats.compare's tests").optional(),
                PortSpec::new("summary", types::TABLE, "stats.compare's summary").optional(),
                PortSpec::new(
                    "quant",
                    RATIO_IMAGE,
                    "per sample: quantify.ratio's ratio image (with its organelles figure)",
                )
                .optional(),
                PortSpec::new(
                    "registration",
                    types::TRANSFORM,
                    "per sample: the registration (with its QC overlay)",
                )
                .optional(),
                PortSpec::new(
                    "segmentation",
                    types::INSTANCES,
                    "per sample: the segmented organelles",
                )
                .optional(),
                PortSpec::new(
                    "removed",
                    types::TABLE,
                    "per sample: filter.morphology's removed instances",
                )
                .optional(),
            ],
            outputs: vec![PortSpec::new(
                "report",
                REPORT,
                "the page (dataset html) and the plot (plot_svg, plot_png), UTF-8 / PNG bytes",
            )],
        }
    }

    fn validate(&self, p: &ReportParams) -> Result<(), ParamError> {
        for (name, v) in [
            ("value", &p.value),
            ("group_by", &p.group_by),
            ("between", &p.between),
        ] {
            if v.is_empty() {
                return Err(ParamError::new(name, "must name a column"));
            }
        }
        Ok(())
    }

    fn run(&self, p: &ReportParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let report = build(p, ctx)?;
        let g = ctx.output_group("report")?;
        h5::set_str(&g, "corrflow_type", REPORT)?;
        h5::set_i64(&g, "layout_version", LAYOUT_VERSION)?;
        h5::set_str(&g, PLOT_NAME_ATTR, &plot_name(p))?;
        for (name, bytes) in [
            (HTML_DATASET, report.html.as_bytes()),
            (PLOT_SVG_DATASET, report.svg.as_bytes()),
            (PLOT_PNG_DATASET, report.png.as_slice()),
        ] {
            g.new_dataset_builder().with_data(bytes).create(name)?;
        }
        Ok(())
    }

    /// `NODE.html`, `NODE.PLOT.png` and `NODE.PLOT.svg` in `results/`.
    fn export(
        &self,
        _: &ReportParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        let g = ctx.entry.group("report")?;
        let ty = h5::get_str(&g, "corrflow_type")?;
        if ty != REPORT {
            return Err(StageError::input(format!(
                "HDF5 group '{}' holds '{ty}', expected '{REPORT}'",
                g.name()
            )));
        }
        let name = h5::get_str(&g, PLOT_NAME_ATTR)?;
        let mut files = Vec::new();
        for (dataset, ext) in [
            (HTML_DATASET, "html".to_string()),
            (PLOT_PNG_DATASET, format!("{name}.png")),
            (PLOT_SVG_DATASET, format!("{name}.svg")),
        ] {
            let bytes: Vec<u8> = g.dataset(dataset)?.read_raw()?;
            let path = ctx.path(&ext);
            std::fs::write(&path, bytes).map_err(|e| StageError::io(&path, e))?;
            files.push(path);
        }
        Ok(files)
    }
}

/// The plot's file name part: `VALUE_by_GROUP` with characters other than letters, digits, `-`
/// and `_` replaced by `_`.
pub fn plot_name(p: &ReportParams) -> String {
    format!("{}_by_{}", p.value, p.group_by)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What `run` stores.
struct Built {
    html: String,
    svg: String,
    png: Vec<u8>,
}

/// The rows of `rois` that the report uses.
#[derive(Debug, Default)]
struct Rois {
    groups: Vec<String>,
    conditions: Vec<String>,
    /// `(group index, condition index, sample, value)` per row.
    rows: Vec<(usize, usize, String, f64)>,
    units: Option<String>,
}

fn index_of(list: &mut Vec<String>, s: &str) -> usize {
    match list.iter().position(|x| x == s) {
        Some(i) => i,
        None => {
            list.push(s.to_string());
            list.len() - 1
        }
    }
}

fn column_names(t: &Table) -> String {
    let names: Vec<&str> = t.columns().iter().map(|c| c.name.as_str()).collect();
    format!("[{}]", names.join(", "))
}

fn read_rois(p: &ReportParams, ctx: &RunContext<'_>) -> Result<Rois, StageError> {
    let mut r = Rois::default();
    for (sample, g) in ctx.input_groups("rois")? {
        let t = Table::read(&g)?;
        let missing = |name: &str, param: &str| {
            StageError::input(format!(
                "rois: no column '{name}' (params.{param}); the columns are {}",
                column_names(&t)
            ))
        };
        let vc = t
            .column(&p.value)
            .ok_or_else(|| missing(&p.value, "value"))?;
        let values = num_values(&vc.values).ok_or_else(|| {
            StageError::input(format!(
                "rois: column '{}' holds text; the value must be a number",
                p.value
            ))
        })?;
        r.units = r.units.take().or_else(|| vc.units.clone());
        let groups = t
            .column(&p.group_by)
            .ok_or_else(|| missing(&p.group_by, "group_by"))
            .and_then(|c| {
                text_values(&c.values).ok_or_else(|| {
                    StageError::input(format!(
                        "rois: column '{}' holds floats; a grouping column must hold text or \
                         integers",
                        p.group_by
                    ))
                })
            })?;
        let conditions = match t.column(&p.between).map(|c| text_values(&c.values)) {
            Some(Some(c)) => c,
            Some(None) => {
                return Err(StageError::input(format!(
                    "rois: column '{}' holds floats; a condition column must hold text or \
                     integers",
                    p.between
                )));
            }
            None => {
                let meta = ctx
                    .samples
                    .iter()
                    .find(|s| s.id == sample)
                    .and_then(|s| s.columns.get(&p.between));
                match meta {
                    Some(m) => vec![m.clone(); t.n_rows()],
                    None => return Err(missing(&p.between, "between")),
                }
            }
        };
        let samples = t
            .column("sample")
            .and_then(|c| text_values(&c.values))
            .unwrap_or_else(|| vec![sample.clone(); t.n_rows()]);
        for i in 0..t.n_rows() {
            let gi = index_of(&mut r.groups, &groups[i]);
            let ci = index_of(&mut r.conditions, &conditions[i]);
            r.rows.push((gi, ci, samples[i].clone(), values[i]));
        }
    }
    Ok(r)
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',\
sans-serif;margin:0 auto;max-width:1200px;padding:0 24px 48px;color:#222;line-height:1.45}\
h1{margin-bottom:4px}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}\
.meta{color:#555;margin-top:0}.note{color:#666;font-size:90%}\
table.data{border-collapse:collapse;font-size:13px;margin:8px 0}\
table.data th,table.data td{border:1px solid #ccc;padding:3px 7px;vertical-align:top}\
table.data th{background:#f2f2f2;text-align:left}td.num{text-align:right;\
font-variant-numeric:tabular-nums}tr.sig td{background:#fff4d6}.units{color:#777;\
font-weight:normal}figure{display:inline-block;margin:6px 12px 12px 0;vertical-align:top}\
figure img{max-width:100%;height:auto;border:1px solid #ddd}figcaption{font-size:13px;\
color:#444;max-width:800px}details{margin:8px 0}summary{cursor:pointer;color:#225}\
code{font-size:12px;word-break:break-all}.dagwrap{overflow-x:auto}svg.dag{max-width:100%;\
height:auto;font-family:sans-serif}section.sample{border-top:1px solid #eee;margin-top:16px}\
section.sample figure{width:calc(50% - 14px);margin-right:10px}";

fn build(p: &ReportParams, ctx: &mut RunContext<'_>) -> Result<Built, StageError> {
    let rois = read_rois(p, ctx)?;
    let mut values = vec![vec![Vec::new(); rois.conditions.len()]; rois.groups.len()];
    let mut counts = vec![vec![0usize; rois.conditions.len()]; rois.groups.len()];
    let mut dropped = 0usize;
    for (g, c, _, v) in &rois.rows {
        counts[*g][*c] += 1;
        if v.is_finite() {
            values[*g][*c].push(*v);
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        ctx.warn(format!(
            "{dropped} row(s) with a NaN or infinite '{}' are not plotted",
            p.value
        ));
    }
    let y_label = match shown_units(rois.units.as_deref(), &p.value) {
        Some(u) => format!("{} [{u}]", p.value),
        None => p.value.clone(),
    };
    let plot = PlotData {
        title: format!("{} by {} and {}", p.value, p.group_by, p.between),
        groups: rois.groups.clone(),
        conditions: rois.conditions.clone(),
        values,
        y_label,
    };
    let svg = render_svg(&plot).map_err(StageError::other)?;
    let png = png_bytes(&render_rgb(&plot).map_err(StageError::other)?)?;
    let name = plot_name(p);

    let mut h = String::new();
    let pipeline = ctx.lineage.map(|l| l.pipeline.as_str());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n\
         <p class=\"meta\">pipeline <b>{}</b> · node <b>{}</b> · corrflow {}</p>\n",
        escape(&p.title),
        escape(&p.title),
        escape(pipeline.unwrap_or("(run outside a pipeline)")),
        escape(ctx.node),
        env!("CARGO_PKG_VERSION"),
    );

    // Summary numbers.
    let mut samples: Vec<&str> = Vec::new();
    for (_, _, s, _) in &rois.rows {
        if !samples.contains(&s.as_str()) {
            samples.push(s);
        }
    }
    let _ = write!(
        h,
        "<h2>Summary</h2>\n<p>{} sample(s), {} organelle(s) in {} {}(s) under {} {}(s).</p>\n",
        samples.len(),
        rois.rows.len(),
        rois.groups.len(),
        escape(&p.group_by),
        rois.conditions.len(),
        escape(&p.between)
    );
    h.push_str(&counts_table(p, &rois, &counts));

    // Plots.
    let _ = write!(
        h,
        "<h2>{} by {} and {}</h2>\n<figure><img src=\"{}\" alt=\"box and strip plots\">\
         <figcaption>Boxes: quartiles (numpy linear percentiles) and median; whiskers: the most \
         extreme values within 1.5 IQR; points: every organelle, spread sideways \
         deterministically. {}Also in {}.{name}.png and .svg beside this page.</figcaption>\
         </figure>\n",
        escape(&p.value),
        escape(&p.group_by),
        escape(&p.between),
        crate::images::png_data_uri(&png),
        if dropped > 0 {
            format!("{dropped} value(s) that are NaN or infinite are not shown. ")
        } else {
            String::new()
        },
        escape(ctx.node),
    );

    // Statistics.
    h.push_str("<h2>Statistics</h2>\n");
    let mut any_stats = false;
    if ctx.has_input("tests") {
        for (_, g) in ctx.input_groups("tests")? {
            h.push_str(&tests_html(&Table::read(&g)?));
            any_stats = true;
        }
    }
    if ctx.has_input("summary") {
        for (_, g) in ctx.input_groups("summary")? {
            h.push_str("<h3>Summary per group and condition</h3>\n");
            h.push_str(&table_html(&Table::read(&g)?, MAX_TABLE_ROWS));
            any_stats = true;
        }
    }
    if !any_stats {
        h.push_str("<p class=\"note\">No statistics were wired to this report.</p>\n");
    }

    // Filter.
    h.push_str("<h2>Filtered out</h2>\n");
    if ctx.has_input("removed") {
        let removed = ctx
            .input_groups("removed")?
            .into_iter()
            .map(|(s, g)| Ok((s, Table::read(&g)?)))
            .collect::<Result<Vec<_>, StageError>>()?;
        h.push_str(&removed_html(&removed));
    } else {
        h.push_str("<p class=\"note\">No filter output was wired to this report.</p>\n");
    }

    // Per-sample figures.
    h.push_str(&samples_html(p, ctx)?);

    // Provenance.
    h.push_str("<h2>Provenance</h2>\n");
    match ctx.lineage {
        Some(l) => h.push_str(&provenance_html(l)),
        None => h.push_str(
            "<p class=\"note\">No lineage: this report was computed outside the engine.</p>\n",
        ),
    }
    h.push_str("</body></html>\n");
    Ok(Built { html: h, svg, png })
}

fn counts_table(p: &ReportParams, rois: &Rois, counts: &[Vec<usize>]) -> String {
    let mut s = format!(
        "<table class=\"data\"><thead><tr><th>{} \\ {}</th>",
        escape(&p.group_by),
        escape(&p.between)
    );
    for c in &rois.conditions {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    s.push_str("<th>total</th></tr></thead><tbody>");
    let mut col_totals = vec![0usize; rois.conditions.len()];
    for (g, row) in rois.groups.iter().zip(counts) {
        let _ = write!(s, "<tr><td>{}</td>", escape(g));
        for (j, n) in row.iter().enumerate() {
            col_totals[j] += n;
            let _ = write!(s, "<td class=\"num\">{n}</td>");
        }
        let _ = write!(
            s,
            "<td class=\"num\">{}</td></tr>",
            row.iter().sum::<usize>()
        );
    }
    s.push_str("<tr><th>total</th>");
    for n in &col_totals {
        let _ = write!(s, "<td class=\"num\">{n}</td>");
    }
    let _ = writeln!(
        s,
        "<td class=\"num\">{}</td></tr></tbody></table>",
        col_totals.iter().sum::<usize>()
    );
    s
}

/// The tests table of stats.compare, formatted; any other table as it is.
fn tests_html(t: &Table) -> String {
    let text = |name: &str| t.column(name).and_then(|c| text_values(&c.values));
    let num = |name: &str| t.column(name).and_then(|c| num_values(&c.values));
    let (Some(group), Some(a), Some(b)) = (text("group"), text("condition_a"), text("condition_b"))
    else {
        return format!("<h3>Tests</h3>\n{}", table_html(t, MAX_TABLE_ROWS));
    };
    let n = t.n_rows();
    let nums = |name: &str| num(name).unwrap_or_else(|| vec![f64::NAN; n]);
    let (n_a, n_b) = (nums("n_a"), nums("n_b"));
    let (med_a, med_b, ratio) = (nums("median_a"), nums("median_b"), nums("median_ratio"));
    let rb = nums("rank_biserial");
    let pmw = [
        nums("p_mannwhitney"),
        nums("p_mannwhitney_holm"),
        nums("p_mannwhitney_bh"),
    ];
    let pw = [nums("p_welch"), nums("p_welch_holm"), nums("p_welch_bh")];
    let g = nums("hedges_g_log");
    let flags: Vec<(&str, Option<Vec<String>>)> = [
        ("MW Holm", "significant_mannwhitney_holm"),
        ("MW BH", "significant_mannwhitney_bh"),
        ("Welch Holm", "significant_welch_holm"),
        ("Welch BH", "significant_welch_bh"),
    ]
    .into_iter()
    .map(|(label, col)| (label, text(col)))
    .collect();
    let units = t
        .column("median_a")
        .and_then(|c| shown_units(c.units.as_deref(), "median"))
        .map(|u| format!(" <span class=\"units\">[{}]</span>", escape(u)))
        .unwrap_or_default();
    let mut s = format!(
        "<h3>Tests between conditions</h3>\n<p class=\"note\">Two-sided Mann–Whitney U (MW) and \
         Welch's t-test on log values, p-values raw and adjusted over all tests by Holm and by \
         Benjamini–Hochberg (BH). Rows with a significant adjusted p-value are highlighted and \
         marked ★.</p>\n<table class=\"data\"><thead><tr><th>group</th><th>A</th><th>B</th>\
         <th>n A</th><th>n B</th><th>median A{units}</th><th>median B{units}</th>\
         <th>median B/A</th><th>rank-biserial</th><th>p MW</th><th>p MW Holm</th>\
         <th>p MW BH</th><th>p Welch (log)</th><th>p Welch Holm</th><th>p Welch BH</th>\
         <th>Hedges' g (log)</th><th>significant</th></tr></thead><tbody>"
    );
    for i in 0..n {
        let sig: Vec<&str> = flags
            .iter()
            .filter(|(_, v)| v.as_ref().is_some_and(|v| v[i] == "true"))
            .map(|(l, _)| *l)
            .collect();
        let _ = write!(
            s,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td>",
            if sig.is_empty() { "" } else { " class=\"sig\"" },
            escape(&group[i]),
            escape(&a[i]),
            escape(&b[i])
        );
        for x in [n_a[i], n_b[i]] {
            let _ = write!(s, "<td class=\"num\">{}</td>", fmt_num(x, 6));
        }
        for x in [med_a[i], med_b[i], ratio[i], rb[i]] {
            let _ = write!(s, "<td class=\"num\">{}</td>", fmt_num(x, 4));
        }
        for x in pmw.iter().chain(&pw) {
            let _ = write!(s, "<td class=\"num\">{}</td>", fmt_p(x[i]));
        }
        let _ = write!(
            s,
            "<td class=\"num\">{}</td><td>{}</td></tr>",
            fmt_num(g[i], 3),
            if sig.is_empty() {
                String::new()
            } else {
                format!("★ {}", escape(&sig.join(", ")))
            }
        );
    }
    s.push_str("</tbody></table>\n");
    s
}

/// Counts per rule × class of the removed instances, and every removed row (collapsed).
fn removed_html(removed: &[(String, Table)]) -> String {
    let mut rules: Vec<String> = Vec::new();
    let mut classes: Vec<String> = Vec::new();
    let mut counts: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut total = 0usize;
    for (_, t) in removed {
        let n = t.n_rows();
        let rule = t
            .column("rule")
            .and_then(|c| text_values(&c.values))
            .unwrap_or_else(|| vec!["?".into(); n]);
        let class = t
            .column("class")
            .and_then(|c| text_values(&c.values))
            .unwrap_or_else(|| vec!["?".into(); n]);
        for i in 0..n {
            let r = index_of(&mut rules, &rule[i]);
            let c = index_of(&mut classes, &class[i]);
            *counts.entry((r, c)).or_default() += 1;
            total += 1;
        }
    }
    if total == 0 {
        return "<p>The filter removed no instance.</p>\n".into();
    }
    let mut s = format!(
        "<p>The filter removed {total} instance(s) in {} sample(s).</p>\n<table class=\"data\">\
         <thead><tr><th>rule \\ class</th>",
        removed.iter().filter(|(_, t)| t.n_rows() > 0).count()
    );
    for c in &classes {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    s.push_str("<th>total</th></tr></thead><tbody>");
    for (r, rule) in rules.iter().enumerate() {
        let _ = write!(s, "<tr><td>{}</td>", escape(rule));
        let mut row = 0;
        for c in 0..classes.len() {
            let n = counts.get(&(r, c)).copied().unwrap_or(0);
            row += n;
            let _ = write!(s, "<td class=\"num\">{n}</td>");
        }
        let _ = write!(s, "<td class=\"num\">{row}</td></tr>");
    }
    s.push_str("</tbody></table>\n<details><summary>Every removed instance</summary>\n");
    for (sample, t) in removed {
        let _ = write!(
            s,
            "<h4>{}</h4>\n{}",
            escape(sample),
            if t.n_rows() == 0 {
                "<p class=\"note\">none</p>".to_string()
            } else {
                table_html(t, MAX_TABLE_ROWS)
            }
        );
    }
    s.push_str("</details>\n");
    s
}

/// `(sample → group)` of a per-sample input, empty when it is not wired.
fn per_sample(ctx: &RunContext<'_>, port: &str) -> Result<BTreeMap<String, Group>, StageError> {
    if !ctx.has_input(port) {
        return Ok(BTreeMap::new());
    }
    Ok(ctx.input_groups(port)?.into_iter().collect())
}

fn figure(img_tag: &str, caption: &str) -> String {
    format!("<figure>{img_tag}<figcaption>{caption}</figcaption></figure>\n")
}

fn samples_html(p: &ReportParams, ctx: &mut RunContext<'_>) -> Result<String, StageError> {
    let quant = per_sample(ctx, "quant")?;
    let reg = per_sample(ctx, "registration")?;
    let seg = per_sample(ctx, "segmentation")?;
    let mut ids: Vec<String> = ctx
        .samples
        .iter()
        .map(|s| s.id.clone())
        .filter(|id| quant.contains_key(id) || reg.contains_key(id) || seg.contains_key(id))
        .collect();
    for id in quant.keys().chain(reg.keys()).chain(seg.keys()) {
        if !ids.contains(id) {
            ids.push(id.clone());
        }
    }
    if ids.is_empty() {
        return Ok(String::new());
    }
    let mut s = String::from("<h2>Samples</h2>\n");
    if ids.len() > p.max_samples_shown {
        let _ = writeln!(
            s,
            "<p class=\"note\">Figures of the first {} of {} samples (params.max_samples_shown).\
             </p>",
            p.max_samples_shown,
            ids.len()
        );
    }
    // Rendering and encoding the figures is most of the report's time: samples in parallel.
    let rendered: Vec<_> = ids
        .par_iter()
        .take(p.max_samples_shown)
        .map(|id| {
            [
                seg.get(id)
                    .map(|g| ("segmentation", segmentation_figure(g))),
                reg.get(id)
                    .map(|g| ("registration", registration_figure(g))),
                quant.get(id).map(|g| ("quantification", quant_figures(g))),
            ]
        })
        .collect();
    for (id, parts) in ids.iter().zip(rendered) {
        let _ = writeln!(s, "<section class=\"sample\"><h3>{}</h3>", escape(id));
        for (what, r) in parts.into_iter().flatten() {
            match r {
                Ok(html) => s.push_str(&html),
                Err(e) => {
                    ctx.warn(format!("sample '{id}': no {what} figure: {e}"));
                    let _ = writeln!(
                        s,
                        "<p class=\"note\">No {what} figure: {}</p>",
                        escape(&e.to_string())
                    );
                }
            }
        }
        s.push_str("</section>\n");
    }
    Ok(s)
}

fn segmentation_figure(g: &Group) -> Result<String, StageError> {
    let inst = Instances::read(g)?;
    let gray: Array2<u8> = if g.link_exists(corrflow_segment::export::DISPLAY_DATASET) {
        let d: Array2<u8> = g
            .dataset(corrflow_segment::export::DISPLAY_DATASET)?
            .read_2d()?;
        if d.dim() == (inst.height, inst.width) {
            d
        } else {
            Array2::zeros((inst.height, inst.width))
        }
    } else {
        Array2::zeros((inst.height, inst.width))
    };
    let img = corrflow_segment::overlay::render_overlay_preview(
        gray.view(),
        &inst,
        FIGURE_MAX_WIDTH as usize,
    );
    let mut per_class = vec![0usize; inst.class_names.len()];
    for i in &inst.instances {
        if let Some(n) = per_class.get_mut(i.class_id as usize) {
            *n += 1;
        }
    }
    let classes: Vec<String> = inst
        .class_names
        .iter()
        .zip(&per_class)
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    let caption = format!(
        "Segmentation: {} instance(s){}.",
        inst.instances.len(),
        if classes.is_empty() {
            String::new()
        } else {
            format!(" ({})", classes.join(", "))
        }
    );
    Ok(figure(
        &img_tag(
            img,
            FIGURE_MAX_WIDTH,
            "segmentation overlay",
            Encoding::Jpeg,
        )?,
        &escape(&caption),
    ))
}

fn registration_figure(g: &Group) -> Result<String, StageError> {
    let t = Transform2D::read(g)?;
    let quality = |x: f64, unit: &str| {
        if x.is_finite() {
            format!("{}{unit}", fmt_num(x, 3))
        } else {
            "n/a".to_string()
        }
    };
    let caption = escape(&format!(
        "Registration ({} transform by '{}'): RMS {}, confidence {}.",
        t.kind.as_str(),
        t.method,
        quality(t.rms_nm, " nm"),
        quality(t.confidence, "")
    ));
    match read_rgb(g, corrflow_register::output::QC_DATASET)? {
        Some(img) => Ok(figure(
            &img_tag(
                img,
                FIGURE_MAX_WIDTH,
                "registration overlay",
                Encoding::Jpeg,
            )?,
            &caption,
        )),
        None => Ok(format!("<p>{caption} (no overlay image)</p>\n")),
    }
}

fn quant_figures(g: &Group) -> Result<String, StageError> {
    let r = RatioImage::read(g)?;
    let label = format!("{}/{}", r.numerator, r.denominator);
    let mut s = String::new();
    if let Some(preview) = corrflow_types::figure::read_preview(g, ORGANELLES_FIGURE)? {
        s.push_str(&figure(
            &encoded_img_tag(&preview, "organelles coloured by ratio")?,
            &escape(&format!("Organelles coloured by {label} on the EM image.")),
        ));
    }
    let ratio = r.ratio.mapv(f64::from);
    if ratio.iter().any(|v| v.is_finite()) {
        let den = r.denominator_counts.mapv(f64::from);
        let scale = (512 / ratio.ncols().max(1)).clamp(1, 4) as u32;
        let mut ropts = RatioImageOptions::default();
        ropts.colorbar.title = Some(label.clone());
        ropts.colorbar.scale = scale;
        let mut hopts = HsiOptions::default();
        hopts.colorbar.title = Some(format!("{label} (HSI)"));
        hopts.colorbar.scale = scale;
        let plain =
            render_ratio(ratio.view(), &ropts).map_err(|e| StageError::other(e.to_string()))?;
        let hsi = render_hsi(ratio.view(), den.view(), &hopts)
            .map_err(|e| StageError::other(e.to_string()))?;
        let caption = escape(&format!(
            "{label} image (NanoSIMS pixels; colour scale {}–{}); ratio of sums {} ± {} %.",
            fmt_num(plain.ratio_limits.0, 3),
            fmt_num(plain.ratio_limits.1, 3),
            fmt_num(r.ratio_of_sums, 4),
            fmt_num(100.0 * r.rel_error, 2)
        ));
        s.push_str(&figure(
            &img_tag(plain.image, FIGURE_MAX_WIDTH, "ratio image", Encoding::Png)?,
            &caption,
        ));
        s.push_str(&figure(
            &img_tag(hsi.image, FIGURE_MAX_WIDTH, "HSI image", Encoding::Png)?,
            &escape(&format!(
                "HSI: hue from the {label} ratio, intensity from the {} counts.",
                r.denominator
            )),
        ));
    } else {
        s.push_str("<p class=\"note\">The ratio image has no finite pixel.</p>\n");
    }
    Ok(s)
}

fn provenance_html(l: &Lineage) -> String {
    let mut s = format!(
        "<p>Pipeline <b>{}</b>: the {} node(s) this report is computed from (the report \
         last).</p>\n<div class=\"dagwrap\">{}</div>\n<table class=\"data\"><thead><tr>\
         <th>node</th><th>stage</th><th>scope</th><th>inputs</th><th>params</th><th>tasks</th>\
         </tr></thead><tbody>",
        escape(&l.pipeline),
        l.nodes.len(),
        crate::dag::svg(l)
    );
    for n in &l.nodes {
        let inputs: Vec<String> = n
            .inputs
            .iter()
            .map(|(port, src)| format!("{} ← {}", escape(port), escape(src)))
            .collect();
        let params = serde_json::to_string(&n.params).unwrap_or_else(|e| e.to_string());
        let scope = match n.scope {
            Scope::PerSample => "per sample",
            Scope::Aggregate => "aggregate",
        };
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}@{}</td><td>{scope}</td><td>{}</td><td><code>{}</code></td>\
             <td class=\"num\">{}</td></tr>",
            escape(&n.id),
            escape(&n.stage),
            escape(&n.stage_version),
            inputs.join("<br>"),
            escape(&params),
            n.tasks.len()
        );
    }
    s.push_str(
        "</tbody></table>\n<details><summary>Cache keys of every task</summary>\n\
         <table class=\"data\"><thead><tr><th>node</th><th>sample</th><th>cache key</th></tr>\
         </thead><tbody>",
    );
    for n in &l.nodes {
        for (sample, key) in &n.tasks {
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&n.id),
                escape(sample),
                escape(key)
            );
        }
    }
    s.push_str("</tbody></table></details>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_stage::{InputBinding, LineageNode, SampleInfo, Stage};
    use corrflow_types::{Column, Instance, Mask, TableColumn};
    use ndarray::Array3;
    use serde_json::json;
    use std::path::Path;

    /// Two samples, two classes, two conditions; one NaN ratio.
    fn rois() -> Table {
        let rows: Vec<(&str, &str, &str, f64)> = vec![
            ("s1", "ctrl", "mito", 0.0040),
            ("s1", "ctrl", "mito", 0.0042),
            ("s1", "ctrl", "mito", 0.0045),
            ("s1", "ctrl", "er", 0.0050),
            ("s1", "ctrl", "er", 0.0052),
            ("s1", "ctrl", "er", f64::NAN),
            ("s2", "drug", "mito", 0.0100),
            ("s2", "drug", "mito", 0.0120),
            ("s2", "drug", "mito", 0.0110),
            ("s2", "drug", "er", 0.0060),
            ("s2", "drug", "er", 0.0065),
            ("s2", "drug", "er", 0.0070),
        ];
        let text = |k: usize| {
            Column::Text(
                rows.iter()
                    .map(|r| [r.0, r.1, r.2][k].to_string())
                    .collect(),
            )
        };
        Table::new(vec![
            TableColumn::new("sample", text(0)),
            TableColumn::new("condition", text(1)),
            TableColumn::new("instance", Column::I64((0..rows.len() as i64).collect())),
            TableColumn::new("class", text(2)),
            TableColumn::new("ratio", Column::F64(rows.iter().map(|r| r.3).collect()))
                .with_units("1"),
        ])
        .unwrap()
    }

    fn removed() -> Table {
        Table::new(vec![
            TableColumn::new("input_instance", Column::I64(vec![3, 7, 9])),
            TableColumn::new(
                "class",
                Column::Text(vec!["mito".into(), "mito".into(), "er".into()]),
            ),
            TableColumn::new(
                "rule",
                Column::Text(vec!["min_area".into(), "min_area".into(), "<edge>".into()]),
            ),
            TableColumn::new("value", Column::F64(vec![0.01, 0.02, 1.0])),
            TableColumn::new("threshold", Column::F64(vec![0.05, 0.05, 0.0])),
            TableColumn::new(
                "reason",
                Column::Text(vec![
                    "area 0.01 µm² < 0.05".into(),
                    "area 0.02 µm² < 0.05".into(),
                    "touches the edge".into(),
                ]),
            ),
        ])
        .unwrap()
    }

    fn entry(file: &Path, group: &str) -> InputBinding {
        InputBinding::Entry {
            file: file.to_path_buf(),
            group: group.into(),
        }
    }

    /// rois, stats.compare's outputs (run for real) and a removed table, in `dir/in.h5`.
    fn inputs(dir: &Path) -> BTreeMap<String, InputBinding> {
        let input = dir.join("in.h5");
        let f = h5::create_file(&input).unwrap();
        rois().write(&f.create_group("rois").unwrap()).unwrap();
        removed()
            .write(&f.create_group("removed").unwrap())
            .unwrap();
        f.close().unwrap();
        let stats_out = dir.join("stats.h5");
        let stats_in = BTreeMap::from([("rois".to_string(), entry(&input, "rois"))]);
        corrflow_stage::run_once(
            &corrflow_stats::stage::StatsCompare,
            &json!({}),
            "stats",
            "_all",
            &stats_in,
            &stats_out,
        )
        .unwrap();
        BTreeMap::from([
            ("rois".to_string(), entry(&input, "rois")),
            ("tests".to_string(), entry(&stats_out, "tests")),
            ("summary".to_string(), entry(&stats_out, "summary")),
            (
                "removed".to_string(),
                InputBinding::PerSample(vec![
                    ("s1".into(), entry(&input, "removed")),
                    ("s2".into(), entry(&input, "removed")),
                ]),
            ),
        ])
    }

    fn read_html(out: &Path) -> String {
        let f = h5::open_file(out).unwrap();
        let g = f.group("report").unwrap();
        assert_eq!(h5::get_str(&g, "corrflow_type").unwrap(), REPORT);
        String::from_utf8(g.dataset(HTML_DATASET).unwrap().read_raw().unwrap()).unwrap()
    }

    fn assert_self_contained(html: &str) {
        for bad in [
            "http://", "https://", "src=\"//", "@import", "<script", "<link",
        ] {
            assert!(!html.contains(bad), "the page contains {bad:?}");
        }
        // Every image is a data URI.
        for part in html.split("<img ").skip(1) {
            assert!(
                part.starts_with("src=\"data:image/png;base64,")
                    || part.starts_with("src=\"data:image/jpeg;base64,"),
                "{}",
                &part[..40]
            );
        }
    }

    #[test]
    fn report_with_tables_only() {
        let dir = tempfile::tempdir().unwrap();
        let ins = inputs(dir.path());
        let out = dir.path().join("out.h5");
        let params = json!({"title": "Turnover <15N>"});
        let warnings =
            corrflow_stage::run_once(&ReportHtml, &params, "report", "_all", &ins, &out).unwrap();
        assert_eq!(
            warnings,
            ["1 row(s) with a NaN or infinite 'ratio' are not plotted"]
        );
        let html = read_html(&out);
        assert_self_contained(&html);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<h1>Turnover &lt;15N&gt;</h1>"));
        assert!(html.contains(&format!("corrflow {}", env!("CARGO_PKG_VERSION"))));
        // Summary numbers: 2 samples, 12 organelles, counts per class × condition.
        assert!(html.contains("2 sample(s), 12 organelle(s) in 2 class(s) under 2 condition(s)"));
        assert!(html.contains("<tr><td>mito</td><td class=\"num\">3</td><td class=\"num\">3</td>"));
        // The plot, embedded.
        assert!(html.contains("alt=\"box and strip plots\""));
        assert!(html.contains("report.ratio_by_class.png"));
        // The tests table, with the ratio of medians of mito (0.011 / 0.0042).
        assert!(html.contains("Tests between conditions"));
        assert!(
            html.contains("<td class=\"num\">2.619</td>"),
            "ratio of medians"
        );
        assert!(html.contains("p MW Holm"));
        assert!(html.contains("Summary per group and condition"));
        // The filter: counts per rule × class (both samples share the table here), escaped.
        assert!(html.contains("The filter removed 6 instance(s) in 2 sample(s)."));
        assert!(
            html.contains("<tr><td>min_area</td><td class=\"num\">4</td><td class=\"num\">0</td>")
        );
        assert!(html.contains("&lt;edge&gt;"));
        assert!(html.contains("<details><summary>Every removed instance</summary>"));
        assert!(html.contains("No lineage"));
        assert!(!html.contains("<h2>Samples</h2>"));

        // The same inputs give the same bytes.
        let out2 = dir.path().join("out2.h5");
        corrflow_stage::run_once(&ReportHtml, &params, "report", "_all", &ins, &out2).unwrap();
        assert_eq!(read_html(&out2), html);

        let results = dir.path().join("results");
        std::fs::create_dir_all(&results).unwrap();
        let f = h5::open_file(&out).unwrap();
        let ectx = ExportContext {
            node: "report",
            sample: None,
            entry: &f,
            dir: &results,
        };
        let files = Stage::export(&ReportHtml, &params, &ectx).unwrap();
        assert_eq!(
            files,
            [
                results.join("report.html"),
                results.join("report.ratio_by_class.png"),
                results.join("report.ratio_by_class.svg"),
            ]
        );
        assert_eq!(std::fs::read_to_string(&files[0]).unwrap(), html);
        let png = image::open(&files[1]).unwrap();
        assert!(png.width() > 400 && png.height() > 300);
        let svg = std::fs::read_to_string(&files[2]).unwrap();
        assert!(svg.contains("<svg") && svg.contains("mito") && svg.contains("\nratio\n"));
    }

    #[test]
    fn missing_value_column_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let ins = inputs(dir.path());
        let out = dir.path().join("out.h5");
        let e = corrflow_stage::run_once(
            &ReportHtml,
            &json!({"value": "atom_pct"}),
            "report",
            "_all",
            &BTreeMap::from([("rois".to_string(), ins["rois"].clone())]),
            &out,
        )
        .unwrap_err();
        assert!(
            e.starts_with("rois: no column 'atom_pct' (params.value)"),
            "{e}"
        );
        let e =
            corrflow_stage::run_once(&ReportHtml, &json!({"value": ""}), "r", "_all", &ins, &out)
                .unwrap_err();
        assert!(e.contains("must name a column"), "{e}");
    }

    /// Per-sample figures and the provenance, with a lineage as the engine fills it.
    #[test]
    fn report_with_samples_and_lineage() {
        let dir = tempfile::tempdir().unwrap();
        let mut ins = inputs(dir.path());
        let per = dir.path().join("per.h5");
        let f = h5::create_file(&per).unwrap();
        // Segmentation: two instances on a 40 × 60 image, with the display image.
        let mut m = Array2::from_elem((10, 10), false);
        m.slice_mut(ndarray::s![2..8, 2..8]).fill(true);
        let inst = Instances::new(
            40,
            60,
            10.0,
            vec!["mito".into(), "er".into()],
            vec![
                Instance {
                    class_id: 0,
                    score: 0.9,
                    bbox: [5.0, 5.0, 15.0, 15.0],
                    mask: Mask::new(5, 5, m.clone()),
                },
                Instance {
                    class_id: 1,
                    score: 0.8,
                    bbox: [30.0, 20.0, 40.0, 30.0],
                    mask: Mask::new(30, 20, m),
                },
            ],
        )
        .unwrap();
        let g = f.create_group("instances").unwrap();
        inst.write(&g).unwrap();
        let gray = Array2::from_shape_fn((40, 60), |(r, c)| ((r * 3 + c * 2) % 256) as u8);
        corrflow_segment::export::write_export_info(&g, "s1.tif", Some(gray.view())).unwrap();
        // Registration with a QC image.
        let g = f.create_group("transform").unwrap();
        Transform2D::identity("em", 10.0)
            .unwrap()
            .with_quality(12.5, 0.9)
            .unwrap()
            .write(&g)
            .unwrap();
        let qc = Array3::from_shape_fn((30, 1000, 3), |(r, c, k)| ((r + c + k) % 256) as u8);
        g.new_dataset_builder()
            .with_data(&qc)
            .create(corrflow_register::output::QC_DATASET)
            .unwrap();
        // Ratio image with the organelles figure.
        let g = f.create_group("ratio").unwrap();
        let ratio = Array2::from_shape_fn((8, 8), |(r, c)| {
            if r < 2 {
                f32::NAN
            } else {
                0.004 + 0.001 * (r * c) as f32
            }
        });
        RatioImage {
            ratio,
            numerator_counts: Array2::from_elem((8, 8), 4.0),
            denominator_counts: Array2::from_elem((8, 8), 1000.0),
            numerator: "12C15N".into(),
            denominator: "12C14N".into(),
            min_denominator: 1.0,
            smooth_px: 1,
            pixel_size_nm: 100.0,
            ratio_of_sums: 0.004,
            rel_error: 0.05,
        }
        .write(&g)
        .unwrap();
        let jpeg = crate::images::jpeg_bytes(&image::RgbImage::from_pixel(
            30,
            20,
            image::Rgb([128, 128, 128]),
        ))
        .unwrap();
        let encoded = |format: &str, bytes: Vec<u8>| corrflow_types::figure::EncodedImage {
            format: format.into(),
            bytes,
            width: 30,
            height: 20,
        };
        corrflow_types::figure::write_figure(
            &g,
            ORGANELLES_FIGURE,
            &encoded(
                "PNG",
                crate::images::png_bytes(&image::RgbImage::new(30, 20)).unwrap(),
            ),
            &encoded("JPEG", jpeg),
        )
        .unwrap();
        f.close().unwrap();
        let both = |group: &str| {
            InputBinding::PerSample(vec![
                ("s1".into(), entry(&per, group)),
                ("s2".into(), entry(&per, group)),
            ])
        };
        ins.insert("segmentation".into(), both("instances"));
        ins.insert("registration".into(), both("transform"));
        ins.insert("quant".into(), both("ratio"));

        let node =
            |id: &str, stage: &str, scope, inputs: &[(&str, &str)], tasks: &[&str]| LineageNode {
                id: id.into(),
                stage: stage.into(),
                stage_version: "1".into(),
                scope,
                params: json!({"x": "<b>"}),
                inputs: inputs
                    .iter()
                    .map(|(p, s)| (p.to_string(), s.to_string()))
                    .collect(),
                tasks: tasks
                    .iter()
                    .map(|s| (s.to_string(), format!("key-{id}-{s}")))
                    .collect(),
            };
        let lineage = Lineage {
            pipeline: "turnover".into(),
            nodes: vec![
                node(
                    "em",
                    "io.em",
                    Scope::PerSample,
                    &[("file", "sample.em")],
                    &["s1", "s2"],
                ),
                node(
                    "seg",
                    "segment.yolo",
                    Scope::PerSample,
                    &[("image", "em.image")],
                    &["s1", "s2"],
                ),
                node(
                    "reg",
                    "register.auto",
                    Scope::PerSample,
                    &[("em", "em.image")],
                    &["s1", "s2"],
                ),
                node(
                    "quant",
                    "quantify.ratio",
                    Scope::PerSample,
                    &[
                        ("instances", "seg.instances"),
                        ("transform", "reg.transform"),
                    ],
                    &["s1", "s2"],
                ),
                node(
                    "rois",
                    "table.concat",
                    Scope::Aggregate,
                    &[("table", "quant.rois")],
                    &["_all"],
                ),
                node(
                    "report",
                    "report.html",
                    Scope::Aggregate,
                    &[("rois", "rois.table")],
                    &["_all"],
                ),
            ],
        };
        let samples = [
            SampleInfo {
                id: "s1".into(),
                columns: BTreeMap::new(),
            },
            SampleInfo {
                id: "s2".into(),
                columns: BTreeMap::new(),
            },
        ];
        let out = dir.path().join("out.h5");
        let params = ReportHtml
            .canonical_params(&json!({"max_samples_shown": 1}))
            .unwrap();
        let mut ctx = RunContext::new("report", None, &samples, &ins, &out, 1);
        ctx.lineage = Some(&lineage);
        Stage::run(&ReportHtml, &params, &mut ctx).unwrap();
        ctx.close_output().unwrap();
        assert!(ctx.take_warnings().len() == 1);
        let html = read_html(&out);
        assert_self_contained(&html);
        assert!(html.contains("pipeline <b>turnover</b>"));
        assert!(html.contains("<h2>Samples</h2>"));
        assert!(html.contains("Figures of the first 1 of 2 samples"));
        assert!(html.contains("<h3>s1</h3>") && !html.contains("<h3>s2</h3>"));
        assert!(html.contains("Segmentation: 2 instance(s) (mito: 1, er: 1)."));
        assert!(html.contains("RMS 12.5 nm, confidence 0.9."));
        // The 1000 px wide QC image is reduced by 2 (block means) to fit 800 px.
        assert!(html.contains("width=\"500\" height=\"15\" alt=\"registration overlay\""));
        assert!(html.contains("alt=\"organelles coloured by ratio\""));
        assert!(html.contains("alt=\"HSI image\""));
        // Provenance: the graph, the params (escaped), the cache keys.
        assert!(html.contains("<svg class=\"dag\""));
        assert_eq!(html.matches("marker-end").count(), 6);
        assert!(html.contains("quantify.ratio@1"));
        assert!(html.contains("{&quot;x&quot;:&quot;&lt;b&gt;&quot;}"));
        assert!(html.contains("<code>key-quant-s2</code>"));
        assert!(html.contains("<details><summary>Cache keys of every task</summary>"));
    }
}
