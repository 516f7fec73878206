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

/// Landmark pairs as a user would click them (`register.landmarks` reads the file): the centroids
/// of up to 8 organelles spread over the NanoSIMS field — the largest wholly visible one in each
/// cell of a 3 × 3 grid over the field — in EM pixels, and their images under the true transform
/// with a click error (Gaussian, σ = 0.3 NanoSIMS px per axis) in NanoSIMS pixels.
fn landmarks_csv(
    organelles: &[crate::Organelle],
    em_to_ns: &[[f64; 3]; 3],
    ns_size: usize,
    seed: u64,
) -> String {
    use rand::Rng;
    let map = |x: f64, y: f64| {
        let m = em_to_ns;
        let w = m[2][0] * x + m[2][1] * y + m[2][2];
        (
            (m[0][0] * x + m[0][1] * y + m[0][2]) / w,
            (m[1][0] * x + m[1][1] * y + m[1][2]) / w,
        )
    };
    let n = ns_size as f64;
    let mut best: [Option<(u64, f64, f64, u32)>; 9] = [None; 9];
    for o in organelles.iter().filter(|o| !o.touches_border) {
        let (u, v) = map(o.centroid[0], o.centroid[1]);
        if !(u >= 0.0 && v >= 0.0 && u < n && v < n) {
            continue;
        }
        let cell = ((v / n * 3.0) as usize).min(2) * 3 + ((u / n * 3.0) as usize).min(2);
        if best[cell].is_none_or(|b| o.area_px > b.0) {
            best[cell] = Some((o.area_px, o.centroid[0], o.centroid[1], o.id));
        }
    }
    let mut picked: Vec<_> = best.into_iter().flatten().collect();
    picked.sort_by_key(|p| std::cmp::Reverse(p.0));
    picked.truncate(8);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1A4D);
    let mut normal = || {
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    };
    let mut csv = String::from(
        "# organelle centroids clicked in the EM image and in the NanoSIMS image (x = column, y = row)\n\
         name,em_x,em_y,nanosims_x,nanosims_y\n",
    );
    for (_, x, y, id) in picked {
        let (u, v) = map(x, y);
        csv += &format!(
            "organelle {id},{x:.3},{y:.3},{:.3},{:.3}\n",
            u + 0.3 * normal(),
            v + 0.3 * normal()
        );
    }
    csv
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
    let mut csv = String::from("id,em,nanosims,condition,labels,classes,landmarks\n");
    for r in &reports {
        csv += &format!(
            "{0},em/{0}.tif,nanosims/{0}.im,{1},truth/{0}_labels.tif,truth/{0}_classes.csv,\
             truth/{0}_landmarks.csv\n",
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
    let landmarks = landmarks_csv(
        &em.organelles,
        &ions.em_to_nanosims,
        cfg.nanosims.size_px,
        s,
    );
    write_file(
        &out.join("truth").join(format!("{id}_landmarks.csv")),
        landmarks.as_bytes(),
    )?;
    Ok(SampleReport {
        id: id.to_string(),
        condition: condition.name.clone(),
        organelles: em.organelles.len(),
        seconds: t0.elapsed().as_secs_f64(),
    })
}
