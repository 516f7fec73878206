//! Polygon rasterisation, merge, area, boxes and mask IoU equal pycocotools' for random inputs
//! (runs where Python with pycocotools is installed; says it was skipped otherwise).

use corrflow_test_support::{Python, python_has};
use corrflow_types::coco::{
    Rle, rle_area, rle_from_bbox, rle_from_polygon, rle_from_string, rle_iou, rle_merge,
    rle_to_bbox, rle_to_string,
};
use ndarray::Array2;

const SCRIPT: &str = r#"
import sys
from pycocotools import mask as M
import pycocotools._mask as _m
def rle(h, w, s):
    return {"size": [h, w], "counts": s.encode()}
for line in sys.stdin:
    kind, rest = line.rstrip("\n").split(" ", 1)
    f = rest.split(" ")
    h, w = int(f[0]), int(f[1])
    if kind == "poly":
        r = _m.frPoly([[float(v) for v in f[2:]]], h, w)[0]
        print(r["counts"].decode(), " ".join(repr(float(v)) for v in M.toBbox(r)), int(M.area(r)))
    elif kind == "bbox":
        r = _m.frBbox(__import__("numpy").array([[float(v) for v in f[2:]]]), h, w)[0]
        print(r["counts"].decode())
    elif kind == "merge":
        polys = [[float(v) for v in p.split(",")] for p in f[3:]]
        rles = M.frPyObjects(polys, h, w)
        print(M.merge(rles, intersect=int(f[2]))["counts"].decode())
    elif kind == "iou":
        nd, ng = int(f[2]), int(f[3])
        dt = [rle(h, w, s) for s in f[4:4 + nd]]
        gt = [rle(h, w, s) for s in f[4 + nd:4 + nd + ng]]
        crowd = [int(c) for c in f[4 + nd + ng:]]
        o = M.iou(dt, gt, crowd)
        print(" ".join(repr(float(v)) for v in o.reshape(-1)))
"#;

const TEST: &str = "polygons_merge_and_iou_equal_pycocotools";

fn run_python(input: &str) -> Vec<String> {
    Python::new(TEST, SCRIPT)
        .stdin(input)
        .run()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Checks one line of Python's output.
type Check = Box<dyn Fn(&str)>;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in [lo, hi), sometimes snapped to a whole or half pixel (exact boundary cases).
    fn coord(&mut self, lo: f64, hi: f64) -> f64 {
        let v = lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        match self.below(4) {
            0 => v.round(),
            1 => (v * 2.0).round() / 2.0,
            _ => v,
        }
    }
}

fn random_polygon(rng: &mut Rng, h: usize, w: usize) -> Vec<f64> {
    let n = 1 + rng.below(9) as usize;
    let (cx, cy) = (
        rng.coord(-3.0, w as f64 + 3.0),
        rng.coord(-3.0, h as f64 + 3.0),
    );
    let r = rng.coord(0.2, (h.max(w) as f64) * 0.7);
    let mut xy = Vec::new();
    for i in 0..n {
        if i > 0 && rng.below(8) == 0 {
            // A repeated vertex.
            let (x, y) = (xy[xy.len() - 2], xy[xy.len() - 1]);
            xy.extend([x, y]);
            continue;
        }
        xy.push(cx + rng.coord(-r, r));
        xy.push(cy + rng.coord(-r, r));
    }
    xy
}

fn fmt(xy: &[f64], sep: &str) -> String {
    xy.iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(sep)
}

#[test]
fn polygons_merge_and_iou_equal_pycocotools() {
    if !python_has(TEST, &["pycocotools.mask", "numpy"]) {
        return;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut input = String::new();
    let mut expect: Vec<Check> = Vec::new();
    // Non-trivial cases generated (so the comparison is not all empty masks).
    let (mut nonempty_polygons, mut overlaps, mut crowd_overlaps) = (0, 0, 0);

    // Single polygons: counts, box and area.
    for _ in 0..400 {
        let (h, w) = (1 + rng.below(40) as usize, 1 + rng.below(40) as usize);
        let xy = random_polygon(&mut rng, h, w);
        input += &format!("poly {h} {w} {}\n", fmt(&xy, " "));
        let counts = rle_from_polygon(&xy, h, w);
        nonempty_polygons += usize::from(rle_area(&counts) > 0);
        expect.push(Box::new(move |line: &str| {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(rle_to_string(&counts), f[0], "polygon {xy:?} in {h}×{w}");
            let bb: Vec<f64> = f[1..5].iter().map(|v| v.parse().unwrap()).collect();
            assert_eq!(rle_to_bbox(&counts, h, w).to_vec(), bb, "box of {xy:?}");
            assert_eq!(rle_area(&counts), f[5].parse::<u64>().unwrap());
        }));
    }
    // Boxes.
    for _ in 0..100 {
        let (h, w) = (1 + rng.below(30) as usize, 1 + rng.below(30) as usize);
        let bb = [
            rng.coord(-2.0, w as f64),
            rng.coord(-2.0, h as f64),
            rng.coord(0.0, w as f64),
            rng.coord(0.0, h as f64),
        ];
        input += &format!("bbox {h} {w} {}\n", fmt(&bb, " "));
        let counts = rle_from_bbox(bb, h, w);
        expect.push(Box::new(move |line: &str| {
            assert_eq!(rle_to_string(&counts), line, "box {bb:?}");
        }));
    }
    // Unions and intersections of several polygons (each of at least 3 vertices).
    for _ in 0..150 {
        let (h, w) = (1 + rng.below(40) as usize, 1 + rng.below(40) as usize);
        let n = 1 + rng.below(4) as usize;
        let polys: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                loop {
                    let p = random_polygon(&mut rng, h, w);
                    if p.len() >= 6 {
                        break p;
                    }
                }
            })
            .collect();
        let intersect = rng.below(3) == 0;
        let text: Vec<String> = polys.iter().map(|p| fmt(p, ",")).collect();
        input += &format!("merge {h} {w} {} {}\n", u8::from(intersect), text.join(" "));
        let rles: Vec<Vec<u64>> = polys.iter().map(|p| rle_from_polygon(p, h, w)).collect();
        let merged = rle_merge(&rles, intersect);
        expect.push(Box::new(move |line: &str| {
            assert_eq!(rle_to_string(&merged), line);
        }));
    }
    // IoU matrices with crowd ground truth, from polygons and noisy blobs.
    for _ in 0..120 {
        let (h, w) = (1 + rng.below(30) as usize, 1 + rng.below(30) as usize);
        let (nd, ng) = (1 + rng.below(5) as usize, 1 + rng.below(5) as usize);
        let make = |rng: &mut Rng| -> Rle {
            if rng.below(2) == 0 {
                let xy = random_polygon(rng, h, w);
                Rle {
                    height: h,
                    width: w,
                    counts: rle_from_polygon(&xy, h, w),
                }
            } else {
                let (y0, x0) = (rng.below(h as u64) as usize, rng.below(w as u64) as usize);
                let (dy, dx) = (1 + rng.below(h as u64) as usize, 1 + rng.below(w as u64));
                let seed = rng.next();
                Rle::encode(
                    Array2::from_shape_fn((h, w), |(y, x)| {
                        let inside =
                            y >= y0 && y < y0 + dy && x >= x0 && (x as u64) < x0 as u64 + dx;
                        inside && (seed >> ((y * 7 + x * 3) % 64)) & 3 != 0
                    })
                    .view(),
                )
            }
        };
        let dt: Vec<Rle> = (0..nd).map(|_| make(&mut rng)).collect();
        let gt: Vec<Rle> = (0..ng).map(|_| make(&mut rng)).collect();
        let crowd: Vec<bool> = (0..ng).map(|_| rng.below(3) == 0).collect();
        let strings: Vec<String> = dt
            .iter()
            .chain(&gt)
            .map(|r| rle_to_string(&r.counts))
            .collect();
        let flags: Vec<String> = crowd.iter().map(|&c| u8::from(c).to_string()).collect();
        input += &format!(
            "iou {h} {w} {nd} {ng} {} {}\n",
            strings.join(" "),
            flags.join(" ")
        );
        // Decoding pycocotools' strings gives the same runs back.
        for (r, s) in dt.iter().chain(&gt).zip(&strings) {
            assert_eq!(rle_from_string(s).unwrap(), r.counts);
        }
        let iou = rle_iou(&dt, &gt, &crowd);
        for ((_, g), &v) in iou.indexed_iter() {
            if v > 0.0 {
                overlaps += 1;
                crowd_overlaps += usize::from(crowd[g]);
            }
        }
        expect.push(Box::new(move |line: &str| {
            // pycocotools returns the m×n matrix; reshape(-1) is row-major [d][g].
            let want: Vec<f64> = line.split(' ').map(|v| v.parse().unwrap()).collect();
            let got: Vec<f64> = iou.iter().copied().collect();
            assert_eq!(got, want);
        }));
    }

    assert!(nonempty_polygons > 150 && overlaps > 150 && crowd_overlaps > 40);
    let lines = run_python(&input);
    assert_eq!(lines.len(), expect.len());
    for (check, line) in expect.iter().zip(&lines) {
        check(line);
    }
}
