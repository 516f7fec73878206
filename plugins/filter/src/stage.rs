//! The `filter.morphology` stage: [`crate::rules`] applied to a sample's instances, with the region
//! properties of the kept instances and one row per removed instance saying which rule removed it.

use std::path::PathBuf;

use corrflow_segment::export::{DISPLAY_DATASET, IMAGE_NAME_ATTR, export_entry, write_export_info};
use corrflow_segment::overlay::to_u8_display;
use corrflow_stage::{
    ExportContext, ParamError, PortSpec, Ports, RunContext, StageError, TypedStage, h5,
};
use corrflow_types::{
    Column, EmImage, Instances, IonStack, Table, TableColumn, Transform2D, types,
};
use ndarray::Array2;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::field::NanosimsField;
use crate::regionprops::{props_table, region_props};
use crate::rules::{Filtered, ResolveOverlaps, Rule, apply_rules};

/// Parameters of `filter.morphology`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterParams {
    /// Filter rules, each for some classes (default: all). An instance must pass every rule that
    /// applies to its class. Mask operations (closing_nm, fill_holes, opening_nm, in that order
    /// within a rule) run first, rule by rule; then the measurements are checked (drop_border,
    /// min_area_um2, max_area_um2, min_solidity, max_eccentricity, min_inside_field), and the first failing check
    /// removes the instance; then overlaps are resolved.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// What to do where kept instances overlap: `none` (leave them), `score` (the higher score
    /// keeps the contested pixels) or `split` (each contested pixel goes to the nearest
    /// centroid). An instance left without pixels is removed.
    #[serde(default)]
    pub resolve_overlaps: ResolveOverlaps,
}

/// Morphological filtering of segmented instances.
pub struct FilterMorphology;

impl TypedStage for FilterMorphology {
    type Params = FilterParams;
    const ID: &'static str = "filter.morphology";
    const VERSION: &'static str = "2";
    const DOC: &'static str = "Filter segmented instances by morphology: per-class rules with area \
(µm²), solidity, eccentricity, image-border and NanoSIMS-field thresholds (the field from the \
registration transform and the ion stack), mask operations (fill_holes, opening and \
closing with a disk radius in nm, as scikit-image), and overlap resolution (score or split). \
Outputs the kept instances (same type as the input), their region properties (skimage regionprops, \
px and µm) and a table of the removed instances with the rule, measured value and threshold that \
removed each. Exports NODE.props.csv, NODE.removed.csv, NODE.labels.tif, NODE.instances.json and, \
when the image is known, NODE.overlay.png.";

    fn ports(&self, p: &FilterParams) -> Ports {
        // The field inputs are required when a rule needs them, so a missing wire is found when
        // the pipeline is checked, not when the stage runs.
        let needs_field = p.rules.iter().any(|r| r.min_inside_field.is_some());
        let field_port = |port: PortSpec| if needs_field { port } else { port.optional() };
        Ports {
            inputs: vec![
                PortSpec::new("instances", types::INSTANCES, "the instances to filter"),
                PortSpec::new(
                    "image",
                    types::EM_IMAGE,
                    "the EM image of the instances: the props table gets each instance's mean \
                     intensity (and the overlay export its background)",
                )
                .optional(),
                field_port(PortSpec::new(
                    "transform",
                    types::TRANSFORM,
                    "the registration, EM pixel → NanoSIMS pixel (for min_inside_field; the \
                     props table then gets an inside_field column)",
                )),
                field_port(PortSpec::new(
                    "ions",
                    types::ION_STACK,
                    "the NanoSIMS ion stack whose raster is the field of view (only its size is \
                     read)",
                )),
            ],
            outputs: vec![
                PortSpec::new(
                    "instances",
                    types::INSTANCES,
                    "the kept instances, in input order (masks after the mask operations and \
                     overlap resolution)",
                ),
                PortSpec::new(
                    "props",
                    types::TABLE,
                    "region properties of the kept instances (one row each; instance = index in \
                     the output, input_instance = index in the input)",
                ),
                PortSpec::new(
                    "removed",
                    types::TABLE,
                    "one row per removed instance: input_instance, class, score, area_um2, rule, \
                     rule_index, value, threshold, reason",
                ),
            ],
        }
    }

    fn validate(&self, p: &FilterParams) -> Result<(), ParamError> {
        for (i, rule) in p.rules.iter().enumerate() {
            rule.validate()
                .map_err(|e| ParamError::new(format!("rules[{i}].{}", e.path), e.message))?;
        }
        Ok(())
    }

    fn run(&self, p: &FilterParams, ctx: &mut RunContext<'_>) -> Result<(), StageError> {
        let in_group = ctx.input_group("instances")?;
        let instances = Instances::read(&in_group)?;
        let em = if ctx.has_input("image") {
            Some(EmImage::read(&ctx.input_group("image")?)?)
        } else {
            None
        };
        if let Some(em) = &em {
            if (em.height(), em.width()) != (instances.height, instances.width) {
                return Err(StageError::input(format!(
                    "the image is {}×{} px but the instances lie on a {}×{} px image",
                    em.height(),
                    em.width(),
                    instances.height,
                    instances.width
                )));
            }
            if (em.pixel_size_nm - instances.pixel_size_nm).abs() > 1e-6 * instances.pixel_size_nm {
                ctx.warn(format!(
                    "the image has {} nm pixels, the instances {} nm; areas use the instances'",
                    em.pixel_size_nm, instances.pixel_size_nm
                ));
            }
        }
        let field = read_field(ctx, &instances)?;
        let filtered = apply_rules(&instances, &p.rules, p.resolve_overlaps, field.as_ref())?;
        if filtered.kept.is_empty() && !instances.is_empty() {
            ctx.warn(format!(
                "every one of the {} instances was removed",
                instances.len()
            ));
        }
        let out = ctx.output_group("instances")?;
        filtered.kept.write(&out)?;
        copy_export_info(&in_group, &out, em.as_ref())?;
        let props = region_props(&filtered.kept, em.as_ref().map(|e| e.data.view()))?;
        let mut table = props_table(&filtered.kept, &props)?;
        table.push(TableColumn::new(
            "input_instance",
            Column::I64(filtered.kept_index.iter().map(|&i| i as i64).collect()),
        ))?;
        if let Some(field) = &field {
            let inside = filtered.kept.instances.iter();
            table.push(TableColumn::new(
                "inside_field",
                Column::F64(inside.map(|i| field.inside_fraction(&i.mask)).collect()),
            ))?;
        }
        table.write(&ctx.output_group("props")?)?;
        removed_table(&instances, &filtered)?.write(&ctx.output_group("removed")?)
    }

    /// `NODE.props.csv`, `NODE.removed.csv`, and the kept instances as `segment.masks` exports
    /// them: `NODE.labels.tif`, `NODE.instances.json`, `NODE.overlay.png` (when the image is
    /// known), in `results/SAMPLE/`.
    fn export(
        &self,
        _: &FilterParams,
        ctx: &ExportContext<'_>,
    ) -> Result<Vec<PathBuf>, StageError> {
        let mut files = Vec::new();
        for port in ["props", "removed"] {
            let path = ctx.path(&format!("{port}.csv"));
            Table::read(&ctx.entry.group(port)?)?.to_csv(&path)?;
            files.push(path);
        }
        files.extend(export_entry(ctx, "instances")?);
        Ok(files)
    }
}

/// The NanoSIMS field from the `transform` and `ions` inputs (both or neither), checked against
/// the instances' image.
fn read_field(
    ctx: &RunContext<'_>,
    instances: &Instances,
) -> Result<Option<NanosimsField>, StageError> {
    match (ctx.has_input("transform"), ctx.has_input("ions")) {
        (false, false) => return Ok(None),
        (true, true) => {}
        (has_t, _) => {
            let (given, missing) = if has_t {
                ("transform", "ions")
            } else {
                ("ions", "transform")
            };
            return Err(StageError::input(format!(
                "the '{given}' input is wired but '{missing}' is not: the NanoSIMS field needs \
                 both"
            )));
        }
    }
    let t = Transform2D::read(&ctx.input_group("transform")?)?;
    let (height, width, ions_px) = IonStack::read_raster(&ctx.input_group("ions")?)?;
    t.check_pixel_sizes(instances.pixel_size_nm, ions_px)?;
    Ok(Some(NanosimsField {
        em_to_nanosims: t,
        height,
        width,
    }))
}

/// Carry the input's image name and display image (written by the segmentation stages for their
/// exports) to the output group; without a display image in the input, make one from `em`.
fn copy_export_info(
    from: &corrflow_stage::hdf5::Group,
    to: &corrflow_stage::hdf5::Group,
    em: Option<&EmImage>,
) -> Result<(), StageError> {
    let name = h5::get_str(from, IMAGE_NAME_ATTR)
        .ok()
        .or_else(|| em.map(|e| corrflow_segment::import::image_file_name(&e.source).to_string()));
    let Some(name) = name else {
        return Ok(());
    };
    let gray: Option<Array2<u8>> = if from.link_exists(DISPLAY_DATASET) {
        Some(from.dataset(DISPLAY_DATASET)?.read_2d()?)
    } else {
        em.map(|e| to_u8_display(e.data.view()))
    };
    write_export_info(to, &name, gray.as_ref().map(|g| g.view()))
}

/// One row per removed instance.
fn removed_table(instances: &Instances, f: &Filtered) -> Result<Table, StageError> {
    let r = &f.removed;
    let inst = |i: usize| &instances.instances[i];
    let class = |i: usize| {
        instances
            .class_names
            .get(inst(i).class_id as usize)
            .cloned()
            .unwrap_or_default()
    };
    let f64s = |v: &dyn Fn(&crate::rules::Removal) -> f64| Column::F64(r.iter().map(v).collect());
    Table::new(vec![
        TableColumn::new(
            "input_instance",
            Column::I64(r.iter().map(|x| x.index as i64).collect()),
        ),
        TableColumn::new(
            "class_id",
            Column::I64(
                r.iter()
                    .map(|x| i64::from(inst(x.index).class_id))
                    .collect(),
            ),
        ),
        TableColumn::new(
            "class",
            Column::Text(r.iter().map(|x| class(x.index)).collect()),
        ),
        TableColumn::new("score", f64s(&|x| f64::from(inst(x.index).score))),
        TableColumn::new("area_um2", f64s(&|x| x.area_um2)).with_units("µm²"),
        TableColumn::new(
            "rule",
            Column::Text(r.iter().map(|x| x.rule.clone()).collect()),
        ),
        TableColumn::new(
            "rule_index",
            Column::I64(
                r.iter()
                    .map(|x| x.rule_index.map_or(-1, |i| i as i64))
                    .collect(),
            ),
        ),
        TableColumn::new("value", f64s(&|x| x.value)),
        TableColumn::new("threshold", f64s(&|x| x.threshold)),
        TableColumn::new(
            "reason",
            Column::Text(r.iter().map(|x| x.reason.clone()).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_stage::{InputBinding, Stage};
    use corrflow_types::{Instance, Mask};
    use serde_json::json;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn rect(class_id: u32, score: f32, x0: usize, y0: usize, h: usize, w: usize) -> Instance {
        Instance {
            class_id,
            score,
            bbox: [x0 as f32, y0 as f32, (x0 + w) as f32, (y0 + h) as f32],
            mask: Mask::new(x0, y0, Array2::from_elem((h, w), true)),
        }
    }

    /// An entry with `instances` (40×50 px at 10 nm: 1 px = 1e-4 µm²) and `image`.
    fn setup(dir: &Path) -> PathBuf {
        let insts = vec![
            rect(0, 0.9, 5, 5, 10, 10),   // 0.01 µm², mito
            rect(0, 0.8, 30, 5, 3, 3),    // 0.0009 µm², too small
            rect(1, 0.7, 0, 20, 10, 10),  // er on the border
            rect(1, 0.6, 20, 25, 10, 10), // er
        ];
        let inst = Instances::new(40, 50, 10.0, vec!["mito".into(), "er".into()], insts).unwrap();
        let path = dir.join("in.h5");
        let f = h5::create_file(&path).unwrap();
        inst.write(&f.create_group("instances").unwrap()).unwrap();
        let data = Array2::from_shape_fn((40, 50), |(r, c)| (r * 50 + c) as f32);
        EmImage::new(data, 10.0, "s1.tif after pre")
            .unwrap()
            .write(&f.create_group("image").unwrap())
            .unwrap();
        f.close().unwrap();
        path
    }

    /// Run the stage as the engine does: the entry path or the error message, and warnings.
    fn run(
        dir: &Path,
        input: &Path,
        params: serde_json::Value,
        image: bool,
    ) -> Result<(PathBuf, Vec<String>), String> {
        let entry = |g: &str| InputBinding::Entry {
            file: input.to_path_buf(),
            group: g.into(),
        };
        let mut inputs = BTreeMap::from([("instances".to_string(), entry("instances"))]);
        if image {
            inputs.insert("image".into(), entry("image"));
        }
        let out = dir.join(format!("out{}.h5", u8::from(image)));
        let warnings =
            corrflow_stage::run_once(&FilterMorphology, &params, "filt", "s1", &inputs, &out)?;
        Ok((out, warnings))
    }

    /// Add `transform` (EM 10 nm → NanoSIMS 40 nm: u = x/4, v = y/4 − 2) and `ions` (10×12 px,
    /// 40 nm) to the entry: the field covers EM x ∈ [−2, 46), y ∈ [6, 46).
    fn add_field(input: &Path, ions_raster_nm: f64) {
        let f = corrflow_stage::hdf5::File::append(input).unwrap();
        let t = Transform2D::new(
            [[0.25, 0.0, 0.0], [0.0, 0.25, -2.0], [0.0, 0.0, 1.0]],
            corrflow_types::TransformKind::Similarity,
            "em",
            10.0,
            "nanosims",
            40.0,
            "test",
        )
        .unwrap();
        t.write(&f.create_group("transform").unwrap()).unwrap();
        let counts = ndarray::Array4::<f32>::zeros((1, 1, 10, 12));
        let masses = vec![corrflow_types::MassInfo::new("12C14N", 26.0, 1, 44.0)];
        IonStack::new(counts, masses, ions_raster_nm, 1e-3, "t.im")
            .unwrap()
            .write(&f.create_group("ions").unwrap())
            .unwrap();
    }

    fn run_with_field(
        dir: &Path,
        input: &Path,
        params: serde_json::Value,
        ports: &[&str],
    ) -> Result<PathBuf, String> {
        let entry = |g: &str| InputBinding::Entry {
            file: input.to_path_buf(),
            group: g.into(),
        };
        let inputs = ["instances"]
            .iter()
            .chain(ports)
            .map(|p| (p.to_string(), entry(p)))
            .collect();
        let out = dir.join("field.h5");
        corrflow_stage::run_once(&FilterMorphology, &params, "filt", "s1", &inputs, &out)?;
        Ok(out)
    }

    #[test]
    fn removes_instances_outside_the_nanosims_field() {
        let dir = tempfile::tempdir().unwrap();
        let input = setup(dir.path());
        add_field(&input, 480.0);
        let params = json!({"rules": [{"min_inside_field": 0.95}]});
        let out =
            run_with_field(dir.path(), &input, params.clone(), &["transform", "ions"]).unwrap();
        let f = h5::open_file(&out).unwrap();
        let removed = Table::read(&f.group("removed").unwrap()).unwrap();
        let col = |n: &str| removed.column(n).unwrap().values.clone();
        // Instance 0 (rows 5..15) has row 5 outside: 90 %; instance 1 (rows 5..8): 6/9.
        assert_eq!(col("input_instance"), Column::I64(vec![0, 1]));
        assert_eq!(
            col("rule"),
            Column::Text(vec!["min_inside_field".into(), "min_inside_field".into()])
        );
        assert_eq!(
            col("reason"),
            Column::Text(vec![
                "inside_field 0.9 < min_inside_field 0.95".into(),
                "inside_field 0.666667 < min_inside_field 0.95".into()
            ])
        );
        let props = Table::read(&f.group("props").unwrap()).unwrap();
        assert_eq!(
            props.column("inside_field").unwrap().values,
            Column::F64(vec![1.0, 1.0])
        );

        // The rule makes both field inputs required when the pipeline is checked.
        let typed: FilterParams = serde_json::from_value(params.clone()).unwrap();
        let ports = TypedStage::ports(&FilterMorphology, &typed);
        for name in ["transform", "ions"] {
            let port = ports.inputs.iter().find(|p| p.name == name).unwrap();
            assert!(!port.optional, "{name}");
        }
        let e = run_with_field(dir.path(), &input, params.clone(), &["transform"]).unwrap_err();
        assert!(
            e.contains("'transform' input is wired but 'ions' is not"),
            "{e}"
        );
        let e = run_with_field(dir.path(), &input, params, &[]).unwrap_err();
        assert!(
            e.contains("rules[0].min_inside_field needs the NanoSIMS field"),
            "{e}"
        );
    }

    #[test]
    fn refuses_a_transform_made_for_other_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let input = setup(dir.path());
        add_field(&input, 600.0); // 50 nm NanoSIMS pixels, the transform says 40
        let params = json!({"rules": [{"min_inside_field": 1.0}]});
        let e = run_with_field(dir.path(), &input, params, &["transform", "ions"]).unwrap_err();
        assert!(
            e.contains("the transform maps to 40 nm pixels but the ion stack has 50 nm pixels"),
            "{e}"
        );
    }

    #[test]
    fn filters_measures_and_exports() {
        let dir = tempfile::tempdir().unwrap();
        let input = setup(dir.path());
        let params = json!({
            "rules": [
                {"min_area_um2": 0.001},
                {"classes": ["er"], "drop_border": true}
            ],
            "resolve_overlaps": "score"
        });
        let (out, warnings) = run(dir.path(), &input, params.clone(), true).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let f = h5::open_file(&out).unwrap();
        let kept = Instances::read(&f.group("instances").unwrap()).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept.class_names, ["mito", "er"]);
        assert_eq!(kept.instances[1].score, 0.6);
        let props = Table::read(&f.group("props").unwrap()).unwrap();
        assert_eq!(props.n_rows(), 2);
        assert_eq!(
            props.column("input_instance").unwrap().values,
            Column::I64(vec![0, 3])
        );
        assert_eq!(
            props.column("instance").unwrap().values,
            Column::I64(vec![0, 1])
        );
        // Mean intensity of rows 5..15, columns 5..15 of r·50 + c: 9.5·50 + 9.5 = 484.5.
        let Column::F64(mean) = &props.column("mean_intensity").unwrap().values else {
            panic!()
        };
        assert!((mean[0] - 484.5).abs() < 1e-9, "{mean:?}");
        let removed = Table::read(&f.group("removed").unwrap()).unwrap();
        assert_eq!(removed.n_rows(), 2);
        let col = |n: &str| removed.column(n).unwrap().values.clone();
        assert_eq!(col("input_instance"), Column::I64(vec![1, 2]));
        assert_eq!(col("class"), Column::Text(vec!["mito".into(), "er".into()]));
        assert_eq!(
            col("rule"),
            Column::Text(vec!["min_area_um2".into(), "drop_border".into()])
        );
        assert_eq!(col("rule_index"), Column::I64(vec![0, 1]));
        assert_eq!(
            col("reason"),
            Column::Text(vec![
                "area_um2 0.0009 < min_area_um2 0.001".into(),
                "touches the image border".into()
            ])
        );
        // Export as the engine does.
        let results = dir.path().join("results");
        std::fs::create_dir_all(&results).unwrap();
        let ectx = ExportContext {
            node: "filt",
            sample: None,
            entry: &f,
            dir: &results,
        };
        let files = Stage::export(&FilterMorphology, &params, &ectx).unwrap();
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "filt.props.csv",
                "filt.removed.csv",
                "filt.labels.tif",
                "filt.instances.json",
                "filt.overlay.png"
            ]
        );
        let csv = std::fs::read_to_string(&files[1]).unwrap();
        assert!(
            csv.starts_with("input_instance,class_id,class,score,area_um2,rule,"),
            "{csv}"
        );
        assert!(
            csv.contains("area_um2 0.0009 < min_area_um2 0.001"),
            "{csv}"
        );
        let json_text = std::fs::read_to_string(&files[3]).unwrap();
        assert!(json_text.contains("\"image\":\"s1.tif\""), "{json_text}");

        // Without the image: no mean intensity, no overlay; nothing removed without rules.
        let (out, _) = run(dir.path(), &input, json!({}), false).unwrap();
        let f = h5::open_file(&out).unwrap();
        assert_eq!(
            Instances::read(&f.group("instances").unwrap())
                .unwrap()
                .len(),
            4
        );
        let props = Table::read(&f.group("props").unwrap()).unwrap();
        assert!(props.column("mean_intensity").is_none());
        assert_eq!(
            Table::read(&f.group("removed").unwrap()).unwrap().n_rows(),
            0
        );
        let ectx = ExportContext {
            node: "filt",
            sample: None,
            entry: &f,
            dir: &results,
        };
        let files = Stage::export(&FilterMorphology, &json!({}), &ectx).unwrap();
        assert_eq!(files.len(), 4);
    }

    #[test]
    fn everything_removed_warns() {
        let dir = tempfile::tempdir().unwrap();
        let input = setup(dir.path());
        let (out, warnings) = run(
            dir.path(),
            &input,
            json!({"rules": [{"min_area_um2": 1.0}]}),
            false,
        )
        .unwrap();
        assert_eq!(warnings, ["every one of the 4 instances was removed"]);
        let f = h5::open_file(&out).unwrap();
        assert!(
            Instances::read(&f.group("instances").unwrap())
                .unwrap()
                .is_empty()
        );
        assert_eq!(Table::read(&f.group("props").unwrap()).unwrap().n_rows(), 0);
    }

    #[test]
    fn params_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let input = setup(dir.path());
        let stage = FilterMorphology;
        let err = |v: serde_json::Value| Stage::canonical_params(&stage, &v).unwrap_err();
        let e = err(json!({"rules": [{}, {"min_area_um2": -1}]}));
        assert_eq!(e.path, "rules[1].min_area_um2");
        let e = err(json!({"rules": [{"min_area_um2": 2, "max_area_um2": 1}]}));
        assert_eq!(e.path, "rules[0].min_area_um2");
        let e = err(json!({"rules": [{"min_area": 2}]}));
        assert!(e.message.contains("unknown field"), "{e}");
        let e = err(json!({"resolve_overlaps": "area"}));
        assert_eq!(e.path, "resolve_overlaps");
        let canon = Stage::canonical_params(&stage, &json!({})).unwrap();
        assert_eq!(canon["resolve_overlaps"], "none");
        let schema = serde_json::to_string(&Stage::params_schema(&stage)).unwrap();
        assert!(
            schema.contains("opening_nm") && schema.contains("µm²"),
            "{schema}"
        );
        // Unknown class names are found when the stage runs.
        let e = run(
            dir.path(),
            &input,
            json!({"rules": [{"classes": ["golgi"], "min_area_um2": 0.1}]}),
            false,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "rules[0].classes: unknown class 'golgi'; the instances' classes are [\"mito\", \"er\"]"
        );
    }

    #[test]
    fn plugin_registers_the_stage() {
        let mut registry = corrflow_stage::Registry::default();
        corrflow_stage::Plugin::build(&crate::FilterPlugin, &mut registry);
        assert!(registry.get("filter.morphology").is_some());
    }
}
