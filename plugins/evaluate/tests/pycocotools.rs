//! corrflow-evaluate gives pycocotools' `COCOeval(iouType="segm")` numbers: the 12 summary
//! stats and per-category AP50 / AP50-95, for varied random cases written as JSON files (runs
//! where Python with pycocotools and numpy is installed; says it was skipped otherwise).
//! `KEEP_CASES=DIR` keeps the generated files in DIR.

use std::collections::BTreeMap;
use std::f64::consts::PI;
use std::path::Path;

use corrflow_evaluate::{
    EvaluationReport, Params, PredictionOptions, Truth, evaluate_report, load_predictions,
};
use corrflow_test_support::{python_has, run_python_json};
use corrflow_types::coco::{Rle, rle_to_string};
use ndarray::Array2;
use serde_json::{Value, json};

const SCRIPT: &str = r#"
import sys, json, io, contextlib
import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
gt_path, dt_path, max_det = sys.argv[1], sys.argv[2], int(sys.argv[3])
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(gt_path)
    dt = gt.loadRes(dt_path)
    E = COCOeval(gt, dt, "segm")
    E.params.maxDets = [1, 10, max_det]
    E.evaluate()
    E.accumulate()
    E.summarize()
def mean(p):
    v = p[p > -1]
    return float(np.mean(v)) if v.size else None
cats = []
for k, cid in enumerate(E.params.catIds):
    cats.append({"id": int(cid),
                 "ap": mean(E.eval["precision"][:, :, k, 0, -1]),
                 "ap50": mean(E.eval["precision"][0, :, k, 0, -1])})
print(json.dumps({"stats": [float(s) for s in E.stats], "cats": cats}))
"#;

fn python_ok(test: &str) -> bool {
    python_has(test, &["pycocotools.coco", "pycocotools.cocoeval", "numpy"])
}

/// pycocotools' 12 stats and per-category (id, AP, AP50).
type Reference = (Vec<f64>, Vec<(i64, Option<f64>, Option<f64>)>);

/// Run pycocotools on a ground truth and results file.
fn pycocotools(gt: &Path, dt: &Path, max_det: usize) -> Reference {
    let max_det = max_det.to_string();
    let v = run_python_json(
        "pycocotools COCOeval",
        SCRIPT,
        [gt.as_os_str(), dt.as_os_str(), max_det.as_ref()],
    );
    let stats = v["stats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let cats = v["cats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["ap"].as_f64(),
                c["ap50"].as_f64(),
            )
        })
        .collect();
    (stats, cats)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.uniform() < p
    }
}

/// A rotated ellipse: centre, radii, angle.
#[derive(Clone, Copy)]
struct Shape {
    cx: f64,
    cy: f64,
    rx: f64,
    ry: f64,
    angle: f64,
}

impl Shape {
    fn random(rng: &mut Rng, h: usize, w: usize, rmin: f64, rmax: f64) -> Self {
        Shape {
            cx: rng.range(-5.0, w as f64 + 5.0),
            cy: rng.range(-5.0, h as f64 + 5.0),
            rx: rng.range(rmin, rmax),
            ry: rng.range(rmin, rmax),
            angle: rng.range(0.0, PI),
        }
    }
    /// A detection of this shape: moved and resized a little or a lot.
    fn perturbed(&self, rng: &mut Rng, amount: f64) -> Self {
        Shape {
            cx: self.cx + rng.range(-amount, amount) * self.rx,
            cy: self.cy + rng.range(-amount, amount) * self.ry,
            rx: self.rx * (1.0 + rng.range(-amount, amount)),
            ry: self.ry * (1.0 + rng.range(-amount, amount)),
            angle: self.angle + rng.range(-amount, amount),
        }
    }
    fn inside(&self, x: f64, y: f64) -> bool {
        let (dx, dy) = (x - self.cx, y - self.cy);
        let (c, s) = (self.angle.cos(), self.angle.sin());
        let (u, v) = (dx * c + dy * s, -dx * s + dy * c);
        (u / self.rx).powi(2) + (v / self.ry).powi(2) <= 1.0
    }
    fn mask(&self, h: usize, w: usize, noise: Option<u64>) -> Array2<bool> {
        Array2::from_shape_fn((h, w), |(y, x)| {
            let keep = noise.is_none_or(|n| (n >> ((x * 13 + y * 7) % 61)) & 7 != 0);
            self.inside(x as f64 + 0.5, y as f64 + 0.5) && keep
        })
    }
    fn polygon(&self, n: usize) -> Vec<f64> {
        let (c, s) = (self.angle.cos(), self.angle.sin());
        (0..n)
            .flat_map(|i| {
                let t = 2.0 * PI * i as f64 / n as f64;
                let (u, v) = (self.rx * t.cos(), self.ry * t.sin());
                [self.cx + u * c - v * s, self.cy + u * s + v * c]
            })
            .collect()
    }
    fn bbox(&self) -> [f64; 4] {
        let (c, s) = (self.angle.cos(), self.angle.sin());
        let hw = ((self.rx * c).powi(2) + (self.ry * s).powi(2)).sqrt();
        let hh = ((self.rx * s).powi(2) + (self.ry * c).powi(2)).sqrt();
        [self.cx - hw, self.cy - hh, 2.0 * hw, 2.0 * hh]
    }
}

/// How a case is generated.
#[derive(Clone)]
struct Case {
    name: &'static str,
    seed: u64,
    images: usize,
    size: (usize, usize),
    /// Category ids as listed (not sorted) and whether each has truth / predictions.
    cats: Vec<(i64, &'static str, bool, bool)>,
    objects: (usize, usize),
    radius: (f64, f64),
    crowd: f64,
    gt_polygon: f64,
    gt_plain_rle: f64,
    /// Write `area` as the ellipse's π·rx·ry instead of the pixel count.
    gt_float_area: bool,
    /// Detections per truth object (0..=n) and extra false positives per image.
    dets_per_object: usize,
    false_positives: usize,
    /// Scores rounded to this step (ties); 0 = continuous.
    score_step: f64,
    results_bbox: bool,
    det_polygon: f64,
    det_plain_rle: f64,
    noise: f64,
    max_det: usize,
    /// Detections piled on image 0 (beyond maxDets).
    pile: usize,
    /// One truth annotation gets id 0 (a pycocotools quirk: matches to it count as misses).
    zero_id: bool,
}

impl Default for Case {
    fn default() -> Self {
        Case {
            name: "",
            seed: 1,
            images: 4,
            size: (96, 128),
            cats: vec![(1, "nucleus", true, true), (2, "mitochondrion", true, true)],
            objects: (1, 6),
            radius: (2.0, 30.0),
            crowd: 0.0,
            gt_polygon: 0.0,
            gt_plain_rle: 0.0,
            gt_float_area: false,
            dets_per_object: 2,
            false_positives: 2,
            score_step: 0.0,
            results_bbox: true,
            det_polygon: 0.0,
            det_plain_rle: 0.0,
            noise: 0.0,
            max_det: 100,
            pile: 0,
            zero_id: false,
        }
    }
}

fn rle_json(m: &Array2<bool>, plain: bool) -> Value {
    let r = Rle::encode(m.view());
    if plain {
        json!({"size": [r.height, r.width], "counts": r.counts})
    } else {
        json!({"size": [r.height, r.width], "counts": rle_to_string(&r.counts)})
    }
}

/// Writes gt.json, dt.json (ids only, for pycocotools) and dt_names.json (corrflow style:
/// `image` paths and `category_name`, no ids) into `dir`.
fn generate(case: &Case, dir: &Path) {
    let mut rng = Rng(case.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let (h0, w0) = case.size;
    let mut images = Vec::new();
    let mut anns = Vec::new();
    let mut dets = Vec::new();
    let mut named = Vec::new();
    let mut ann_id = 1i64;
    for i in 0..case.images {
        // Image ids out of order, sizes varying.
        let id = (case.images - i) as i64 * 10 + 3;
        let (h, w) = (h0 - rng.below(h0 / 4), w0 - rng.below(w0 / 4));
        let file = format!("img_{i:02}.tif");
        images.push(json!({"id": id, "file_name": format!("em/{file}"), "height": h, "width": w}));
        let mut add_det = |rng: &mut Rng, cat: i64, cat_name: &str, s: Shape, score: f64| {
            let score = if case.score_step > 0.0 {
                (score / case.score_step).round() * case.score_step
            } else {
                score
            };
            let noise = rng.chance(case.noise).then(|| rng.next());
            let seg = if rng.chance(case.det_polygon) {
                json!([s.polygon(5 + rng.below(20))])
            } else {
                rle_json(&s.mask(h, w, noise), rng.chance(case.det_plain_rle))
            };
            let mut d =
                json!({"image_id": id, "category_id": cat, "score": score, "segmentation": seg});
            if case.results_bbox {
                d["bbox"] = json!(s.bbox());
            }
            let mut n = d.clone();
            let obj = n.as_object_mut().unwrap();
            obj.remove("image_id");
            obj.remove("category_id");
            obj.insert("image".into(), json!(format!("/some/where/{file}")));
            obj.insert("category_name".into(), json!(cat_name));
            dets.push(d);
            named.push(n);
        };
        for &(cat, cat_name, has_truth, has_pred) in &case.cats {
            let n = if has_truth {
                case.objects.0 + rng.below(case.objects.1 - case.objects.0 + 1)
            } else {
                0
            };
            for _ in 0..n {
                let s = Shape::random(&mut rng, h, w, case.radius.0, case.radius.1);
                let crowd = rng.chance(case.crowd);
                let noise = rng.chance(case.noise).then(|| rng.next());
                let mask = s.mask(h, w, noise);
                let pixels = mask.iter().filter(|&&b| b).count();
                let seg = if !crowd && rng.chance(case.gt_polygon) {
                    // Sometimes in two parts.
                    let mut parts = vec![s.polygon(6 + rng.below(30))];
                    if rng.chance(0.3) {
                        let t = Shape::random(&mut rng, h, w, 2.0, 10.0);
                        parts.push(t.polygon(6 + rng.below(10)));
                    }
                    json!(parts)
                } else {
                    rle_json(&mask, crowd || rng.chance(case.gt_plain_rle))
                };
                let area = if case.gt_float_area {
                    PI * s.rx * s.ry
                } else {
                    pixels as f64
                };
                let id = if case.zero_id && ann_id == 2 {
                    0
                } else {
                    ann_id
                };
                ann_id += 1;
                anns.push(json!({"id": id, "image_id": images.last().unwrap()["id"],
                                 "category_id": cat, "iscrowd": u8::from(crowd),
                                 "area": area, "segmentation": seg}));
                if has_pred {
                    for _ in 0..rng.below(case.dets_per_object + 1) {
                        let amount = [0.02, 0.1, 0.3][rng.below(3)];
                        let score = rng.uniform();
                        let p = s.perturbed(&mut rng, amount);
                        add_det(&mut rng, cat, cat_name, p, score);
                    }
                }
            }
            if has_pred {
                for _ in 0..rng.below(case.false_positives + 1) {
                    let s = Shape::random(&mut rng, h, w, case.radius.0, case.radius.1);
                    let score = rng.uniform() * 0.8;
                    add_det(&mut rng, cat, cat_name, s, score);
                }
            }
        }
        if i == 0 {
            let (cat, cat_name, ..) = case.cats[0];
            for _ in 0..case.pile {
                let s = Shape::random(&mut rng, h, w, case.radius.0, case.radius.1);
                let score = rng.uniform();
                add_det(&mut rng, cat, cat_name, s, score);
            }
        }
    }
    // Images without truth or predictions.
    images.push(json!({"id": 1, "file_name": "em/empty.tif", "height": h0, "width": w0}));
    let cats: Vec<Value> = case
        .cats
        .iter()
        .map(|&(id, name, ..)| json!({"id": id, "name": name}))
        .collect();
    let gt = json!({"images": images, "annotations": anns, "categories": cats});
    std::fs::write(dir.join("gt.json"), gt.to_string()).unwrap();
    std::fs::write(dir.join("dt.json"), Value::from(dets).to_string()).unwrap();
    std::fs::write(dir.join("dt_names.json"), Value::from(named).to_string()).unwrap();
}

fn ours(gt: &Path, dt: &Path, max_det: usize) -> EvaluationReport {
    let truth = Truth::from_coco_file(gt).unwrap();
    let preds = load_predictions(dt, &truth, PredictionOptions::default()).unwrap();
    evaluate_report(&truth, &preds, &Params::with_max_det(max_det)).unwrap()
}

fn compare(case: &str, report: &EvaluationReport, want: &Reference) {
    let (stats, cats) = want;
    assert_eq!(stats.len(), 12);
    for (i, (a, b)) in report.stats.iter().zip(stats).enumerate() {
        assert!(
            (a - b).abs() <= 1e-12,
            "{case}: stats[{i}] = {a}, pycocotools {b}"
        );
    }
    assert_eq!(report.categories.len(), cats.len(), "{case}");
    let ours: Vec<Option<f64>> = report
        .stats
        .iter()
        .map(|&v| Some(v))
        .chain(report.categories.iter().flat_map(|c| [c.ap, c.ap50]))
        .collect();
    let theirs: Vec<Option<f64>> = stats
        .iter()
        .map(|&v| Some(v))
        .chain(cats.iter().flat_map(|c| [c.1, c.2]))
        .collect();
    let identical = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        if a != b {
            eprintln!("  DIFF {i}: {a:?} {b:?}");
        }
    }
    eprintln!(
        "{case}: {identical} of {} numbers bit-identical to pycocotools; stats {:?}",
        ours.len(),
        report.stats
    );
    for (c, (id, ap, ap50)) in report.categories.iter().zip(cats) {
        assert_eq!(c.id, *id, "{case}");
        let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => (a - b).abs() <= 1e-12,
            (None, None) => true,
            _ => false,
        };
        assert!(
            same(c.ap, *ap),
            "{case}: {} AP {:?}, pycocotools {ap:?}",
            c.name,
            c.ap
        );
        assert!(
            same(c.ap50, *ap50),
            "{case}: {} AP50 {:?}, pycocotools {ap50:?}",
            c.name,
            c.ap50
        );
    }
}

fn cases() -> Vec<Case> {
    let three = vec![
        (7, "er", true, true),
        (1, "nucleus", true, true),
        (3, "mitochondrion", true, true),
    ];
    vec![
        Case {
            name: "basic",
            seed: 1,
            cats: three.clone(),
            ..Case::default()
        },
        Case {
            name: "crowd_and_polygons",
            seed: 2,
            images: 5,
            crowd: 0.2,
            gt_polygon: 0.5,
            gt_float_area: true,
            score_step: 0.25,
            cats: three.clone(),
            ..Case::default()
        },
        Case {
            name: "no_boxes_ties_and_missing_classes",
            seed: 3,
            images: 6,
            results_bbox: false,
            score_step: 0.1,
            gt_plain_rle: 0.3,
            cats: vec![
                (1, "nucleus", true, true),
                (2, "mitochondrion", true, false), // no predictions
                (4, "golgi", false, true),         // no truth
                (5, "vesicle", true, true),
            ],
            ..Case::default()
        },
        Case {
            name: "more_than_100_detections",
            seed: 4,
            images: 2,
            pile: 150,
            score_step: 0.05,
            ..Case::default()
        },
        Case {
            name: "max_dets_20",
            seed: 5,
            images: 3,
            pile: 40,
            max_det: 20,
            ..Case::default()
        },
        Case {
            name: "max_dets_300",
            seed: 6,
            images: 2,
            pile: 250,
            max_det: 300,
            score_step: 0.01,
            ..Case::default()
        },
        Case {
            name: "small_medium_large",
            seed: 7,
            images: 4,
            size: (240, 256),
            radius: (1.5, 90.0),
            objects: (3, 10),
            det_polygon: 0.3,
            det_plain_rle: 0.3,
            crowd: 0.1,
            zero_id: true,
            cats: three.clone(),
            ..Case::default()
        },
        Case {
            name: "noisy_overlapping",
            seed: 8,
            images: 3,
            objects: (8, 20),
            radius: (4.0, 25.0),
            noise: 0.5,
            dets_per_object: 3,
            false_positives: 6,
            crowd: 0.15,
            cats: three,
            ..Case::default()
        },
    ]
}

#[test]
fn cocoeval_equals_pycocotools() {
    if !python_ok("cocoeval_equals_pycocotools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let d = std::env::var("KEEP_CASES").map_or_else(
            |_| dir.path().join(case.name),
            |k| Path::new(&k).join(case.name),
        );
        std::fs::create_dir_all(&d).unwrap();
        generate(&case, &d);
        let want = pycocotools(&d.join("gt.json"), &d.join("dt.json"), case.max_det);
        let by_id = ours(&d.join("gt.json"), &d.join("dt.json"), case.max_det);
        compare(case.name, &by_id, &want);
        // corrflow-style results (file names and class names) give the same numbers.
        let by_name = ours(&d.join("gt.json"), &d.join("dt_names.json"), case.max_det);
        compare(case.name, &by_name, &want);
        // Not all trivial: some AP strictly between 0 and 1.
        assert!(
            by_id.stats[1] > 0.0 && by_id.stats[1] < 1.0,
            "{}: {:?}",
            case.name,
            by_id.stats
        );
    }
}

/// Label-image truth (a list CSV and a class table) equals the COCO file of the same instances.
#[test]
fn label_truth_equals_pycocotools() {
    if !python_ok("label_truth_equals_pycocotools") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = ["nucleus".to_string(), "mitochondrion".to_string()];
    let mut rng = Rng(77);
    let (mut images, mut anns, mut dets) = (Vec::new(), Vec::new(), Vec::new());
    let mut list = String::from("image,labels\n");
    let mut classes = String::from("label,class\n");
    let mut class_of = BTreeMap::new();
    for i in 0..3usize {
        let (h, w) = (80 + 7 * i, 100 - 5 * i);
        let mut labels = Array2::<u32>::zeros((h, w));
        for k in 0..8u32 {
            let label = 1 + k + 100 * i as u32;
            let class = rng.below(2);
            class_of.insert(label, class);
            classes += &format!("{label},{}\n", names[class]);
            let s = Shape::random(&mut rng, h, w, 3.0, 25.0);
            labels.zip_mut_with(&s.mask(h, w, None), |l, &m| {
                if m {
                    *l = label;
                }
            });
            for _ in 0..2 {
                let p = s.perturbed(&mut rng, 0.15);
                let r = Rle::encode(p.mask(h, w, None).view());
                let score = rng.uniform();
                dets.push(
                    json!({"image_id": i + 1, "category_id": class + 1, "score": score,
                    "segmentation": {"size": [h, w], "counts": rle_to_string(&r.counts)}}),
                );
            }
        }
        let file = format!("labels_{i}.tif");
        corrflow_io_em::write_tiff_u32(&d.join(&file), &labels, None).unwrap();
        list += &format!("em_{i}.tif,{file}\n");
        images.push(
            json!({"id": i + 1, "file_name": format!("em_{i}.tif"), "height": h, "width": w}),
        );
        for (label, rle) in corrflow_evaluate::truth::label_rles(labels.view()) {
            anns.push(json!({"id": anns.len() + 1, "image_id": i + 1,
                "category_id": class_of[&label] + 1, "iscrowd": 0, "area": rle.area(),
                "segmentation": {"size": [h, w], "counts": rle_to_string(&rle.counts)}}));
        }
    }
    let cats: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| json!({"id": i + 1, "name": n}))
        .collect();
    let gt = json!({"images": images, "annotations": anns, "categories": cats});
    std::fs::write(d.join("gt.json"), gt.to_string()).unwrap();
    std::fs::write(d.join("dt.json"), Value::from(dets).to_string()).unwrap();
    std::fs::write(d.join("pairs.csv"), list).unwrap();
    std::fs::write(d.join("classes.csv"), classes).unwrap();

    let want = pycocotools(&d.join("gt.json"), &d.join("dt.json"), 100);
    let truth =
        Truth::from_label_list(&d.join("pairs.csv"), &d.join("classes.csv"), &names).unwrap();
    assert_eq!(truth, {
        let mut t = Truth::from_coco_file(&d.join("gt.json")).unwrap();
        t.notes.clear();
        t
    });
    let preds = load_predictions(&d.join("dt.json"), &truth, PredictionOptions::default()).unwrap();
    let report = evaluate_report(&truth, &preds, &Params::default()).unwrap();
    compare("label truth", &report, &want);
}
