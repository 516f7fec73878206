//! `corrflow evaluate`: mask AP of COCO-format predictions against a COCO ground truth, label
//! images with a class table, or a synthetic study.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, value_parser};
use corrflow_stage::{Command, Plugin, Registry};

use crate::{Params, PredictionOptions, Truth, evaluate_report, load_predictions};

/// `corrflow evaluate`.
pub struct EvaluateCommand;

impl Command for EvaluateCommand {
    fn command(&self) -> clap::Command {
        clap::Command::new("evaluate")
            .about("COCO mask AP of instance segmentation predictions (the numbers pycocotools gives)")
            .arg(Arg::new("pred").long("pred").required(true).value_parser(value_parser!(PathBuf)).help("COCO results JSON (a list of detections with RLE or polygon segmentations)"))
            .arg(Arg::new("truth").long("truth").value_parser(value_parser!(PathBuf)).help("COCO ground-truth JSON (images, annotations, categories)").conflicts_with_all(["truth-list", "synth"]))
            .arg(Arg::new("truth-list").long("truth-list").value_parser(value_parser!(PathBuf)).help("CSV with columns image,labels (paths relative to the CSV; instance label images, 0 = background)").requires_all(["classes", "names"]).conflicts_with("synth"))
            .arg(Arg::new("classes").long("classes").value_parser(value_parser!(PathBuf)).help("CSV label,class for --truth-list (class by name or 0-based index)"))
            .arg(Arg::new("names").long("names").help("Class names for --truth-list, comma-separated, in class-index order"))
            .arg(Arg::new("synth").long("synth").value_parser(value_parser!(PathBuf)).help("A folder written by `corrflow synth`"))
            .arg(Arg::new("max-dets").long("max-dets").default_value("100").value_parser(value_parser!(usize)).help("Most detections per image (maxDets = [1, 10, N])"))
            .arg(Arg::new("json").long("json").value_parser(value_parser!(PathBuf)).help("Also write the results as JSON"))
            .arg(Arg::new("ignore-unknown").long("ignore-unknown").action(ArgAction::SetTrue).help("Skip predictions for images or classes not in the truth instead of failing"))
    }

    fn run(&self, m: &ArgMatches, _: &Registry) -> Result<(), String> {
        let truth = match (
            m.get_one::<PathBuf>("truth"),
            m.get_one::<PathBuf>("truth-list"),
            m.get_one::<PathBuf>("synth"),
        ) {
            (Some(path), _, _) => Truth::from_coco_file(path),
            (None, Some(list), _) => {
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
                Truth::from_label_list(list, &table, &names)
            }
            (None, None, Some(dir)) => Truth::from_synth(dir),
            (None, None, None) => {
                return Err(
                    "give the truth: --truth GT.json, --truth-list PAIRS.csv (with --classes and --names) or --synth DIR"
                        .into(),
                );
            }
        }
        .map_err(|e| e.to_string())?;
        let pred = m.get_one::<PathBuf>("pred").cloned().unwrap_or_default();
        let opts = PredictionOptions {
            ignore_unknown: m.get_flag("ignore-unknown"),
        };
        let predictions = load_predictions(&pred, &truth, opts).map_err(|e| e.to_string())?;
        let max_det = m.get_one::<usize>("max-dets").copied().unwrap_or(100);
        if max_det == 0 {
            return Err("--max-dets must be at least 1".into());
        }
        let report = evaluate_report(&truth, &predictions, &Params::with_max_det(max_det))
            .map_err(|e| e.to_string())?;
        print!("{}", report.to_text());
        if let Some(out) = m.get_one::<PathBuf>("json") {
            let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            std::fs::write(out, text + "\n").map_err(|e| format!("{}: {e}", out.display()))?;
            println!("wrote {}", out.display());
        }
        Ok(())
    }
}

/// Registers `corrflow evaluate`.
pub struct EvaluatePlugin;

impl Plugin for EvaluatePlugin {
    fn build(&self, registry: &mut Registry) {
        registry.add_command(EvaluateCommand);
    }
}
