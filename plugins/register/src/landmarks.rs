//! Landmark fits: the 3×3 matrix that maps source points (EM pixels) onto target points
//! (NanoSIMS pixels), by least squares, optionally inside RANSAC.
//!
//! Conventions (as [`Transform2D`]): a point is `[x, y]` with x = column and y = row, pixel centres
//! at integer coordinates. The fitted `matrix` M maps the homogeneous source point (x, y, 1) to
//! (X, Y, W) = M · (x, y, 1); the target point is (X / W, Y / W). For similarity and affine fits the
//! last row is exactly (0, 0, 1), so W = 1.
//!
//! Fits (all minimise over the points used, i.e. all points or the RANSAC inliers):
//! - **similarity** (≥ 2 points): rotation R ∈ SO(2), scale c > 0, translation t minimising
//!   Σ ‖dᵢ − (c R sᵢ + t)‖² — Umeyama (1991): with means μₛ, μ_d, source variance
//!   σₛ² = (1/n) Σ ‖sᵢ − μₛ‖² and covariance Σ = (1/n) Σ (dᵢ − μ_d)(sᵢ − μₛ)ᵀ = U D Vᵀ,
//!   S = diag(1, ±1) (−1 when det U · det V < 0, which rules out a reflection), R = U S Vᵀ,
//!   c = tr(D S) / σₛ², t = μ_d − c R μₛ.
//! - **affine** (≥ 3 points): the six entries minimising Σ ‖dᵢ − (A sᵢ + t)‖², linear least
//!   squares (SVD solve) in normalised source coordinates.
//! - **projective** (≥ 4 points): normalised DLT (Hartley 1997). Both point sets are moved to
//!   their centroid and scaled isotropically to an RMS distance √2 from it (the `rms` variant that
//!   scikit-image uses; Hartley's paper scales the *mean* distance to √2), each pair gives two rows
//!   of A h = 0, and h (the 9 entries of the normalised homography) is the right singular vector of
//!   A for its smallest singular value, i.e. the unit vector minimising ‖A h‖² (algebraic least
//!   squares). M = T_d⁻¹ H T_s, scaled so that M₂₂ = 1.
//!
//! Residuals are Euclidean distances in the target space: rᵢ = ‖M(sᵢ) − dᵢ‖ in target pixels;
//! multiplied by the target pixel size they are in nm. RMS = √(mean rᵢ²) over the inliers.

use std::fmt;
use std::path::{Path, PathBuf};

use corrflow_stage::StageError;
use corrflow_types::{Transform2D, TransformKind};
use nalgebra::{DMatrix, Matrix2, Matrix3, SVD, Vector2};

/// A point `[x, y]`: x = column, y = row (pixels).
pub type Point = [f64; 2];

type M3 = [[f64; 3]; 3];

/// Coordinates spread (RMS distance from their centroid) at most this × max(1, largest |coordinate|)
/// count as one coincident point.
const COINCIDENT_TOL: f64 = 1e-10;
/// Smallest / largest singular value of the centred points at or below this counts as collinear.
const COLLINEAR_TOL: f64 = 1e-9;
/// |det| / product of row norms at or below this counts as a singular fitted matrix (as in
/// [`Transform2D::validate`]).
const SINGULAR_TOL: f64 = 1e-12;
/// Second smallest / largest singular value of the DLT system at or below this: the homography is
/// not determined by the points.
const NULLITY_TOL: f64 = 1e-10;
/// Iteration cap of nalgebra's SVD (0 would mean "no cap").
const SVD_MAX_ITER: usize = 10_000;
/// RANSAC's refit-and-reselect rounds after the consensus search.
const REFINE_ROUNDS: usize = 20;

/// What can go wrong in a landmark fit or while reading landmarks.
#[derive(Debug, thiserror::Error)]
pub enum LandmarkError {
    #[error("a {kind} fit needs at least {need} landmark pairs, got {got}")]
    TooFewPoints {
        kind: &'static str,
        need: usize,
        got: usize,
    },
    #[error("{src} source points but {dst} target points: landmarks come in pairs")]
    LengthMismatch { src: usize, dst: usize },
    #[error("landmark {index} has a non-finite coordinate: source {src:?}, target {dst:?}")]
    NonFinite {
        index: usize,
        src: Point,
        dst: Point,
    },
    #[error("degenerate landmarks for a {kind} fit: {reason}")]
    Degenerate { kind: &'static str, reason: String },
    #[error("invalid fit option: {0}")]
    Options(String),
    #[error(
        "RANSAC found no consensus: the best of {tried} minimal samples has {best} inliers within \
         {threshold_px} px, a {kind} fit needs at least {need}"
    )]
    NoConsensus {
        kind: &'static str,
        tried: usize,
        best: usize,
        need: usize,
        threshold_px: f64,
    },
    #[error("numerical failure: {0}")]
    Numerical(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Csv {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{}: {got} landmark rows, need at least {need}", path.display())]
    TooFewRows {
        path: PathBuf,
        got: usize,
        need: usize,
    },
    #[error("cannot make a transform from the fit: {0}")]
    Transform(#[from] StageError),
}

type Result<T> = std::result::Result<T, LandmarkError>;

/// RANSAC settings. The search is deterministic: the same points and seed give the same result.
#[derive(Debug, Clone, PartialEq)]
pub struct Ransac {
    /// A point is an inlier when its residual is ≤ this (target pixels). Default 3.
    pub threshold_px: f64,
    /// At most this many minimal samples. Default 2000.
    pub max_iterations: usize,
    /// Stop early once a sample with all-inlier probability this high has been drawn (the usual
    /// N = log(1 − p) / log(1 − wᵏ), w the best inlier fraction so far, k the minimal sample size).
    /// Default 0.999.
    pub confidence: f64,
    /// Seed of the sample generator. Default 0.
    pub seed: u64,
}

impl Default for Ransac {
    fn default() -> Self {
        Self {
            threshold_px: 3.0,
            max_iterations: 2000,
            confidence: 0.999,
            seed: 0,
        }
    }
}

/// How to fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitOptions {
    /// RANSAC, used when there are more points than the minimum; `None` fits all points by least
    /// squares. Default on.
    pub ransac: Option<Ransac>,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            ransac: Some(Ransac::default()),
        }
    }
}

impl FitOptions {
    /// Plain least squares over all points.
    pub fn least_squares() -> Self {
        Self { ransac: None }
    }

    fn validate(&self) -> Result<()> {
        let Some(r) = &self.ransac else { return Ok(()) };
        if !(r.threshold_px.is_finite() && r.threshold_px > 0.0) {
            return Err(LandmarkError::Options(format!(
                "RANSAC threshold_px must be a finite number > 0, got {}",
                r.threshold_px
            )));
        }
        if r.max_iterations == 0 {
            return Err(LandmarkError::Options(
                "RANSAC max_iterations must be >= 1".into(),
            ));
        }
        if !(r.confidence > 0.0 && r.confidence < 1.0) {
            return Err(LandmarkError::Options(format!(
                "RANSAC confidence must be in (0, 1), got {}",
                r.confidence
            )));
        }
        Ok(())
    }
}

/// The result of [`fit`].
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Row-major source → target matrix (see the module docs).
    pub matrix: [[f64; 3]; 3],
    pub kind: TransformKind,
    /// ‖M(sᵢ) − dᵢ‖ for every point, inliers or not (target pixels; +∞ for a point that a
    /// homography sends to infinity).
    pub residuals_px: Vec<f64>,
    /// √(mean rᵢ²) over the inliers (target pixels).
    pub rms_px: f64,
    /// The points the final least-squares fit used (all `true` without RANSAC).
    pub inliers: Vec<bool>,
    /// Whether RANSAC chose the inliers.
    pub ransac: bool,
}

impl Fit {
    /// Map a source point to the target space.
    pub fn apply(&self, p: Point) -> Point {
        apply(&self.matrix, p)
    }

    /// Number of inliers.
    pub fn n_inliers(&self) -> usize {
        self.inliers.iter().filter(|&&b| b).count()
    }

    /// Residuals in nm: `residuals_px` × the target pixel size (nm per target pixel).
    pub fn residuals_nm(&self, to_pixel_size_nm: f64) -> Result<Vec<f64>> {
        let s = pixel_size(to_pixel_size_nm)?;
        Ok(self.residuals_px.iter().map(|r| r * s).collect())
    }

    /// RMS residual over the inliers in nm: `rms_px` × the target pixel size.
    pub fn rms_nm(&self, to_pixel_size_nm: f64) -> Result<f64> {
        Ok(self.rms_px * pixel_size(to_pixel_size_nm)?)
    }

    /// The fit as a [`Transform2D`] with `rms_nm` set (confidence NaN) and method `"landmarks"`
    /// (`"landmarks_ransac"` when RANSAC chose the inliers).
    pub fn to_transform(
        &self,
        from_space: &str,
        from_pixel_size_nm: f64,
        to_space: &str,
        to_pixel_size_nm: f64,
    ) -> Result<Transform2D> {
        let method = if self.ransac {
            "landmarks_ransac"
        } else {
            "landmarks"
        };
        let t = Transform2D::new(
            self.matrix,
            self.kind,
            from_space,
            from_pixel_size_nm,
            to_space,
            to_pixel_size_nm,
            method,
        )?;
        Ok(t.with_quality(self.rms_nm(to_pixel_size_nm)?, f64::NAN)?)
    }
}

fn pixel_size(nm: f64) -> Result<f64> {
    if nm.is_finite() && nm > 0.0 {
        Ok(nm)
    } else {
        Err(LandmarkError::Options(format!(
            "target pixel size must be a finite number of nm > 0, got {nm}"
        )))
    }
}

/// The fewest point pairs that determine a transform of `kind`.
pub fn min_points(kind: TransformKind) -> usize {
    match kind {
        TransformKind::Similarity => 2,
        TransformKind::Affine => 3,
        TransformKind::Projective => 4,
    }
}

/// Fit a `kind` transform mapping `src[i]` onto `dst[i]` (see the module docs for the formulas).
///
/// With more than [`min_points`] pairs and `opts.ransac` set, RANSAC picks the inliers (residual
/// ≤ `threshold_px`) and the result is the least-squares fit on them; otherwise every pair is
/// used. Errors (never NaN): unequal lengths, non-finite coordinates, too few pairs, degenerate
/// configurations (coincident source points; collinear source points for affine/projective; a
/// fitted matrix that is singular, e.g. because the target points coincide or are collinear), and
/// no RANSAC consensus.
pub fn fit(src: &[Point], dst: &[Point], kind: TransformKind, opts: &FitOptions) -> Result<Fit> {
    check_input(src, dst, kind)?;
    opts.validate()?;
    let need = min_points(kind);
    let (inliers, ransac) = match &opts.ransac {
        Some(r) if src.len() > need => (ransac_inliers(src, dst, kind, r)?, true),
        _ => (vec![true; src.len()], false),
    };
    let (s, d) = select(src, dst, &inliers);
    let matrix = fit_points(&s, &d, kind)?;
    let residuals_px = residuals(&matrix, src, dst);
    let rms_px = rms(&residuals_px, &inliers);
    if !rms_px.is_finite() {
        return Err(degenerate(
            kind,
            "the fitted homography sends a landmark to infinity",
        ));
    }
    Ok(Fit {
        matrix,
        kind,
        residuals_px,
        rms_px,
        inliers,
        ransac,
    })
}

fn check_input(src: &[Point], dst: &[Point], kind: TransformKind) -> Result<()> {
    if src.len() != dst.len() {
        return Err(LandmarkError::LengthMismatch {
            src: src.len(),
            dst: dst.len(),
        });
    }
    if let Some(index) =
        (0..src.len()).find(|&i| src[i].iter().chain(&dst[i]).any(|v| !v.is_finite()))
    {
        return Err(LandmarkError::NonFinite {
            index,
            src: src[index],
            dst: dst[index],
        });
    }
    let need = min_points(kind);
    if src.len() < need {
        return Err(LandmarkError::TooFewPoints {
            kind: kind.as_str(),
            need,
            got: src.len(),
        });
    }
    Ok(())
}

fn degenerate(kind: TransformKind, reason: impl Into<String>) -> LandmarkError {
    LandmarkError::Degenerate {
        kind: kind.as_str(),
        reason: reason.into(),
    }
}

fn select(src: &[Point], dst: &[Point], keep: &[bool]) -> (Vec<Point>, Vec<Point>) {
    let idx = (0..src.len()).filter(|&i| keep[i]);
    (
        idx.clone().map(|i| src[i]).collect(),
        idx.map(|i| dst[i]).collect(),
    )
}

/// Map `p` through `m` (divides by W; W = 0 gives infinite or NaN coordinates).
pub fn apply(m: &M3, [x, y]: Point) -> Point {
    let w = m[2][0] * x + m[2][1] * y + m[2][2];
    [
        (m[0][0] * x + m[0][1] * y + m[0][2]) / w,
        (m[1][0] * x + m[1][1] * y + m[1][2]) / w,
    ]
}

/// ‖M(sᵢ) − dᵢ‖ per pair (target pixels), +∞ where M(sᵢ) is not finite.
pub fn residuals(m: &M3, src: &[Point], dst: &[Point]) -> Vec<f64> {
    src.iter()
        .zip(dst)
        .map(|(&s, d)| {
            let p = apply(m, s);
            let r = (p[0] - d[0]).hypot(p[1] - d[1]);
            if r.is_finite() { r } else { f64::INFINITY }
        })
        .collect()
}

/// √(mean r²) over the selected residuals (0 when none is selected).
fn rms(residuals: &[f64], keep: &[bool]) -> f64 {
    let (sum, n) = residuals
        .iter()
        .zip(keep)
        .filter(|(_, k)| **k)
        .fold((0.0, 0usize), |(s, n), (r, _)| (s + r * r, n + 1));
    if n == 0 { 0.0 } else { (sum / n as f64).sqrt() }
}

// ---------------------------------------------------------------------------------------------
// Least-squares fits on a given point set.

/// The least-squares `kind` fit on all of `src` → `dst` (at least [`min_points`] pairs, finite).
fn fit_points(src: &[Point], dst: &[Point], kind: TransformKind) -> Result<M3> {
    check_spread(src, kind)?;
    let m = match kind {
        TransformKind::Similarity => similarity(src, dst)?,
        TransformKind::Affine => affine(src, dst)?,
        TransformKind::Projective => projective(src, dst)?,
    };
    check_matrix(&m, kind)?;
    Ok(m)
}

fn centroid(pts: &[Point]) -> Point {
    let n = pts.len() as f64;
    let (sx, sy) = pts
        .iter()
        .fold((0.0, 0.0), |(a, b), p| (a + p[0], b + p[1]));
    [sx / n, sy / n]
}

/// Coincident source points (all kinds) and collinear ones (affine, projective) are degenerate.
fn check_spread(src: &[Point], kind: TransformKind) -> Result<()> {
    let c = centroid(src);
    let centred = DMatrix::from_fn(src.len(), 2, |i, j| src[i][j] - c[j]);
    let sv = svd(centred, false)?.singular_values;
    let scale = src.iter().flatten().fold(1.0f64, |m, v| m.max(v.abs()));
    let (big, small) = (sv[0], sv[1]);
    if big / (src.len() as f64).sqrt() <= COINCIDENT_TOL * scale {
        return Err(degenerate(kind, "the source points coincide"));
    }
    if kind != TransformKind::Similarity && small / big <= COLLINEAR_TOL {
        return Err(degenerate(kind, "the source points are collinear"));
    }
    Ok(())
}

/// A fitted matrix must be finite and invertible.
fn check_matrix(m: &M3, kind: TransformKind) -> Result<()> {
    if m.iter().flatten().any(|v| !v.is_finite()) {
        return Err(degenerate(kind, format!("the fit is not finite: {m:?}")));
    }
    let norm = |r: &[f64]| r.iter().map(|v| v * v).sum::<f64>().sqrt();
    let cond = match kind {
        TransformKind::Projective => {
            to_na(m).determinant().abs() / m.iter().map(|r| norm(r)).product::<f64>()
        }
        _ => {
            let d = m[0][0] * m[1][1] - m[0][1] * m[1][0];
            d.abs() / (norm(&m[0][..2]) * norm(&m[1][..2]))
        }
    };
    if cond.is_nan() || cond <= SINGULAR_TOL {
        let why = match kind {
            TransformKind::Similarity => "do the target points coincide?",
            _ => "are the target points collinear or coincident?",
        };
        return Err(degenerate(
            kind,
            format!("the fitted matrix is singular ({why}): {m:?}"),
        ));
    }
    Ok(())
}

fn to_na(m: &M3) -> Matrix3<f64> {
    Matrix3::from_fn(|r, c| m[r][c])
}

fn from_na(m: &Matrix3<f64>) -> M3 {
    std::array::from_fn(|r| std::array::from_fn(|c| m[(r, c)]))
}

/// SVD (singular values in decreasing order, Vᵀ always computed); an error instead of a panic when
/// it does not converge.
fn svd(m: DMatrix<f64>, with_u: bool) -> Result<SVD<f64, nalgebra::Dyn, nalgebra::Dyn>> {
    SVD::try_new(m, with_u, true, f64::EPSILON, SVD_MAX_ITER).ok_or_else(no_convergence)
}

fn no_convergence() -> LandmarkError {
    LandmarkError::Numerical("the SVD did not converge".into())
}

/// Umeyama's similarity (see the module docs), returned with the exact structure
/// [[a, −b, tx], [b, a, ty], [0, 0, 1]].
fn similarity(src: &[Point], dst: &[Point]) -> Result<M3> {
    let n = src.len() as f64;
    let (ms, md) = (centroid(src), centroid(dst));
    let mut cov = Matrix2::zeros();
    let mut var_s = 0.0;
    for (s, d) in src.iter().zip(dst) {
        let a = Vector2::new(s[0] - ms[0], s[1] - ms[1]);
        let b = Vector2::new(d[0] - md[0], d[1] - md[1]);
        cov += b * a.transpose();
        var_s += a.norm_squared();
    }
    cov /= n;
    var_s /= n;
    let dec =
        SVD::try_new(cov, true, true, f64::EPSILON, SVD_MAX_ITER).ok_or_else(no_convergence)?;
    let (Some(u), Some(v_t)) = (dec.u, dec.v_t) else {
        return Err(LandmarkError::Numerical("SVD without U or Vᵀ".into()));
    };
    let sign = if u.determinant() * v_t.determinant() < 0.0 {
        -1.0
    } else {
        1.0
    };
    let r = u * Matrix2::new(1.0, 0.0, 0.0, sign) * v_t;
    let c = (dec.singular_values[0] + sign * dec.singular_values[1]) / var_s;
    // c·R is [[a, −b], [b, a]] up to rounding; make it exact.
    let a = c * (r[(0, 0)] + r[(1, 1)]) / 2.0;
    let b = c * (r[(1, 0)] - r[(0, 1)]) / 2.0;
    let tx = md[0] - (a * ms[0] - b * ms[1]);
    let ty = md[1] - (b * ms[0] + a * ms[1]);
    Ok([[a, -b, tx], [b, a, ty], [0.0, 0.0, 1.0]])
}

/// Isotropic normalisation T (centroid to the origin, RMS distance √2) of a point set that does
/// not coincide (an error otherwise): T = [[k, 0, −k cx], [0, k, −k cy], [0, 0, 1]] with k = √2 / RMS distance.
struct Normalisation {
    c: Point,
    k: f64,
}

impl Normalisation {
    fn of(pts: &[Point], which: &str) -> Result<Self> {
        let c = centroid(pts);
        let ms = pts
            .iter()
            .map(|p| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2))
            .sum::<f64>()
            / pts.len() as f64;
        let k = (2.0 / ms).sqrt();
        if k.is_finite() {
            Ok(Self { c, k })
        } else {
            Err(degenerate(
                TransformKind::Projective,
                format!("the {which} points coincide"),
            ))
        }
    }

    fn apply(&self, p: Point) -> Point {
        [self.k * (p[0] - self.c[0]), self.k * (p[1] - self.c[1])]
    }

    fn matrix(&self) -> Matrix3<f64> {
        let k = self.k;
        Matrix3::new(
            k,
            0.0,
            -k * self.c[0],
            0.0,
            k,
            -k * self.c[1],
            0.0,
            0.0,
            1.0,
        )
    }

    fn inverse(&self) -> Matrix3<f64> {
        let k = 1.0 / self.k;
        Matrix3::new(k, 0.0, self.c[0], 0.0, k, self.c[1], 0.0, 0.0, 1.0)
    }
}

/// Affine least squares: [x̂ ŷ 1] P ≈ [X Y] in normalised source coordinates (x̂, ŷ), solved by
/// SVD; M = [Pᵀ; 0 0 1] · T_s.
fn affine(src: &[Point], dst: &[Point]) -> Result<M3> {
    let ts = Normalisation::of(src, "source")?;
    let n = src.len();
    let design = DMatrix::from_fn(n, 3, |i, j| match j {
        2 => 1.0,
        _ => ts.apply(src[i])[j],
    });
    let rhs = DMatrix::from_fn(n, 2, |i, j| dst[i][j]);
    let p = svd(design, true)?
        .solve(&rhs, f64::EPSILON)
        .map_err(|e| LandmarkError::Numerical(e.into()))?;
    let mut a = Matrix3::identity();
    for r in 0..2 {
        for c in 0..3 {
            a[(r, c)] = p[(c, r)];
        }
    }
    let mut m = from_na(&(a * ts.matrix()));
    m[2] = [0.0, 0.0, 1.0];
    Ok(m)
}

/// Normalised DLT (see the module docs).
fn projective(src: &[Point], dst: &[Point]) -> Result<M3> {
    if src.len() == min_points(TransformKind::Projective) {
        check_no_three_collinear(src, "source")?;
        check_no_three_collinear(dst, "target")?;
    }
    let (ts, td) = (
        Normalisation::of(src, "source")?,
        Normalisation::of(dst, "target")?,
    );
    let a = dlt_system(src, dst, &ts, &td);
    let dec = svd(a, false)?;
    let sv = &dec.singular_values;
    let Some(v_t) = dec.v_t.as_ref() else {
        return Err(LandmarkError::Numerical("SVD without Vᵀ".into()));
    };
    if sv[7] <= NULLITY_TOL * sv[0] {
        return Err(degenerate(
            TransformKind::Projective,
            "the points do not determine a homography (too many of them collinear)",
        ));
    }
    let h = Matrix3::from_fn(|r, c| v_t[(8, 3 * r + c)]);
    let m = td.inverse() * h * ts.matrix();
    Ok(from_na(&scale_homography(m)))
}

/// Two rows per pair in normalised coordinates (x, y) → (X, Y):
/// [x, y, 1, 0, 0, 0, −Xx, −Xy, −X] and [0, 0, 0, x, y, 1, −Yx, −Yy, −Y]; zero rows pad it to at
/// least 9 rows so that the SVD has all nine right singular vectors.
fn dlt_system(
    src: &[Point],
    dst: &[Point],
    ts: &Normalisation,
    td: &Normalisation,
) -> DMatrix<f64> {
    let rows = (2 * src.len()).max(9);
    let mut a = DMatrix::zeros(rows, 9);
    for (i, (s, d)) in src.iter().zip(dst).enumerate() {
        let [x, y] = ts.apply(*s);
        let [xx, yy] = td.apply(*d);
        let r0 = [x, y, 1.0, 0.0, 0.0, 0.0, -xx * x, -xx * y, -xx];
        let r1 = [0.0, 0.0, 0.0, x, y, 1.0, -yy * x, -yy * y, -yy];
        for j in 0..9 {
            a[(2 * i, j)] = r0[j];
            a[(2 * i + 1, j)] = r1[j];
        }
    }
    a
}

/// M / M₂₂ when M₂₂ is not (nearly) zero, else M / ‖M‖ (the source origin then maps to infinity).
fn scale_homography(m: Matrix3<f64>) -> Matrix3<f64> {
    let w = m[(2, 2)];
    if w.abs() > 1e-12 * m.norm() {
        m / w
    } else {
        m / m.norm()
    }
}

/// For the minimal 4-point homography: no three points on a line (or two on one spot).
fn check_no_three_collinear(pts: &[Point], which: &str) -> Result<()> {
    for i in 0..pts.len() {
        for j in i + 1..pts.len() {
            for k in j + 1..pts.len() {
                if collinear(pts[i], pts[j], pts[k]) {
                    return Err(degenerate(
                        TransformKind::Projective,
                        format!("{which} points {i}, {j} and {k} are collinear"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// |sin| of the angle at `a` ≤ [`COLLINEAR_TOL`] (or a repeated point).
fn collinear(a: Point, b: Point, c: Point) -> bool {
    let (u, v) = ([b[0] - a[0], b[1] - a[1]], [c[0] - a[0], c[1] - a[1]]);
    let cross = (u[0] * v[1] - u[1] * v[0]).abs();
    cross <= COLLINEAR_TOL * u[0].hypot(u[1]) * v[0].hypot(v[1])
}

// ---------------------------------------------------------------------------------------------
// RANSAC.

/// SplitMix64: a small, seedable, portable generator (same sequence on every platform).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n ≥ 1), by Lemire's multiply-shift (bias < n / 2⁶⁴).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next()) * n as u128) >> 64) as usize
    }
}

/// The best minimal-sample model's inlier count and its sum of squared inlier residuals.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
struct Score {
    count: usize,
    neg_sse: f64,
}

fn score(res: &[f64], threshold: f64) -> Score {
    let inl = res.iter().filter(|&&r| r <= threshold);
    Score {
        count: inl.clone().count(),
        neg_sse: -inl.map(|r| r * r).sum::<f64>(),
    }
}

/// Samples needed for a `confidence` chance of one all-inlier minimal sample at inlier fraction w.
fn needed_iterations(w: f64, k: usize, confidence: f64) -> f64 {
    let p_good = w.powi(k as i32);
    if p_good >= 1.0 {
        return 1.0;
    }
    if p_good <= 0.0 {
        return f64::INFINITY;
    }
    ((1.0 - confidence).ln() / (1.0 - p_good).ln()).ceil()
}

/// Consensus search over minimal samples, then refit on the inliers and reselect until the set is
/// stable; the inlier mask of the final least-squares fit. A consensus needs more inliers than the
/// minimal sample (a model that only its own sample supports is not verified): else
/// [`LandmarkError::NoConsensus`]. When every sample is degenerate, the last sample's error.
fn ransac_inliers(
    src: &[Point],
    dst: &[Point],
    kind: TransformKind,
    r: &Ransac,
) -> Result<Vec<bool>> {
    let k = min_points(kind);
    let n = src.len();
    let mut rng = SplitMix64(r.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut best: Option<(Score, M3)> = None;
    let mut last_err = None;
    let mut tried = 0;
    while tried < r.max_iterations {
        tried += 1;
        for i in 0..k {
            let j = i + rng.below(n - i);
            order.swap(i, j);
        }
        let (s, d): (Vec<Point>, Vec<Point>) = order[..k].iter().map(|&i| (src[i], dst[i])).unzip();
        let m = match fit_points(&s, &d, kind) {
            Ok(m) => m,
            Err(e) => {
                last_err = Some(e);
                continue;
            }
        };
        let sc = score(&residuals(&m, src, dst), r.threshold_px);
        if best.as_ref().is_none_or(|(b, _)| sc > *b) {
            best = Some((sc, m));
        }
        let w = best
            .as_ref()
            .map_or(0.0, |(b, _)| b.count as f64 / n as f64);
        if tried as f64 >= needed_iterations(w, k, r.confidence) {
            break;
        }
    }
    let Some((sc, m)) = best else {
        // Every minimal sample was degenerate: say why.
        return Err(
            last_err.unwrap_or_else(|| degenerate(kind, "no minimal sample could be fitted"))
        );
    };
    if sc.count <= k {
        return Err(LandmarkError::NoConsensus {
            kind: kind.as_str(),
            tried,
            best: sc.count,
            need: k + 1,
            threshold_px: r.threshold_px,
        });
    }
    refine(src, dst, kind, r.threshold_px, &m)
}

fn within(m: &M3, src: &[Point], dst: &[Point], threshold: f64) -> Vec<bool> {
    residuals(m, src, dst)
        .iter()
        .map(|&r| r <= threshold)
        .collect()
}

/// Refit on the inliers of `m` and reselect, up to [`REFINE_ROUNDS`] times or until the inlier set
/// stops changing (or would become too small / degenerate, which keeps the previous set).
fn refine(
    src: &[Point],
    dst: &[Point],
    kind: TransformKind,
    thr: f64,
    m: &M3,
) -> Result<Vec<bool>> {
    let k = min_points(kind);
    let mut inliers = within(m, src, dst, thr);
    for _ in 0..REFINE_ROUNDS {
        let (s, d) = select(src, dst, &inliers);
        let Ok(refit) = fit_points(&s, &d, kind) else {
            break;
        };
        let next = within(&refit, src, dst, thr);
        if next == inliers || next.iter().filter(|&&b| b).count() < k {
            break;
        }
        inliers = next;
    }
    Ok(inliers)
}

// ---------------------------------------------------------------------------------------------
// CSV.

/// One landmark pair read from a CSV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Landmark {
    /// The `name` column, when the file has one (and the cell is not empty).
    pub name: Option<String>,
    /// 1-based line of the file.
    pub line: usize,
    /// EM pixel (`em_x` = column, `em_y` = row).
    pub src: Point,
    /// NanoSIMS pixel (`nanosims_x`, `nanosims_y`).
    pub dst: Point,
}

impl fmt::Display for Landmark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(n) => write!(f, "'{n}' (line {})", self.line),
            None => write!(f, "line {}", self.line),
        }
    }
}

/// The source and target points of `landmarks`, in order (for [`fit`]).
pub fn split(landmarks: &[Landmark]) -> (Vec<Point>, Vec<Point>) {
    landmarks.iter().map(|l| (l.src, l.dst)).unzip()
}

const COLUMNS: [&str; 4] = ["em_x", "em_y", "nanosims_x", "nanosims_y"];
/// The fewest rows a landmark file may have (the smallest fit, a similarity, needs 2).
pub const MIN_ROWS: usize = 2;

/// Read landmark pairs from a CSV file: a header line naming (in any order, case-insensitive)
/// `em_x, em_y, nanosims_x, nanosims_y` (EM and NanoSIMS pixel coordinates, x = column, y = row)
/// and optionally `name`; other columns are ignored. Then one landmark per line; empty lines and
/// lines starting with `#` are skipped; cells may be wrapped in double quotes (no commas inside).
/// Errors name the file and line: a missing or repeated column, a wrong number of cells, a cell
/// that is not a finite number, a repeated name, fewer than [`MIN_ROWS`] landmarks.
pub fn read_landmarks_csv(path: impl AsRef<Path>) -> Result<Vec<Landmark>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| LandmarkError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_landmarks_csv(&text, path)
}

/// [`read_landmarks_csv`] on text already read; `path` is for the messages.
pub fn parse_landmarks_csv(text: &str, path: &Path) -> Result<Vec<Landmark>> {
    let csv_err = |line: usize, message: String| LandmarkError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let Some((hline, header)) = lines.next() else {
        return Err(csv_err(
            1,
            format!(
                "no header line (expected the columns {})",
                COLUMNS.join(", ")
            ),
        ));
    };
    let header = Header::parse(header).map_err(|m| csv_err(hline, m))?;
    let mut out: Vec<Landmark> = Vec::new();
    for (line, text) in lines {
        let l = header.row(text, line).map_err(|m| csv_err(line, m))?;
        if let Some(prev) = out.iter().find(|p| p.name.is_some() && p.name == l.name) {
            return Err(csv_err(line, format!("landmark name repeats {prev}")));
        }
        out.push(l);
    }
    if out.len() < MIN_ROWS {
        return Err(LandmarkError::TooFewRows {
            path: path.to_path_buf(),
            got: out.len(),
            need: MIN_ROWS,
        });
    }
    Ok(out)
}

fn cells(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|c| {
            let c = c.trim();
            c.strip_prefix('"')
                .and_then(|c| c.strip_suffix('"'))
                .unwrap_or(c)
                .trim()
        })
        .collect()
}

/// Where the columns are.
struct Header {
    width: usize,
    coords: [usize; 4],
    name: Option<usize>,
}

impl Header {
    fn parse(line: &str) -> std::result::Result<Self, String> {
        let names: Vec<String> = cells(line).iter().map(|c| c.to_ascii_lowercase()).collect();
        let find = |want: &str| -> std::result::Result<Option<usize>, String> {
            let hits: Vec<usize> = (0..names.len()).filter(|&i| names[i] == want).collect();
            match hits[..] {
                [] => Ok(None),
                [i] => Ok(Some(i)),
                _ => Err(format!(
                    "column '{want}' appears {} times in the header",
                    hits.len()
                )),
            }
        };
        let mut coords = [0; 4];
        for (slot, want) in coords.iter_mut().zip(COLUMNS) {
            *slot = find(want)?.ok_or_else(|| {
                format!(
                    "header has no column '{want}' (expected {}, optional name; found: {})",
                    COLUMNS.join(", "),
                    names.join(", ")
                )
            })?;
        }
        Ok(Self {
            width: names.len(),
            coords,
            name: find("name")?,
        })
    }

    fn row(&self, line: &str, number: usize) -> std::result::Result<Landmark, String> {
        let c = cells(line);
        if c.len() != self.width {
            return Err(format!(
                "expected {} cells as in the header, got {}",
                self.width,
                c.len()
            ));
        }
        let mut v = [0.0; 4];
        for ((slot, &col), name) in v.iter_mut().zip(&self.coords).zip(COLUMNS) {
            *slot = number_cell(c[col], name)?;
        }
        Ok(Landmark {
            name: self
                .name
                .map(|i| c[i].to_string())
                .filter(|s| !s.is_empty()),
            line: number,
            src: [v[0], v[1]],
            dst: [v[2], v[3]],
        })
    }
}

fn number_cell(cell: &str, column: &str) -> std::result::Result<f64, String> {
    let v: f64 = cell
        .parse()
        .map_err(|_| format!("{column} '{cell}' is not a number"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{column} is {cell}; coordinates must be finite"))
    }
}
