//! Finding and loading the ONNX Runtime shared library, once per process.
//!
//! corrflow links ONNX Runtime dynamically (`ort`'s `load-dynamic`): the library is the one from the
//! PyPI `onnxruntime` wheel that `scripts/setup` unpacks into `.setup/onnxruntime/`. `ort` panics on
//! first use when it has no library, so the path is resolved up front and a missing or unloadable
//! library is a clear error instead.
//!
//! Search order: an explicit path (a stage parameter or `--onnxruntime`), then `ORT_DYLIB_PATH`,
//! then `libonnxruntime.so*` next to the running executable, then `.setup/onnxruntime/` in the
//! executable's folder or any folder above it (so `target/release/corrflow` and test binaries in a
//! checkout find the set-up library).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;

/// The ONNX Runtime version corrflow is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";

/// Why ONNX Runtime is not available.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "the ONNX Runtime library was not found (looked in: {looked}); run ./scripts/setup, or set \
         ORT_DYLIB_PATH to libonnxruntime.so.{ORT_VERSION} (from the PyPI wheel onnxruntime=={ORT_VERSION})"
    )]
    NotFound { looked: String },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error(
        "ONNX Runtime is already loaded from {loaded} in this process; cannot switch to {requested}"
    )]
    Conflict { loaded: PathBuf, requested: PathBuf },
}

struct Loaded {
    path: PathBuf,
    env: Environment,
}

static LOADED: OnceLock<Loaded> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

/// The library path that [`environment`] would load, without loading it.
pub fn resolve_library(explicit: Option<&Path>) -> Result<PathBuf, RuntimeError> {
    let mut looked = Vec::new();
    if let Some(p) = explicit {
        return existing(p, &mut looked);
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return existing(Path::new(&p), &mut looked);
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        if let Some(p) = library_in(&dir) {
            return Ok(p);
        }
        looked.push(dir.display().to_string());
        for anc in dir.ancestors() {
            let setup = anc.join(".setup").join("onnxruntime");
            if let Some(p) = library_in(&setup) {
                return Ok(p);
            }
        }
        looked.push(format!("{}/**/.setup/onnxruntime", dir.display()));
    }
    Err(RuntimeError::NotFound {
        looked: looked.join(", "),
    })
}

fn existing(p: &Path, looked: &mut Vec<String>) -> Result<PathBuf, RuntimeError> {
    if p.is_file() {
        Ok(p.to_path_buf())
    } else {
        looked.push(p.display().to_string());
        Err(RuntimeError::NotFound {
            looked: looked.join(", "),
        })
    }
}

/// `libonnxruntime.so.<ORT_VERSION>` in `dir`, else any `libonnxruntime.so*` there.
fn library_in(dir: &Path) -> Option<PathBuf> {
    let exact = dir.join(format!("libonnxruntime.so.{ORT_VERSION}"));
    if exact.is_file() {
        return Some(exact);
    }
    let plain = dir.join("libonnxruntime.so");
    if plain.is_file() {
        return Some(plain);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so"))
        })
        .collect();
    found.sort();
    found.pop()
}

/// The process-wide ONNX Runtime environment, loading the library on first use.
pub fn environment(explicit: Option<&Path>) -> Result<&'static Environment, RuntimeError> {
    if let Some(l) = LOADED.get() {
        return check_same(l, explicit);
    }
    let _guard = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = LOADED.get() {
        return check_same(l, explicit);
    }
    let path = resolve_library(explicit)?;
    let load_err = |message: String| RuntimeError::Load {
        path: path.clone(),
        message,
    };
    let env = ort::init_from(&path)
        .map_err(|e| load_err(e.to_string()))?
        .with_name("corrflow")
        .with_telemetry(false)
        .build()
        .map_err(|e| load_err(e.to_string()))?;
    let loaded = LOADED.get_or_init(|| Loaded { path, env });
    Ok(&loaded.env)
}

fn check_same(
    l: &'static Loaded,
    explicit: Option<&Path>,
) -> Result<&'static Environment, RuntimeError> {
    if let Some(p) = explicit {
        let same = match (p.canonicalize(), l.path.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => p == l.path,
        };
        if !same {
            return Err(RuntimeError::Conflict {
                loaded: l.path.clone(),
                requested: p.to_path_buf(),
            });
        }
    }
    Ok(&l.env)
}

/// The path ONNX Runtime was loaded from, if it has been.
pub fn loaded_library() -> Option<&'static Path> {
    LOADED.get().map(|l| l.path.as_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_path_is_a_clear_error() {
        let e = resolve_library(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("/nonexistent/libonnxruntime.so"), "{msg}");
        assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");
    }

    #[test]
    fn finds_versioned_library_in_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(library_in(dir.path()).is_none());
        std::fs::write(dir.path().join("libonnxruntime.so.1.99.0"), b"").unwrap();
        assert_eq!(
            library_in(dir.path()).unwrap(),
            dir.path().join("libonnxruntime.so.1.99.0")
        );
        std::fs::write(
            dir.path().join(format!("libonnxruntime.so.{ORT_VERSION}")),
            b"",
        )
        .unwrap();
        assert_eq!(
            library_in(dir.path()).unwrap(),
            dir.path().join(format!("libonnxruntime.so.{ORT_VERSION}"))
        );
    }

    #[test]
    fn a_file_that_is_not_a_library_fails_to_load_without_panicking() {
        // Only meaningful before any real load in this process; the loader refuses the file.
        if LOADED.get().is_some() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libonnxruntime.so");
        std::fs::write(&fake, b"not an ELF file").unwrap();
        match environment(Some(&fake)) {
            Err(RuntimeError::Load { path, .. }) => assert_eq!(path, fake),
            Err(RuntimeError::Conflict { .. }) => {} // another test loaded the real one meanwhile
            other => panic!("expected a load error, got {:?}", other.err()),
        }
    }
}
