//! The `quantify.ratio` stage: per-organelle isotope ratios from EM masks mapped into the
//! NanoSIMS ion maps through the registration.

use std::path::PathBuf;

use corrflow_nanosims::colorbar::ColorbarOptions;
use corrflow_nanosims::hsi::{HsiOptions, RatioImageOptions, render_hsi_png, render_ratio_png};
use corrflow_nanosims::{RATIO_IMAGE, RatioImage};
use corrflow_stage::hdf5::Group;
use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage,
};
use corrflow_types::figure::{EncodedImage, PREVIEW_MAX_WIDTH, read_figure, write_figure};
use corrflow_types::{Column, Instances, IonStack, Table, TableColumn, Transform2D, types};
use ndarray::{Array2, Array3, Axis};
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::coverage::{Coverage, Lattice};
use crate::measure::{NATURAL_15N_14N, References, WeightedCounts, measures};
use crate::qc::{ROI_FIGURE, organelle_figure, restricted_ratio};

/// Parameters of `quantify.ratio`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuantifyParams {
    /// Numerator mass name (as in the ion stack), e.g. `12C15N`.
    #[serde(default = "default_num")]
    pub numerator: String,
    /// Denominator mass name, e.g. `12C14N`.
    #[serde(default = "default_den")]
    pub denominator: String,
    /// Erode each mask by a disk of this radius (nm) before measuring, to keep away from
    /// neighbouring structures and the beam's spread. 0: none.
    #[serde(default)]
    pub margin_nm: f64,
    /// Sub-pixels per EM pixel side for the coverage lattice; default: enough for ≥ 8 lattice
    /// points across a NanoSIMS pixel.
    #[serde(default)]
    pub supersample: Option<usize>,
    /// Natural abundance ratio R_nat of numerator/denominator (default 15N/14N = 0.003676).
    #[serde(default = "default_natural")]
    pub natural_ratio: f64,
    /// Ratio of unlabelled material R_bg for the turnover (default: `natural_ratio`).
    #[serde(default)]
    pub background_ratio: Option<f64>,
    /// Ratio of the label (fully new material) R_label: adds the fraction of new material,
    /// `fraction_new_pct`. Absent: that column is NaN.
    #[serde(default)]
    pub label_ratio: Option<f64>,
    /// Colour scale of the ratio figures `[min, max]`; default: 1st–99th percentiles.
    #[serde(default)]
    pub ratio_range: Option<[f64; 2]>,
}

fn default_num() -> String {
    "12C15N".into()
}
fn default_den() -> String {
    "12C14N".into()
}
fn default_natural() -> f64 {
    NATURAL_15N_14N
}

impl Default for QuantifyParams {
    fn default() -> Self {
        Self {
            numerator: default_num(),
            denominator: default_den(),
            margin_nm: 0.0,
            supersample: None,
            natural_ratio: default_natural(),
            background_ratio: None,
            label_ratio: None,
            ratio_range: None,
        }
    }
}

/// Per-organelle ratios.
pub struct QuantifyRatio;

impl TypedStage for QuantifyRatio {
    type Params = QuantifyParams;
    const ID: &'static str = "quantify.ratio";
    const VERSION: &'static str = "2";
    // Every row of the table carries the sample's metadata columns.
    const READS_SAMPLE_METADATA: bool = true;
    const DOC: &'static str = "Per-organelle isotope ratio (default 12C15N/12C14N): each mask is \
mapped into the NanoSIMS raster through the registration with area-weighted pixel coverage \
(optionally eroded by margin_nm), and the counts of every mass are summed over planes and \
coverage-weighted. One row per organelle with the sample's metadata: counts per mass, ratio of \
sums with its Poisson 1σ, atom %, enrichment, δ (‰), fraction of new material (with \
label_ratio), the mean of per-pixel ratios (secondary), NanoSIMS pixels and covered area. Exports \
NODE.csv, the ratio image restricted to the organelles (NODE.ratio.png, NODE.hsi.png) and the \
organelles coloured by their ratio on the EM image (NODE.organelles.png).";

    fn ports(&self, _: &QuantifyParams) -> Ports {
        Ports {
            inputs: vec![
                PortSpec::new("instances", types::INSTANCES, "the organelles (EM pixels)"),
                PortSpec::new(
                    "transform",
                    types::TRANSFORM,
                    "the registration, EM pixel → NanoSIMS pixel",
                ),
                PortSpec::new(
                    "ions",
                    types::ION_STACK,
                    "the NanoSIMS ion stack (dead-time corrected and plane-aligned as wanted)",
                ),
            ],
            outputs: vec![
                PortSpec::new(
                    "rois",
                    types::TABLE,
                    "one row per organelle: sample, metadata, instance, class, counts and ratio \
                     measures",
                ),
                PortSpec::new(
                    "ratio",
                    RATIO_IMAGE,
                    "the per-pixel ratio where organelles cover at least half a NanoSIMS pixel \
                     (NaN elsewhere), with the plane-summed counts",
                ),
            ],
        }
    }

    fn validate(&self, p: &QuantifyParams) -> Result<(), ParamError> {
        if p.numerator.trim().is_empty() || p.numerator == p.denominator {
            return Err(ParamError::new(
                "numerator",
                "must name a mass other than the denominator",
            ));
        }
        if !(p.margin_nm.is_finite() && p.margin_nm >= 0.0) {
            return Err(ParamError::new(
                "margin_nm",
                "must be a finite number ≥ 0 nm",
            ));
        }
        if let Some(s) = p.supersample
            && !(1..=16).contains(&s)
        {
            return Err(ParamError::new("supersample", "must be in 1..=16"));
        }
        let positive = |name: &str, v: Option<f64>| match v {
            Some(x) if !(x.is_finite() && x > 0.0) => Err(ParamError::new(
                name,
                format!("must be a finite ratio > 0, got {x}"),
            )),
            _ => Ok(()),
        };
        positive("natural_ratio", Some(p.natural_ratio))?;
        positive("background_ratio", p.background_ratio)?;
        positive("label_ratio", p.label_ratio)?;
        if let (Some(l), bg) = (p.label_ratio, p.background_ratio.unwrap_or(p.natural_ratio))
            && l <= bg
        {
            return Err(ParamError::new(
                "label_ratio",
                format!("{l} must be larger than the background ratio {bg}"),
            ));
        }
        if let Some([a, b]) = p.ratio_range
            && !(a.is_finite() && b.is_finite() && a < b)
        {
            return Err(ParamError::new(
                "ratio_range",
                "must be [min, max] with min < max",
            ));
        }
        Ok(())
    }

    fn run(&self, p: &QuantifyParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let inst_group = ctx.input_group("instances")?;
        let instances = Instances::read(&inst_group)?;
        let t = Transform2D::read(&ctx.input_group("transform")?)?;
        let stack = IonStack::read(&ctx.input_group("ions")?)?;
        t.check_pixel_sizes(instances.pixel_size_nm, stack.pixel_size_nm)?;
        let num = stack.mass_index(&p.numerator)?;
        let den = stack.mass_index(&p.denominator)?;
        // Counts per mass summed over planes: (masses, height, width).
        let counts: Array3<f64> = stack.counts.mapv(f64::from).sum_axis(Axis(1));

        let inv = t.inverse()?;
        let s = p
            .supersample
            .unwrap_or_else(|| Lattice::auto_supersample(&t));
        let dims = (stack.height(), stack.width());
        let lattice = Lattice::new(&t, s, dims);
        let radius = corrflow_filter::rules::radius_px(Some(p.margin_nm), instances.pixel_size_nm);
        let em_dims = (instances.height, instances.width);
        let coverages: Vec<Coverage> = instances
            .instances
            .par_iter()
            .map(|inst| match radius {
                Some(r) => {
                    let eroded = corrflow_filter::rules::erosion(&inst.mask, r, em_dims);
                    lattice.coverage(&eroded, &inv)
                }
                None => lattice.coverage(&inst.mask, &inv),
            })
            .collect();

        let refs = References {
            natural: p.natural_ratio,
            background: p.background_ratio.unwrap_or(p.natural_ratio),
            label: p.label_ratio,
        };
        let table = rois_table(
            ctx,
            &instances,
            &stack,
            &counts,
            &coverages,
            (num, den),
            &refs,
        )?;
        let empty = coverages.iter().filter(|c| c.pixels.is_empty()).count();
        if empty > 0 {
            ctx.warn(format!(
                "{empty} of {} organelles cover no NanoSIMS pixel (outside the field{}): their \
                 ratios are NaN",
                instances.len(),
                if radius.is_some() {
                    ", or eroded away by margin_nm"
                } else {
                    ""
                }
            ));
        }
        table.write(&ctx.output_group("rois")?)?;

        let num_img = counts.index_axis(Axis(0), num).to_owned();
        let den_img = counts.index_axis(Axis(0), den).to_owned();
        let ratio = restricted_ratio(num_img.view(), den_img.view(), &coverages, dims);
        let roi_ratio = match table.column("ratio").map(|c| &c.values) {
            Some(Column::F64(v)) => v.clone(),
            _ => vec![f64::NAN; instances.len()],
        };
        let out = ctx.output_group("ratio")?;
        let sums = (num_img.iter().sum::<f64>(), den_img.iter().sum::<f64>());
        RatioImage {
            ratio: ratio.mapv(|v| v as f32),
            numerator_counts: num_img.mapv(|v| v as f32),
            denominator_counts: den_img.mapv(|v| v as f32),
            numerator: p.numerator.clone(),
            denominator: p.denominator.clone(),
            min_denominator: 0.0,
            smooth_px: 1,
            pixel_size_nm: stack.pixel_size_nm,
            ratio_of_sums: sums.0 / sums.1,
            rel_error: (1.0 / sums.0 + 1.0 / sums.1).sqrt(),
        }
        .write(&out)?;
        let gray: Option<Array2<u8>> =
            if inst_group.link_exists(corrflow_segment::export::DISPLAY_DATASET) {
                Some(
                    inst_group
                        .dataset(corrflow_segment::export::DISPLAY_DATASET)?
                        .read_2d()?,
                )
            } else {
                None
            };
        let figure = organelle_figure(
            &instances,
            gray.as_ref().map(|g| g.view()),
            &roi_ratio,
            p.ratio_range,
            &format!("{}/{}", p.numerator, p.denominator),
        )?;
        store_figure(&out, ROI_FIGURE, figure)
    }

    /// `NODE.csv` (the organelles), `NODE.ratio.png` and `NODE.hsi.png` (the ratio image
    /// restricted to the organelles), `NODE.organelles.png` (organelles coloured by ratio on the
    /// EM image).
    fn export(
        &self,
        p: &QuantifyParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        let csv = ctx.path("csv");
        Table::read(&ctx.entry.group("rois")?)?.to_csv(&csv)?;
        let g = ctx.entry.group("ratio")?;
        let r = RatioImage::read(&g)?;
        let ratio = r.ratio.mapv(f64::from);
        let den = r.denominator_counts.mapv(f64::from);
        let limits = match p.ratio_range {
            Some([min, max]) => corrflow_nanosims::hsi::Limits::Fixed { min, max },
            None => corrflow_nanosims::hsi::Limits::Percentiles {
                low: 1.0,
                high: 99.0,
            },
        };
        let colorbar = ColorbarOptions {
            title: Some(format!("{}/{} in organelles", r.numerator, r.denominator)),
            scale: (512 / ratio.ncols().max(1)).clamp(1, 4) as u32,
            ..ColorbarOptions::default()
        };
        let mut files = vec![csv];
        // An image with no organelle pixel has nothing to colour: no ratio figures.
        if ratio.iter().any(|v| v.is_finite()) {
            let png = ctx.path("ratio.png");
            let ropts = RatioImageOptions {
                limits,
                colorbar: colorbar.clone(),
                ..Default::default()
            };
            render_ratio_png(&png, ratio.view(), &ropts)
                .map_err(|e| StageError::other(e.to_string()))?;
            let hsi = ctx.path("hsi.png");
            let hopts = HsiOptions {
                ratio_limits: limits,
                colorbar,
                ..Default::default()
            };
            render_hsi_png(&hsi, ratio.view(), den.view(), &hopts)
                .map_err(|e| StageError::other(e.to_string()))?;
            files.extend([png, hsi]);
        }
        let fig = read_figure(&g, ROI_FIGURE)?.ok_or_else(|| {
            StageError::input(format!("the 'ratio' group has no '{ROI_FIGURE}' figure"))
        })?;
        let path = ctx.path("organelles.png");
        std::fs::write(&path, fig.bytes).map_err(|e| StageError::io(&path, e))?;
        files.push(path);
        Ok(files)
    }
}

/// Store an RGB figure (height, width, 3) as PNG bytes with a JPEG preview.
fn store_figure(g: &Group, name: &str, figure: Array3<u8>) -> Result<(), StageError> {
    let (h, w, _) = figure.dim();
    let raw = figure
        .as_standard_layout()
        .into_owned()
        .into_raw_vec_and_offset()
        .0;
    let img = image::RgbImage::from_raw(w as u32, h as u32, raw)
        .ok_or_else(|| StageError::other(format!("figure '{name}' is not RGB")))?;
    let encoding = |e: image::ImageError| StageError::other(format!("figure '{name}': {e}"));
    let full = EncodedImage {
        format: "PNG".into(),
        bytes: corrflow_io_em::encode_png_rgb(&img).map_err(encoding)?,
        width: img.width(),
        height: img.height(),
    };
    let small = corrflow_io_em::reduce_to_width(img, PREVIEW_MAX_WIDTH);
    let preview = EncodedImage {
        format: "JPEG".into(),
        bytes: corrflow_io_em::encode_jpeg_rgb(&small).map_err(encoding)?,
        width: small.width(),
        height: small.height(),
    };
    write_figure(g, name, &full, &preview)
}

/// One row per organelle.
fn rois_table(
    ctx: &RunContext<'_>,
    instances: &Instances,
    stack: &IonStack,
    counts: &Array3<f64>,
    coverages: &[Coverage],
    (num, den): (usize, usize),
    refs: &References,
) -> Result<Table, StageError> {
    let n = instances.len();
    let sample = ctx.sample_id().to_string();
    let mut cols = vec![TableColumn::new("sample", Column::Text(vec![sample; n]))];
    if let Some(info) = ctx.sample {
        for (name, value) in &info.columns {
            if name == "sample" {
                continue;
            }
            cols.push(TableColumn::new(name, Column::Text(vec![value.clone(); n])));
        }
    }
    let insts = &instances.instances;
    cols.push(TableColumn::new(
        "instance",
        Column::I64((0..n as i64).collect()),
    ));
    cols.push(TableColumn::new(
        "class",
        Column::Text(
            insts
                .iter()
                .map(|i| {
                    instances
                        .class_names
                        .get(i.class_id as usize)
                        .cloned()
                        .unwrap_or_default()
                })
                .collect(),
        ),
    ));
    let f64col = |name: &str, units: &str, v: Vec<f64>| {
        TableColumn::new(name, Column::F64(v)).with_units(units)
    };
    cols.push(f64col(
        "score",
        "",
        insts.iter().map(|i| f64::from(i.score)).collect(),
    ));
    let um2_em = (instances.pixel_size_nm / 1000.0).powi(2);
    cols.push(f64col(
        "area_um2",
        "µm²",
        insts
            .iter()
            .map(|i| i.mask.area_px() as f64 * um2_em)
            .collect(),
    ));
    let centroid = |i: &corrflow_types::Instance, axis: usize| {
        let (mut s, mut k) = (0.0, 0.0);
        for ((r, c), &on) in i.mask.data.indexed_iter() {
            if on {
                s += if axis == 0 {
                    (i.mask.x0 + c) as f64
                } else {
                    (i.mask.y0 + r) as f64
                };
                k += 1.0;
            }
        }
        s / k
    };
    cols.push(f64col(
        "centroid_x_px",
        "EM px",
        insts.iter().map(|i| centroid(i, 0)).collect(),
    ));
    cols.push(f64col(
        "centroid_y_px",
        "EM px",
        insts.iter().map(|i| centroid(i, 1)).collect(),
    ));
    cols.push(f64col(
        "inside_field",
        "fraction",
        coverages.iter().map(|c| c.inside_field).collect(),
    ));
    cols.push(TableColumn::new(
        "nanosims_px",
        Column::I64(coverages.iter().map(|c| c.pixels.len() as i64).collect()),
    ));
    let um2_ns = (stack.pixel_size_nm / 1000.0).powi(2);
    cols.push(f64col(
        "covered_area_um2",
        "µm²",
        coverages.iter().map(|c| c.area_px() * um2_ns).collect(),
    ));
    // Coverage-weighted sums per mass, per organelle.
    let sums: Vec<Vec<WeightedCounts>> = coverages
        .iter()
        .map(|cov| {
            (0..stack.n_masses())
                .map(|m| {
                    let mut w = WeightedCounts::default();
                    for &(r, c, f) in &cov.pixels {
                        w.add(f, counts[[m, r, c]]);
                    }
                    w
                })
                .collect()
        })
        .collect();
    for (m, mass) in stack.masses.iter().enumerate() {
        cols.push(f64col(
            &format!("counts_{}", mass.name),
            "counts",
            sums.iter().map(|s| s[m].sum).collect(),
        ));
    }
    let ms: Vec<_> = sums
        .iter()
        .map(|s| measures(s[num], s[den], refs))
        .collect();
    cols.push(f64col(
        "ratio",
        "ratio",
        ms.iter().map(|m| m.ratio).collect(),
    ));
    cols.push(f64col(
        "ratio_sigma",
        "ratio",
        ms.iter().map(|m| m.sigma).collect(),
    ));
    cols.push(f64col(
        "atom_pct",
        "%",
        ms.iter().map(|m| m.atom_pct).collect(),
    ));
    cols.push(f64col(
        "enrichment",
        "ratio",
        ms.iter().map(|m| m.enrichment).collect(),
    ));
    cols.push(f64col(
        "delta_permil",
        "‰",
        ms.iter().map(|m| m.delta_permil).collect(),
    ));
    cols.push(f64col(
        "fraction_new_pct",
        "%",
        ms.iter().map(|m| m.fraction_new_pct).collect(),
    ));
    // Secondary: the coverage-weighted mean of per-pixel ratios over pixels with denominator
    // counts (biased at low counts; the ratio of sums is the measurement).
    let mean_pixel_ratio = coverages
        .iter()
        .map(|cov| {
            let (mut s, mut w) = (0.0, 0.0);
            for &(r, c, f) in &cov.pixels {
                let d = counts[[den, r, c]];
                if d > 0.0 {
                    s += f * counts[[num, r, c]] / d;
                    w += f;
                }
            }
            s / w
        })
        .collect();
    cols.push(f64col("mean_pixel_ratio", "ratio", mean_pixel_ratio));
    Table::new(cols)
}
