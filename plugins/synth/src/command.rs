//! `corrflow synth`: the command-line face of this crate.

use std::path::PathBuf;

use clap::{Arg, ArgMatches, value_parser};
use corrflow_stage::{Command, Plugin, Registry};

use crate::study::{StudyConfig, generate};

/// `corrflow synth --out DIR --samples N --seed S [--config FILE]`.
pub struct SynthCommand;

impl Command for SynthCommand {
    fn command(&self) -> clap::Command {
        clap::Command::new("synth")
            .about("Generate a synthetic correlative study: EM images, NanoSIMS .im files and their ground truth")
            .arg(Arg::new("out").long("out").required(true).value_parser(value_parser!(PathBuf)).help("Output folder"))
            .arg(Arg::new("samples").long("samples").default_value("4").value_parser(value_parser!(usize)).help("Number of samples"))
            .arg(Arg::new("seed").long("seed").default_value("1").value_parser(value_parser!(u64)).help("Seed: the same seed gives the same files"))
            .arg(Arg::new("config").long("config").value_parser(value_parser!(PathBuf)).help("YAML/JSON: em, nanosims, design (every field optional)"))
            .arg(Arg::new("print-config").long("print-config").action(clap::ArgAction::SetTrue).help("Print the default configuration as YAML and exit"))
    }

    fn run(&self, m: &ArgMatches, _: &Registry) -> Result<(), String> {
        let cfg = match m.get_one::<PathBuf>("config") {
            Some(p) => StudyConfig::load(p)?,
            None => StudyConfig::default(),
        };
        if m.get_flag("print-config") {
            print!(
                "{}",
                serde_norway::to_string(&cfg).map_err(|e| e.to_string())?
            );
            return Ok(());
        }
        let out = m.get_one::<PathBuf>("out").cloned().unwrap_or_default();
        let n = m.get_one::<usize>("samples").copied().unwrap_or(4);
        let seed = m.get_one::<u64>("seed").copied().unwrap_or(1);
        let t0 = std::time::Instant::now();
        let reports = generate(&out, n, seed, &cfg)?;
        for r in &reports {
            eprintln!(
                "  {} ({}): {} organelles, {:.2} s",
                r.id, r.condition, r.organelles, r.seconds
            );
        }
        eprintln!(
            "{n} sample(s) in {} in {:.1} s ({:.2} s per sample on {} threads); samples table: {}",
            out.display(),
            t0.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64() / n.max(1) as f64,
            rayon::current_num_threads(),
            out.join("samples.csv").display()
        );
        Ok(())
    }
}

/// Registers `corrflow synth`.
pub struct SynthPlugin;

impl Plugin for SynthPlugin {
    fn build(&self, registry: &mut Registry) {
        registry.add_command(SynthCommand);
    }
}
