//! Test helpers shared by corrflow's crates; a dev-dependency only, never published.
//!
//! Many tests compare corrflow against the Python reference tools (h5py, numpy, scikit-image,
//! pycocotools, pandas…). They all follow the same pattern:
//!
//! ```no_run
//! use corrflow_test_support::{python_has, run_python};
//!
//! const TEST: &str = "my_test";
//! if !python_has(TEST, &["numpy", "skimage"]) {
//!     return; // printed `SKIPPED my_test: python3 with numpy, skimage is not available …`
//! }
//! let out = run_python(TEST, "import sys; print(sys.argv[1])", ["some/file.h5"]);
//! assert_eq!(out.trim(), "some/file.h5");
//! ```
//!
//! # Which Python
//!
//! The interpreter is `$CORRFLOW_PYTHON` when that variable is set (and not empty), otherwise
//! `python3` as found on `PATH`. `scripts/test` puts `.setup/venv/bin` first on `PATH`, so the
//! tools it installs from `scripts/test-requirements.txt` are found without further setup.
//!
//! # How scripts run
//!
//! A script runs as `python3 -c SCRIPT ARGS…`, so `sys.argv[1..]` are the arguments given here.
//! Data may be fed on standard input ([`Python::stdin`]). Every run has
//! `HDF5_USE_FILE_LOCKING=FALSE` in its environment: a child process inherits the descriptors
//! of HDF5 files that other test threads hold open (HDF5 does not open them close-on-exec) and
//! with them those files' `flock` locks, so h5py in the child would otherwise fail to open them.
//!
//! A script that fails (a non-zero exit, or Python that cannot be started) panics with the test
//! name, the exit status, and Python's stdout and stderr.

use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::process::{Command, Stdio};

/// The environment variable that names the Python interpreter to use instead of `python3`.
pub const PYTHON_ENV: &str = "CORRFLOW_PYTHON";

/// The Python interpreter tests run: `$CORRFLOW_PYTHON` if set and not empty, else `python3`.
pub fn python_program() -> OsString {
    std::env::var_os(PYTHON_ENV)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| OsString::from("python3"))
}

/// A [`Command`] for the interpreter of [`python_program`], with `HDF5_USE_FILE_LOCKING=FALSE`;
/// for the rare caller that needs more control than [`Python`] gives.
pub fn python_command() -> Command {
    let mut c = Command::new(python_program());
    c.env("HDF5_USE_FILE_LOCKING", "FALSE");
    c
}

/// Whether the interpreter runs and imports all of `modules` (e.g. `["numpy",
/// "pycocotools.mask"]`). Prints nothing; see [`python_has`] for the version tests use.
pub fn python_imports(modules: &[&str]) -> bool {
    python_command()
        .args(["-c", &format!("import {}", modules.join(", "))])
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the interpreter imports all of `modules`. When not, prints exactly one line to stdout,
/// `SKIPPED {test}: python3 with {modules} is not available (scripts/test installs it)` (the
/// modules joined with `, `), and returns `false`: the test should then return early.
pub fn python_has(test: &str, modules: &[&str]) -> bool {
    let ok = python_imports(modules);
    if !ok {
        println!(
            "SKIPPED {test}: python3 with {} is not available (scripts/test installs it)",
            modules.join(", ")
        );
    }
    ok
}

/// Run `python3 -c script args…`; its stdout. Panics (naming `test`, with Python's stdout and
/// stderr) when it fails. Shorthand for `Python::new(test, script).args(args).run()`.
pub fn run_python<I, S>(test: &str, script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Python::new(test, script).args(args).run()
}

/// As [`run_python`], with stdout parsed as one JSON value (panics when it is not JSON).
pub fn run_python_json<I, S>(test: &str, script: &str, args: I) -> serde_json::Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Python::new(test, script).args(args).run_json()
}

/// One run of a Python script, for callers that also feed standard input or set environment
/// variables. Runs `python3 -c SCRIPT ARGS…` (see the [crate] docs).
///
/// ```no_run
/// let out = corrflow_test_support::Python::new("my_test", "import sys; print(sys.stdin.read())")
///     .arg("--flag")
///     .env("POINTS", "[1, 2]")
///     .stdin("some input")
///     .run();
/// ```
#[must_use = "a Python script does nothing until `run` or `run_json`"]
pub struct Python {
    test: String,
    script: String,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
}

impl Python {
    /// The script `script`, run on behalf of the test `test` (named when it fails).
    pub fn new(test: &str, script: &str) -> Self {
        Self {
            test: test.to_string(),
            script: script.to_string(),
            args: Vec::new(),
            envs: Vec::new(),
            stdin: None,
        }
    }

    /// Append one argument (`sys.argv[n]`).
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Set an environment variable for the script.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Feed `input` to the script's standard input (otherwise it reads from `/dev/null`).
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// Run the script; its stdout (lossily decoded as UTF-8). Panics when it fails.
    pub fn run(self) -> String {
        let Self {
            test,
            script,
            args,
            envs,
            stdin,
        } = self;
        let mut cmd = python_command();
        cmd.arg("-c")
            .arg(&script)
            .args(&args)
            .envs(envs)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("{test}: cannot start {:?}: {e}", python_program());
        });
        // Write stdin from another thread: the script may fill its stdout pipe before it has
        // read all of its input.
        let writer = child.stdin.take().map(|mut pipe| {
            let input = stdin.unwrap_or_default();
            std::thread::spawn(move || {
                // A script that exits without reading all input closes the pipe: not an error
                // here; its exit status says whether it succeeded.
                let _ = pipe.write_all(&input);
            })
        });
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{test}: waiting for python: {e}"));
        if let Some(w) = writer {
            w.join().expect("stdin writer thread");
        }
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{test}: python script failed ({})\nstdout:\n{stdout}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    /// Run the script; its stdout parsed as one JSON value. Panics when it fails or the output
    /// is not JSON.
    pub fn run_json(self) -> serde_json::Value {
        let test = self.test.clone();
        let out = self.run();
        serde_json::from_str(&out).unwrap_or_else(|e| {
            panic!("{test}: python's output is not JSON ({e}):\n{out}");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // These run only where python3 is present; elsewhere they skip like any other test.

    #[test]
    fn args_stdin_env_and_json() {
        const TEST: &str = "args_stdin_env_and_json";
        if !python_has(TEST, &["json"]) {
            return;
        }
        let script = "import json, os, sys\n\
                      print(json.dumps([sys.argv[1:], sys.stdin.read(), os.environ['X'],\n\
                      os.environ['HDF5_USE_FILE_LOCKING']]))";
        let v = Python::new(TEST, script)
            .args(["a", "b c"])
            .env("X", "y")
            .stdin("in")
            .run_json();
        assert_eq!(v, serde_json::json!([["a", "b c"], "in", "y", "FALSE"]));
        assert_eq!(run_python(TEST, "print(1 + 1)", [] as [&str; 0]), "2\n");
        // No stdin given: it reads as empty.
        assert_eq!(
            run_python_json(
                TEST,
                "import sys, json; print(json.dumps(sys.stdin.read()))",
                ["x"]
            ),
            serde_json::json!("")
        );
    }

    #[test]
    fn large_input_and_output_do_not_deadlock() {
        const TEST: &str = "large_input_and_output_do_not_deadlock";
        if !python_has(TEST, &["sys"]) {
            return;
        }
        let input = "x".repeat(1 << 20) + "\n";
        let script = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line * 2)";
        let out = Python::new(TEST, script).stdin(input.clone()).run();
        assert_eq!(out.len(), 2 * input.len());
    }

    #[test]
    fn missing_module_is_not_available() {
        if !python_imports(&["sys"]) {
            return;
        }
        assert!(!python_has(
            "missing_module_is_not_available",
            &["sys", "no_such_module_corrflow"]
        ));
    }

    #[test]
    #[should_panic(expected = "failing_script_panics: python script failed")]
    fn failing_script_panics() {
        if !python_imports(&["sys"]) {
            panic!("failing_script_panics: python script failed (no python3 here)");
        }
        run_python("failing_script_panics", "import sys; sys.exit(3)", ["a"]);
    }
}
