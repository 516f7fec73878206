//! Declarative preprocessing steps (the configuration of a pipeline stage).

use ndarray::{Array2, ArrayView2};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::util::{check_nonempty, check_pixel_size};
use crate::{
    BackgroundMode, PreprocessError, clahe, flatten_background, gaussian, invert, median,
    percentile_normalize, resample,
};

fn default_low() -> f64 {
    0.5
}
fn default_high() -> f64 {
    99.5
}
fn default_clip_limit() -> f64 {
    0.01
}
fn default_nbins() -> usize {
    256
}

/// One preprocessing operation. Steps run in list order; each one sees the
/// output (and pixel size) of the previous one. Lengths given in nm are
/// converted to px with the current pixel size (nm/px).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Percentile contrast stretch to [0, 1]: `clip((x - p_low) / (p_high - p_low), 0, 1)`
    /// with numpy-style (linear) percentiles of the finite pixels. A constant
    /// image becomes all zeros.
    PercentileNormalize {
        /// Lower percentile in percent (0..100), mapped to 0.
        #[serde(default = "default_low")]
        #[schemars(range(min = 0.0, max = 100.0))]
        low: f64,
        /// Upper percentile in percent (0..100, > low), mapped to 1.
        #[serde(default = "default_high")]
        #[schemars(range(min = 0.0, max = 100.0))]
        high: f64,
    },
    /// Contrast-limited adaptive histogram equalisation, identical to
    /// scikit-image `equalize_adapthist`. Output in [0, 1]. Input pixels must
    /// lie in [-1, 1]: put a `percentile_normalize` step before it.
    Clahe {
        /// Contextual region size `[rows, cols]` in px; omitted or null = 1/8 of
        /// the image height and width.
        #[serde(default)]
        kernel_size_px: Option<[usize; 2]>,
        /// Normalised clip limit (ratio, 0..1); higher gives more contrast, 0
        /// disables clipping (plain adaptive equalisation).
        #[serde(default = "default_clip_limit")]
        #[schemars(range(min = 0.0))]
        clip_limit: f64,
        /// Number of histogram bins (grey levels of the mapping).
        #[serde(default = "default_nbins")]
        #[schemars(range(min = 1, max = 65536))]
        nbins: usize,
    },
    /// Gaussian blur (scipy `gaussian_filter`, reflect boundary, truncated at
    /// 4 sigma).
    Gaussian {
        /// Standard deviation in nm (> 0); divided by the current pixel size
        /// to get px.
        #[schemars(extend("exclusiveMinimum" = 0))]
        sigma_nm: f64,
    },
    /// Square median filter (scipy `median_filter`, reflect boundary), e.g. to
    /// remove shot noise or hot pixels.
    Median {
        /// Window side in px (odd, >= 1, <= 255).
        #[schemars(range(min = 1, max = 255))]
        size_px: usize,
    },
    /// Removes a smooth background `B` = Gaussian blur of the image, keeping
    /// the mean level: `x - B + mean(B)` or `x / B * mean(B)`.
    FlattenBackground {
        /// Standard deviation of the background blur in nm (> 0); choose it
        /// well above the size of the structures to keep.
        #[schemars(extend("exclusiveMinimum" = 0))]
        sigma_nm: f64,
        /// `divide` (multiplicative shading, needs a positive background) or
        /// `subtract` (additive offset).
        #[serde(default)]
        mode: BackgroundMode,
    },
    /// Intensity inversion `min + max - x` (e.g. to make bright-field look
    /// like dark-field); the value range is unchanged.
    Invert,
    /// Changes the pixel size: area averaging when the new pixels are larger,
    /// bilinear interpolation when smaller. The output shape is the input
    /// shape times old/new pixel size, rounded.
    Resample {
        /// New pixel size in nm/px (> 0).
        #[schemars(extend("exclusiveMinimum" = 0))]
        pixel_size_nm: f64,
    },
}

impl Step {
    /// The step's `op` tag as written in JSON (e.g. `"flatten_background"`).
    pub fn op(&self) -> &'static str {
        match self {
            Step::PercentileNormalize { .. } => "percentile_normalize",
            Step::Clahe { .. } => "clahe",
            Step::Gaussian { .. } => "gaussian",
            Step::Median { .. } => "median",
            Step::FlattenBackground { .. } => "flatten_background",
            Step::Invert => "invert",
            Step::Resample { .. } => "resample",
        }
    }

    /// Checks the parameters that do not depend on the image (ranges, parity), so that a pipeline
    /// is rejected before it runs. `apply` calls this too.
    pub fn validate(&self) -> Result<(), PreprocessError> {
        let positive = |name: &'static str, v: f64, unit: &str| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(PreprocessError::param(
                    name,
                    v,
                    format!("must be finite and > 0 {unit}"),
                ))
            }
        };
        match self {
            Step::PercentileNormalize { low, high } => {
                for (name, v) in [("low", *low), ("high", *high)] {
                    if !(0.0..=100.0).contains(&v) {
                        return Err(PreprocessError::param(
                            name,
                            v,
                            "must be a percentile in 0..=100",
                        ));
                    }
                }
                if low >= high {
                    return Err(PreprocessError::param(
                        "low",
                        low,
                        format!("must be below high ({high})"),
                    ));
                }
                Ok(())
            }
            Step::Clahe {
                kernel_size_px,
                clip_limit,
                nbins,
            } => {
                if !(clip_limit.is_finite() && *clip_limit >= 0.0) {
                    return Err(PreprocessError::param(
                        "clip_limit",
                        clip_limit,
                        "must be finite and >= 0",
                    ));
                }
                if !(1..=crate::MAX_CLAHE_NBINS).contains(nbins) {
                    return Err(PreprocessError::param(
                        "nbins",
                        nbins,
                        format!("must be in 1..={}", crate::MAX_CLAHE_NBINS),
                    ));
                }
                if let Some([r, c]) = kernel_size_px
                    && (*r == 0 || *c == 0)
                {
                    return Err(PreprocessError::param(
                        "kernel_size_px",
                        format!("[{r}, {c}]"),
                        "sides must be >= 1 px",
                    ));
                }
                Ok(())
            }
            Step::Gaussian { sigma_nm } | Step::FlattenBackground { sigma_nm, .. } => {
                positive("sigma_nm", *sigma_nm, "nm")
            }
            Step::Median { size_px } => {
                if *size_px % 2 == 0 || *size_px > crate::MAX_MEDIAN_SIZE {
                    return Err(PreprocessError::param(
                        "size_px",
                        size_px,
                        format!("must be odd and in 1..={}", crate::MAX_MEDIAN_SIZE),
                    ));
                }
                Ok(())
            }
            Step::Invert => Ok(()),
            Step::Resample { pixel_size_nm } => positive("pixel_size_nm", *pixel_size_nm, "nm"),
        }
    }

    /// Applies this one step to an image whose pixel size is `pixel_size_nm`
    /// (nm/px); returns the new image and its pixel size in nm/px (changed only
    /// by [`Step::Resample`]).
    pub fn apply(
        &self,
        img: ArrayView2<'_, f32>,
        pixel_size_nm: f64,
    ) -> Result<(Array2<f32>, f64), PreprocessError> {
        check_pixel_size("pixel_size_nm", pixel_size_nm)?;
        self.validate()?;
        let nm_to_px = |name: &'static str, v: f64| -> Result<f64, PreprocessError> {
            if v.is_finite() && v > 0.0 {
                Ok(v / pixel_size_nm)
            } else {
                Err(PreprocessError::param(name, v, "must be finite and > 0 nm"))
            }
        };
        let out = match self {
            Step::PercentileNormalize { low, high } => percentile_normalize(img, *low, *high)?,
            Step::Clahe {
                kernel_size_px,
                clip_limit,
                nbins,
            } => clahe(
                img,
                kernel_size_px.map(|[r, c]| (r, c)),
                *clip_limit,
                *nbins,
            )?,
            Step::Gaussian { sigma_nm } => gaussian(img, nm_to_px("sigma_nm", *sigma_nm)?)?,
            Step::Median { size_px } => median(img, *size_px)?,
            Step::FlattenBackground { sigma_nm, mode } => {
                flatten_background(img, nm_to_px("sigma_nm", *sigma_nm)?, *mode)?
            }
            Step::Invert => invert(img)?,
            Step::Resample {
                pixel_size_nm: target,
            } => {
                let out = resample(img, pixel_size_nm, *target)?;
                return Ok((out, *target));
            }
        };
        Ok((out, pixel_size_nm))
    }
}

/// Runs `steps` in order on `img` whose pixel size is `pixel_size_nm` (nm/px).
///
/// Returns the processed image and its pixel size in nm/px (changed by
/// [`Step::Resample`] steps, to exactly the requested value). An empty `steps`
/// list returns a copy.
///
/// Errors: empty image; `pixel_size_nm` not finite or <= 0; otherwise the first
/// failing step's error wrapped in [`PreprocessError::Step`] (with its index and
/// `op`).
pub fn apply_steps(
    img: ArrayView2<'_, f32>,
    pixel_size_nm: f64,
    steps: &[Step],
) -> Result<(Array2<f32>, f64), PreprocessError> {
    check_nonempty(&img)?;
    check_pixel_size("pixel_size_nm", pixel_size_nm)?;
    let mut cur = img.to_owned();
    let mut px = pixel_size_nm;
    for (index, step) in steps.iter().enumerate() {
        let (next, next_px) = step
            .apply(cur.view(), px)
            .map_err(|e| PreprocessError::Step {
                index,
                op: step.op(),
                source: Box::new(e),
            })?;
        cur = next;
        px = next_px;
    }
    Ok((cur, px))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, array};

    #[test]
    fn json_defaults_and_tags() {
        let steps: Vec<Step> = serde_json::from_str(
            r#"[
              {"op": "percentile_normalize"},
              {"op": "clahe"},
              {"op": "clahe", "kernel_size_px": [8, 16], "clip_limit": 0.02, "nbins": 128},
              {"op": "gaussian", "sigma_nm": 5.0},
              {"op": "median", "size_px": 3},
              {"op": "flatten_background", "sigma_nm": 200},
              {"op": "flatten_background", "sigma_nm": 200, "mode": "subtract"},
              {"op": "invert"},
              {"op": "resample", "pixel_size_nm": 4.0}
            ]"#,
        )
        .unwrap();
        assert_eq!(
            steps,
            vec![
                Step::PercentileNormalize {
                    low: 0.5,
                    high: 99.5
                },
                Step::Clahe {
                    kernel_size_px: None,
                    clip_limit: 0.01,
                    nbins: 256
                },
                Step::Clahe {
                    kernel_size_px: Some([8, 16]),
                    clip_limit: 0.02,
                    nbins: 128
                },
                Step::Gaussian { sigma_nm: 5.0 },
                Step::Median { size_px: 3 },
                Step::FlattenBackground {
                    sigma_nm: 200.0,
                    mode: BackgroundMode::Divide
                },
                Step::FlattenBackground {
                    sigma_nm: 200.0,
                    mode: BackgroundMode::Subtract
                },
                Step::Invert,
                Step::Resample { pixel_size_nm: 4.0 },
            ]
        );
        // round trip
        let json = serde_json::to_string(&steps).unwrap();
        let back: Vec<Step> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, steps);
        assert!(json.contains(r#"{"op":"invert"}"#));
    }

    #[test]
    fn json_rejects_unknown_fields_and_ops() {
        assert!(serde_json::from_str::<Step>(r#"{"op": "gaussian", "sigma_px": 2}"#).is_err());
        assert!(
            serde_json::from_str::<Step>(r#"{"op": "gaussian", "sigma_nm": 2, "x": 1}"#).is_err()
        );
        assert!(serde_json::from_str::<Step>(r#"{"op": "sharpen"}"#).is_err());
        assert!(serde_json::from_str::<Step>(r#"{"op": "median"}"#).is_err());
    }

    #[test]
    fn schema_has_descriptions() {
        let schema = schemars::schema_for!(Step);
        let text = serde_json::to_string(&schema).unwrap();
        assert!(text.contains("Standard deviation in nm"));
        assert!(text.contains("flatten_background"));
        assert!(text.contains("New pixel size in nm/px"));
        let v = serde_json::to_value(&schema).unwrap();
        let variants = v["oneOf"].as_array().unwrap();
        let median = variants
            .iter()
            .find(|s| s["properties"]["op"]["const"] == "median")
            .unwrap();
        assert_eq!(median["properties"]["size_px"]["maximum"], 255);
        let gauss = variants
            .iter()
            .find(|s| s["properties"]["op"]["const"] == "gaussian")
            .unwrap();
        assert_eq!(gauss["properties"]["sigma_nm"]["exclusiveMinimum"], 0);
    }

    #[test]
    fn apply_converts_nm_to_px_and_tracks_pixel_size() {
        let img = Array2::from_shape_fn((8, 8), |(y, x)| (y * 8 + x) as f32);
        // sigma 4 nm at 2 nm/px == gaussian with sigma 2 px
        let (out, px) = apply_steps(img.view(), 2.0, &[Step::Gaussian { sigma_nm: 4.0 }]).unwrap();
        assert_eq!(px, 2.0);
        assert_eq!(out, gaussian(img.view(), 2.0).unwrap());
        let (out, px) = apply_steps(
            img.view(),
            2.0,
            &[Step::Resample { pixel_size_nm: 4.0 }, Step::Invert],
        )
        .unwrap();
        assert_eq!(px, 4.0);
        assert_eq!(out.dim(), (4, 4));
        // block means of the 2x2 blocks: first is (0+1+8+9)/4 = 4.5, last 58.5;
        // after inversion min+max-x: first becomes 58.5
        assert_eq!(out[[0, 0]], 58.5);
        assert_eq!(out[[3, 3]], 4.5);
        let (same, px) = apply_steps(img.view(), 3.0, &[]).unwrap();
        assert_eq!((same, px), (img.clone(), 3.0));
    }

    #[test]
    fn apply_errors_carry_step_index() {
        let img = array![[1.0f32, 2.0], [3.0, 4.0]];
        let err = apply_steps(
            img.view(),
            1.0,
            &[Step::Invert, Step::Median { size_px: 2 }],
        )
        .unwrap_err();
        match err {
            PreprocessError::Step { index, op, source } => {
                assert_eq!((index, op), (1, "median"));
                assert!(matches!(
                    *source,
                    PreprocessError::InvalidParameter {
                        name: "size_px",
                        ..
                    }
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = apply_steps(img.view(), 1.0, &[Step::Gaussian { sigma_nm: -1.0 }]).unwrap_err();
        assert!(matches!(
            err,
            PreprocessError::Step { index: 0, op: "gaussian", ref source }
                if matches!(**source, PreprocessError::InvalidParameter { name: "sigma_nm", .. })
        ));
        assert!(matches!(
            apply_steps(img.view(), 0.0, &[]),
            Err(PreprocessError::InvalidPixelSize { .. })
        ));
        assert!(matches!(
            apply_steps(img.view(), f64::NAN, &[]),
            Err(PreprocessError::InvalidPixelSize { .. })
        ));
        assert!(matches!(
            apply_steps(Array2::<f32>::zeros((0, 0)).view(), 1.0, &[]),
            Err(PreprocessError::EmptyImage { .. })
        ));
    }
}
