//! `corrflow export-dataset`: a YOLO-seg training set from a synthetic study or from any EM
//! images with instance label images and a class table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::{Arg, ArgAction, ArgMatches, value_parser};
use corrflow_stage::{Command, Plugin, Registry};
use ndarray::Array2;

use crate::{ExportOptions, LabeledImage, export_yolo_seg, read_class_table};

/// The classes of `corrflow synth`, in class-index order.
pub const SYNTH_CLASSES: [&str; 6] = [
    "nucleus",
    "mitochondrion",
    "er",
    "golgi",
    "lysosome",
    "vesicle",
];

struct Source {
    name: String,
    image: Array2<f32>,
    labels: Array2<u32>,
    class_of: BTreeMap<u32, usize>,
}

/// `corrflow export-dataset`.
pub struct ExportDatasetCommand;

impl Command for ExportDatasetCommand {
    fn command(&self) -> clap::Command {
        clap::Command::new("export-dataset")
            .about("Write a YOLO-seg training set (tiles, polygon labels, data.yaml) from a synthetic study or from label images")
            .arg(Arg::new("out").long("out").required(true).value_parser(value_parser!(PathBuf)).help("Output folder"))
            .arg(Arg::new("synth").long("synth").value_parser(value_parser!(PathBuf)).help("A folder written by `corrflow synth`").conflicts_with("list"))
            .arg(Arg::new("list").long("list").value_parser(value_parser!(PathBuf)).help("CSV with columns image,labels (paths relative to the CSV)").requires_all(["classes", "names"]))
            .arg(Arg::new("classes").long("classes").value_parser(value_parser!(PathBuf)).help("CSV label,class for --list (class by name or 0-based index)"))
            .arg(Arg::new("names").long("names").help("Class names for --list, comma-separated, in class-index order"))
            .arg(Arg::new("tile").long("tile").value_parser(value_parser!(usize)).help("Tile side in px (default: whole images)"))
            .arg(Arg::new("overlap").long("overlap").default_value("0").value_parser(value_parser!(usize)).help("Tile overlap in px"))
            .arg(Arg::new("val").long("val").default_value("0.2").value_parser(value_parser!(f64)).help("Fraction of images (or tiles) for validation"))
            .arg(Arg::new("seed").long("seed").default_value("0").value_parser(value_parser!(u64)))
            .arg(Arg::new("overwrite").long("overwrite").action(ArgAction::SetTrue).help("Replace an existing dataset in --out"))
    }

    fn run(&self, m: &ArgMatches, _: &Registry) -> Result<(), String> {
        let out = m.get_one::<PathBuf>("out").cloned().unwrap_or_default();
        let (names, sources) = match (m.get_one::<PathBuf>("synth"), m.get_one::<PathBuf>("list")) {
            (Some(dir), _) => (
                SYNTH_CLASSES.iter().map(|s| s.to_string()).collect(),
                from_synth(dir)?,
            ),
            (None, Some(list)) => {
                let names: Vec<String> = m
                    .get_one::<String>("names")
                    .map(|n| {
                        n.split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect()
                    })
                    .unwrap_or_default();
                let table = m.get_one::<PathBuf>("classes").cloned().unwrap_or_default();
                let class_of = read_class_table(&table, &names).map_err(|e| e.to_string())?;
                (names, from_list(list, &class_of)?)
            }
            (None, None) => {
                return Err(
                    "give --synth DIR or --list PAIRS.csv (with --classes and --names)".into(),
                );
            }
        };
        let opts = ExportOptions {
            tile_px: m.get_one::<usize>("tile").copied(),
            overlap_px: m.get_one::<usize>("overlap").copied().unwrap_or(0),
            val_fraction: m.get_one::<f64>("val").copied().unwrap_or(0.2),
            seed: m.get_one::<u64>("seed").copied().unwrap_or(0),
            overwrite: m.get_flag("overwrite"),
            ..ExportOptions::default()
        };
        let images = sources.iter().map(|s| LabeledImage {
            name: s.name.clone(),
            image: s.image.view(),
            labels: s.labels.view(),
            class_of: &s.class_of,
        });
        let report = export_yolo_seg(&out, &names, images, &opts).map_err(|e| e.to_string())?;
        let per_class = |c: &crate::SplitCounts| {
            names
                .iter()
                .zip(&c.instances_per_class)
                .map(|(n, k)| format!("{n} {k}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "{} source image(s) → {}",
            report.source_images,
            report.data_yaml.display()
        );
        println!(
            "train: {} tiles, {} polygons ({})",
            report.train.tiles,
            report.train.polygons,
            per_class(&report.train)
        );
        println!(
            "val:   {} tiles, {} polygons ({})",
            report.val.tiles,
            report.val.polygons,
            per_class(&report.val)
        );
        for note in &report.notes {
            println!("note: {note}");
        }
        Ok(())
    }
}

fn read_pair(
    name: String,
    image: &Path,
    labels: &Path,
) -> Result<(String, Array2<f32>, Array2<u32>), String> {
    let img = corrflow_io_em::read_em(image, None)
        .map_err(|e| e.to_string())?
        .data;
    let lab = corrflow_io_em::read_labels_u32(labels, None)
        .map_err(|e| e.to_string())?
        .data;
    Ok((name, img, lab))
}

/// A synthetic study: `samples.csv` (id, em), `truth/ID.json` (organelle classes) and
/// `truth/ID_labels.tif`.
fn from_synth(dir: &Path) -> Result<Vec<Source>, String> {
    let table = dir.join("samples.csv");
    let mut rdr =
        csv::Reader::from_path(&table).map_err(|e| format!("{}: {e}", table.display()))?;
    let mut out = Vec::new();
    for rec in rdr.deserialize::<BTreeMap<String, String>>() {
        let rec = rec.map_err(|e| format!("{}: {e}", table.display()))?;
        let (Some(id), Some(em)) = (rec.get("id"), rec.get("em")) else {
            return Err(format!("{}: needs columns id and em", table.display()));
        };
        let truth_path = dir.join("truth").join(format!("{id}.json"));
        let truth: serde_json::Value = std::fs::read(&truth_path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            .map_err(|e| format!("{}: {e}", truth_path.display()))?;
        let mut class_of = BTreeMap::new();
        for o in truth["organelles"].as_array().into_iter().flatten() {
            let (Some(oid), Some(class)) = (o["id"].as_u64(), o["class"].as_str()) else {
                continue;
            };
            let Some(c) = SYNTH_CLASSES.iter().position(|k| *k == class) else {
                return Err(format!("{}: unknown class '{class}'", truth_path.display()));
            };
            class_of.insert(oid as u32, c);
        }
        let (name, image, labels) = read_pair(
            id.clone(),
            &dir.join(em),
            &dir.join("truth").join(format!("{id}_labels.tif")),
        )?;
        out.push(Source {
            name,
            image,
            labels,
            class_of,
        });
    }
    Ok(out)
}

/// A CSV of `image,labels` pairs with one class table for all.
fn from_list(list: &Path, class_of: &BTreeMap<u32, usize>) -> Result<Vec<Source>, String> {
    let base = list.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::Reader::from_path(list).map_err(|e| format!("{}: {e}", list.display()))?;
    let mut out = Vec::new();
    for rec in rdr.deserialize::<BTreeMap<String, String>>() {
        let rec = rec.map_err(|e| format!("{}: {e}", list.display()))?;
        let (Some(image), Some(labels)) = (rec.get("image"), rec.get("labels")) else {
            return Err(format!(
                "{}: needs columns image and labels",
                list.display()
            ));
        };
        let name = Path::new(image)
            .file_stem()
            .map_or_else(|| image.clone(), |s| s.to_string_lossy().to_string());
        let (name, image, labels) = read_pair(name, &base.join(image), &base.join(labels))?;
        out.push(Source {
            name,
            image,
            labels,
            class_of: class_of.clone(),
        });
    }
    Ok(out)
}

/// Registers `corrflow export-dataset`.
pub struct DatasetPlugin;

impl Plugin for DatasetPlugin {
    fn build(&self, registry: &mut Registry) {
        registry.add_command(ExportDatasetCommand);
    }
}
