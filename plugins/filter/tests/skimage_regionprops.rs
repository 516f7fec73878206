//! `region_props` against scikit-image 0.26 `skimage.measure.regionprops` on random label images:
//! ellipses at random angles, discs, irregular (also disconnected) blobs, thin lines, single
//! pixels, rectangles and shapes cut by the image border.
//!
//! Tolerances: area, centroid, bbox, axes, eccentricity, orientation, perimeter and the µm values
//! to 1e-9 relative. Where a value is ill-conditioned in skimage's float arithmetic (it takes a
//! square root of a difference that vanishes: the minor axis of a straight line, the eccentricity
//! of an isotropic region) the squares are compared instead, to 1e-9 of the major axis² (resp. 1);
//! the orientation is compared modulo π and skipped for isotropic regions (μ20 = μ02, μ11 = 0),
//! where it is undefined. Solidity (convex area) is expected exact; compared to 1e-12 relative.
//! Mean intensity: to 1e-12 relative of the f64 mean, and 1e-5 of skimage's `intensity_mean`,
//! which accumulates the f32 image in f32.

use std::f64::consts::PI;
use std::io::Write;
use std::path::Path;

use corrflow_filter::regionprops::{RegionProps, region_props};
use corrflow_test_support::{python_has, run_python};
use corrflow_types::{Instance, Instances, Mask};
use ndarray::Array2;

const TEST: &str = "skimage_regionprops";

/// SplitMix64: a small deterministic generator (no dependency needed for test data).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    fn f(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn u(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Label image under construction: a shape paints its label on the pixels still 0.
struct Painter {
    labels: Array2<u32>,
    next: u32,
}

impl Painter {
    fn paint(&mut self, inside: impl Fn(f64, f64) -> bool) {
        let label = self.next;
        self.next += 1;
        for ((r, c), l) in self.labels.indexed_iter_mut() {
            if *l == 0 && inside(r as f64, c as f64) {
                *l = label;
            }
        }
    }

    fn ellipse(&mut self, cy: f64, cx: f64, a: f64, b: f64, theta: f64) {
        let (s, c) = theta.sin_cos();
        self.paint(|r, col| {
            let (dy, dx) = (r - cy, col - cx);
            let u = dx * c + dy * s;
            let v = -dx * s + dy * c;
            (u / a).powi(2) + (v / b).powi(2) <= 1.0
        });
    }

    /// A straight segment of width ~1 px.
    fn line(&mut self, y0: f64, x0: f64, len: f64, theta: f64) {
        let (s, c) = theta.sin_cos();
        self.paint(|r, col| {
            let (dy, dx) = (r - y0, col - x0);
            let along = dx * c + dy * s;
            let across = -dx * s + dy * c;
            (0.0..=len).contains(&along) && across.abs() <= 0.5
        });
    }

    /// Union of a few overlapping (or, rarely, separate) discs.
    fn blob(&mut self, rng: &mut Rng, cy: f64, cx: f64, size: f64) {
        let discs: Vec<(f64, f64, f64)> = (0..2 + rng.u(5))
            .map(|_| {
                let r = rng.f(0.3, 0.8) * size;
                (cy + rng.f(-size, size), cx + rng.f(-size, size), r)
            })
            .collect();
        self.paint(|r, c| {
            discs
                .iter()
                .any(|&(y, x, rad)| (r - y).powi(2) + (c - x).powi(2) <= rad * rad)
        });
    }
}

fn random_labels(rng: &mut Rng, h: usize, w: usize, n: usize) -> Array2<u32> {
    let mut p = Painter {
        labels: Array2::zeros((h, w)),
        next: 1,
    };
    let (hf, wf) = (h as f64, w as f64);
    for k in 0..n {
        let (cy, cx) = (rng.f(0.0, hf), rng.f(0.0, wf));
        let theta = rng.f(-PI, PI);
        match k % 8 {
            0 | 1 => {
                let a = rng.f(1.0, 25.0);
                p.ellipse(cy, cx, a, a * rng.f(0.15, 1.0), theta);
            }
            2 => {
                let r = rng.u(12) as f64 + rng.f(0.0, 0.5);
                p.ellipse(cy.round(), cx.round(), r, r, 0.0);
            }
            3 => {
                let size = rng.f(3.0, 15.0);
                p.blob(rng, cy, cx, size);
            }
            4 => p.line(cy, cx, rng.f(1.0, 40.0), theta),
            5 => p.paint(|r, c| r == cy.floor() && c == cx.floor()),
            6 => {
                let (hh, ww) = (rng.f(0.0, 12.0), rng.f(0.0, 12.0));
                p.paint(|r, c| (r - cy).abs() <= hh && (c - cx).abs() <= ww);
            }
            _ => {
                // Cut by the border: centred on an edge.
                let (ey, ex) = if rng.u(2) == 0 {
                    (if rng.u(2) == 0 { 0.0 } else { hf - 1.0 }, cx)
                } else {
                    (cy, if rng.u(2) == 0 { 0.0 } else { wf - 1.0 })
                };
                let a = rng.f(2.0, 15.0);
                p.ellipse(ey, ex, a, a * rng.f(0.3, 1.0), theta);
            }
        }
    }
    p.labels
}

/// Instances from a label image: label k → instance k − 1 (empty labels give empty masks);
/// every third mask box is grown by a pixel where the image allows (a box not tight).
fn instances_of(labels: &Array2<u32>, n: u32, pixel_size_nm: f64) -> Instances {
    let (h, w) = labels.dim();
    let inst = (1..=n)
        .map(|k| {
            let mut mask = Mask::from_full(labels.mapv(|l| l == k).view());
            if k % 3 == 0 && mask.area_px() > 0 {
                let (x0, y0) = (mask.x0.saturating_sub(1), mask.y0.saturating_sub(1));
                let (x1, y1) = ((mask.x1() + 1).min(w), (mask.y1() + 1).min(h));
                let full = mask.to_full(h, w);
                mask = Mask::new(x0, y0, full.slice(ndarray::s![y0..y1, x0..x1]).to_owned());
            }
            Instance {
                class_id: 0,
                score: 1.0,
                bbox: [0.0, 0.0, w as f32, h as f32],
                mask,
            }
        })
        .collect();
    Instances::new(h, w, pixel_size_nm, vec!["organelle".into()], inst).unwrap()
}

/// A C-order little-endian .npy file (format 1.0).
fn write_npy(path: &Path, descr: &str, shape: (usize, usize), data: &[u8]) {
    let mut header = format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': ({}, {}), }}",
        shape.0, shape.1
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(b"\x93NUMPY\x01\x00").unwrap();
    f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    f.write_all(header.as_bytes()).unwrap();
    f.write_all(data).unwrap();
}

const SCRIPT: &str = r#"
import json, sys
import numpy as np
from skimage.measure import regionprops

d = sys.argv[1]
out = []
for i in range(int(sys.argv[2])):
    labels = np.load(f"{d}/labels{i}.npy")
    inten = np.load(f"{d}/intensity{i}.npy")
    s = float(open(f"{d}/spacing{i}.txt").read())
    scaled = {p.label: p for p in regionprops(labels, spacing=(s, s))}
    for p in regionprops(labels, intensity_image=inten):
        q = scaled[p.label]
        out.append(dict(
            image=i, label=int(p.label), area=float(p.area), perimeter=float(p.perimeter),
            equivalent_diameter=float(p.equivalent_diameter_area),
            major=float(p.axis_major_length), minor=float(p.axis_minor_length),
            eccentricity=float(p.eccentricity), orientation=float(p.orientation),
            solidity=float(p.solidity), area_convex=float(p.area_convex),
            centroid=[float(v) for v in p.centroid], bbox=[int(v) for v in p.bbox],
            intensity_mean=float(p.intensity_mean),
            mean_f64=float(np.mean(inten[labels == p.label], dtype=np.float64)),
            area_um2=float(q.area), perimeter_um=float(q.perimeter),
            equivalent_diameter_um=float(q.equivalent_diameter_area),
            major_um=float(q.axis_major_length), minor_um=float(q.axis_minor_length),
        ))
json.dump(out, sys.stdout)
"#;

/// Largest deviation seen per property, with where it occurred.
#[derive(Default)]
struct Worst(Vec<(&'static str, f64, String)>);

impl Worst {
    fn note(&mut self, name: &'static str, dev: f64, at: &str) {
        match self.0.iter_mut().find(|e| e.0 == name) {
            Some(e) if dev > e.1 => (e.1, e.2) = (dev, at.to_string()),
            Some(_) => {}
            None => self.0.push((name, dev, at.to_string())),
        }
    }
}

/// |a − b| / max(|a|, |b|, floor): relative deviation, with `floor` the scale below which
/// absolute deviations count.
fn rel(a: f64, b: f64, floor: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    (a - b).abs() / a.abs().max(b.abs()).max(floor)
}

/// Difference of two orientations modulo π, over π.
fn angle_dev(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(PI);
    d.min(PI - d) / PI
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

struct Check<'a> {
    worst: &'a mut Worst,
    failures: &'a mut Vec<String>,
    at: String,
}

impl Check<'_> {
    fn le(&mut self, name: &'static str, dev: f64, tol: f64, ours: f64, theirs: f64) {
        self.worst.note(name, dev, &self.at);
        if dev.is_nan() || dev > tol {
            self.failures.push(format!(
                "{}: {name} ours {ours:e} skimage {theirs:e} (deviation {dev:e} > {tol:e})",
                self.at
            ));
        }
    }
}

/// How often the fallbacks were needed.
#[derive(Default)]
struct Counts {
    /// Isotropic regions (orientation undefined; not compared).
    isotropic: usize,
    /// ... of which skimage gives the same orientation to 1e-9.
    isotropic_same: usize,
    /// Minor axis / eccentricity values that passed only by their squares.
    by_squares: usize,
}

fn compare(p: &RegionProps, v: &serde_json::Value, c: &mut Check, counts: &mut Counts) {
    let t = 1e-9;
    let area = p.area_px as f64;
    c.le(
        "area",
        rel(area, num(v, "area"), 1.0),
        t,
        area,
        num(v, "area"),
    );
    let cen = &v["centroid"];
    let (cr, cc) = (cen[0].as_f64().unwrap(), cen[1].as_f64().unwrap());
    c.le(
        "centroid_row",
        rel(p.centroid_row_px, cr, 1.0),
        t,
        p.centroid_row_px,
        cr,
    );
    c.le(
        "centroid_col",
        rel(p.centroid_col_px, cc, 1.0),
        t,
        p.centroid_col_px,
        cc,
    );
    let bbox: Vec<u64> = v["bbox"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let ours: Vec<u64> = p.bbox.iter().map(|&x| x as u64).collect();
    c.le("bbox", if ours == bbox { 0.0 } else { 1.0 }, 0.0, 0.0, 0.0);
    let pairs = [
        ("perimeter", p.perimeter_px, "perimeter"),
        (
            "equivalent_diameter",
            p.equivalent_diameter_px,
            "equivalent_diameter",
        ),
        ("major_axis", p.major_axis_px, "major"),
        ("area_um2", p.area_um2, "area_um2"),
        ("perimeter_um", p.perimeter_um, "perimeter_um"),
        (
            "equivalent_diameter_um",
            p.equivalent_diameter_um,
            "equivalent_diameter_um",
        ),
        ("major_axis_um", p.major_axis_um, "major_um"),
    ];
    for (name, ours, key) in pairs {
        c.le(name, rel(ours, num(v, key), 1e-300), t, ours, num(v, key));
    }
    // Minor axis and eccentricity: plain relative, or (ill-conditioned) the squares.
    let major = p.major_axis_px;
    for (name, ours, theirs, scale2) in [
        (
            "minor_axis",
            p.minor_axis_px,
            num(v, "minor"),
            major * major,
        ),
        (
            "minor_axis_um",
            p.minor_axis_um,
            num(v, "minor_um"),
            p.major_axis_um.powi(2),
        ),
        ("eccentricity", p.eccentricity, num(v, "eccentricity"), 1.0),
    ] {
        let plain = rel(ours, theirs, 1e-300);
        let dev = plain.min(rel(ours * ours, theirs * theirs, scale2));
        counts.by_squares += usize::from(plain > t && dev <= t);
        c.le(name, dev, t, ours, theirs);
    }
    // Isotropic: λ1 = λ2, i.e. eccentricity 0 (exact in integers here).
    let o = num(v, "orientation");
    if p.eccentricity == 0.0 {
        counts.isotropic += 1;
        counts.isotropic_same += usize::from(angle_dev(p.orientation_rad, o) <= t);
    } else {
        c.le(
            "orientation",
            angle_dev(p.orientation_rad, o),
            t,
            p.orientation_rad,
            o,
        );
    }
    let (sol, conv) = (num(v, "solidity"), num(v, "area_convex"));
    c.le(
        "solidity",
        rel(p.solidity, sol, 1e-300),
        1e-12,
        p.solidity,
        sol,
    );
    c.le(
        "convex_area",
        rel(p.convex_area_px as f64, conv, 1.0),
        0.0,
        p.convex_area_px as f64,
        conv,
    );
    let mean = p.mean_intensity.unwrap_or(f64::NAN);
    let (m64, m32) = (num(v, "mean_f64"), num(v, "intensity_mean"));
    c.le(
        "mean_intensity_f64",
        rel(mean, m64, 1e-300),
        1e-12,
        mean,
        m64,
    );
    c.le(
        "mean_intensity_skimage_f32",
        rel(mean, m32, 1.0),
        1e-5,
        mean,
        m32,
    );
}

#[test]
fn skimage_regionprops() {
    if !python_has(TEST, &["numpy", "skimage"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x5EED_C0FF_EE00_0001);
    let sizes = [
        (64, 80),
        (200, 150),
        (31, 47),
        (120, 240),
        (90, 90),
        (17, 300),
        (1, 60),
        (5, 5),
        (256, 256),
        (40, 400),
    ];
    let mut all = Vec::new();
    for (i, &(h, w)) in sizes.iter().enumerate() {
        let n = 10 + rng.u(40);
        let labels = random_labels(&mut rng, h, w, n);
        let s = rng.f(1.0, 20.0);
        let intensity = Array2::from_shape_fn((h, w), |_| rng.f(-100.0, 1000.0) as f32);
        let bytes: Vec<u8> = labels.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(
            &dir.path().join(format!("labels{i}.npy")),
            "<u4",
            (h, w),
            &bytes,
        );
        let bytes: Vec<u8> = intensity.iter().flat_map(|v| v.to_le_bytes()).collect();
        write_npy(
            &dir.path().join(format!("intensity{i}.npy")),
            "<f4",
            (h, w),
            &bytes,
        );
        // Spacing in µm as skimage sees it, written in full precision.
        std::fs::write(
            dir.path().join(format!("spacing{i}.txt")),
            format!("{:?}", s / 1000.0),
        )
        .unwrap();
        let inst = instances_of(&labels, n as u32, s);
        let props = region_props(&inst, Some(intensity.view())).unwrap();
        all.push(props);
    }
    let n = sizes.len().to_string();
    let out = run_python(TEST, SCRIPT, [dir.path().as_os_str(), n.as_ref()]);
    let reference: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();

    let (mut worst, mut failures, mut counts) = (Worst::default(), Vec::new(), Counts::default());
    let mut compared = 0;
    for v in &reference {
        let (img, label) = (
            v["image"].as_u64().unwrap() as usize,
            v["label"].as_u64().unwrap() as usize,
        );
        let p = &all[img][label - 1];
        let mut c = Check {
            worst: &mut worst,
            failures: &mut failures,
            at: format!("image {img} label {label} (area {})", p.area_px),
        };
        compare(p, v, &mut c, &mut counts);
        compared += 1;
    }
    // Labels skimage does not list are empty (painted over).
    let ours_nonempty: usize = all.iter().flatten().filter(|p| p.area_px > 0).count();
    assert_eq!(
        ours_nonempty, compared,
        "non-empty regions: ours vs skimage's"
    );

    println!(
        "{TEST}: {compared} regions in {} images; largest deviations:",
        sizes.len()
    );
    for (name, dev, at) in &worst.0 {
        println!("  {name:28} {dev:.3e}  at {at}");
    }
    println!(
        "  orientation not compared for {} isotropic regions (undefined; skimage agrees on {}); \
         {} minor-axis/eccentricity values matched only by their squares",
        counts.isotropic, counts.isotropic_same, counts.by_squares
    );
    assert!(
        failures.is_empty(),
        "{} deviations beyond tolerance:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
