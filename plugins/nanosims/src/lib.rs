//! NanoSIMS ion-image processing for corrflow: pure functions over `ndarray`.
//!
//! | module | what |
//! |---|---|
//! | [`deadtime`] | non-paralysable detector dead-time correction (+ LANS yield/background), dwell time |
//! | [`qsa`] | quasi-simultaneous arrival correction (Slodzian 2004) |
//! | [`align`] | plane drift estimation by phase correlation with upsampled-DFT sub-pixel refinement (matches `skimage.registration.phase_cross_correlation`), shift application |
//! | [`hotpix`] | hot-pixel detection/replacement against the 3×3 neighbourhood median |
//! | [`ratio`] | ratio images (threshold, box smoothing), ratio of sums with Poisson error |
//! | [`hsi`] | HSI and colour-mapped ratio images, PNG export |
//! | [`colorbar`] | colour bar with numeric labels drawn with an 8×8 bitmap font |
//!
//! Order of the per-pixel corrections (see `shared/notes/quantification.md`): dead time, then
//! QSA, per plane and mass, before summing planes or computing ratios.
//!
//! No function of this crate panics on any input: invalid parameters, empty arrays, shape
//! mismatches and non-finite values are reported with the typed error of each module (all
//! convertible into [`Error`]).

pub mod align;
pub mod colorbar;
pub mod deadtime;
pub mod hotpix;
pub mod hsi;
pub mod qsa;
pub mod ratio;
mod sample;
mod stats;

mod inspect;
mod stage_io;
mod stage_ratio;

pub use inspect::{ImInspector, summary as im_summary};
pub use stage_io::{IoNanosims, IoNanosimsParams};
pub use stage_ratio::{NanosimsRatio, RATIO_IMAGE, RatioImage, RatioParams};

/// Registers `io.nanosims`, `nanosims.ratio` and the `.im` inspector.
pub struct NanosimsPlugin;

impl corrflow_stage::Plugin for NanosimsPlugin {
    fn build(&self, registry: &mut corrflow_stage::Registry) {
        registry
            .add_stage(IoNanosims)
            .add_stage(NanosimsRatio)
            .add_inspector(ImInspector);
    }
}

pub use sample::Sample;

/// Any error of this crate (each module also has its own error type).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    DeadTime(#[from] deadtime::DeadTimeError),
    #[error(transparent)]
    Qsa(#[from] qsa::QsaError),
    #[error(transparent)]
    Align(#[from] align::AlignError),
    #[error(transparent)]
    HotPixel(#[from] hotpix::HotPixelError),
    #[error(transparent)]
    Ratio(#[from] ratio::RatioError),
    #[error(transparent)]
    Render(#[from] hsi::RenderError),
}
