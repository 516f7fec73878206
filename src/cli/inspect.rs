//! `corrflow inspect FILE`: describe a data file with the inspector of the plugin that reads it.

use std::io::Read;
use std::path::PathBuf;

use clap::Args;
use corrflow_stage::Registry;

use super::CliError;

#[derive(Args)]
pub struct InspectArgs {
    /// The file (e.g. a NanoSIMS .im, an EM TIFF/PNG).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn inspect(registry: &Registry, a: InspectArgs) -> Result<(), CliError> {
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(&a.file)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .map_err(|e| CliError::Other(format!("{}: {e}", a.file.display())))?;
    let Some(inspector) = registry.inspector_for(&a.file, &head) else {
        let known: Vec<&str> = registry.inspectors().map(|i| i.format()).collect();
        return Err(CliError::Other(format!(
            "{}: not a format corrflow can inspect (known: {})",
            a.file.display(),
            known.join("; ")
        )));
    };
    let text = inspector
        .inspect(&a.file, a.json)
        .map_err(CliError::Other)?;
    println!("{}", text.trim_end());
    Ok(())
}
