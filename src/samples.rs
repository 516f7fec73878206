//! The samples of a pipeline: rows of a CSV table, or the files matched by a glob.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use corrflow_stage::SampleInfo;

use crate::diagnostic::{Diag, Diagnostics};
use crate::spec::yaml::{Loc, Source};
use crate::spec::{Pipeline, SamplesDef};

/// The samples table, with where each row was written (for errors about a sample's files).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    pub rows: Vec<SampleRow>,
    /// Folder that relative file paths are resolved against.
    pub base: PathBuf,
}

#[derive(Debug, Clone)]
pub struct SampleRow {
    pub id: String,
    pub columns: BTreeMap<String, String>,
    /// Location of the row (or of the glob) for diagnostics.
    pub loc: Loc,
}

impl Samples {
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.rows.iter().map(|r| r.id.as_str())
    }

    pub fn has_column(&self, column: &str) -> bool {
        self.rows.iter().all(|r| r.columns.contains_key(column)) && !self.rows.is_empty()
    }

    /// Resolve a file column of a row to a path.
    pub fn path(&self, row: &SampleRow, column: &str) -> Option<PathBuf> {
        row.columns.get(column).map(|v| self.base.join(v))
    }

    /// Sample infos for stages: every column exactly as written, file columns included (a path
    /// relative to the table's folder), so that what a stage sees, and what enters its cache key,
    /// does not depend on the folder corrflow runs from or on how the pipeline file was named.
    pub fn infos(&self) -> Vec<SampleInfo> {
        self.rows
            .iter()
            .map(|r| SampleInfo {
                id: r.id.clone(),
                columns: r.columns.clone(),
            })
            .collect()
    }
}

/// Sample ids become folder names: letters, digits, `.`, `_`, `-`; not starting with `.` or `_`.
pub fn valid_sample_id(id: &str) -> bool {
    let first_ok = id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    first_ok
        && id.len() <= 200
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

const ID_RULE: &str =
    "sample ids start with a letter or digit and use only letters, digits, '.', '_' and '-'";

pub fn load(p: &Pipeline) -> Result<Samples, Diagnostics> {
    match &p.samples {
        SamplesDef::None => Ok(Samples {
            rows: Vec::new(),
            base: dir_of(&p.file),
        }),
        SamplesDef::Table {
            path,
            id_column,
            make,
            loc,
        } => load_table(path, id_column, loc).map_err(|d| match make {
            Some((cmd, _)) if !path.exists() => Diagnostics::from(
                Diag::at(
                    loc,
                    format!("samples table {} does not exist yet", path.display()),
                )
                .help(format!("`corrflow run` makes it with: {}", cmd.join(" "))),
            ),
            _ => d,
        }),
        SamplesDef::Glob {
            pattern,
            base,
            column,
            loc,
        } => load_glob(pattern, base, column, loc),
    }
}

/// Run the pipeline's `samples.make` command when its samples table does not exist. Returns
/// whether it ran. The command runs without a shell in the pipeline's folder, with its output
/// shown; it must exit successfully and leave the table in place.
pub fn make_if_absent(p: &Pipeline) -> Result<bool, Diagnostics> {
    let SamplesDef::Table {
        path,
        make: Some((cmd, dir)),
        loc,
        ..
    } = &p.samples
    else {
        return Ok(false);
    };
    if path.exists() {
        return Ok(false);
    }
    let shown = cmd.join(" ");
    eprintln!(
        "samples table {} is absent: making it with `{shown}`",
        path.display()
    );
    let program = match cmd[0].as_str() {
        "corrflow" => std::env::current_exe()
            .map_err(|e| Diag::at(loc, format!("samples.make: cannot find this corrflow: {e}")))?,
        other => PathBuf::from(other),
    };
    let status = std::process::Command::new(&program)
        .args(&cmd[1..])
        // The folder of a pipeline named without one ("p.yaml") is "": this folder.
        .current_dir(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir.as_path()
        })
        .status()
        .map_err(|e| Diag::at(loc, format!("samples.make: cannot run `{shown}`: {e}")))?;
    if !status.success() {
        return Err(Diag::at(loc, format!("samples.make: `{shown}` failed ({status})")).into());
    }
    if !path.exists() {
        return Err(Diag::at(
            loc,
            format!(
                "samples.make: `{shown}` succeeded but did not create {}",
                path.display()
            ),
        )
        .into());
    }
    Ok(true)
}

fn dir_of(file: &Path) -> PathBuf {
    file.parent().unwrap_or(Path::new(".")).to_path_buf()
}

fn load_table(path: &Path, id_column: &str, from: &Loc) -> Result<Samples, Diagnostics> {
    let text = crate::textfile::read_text(path).map_err(|e| {
        Diag::at(
            from,
            format!("cannot read samples table {}: {e}", path.display()),
        )
    })?;
    let source = Arc::new(Source {
        name: path.display().to_string(),
        text,
    });
    if source.text.trim().is_empty() {
        return Err(Diag::at(
            &Loc::whole(&source),
            format!(
                "the samples table is empty: it needs a header row with an '{id_column}' column \
                 and one row per sample"
            ),
        )
        .into());
    }
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(source.text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Diag::at(&Loc::whole(&source), format!("samples table: {e}")))?
        .clone();
    let Some(id_ix) = headers.iter().position(|h| h == id_column) else {
        return Err(Diag::at(
            &Loc::whole(&source),
            format!("samples table has no id column '{id_column}'"),
        )
        .help(format!(
            "columns: {}",
            headers.iter().collect::<Vec<_>>().join(", ")
        ))
        .into());
    };
    let mut diags = Diagnostics::default();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let offset = e.position().map_or(0, |p| p.byte() as usize);
                diags.push(Diag::at(
                    &Loc::at(&source, offset, 1),
                    format!("samples table: {e}"),
                ));
                continue;
            }
        };
        // A record starts a line: the reader's own line count gives its location.
        let loc = match rec.position() {
            Some(p) => Loc::known(
                &source,
                p.byte() as usize,
                rec.as_slice().len(),
                p.line() as usize,
                1,
            ),
            None => Loc::whole(&source),
        };
        let id = rec.get(id_ix).unwrap_or("").to_string();
        if !valid_sample_id(&id) {
            diags.push(Diag::at(&loc, format!("invalid sample id '{id}'")).help(ID_RULE));
            continue;
        }
        if !seen.insert(id.clone()) {
            diags.push(Diag::at(&loc, format!("duplicate sample id '{id}'")));
            continue;
        }
        let columns = headers
            .iter()
            .zip(rec.iter())
            .filter(|(h, _)| *h != id_column)
            .map(|(h, v)| (h.to_string(), v.to_string()))
            .collect();
        rows.push(SampleRow { id, columns, loc });
    }
    diags.into_result()?;
    if rows.is_empty() {
        return Err(Diag::at(&Loc::whole(&source), "samples table has no rows").into());
    }
    Ok(Samples {
        rows,
        // File paths in the table are relative to its own folder: a data folder with its
        // samples.csv can be moved and used from any pipeline.
        base: dir_of(path),
    })
}

fn load_glob(pattern: &str, base: &Path, column: &str, loc: &Loc) -> Result<Samples, Diagnostics> {
    let full = base.join(pattern);
    let full = full.to_string_lossy();
    let paths =
        glob::glob(&full).map_err(|e| Diag::at(loc, format!("samples glob '{pattern}': {e}")))?;
    let mut files: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut diags = Diagnostics::default();
    let mut rows = Vec::new();
    let mut seen = BTreeMap::new();
    for f in files {
        let id = f
            .file_stem()
            .map(|s| s.to_string_lossy().to_string())
            .unwrap_or_default();
        if !valid_sample_id(&id) {
            diags.push(
                Diag::at(
                    loc,
                    format!("file {} gives an invalid sample id '{id}'", f.display()),
                )
                .help(ID_RULE),
            );
            continue;
        }
        if let Some(other) = seen.insert(id.clone(), f.clone()) {
            diags.push(Diag::at(
                loc,
                format!(
                    "files {} and {} give the same sample id '{id}'",
                    other.display(),
                    f.display()
                ),
            ));
            continue;
        }
        let rel = f
            .strip_prefix(base)
            .unwrap_or(&f)
            .to_string_lossy()
            .to_string();
        rows.push(SampleRow {
            id,
            columns: BTreeMap::from([(column.to_string(), rel)]),
            loc: loc.clone(),
        });
    }
    diags.into_result()?;
    if rows.is_empty() {
        return Err(Diag::at(loc, format!("samples glob '{pattern}' matches no file")).into());
    }
    Ok(Samples {
        rows,
        base: base.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_ids_cannot_escape_folders() {
        for ok in ["s1", "A-2.b_c", "12"] {
            assert!(valid_sample_id(ok), "{ok}");
        }
        for bad in ["", "..", "../x", "a/b", ".hidden", "_all", "a b", "a\\b"] {
            assert!(!valid_sample_id(bad), "{bad}");
        }
    }
}
