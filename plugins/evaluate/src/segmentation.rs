//! COCO `segmentation` values (polygons, compressed or uncompressed RLE) as masks, the way
//! pycocotools' `COCO.annToRLE` and `mask.frPyObjects` read them.

use corrflow_types::coco::{Rle, rle_from_bbox, rle_from_polygon, rle_from_string, rle_merge};
use serde_json::Value;

/// Largest polygon coordinate magnitude accepted (pycocotools walks every upsampled step of an
/// edge, so absurd coordinates would take minutes and gigabytes).
pub const MAX_POLYGON_COORD: f64 = 1e6;

/// The mask of a COCO `segmentation` on an image of `height` × `width`:
///
/// * a list of polygons `[[x0, y0, x1, y1, …], …]`: each rasterised by pycocotools' `rleFrPoly`
///   and their union taken (`rleMerge`). As in `frPyObjects`, when the *first* list has exactly
///   4 numbers every list is read as a box `[x, y, w, h]` instead;
/// * a list of RLE objects: their union;
/// * `{"size": [h, w], "counts": "…"}` (compressed) or `{"size": [h, w], "counts": [..]}`
///   (uncompressed): the runs as given; the size must be the image's and the runs must add up
///   to h·w (pycocotools would compare such masks as IoU −1 or read past them).
pub fn segmentation_to_rle(seg: &Value, height: usize, width: usize) -> Result<Rle, String> {
    let counts = match seg {
        Value::Array(items) => {
            let Some(first) = items.first() else {
                return Err("segmentation is an empty list".into());
            };
            match first {
                Value::Array(f) if f.len() == 4 => {
                    let boxes = items
                        .iter()
                        .map(|p| {
                            let v = numbers(p)?;
                            let bb: [f64; 4] = v.as_slice().try_into().map_err(|_| {
                                "segmentation mixes boxes (4 numbers) and polygons".to_string()
                            })?;
                            Ok(rle_from_bbox(bb, height, width))
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    rle_merge(&boxes, false)
                }
                Value::Array(f) if f.len() > 4 => {
                    let polys = items
                        .iter()
                        .map(|p| {
                            let xy = numbers(p)?;
                            if xy.len() < 2 {
                                return Err(format!(
                                    "polygon with {} coordinate(s); at least one point (x, y) is needed",
                                    xy.len()
                                ));
                            }
                            Ok(rle_from_polygon(&xy, height, width))
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    rle_merge(&polys, false)
                }
                Value::Object(_) => {
                    let parts = items
                        .iter()
                        .map(|r| rle_object(r, height, width))
                        .collect::<Result<Vec<_>, String>>()?;
                    rle_merge(&parts, false)
                }
                _ => {
                    return Err(
                        "segmentation must be a list of polygons (lists of at least 6 numbers), a list of RLEs or an RLE object".into(),
                    );
                }
            }
        }
        Value::Object(_) => rle_object(seg, height, width)?,
        _ => return Err("segmentation must be a list of polygons or an RLE object".into()),
    };
    Ok(Rle {
        height,
        width,
        counts,
    })
}

/// The runs of an RLE object `{"size": [h, w], "counts": …}` checked against the image shape.
fn rle_object(v: &Value, height: usize, width: usize) -> Result<Vec<u64>, String> {
    let size = v
        .get("size")
        .and_then(Value::as_array)
        .filter(|s| s.len() == 2)
        .and_then(|s| Some((s[0].as_u64()?, s[1].as_u64()?)))
        .ok_or("RLE needs \"size\": [height, width]")?;
    if size != (height as u64, width as u64) {
        return Err(format!(
            "RLE size {}×{} differs from the image's {height}×{width}",
            size.0, size.1
        ));
    }
    let counts = match v.get("counts") {
        Some(Value::String(s)) => {
            rle_from_string(s).ok_or("RLE \"counts\" is not a valid compressed COCO string")?
        }
        Some(Value::Array(c)) => c
            .iter()
            .map(|x| {
                x.as_u64()
                    .ok_or("RLE \"counts\" must be non-negative integers")
            })
            .collect::<Result<Vec<u64>, _>>()?,
        _ => return Err("RLE needs \"counts\" (a string or a list of integers)".into()),
    };
    let total: u64 = counts.iter().sum();
    if total != (height * width) as u64 {
        return Err(format!(
            "RLE runs add up to {total} pixels, not {height}×{width} = {}",
            height * width
        ));
    }
    Ok(counts)
}

/// A list of finite numbers within ±[`MAX_POLYGON_COORD`].
fn numbers(v: &Value) -> Result<Vec<f64>, String> {
    let items = v
        .as_array()
        .ok_or("polygon must be a list of numbers [x0, y0, x1, y1, …]")?;
    items
        .iter()
        .map(|x| {
            let f = x.as_f64().ok_or("polygon coordinates must be numbers")?;
            if f.abs() > MAX_POLYGON_COORD {
                return Err(format!(
                    "polygon coordinate {f} is beyond ±{MAX_POLYGON_COORD}"
                ));
            }
            Ok(f)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use corrflow_types::coco::rle_to_string;
    use serde_json::json;

    #[test]
    fn forms_of_segmentation() {
        // Two 2×2 squares, as polygons: their union (checked with pycocotools: "02210O3").
        let polys = json!([[0, 0, 0, 2, 2, 2, 2, 0], [1, 1, 1, 3, 3, 3, 3, 1]]);
        let r = segmentation_to_rle(&polys, 4, 4).unwrap();
        assert_eq!(rle_to_string(&r.counts), "02210O3");
        // Four numbers first: boxes.
        let boxes = json!([[0, 0, 2, 2]]);
        assert_eq!(
            rle_to_string(&segmentation_to_rle(&boxes, 4, 4).unwrap().counts),
            "02208"
        );
        let compressed = json!({"size": [4, 4], "counts": "02208"});
        assert_eq!(
            segmentation_to_rle(&compressed, 4, 4).unwrap().counts,
            vec![0, 2, 2, 2, 10]
        );
        let plain = json!({"size": [4, 4], "counts": [0, 2, 2, 2, 10]});
        assert_eq!(segmentation_to_rle(&plain, 4, 4).unwrap().area(), 4);
        let list = json!([plain, {"size": [4, 4], "counts": [15, 1]}]);
        assert_eq!(segmentation_to_rle(&list, 4, 4).unwrap().area(), 5);
    }

    #[test]
    fn malformed_segmentations_are_errors() {
        for bad in [
            json!([]),
            json!([1, 2, 3, 4, 5, 6]),
            json!([[0, 0, 1]]),
            json!([[0, 0, 2, 2], [0, 0, 1, 1, 2, 2]]),
            json!([[0, 0, 1, 1, 2, 2], [1]]),
            json!([[0, 0, 1, "a", 2, 2]]),
            json!([[0, 0, 1, 1e9, 2, 2]]),
            json!({"size": [4, 5], "counts": "02208"}),
            json!({"size": [4, 4], "counts": [1, 2]}),
            json!({"size": [4, 4], "counts": [-1, 17]}),
            json!({"size": [4, 4], "counts": "\u{1}"}),
            json!({"size": [4, 4]}),
            json!("x"),
        ] {
            assert!(segmentation_to_rle(&bad, 4, 4).is_err(), "{bad}");
        }
    }
}
