//! corrflow's COCO files against pycocotools (runs where Python with pycocotools is installed;
//! says it was skipped otherwise): pycocotools decodes the written results to the same masks, and
//! a dataset that pycocotools rasterises (polygons, several per object, RLE) imports to its masks.

use corrflow_segment::coco_results::{coco_results, write_coco_results};
use corrflow_segment::import::{CocoOptions, Fallback, TargetImage, import_coco_file};
use corrflow_test_support::{python_has, run_python};
use corrflow_types::{Instance, Instances, Mask};
use ndarray::Array2;

fn have_pycocotools(test: &str) -> bool {
    python_has(test, &["pycocotools.mask", "numpy"])
}

/// Random blobs (some touching the image edges, some with holes and specks) on a 70×90 image.
fn random_instances() -> Instances {
    let (h, w) = (70, 90);
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut instances = Vec::new();
    for i in 0..30 {
        let (cy, cx) = (next(h) as f64, next(w) as f64);
        let (ry, rx) = (1.0 + next(25) as f64, 1.0 + next(25) as f64);
        let specks = i % 4 == 0;
        let full = Array2::from_shape_fn((h as usize, w as usize), |(y, x)| {
            let d = ((y as f64 - cy) / ry).powi(2) + ((x as f64 - cx) / rx).powi(2);
            (d < 1.0 && d > 0.2 * f64::from(u8::from(i % 3 == 0)))
                || (specks && (y * 31 + x * 17) % 23 == 0)
        });
        let mask = Mask::from_full(full.view());
        if mask.area_px() == 0 {
            continue;
        }
        let bbox = mask.box_px().map(|v| v as f32);
        instances.push(Instance {
            class_id: (i % 6) as u32,
            score: 0.5 + i as f32 / 100.0,
            bbox,
            mask,
        });
    }
    let names = [
        "nucleus",
        "mitochondrion",
        "er",
        "golgi",
        "lysosome",
        "vesicle",
    ];
    Instances::new(
        h as usize,
        w as usize,
        4.0,
        names.map(String::from).to_vec(),
        instances,
    )
    .expect("valid instances")
}

const DECODE: &str = r#"
import sys, json, numpy as np
from pycocotools import mask
for r in json.load(open(sys.argv[1])):
    seg = dict(size=r["segmentation"]["size"], counts=r["segmentation"]["counts"].encode())
    m = mask.decode(seg)
    bits = "".join("1" if v else "0" for v in m.ravel())
    print(m.shape[0], m.shape[1], int(mask.area(seg)), bits)
"#;

#[test]
fn pycocotools_decodes_written_results() {
    if !have_pycocotools("pycocotools_decodes_written_results") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("instances.json");
    let inst = random_instances();
    write_coco_results(&path, &coco_results(&inst, "s1.tif")).expect("written");
    let out = run_python("pycocotools_decodes_written_results", DECODE, [&path]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), inst.len());
    for (line, i) in lines.iter().zip(&inst.instances) {
        let f: Vec<&str> = line.split(' ').collect();
        assert_eq!((f[0], f[1]), ("70", "90"));
        let full = i.mask.to_full(70, 90);
        let bits: String = full.iter().map(|&v| if v { '1' } else { '0' }).collect();
        assert_eq!(f[3], bits);
        assert_eq!(f[2].parse::<usize>().expect("area"), i.mask.area_px());
    }
}

/// pycocotools writes a dataset with polygon, multi-polygon, RLE and crowd annotations and
/// rasterises each with `annToMask`; corrflow imports the same masks.
const DATASET: &str = r#"
import sys, json, numpy as np
from pycocotools import mask
from pycocotools.coco import COCO
h, w = 60, 80
rng = np.random.default_rng(5)
anns = []
def poly(cx, cy, r, n):
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    rr = r * rng.uniform(0.6, 1.0, n)
    return np.stack([cx + rr * np.cos(t), cy + rr * np.sin(t)], 1).ravel().round(2).tolist()
for i in range(12):
    cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
    segs = [poly(cx, cy, rng.uniform(2, 15), int(rng.integers(3, 12)))]
    if i % 3 == 0:
        segs.append(poly(cx + 12, cy + 7, 5, 6))
    anns.append(dict(id=i + 1, image_id=3, category_id=[10, 20][i % 2], segmentation=segs, iscrowd=0))
m = np.zeros((h, w), np.uint8, order="F"); m[10:20, 30:50] = 1; m[15, 5] = 1
rle = mask.encode(m); rle["counts"] = rle["counts"].decode()
anns.append(dict(id=20, image_id=3, category_id=10, segmentation=rle, iscrowd=0))
anns.append(dict(id=21, image_id=3, category_id=20, segmentation=rle, iscrowd=1))
d = dict(images=[dict(id=3, file_name="s1.tif", height=h, width=w)],
         categories=[dict(id=10, name="er"), dict(id=20, name="golgi")], annotations=anns)
json.dump(d, open(sys.argv[1], "w"))
c = COCO(sys.argv[1])
for a in d["annotations"]:
    if a["iscrowd"]:
        continue
    m = c.annToMask(a)
    print("".join("1" if v else "0" for v in m.ravel()))
"#;

#[test]
fn imports_what_pycocotools_rasterises() {
    if !have_pycocotools("imports_what_pycocotools_rasterises") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("gt.json");
    let out = run_python("imports_what_pycocotools_rasterises", DATASET, [&path]);
    let expected: Vec<&str> = out.lines().filter(|l| l.len() == 60 * 80).collect();
    let target = TargetImage {
        height: 60,
        width: 80,
        pixel_size_nm: 2.0,
        file_name: "s1.tif",
        sample_id: "s1",
    };
    let names: Vec<String> = ["nucleus", "er", "golgi"].map(String::from).to_vec();
    let opts = CocoOptions {
        image: None,
        unmapped: Fallback::Error,
        split_components: false,
    };
    let got = import_coco_file(&path, &target, &names, &opts).expect("imported");
    // Empty masks (polygons wholly outside the image) are skipped with a warning.
    let non_empty: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|b| b.contains('1'))
        .collect();
    assert!(non_empty.len() >= 10, "{}", non_empty.len());
    assert_eq!(got.instances.len(), non_empty.len(), "{:?}", got.warnings);
    for (k, (i, bits)) in got.instances.instances.iter().zip(&non_empty).enumerate() {
        let full = i.mask.to_full(60, 80);
        let mine: String = full.iter().map(|&v| if v { '1' } else { '0' }).collect();
        assert_eq!(&mine, bits, "annotation {k}");
        assert!(i.class_id == 1 || i.class_id == 2);
    }
    assert!(got.warnings.iter().any(|w| w.contains("crowd")));
}
