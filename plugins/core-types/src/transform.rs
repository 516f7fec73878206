//! A 2-D map between the pixel grids of two images (e.g. EM → NanoSIMS).

use corrflow_stage::StageError;
use corrflow_stage::h5;
use corrflow_stage::hdf5::Group;

use crate::{check_stamp, in_group, positive, stamp, types};

/// The class of a [`Transform2D`]'s matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TransformKind {
    /// Rotation, uniform scale and translation (no reflection, no shear): last row (0, 0, 1) and
    /// upper-left 2×2 block `[[a, -b], [b, a]]`.
    Similarity,
    /// Any invertible linear map plus translation: last row (0, 0, 1).
    Affine,
    /// Any invertible 3×3 matrix (homography); points are divided by the third coordinate.
    Projective,
}

impl TransformKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Similarity => "similarity",
            Self::Affine => "affine",
            Self::Projective => "projective",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StageError> {
        match s {
            "similarity" => Ok(Self::Similarity),
            "affine" => Ok(Self::Affine),
            "projective" => Ok(Self::Projective),
            other => Err(StageError::input(format!(
                "unknown transform kind '{other}'; expected similarity, affine or projective"
            ))),
        }
    }
}

/// A map from the pixels of one image ("from" space) to those of another ("to" space).
///
/// `matrix` maps the homogeneous source pixel (x, y, 1) to a target pixel: (X, Y, W) =
/// matrix · (x, y, 1), target = (X / W, Y / W). x is the column, y the row, pixel centres are at
/// integer coordinates (pixel (row 0, column 0) is centred on (0, 0)).
///
/// HDF5 layout (group, `corrflow_type = "transform"`, `layout_version = 1`): dataset `matrix`
/// float64 (3, 3) row-major; attributes `kind`, `from_space`, `to_space`, `from_pixel_size_nm`,
/// `to_pixel_size_nm`, `method`, `rms_nm`, `confidence` (see `schemas/hdf5-layouts.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct Transform2D {
    /// Row-major: `matrix[row][column]`.
    pub matrix: [[f64; 3]; 3],
    pub kind: TransformKind,
    /// Name of the source space, e.g. `"em"`.
    pub from_space: String,
    /// Name of the target space, e.g. `"nanosims"`.
    pub to_space: String,
    /// Pixel size of the source image (nm).
    pub from_pixel_size_nm: f64,
    /// Pixel size of the target image (nm).
    pub to_pixel_size_nm: f64,
    /// How the transform was found, e.g. `"landmarks"`, `"phase_correlation"`.
    pub method: String,
    /// Root-mean-square residual of the fit, in nm in the target space; NaN when not applicable.
    pub rms_nm: f64,
    /// Confidence of the registration in [0, 1]; NaN when not applicable.
    pub confidence: f64,
}

const LAYOUT_VERSION: i64 = 1;

/// Relative tolerance of the similarity/affine structure checks.
const STRUCTURE_TOL: f64 = 1e-9;
/// |det| / (product of row norms) below this counts as singular (the ratio is 1 for orthogonal
/// rows and 0 for dependent ones, whatever the scale).
const SINGULAR_TOL: f64 = 1e-12;

type M3 = [[f64; 3]; 3];

fn mul(a: &M3, b: &M3) -> M3 {
    let mut r = [[0.0; 3]; 3];
    for (i, row) in r.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    r
}

fn det(m: &M3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// How far `m` is from singular: |det| / Π‖row‖ (Hadamard's bound makes this ≤ 1). For the affine
/// kinds only the 2×2 linear block counts, so that a large translation does not look singular.
fn conditioning(m: &M3, kind: TransformKind) -> f64 {
    let norm = |r: &[f64]| r.iter().map(|v| v * v).sum::<f64>().sqrt();
    match kind {
        TransformKind::Projective => det(m).abs() / m.iter().map(|r| norm(r)).product::<f64>(),
        _ => {
            let d = m[0][0] * m[1][1] - m[0][1] * m[1][0];
            d.abs() / (norm(&m[0][..2]) * norm(&m[1][..2]))
        }
    }
}

/// The inverse by the adjugate: inverse = adj(m) / det(m). (Exact enough for the well-conditioned
/// 3×3 matrices that [`Transform2D::validate`] admits; no linear-algebra dependency needed.)
fn inverse3(m: &M3) -> M3 {
    let d = det(m);
    let c =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    [
        [c(1, 2, 1, 2) / d, -c(0, 2, 1, 2) / d, c(0, 1, 1, 2) / d],
        [-c(1, 2, 0, 2) / d, c(0, 2, 0, 2) / d, -c(0, 1, 0, 2) / d],
        [c(1, 2, 0, 1) / d, -c(0, 2, 0, 1) / d, c(0, 1, 0, 1) / d],
    ]
}

impl Transform2D {
    /// A transform with no quality figures (`rms_nm` and `confidence` NaN); see
    /// [`Self::with_quality`].
    pub fn new(
        matrix: [[f64; 3]; 3],
        kind: TransformKind,
        from_space: impl Into<String>,
        from_pixel_size_nm: f64,
        to_space: impl Into<String>,
        to_pixel_size_nm: f64,
        method: impl Into<String>,
    ) -> Result<Self, StageError> {
        let t = Self {
            matrix,
            kind,
            from_space: from_space.into(),
            to_space: to_space.into(),
            from_pixel_size_nm,
            to_pixel_size_nm,
            method: method.into(),
            rms_nm: f64::NAN,
            confidence: f64::NAN,
        };
        t.validate()?;
        Ok(t)
    }

    /// The identity of a space onto itself.
    pub fn identity(space: &str, pixel_size_nm: f64) -> Result<Self, StageError> {
        let m = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        Self::new(
            m,
            TransformKind::Similarity,
            space,
            pixel_size_nm,
            space,
            pixel_size_nm,
            "identity",
        )
    }

    /// The same transform with its fit residual (nm, target space) and confidence (0..1); NaN
    /// for either means "not applicable".
    pub fn with_quality(mut self, rms_nm: f64, confidence: f64) -> Result<Self, StageError> {
        self.rms_nm = rms_nm;
        self.confidence = confidence;
        self.validate()?;
        Ok(self)
    }

    /// Check every invariant of the type.
    pub fn validate(&self) -> Result<(), StageError> {
        let m = &self.matrix;
        if m.iter().flatten().any(|v| !v.is_finite()) {
            return Err(StageError::input(format!(
                "transform matrix has a non-finite entry: {m:?}"
            )));
        }
        if self.kind != TransformKind::Projective && m[2] != [0.0, 0.0, 1.0] {
            return Err(StageError::input(format!(
                "{} transform must have last row [0, 0, 1], got {:?} (use kind projective for a \
                 homography)",
                self.kind.as_str(),
                m[2]
            )));
        }
        if self.kind == TransformKind::Similarity {
            let scale = m[0][0].abs().max(m[0][1].abs());
            let tol = STRUCTURE_TOL * scale;
            if (m[0][0] - m[1][1]).abs() > tol || (m[0][1] + m[1][0]).abs() > tol {
                return Err(StageError::input(format!(
                    "similarity transform must have an upper-left block [[a, -b], [b, a]] \
                     (rotation and uniform scale), got [{:?}, {:?}]",
                    &m[0][..2],
                    &m[1][..2]
                )));
            }
        }
        let cond = conditioning(m, self.kind);
        if cond.is_nan() || cond <= SINGULAR_TOL {
            return Err(StageError::input(format!(
                "transform matrix is singular (or nearly: |det| / product of row norms = {cond:e}): \
                 {m:?}"
            )));
        }
        for (what, name) in [
            ("from_space", &self.from_space),
            ("to_space", &self.to_space),
        ] {
            if name.trim().is_empty() {
                return Err(StageError::input(format!("transform {what} must be named")));
            }
        }
        positive("transform from_pixel_size_nm", self.from_pixel_size_nm)?;
        positive("transform to_pixel_size_nm", self.to_pixel_size_nm)?;
        if !(self.rms_nm.is_nan() || (self.rms_nm.is_finite() && self.rms_nm >= 0.0)) {
            return Err(StageError::input(format!(
                "transform rms_nm must be >= 0 (or NaN when not applicable), got {}",
                self.rms_nm
            )));
        }
        if !(self.confidence.is_nan() || (0.0..=1.0).contains(&self.confidence)) {
            return Err(StageError::input(format!(
                "transform confidence must be in [0, 1] (or NaN when not applicable), got {}",
                self.confidence
            )));
        }
        Ok(())
    }

    /// Check that this EM → NanoSIMS transform was made for instances with `em_pixel_nm` pixels
    /// and an ion stack with `nanosims_pixel_nm` pixels (relative tolerance 1e-6); the error says
    /// which side does not fit.
    pub fn check_pixel_sizes(
        &self,
        em_pixel_nm: f64,
        nanosims_pixel_nm: f64,
    ) -> Result<(), StageError> {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(b.abs());
        if !close(self.from_pixel_size_nm, em_pixel_nm) {
            return Err(StageError::input(format!(
                "the transform starts from {} nm pixels but the instances have {} nm pixels: it \
                 was made for another EM image",
                self.from_pixel_size_nm, em_pixel_nm
            )));
        }
        if !close(self.to_pixel_size_nm, nanosims_pixel_nm) {
            return Err(StageError::input(format!(
                "the transform maps to {} nm pixels but the ion stack has {} nm pixels: it was \
                 made for another NanoSIMS image",
                self.to_pixel_size_nm, nanosims_pixel_nm
            )));
        }
        Ok(())
    }

    /// Map a source pixel (x = column, y = row) to the target space. A point on the horizon of a
    /// projective transform (W = 0) maps to infinite or NaN coordinates.
    pub fn apply(&self, (x, y): (f64, f64)) -> (f64, f64) {
        let m = &self.matrix;
        let tx = m[0][0] * x + m[0][1] * y + m[0][2];
        let ty = m[1][0] * x + m[1][1] * y + m[1][2];
        let w = m[2][0] * x + m[2][1] * y + m[2][2];
        (tx / w, ty / w)
    }

    /// The map from the target back to the source space (spaces and pixel sizes swapped; the
    /// quality figures are kept).
    pub fn inverse(&self) -> Result<Self, StageError> {
        let mut m = inverse3(&self.matrix);
        if self.kind != TransformKind::Projective {
            // Exact, not rounded: the inverse of an affine map is affine.
            m[2] = [0.0, 0.0, 1.0];
        }
        let t = Self {
            matrix: m,
            kind: self.kind,
            from_space: self.to_space.clone(),
            to_space: self.from_space.clone(),
            from_pixel_size_nm: self.to_pixel_size_nm,
            to_pixel_size_nm: self.from_pixel_size_nm,
            method: format!("inverse of {}", self.method),
            rms_nm: self.rms_nm,
            confidence: self.confidence,
        };
        t.validate()
            .map_err(|e| StageError::input(format!("cannot invert transform: {e}")))?;
        Ok(t)
    }

    /// `self` then `next`: the map from `self`'s source to `next`'s target. `next` must start in
    /// the space (name and pixel size) where `self` ends. The kind is the more general of the two;
    /// `rms_nm` combines as √(a² + b²) (independent errors, NaN if either is NaN) and `confidence`
    /// as the product.
    pub fn compose(&self, next: &Transform2D) -> Result<Self, StageError> {
        let same_px = (self.to_pixel_size_nm - next.from_pixel_size_nm).abs()
            <= 1e-9 * self.to_pixel_size_nm.max(next.from_pixel_size_nm);
        if self.to_space != next.from_space || !same_px {
            return Err(StageError::input(format!(
                "cannot compose a transform to '{}' ({} nm/px) with one from '{}' ({} nm/px)",
                self.to_space, self.to_pixel_size_nm, next.from_space, next.from_pixel_size_nm
            )));
        }
        let kind = self.kind.max(next.kind);
        let mut m = mul(&next.matrix, &self.matrix);
        if kind != TransformKind::Projective {
            m[2] = [0.0, 0.0, 1.0];
        }
        let t = Self {
            matrix: m,
            kind,
            from_space: self.from_space.clone(),
            to_space: next.to_space.clone(),
            from_pixel_size_nm: self.from_pixel_size_nm,
            to_pixel_size_nm: next.to_pixel_size_nm,
            method: format!("{} then {}", self.method, next.method),
            rms_nm: self.rms_nm.hypot(next.rms_nm),
            confidence: self.confidence * next.confidence,
        };
        t.validate()
            .map_err(|e| StageError::input(format!("cannot compose transforms: {e}")))?;
        Ok(t)
    }

    pub fn write(&self, g: &Group) -> Result<(), StageError> {
        self.validate()?;
        stamp(g, types::TRANSFORM, LAYOUT_VERSION)?;
        let m = ndarray::Array2::from_shape_fn((3, 3), |(r, c)| self.matrix[r][c]);
        g.new_dataset_builder().with_data(&m).create("matrix")?;
        h5::set_str(g, "kind", self.kind.as_str())?;
        h5::set_str(g, "from_space", &self.from_space)?;
        h5::set_str(g, "to_space", &self.to_space)?;
        h5::set_f64(g, "from_pixel_size_nm", self.from_pixel_size_nm)?;
        h5::set_f64(g, "to_pixel_size_nm", self.to_pixel_size_nm)?;
        h5::set_str(g, "method", &self.method)?;
        h5::set_f64(g, "rms_nm", self.rms_nm)?;
        h5::set_f64(g, "confidence", self.confidence)?;
        Ok(())
    }

    pub fn read(g: &Group) -> Result<Self, StageError> {
        check_stamp(g, types::TRANSFORM, LAYOUT_VERSION)?;
        Self::read_body(g).map_err(|e| in_group(g, e))
    }

    fn read_body(g: &Group) -> Result<Self, StageError> {
        let m = crate::read_mat::<f64>(g, "matrix", 3, 3)?;
        let t = Self {
            matrix: std::array::from_fn(|r| std::array::from_fn(|c| m[[r, c]])),
            kind: TransformKind::parse(&h5::get_str(g, "kind")?)?,
            from_space: h5::get_str(g, "from_space")?,
            to_space: h5::get_str(g, "to_space")?,
            from_pixel_size_nm: h5::get_f64(g, "from_pixel_size_nm")?,
            to_pixel_size_nm: h5::get_f64(g, "to_pixel_size_nm")?,
            method: h5::get_str(g, "method")?,
            rms_nm: h5::get_f64(g, "rms_nm")?,
            confidence: h5::get_f64(g, "confidence")?,
        };
        t.validate()?;
        Ok(t)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// EM (5 nm/px) → NanoSIMS (40 nm/px): scale 1/8, rotated 90°, shifted by (10, 20).
    pub(crate) fn sample() -> Transform2D {
        let s = 0.125;
        let m = [[0.0, -s, 10.0], [s, 0.0, 20.0], [0.0, 0.0, 1.0]];
        Transform2D::new(
            m,
            TransformKind::Similarity,
            "em",
            5.0,
            "nanosims",
            40.0,
            "landmarks",
        )
        .unwrap()
        .with_quality(12.5, 0.8)
        .unwrap()
    }

    fn projective() -> Transform2D {
        let m = [[1.0, 0.1, 3.0], [0.05, 0.9, -2.0], [1e-4, 2e-4, 1.0]];
        Transform2D::new(
            m,
            TransformKind::Projective,
            "nanosims",
            40.0,
            "atlas",
            100.0,
            "manual",
        )
        .unwrap()
    }

    fn close(a: (f64, f64), b: (f64, f64)) -> bool {
        (a.0 - b.0).abs() < 1e-9 && (a.1 - b.1).abs() < 1e-9
    }

    #[test]
    fn apply_inverse_compose() {
        let t = sample();
        assert_eq!(t.apply((8.0, 16.0)), (8.0, 21.0));
        let inv = t.inverse().unwrap();
        assert_eq!(
            (inv.from_space.as_str(), inv.to_space.as_str()),
            ("nanosims", "em")
        );
        assert_eq!((inv.from_pixel_size_nm, inv.to_pixel_size_nm), (40.0, 5.0));
        assert_eq!(inv.matrix[2], [0.0, 0.0, 1.0]);
        assert!(close(inv.apply((8.0, 21.0)), (8.0, 16.0)));
        let p = projective();
        let pt = p.apply((30.0, 40.0));
        let w = 1.0 + 30e-4 + 80e-4;
        assert!(close(pt, ((30.0 + 4.0 + 3.0) / w, (1.5 + 36.0 - 2.0) / w)));
        assert!(close(p.inverse().unwrap().apply(pt), (30.0, 40.0)));
        let c = t.compose(&p).unwrap();
        assert_eq!(c.kind, TransformKind::Projective);
        assert_eq!(
            (c.from_space.as_str(), c.to_space.as_str()),
            ("em", "atlas")
        );
        assert_eq!(c.method, "landmarks then manual");
        assert!(c.rms_nm.is_nan() && c.confidence.is_nan());
        assert!(close(c.apply((8.0, 16.0)), p.apply(t.apply((8.0, 16.0)))));
        let round = t.compose(&inv).unwrap();
        assert_eq!(round.kind, TransformKind::Similarity);
        assert!((round.rms_nm - 12.5 * 2f64.sqrt()).abs() < 1e-12);
        assert!((round.confidence - 0.64).abs() < 1e-12);
        assert!(close(round.apply((3.0, -7.0)), (3.0, -7.0)));
        let e = t.compose(&t).unwrap_err().to_string();
        assert_eq!(
            e,
            "cannot compose a transform to 'nanosims' (40 nm/px) with one from 'em' (5 nm/px)"
        );
        let id = Transform2D::identity("em", 5.0).unwrap();
        assert_eq!(id.compose(&t).unwrap().matrix, t.matrix);
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let f = h5::create_file(&p).unwrap();
        sample().write(&f.create_group("t").unwrap()).unwrap();
        projective().write(&f.create_group("h").unwrap()).unwrap();
        f.close().unwrap();
        let f = crate::testutil::open(&p);
        assert_eq!(Transform2D::read(&f.group("t").unwrap()).unwrap(), sample());
        // NaN quality figures round-trip (compared field by field: NaN != NaN).
        let h = Transform2D::read(&f.group("h").unwrap()).unwrap();
        assert_eq!(h.matrix, projective().matrix);
        assert!(h.rms_nm.is_nan() && h.confidence.is_nan());
        assert_eq!(h.method, "manual");
    }

    fn err(t: Transform2D) -> String {
        t.validate().unwrap_err().to_string()
    }

    #[test]
    fn validation_messages() {
        let ok = sample();
        let mut t = ok.clone();
        t.matrix[0][2] = f64::NAN;
        assert_eq!(
            err(t),
            "transform matrix has a non-finite entry: [[0.0, -0.125, NaN], [0.125, 0.0, 20.0], \
             [0.0, 0.0, 1.0]]"
        );
        let mut t = ok.clone();
        t.matrix[2] = [0.0, 1e-3, 1.0];
        assert_eq!(
            err(t.clone()),
            "similarity transform must have last row [0, 0, 1], got [0.0, 0.001, 1.0] (use kind \
             projective for a homography)"
        );
        t.kind = TransformKind::Affine;
        assert!(err(t.clone()).starts_with("affine transform must have last row [0, 0, 1]"));
        t.kind = TransformKind::Projective;
        t.validate().unwrap();
        let mut t = ok.clone();
        t.matrix[1][0] = 0.2;
        assert_eq!(
            err(t.clone()),
            "similarity transform must have an upper-left block [[a, -b], [b, a]] (rotation and \
             uniform scale), got [[0.0, -0.125], [0.2, 0.0]]"
        );
        t.kind = TransformKind::Affine;
        t.validate().unwrap();
        t.matrix[0] = [0.4, 0.0, 1.0];
        t.matrix[1] = [0.2, 0.0, 1.0];
        assert_eq!(
            err(t),
            "transform matrix is singular (or nearly: |det| / product of row norms = 0e0): \
             [[0.4, 0.0, 1.0], [0.2, 0.0, 1.0], [0.0, 0.0, 1.0]]"
        );
        let mut t = projective();
        t.matrix[2] = [0.0, 0.0, 0.0];
        assert!(err(t).starts_with("transform matrix is singular"));
        let mut t = ok.clone();
        t.to_space = " ".into();
        assert_eq!(err(t), "transform to_space must be named");
        let mut t = ok.clone();
        t.from_pixel_size_nm = -5.0;
        assert_eq!(
            err(t),
            "transform from_pixel_size_nm must be a finite number > 0, got -5"
        );
        assert_eq!(
            ok.clone().with_quality(-1.0, 0.5).unwrap_err().to_string(),
            "transform rms_nm must be >= 0 (or NaN when not applicable), got -1"
        );
        assert_eq!(
            ok.clone().with_quality(1.0, 1.5).unwrap_err().to_string(),
            "transform confidence must be in [0, 1] (or NaN when not applicable), got 1.5"
        );
        assert_eq!(
            TransformKind::parse("rigid").unwrap_err().to_string(),
            "unknown transform kind 'rigid'; expected similarity, affine or projective"
        );
    }

    #[test]
    fn h5py_reads_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let f = h5::create_file(&p).unwrap();
        sample().write(&f.create_group("t").unwrap()).unwrap();
        f.close().unwrap();
        let script = r#"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["t"]
M = g["matrix"][()]                        # (3, 3) float64
def apply(M, x, y):                        # x = column, y = row
    X, Y, W = M @ np.array([x, y, 1.0])
    return X / W, Y / W
x, y = apply(M, 8.0, 16.0)                 # source pixel -> target pixel
back = apply(np.linalg.inv(M), x, y)

assert g.attrs["corrflow_type"] == "transform" and g.attrs["layout_version"] == 1
assert (x, y) == (8.0, 21.0) and np.allclose(back, (8.0, 16.0))
assert g.attrs["kind"] == "similarity" and g.attrs["method"] == "landmarks"
assert g.attrs["from_space"] == "em" and g.attrs["to_space"] == "nanosims"
assert g.attrs["from_pixel_size_nm"] == 5.0 and g.attrs["to_pixel_size_nm"] == 40.0
assert g.attrs["rms_nm"] == 12.5 and g.attrs["confidence"] == 0.8
print("OK")
"#;
        if let Some(out) = crate::testutil::python("transform h5py", script, &p) {
            assert_eq!(out.trim(), "OK");
        }
    }
}
