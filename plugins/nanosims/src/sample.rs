//! Floating-point element types that the in-place corrections accept.

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point pixel type (`f32` or `f64`) that in-place corrections can read and write.
///
/// Arithmetic is always done in `f64`; results are rounded to the element type when stored.
pub trait Sample: Copy + Into<f64> + Send + Sync + 'static + sealed::Sealed {
    /// Widen to `f64`.
    fn to_f64(self) -> f64;
    /// Narrow from `f64` (round to nearest for `f32`).
    fn from_f64(v: f64) -> Self;
}

impl Sample for f32 {
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v as f32
    }
}

impl Sample for f64 {
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn from_f64(v: f64) -> Self {
        v
    }
}
