//! Renderer configuration.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How many instances of each class are *placed* in the cell (inclusive
/// `[min, max]`). Placement may fail in a crowded cell and objects may end up
/// outside the field of view or fully occluded, so the number of visible
/// instances can be lower than `min`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ClassCounts {
    pub nucleus: [u32; 2],
    pub mitochondrion: [u32; 2],
    pub er: [u32; 2],
    pub golgi: [u32; 2],
    pub lysosome: [u32; 2],
    /// All vesicles, including those budding at Golgi rims.
    pub vesicle: [u32; 2],
}

impl Default for ClassCounts {
    fn default() -> Self {
        Self {
            nucleus: [1, 1],
            mitochondrion: [3, 8],
            er: [4, 9],
            golgi: [1, 2],
            lysosome: [1, 4],
            vesicle: [15, 40],
        }
    }
}

/// Configuration of the synthetic TEM renderer. Physical sizes are in µm or nm
/// and converted with `pixel_size_nm`, so the same config renders the same
/// cell at any resolution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmConfig {
    pub width_px: usize,
    pub height_px: usize,
    /// Pixel size (nm/px).
    pub pixel_size_nm: f64,
    /// Cell diameter range (µm); the cell may be larger than the field of view.
    pub cell_diameter_um: [f64; 2],
    /// Largest offset of the cell centre from the image centre, as a fraction
    /// of the cell radius.
    pub cell_offset_frac: f64,
    pub counts: ClassCounts,
    pub nucleus_diameter_um: [f64; 2],
    pub mitochondrion_width_um: [f64; 2],
    pub mitochondrion_length_um: [f64; 2],
    pub er_length_um: [f64; 2],
    pub golgi_cisternae: [u32; 2],
    pub golgi_length_um: [f64; 2],
    pub lysosome_diameter_um: [f64; 2],
    pub vesicle_diameter_nm: [f64; 2],
    /// Free cytoplasmic ribosomes per µm² of cytoplasm.
    pub ribosomes_per_um2: f64,
    /// Probability that an object ignores the no-overlap rule with others.
    pub overlap_probability: f64,
    /// Gaussian point-spread function σ (nm); 0 disables.
    pub blur_sigma_nm: f64,
    /// Mean electron dose per pixel through bare resin (Poisson shot noise);
    /// 0 disables noise.
    pub dose_e_per_px: f64,
    /// Relative amplitude of the smooth illumination gain field (0 = flat).
    pub illumination_amplitude: f64,
    /// Random per-image scaling of stain contrast (±fraction).
    pub contrast_jitter: f64,
}

impl Default for EmConfig {
    fn default() -> Self {
        Self {
            width_px: 2048,
            height_px: 2048,
            pixel_size_nm: 3.0,
            cell_diameter_um: [6.5, 9.0],
            cell_offset_frac: 0.45,
            counts: ClassCounts::default(),
            nucleus_diameter_um: [2.6, 3.6],
            mitochondrion_width_um: [0.3, 0.7],
            mitochondrion_length_um: [0.4, 2.0],
            er_length_um: [0.8, 2.5],
            golgi_cisternae: [4, 7],
            golgi_length_um: [0.6, 1.3],
            lysosome_diameter_um: [0.2, 0.8],
            vesicle_diameter_nm: [40.0, 150.0],
            ribosomes_per_um2: 120.0,
            overlap_probability: 0.1,
            blur_sigma_nm: 3.0,
            dose_e_per_px: 150.0,
            illumination_amplitude: 0.12,
            contrast_jitter: 0.12,
        }
    }
}

impl EmConfig {
    /// A small, fast configuration (256×256 at 24 nm/px, same physical field
    /// of view as the default).
    pub fn small() -> Self {
        Self {
            width_px: 256,
            height_px: 256,
            pixel_size_nm: 24.0,
            ..Self::default()
        }
    }
}
