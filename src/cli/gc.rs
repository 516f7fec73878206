//! `corrflow gc`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::cache::Store;

#[derive(Args)]
pub struct GcArgs {
    /// A pipeline file (its cache folder is cleaned) …
    #[arg(required_unless_present = "cache")]
    pub pipeline: Option<PathBuf>,
    /// … or the cache folder itself.
    #[arg(long, conflicts_with = "pipeline")]
    pub cache: Option<PathBuf>,
    /// Only report what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Leave unreferenced files younger than this many seconds (they may belong to a run that is
    /// still going).
    #[arg(long, default_value_t = 900)]
    pub grace: u64,
}

pub fn gc(a: GcArgs) -> Result<(), CliError> {
    let root = match (&a.cache, &a.pipeline) {
        (Some(c), _) => c.clone(),
        (None, Some(p)) => crate::spec::load(p, &[])?.cache_dir,
        (None, None) => {
            return Err(CliError::Other(
                "give a pipeline file or --cache DIR".into(),
            ));
        }
    };
    let store = Store::new(&root);
    let r = store
        .gc(Duration::from_secs(a.grace), a.dry_run)
        .map_err(|e| CliError::Other(e.to_string()))?;
    let verb = if a.dry_run { "would remove" } else { "removed" };
    println!(
        "{verb} {} unreferenced entr{} ({} files, {:.1} MB); kept {} in {}",
        r.entries,
        if r.entries == 1 { "y" } else { "ies" },
        r.files_removed,
        r.bytes_freed as f64 / 1e6,
        r.kept,
        root.display()
    );
    Ok(())
}
