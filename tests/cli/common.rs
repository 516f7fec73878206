//! Helpers: experiment folders with real TIFF inputs, and running the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ndarray::Array2;
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_corrflow");

/// A temporary experiment folder.
pub struct Exp {
    pub dir: tempfile::TempDir,
}

impl Exp {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A deterministic 16-bit test image with structure (blobs on a gradient) and noise.
    pub fn image(&self, rel: &str, seed: u64, h: usize, w: usize) -> PathBuf {
        let p = self.path(rel);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).unwrap();
        }
        corrflow_io_em::write_tiff_u16(&p, &test_image(seed, h, w), Some(4.0)).unwrap();
        p
    }

    /// `n` samples `s0…` with images `em/sK.tif` and a `condition` column, plus `samples.csv`.
    pub fn samples(&self, n: usize, size: usize) {
        let mut csv = String::from("id,em,condition\n");
        for i in 0..n {
            self.image(&format!("em/s{i}.tif"), i as u64, size, size + 7);
            csv += &format!(
                "s{i},em/s{i}.tif,{}\n",
                if i % 2 == 0 { "npc" } else { "neuron" }
            );
        }
        self.write("samples.csv", &csv);
    }

    /// A new experiment with [`Exp::samples`]`(n, size)` and `pipeline` as `pipeline.yaml`.
    pub fn study(n: usize, size: usize, pipeline: &str) -> Self {
        let exp = Self::new();
        exp.samples(n, size);
        exp.write("pipeline.yaml", pipeline);
        exp
    }

    /// Run the binary in the experiment folder.
    pub fn run(&self, args: &[&str]) -> Run {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_BACKTRACE")
            .output()
            .expect("run corrflow");
        Run::from(out)
    }

    /// `status --json` as (node, sample) → (state, reasons).
    pub fn status(&self, pipeline: &str) -> Vec<(String, String, String, Vec<String>)> {
        let r = self.run(&["status", pipeline, "--json"]);
        assert_eq!(r.code, 0, "status failed: {}", r.stderr);
        let v: Value = serde_json::from_str(&r.stdout).expect("status --json is JSON");
        v.as_array()
            .expect("array")
            .iter()
            .map(|row| {
                let keys: Vec<&String> = row.as_object().unwrap().keys().collect();
                assert_eq!(keys, ["node", "reasons", "sample", "state"], "exact fields");
                (
                    row["node"].as_str().unwrap().to_string(),
                    row["sample"].as_str().unwrap().to_string(),
                    row["state"].as_str().unwrap().to_string(),
                    row["reasons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r.as_str().unwrap().to_string())
                        .collect(),
                )
            })
            .collect()
    }

    /// Every committed manifest in the cache, with the path of its data file.
    pub fn manifests(&self) -> Vec<(Value, PathBuf)> {
        let mut out = Vec::new();
        let Ok(shards) = std::fs::read_dir(self.path(".corrflow/cache/entries")) else {
            return out;
        };
        for shard in shards.flatten() {
            for f in std::fs::read_dir(shard.path()).unwrap().flatten() {
                if f.path().extension().is_some_and(|e| e == "json") {
                    let m: Value =
                        serde_json::from_slice(&std::fs::read(f.path()).unwrap()).unwrap();
                    let data = shard.path().join(m["data_file"].as_str().unwrap());
                    out.push((m, data));
                }
            }
        }
        out
    }

    /// The data file of the entry that `pipeline`'s ref for node/sample points at.
    pub fn entry_of(&self, pipeline: &str, node: &str, sample: &str) -> PathBuf {
        let r: Value = serde_json::from_slice(
            &std::fs::read(self.path(&format!(
                ".corrflow/cache/refs/{pipeline}/{node}/{sample}.json"
            )))
            .unwrap(),
        )
        .unwrap();
        self.manifests()
            .into_iter()
            .find(|(m, _)| m["key"] == r["key"])
            .map(|(_, p)| p)
            .expect("the ref points at a committed entry")
    }

    /// blake3 of every file under `results/`, by relative path (the bookkeeping folder excluded).
    pub fn results(&self) -> Vec<(String, String)> {
        let root = self.path("results");
        files_under(&root)
            .into_iter()
            .filter_map(|p| {
                let rel = p.strip_prefix(&root).unwrap();
                if rel.components().any(|c| c.as_os_str() == ".corrflow") {
                    return None;
                }
                let hash = blake3::hash(&std::fs::read(&p).unwrap())
                    .to_hex()
                    .to_string();
                Some((rel.display().to_string(), hash))
            })
            .collect()
    }

    /// (key, checksum) of every committed entry, sorted: equal for bit-identical caches.
    pub fn entry_checksums(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .manifests()
            .into_iter()
            .map(|(m, _)| {
                (
                    m["key"].as_str().unwrap().to_string(),
                    m["checksum"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Whether `status` reports every task of `pipeline` as fresh.
    pub fn all_fresh(&self, pipeline: &str) -> bool {
        self.status(pipeline)
            .iter()
            .all(|(_, _, s, _)| s == "fresh")
    }
}

/// Every file under `dir` (recursively), sorted; nothing when `dir` is absent.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

pub fn test_image(seed: u64, h: usize, w: usize) -> Array2<u16> {
    // A small xorshift generator keeps the images deterministic without a dependency.
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s % 1000) as f64 / 1000.0
    };
    let blobs: Vec<(f64, f64, f64)> = (0..6)
        .map(|_| {
            (
                next() * h as f64,
                next() * w as f64,
                3.0 + next() * (h as f64) / 6.0,
            )
        })
        .collect();
    Array2::from_shape_fn((h, w), |(r, c)| {
        let mut v = 8000.0 + 20.0 * c as f64;
        for &(br, bc, rad) in &blobs {
            let d2 = (r as f64 - br).powi(2) + (c as f64 - bc).powi(2);
            v += 20000.0 * (-d2 / (2.0 * rad * rad)).exp();
        }
        (v + next() * 3000.0) as u16
    })
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).to_string(),
        }
    }
}

impl Run {
    /// (ran, cached) from the run's summary line.
    pub fn counts(&self) -> (usize, usize) {
        let line = self
            .stderr
            .lines()
            .find(|l| l.contains("task(s) ran,"))
            .unwrap_or_else(|| panic!("no summary line in:\n{}", self.stderr));
        let nums: Vec<usize> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        (nums[0], nums[1])
    }

    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success.\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Failed with `code`, without a panic, and the message names `needle`.
    pub fn fails_with(&self, code: i32, needles: &[&str]) {
        assert_eq!(self.code, code, "exit code; stderr:\n{}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}:\n{}",
                self.stderr
            );
        }
    }
}

/// The standard two-node pipeline used by many tests.
pub const PIPELINE: &str = r#"name: exp
samples:
  table: samples.csv
nodes:
  - id: em
    stage: io.em
    inputs: { file: sample.em }
  - id: pre
    stage: preprocess.em
    inputs: { image: em.image }
    params:
      steps:
        - { op: percentile_normalize }
        - { op: gaussian, sigma_nm: 8.0 }
"#;
