//! Inputs found by fuzzing (`plugins/io-em/fuzz`) that made the reader reserve gigabytes for a
//! file of a few hundred bytes. A counting allocator records the largest single request.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Largest = Largest;

/// A 1 KB two-page TIFF whose second directory has a tag claiming ~100 million values: the tiff
/// crate reserved 3.2 GB for them (bounded only by the 8 GiB image limit) when page 1 was asked
/// for. Tags are now read under a 128 MiB metadata limit.
#[test]
fn tag_with_a_huge_value_count() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-oom-tag-count.tif");
    LARGEST.store(0, Ordering::Relaxed);
    for page in [None, Some(1)] {
        let _ = corrflow_io_em::read_em(&p, page);
        let _ = corrflow_io_em::read_labels_u32(&p, page);
    }
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= 128 << 20,
        "largest allocation {largest} bytes for a {}-byte file",
        std::fs::metadata(&p).unwrap().len()
    );
}
