//! A whole synthetic study: per sample an EM image, a NanoSIMS `.im` file and the truth, plus a
//! samples table that a pipeline reads directly.

use std::path::{Path, PathBuf};

use corrflow_im::{ByteOrder, ImDateTime, ImWriteSpec, Layout, MassSpec, WriteOptions, write_im};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::design::Design;
use crate::nanosims::{NanosimsConfig, SPECIES, acquire};
use crate::{EmConfig, render_em};

/// Everything `corrflow synth --config FILE` can set (YAML or JSON; every field optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StudyConfig {
    pub em: EmConfig,
    pub nanosims: NanosimsConfig,
    pub design: Design,
}

impl Default for StudyConfig {
    /// A 16 µm EM field (4096² at 4 nm/px) on a 9–13 µm cell that the field edge sometimes cuts,
    /// and a 256² NanoSIMS field of 10–15 µm over part of it.
    fn default() -> Self {
        let em = EmConfig {
            width_px: 4096,
            height_px: 4096,
            pixel_size_nm: 4.0,
            cell_diameter_um: [9.0, 13.0],
            ..EmConfig::default()
        };
        Self {
            em,
            nanosims: NanosimsConfig::default(),
            design: Design::default(),
        }
    }
}

impl StudyConfig {
    /// Read a YAML (or JSON) configuration file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let cfg: StudyConfig =
            serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        cfg.validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.nanosims.validate()?;
        self.design.validate()?;
        if !(self.em.pixel_size_nm.is_finite() && self.em.pixel_size_nm > 0.0) {
            return Err("em: pixel_size_nm must be > 0".into());
        }
        if self.em.width_px == 0
            || self.em.height_px == 0
            || self.em.width_px > 16384
            || self.em.height_px > 16384
        {
            return Err("em: width_px and height_px must be in 1..=16384".into());
        }
        Ok(())
    }
}

/// What was written for one sample.
#[derive(Debug, Clone, Serialize)]
pub struct SampleReport {
    pub id: String,
    pub condition: String,
    pub organelles: usize,
    pub seconds: f64,
}

/// Seed of sample `k` of a study with seed `seed` (independent streams per sample).
fn sample_seed(seed: u64, k: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
}

/// Generate `n` samples into `out` (em/, nanosims/, truth/, samples.csv), in parallel.
pub fn generate(
    out: &Path,
    n: usize,
    seed: u64,
    cfg: &StudyConfig,
) -> Result<Vec<SampleReport>, String> {
    cfg.validate()?;
    for sub in ["em", "nanosims", "truth"] {
        std::fs::create_dir_all(out.join(sub))
            .map_err(|e| format!("{}: {e}", out.join(sub).display()))?;
    }
    let width = n.max(1).to_string().len().max(2);
    let reports: Vec<SampleReport> = (0..n)
        .into_par_iter()
        .map(|k| one(out, &format!("s{:0width$}", k + 1), k, seed, cfg))
        .collect::<Result<_, _>>()?;
    let mut csv = String::from("id,em,nanosims,condition,labels,classes\n");
    for r in &reports {
        csv += &format!(
            "{0},em/{0}.tif,nanosims/{0}.im,{1},truth/{0}_labels.tif,truth/{0}_classes.csv\n",
            r.id, r.condition
        );
    }
    write_file(&out.join("samples.csv"), csv.as_bytes())?;
    Ok(reports)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp: PathBuf = path.with_extension("tmp~");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn one(
    out: &Path,
    id: &str,
    k: usize,
    seed: u64,
    cfg: &StudyConfig,
) -> Result<SampleReport, String> {
    let t0 = std::time::Instant::now();
    let s = sample_seed(seed, k);
    let condition = &cfg.design.conditions[k % cfg.design.conditions.len()];
    let em = render_em(&cfg.em, s);
    // True ratios: one per organelle from its class's distribution, and the cytoplasm's.
    let mut rng = ChaCha8Rng::seed_from_u64(s ^ 0x15);
    let cytoplasm = condition.cytoplasm.draw(&mut rng);
    let mut ratios = vec![cytoplasm];
    for o in &em.organelles {
        ratios.push(condition.classes[&o.class].draw(&mut rng));
    }
    let ions = acquire(&em, &ratios, cytoplasm, &cfg.nanosims, s);

    let em_path = out.join("em").join(format!("{id}.tif"));
    corrflow_io_em::write_tiff_u16(&em_path, &em.image, Some(em.pixel_size_nm))
        .map_err(|e| e.to_string())?;
    // Labels compress ~100× (Fiji and napari read Deflate TIFFs).
    let opts = corrflow_io_em::TiffWriteOptions {
        pixel_size_nm: Some(em.pixel_size_nm),
        compression: corrflow_io_em::TiffCompression::Deflate,
    };
    corrflow_io_em::write_tiff(
        &out.join("truth").join(format!("{id}_labels.tif")),
        &em.labels,
        &opts,
    )
    .map_err(|e| e.to_string())?;

    let masses: Vec<MassSpec> = SPECIES
        .iter()
        .map(|&(label, amu, trolley)| MassSpec::new(label, amu, trolley))
        .collect();
    let mut spec = ImWriteSpec::new(masses, Layout::Release4108);
    spec.raster_nm = (cfg.nanosims.size_px as f64 * ions.pixel_size_nm).round() as i32;
    spec.time_per_pixel_s = ions.dwell_s;
    let n_px = (cfg.nanosims.size_px * cfg.nanosims.size_px) as f64;
    spec.analysis_duration_s = (ions.dwell_s * n_px * cfg.nanosims.planes as f64).round() as i32;
    spec.analysis_name = "corrflow synth".into();
    spec.sample_name = id.to_string();
    spec.file_name = format!("{id}.im");
    spec.date = ImDateTime::parse("25.11.26", "12:00").unwrap_or(spec.date);
    for d in &mut spec.detectors {
        d.dead_time_ns = cfg.nanosims.dead_time_ns.round() as i32;
    }
    write_im(
        out.join("nanosims").join(format!("{id}.im")),
        &spec,
        &ions.counts,
        &WriteOptions::release4108(ByteOrder::Little),
    )
    .map_err(|e| e.to_string())?;

    let um2 = (em.pixel_size_nm / 1000.0).powi(2);
    let organelles: Vec<_> = em
        .organelles
        .iter()
        .map(|o| {
            json!({
                "id": o.id,
                "class": o.class.as_str(),
                "ratio_15N_14N": ratios[o.id as usize],
                "area_um2": o.area_px as f64 * um2,
                "touches_border": o.touches_border,
            })
        })
        .collect();
    let truth = json!({
        "condition": condition.name,
        "em_pixel_nm": em.pixel_size_nm,
        "nanosims_pixel_nm": ions.pixel_size_nm,
        "em_to_nanosims": ions.em_to_nanosims,
        "cytoplasm_ratio_15N_14N": cytoplasm,
        "nanosims_drift_px": ions.drift_px,
        "dwell_time_s": ions.dwell_s,
        "dead_time_ns": cfg.nanosims.dead_time_ns,
        "seed": s,
        "organelles": organelles,
    });
    let text = serde_json::to_vec_pretty(&truth).map_err(|e| e.to_string())?;
    write_file(&out.join("truth").join(format!("{id}.json")), &text)?;
    // The label → class table that `segment.masks` and `export-dataset --list` read.
    let mut classes = String::from("label,class\n");
    for o in &em.organelles {
        classes += &format!("{},{}\n", o.id, o.class.as_str());
    }
    write_file(
        &out.join("truth").join(format!("{id}_classes.csv")),
        classes.as_bytes(),
    )?;
    Ok(SampleReport {
        id: id.to_string(),
        condition: condition.name.clone(),
        organelles: em.organelles.len(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
