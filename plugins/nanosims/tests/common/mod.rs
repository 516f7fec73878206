//! Helpers shared by the integration tests: .npy reader, the real ion map, a seeded RNG.
#![allow(dead_code)]

use std::path::PathBuf;

use ndarray::{Array2, Array3};

/// `tests/data/<name>`.
pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Read a 2-D little-endian float64 C-order .npy file (version 1.0/2.0).
pub fn read_npy_f64(name: &str) -> Array2<f64> {
    let bytes = std::fs::read(data_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{name}: not a .npy file");
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.contains("'descr': '<f8'"), "{name}: {header}");
    assert!(
        header.contains("'fortran_order': False"),
        "{name}: {header}"
    );
    let shape_txt = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_txt
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    assert_eq!(shape.len(), 2, "{name}: shape {shape:?}");
    let data: Vec<f64> = bytes[start + hlen..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    Array2::from_shape_vec((shape[0], shape[1]), data).unwrap()
}

pub const IM_NAME: &str = "OpenMIMS_doc_051117_05-32dRe-03b.im";
pub const MASSES: [&str; 4] = ["12C", "13C", "12C 14N", "12C 15N"];

/// Path of the sample ion map in the shared data folder (read in place, never copied);
/// the environment variable `CORRFLOW_NANOSIMS_IM` overrides it.
pub fn im_path() -> PathBuf {
    if let Some(p) = std::env::var_os("CORRFLOW_NANOSIMS_IM") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/nanosims")
        .join(IM_NAME)
}

/// The 4 ion maps (masses × 256 × 256 counts) of the sample file, or `None` (with a message)
/// when the shared data folder is absent. Big-endian release 9 file, header 25184 bytes,
/// u16 pixels, 1 plane.
pub fn load_im() -> Option<Array3<f64>> {
    let path = im_path();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!(
                "SKIPPED: real ion map {} not readable ({e})",
                path.display()
            );
            return None;
        }
    };
    const HEADER: usize = 25184;
    let header_size = i32::from_be_bytes(bytes[8..12].try_into().unwrap());
    assert_eq!(header_size as usize, HEADER, "unexpected header size");
    let n = 4 * 256 * 256;
    assert_eq!(bytes.len(), HEADER + 2 * n, "unexpected file size");
    let v: Vec<f64> = bytes[HEADER..]
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]) as f64)
        .collect();
    Some(Array3::from_shape_vec((4, 256, 256), v).unwrap())
}

/// xorshift64* generator (deterministic, seeded).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.uniform() * n as f64) as usize
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
    /// Poisson(λ): Knuth's product method for λ ≤ 60, rounded normal approximation above.
    pub fn poisson(&mut self, lambda: f64) -> f64 {
        if lambda <= 0.0 {
            return 0.0;
        }
        if lambda > 60.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0);
        }
        let l = (-lambda).exp();
        let mut k = 0.0;
        let mut p = 1.0;
        loop {
            p *= self.uniform();
            if p <= l {
                return k;
            }
            k += 1.0;
        }
    }
}
