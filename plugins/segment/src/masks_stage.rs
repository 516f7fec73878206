//! The `segment.masks` stage: instances from a sample's own mask file (manual annotation, another
//! tool's output), the drop-in replacement for `segment.yolo` — same `instances` output, so a
//! pipeline swaps one for the other by naming the other stage and its params.

use std::collections::BTreeMap;
use std::path::PathBuf;

use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage, port_types,
};
use corrflow_types::{EmImage, types};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::export::{export_entry, write_export_info};
use crate::import::{
    CocoOptions, LabelClasses, LabelOptions, MaskFormat, TargetImage, Unmapped, class_index,
    image_file_name, import_coco_file, import_label_file,
};
use crate::overlay::to_u8_display;

/// Parameters of `segment.masks`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MasksParams {
    /// Format of the mask file: `auto` (by extension: .tif/.tiff/.png = label image, .json =
    /// COCO), `labels` (instance label image, 8/16/32-bit unsigned, 0 = background) or `coco`
    /// (COCO dataset JSON or results list).
    #[serde(default)]
    pub format: MaskFormat,
    /// Class names in class-id order (the `instances` output's classes). COCO categories and
    /// class-table entries are matched to them by name.
    #[serde(default = "default_class_names")]
    pub class_names: Vec<String>,
    /// Label images: the class of every instance (one of `class_names`). Either this or the
    /// `classes` input (a `label,class` CSV table, wired per sample as `sample.COLUMN` or for
    /// every sample as `file:PATH`, so that its content enters the cache key) is needed for
    /// label images.
    #[serde(default)]
    pub class: Option<String>,
    /// Labels missing from the class table, or COCO categories not in `class_names`: `error`
    /// (list them and fail), `drop` (leave them out, with a warning), or a class name (give them
    /// that class).
    #[serde(default)]
    #[schemars(with = "String")]
    pub unmapped: Unmapped,
    /// Split every instance into its 8-connected pieces (a label used for several separate
    /// objects becomes several instances).
    #[serde(default)]
    pub split_components: bool,
    /// COCO: the image to take from the file (file name, base name or image id). Default: the
    /// image named like the sample's EM file (or whose stem is the sample id), else the only one.
    #[serde(default)]
    pub image: Option<String>,
    /// Label images: the page of a multi-page TIFF (0-based).
    #[serde(default)]
    pub page: usize,
    /// Keep an 8-bit copy of the EM image in the entry (height × width bytes) for the
    /// `NODE.overlay.png` export.
    #[serde(default = "default_true")]
    pub overlay: bool,
}

/// The six classes of `corrflow synth` (and the bundled model).
pub fn default_class_names() -> Vec<String> {
    corrflow_dataset::SYNTH_CLASSES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn default_true() -> bool {
    true
}

impl Default for MasksParams {
    fn default() -> Self {
        Self {
            format: MaskFormat::Auto,
            class_names: default_class_names(),
            class: None,
            unmapped: Unmapped::Error,
            split_components: false,
            image: None,
            page: 0,
            overlay: true,
        }
    }
}

/// Instances from a mask file: the manual or external segmentation that replaces `segment.yolo`.
pub struct SegmentMasks;

impl TypedStage for SegmentMasks {
    type Params = MasksParams;
    const ID: &'static str = "segment.masks";
    const VERSION: &'static str = "1";
    const DOC: &'static str = "Instances from a per-sample mask file instead of a model: an instance \
label image (TIFF/PNG, 0 = background; classes from params.class or a label,class CSV wired to the \
classes input, per sample or file:PATH) or a COCO JSON file (dataset or results list; polygons, \
RLE; categories matched to class_names by name). The masks must have the EM image's shape. Same \
output as segment.yolo; exports NODE.labels.tif, NODE.instances.json (COCO results) and \
NODE.overlay.png.";

    fn ports(&self, _: &MasksParams) -> Ports {
        Ports {
            inputs: vec![
                PortSpec::new(
                    "image",
                    types::EM_IMAGE,
                    "the EM image the masks belong to (shape, pixel size, file name)",
                ),
                PortSpec::new(
                    "masks",
                    port_types::FILE,
                    "the mask file: a label image (.tif/.png) or COCO JSON (.json)",
                ),
                PortSpec::new(
                    "classes",
                    port_types::FILE,
                    "label images: a label,class CSV table (class by name or 0-based index); \
                     per sample (sample.COLUMN) or one for all (file:PATH)",
                )
                .optional(),
            ],
            outputs: vec![PortSpec::new(
                "instances",
                types::INSTANCES,
                "the imported instances (score 1 unless the file has scores)",
            )],
        }
    }

    fn validate(&self, p: &MasksParams) -> Result<(), ParamError> {
        if p.class_names.is_empty() {
            return Err(ParamError::new("class_names", "needs at least one class"));
        }
        for (i, name) in p.class_names.iter().enumerate() {
            if name.trim().is_empty() {
                return Err(ParamError::new(format!("class_names[{i}]"), "is empty"));
            }
            if p.class_names[..i].contains(name) {
                return Err(ParamError::new(
                    format!("class_names[{i}]"),
                    format!("'{name}' is listed twice"),
                ));
            }
        }
        if let Some(c) = &p.class {
            class_index(&p.class_names, c).map_err(|m| ParamError::new("class", m))?;
        }
        p.unmapped
            .resolve(&p.class_names)
            .map_err(|m| ParamError::new("unmapped", format!("{m} (or error, drop)")))?;
        if p.image.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(ParamError::new("image", "is empty"));
        }
        Ok(())
    }

    fn run(&self, p: &MasksParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let em = EmImage::read(&ctx.input_group("image")?)?;
        let path = ctx.input_file("masks")?;
        let file_name = image_file_name(&em.source).to_string();
        let target = TargetImage {
            height: em.height(),
            width: em.width(),
            pixel_size_nm: em.pixel_size_nm,
            file_name: &file_name,
            sample_id: ctx.sample_id(),
        };
        let unmapped = p
            .unmapped
            .resolve(&p.class_names)
            .map_err(param("unmapped"))?;
        let imported = match p.format.resolve(path)? {
            MaskFormat::Coco => {
                check_coco_params(p, ctx, path)?;
                let opts = CocoOptions {
                    image: p.image.as_deref(),
                    unmapped,
                    split_components: p.split_components,
                };
                import_coco_file(path, &target, &p.class_names, &opts)?
            }
            _ => {
                let table = class_table(p, ctx, path)?;
                let classes = match (&table, &p.class) {
                    (Some(t), _) => LabelClasses::Table(t),
                    (None, Some(c)) => {
                        LabelClasses::All(class_index(&p.class_names, c).map_err(param("class"))?)
                    }
                    (None, None) => no_class_source(path)?,
                };
                let opts = LabelOptions {
                    classes,
                    unmapped,
                    split_components: p.split_components,
                };
                import_label_file(path, p.page, &target, &p.class_names, &opts)?
            }
        };
        for w in imported.warnings {
            ctx.warn(w);
        }
        if imported.instances.is_empty() {
            ctx.warn(format!("{}: no instances", path.display()));
        }
        let g = ctx.output_group("instances")?;
        imported.instances.write(&g)?;
        let gray = p.overlay.then(|| to_u8_display(em.data.view()));
        write_export_info(&g, &file_name, gray.as_ref().map(|g| g.view()))
    }

    /// `NODE.labels.tif` (uint32 labels with the pixel size), `NODE.instances.json` (COCO
    /// results) and, with `overlay`, `NODE.overlay.png`, in `results/SAMPLE/`.
    fn export(&self, _: &MasksParams, ctx: &ExportContext<'_>) -> Result<Vec<PathBuf>, StageError> {
        export_entry(ctx, "instances")
    }
}

fn param(name: &'static str) -> impl Fn(String) -> StageError {
    move |m| StageError::Param(ParamError::new(name, m))
}

/// Label images need a class source: the error when there is none.
fn no_class_source<T>(path: &std::path::Path) -> Result<T, StageError> {
    Err(StageError::input(format!(
        "{}: a label image has no classes: set params.class (one class for every instance) or \
         wire the classes input to a label,class CSV table (sample.COLUMN or file:PATH)",
        path.display()
    )))
}

/// The class table of the `classes` input, if wired (and refused together with `class`).
fn class_table(
    p: &MasksParams,
    ctx: &RunContext<'_>,
    masks: &std::path::Path,
) -> Result<Option<BTreeMap<u32, usize>>, StageError> {
    if !ctx.has_input("classes") {
        return Ok(None);
    }
    if p.class.is_some() {
        return Err(StageError::Param(ParamError::new(
            "class",
            format!(
                "{}: set either params.class or the classes input, not both",
                masks.display()
            ),
        )));
    }
    let table_path = ctx.input_file("classes")?;
    corrflow_dataset::read_class_table(table_path, &p.class_names)
        .map(Some)
        .map_err(|e| StageError::input(e.to_string()))
}

/// COCO files carry their categories: `class` and the `classes` input do not apply.
fn check_coco_params(
    p: &MasksParams,
    ctx: &RunContext<'_>,
    path: &std::path::Path,
) -> Result<(), StageError> {
    let clash = if p.class.is_some() {
        Some("params.class")
    } else if ctx.has_input("classes") {
        Some("the classes input")
    } else {
        None
    };
    match clash {
        Some(what) => Err(StageError::input(format!(
            "{}: {what} applies to label images; a COCO file names its categories (map them with \
             class_names and unmapped)",
            path.display()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_stage::{InputBinding, Stage, h5};
    use corrflow_types::Instances;
    use ndarray::{Array2, array};
    use serde_json::json;
    use std::path::Path;

    struct Setup {
        dir: tempfile::TempDir,
        em_entry: PathBuf,
    }

    /// An EM entry of `h` × `w` px at 4 nm named `s1.tif after pre`.
    fn setup(h: usize, w: usize) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let em_entry = dir.path().join("em.h5");
        let f = h5::create_file(&em_entry).unwrap();
        let data = Array2::from_shape_fn((h, w), |(r, c)| (r * w + c) as f32);
        EmImage::new(data, 4.0, "s1.tif after pre")
            .unwrap()
            .write(&f.create_group("image").unwrap())
            .unwrap();
        f.close().unwrap();
        Setup { dir, em_entry }
    }

    /// Run the stage through its untyped interface (as the engine does); the instances and
    /// warnings, or the error message.
    fn run(
        s: &Setup,
        params: serde_json::Value,
        masks: &Path,
        classes: Option<&Path>,
    ) -> Result<(Instances, Vec<String>, PathBuf), String> {
        let mut inputs = BTreeMap::from([
            (
                "image".to_string(),
                InputBinding::Entry {
                    file: s.em_entry.clone(),
                    group: "image".into(),
                },
            ),
            ("masks".to_string(), InputBinding::File(masks.to_path_buf())),
        ]);
        if let Some(c) = classes {
            inputs.insert("classes".into(), InputBinding::File(c.to_path_buf()));
        }
        let out = s.dir.path().join(format!("out{}.h5", inputs.len()));
        let warnings =
            corrflow_stage::run_once(&SegmentMasks, &params, "seg", "s1", &inputs, &out)?;
        let f = h5::open_file(&out).unwrap();
        let inst = Instances::read(&f.group("instances").unwrap()).unwrap();
        Ok((inst, warnings, out))
    }

    fn write_labels(s: &Setup, name: &str, labels: &Array2<u32>) -> PathBuf {
        let p = s.dir.path().join(name);
        corrflow_io_em::write_tiff_u32(&p, labels, Some(4.0)).unwrap();
        p
    }

    #[test]
    fn label_image_with_one_class() {
        let s = setup(4, 5);
        let labels = array![
            [0, 2, 2, 0, 0],
            [0, 2, 0, 0, 5],
            [0, 0, 0, 5, 5],
            [2, 0, 0, 0, 0]
        ];
        let p = write_labels(&s, "m.tif", &labels);
        let (inst, warnings, _) = run(&s, json!({"class": "er"}), &p, None).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(inst.len(), 2);
        assert_eq!(inst.pixel_size_nm, 4.0);
        assert!(inst.instances.iter().all(|i| i.class_id == 2));
        let (split, _, _) = run(
            &s,
            json!({"class": "er", "split_components": true}),
            &p,
            None,
        )
        .unwrap();
        assert_eq!(split.len(), 3);
        // No class source: a clear error.
        let e = run(&s, json!({}), &p, None).unwrap_err();
        assert!(e.contains("a label image has no classes"), "{e}");
        // Wrong shape.
        let small = write_labels(&s, "small.tif", &Array2::zeros((3, 5)));
        let e = run(&s, json!({"class": "er"}), &small, None).unwrap_err();
        assert_eq!(
            e,
            format!(
                "{}: the label image is 3×5 px (height × width) but the EM image is 4×5 px",
                small.display()
            )
        );
    }

    #[test]
    fn params_are_checked() {
        let stage = SegmentMasks;
        let e = Stage::canonical_params(&stage, &json!({"class": "cytoplasm"})).unwrap_err();
        assert_eq!(e.path, "class");
        let e = Stage::canonical_params(&stage, &json!({"unmapped": "cytoplasm"})).unwrap_err();
        assert_eq!(e.path, "unmapped");
        let e = Stage::canonical_params(&stage, &json!({"clas": "er"})).unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
        let e = Stage::canonical_params(&stage, &json!({"class_names": ["a", "a"]})).unwrap_err();
        assert_eq!(e.path, "class_names[1]");
        let canon = Stage::canonical_params(&stage, &json!({"unmapped": "drop"})).unwrap();
        assert_eq!(canon["unmapped"], "drop");
        assert_eq!(canon["format"], "auto");
        assert_eq!(canon["class_names"][5], "vesicle");
        let schema = serde_json::to_string(&Stage::params_schema(&stage)).unwrap();
        assert!(schema.contains("split_components") && schema.contains("unmapped"));
    }

    /// Export labels.tif and instances.json, import each back: the same instances.
    #[test]
    fn exports_import_back_to_the_same_instances() {
        let s = setup(6, 7);
        let labels = array![
            [0, 1, 1, 0, 0, 0, 0],
            [0, 1, 1, 0, 0, 2, 0],
            [0, 0, 0, 0, 2, 2, 2],
            [3, 3, 0, 0, 0, 2, 0],
            [3, 0, 0, 0, 0, 0, 0],
            [0, 0, 0, 0, 4, 4, 4]
        ];
        let p = write_labels(&s, "truth.tif", &labels);
        let table = s.dir.path().join("classes.csv");
        std::fs::write(
            &table,
            "label,class\n1,nucleus\n2,mitochondrion\n3,er\n4,3\n",
        )
        .unwrap();
        let (first, _, entry) = run(&s, json!({}), &p, Some(&table)).unwrap();
        let classes: Vec<u32> = first.instances.iter().map(|i| i.class_id).collect();
        assert_eq!(classes, [0, 1, 2, 3]);
        // Export as the engine does.
        let out_dir = s.dir.path().join("results");
        std::fs::create_dir_all(&out_dir).unwrap();
        let f = h5::open_file(&entry).unwrap();
        let ectx = ExportContext {
            node: "seg",
            sample: None,
            entry: &f,
            dir: &out_dir,
        };
        let files = Stage::export(&SegmentMasks, &json!({}), &ectx).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            names,
            ["seg.labels.tif", "seg.instances.json", "seg.overlay.png"]
        );
        let json_text = std::fs::read_to_string(&files[1]).unwrap();
        assert!(json_text.contains("\"image\":\"s1.tif\""), "{json_text}");
        // labels.tif back, with the same class table.
        let (again, _, _) = run(&s, json!({"format": "labels"}), &files[0], Some(&table)).unwrap();
        assert_eq!(again, first);
        // instances.json back.
        let (from_json, _, _) = run(&s, json!({}), &files[1], None).unwrap();
        assert_eq!(from_json, first);
        // The class parameters do not apply to COCO.
        let e = run(&s, json!({"class": "er"}), &files[1], None).unwrap_err();
        assert!(e.contains("params.class applies to label images"), "{e}");
    }

    #[test]
    fn coco_unknown_category_is_named() {
        let s = setup(4, 5);
        let p = s.dir.path().join("ann.json");
        std::fs::write(
            &p,
            r#"{"images": [{"id": 1, "file_name": "s1.tif", "height": 4, "width": 5}],
                "categories": [{"id": 1, "name": "cytoplasm"}],
                "annotations": [{"image_id": 1, "category_id": 1,
                                 "segmentation": {"size": [4, 5], "counts": [3, 4, 13]}}]}"#,
        )
        .unwrap();
        let e = run(&s, json!({}), &p, None).unwrap_err();
        assert!(e.contains("categories not among class_names"), "{e}");
        assert!(e.contains("'cytoplasm' (1)"), "{e}");
        let (inst, warnings, _) = run(&s, json!({"unmapped": "golgi"}), &p, None).unwrap();
        assert_eq!(inst.instances[0].class_id, 3);
        assert_eq!(inst.instances[0].mask.area_px(), 4);
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
