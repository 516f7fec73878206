//! COCO results entries (`[{image_id, category_id, bbox, score, segmentation}, …]`) for the
//! instances on one image, as pycocotools' `COCO.loadRes` and ultralytics' `predictions.json` use
//! them, with two extra fields that make the file self-describing: `image` (the image's file name)
//! and `category_name`.
//!
//! - `category_id` is the **0-based class index** into [`Instances::class_names`] (ultralytics'
//!   COCO JSON likewise uses the class ids the model gives, without remapping); `category_name`
//!   is the class name.
//! - `bbox` is `[x, y, width, height]` in pixels of the original image (edges: pixel (r, c)
//!   covers [c, c+1) × [r, r+1)), from the instance's `bbox` `[x0, y0, x1, y1]`, rounded to
//!   0.001 px as ultralytics does.
//! - `segmentation` is the compressed RLE `{size: [h, w], counts}` of the instance's mask on the
//!   full image, byte for byte what pycocotools `mask.encode` gives for it.

use std::path::Path;

use corrflow_stage::StageError;
use corrflow_types::{Instance, Instances, Mask, coco};
use serde::{Deserialize, Serialize};

/// A compressed COCO run-length encoding (pycocotools' `{"size": [h, w], "counts": "…"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CocoRle {
    /// `[height, width]` of the image (px).
    pub size: [usize; 2],
    /// The compressed counts string (pycocotools `rleToString`).
    pub counts: String,
}

/// One COCO result: an instance on an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CocoResult {
    /// File name of the image (e.g. `s1.tif`).
    pub image: String,
    /// COCO image id, when the image belongs to a COCO dataset; left out of the JSON otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_id: Option<u64>,
    /// 0-based class index into the instances' class names.
    pub category_id: u32,
    /// The class name.
    pub category_name: String,
    /// Confidence (higher is better).
    pub score: f32,
    /// `[x, y, width, height]` (px, pixel edges, rounded to 0.001 px).
    pub bbox: [f64; 4],
    /// The mask on the full image as compressed RLE.
    pub segmentation: CocoRle,
}

/// The COCO results of every instance on one image, in instance order.
pub fn coco_results(instances: &Instances, image_name: &str) -> Vec<CocoResult> {
    instances
        .instances
        .iter()
        .map(|inst| coco_result(instances, inst, image_name))
        .collect()
}

fn coco_result(all: &Instances, inst: &Instance, image_name: &str) -> CocoResult {
    let [x0, y0, x1, y1] = inst.bbox.map(f64::from);
    let counts = full_image_rle_counts(&inst.mask, all.height, all.width);
    CocoResult {
        image: image_name.to_string(),
        image_id: None,
        category_id: inst.class_id,
        category_name: all
            .class_names
            .get(inst.class_id as usize)
            .cloned()
            .unwrap_or_default(),
        score: inst.score,
        bbox: [x0, y0, x1 - x0, y1 - y0].map(round_milli),
        segmentation: CocoRle {
            size: [all.height, all.width],
            counts: coco::rle_to_string(&counts),
        },
    }
}

/// Round to 0.001 px (ultralytics rounds boxes to 3 decimals), giving short JSON numbers.
fn round_milli(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Accumulates alternating runs of 0s and 1s, starting with 0s, as COCO RLE counts.
struct RunBuilder {
    counts: Vec<u64>,
    current: bool,
    run: u64,
}

impl RunBuilder {
    fn new() -> Self {
        Self {
            counts: Vec::new(),
            current: false,
            run: 0,
        }
    }

    /// Append `len` pixels of `value`.
    fn push(&mut self, value: bool, len: u64) {
        if len == 0 {
            return;
        }
        if value != self.current {
            self.counts.push(self.run);
            self.run = 0;
            self.current = value;
        }
        self.run += len;
    }

    fn finish(mut self) -> Vec<u64> {
        self.counts.push(self.run);
        self.counts
    }
}

/// COCO RLE counts of `mask` placed on a `height` × `width` image (column-major runs, starting
/// with 0s), equal to `coco::rle_counts(&mask.to_full(height, width))` but computed from the
/// cropped mask's columns in O(width + box area) without building the full image. Parts of the
/// mask outside the image are dropped, as [`Mask::to_full`] does.
pub fn full_image_rle_counts(mask: &Mask, height: usize, width: usize) -> Vec<u64> {
    let (y1, x1) = (mask.y1().min(height), mask.x1().min(width));
    let mut runs = RunBuilder::new();
    if mask.y0 >= y1 || mask.x0 >= x1 {
        runs.push(false, (height * width) as u64);
        return runs.finish();
    }
    let (h, y0, x0) = (height as u64, mask.y0, mask.x0);
    runs.push(false, x0 as u64 * h);
    for x in x0..x1 {
        runs.push(false, y0 as u64);
        let column = mask.data.column(x - x0);
        for &v in column.iter().take(y1 - y0) {
            runs.push(v, 1);
        }
        runs.push(false, (height - y1) as u64);
    }
    runs.push(false, (width - x1) as u64 * h);
    runs.finish()
}

/// Write results as a JSON list, one entry per line, atomically (a temporary file in the same
/// folder, synced, then renamed over `path`).
pub fn write_coco_results(path: &Path, results: &[CocoResult]) -> Result<(), StageError> {
    crate::export::write_atomic(path, &coco_results_json(results)?)
}

/// The JSON text [`write_coco_results`] writes: `[`, one compact entry per line, `]`.
pub fn coco_results_json(results: &[CocoResult]) -> Result<Vec<u8>, StageError> {
    let mut out = b"[".to_vec();
    for (i, r) in results.iter().enumerate() {
        out.extend_from_slice(if i == 0 { b"\n" } else { b",\n" });
        serde_json::to_writer(&mut out, r)
            .map_err(|e| StageError::other(format!("COCO results JSON: {e}")))?;
    }
    out.extend_from_slice(b"\n]\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    fn inst(class_id: u32, score: f32, x0: usize, y0: usize, data: Array2<bool>) -> Instance {
        let mask = Mask::new(x0, y0, data);
        let b = mask.box_px().map(|v| v as f32);
        Instance {
            class_id,
            score,
            bbox: b,
            mask,
        }
    }

    #[test]
    fn runs_from_the_cropped_mask_equal_the_full_image_runs() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..300 {
            let (h, w) = (1 + next(12), 1 + next(12));
            let (y0, x0) = (next(h), next(w));
            let (mh, mw) = (next(h - y0 + 1), next(w - x0 + 1));
            let data = Array2::from_shape_fn((mh, mw), |_| next(3) > 0);
            let m = Mask::new(x0, y0, data);
            let naive = coco::rle_counts(m.to_full(h, w).view());
            assert_eq!(full_image_rle_counts(&m, h, w), naive, "{h}×{w} {m:?}");
        }
        // Empty, full and 0×0 masks.
        let full = Mask::new(0, 0, Array2::from_elem((3, 4), true));
        assert_eq!(full_image_rle_counts(&full, 3, 4), vec![0, 12]);
        let none = Mask::new(0, 0, Array2::from_elem((0, 0), false));
        assert_eq!(full_image_rle_counts(&none, 3, 4), vec![12]);
    }

    #[test]
    fn entries_follow_the_instances() {
        let a = inst(1, 0.75, 1, 2, array![[true, false], [true, true]]);
        let mut b = inst(0, 0.5, 0, 0, array![[true]]);
        b.bbox = [0.1, 0.2, 1.3, 0.9];
        let all = Instances::new(5, 4, 2.0, vec!["cell".into(), "er".into()], vec![a, b]).unwrap();
        let r = coco_results(&all, "s1.tif");
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].category_id, r[0].category_name.as_str()), (1, "er"));
        assert_eq!(r[0].bbox, [1.0, 2.0, 2.0, 2.0]);
        assert_eq!(r[1].bbox, [0.1, 0.2, 1.2, 0.7]);
        assert_eq!(r[0].segmentation.size, [5, 4]);
        let counts = coco::rle_from_string(&r[0].segmentation.counts).unwrap();
        let full = coco::rle_decode(&counts, 5, 4).unwrap();
        assert_eq!(full, all.instances[0].mask.to_full(5, 4));
        let json = String::from_utf8(coco_results_json(&r).unwrap()).unwrap();
        assert!(
            json.starts_with("[\n{\"image\":\"s1.tif\",\"category_id\":1,"),
            "{json}"
        );
        assert!(!json.contains("image_id"), "{json}");
        assert!(json.contains("\"score\":0.75"), "{json}");
        let back: Vec<CocoResult> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert_eq!(coco_results_json(&[]).unwrap(), b"[\n]\n");
    }

    #[test]
    fn writes_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, "old").unwrap();
        write_coco_results(&p, &[]).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[\n]\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/r.json");
        assert!(write_coco_results(&missing, &[]).is_err());
    }
}
