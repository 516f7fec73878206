//! `corrflow register`: one-shot registration of an EM image with a NanoSIMS `.im` file, no
//! pipeline: `--landmarks CSV` fits the landmark pairs, otherwise automatic registration on
//! `--channel`. Writes `OUT/transform.json` and `OUT/registration.png`, as the stages do.
//!
//! The NanoSIMS channel is the raw counts summed over planes (no dead-time correction or drift
//! alignment: for corrected stacks use the `io.nanosims` + `register.*` stages in a pipeline).

use std::path::PathBuf;

use clap::{Arg, ArgMatches, value_parser};
use corrflow_stage::{Command, Registry};
use corrflow_types::{EmImage, Transform2D, TransformKind};
use ndarray::{Array2, Axis, s};

use crate::auto::{AutoOptions, register_auto};
use crate::landmarks::{FitOptions, fit, read_landmarks_csv, split};
use crate::output::{STRUCTURAL_CHANNELS, export_files};
use crate::qc::render_registration;

/// `corrflow register`.
pub struct RegisterCommand;

impl Command for RegisterCommand {
    fn command(&self) -> clap::Command {
        clap::Command::new("register")
            .about("Register an EM image with a NanoSIMS .im file (automatic, or from landmarks); writes transform.json and registration.png")
            .arg(Arg::new("em").long("em").required(true).value_parser(value_parser!(PathBuf)).help("EM image (TIFF/PNG)"))
            .arg(Arg::new("em-pixel-nm").long("em-pixel-nm").value_parser(value_parser!(f64)).help("EM pixel size in nm (default: from the file's tags)"))
            .arg(Arg::new("nanosims").long("nanosims").required(true).value_parser(value_parser!(PathBuf)).help("Cameca .im file"))
            .arg(Arg::new("channel").long("channel").help("NanoSIMS channel, e.g. SE, 12C14N, 31P, 32S [default: the first of these present]"))
            .arg(Arg::new("landmarks").long("landmarks").value_parser(value_parser!(PathBuf)).help("CSV em_x,em_y,nanosims_x,nanosims_y[,name]: fit these instead of searching"))
            .arg(Arg::new("out").long("out").required(true).value_parser(value_parser!(PathBuf)).help("Output folder"))
    }

    fn run(&self, m: &ArgMatches, _: &Registry) -> Result<(), String> {
        let em_path = m.get_one::<PathBuf>("em").cloned().unwrap_or_default();
        let im_path = m
            .get_one::<PathBuf>("nanosims")
            .cloned()
            .unwrap_or_default();
        let out = m.get_one::<PathBuf>("out").cloned().unwrap_or_default();
        let raster = corrflow_io_em::read_em(&em_path, None)
            .map_err(|e| format!("{}: {e}", em_path.display()))?;
        let em_nm = match (m.get_one::<f64>("em-pixel-nm"), raster.pixel_size_nm) {
            (Some(&v), _) if v.is_finite() && v > 0.0 => v,
            (Some(v), _) => return Err(format!("--em-pixel-nm {v}: must be a positive number")),
            (None, Some(v)) => v,
            (None, None) => {
                return Err(format!(
                    "{}: no pixel size in the file's tags; give --em-pixel-nm",
                    em_path.display()
                ));
            }
        };
        let em = EmImage::new(raster.data, em_nm, em_path.display().to_string())
            .map_err(|e| format!("{}: {e}", em_path.display()))?;
        let (name, ns, ns_nm) = nanosims_channel(&im_path, m.get_one::<String>("channel"))?;
        let t = match m.get_one::<PathBuf>("landmarks") {
            Some(csv) => {
                let pts = read_landmarks_csv(csv).map_err(|e| e.to_string())?;
                let (src, dst) = split(&pts);
                fit(
                    &src,
                    &dst,
                    TransformKind::Similarity,
                    &FitOptions::default(),
                )
                .and_then(|f| f.to_transform("em", em_nm, "nanosims", ns_nm))
                .map_err(|e| format!("{}: {e}", csv.display()))?
            }
            None => {
                let r = register_auto(
                    em.data.view(),
                    em_nm,
                    ns.view(),
                    ns_nm,
                    &AutoOptions::default(),
                )
                .map_err(|e| {
                    format!(
                        "{} ↔ {} ({name}): {e}",
                        em_path.display(),
                        im_path.display()
                    )
                })?;
                let kind = if r.flipped {
                    TransformKind::Affine
                } else {
                    TransformKind::Similarity
                };
                Transform2D::new(
                    r.matrix,
                    kind,
                    "em",
                    em_nm,
                    "nanosims",
                    ns_nm,
                    format!("auto ({name})"),
                )
                .and_then(|t| t.with_quality(f64::NAN, r.confidence.clamp(0.0, 1.0)))
                .map_err(|e| e.to_string())?
            }
        };
        std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        let qc = render_registration(
            em.data.view(),
            ns.view(),
            &t.matrix,
            crate::output::QC_MAX_SIDE,
        );
        let files = export_files(&out, &t, Some(&qc)).map_err(|e| e.to_string())?;
        println!(
            "{} → {} on {name}: method {}, confidence {:.3}; wrote {}",
            em_path.display(),
            im_path.display(),
            t.method,
            t.confidence,
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(())
    }
}

/// (name, counts summed over planes, pixel size nm) of a channel of a `.im` file.
fn nanosims_channel(
    path: &std::path::Path,
    channel: Option<&String>,
) -> Result<(String, Array2<f32>, f64), String> {
    let f = corrflow_im::ImFile::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let h = f.header();
    let names: Vec<&str> = h.masses.iter().map(|m| m.name.as_str()).collect();
    let idx = match channel {
        Some(c) => names.iter().position(|n| n == c).ok_or_else(|| {
            format!(
                "{}: no channel '{c}'; it has {}",
                path.display(),
                names.join(", ")
            )
        })?,
        None => STRUCTURAL_CHANNELS
            .iter()
            .find_map(|c| names.iter().position(|n| n == c))
            .unwrap_or(0),
    };
    let counts = f
        .counts_as::<f32>(0)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let sum = counts.slice(s![idx, .., .., ..]).sum_axis(Axis(0));
    let nm = f64::from(h.raster_nm) / h.width.max(1) as f64;
    if !(nm.is_finite() && nm > 0.0) {
        return Err(format!(
            "{}: the header gives no raster size",
            path.display()
        ));
    }
    Ok((
        names.get(idx).map_or_else(String::new, |n| n.to_string()),
        sum,
        nm,
    ))
}
