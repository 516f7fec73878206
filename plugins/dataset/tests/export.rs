use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use corrflow_dataset::*;
use ndarray::{Array2, s};

// ----------------------------------------------------------------- helpers

/// Even-odd scanline fill evaluated at pixel centres (independent of the
/// crate's own geometry code).
fn rasterize(poly: &[(f64, f64)], h: usize, w: usize) -> Array2<bool> {
    let mut m = Array2::from_elem((h, w), false);
    let n = poly.len();
    for r in 0..h {
        let yc = r as f64 + 0.5;
        let mut xs = Vec::new();
        for i in 0..n {
            let (x1, y1) = poly[i];
            let (x2, y2) = poly[(i + 1) % n];
            if (y1 <= yc) != (y2 <= yc) {
                xs.push(x1 + (yc - y1) * (x2 - x1) / (y2 - y1));
            }
        }
        xs.sort_by(f64::total_cmp);
        for pair in xs.chunks(2) {
            if pair.len() < 2 {
                continue;
            }
            for c in 0..w {
                let xc = c as f64 + 0.5;
                if xc > pair[0] && xc < pair[1] {
                    m[(r, c)] = true;
                }
            }
        }
    }
    m
}

fn iou(a: &Array2<bool>, b: &Array2<bool>) -> f64 {
    let inter = a.iter().zip(b).filter(|(x, y)| **x && **y).count();
    let uni = a.iter().zip(b).filter(|(x, y)| **x || **y).count();
    if uni == 0 {
        1.0
    } else {
        inter as f64 / uni as f64
    }
}

/// Parse a label file into (class, vertices in pixel units of a w×h tile).
fn read_labels(path: &Path, w: usize, h: usize) -> Vec<(usize, Vec<(f64, f64)>)> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let mut it = l.split_whitespace();
            let class: usize = it.next().unwrap().parse().unwrap();
            let v: Vec<f64> = it.map(|t| t.parse().unwrap()).collect();
            assert!(v.len() >= 6 && v.len().is_multiple_of(2), "bad line {l}");
            for &c in &v {
                assert!((0.0..=1.0).contains(&c), "coordinate {c} out of [0,1]");
            }
            let pts = v
                .chunks(2)
                .map(|p| (p[0] * w as f64, p[1] * h as f64))
                .collect();
            (class, pts)
        })
        .collect()
}

fn paint(labels: &mut Array2<u32>, id: u32, f: impl Fn(f64, f64) -> bool) {
    for ((r, c), v) in labels.indexed_iter_mut() {
        if f(r as f64 + 0.5, c as f64 + 0.5) {
            *v = id;
        }
    }
}

fn disc(cy: f64, cx: f64, rad: f64) -> impl Fn(f64, f64) -> bool {
    move |y, x| (y - cy).powi(2) + (x - cx).powi(2) <= rad * rad
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn ramp(h: usize, w: usize) -> Array2<f32> {
    Array2::from_shape_fn((h, w), |(r, c)| (r * w + c) as f32)
}

/// Shapes scene: disc, rotated ellipse, L-shape, ring (ids 1..=4).
fn shapes() -> Array2<u32> {
    let mut l = Array2::<u32>::zeros((128, 128));
    paint(&mut l, 1, disc(25.0, 25.0, 11.0));
    let (cy, cx, a, b, th) = (30.0, 85.0, 22.0, 9.0, 0.5f64);
    paint(&mut l, 2, move |y, x| {
        let (dy, dx) = (y - cy, x - cx);
        let u = dx * th.cos() + dy * th.sin();
        let v = -dx * th.sin() + dy * th.cos();
        (u / a).powi(2) + (v / b).powi(2) <= 1.0
    });
    paint(&mut l, 3, |y, x| {
        (70.0..110.0).contains(&y) && (10.0..20.0).contains(&x)
            || (100.0..110.0).contains(&y) && (10.0..45.0).contains(&x)
    });
    paint(&mut l, 4, |y, x| {
        let d2 = (y - 90.0).powi(2) + (x - 90.0).powi(2);
        d2 <= 16.0f64.powi(2) && d2 > 8.0f64.powi(2)
    });
    l
}

fn shapes_classes() -> BTreeMap<u32, usize> {
    BTreeMap::from([(1, 0), (2, 1), (3, 0), (4, 1)])
}

// ------------------------------------------------------------------- tests

#[test]
fn polygons_rasterise_back_to_instance_masks() {
    let l = shapes();
    let classes = shapes_classes();
    let img = ramp(128, 128);
    for eps in [0.0, 0.7, 1.0] {
        let dir = tempfile::tempdir().unwrap();
        let opts = ExportOptions {
            val_fraction: 0.0,
            simplify_epsilon_px: eps,
            ..Default::default()
        };
        let rep = export_yolo_seg(
            dir.path(),
            &names(&["nucleus", "vesicle"]),
            [LabeledImage {
                name: "scene".into(),
                image: img.view(),
                labels: l.view(),
                class_of: &classes,
            }],
            &opts,
        )
        .unwrap();
        assert_eq!(rep.train.tiles, 1);
        assert_eq!(rep.train.polygons, 4);
        assert_eq!(rep.train.instances_per_class, vec![2, 2]);
        let lines = read_labels(&dir.path().join("labels/train/scene.txt"), 128, 128);
        assert_eq!(lines.len(), 4);
        let mut seen = BTreeSet::new();
        for (class, poly) in &lines {
            let m = rasterize(poly, 128, 128);
            // Which instance is this? Majority of non-zero labels under it.
            let mut votes = BTreeMap::<u32, usize>::new();
            for (v, &inside) in l.iter().zip(&m) {
                if inside && *v != 0 {
                    *votes.entry(*v).or_default() += 1;
                }
            }
            let id = *votes.iter().max_by_key(|e| e.1).unwrap().0;
            assert!(seen.insert(id));
            assert_eq!(*class, classes[&id]);
            let truth = if id == 4 {
                // ring -> outer contour only (holes are not representable)
                let mut t = Array2::<u32>::zeros((128, 128));
                paint(&mut t, 1, disc(90.0, 90.0, 16.0));
                t.mapv(|v| v == 1)
            } else {
                l.mapv(|v| v == id)
            };
            assert!(truth.iter().filter(|&&b| b).count() >= 100);
            let q = iou(&m, &truth);
            if eps == 0.0 {
                assert_eq!(q, 1.0, "eps 0 must be pixel exact (id {id})");
            }
            assert!(q >= 0.9, "IoU {q} < 0.9 for id {id}, eps {eps}");
            // simplification actually reduces the vertex count
            if eps >= 0.7 && id != 3 {
                assert!(poly.len() < 60, "id {id}: {} vertices", poly.len());
            }
        }
        assert_eq!(seen.len(), 4);
    }
}

#[test]
fn random_discs_and_ellipses_iou() {
    let classes: BTreeMap<u32, usize> = (1..=40).map(|i| (i, 0)).collect();
    let mut state = 12345u64;
    let mut rnd = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..40 {
        let mut l = Array2::<u32>::zeros((64, 64));
        let (a, b) = (6.0 + 20.0 * rnd(), 6.0 + 20.0 * rnd());
        let th = rnd() * std::f64::consts::PI;
        paint(&mut l, 7, move |y, x| {
            let (dy, dx) = (y - 32.0, x - 32.0);
            let u = dx * th.cos() + dy * th.sin();
            let v = -dx * th.sin() + dy * th.cos();
            (u / a).powi(2) + (v / b).powi(2) <= 1.0
        });
        let truth = l.mapv(|v| v == 7);
        if truth.iter().filter(|&&b| b).count() < 100 {
            continue;
        }
        let p = tile_polygons(l.view(), &classes, 10, 0.7);
        assert_eq!(p.polygons.len(), 1);
        let q = iou(&rasterize(&p.polygons[0].vertices, 64, 64), &truth);
        assert!(q >= 0.9, "IoU {q} (a={a}, b={b})");
    }
}

#[test]
fn tiling_covers_image_and_clips_instances() {
    let (h, w) = (150usize, 200usize);
    let mut l = Array2::<u32>::zeros((h, w));
    // Many discs, several crossing tile boundaries.
    let mut id = 0;
    for cy in (12..h).step_by(27) {
        for cx in (10..w).step_by(31) {
            if (90..140).contains(&cx) && cy < 90 {
                continue; // room for the U-shape
            }
            id += 1;
            paint(&mut l, id, disc(cy as f64, cx as f64, 9.0));
        }
    }
    // A U-shape whose base lies below y = 64: the first tile row sees two arms.
    id += 1;
    let u = id;
    paint(&mut l, u, |y, x| {
        (40.0..75.0).contains(&y) && ((100.0..106.0).contains(&x) || (120.0..126.0).contains(&x))
            || (69.0..75.0).contains(&y) && (100.0..126.0).contains(&x)
    });
    let classes = uniform_class_map(l.view(), 0);
    let img = ramp(h, w);
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        tile_px: Some(64),
        overlap_px: 16,
        val_fraction: 0.0,
        min_area_px: 1,
        simplify_epsilon_px: 0.0,
        intensity: Intensity::Range {
            min: 0.0,
            max: 255.0,
        },
        ..Default::default()
    };
    let rep = export_yolo_seg(
        dir.path(),
        &names(&["cell"]),
        [LabeledImage {
            name: "big".into(),
            image: img.view(),
            labels: l.view(),
            class_of: &classes,
        }],
        &opts,
    )
    .unwrap();
    assert_eq!(rep.split_unit, SplitUnit::Tile);
    assert!(!rep.notes.is_empty());
    // y starts 0,48,86 ; x starts 0,48,96,136
    assert_eq!(rep.train.tiles, 3 * 4);
    let manifest = fs::read_to_string(dir.path().join("tiles.csv")).unwrap();
    let mut covered = Array2::from_elem((h, w), false);
    let grey = img.mapv(|v| v.clamp(0.0, 255.0).round() as u8);
    let mut u_lines = BTreeMap::<(usize, usize), usize>::new();
    for row in manifest.lines().skip(1) {
        let f: Vec<&str> = row.split(',').collect();
        let (stem, y0, x0, th, tw): (&str, usize, usize, usize, usize) = (
            f[0],
            f[3].parse().unwrap(),
            f[4].parse().unwrap(),
            f[5].parse().unwrap(),
            f[6].parse().unwrap(),
        );
        assert_eq!((th, tw), (64, 64));
        assert_eq!(stem, format!("big_r{y0}_c{x0}"));
        covered.slice_mut(s![y0..y0 + th, x0..x0 + tw]).fill(true);
        let png = image::open(dir.path().join(format!("images/train/{stem}.png")))
            .unwrap()
            .to_luma8();
        assert_eq!(png.dimensions(), (64, 64));
        assert_eq!(png.get_pixel(5, 3)[0], grey[(y0 + 3, x0 + 5)]);
        let lines = read_labels(&dir.path().join(format!("labels/train/{stem}.txt")), tw, th);
        // Union of rasterised polygons == union of cropped instance masks.
        let crop = l.slice(s![y0..y0 + th, x0..x0 + tw]);
        let mut union = Array2::from_elem((th, tw), false);
        for (class, poly) in &lines {
            assert_eq!(*class, 0);
            let m = rasterize(poly, th, tw);
            // every polygon lies on exactly one instance
            let ids: BTreeSet<u32> = crop
                .iter()
                .zip(&m)
                .filter(|(_, b)| **b)
                .map(|(v, _)| *v)
                .collect();
            assert_eq!(ids.len(), 1, "polygon covers {ids:?} in {stem}");
            if ids.contains(&u) {
                *u_lines.entry((y0, x0)).or_default() += 1;
            }
            union.zip_mut_with(&m, |a, b| *a |= *b);
        }
        assert_eq!(union, crop.mapv(|v| v != 0), "tile {stem} not exact");
    }
    assert!(covered.iter().all(|&b| b), "tiles do not cover the image");
    // Tile (0, 96) sees both arms of the U but not its base (rows 69..75):
    // two separate lines. Tile (48, 96) contains the whole U: one line.
    // Tile (0, 48) spans columns 48..112: only the left arm.
    assert_eq!(u_lines[&(0, 96)], 2, "{u_lines:?}");
    assert_eq!(u_lines[&(48, 96)], 1, "{u_lines:?}");
    assert_eq!(u_lines[&(0, 48)], 1, "{u_lines:?}");
}

#[test]
fn min_area_drops_cut_slivers_and_skip_empty() {
    let mut l = Array2::<u32>::zeros((64, 128));
    // disc centred at x = 63.5 with tile 64 / no overlap: both halves large.
    paint(&mut l, 1, disc(20.0, 64.0, 10.0));
    // disc barely crossing x = 64: tiny sliver in the right tile.
    paint(&mut l, 2, disc(45.0, 56.0, 9.0));
    let classes = uniform_class_map(l.view(), 0);
    let img = ramp(64, 128);
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        tile_px: Some(64),
        val_fraction: 0.0,
        min_area_px: 20,
        ..Default::default()
    };
    let rep = export_yolo_seg(
        dir.path(),
        &names(&["cell"]),
        [LabeledImage {
            name: "a".into(),
            image: img.view(),
            labels: l.view(),
            class_of: &classes,
        }],
        &opts,
    )
    .unwrap();
    assert_eq!(rep.dropped_small_components, 1);
    assert_eq!(rep.train.polygons, 3);
    // skip_empty_tiles: only the tile with content remains
    let mut l2 = Array2::<u32>::zeros((64, 128));
    paint(&mut l2, 1, disc(20.0, 20.0, 10.0));
    let dir2 = tempfile::tempdir().unwrap();
    let opts2 = ExportOptions {
        tile_px: Some(64),
        val_fraction: 0.0,
        skip_empty_tiles: true,
        ..Default::default()
    };
    let rep2 = export_yolo_seg(
        dir2.path(),
        &names(&["cell"]),
        [LabeledImage {
            name: "a".into(),
            image: img.view(),
            labels: l2.view(),
            class_of: &uniform_class_map(l2.view(), 0),
        }],
        &opts2,
    )
    .unwrap();
    assert_eq!((rep2.train.tiles, rep2.skipped_empty_tiles), (1, 1));
    assert!(!dir2.path().join("images/train/a_r0_c64.png").exists());
}

fn split_of(dir: &Path) -> BTreeMap<String, String> {
    let manifest = fs::read_to_string(dir.join("tiles.csv")).unwrap();
    manifest
        .lines()
        .skip(1)
        .map(|r| {
            let f: Vec<&str> = r.split(',').collect();
            (f[0].to_string(), format!("{}:{}", f[1], f[2]))
        })
        .collect()
}

#[test]
fn split_is_by_source_image_and_deterministic() {
    let mut l = Array2::<u32>::zeros((64, 64));
    paint(&mut l, 1, disc(30.0, 30.0, 10.0));
    let classes = uniform_class_map(l.view(), 0);
    let img = ramp(64, 64);
    let mk = |order_rev: bool| {
        let mut v: Vec<LabeledImage> = (0..10)
            .map(|i| LabeledImage {
                name: format!("img{i}"),
                image: img.view(),
                labels: l.view(),
                class_of: &classes,
            })
            .collect();
        if order_rev {
            v.reverse();
        }
        v
    };
    let run = |seed: u64, rev: bool| {
        let dir = tempfile::tempdir().unwrap();
        let opts = ExportOptions {
            tile_px: Some(32),
            overlap_px: 0,
            seed,
            val_fraction: 0.2,
            ..Default::default()
        };
        let rep = export_yolo_seg(dir.path(), &names(&["cell"]), mk(rev), &opts).unwrap();
        assert_eq!(rep.split_unit, SplitUnit::SourceImage);
        assert_eq!((rep.train.images, rep.val.images), (8, 2));
        assert_eq!((rep.train.tiles, rep.val.tiles), (32, 8));
        let sp = split_of(dir.path());
        // every source image's tiles are in one split
        let mut per_src: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for v in sp.values() {
            let (src, split) = v.split_once(':').unwrap();
            per_src.entry(src.into()).or_default().insert(split.into());
            assert!(dir.path().join(format!("images/{split}")).is_dir());
        }
        assert!(per_src.values().all(|s| s.len() == 1));
        sp
    };
    let a = run(7, false);
    assert_eq!(a, run(7, false));
    assert_eq!(a, run(7, true), "split depends on input order");
    let others: Vec<_> = (0..4).map(|s| run(100 + s, false)).collect();
    assert!(others.iter().any(|o| *o != a), "seed has no effect");
    // split_val directly
    let keys: Vec<String> = (0..5).map(|i| format!("k{i}")).collect();
    assert_eq!(split_val(&keys, 0.5, 3), split_val(&keys, 0.5, 3));
    assert_eq!(split_val(&keys, 0.0, 3).len(), 0);
    assert_eq!(split_val(&keys, 0.01, 3).len(), 1);
    assert_eq!(split_val(&keys, 1.0, 3).len(), 4);
}

#[test]
fn data_yaml_content() {
    let mut l = Array2::<u32>::zeros((32, 32));
    paint(&mut l, 3, disc(16.0, 16.0, 8.0));
    let classes = uniform_class_map(l.view(), 1);
    let img = ramp(32, 32);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ds");
    let rep = export_yolo_seg(
        &out,
        &names(&["nucleus", "mitochondrion"]),
        [LabeledImage {
            name: "x".into(),
            image: img.view(),
            labels: l.view(),
            class_of: &classes,
        }],
        &ExportOptions::default(),
    )
    .unwrap();
    let y = fs::read_to_string(out.join("data.yaml")).unwrap();
    let abs = fs::canonicalize(&out).unwrap();
    assert!(y.contains(&format!("path: \"{}\"\n", abs.display())), "{y}");
    assert!(y.contains("\ntrain: images/train\n"));
    assert!(y.contains("\nval: images/val\n"));
    assert!(y.contains("\nnc: 2\n"));
    assert!(
        y.contains("names:\n  0: \"nucleus\"\n  1: \"mitochondrion\"\n"),
        "{y}"
    );
    assert_eq!(rep.data_yaml, out.join("data.yaml"));
    // single image, single tile -> train gets it, val empty, noted
    assert_eq!((rep.train.tiles, rep.val.tiles), (1, 0));
    assert!(rep.notes.iter().any(|n| n.contains("val split is empty")));
    let lines = fs::read_to_string(out.join("labels/train/x.txt")).unwrap();
    assert!(lines.starts_with("1 "));
    // overwrite protection
    let again = export_yolo_seg(
        &out,
        &names(&["nucleus", "mitochondrion"]),
        [LabeledImage {
            name: "x".into(),
            image: img.view(),
            labels: l.view(),
            class_of: &classes,
        }],
        &ExportOptions::default(),
    );
    assert!(matches!(again, Err(DatasetError::OutputNotEmpty(_))));
    let ok = export_yolo_seg(
        &out,
        &names(&["nucleus", "mitochondrion"]),
        [LabeledImage {
            name: "x".into(),
            image: img.view(),
            labels: l.view(),
            class_of: &classes,
        }],
        &ExportOptions {
            overwrite: true,
            ..Default::default()
        },
    );
    assert!(ok.is_ok());
}

#[test]
fn user_label_image_with_class_table_file() {
    let dir = tempfile::tempdir().unwrap();
    let table = dir.path().join("classes.csv");
    fs::write(&table, "label,class\n10,nucleus\n20,mito\n30,0\n").unwrap();
    let cls = names(&["nucleus", "mito"]);
    let map = read_class_table(&table, &cls).unwrap();
    assert_eq!(map, BTreeMap::from([(10, 0), (20, 1), (30, 0)]));
    let mut l = Array2::<u32>::zeros((64, 64));
    paint(&mut l, 10, disc(15.0, 15.0, 8.0));
    paint(&mut l, 20, disc(45.0, 45.0, 8.0));
    paint(&mut l, 30, disc(15.0, 45.0, 8.0));
    let img = ramp(64, 64);
    let rep = export_yolo_seg(
        &dir.path().join("out"),
        &cls,
        [LabeledImage {
            name: "user/img 1".into(),
            image: img.view(),
            labels: l.view(),
            class_of: &map,
        }],
        &ExportOptions {
            val_fraction: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rep.train.instances_per_class, vec![2, 1]);
    assert!(dir.path().join("out/images/train/user_img_1.png").exists());
    // bad table
    fs::write(&table, "1,nucleus\n2,golgi\n").unwrap();
    let e = read_class_table(&table, &cls).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("golgi"), "{e}");
}

#[test]
fn error_cases() {
    let mut l = Array2::<u32>::zeros((32, 32));
    paint(&mut l, 1, disc(10.0, 10.0, 5.0));
    paint(&mut l, 42, disc(22.0, 22.0, 5.0));
    let img = ramp(32, 32);
    let partial = BTreeMap::from([(1u32, 0usize)]);
    let dir = tempfile::tempdir().unwrap();
    let one = |name: &str, image, labels, class_of| LabeledImage {
        name: name.into(),
        image,
        labels,
        class_of,
    };
    let cls = names(&["cell"]);
    let o = ExportOptions::default();

    let e = export_yolo_seg(
        dir.path(),
        &cls,
        [one("cellsA", img.view(), l.view(), &partial)],
        &o,
    )
    .unwrap_err();
    assert!(matches!(e, DatasetError::MissingClass { label: 42, .. }));
    let msg = e.to_string();
    assert!(msg.contains("42") && msg.contains("cellsA"), "{msg}");
    assert!(
        !dir.path().join("data.yaml").exists(),
        "nothing written on validation error"
    );

    let full = uniform_class_map(l.view(), 0);
    let small = ramp(32, 31);
    let e = export_yolo_seg(
        dir.path(),
        &cls,
        [one("m", small.view(), l.view(), &full)],
        &o,
    )
    .unwrap_err();
    assert!(matches!(e, DatasetError::ShapeMismatch { .. }), "{e}");
    assert!(e.to_string().contains("(32, 31)"));

    let e =
        export_yolo_seg(dir.path(), &[], [one("m", img.view(), l.view(), &full)], &o).unwrap_err();
    assert!(matches!(e, DatasetError::NoClasses));

    let bad_class = uniform_class_map(l.view(), 3);
    let e = export_yolo_seg(
        dir.path(),
        &cls,
        [one("m", img.view(), l.view(), &bad_class)],
        &o,
    )
    .unwrap_err();
    assert!(
        matches!(e, DatasetError::ClassOutOfRange { class: 3, .. }),
        "{e}"
    );

    let e = export_yolo_seg(dir.path(), &cls, Vec::<LabeledImage>::new(), &o).unwrap_err();
    assert!(matches!(e, DatasetError::NoImages));

    let e = export_yolo_seg(
        dir.path(),
        &cls,
        [
            one("a b", img.view(), l.view(), &full),
            one("a_b", img.view(), l.view(), &full),
        ],
        &o,
    )
    .unwrap_err();
    assert!(matches!(e, DatasetError::BadName(_)));

    let e = export_yolo_seg(
        dir.path(),
        &cls,
        [one("m", img.view(), l.view(), &full)],
        &ExportOptions {
            tile_px: Some(16),
            overlap_px: 16,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, DatasetError::InvalidOptions(_)));

    // tile larger than the image -> one tile of the image's size
    let rep = export_yolo_seg(
        dir.path(),
        &cls,
        [one("m", img.view(), l.view(), &full)],
        &ExportOptions {
            tile_px: Some(640),
            overlap_px: 64,
            val_fraction: 0.0,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(rep.train.tiles, 1);
    let png = image::open(dir.path().join("images/train/m_r0_c0.png")).unwrap();
    assert_eq!((png.width(), png.height()), (32, 32));
    assert_eq!(rep.train.polygons, 2);
}

#[test]
fn intensity_mapping() {
    let img = ramp(10, 100); // 0..999
    let g = to_u8(img.view(), Intensity::MinMax);
    assert_eq!((g[(0, 0)], g[(9, 99)]), (0, 255));
    let g = to_u8(img.view(), Intensity::default());
    assert_eq!(g[(0, 2)], 0); // below 0.5 percentile (value ~5)
    assert_eq!(g[(9, 98)], 255);
    let mut nan = img.clone();
    nan[(5, 5)] = f32::NAN;
    let g = to_u8(
        nan.view(),
        Intensity::Range {
            min: 0.0,
            max: 999.0,
        },
    );
    assert_eq!(g[(5, 5)], 0);
    assert_eq!(g[(9, 99)], 255);
    let flat = Array2::<f32>::from_elem((4, 4), 3.0);
    assert!(
        to_u8(flat.view(), Intensity::default())
            .iter()
            .all(|&v| v == 0)
    );
}

#[test]
fn ultralytics_accepts_dataset() {
    const TEST: &str = "ultralytics_accepts_dataset";
    if !corrflow_test_support::python_has(TEST, &["ultralytics"]) {
        return;
    }
    let mut l = Array2::<u32>::zeros((64, 64));
    paint(&mut l, 1, disc(20.0, 20.0, 9.0));
    let classes = uniform_class_map(l.view(), 0);
    let img = ramp(64, 64);
    let dir = tempfile::tempdir().unwrap();
    let ims: Vec<_> = (0..3)
        .map(|i| LabeledImage {
            name: format!("i{i}"),
            image: img.view(),
            labels: l.view(),
            class_of: &classes,
        })
        .collect();
    export_yolo_seg(
        dir.path(),
        &names(&["cell"]),
        ims,
        &ExportOptions {
            val_fraction: 0.34,
            ..Default::default()
        },
    )
    .unwrap();
    let yaml = dir.path().join("data.yaml");
    corrflow_test_support::run_python(
        TEST,
        "import sys; from ultralytics.data.utils import check_det_dataset as c; d = c(sys.argv[1]); assert d['nc'] == 1, d",
        [&yaml],
    );
}

#[test]
fn non_square_whole_image_normalisation() {
    let (h, w) = (40usize, 90usize);
    let mut l = Array2::<u32>::zeros((h, w));
    paint(&mut l, 1, disc(20.0, 20.0, 12.0));
    paint(&mut l, 2, |y, x| {
        (5.0..35.0).contains(&y) && (50.0..85.0).contains(&x) && x - 50.0 > y - 5.0
    });
    let classes = uniform_class_map(l.view(), 0);
    let img = ramp(h, w);
    let dir = tempfile::tempdir().unwrap();
    let opts = ExportOptions {
        val_fraction: 0.0,
        simplify_epsilon_px: 0.0,
        ..Default::default()
    };
    export_yolo_seg(
        dir.path(),
        &names(&["cell"]),
        [LabeledImage {
            name: "ns".into(),
            image: img.view(),
            labels: l.view(),
            class_of: &classes,
        }],
        &opts,
    )
    .unwrap();
    let png = image::open(dir.path().join("images/train/ns.png")).unwrap();
    assert_eq!((png.width(), png.height()), (w as u32, h as u32));
    let lines = read_labels(&dir.path().join("labels/train/ns.txt"), w, h);
    let mut union = Array2::from_elem((h, w), false);
    for (_, p) in &lines {
        union.zip_mut_with(&rasterize(p, h, w), |a, b| *a |= *b);
    }
    assert_eq!(union, l.mapv(|v| v != 0));
}
