//! Arbitrary bytes into the `.im` reader: it must return a value or an error, never panic,
//! and never allocate beyond its limits. On success the totals and a few pixels are read.
//!
//! ```text
//! cd plugins/im-format/fuzz
//! cargo +nightly fuzz run parse_header /tmp/im-corpus SEEDS… -- -max_total_time=300 -malloc_limit_mb=2048
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(f) = corrflow_im::ImFile::from_bytes(data.to_vec(), "fuzz.im") else {
        return;
    };
    let h = f.header();
    for i in 0..=h.n_masses.max(h.masses.len()) {
        if let Some(t) = h.mass_dwell_time_s(i) {
            assert!(t > 0.0 && t.is_finite());
        }
    }
    if f.has_image_data() {
        let totals = f.total_counts().expect("totals when the file has data");
        let planes = f.plane_totals().expect("plane totals when the file has data");
        assert_eq!(totals.len(), h.n_masses);
        assert_eq!(planes.iter().map(|p| p.iter().sum::<u64>()).collect::<Vec<_>>(), totals);
        let (m, p) = (h.n_masses - 1, h.planes - 1);
        f.pixel(m, p, h.height - 1, h.width - 1).expect("last pixel");
        f.image(0, 0).expect("first image");
    } else {
        assert!(f.counts().is_err());
    }
});
