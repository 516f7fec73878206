//! Ground truth: a COCO annotation file, or instance label images with a class per label
//! (a list of label images with a class table, or a `corrflow synth` study).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use corrflow_types::coco::Rle;
use ndarray::ArrayView2;
use serde_json::Value;

use crate::error::EvalError;
use crate::segmentation::segmentation_to_rle;

/// One image of the truth.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthImage {
    /// COCO image id.
    pub id: i64,
    /// File name (predictions are matched to it by base name); `None` if the truth has none.
    pub file_name: Option<String>,
    pub height: usize,
    pub width: usize,
}

/// One category.
#[derive(Debug, Clone, PartialEq)]
pub struct Category {
    /// COCO category id.
    pub id: i64,
    pub name: String,
}

/// One ground-truth instance.
#[derive(Debug, Clone, PartialEq)]
pub struct TruthAnnotation {
    /// COCO annotation id (pycocotools stores it as the match of a detection, so an id of 0
    /// makes a matched detection count as a false positive there, and here).
    pub id: i64,
    pub image_id: i64,
    pub category_id: i64,
    /// A crowd region: ignored in matching, and its IoU is |d ∩ g| / |d|.
    pub iscrowd: bool,
    /// The `area` that selects the area range (COCO's field; the pixel count for label truth).
    pub area: f64,
    /// The mask, on its image's shape.
    pub mask: Rle,
}

/// The ground truth of an evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    pub images: Vec<TruthImage>,
    pub categories: Vec<Category>,
    /// Annotations of known images and categories, in file (or label) order.
    pub annotations: Vec<TruthAnnotation>,
    /// What was skipped while reading (pycocotools ignores the same entries).
    pub notes: Vec<String>,
}

/// One instance label image: 0 is background, every other value one instance whose class
/// index (into the class names) `class_of` gives.
#[derive(Debug, Clone)]
pub struct LabelImage<'a> {
    /// The image's file name, which predictions are matched to (by base name).
    pub name: String,
    pub labels: ArrayView2<'a, u32>,
    pub class_of: &'a BTreeMap<u32, usize>,
}

impl Truth {
    /// Read a COCO ground-truth file (`images`, `annotations`, `categories`).
    pub fn from_coco_file(path: &Path) -> Result<Self, EvalError> {
        let v = read_json(path)?;
        Self::from_coco_value(&v, path)
    }

    /// A COCO ground truth from parsed JSON (`origin` names it in errors).
    ///
    /// Images need integer `id`, `height` and `width` (`file_name` optional); categories an
    /// integer `id` and a `name`; annotations an integer `id`, `image_id`, `category_id`, a
    /// `segmentation` (polygons or RLE), `iscrowd` (default 0) and `area` (default: the mask's
    /// pixel count; pycocotools requires it). Annotations of images or categories not listed are
    /// skipped (pycocotools never evaluates them) and noted. Duplicate image, category or
    /// annotation ids are errors.
    pub fn from_coco_value(v: &Value, origin: &Path) -> Result<Self, EvalError> {
        let err = |msg: String| EvalError::invalid(origin, msg);
        let images = v
            .get("images")
            .and_then(Value::as_array)
            .ok_or_else(|| err("no \"images\" list: not a COCO ground-truth file".into()))?;
        let mut truth = Truth::default();
        let mut shape_of = HashMap::new();
        for (i, im) in images.iter().enumerate() {
            let id = int_field(im, "id").map_err(|m| err(format!("images[{i}]: {m}")))?;
            let dim = |k: &str| {
                im.get(k)
                    .and_then(Value::as_u64)
                    .map(|x| x as usize)
                    .ok_or_else(|| err(format!("images[{i}] (id {id}): needs integer \"{k}\"")))
            };
            let (height, width) = (dim("height")?, dim("width")?);
            if shape_of.insert(id, (height, width)).is_some() {
                return Err(err(format!("image id {id} is listed twice")));
            }
            let file_name = im
                .get("file_name")
                .and_then(Value::as_str)
                .map(str::to_string);
            truth.images.push(TruthImage {
                id,
                file_name,
                height,
                width,
            });
        }
        for (i, c) in v
            .get("categories")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let id = int_field(c, "id").map_err(|m| err(format!("categories[{i}]: {m}")))?;
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| err(format!("categories[{i}] (id {id}): needs a \"name\"")))?;
            if truth.categories.iter().any(|k| k.id == id) {
                return Err(err(format!("category id {id} is listed twice")));
            }
            truth.categories.push(Category {
                id,
                name: name.to_string(),
            });
        }
        let cat_ids: HashSet<i64> = truth.categories.iter().map(|c| c.id).collect();
        let mut ann_ids = HashSet::new();
        let (mut unknown_image, mut unknown_cat) = (0usize, 0usize);
        for (i, a) in v
            .get("annotations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let at = |m: String| err(format!("annotations[{i}]: {m}"));
            let id = int_field(a, "id").map_err(at)?;
            if !ann_ids.insert(id) {
                return Err(err(format!("annotation id {id} is used twice")));
            }
            let image_id = int_field(a, "image_id").map_err(at)?;
            let category_id = int_field(a, "category_id").map_err(at)?;
            let Some(&(height, width)) = shape_of.get(&image_id) else {
                unknown_image += 1;
                continue;
            };
            if !cat_ids.contains(&category_id) {
                unknown_cat += 1;
                continue;
            }
            let seg = a
                .get("segmentation")
                .ok_or_else(|| at("needs a \"segmentation\"".into()))?;
            let mask = segmentation_to_rle(seg, height, width)
                .map_err(|m| at(format!("(id {id}): {m}")))?;
            let iscrowd = match a.get("iscrowd") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(x) => x.as_i64().map(|c| c != 0).ok_or_else(|| {
                    at(format!("(id {id}): \"iscrowd\" must be 0, 1 or a boolean"))
                })?,
            };
            let area = match a.get("area") {
                None | Some(Value::Null) => mask.area() as f64,
                Some(x) => x
                    .as_f64()
                    .ok_or_else(|| at(format!("(id {id}): \"area\" must be a number")))?,
            };
            truth.annotations.push(TruthAnnotation {
                id,
                image_id,
                category_id,
                iscrowd,
                area,
                mask,
            });
        }
        if unknown_image > 0 {
            truth.notes.push(format!(
                "{}: skipped {unknown_image} annotation(s) of images not in \"images\"",
                origin.display()
            ));
        }
        if unknown_cat > 0 {
            truth.notes.push(format!(
                "{}: skipped {unknown_cat} annotation(s) of categories not in \"categories\"",
                origin.display()
            ));
        }
        Ok(truth)
    }

    /// Truth from instance label images: image ids 1, 2, … in the given order, category ids
    /// 1, 2, … in the order of `class_names`, one annotation per label value (ids 1, 2, … by
    /// image, then label value), not crowd, with `area` = its pixel count.
    ///
    /// A label without a class, or with a class index out of range, is an error.
    pub fn from_label_images<'a>(
        images: impl IntoIterator<Item = LabelImage<'a>>,
        class_names: &[String],
    ) -> Result<Self, EvalError> {
        let mut truth = Truth {
            categories: class_names
                .iter()
                .enumerate()
                .map(|(i, n)| Category {
                    id: i as i64 + 1,
                    name: n.clone(),
                })
                .collect(),
            ..Truth::default()
        };
        for (i, im) in images.into_iter().enumerate() {
            let image_id = i as i64 + 1;
            let (height, width) = im.labels.dim();
            for (label, mask) in label_rles(im.labels) {
                let class = *im.class_of.get(&label).ok_or_else(|| {
                    EvalError::invalid(
                        &im.name,
                        format!("label {label} has no class in the class table"),
                    )
                })?;
                if class >= class_names.len() {
                    return Err(EvalError::invalid(
                        &im.name,
                        format!(
                            "label {label} has class index {class}, but there are {} classes",
                            class_names.len()
                        ),
                    ));
                }
                truth.annotations.push(TruthAnnotation {
                    id: truth.annotations.len() as i64 + 1,
                    image_id,
                    category_id: class as i64 + 1,
                    iscrowd: false,
                    area: mask.area() as f64,
                    mask,
                });
            }
            truth.images.push(TruthImage {
                id: image_id,
                file_name: Some(im.name),
                height,
                width,
            });
        }
        Ok(truth)
    }

    /// Truth from a CSV of `image,labels` pairs (paths relative to the CSV; labels 8/16/32-bit
    /// TIFF or PNG) and a class table `label,class` for all of them, as
    /// `corrflow export-dataset --list` takes (see `corrflow_dataset::read_class_table`).
    /// Predictions match an image by the base name of its `image` path.
    pub fn from_label_list(
        list: &Path,
        class_table: &Path,
        class_names: &[String],
    ) -> Result<Self, EvalError> {
        if class_names.is_empty() {
            return Err(EvalError::invalid(class_table, "no class names given"));
        }
        let class_of = corrflow_dataset::read_class_table(class_table, class_names)?;
        let base = list.parent().unwrap_or(Path::new("."));
        let mut loaded = Vec::new();
        for rec in read_csv(list)? {
            let (Some(image), Some(labels)) = (rec.get("image"), rec.get("labels")) else {
                return Err(EvalError::invalid(list, "needs columns image and labels"));
            };
            let raster = corrflow_io_em::read_labels_u32(&base.join(labels), None)?;
            loaded.push((base_name(image), raster.data));
        }
        Self::from_label_images(
            loaded.iter().map(|(name, labels)| LabelImage {
                name: name.clone(),
                labels: labels.view(),
                class_of: &class_of,
            }),
            class_names,
        )
    }

    /// Truth of a study written by `corrflow synth`: `DIR/samples.csv` (columns `id`, `em`),
    /// `DIR/truth/ID_labels.tif` and `DIR/truth/ID.json`, whose `organelles` list gives each
    /// label's class (`corrflow_dataset::SYNTH_CLASSES`). Images are named by the base name of
    /// their `em` file.
    pub fn from_synth(dir: &Path) -> Result<Self, EvalError> {
        let classes: Vec<String> = corrflow_dataset::SYNTH_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect();
        let table = dir.join("samples.csv");
        let mut loaded = Vec::new();
        for rec in read_csv(&table)? {
            let (Some(id), Some(em)) = (rec.get("id"), rec.get("em")) else {
                return Err(EvalError::invalid(&table, "needs columns id and em"));
            };
            let meta_path = dir.join("truth").join(format!("{id}.json"));
            let meta = read_json(&meta_path)?;
            let organelles = meta
                .get("organelles")
                .and_then(Value::as_array)
                .ok_or_else(|| EvalError::invalid(&meta_path, "no \"organelles\" list"))?;
            let mut class_of = BTreeMap::new();
            for o in organelles {
                let (Some(oid), Some(class)) = (
                    o.get("id").and_then(Value::as_u64),
                    o.get("class").and_then(Value::as_str),
                ) else {
                    return Err(EvalError::invalid(
                        &meta_path,
                        "each organelle needs an integer \"id\" and a \"class\"",
                    ));
                };
                let c = classes.iter().position(|k| k == class).ok_or_else(|| {
                    EvalError::invalid(&meta_path, format!("unknown class '{class}'"))
                })?;
                let oid = u32::try_from(oid).map_err(|_| {
                    EvalError::invalid(&meta_path, format!("organelle id {oid} is not a u32"))
                })?;
                class_of.insert(oid, c);
            }
            let labels_path = dir.join("truth").join(format!("{id}_labels.tif"));
            let raster = corrflow_io_em::read_labels_u32(&labels_path, None)?;
            loaded.push((base_name(em), raster.data, class_of));
        }
        Self::from_label_images(
            loaded.iter().map(|(name, labels, class_of)| LabelImage {
                name: name.clone(),
                labels: labels.view(),
                class_of,
            }),
            &classes,
        )
    }

    /// The first category named `name`.
    pub fn category_by_name(&self, name: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.name == name)
    }
}

/// The run-length mask of every non-zero label, in ascending label order, each as
/// pycocotools' `encode` writes it (column-major runs starting with 0s, no empty last run).
pub fn label_rles(labels: ArrayView2<'_, u32>) -> Vec<(u32, Rle)> {
    struct Runs {
        counts: Vec<u64>,
        end: u64,
    }
    let (height, width) = labels.dim();
    let total = (height * width) as u64;
    let mut index: HashMap<u32, usize> = HashMap::new();
    let mut runs: Vec<(u32, Runs)> = Vec::new();
    let mut prev: Option<(u32, usize)> = None;
    // Column-major order: the transposed view's rows are the columns.
    for (p, &l) in labels.t().iter().enumerate() {
        let p = p as u64;
        if l == 0 {
            prev = None;
            continue;
        }
        let i = match prev {
            Some((pl, pi)) if pl == l => pi,
            _ => *index.entry(l).or_insert_with(|| {
                runs.push((
                    l,
                    Runs {
                        counts: Vec::new(),
                        end: 0,
                    },
                ));
                runs.len() - 1
            }),
        };
        let r = &mut runs[i].1;
        match r.counts.last_mut() {
            Some(last) if r.end == p => *last += 1,
            _ => {
                r.counts.push(p - r.end);
                r.counts.push(1);
            }
        }
        r.end = p + 1;
        prev = Some((l, i));
    }
    let mut out: Vec<(u32, Rle)> = runs
        .into_iter()
        .map(|(l, mut r)| {
            if r.end < total {
                r.counts.push(total - r.end);
            }
            (
                l,
                Rle {
                    height,
                    width,
                    counts: r.counts,
                },
            )
        })
        .collect();
    out.sort_by_key(|(l, _)| *l);
    out
}

/// The base name of a path written with `/` or `\` separators.
pub fn base_name(path: &str) -> String {
    path.rsplit(['/', '\\']).next().unwrap_or(path).to_string()
}

pub(crate) fn read_json(path: &Path) -> Result<Value, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| EvalError::Json {
        path: path.to_path_buf(),
        source,
    })
}

fn read_csv(path: &Path) -> Result<Vec<BTreeMap<String, String>>, EvalError> {
    let csv_err = |source| EvalError::Csv {
        path: PathBuf::from(path),
        source,
    };
    let mut rdr = csv::Reader::from_path(path).map_err(csv_err)?;
    rdr.deserialize::<BTreeMap<String, String>>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(csv_err)
}

/// An integer field (pycocotools ids); floats such as `3.0` are not ids.
fn int_field(v: &Value, key: &str) -> Result<i64, String> {
    v.get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| format!("needs an integer \"{key}\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_types::coco::rle_counts;
    use ndarray::{Array2, array};
    use serde_json::json;

    #[test]
    fn label_runs_equal_mask_encoding() {
        let labels: Array2<u32> = array![[0, 1, 1, 2], [3, 1, 0, 2], [3, 3, 0, 2]];
        let rles = label_rles(labels.view());
        assert_eq!(rles.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2, 3]);
        for (l, r) in &rles {
            let mask = labels.mapv(|v| v == *l);
            assert_eq!(r.counts, rle_counts(mask.view()), "label {l}");
        }
        // A label filling the end of the image, and one filling all of it.
        let full = Array2::from_elem((2, 3), 7u32);
        assert_eq!(label_rles(full.view())[0].1.counts, vec![0, 6]);
        assert!(label_rles(Array2::zeros((2, 2)).view()).is_empty());
    }

    #[test]
    fn coco_truth_reads_and_skips() {
        let v = json!({
            "images": [{"id": 3, "file_name": "a/b.tif", "height": 4, "width": 4}],
            "categories": [{"id": 5, "name": "er"}],
            "annotations": [
                {"id": 1, "image_id": 3, "category_id": 5, "iscrowd": 0, "area": 4.0,
                 "segmentation": [[0, 0, 0, 2, 2, 2, 2, 0]]},
                {"id": 2, "image_id": 3, "category_id": 5, "iscrowd": true,
                 "segmentation": {"size": [4, 4], "counts": "02208"}},
                {"id": 3, "image_id": 9, "category_id": 5, "segmentation": []},
                {"id": 4, "image_id": 3, "category_id": 6, "segmentation": []}
            ]
        });
        let t = Truth::from_coco_value(&v, Path::new("gt.json")).unwrap();
        assert_eq!(t.annotations.len(), 2);
        assert!(t.annotations[1].iscrowd);
        assert_eq!(t.annotations[1].area, 4.0);
        assert_eq!(t.notes.len(), 2);
        assert_eq!(t.category_by_name("er").map(|c| c.id), Some(5));
        let dup = json!({"images": [{"id": 1, "height": 1, "width": 1},
                                    {"id": 1, "height": 1, "width": 1}]});
        let e = Truth::from_coco_value(&dup, Path::new("gt.json")).unwrap_err();
        assert!(e.to_string().contains("gt.json"), "{e}");
        assert!(Truth::from_coco_value(&json!([]), Path::new("gt.json")).is_err());
    }

    #[test]
    fn label_truth_ids_and_classes() {
        let labels: Array2<u32> = array![[0, 1], [2, 2]];
        let class_of = BTreeMap::from([(1, 1), (2, 0)]);
        let names = vec!["nucleus".to_string(), "er".to_string()];
        let im = || LabelImage {
            name: "s1.tif".into(),
            labels: labels.view(),
            class_of: &class_of,
        };
        let t = Truth::from_label_images([im(), im()], &names).unwrap();
        assert_eq!(t.images.len(), 2);
        assert_eq!(t.annotations.len(), 4);
        assert_eq!(t.annotations[0].category_id, 2);
        assert_eq!(t.annotations[1].area, 2.0);
        assert_eq!(t.annotations[3].image_id, 2);
        let missing = BTreeMap::from([(1, 0)]);
        let e = Truth::from_label_images(
            [LabelImage {
                name: "s1.tif".into(),
                labels: labels.view(),
                class_of: &missing,
            }],
            &names,
        )
        .unwrap_err();
        assert!(e.to_string().contains("label 2"), "{e}");
        assert_eq!(base_name("x/y\\z.tif"), "z.tif");
    }
}
