//! Predictions: a COCO results list, matched to the truth's images and categories.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use corrflow_types::coco::{Rle, rle_from_polygon};
use serde_json::Value;

use crate::error::EvalError;
use crate::segmentation::segmentation_to_rle;
use crate::truth::{Truth, TruthImage, base_name, read_json};

/// One detection, resolved to the truth's image and category ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    pub image_id: i64,
    pub category_id: i64,
    pub score: f64,
    /// The area that selects the area range, as pycocotools' `COCO.loadRes` sets it: the box's
    /// w·h when the results carry boxes (decided by the first entry), else the mask's pixel count.
    pub area: f64,
    /// The mask, on its image's shape.
    pub mask: Rle,
}

/// How to treat predictions the truth cannot place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PredictionOptions {
    /// Skip predictions for images or categories not in the truth (pycocotools skips unknown
    /// categories silently but refuses unknown images) instead of failing.
    pub ignore_unknown: bool,
}

/// The predictions of an evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Predictions {
    /// In file order (which breaks score ties, as in pycocotools).
    pub detections: Vec<Detection>,
    /// Whether areas are box areas (the first entry has a non-empty `bbox`).
    pub area_from_bbox: bool,
    /// What was skipped.
    pub notes: Vec<String>,
}

/// Read a COCO results file (a JSON list of detections) and match it to `truth`.
pub fn load_predictions(
    path: &Path,
    truth: &Truth,
    opts: PredictionOptions,
) -> Result<Predictions, EvalError> {
    let v = read_json(path)?;
    predictions_from_value(&v, path, truth, opts)
}

/// Match a parsed COCO results list to `truth` (`origin` names it in errors).
///
/// Each entry needs a `score`, a `segmentation` (compressed or uncompressed RLE, or polygons; a
/// results file with boxes may leave it out, and the box is then the mask, as in pycocotools),
/// an image and a category:
/// * image: `image` (a file name, e.g. `"s01.tif"` or a path) matched by base name to the
///   truth's file names, else `image_id` matched to the truth's image ids;
/// * category: `category_name` matched to the truth's category names, else `category_id`
///   matched to its ids.
///
/// Entries for images or categories the truth does not have are an error naming them, or
/// skipped (and noted) with [`PredictionOptions::ignore_unknown`].
pub fn predictions_from_value(
    v: &Value,
    origin: &Path,
    truth: &Truth,
    opts: PredictionOptions,
) -> Result<Predictions, EvalError> {
    let entries = v.as_array().ok_or_else(|| {
        EvalError::invalid(
            origin,
            "not a COCO results file: expected a JSON list of detections",
        )
    })?;
    let by_id: HashMap<i64, &TruthImage> = truth.images.iter().map(|im| (im.id, im)).collect();
    let mut by_name: HashMap<String, Vec<&TruthImage>> = HashMap::new();
    for im in &truth.images {
        if let Some(f) = &im.file_name {
            by_name.entry(base_name(f)).or_default().push(im);
        }
    }
    let area_from_bbox = entries
        .first()
        .and_then(|e| e.get("bbox"))
        .and_then(Value::as_array)
        .is_some_and(|b| !b.is_empty());

    let mut out = Predictions {
        area_from_bbox,
        ..Predictions::default()
    };
    let (mut unknown_images, mut unknown_cats) = (BTreeSet::new(), BTreeSet::new());
    let (mut n_unknown_image, mut n_unknown_cat) = (0usize, 0usize);
    for (i, e) in entries.iter().enumerate() {
        let at = |m: String| EvalError::invalid(origin, format!("entry {i}: {m}"));
        if !e.is_object() {
            return Err(at("not a JSON object".into()));
        }
        // The image.
        let image_id = match e.get("image_id") {
            None | Some(Value::Null) => None,
            Some(x) => Some(
                x.as_i64()
                    .ok_or_else(|| at("\"image_id\" must be an integer".into()))?,
            ),
        };
        let name = e.get("image").and_then(Value::as_str);
        let image = match (name, image_id) {
            (Some(n), _) if !by_name.is_empty() => match by_name.get(&base_name(n)) {
                Some(ims) if ims.len() == 1 => Ok(ims[0]),
                Some(_) => {
                    return Err(at(format!(
                        "image '{n}': several truth images have the base name '{}'",
                        base_name(n)
                    )));
                }
                None => Err(format!("'{n}'")),
            },
            (_, Some(id)) => by_id.get(&id).copied().ok_or(format!("id {id}")),
            (Some(n), None) => {
                return Err(at(format!(
                    "image '{n}': the truth has no file names; give \"image_id\""
                )));
            }
            (None, None) => return Err(at("needs \"image\" (a file name) or \"image_id\"".into())),
        };
        let image = match image {
            Ok(im) => im,
            Err(label) => {
                n_unknown_image += 1;
                unknown_images.insert(label);
                continue;
            }
        };
        // The category.
        let category = match (
            e.get("category_name").and_then(Value::as_str),
            e.get("category_id"),
        ) {
            (Some(n), _) => {
                let mut named = truth.categories.iter().filter(|c| c.name == n);
                match (named.next(), named.next()) {
                    (Some(c), None) => Ok(c),
                    (Some(_), Some(_)) => {
                        return Err(at(format!(
                            "category '{n}': several truth categories have this name"
                        )));
                    }
                    (None, _) => Err(format!("'{n}'")),
                }
            }
            (None, Some(x)) => {
                let id = x
                    .as_i64()
                    .ok_or_else(|| at("\"category_id\" must be an integer".into()))?;
                truth
                    .categories
                    .iter()
                    .find(|c| c.id == id)
                    .ok_or(format!("id {id}"))
            }
            (None, None) => {
                return Err(at("needs \"category_name\" or \"category_id\"".into()));
            }
        };
        let category = match category {
            Ok(c) => c,
            Err(label) => {
                n_unknown_cat += 1;
                unknown_cats.insert(label);
                continue;
            }
        };
        let score = e
            .get("score")
            .and_then(Value::as_f64)
            .ok_or_else(|| at("needs a numeric \"score\"".into()))?;
        let bbox = if area_from_bbox {
            let b = e
                .get("bbox")
                .and_then(Value::as_array)
                .filter(|b| b.len() == 4)
                .and_then(|b| b.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                .ok_or_else(|| {
                    at(
                        "needs \"bbox\": [x, y, w, h] (the first entry has one, so all must)"
                            .into(),
                    )
                })?;
            Some([b[0], b[1], b[2], b[3]])
        } else {
            None
        };
        let (h, w) = (image.height, image.width);
        let mask = match (e.get("segmentation"), bbox) {
            (Some(seg), _) => segmentation_to_rle(seg, h, w).map_err(at)?,
            (None, Some([x, y, bw, bh])) => {
                let (x2, y2) = (x + bw, y + bh);
                Rle {
                    height: h,
                    width: w,
                    counts: rle_from_polygon(&[x, y, x, y2, x2, y2, x2, y], h, w),
                }
            }
            (None, None) => return Err(at("needs a \"segmentation\"".into())),
        };
        let area = match bbox {
            Some(b) => b[2] * b[3],
            None => mask.area() as f64,
        };
        out.detections.push(Detection {
            image_id: image.id,
            category_id: category.id,
            score,
            area,
            mask,
        });
    }
    let list = |s: &BTreeSet<String>| {
        let mut v: Vec<&str> = s.iter().map(String::as_str).take(10).collect();
        if s.len() > 10 {
            v.push("…");
        }
        v.join(", ")
    };
    if n_unknown_image > 0 {
        if !opts.ignore_unknown {
            return Err(EvalError::UnknownImages {
                path: origin.to_path_buf(),
                count: n_unknown_image,
                names: list(&unknown_images),
            });
        }
        out.notes.push(format!(
            "skipped {n_unknown_image} prediction(s) for images not in the truth: {}",
            list(&unknown_images)
        ));
    }
    if n_unknown_cat > 0 {
        if !opts.ignore_unknown {
            return Err(EvalError::UnknownCategories {
                path: origin.to_path_buf(),
                count: n_unknown_cat,
                names: list(&unknown_cats),
                known: truth
                    .categories
                    .iter()
                    .map(|c| format!("{} (id {})", c.name, c.id))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        out.notes.push(format!(
            "skipped {n_unknown_cat} prediction(s) of categories not in the truth: {}",
            list(&unknown_cats)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::{Category, TruthImage};
    use serde_json::json;

    fn truth() -> Truth {
        Truth {
            images: vec![
                TruthImage {
                    id: 7,
                    file_name: Some("em/s01.tif".into()),
                    height: 4,
                    width: 4,
                },
                TruthImage {
                    id: 8,
                    file_name: Some("em/s02.tif".into()),
                    height: 4,
                    width: 5,
                },
            ],
            categories: vec![Category {
                id: 2,
                name: "mitochondrion".into(),
            }],
            ..Truth::default()
        }
    }

    #[test]
    fn matches_by_name_then_id() {
        let v = json!([
            {"image": "out/s01.tif", "category_name": "mitochondrion", "score": 0.9,
             "bbox": [0, 0, 2, 3], "segmentation": {"size": [4, 4], "counts": "02208"}},
            {"image_id": 8, "category_id": 2, "score": 0.5, "bbox": [1, 1, 2, 2]}
        ]);
        let p =
            predictions_from_value(&v, Path::new("p.json"), &truth(), Default::default()).unwrap();
        assert!(p.area_from_bbox);
        assert_eq!(p.detections.len(), 2);
        assert_eq!(p.detections[0].image_id, 7);
        assert_eq!(p.detections[0].area, 6.0); // the box's, as pycocotools
        assert_eq!(p.detections[0].mask.area(), 4);
        assert_eq!(p.detections[1].image_id, 8);
        assert_eq!(p.detections[1].mask.area(), 4); // the box as mask
        // Without boxes the area is the mask's.
        let v = json!([{"image_id": 7, "category_id": 2, "score": 1,
                        "segmentation": {"size": [4, 4], "counts": [0, 2, 2, 2, 10]}}]);
        let p =
            predictions_from_value(&v, Path::new("p.json"), &truth(), Default::default()).unwrap();
        assert_eq!(p.detections[0].area, 4.0);
    }

    #[test]
    fn unknown_images_and_categories() {
        let seg = json!({"size": [4, 4], "counts": "02208"});
        let v = json!([
            {"image": "s09.tif", "category_name": "mitochondrion", "score": 0.9, "segmentation": seg},
            {"image": "s01.tif", "category_name": "golgi", "score": 0.9, "segmentation": seg},
            {"image": "s01.tif", "category_id": 2, "score": 0.9, "segmentation": seg}
        ]);
        let e = predictions_from_value(&v, Path::new("p.json"), &truth(), Default::default())
            .unwrap_err();
        assert!(matches!(e, EvalError::UnknownImages { count: 1, .. }));
        assert!(e.to_string().contains("'s09.tif'"), "{e}");
        let opts = PredictionOptions {
            ignore_unknown: true,
        };
        let p = predictions_from_value(&v, Path::new("p.json"), &truth(), opts).unwrap();
        assert_eq!(p.detections.len(), 1);
        assert_eq!(p.notes.len(), 2);
        let v = json!([v[1].clone()]);
        let e = predictions_from_value(&v, Path::new("p.json"), &truth(), Default::default())
            .unwrap_err();
        assert!(e.to_string().contains("'golgi'"), "{e}");
    }

    #[test]
    fn malformed_entries() {
        let t = truth();
        for bad in [
            json!({"image": "s01.tif"}),
            json!([1]),
            json!([{"category_id": 2, "score": 1, "segmentation": []}]),
            json!([{"image_id": 7, "score": 1, "segmentation": []}]),
            json!([{"image_id": 7, "category_id": 2, "segmentation": {"size": [4, 4], "counts": "02208"}}]),
            json!([{"image_id": 7, "category_id": 2, "score": 1}]),
            json!([{"image_id": 7, "category_id": 2, "score": 1,
                    "segmentation": {"size": [5, 4], "counts": "02208"}}]),
            json!([{"image_id": "7", "category_id": 2, "score": 1, "segmentation": []}]),
        ] {
            let e = predictions_from_value(&bad, Path::new("p.json"), &t, Default::default());
            assert!(e.is_err(), "{bad}");
            assert!(e.unwrap_err().to_string().starts_with("p.json"));
        }
    }
}
