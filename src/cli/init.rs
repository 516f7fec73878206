//! `corrflow init`: scaffold an experiment folder.

use std::path::PathBuf;

use clap::Args;
use corrflow_stage::Registry;

use super::CliError;
use crate::cache::fsutil::write_atomic;
use crate::schema::pipeline_schema_text;

#[derive(Args)]
pub struct InitArgs {
    /// The folder to create (or fill, if empty of corrflow files).
    pub dir: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

const PIPELINE: &str = r#"# yaml-language-server: $schema=.corrflow/pipeline.schema.json
#
# A corrflow pipeline. Run it with `corrflow run pipeline.yaml`; see what would rerun and why with
# `corrflow status pipeline.yaml`; list stage implementations with `corrflow stages`.
name: experiment

# One row per sample: an id, file paths (relative to the table) and metadata such as `condition`.
samples:
  table: samples.csv

# Cached results live here; human-readable exports go to `results`.
cache: .corrflow/cache
results: results

nodes:
  # Read each sample's EM image (TIFF or PNG). Set the pixel size if the file does not carry it.
  - id: em
    stage: io.em
    inputs: { file: sample.em }
    params:
      pixel_size_nm: null   # e.g. 4.0 to override the file's resolution tags

  # Preprocess: steps run in order. Swap the implementation by naming another stage.
  - id: pre
    stage: preprocess.em
    inputs: { image: em.image }
    params:
      steps:
        - { op: percentile_normalize, low: 0.5, high: 99.5 }
        - { op: gaussian, sigma_nm: 4.0 }
        - { op: clahe, clip_limit: 0.01 }
"#;

const SAMPLES: &str = "id,em,condition\n# one row per sample; delete this comment line\n";

pub fn init(registry: &Registry, a: InitArgs) -> Result<(), CliError> {
    let files = [
        (a.dir.join("pipeline.yaml"), PIPELINE.to_string()),
        (
            a.dir.join("samples.csv"),
            SAMPLES.replace("# one row per sample; delete this comment line\n", ""),
        ),
        (
            a.dir.join(".corrflow/pipeline.schema.json"),
            pipeline_schema_text(registry),
        ),
    ];
    for (path, _) in &files[..2] {
        if path.exists() && !a.force {
            return Err(CliError::Other(format!(
                "{} exists (use --force to overwrite)",
                path.display()
            )));
        }
    }
    for (path, text) in &files {
        write_atomic(path, text.as_bytes())
            .map_err(|e| CliError::Other(format!("{}: {e}", path.display())))?;
    }
    println!(
        "created {0}/pipeline.yaml and {0}/samples.csv — add your samples, then `corrflow run {0}/pipeline.yaml`",
        a.dir.display()
    );
    Ok(())
}
