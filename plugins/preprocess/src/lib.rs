//! EM image preprocessing for corrflow.
//!
//! Pure functions over 2-D float32 images (`ndarray`, row-major, shape
//! `(height, width)` in px). Apart from pixel sizes in nm/px they know nothing
//! about the microscope. Each function reproduces a reference implementation
//! from the Python ecosystem (numpy / scipy.ndimage / scikit-image), checked
//! by the tests in `tests/reference.rs` against data produced by
//! `reference/make_reference.py`:
//!
//! | function | reference |
//! | --- | --- |
//! | [`percentile_normalize`] | `numpy.percentile` + clip |
//! | [`clahe`] | `skimage.exposure.equalize_adapthist` |
//! | [`gaussian`] | `scipy.ndimage.gaussian_filter(mode='reflect', truncate=4)` |
//! | [`median`] | `scipy.ndimage.median_filter(mode='reflect')` |
//! | [`flatten_background`] | the same formula in numpy/scipy |
//! | [`invert`] | `min + max - x` |
//! | [`resample`] | OpenCV `INTER_AREA` / `skimage.measure.block_reduce` (shrink), `skimage.transform.resize(order=1)` (enlarge) |
//!
//! No function panics on any input (empty images, 1x1 images, NaN pixels,
//! absurd parameters): they return [`PreprocessError`]. The NaN behaviour of
//! each function is documented on it. Work on large images is parallelised
//! over rows with rayon.
//!
//! [`Step`] / [`apply_steps`] describe a sequence of these operations as
//! serde/JSON-Schema configuration with lengths in nm.

mod background;
mod clahe;
mod error;
mod gaussian;
mod intensity;
mod median;
mod resample;
mod stage;
mod steps;
mod util;
pub use stage::{PreprocessEm, PreprocessParams, PreprocessPlugin};

pub use background::{BackgroundMode, flatten_background};
pub use clahe::{MAX_CLAHE_NBINS, MAX_CLAHE_TABLE, clahe};
pub use error::PreprocessError;
pub use gaussian::{MAX_GAUSSIAN_RADIUS, TRUNCATE, gaussian};
pub use intensity::{invert, percentile, percentile_normalize};
pub use median::{MAX_MEDIAN_SIZE, median};
pub use resample::{MAX_OUTPUT_PIXELS, resample, resampled_shape};
pub use steps::{Step, apply_steps};
