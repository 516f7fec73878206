//! What the segmentation stages export for a sample from their `instances` output, into the
//! results folder the engine hands them (`results/SAMPLE/`), named after the node as every
//! corrflow export is (`NODE.…`):
//!
//! - `NODE.labels.tif`: the 32-bit instance label image (0 = background, instance i → i + 1,
//!   overlaps resolved as [`Instances::label_image`] does) with the pixel size, as Fiji/ImageJ
//!   and napari/tifffile open it;
//! - `NODE.instances.json`: the COCO results list of [`crate::coco_results`];
//! - `NODE.overlay.png`: the EM with the instances drawn on it ([`crate::overlay`]), when the
//!   entry holds the 8-bit display image (see [`write_export_info`]).
//!
//! A stage that wants the overlay and the image name in its exports calls [`write_export_info`]
//! on its `instances` group after writing the instances; its `export` then calls
//! [`export_entry`]. The extra items are ones the `instances` layout allows a writer to add
//! (readers ignore them).

use std::io::Write;
use std::path::{Path, PathBuf};

use corrflow_stage::hdf5::Group;
use corrflow_stage::{ExportContext, StageError, h5};
use corrflow_types::Instances;
use ndarray::{Array2, ArrayView2};

use crate::coco_results::{coco_results, write_coco_results};
use crate::overlay::write_overlay_png;

/// Attribute of the `instances` group: the file name of the segmented image (for the COCO JSON).
pub const IMAGE_NAME_ATTR: &str = "image_name";
/// Dataset of the `instances` group: the image as 8-bit gray (height, width), for the overlay.
pub const DISPLAY_DATASET: &str = "display_u8";

/// Write `NODE.labels.tif`, `NODE.instances.json` and (with `gray`) `NODE.overlay.png` into
/// `dir`, where `NODE` is `prefix`. `image_name` goes into the COCO entries' `image` field;
/// `gray` must have the instances' (height, width). Returns the files written.
pub fn export_instances(
    dir: &Path,
    prefix: &str,
    image_name: &str,
    instances: &Instances,
    gray: Option<ArrayView2<'_, u8>>,
) -> Result<Vec<PathBuf>, StageError> {
    let labels = dir.join(format!("{prefix}.labels.tif"));
    corrflow_io_em::write_tiff_u32(
        &labels,
        &instances.label_image(),
        Some(instances.pixel_size_nm),
    )
    .map_err(|e| StageError::other(e.to_string()))?;
    let json = dir.join(format!("{prefix}.instances.json"));
    write_coco_results(&json, &coco_results(instances, image_name))?;
    let mut written = vec![labels, json];
    if let Some(gray) = gray {
        let png = dir.join(format!("{prefix}.overlay.png"));
        write_overlay_png(&png, gray, instances)?;
        written.push(png);
    }
    Ok(written)
}

/// Export the `instances` group `port` of a committed entry with [`export_instances`]: the image
/// name and the overlay's gray image come from [`write_export_info`]'s items when present (the
/// sample id names the image otherwise; no overlay without the gray image).
pub fn export_entry(ctx: &ExportContext<'_>, port: &str) -> Result<Vec<PathBuf>, StageError> {
    let g = ctx.entry.group(port)?;
    let instances = Instances::read(&g)?;
    let name = match h5::get_str(&g, IMAGE_NAME_ATTR) {
        Ok(name) => name,
        Err(_) => ctx
            .sample
            .map_or_else(|| ctx.node.to_string(), |s| s.id.clone()),
    };
    let gray = read_display(&g, &instances)?;
    export_instances(
        ctx.dir,
        ctx.node,
        &name,
        &instances,
        gray.as_ref().map(|g| g.view()),
    )
}

/// Record, in an `instances` group already written, what the exports need besides the
/// instances: the image's file name (attribute [`IMAGE_NAME_ATTR`]) and, when given, the 8-bit
/// gray image for the overlay (dataset [`DISPLAY_DATASET`], (height, width), 1 byte per pixel).
pub fn write_export_info(
    g: &Group,
    image_name: &str,
    gray: Option<ArrayView2<'_, u8>>,
) -> Result<(), StageError> {
    h5::set_str(g, IMAGE_NAME_ATTR, image_name)?;
    if let Some(gray) = gray {
        let data = gray.as_standard_layout();
        let ds = g
            .new_dataset_builder()
            .with_data(&data)
            .create(DISPLAY_DATASET)?;
        h5::set_str(
            &ds,
            "units",
            "8-bit display gray (0.5-99.5 percentile stretch)",
        )?;
    }
    Ok(())
}

/// The display image of a group, if it has one of the instances' shape.
fn read_display(g: &Group, instances: &Instances) -> Result<Option<Array2<u8>>, StageError> {
    if !g.link_exists(DISPLAY_DATASET) {
        return Ok(None);
    }
    let gray: Array2<u8> = g.dataset(DISPLAY_DATASET)?.read_2d()?;
    if gray.dim() != (instances.height, instances.width) {
        return Err(StageError::input(format!(
            "HDF5 group '{}': dataset '{DISPLAY_DATASET}' has shape {:?} but the instances are on \
             a {}×{} image",
            g.name(),
            gray.shape(),
            instances.height,
            instances.width
        )));
    }
    Ok(Some(gray))
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, synced, renamed
/// over `path` (readers never see a half-written file; a failed write leaves no temp file).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StageError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let io = |e: std::io::Error| StageError::io(path, e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".corrflow-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use corrflow_types::{Instance, Mask};
    use ndarray::array;

    pub(crate) fn two_instances() -> Instances {
        let a = Instance {
            class_id: 0,
            score: 0.9,
            bbox: [1.0, 1.0, 3.0, 3.0],
            mask: Mask::new(1, 1, array![[true, true], [true, false]]),
        };
        let b = Instance {
            class_id: 2,
            score: 0.8,
            bbox: [3.0, 2.0, 6.0, 4.0],
            mask: Mask::new(3, 2, array![[false, true, true], [true, true, true]]),
        };
        let names = ["nucleus", "mitochondrion", "er"]
            .map(String::from)
            .to_vec();
        Instances::new(5, 7, 4.0, names, vec![a, b]).unwrap()
    }

    #[test]
    fn writes_labels_json_and_overlay() {
        let dir = tempfile::tempdir().unwrap();
        let inst = two_instances();
        let gray = Array2::from_elem((5, 7), 128u8);
        let files =
            export_instances(dir.path(), "seg", "s1.tif", &inst, Some(gray.view())).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            names,
            ["seg.labels.tif", "seg.instances.json", "seg.overlay.png"]
        );
        let labels = corrflow_io_em::read_labels_u32(&files[0], None).unwrap();
        assert_eq!(labels.data, inst.label_image());
        assert!((labels.pixel_size_nm.unwrap() - 4.0).abs() < 1e-9);
        let json: Vec<crate::coco_results::CocoResult> =
            serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
        assert_eq!(json, coco_results(&inst, "s1.tif"));
        let png = image::open(&files[2]).unwrap().to_rgb8();
        assert!(png.width() >= 7 && png.height() >= 5);
        // Without gray: no overlay.
        let files = export_instances(dir.path(), "b", "s1.tif", &inst, None).unwrap();
        assert_eq!(files.len(), 2);
    }

    #[test]
    fn export_info_round_trips_through_a_group() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let inst = two_instances();
        let gray = Array2::from_shape_fn((5, 7), |(r, c)| (r * 7 + c) as u8);
        let f = h5::create_file(&p).unwrap();
        let g = f.create_group("instances").unwrap();
        inst.write(&g).unwrap();
        write_export_info(&g, "s1.tif", Some(gray.view())).unwrap();
        assert_eq!(Instances::read(&g).unwrap(), inst);
        assert_eq!(h5::get_str(&g, IMAGE_NAME_ATTR).unwrap(), "s1.tif");
        assert_eq!(read_display(&g, &inst).unwrap().unwrap(), gray);
    }
}
