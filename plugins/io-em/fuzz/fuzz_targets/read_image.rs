//! Arbitrary bytes as an EM image file (TIFF or PNG, by magic bytes): `read_em` on page 0 and
//! page 1, and `read_labels_u32`. Each must return a raster or an error, never panic, hang or
//! allocate beyond the crate's limits (a small file claiming a huge image is refused before the
//! decoder allocates). On success the raster's shape must match its data.
//!
//! The reader takes a path, so the bytes are written to a file in a per-process temporary folder.
//!
//! ```text
//! cargo +nightly fuzz run read_image /tmp/em-corpus /tmp/em-seeds -- -max_total_time=360 -malloc_limit_mb=2048 -timeout=10 -max_len=65536
//! ```
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn file() -> &'static PathBuf {
    static F: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &F.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("image.bin");
        (dir, path)
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    let path = file();
    std::fs::write(path, data).expect("write the image file");
    for page in [None, Some(1)] {
        if let Ok(r) = corrflow_io_em::read_em(path, page) {
            let (h, w) = r.shape();
            assert!(h > 0 && w > 0);
            assert_eq!(r.data.len(), h * w);
            assert!(r.page < r.n_pages);
            if let Some(p) = r.pixel_size_nm {
                assert!(p.is_finite() && p > 0.0);
            }
        }
    }
    if let Ok(l) = corrflow_io_em::read_labels_u32(path, None) {
        assert!(!l.data.is_empty());
    }
});
