//! Synthetic transmission-EM images of cell sections with exact instance
//! ground truth for six organelle classes (nucleus, mitochondrion, ER, Golgi,
//! lysosome, vesicle).
//!
//! Rendering is deterministic per seed: all random layout decisions come from
//! one ChaCha8 stream, per-pixel textures and shot noise come from a hash of
//! (seed, x, y), transcendental functions come from `libm`, and parallel loops
//! only write disjoint pixels. The same seed therefore yields identical bytes
//! on any machine and thread count.
//!
//! Pipeline: [`scene`] lays out a cell and its organelles (physical units
//! converted to pixels) → [`paint`] rasterises an optical-density field plus
//! top-most instance labels in z-order → [`imaging`] forms the image
//! (transmission `exp(-density)`, Gaussian PSF, smooth illumination gain,
//! Poisson shot noise, 16-bit mapping) → truth extraction from the labels.

mod canvas;
mod command;
pub mod config;
pub mod design;
pub mod nanosims;
pub mod study;

pub use command::{SynthCommand, SynthPlugin};
mod imaging;
mod noise;
mod paint;
mod scene;
mod shapes;

pub use config::{ClassCounts, EmConfig};

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Organelle classes, in the order of the class indices used by
/// [`EmSample::class_map`] (1-based there, 0 = none).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrganelleClass {
    Nucleus,
    Mitochondrion,
    Er,
    Golgi,
    Lysosome,
    Vesicle,
}

impl OrganelleClass {
    pub const ALL: [OrganelleClass; 6] = [
        Self::Nucleus,
        Self::Mitochondrion,
        Self::Er,
        Self::Golgi,
        Self::Lysosome,
        Self::Vesicle,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nucleus => "nucleus",
            Self::Mitochondrion => "mitochondrion",
            Self::Er => "er",
            Self::Golgi => "golgi",
            Self::Lysosome => "lysosome",
            Self::Vesicle => "vesicle",
        }
    }

    /// 0-based index in [`OrganelleClass::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for OrganelleClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Pixel bounding box `[x0, x0+width) × [y0, y0+height)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BBox {
    pub x0: usize,
    pub y0: usize,
    pub width: usize,
    pub height: usize,
}

/// One visible organelle instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Organelle {
    /// 1-based id, equal to its value in [`EmSample::labels`].
    pub id: u32,
    pub class: OrganelleClass,
    /// Bounding box of the visible pixels.
    pub bbox: BBox,
    /// Visible mask cropped to `bbox`, shape `(height, width)`.
    pub mask: Array2<bool>,
    /// Visible area in pixels (= number of `true` in `mask`).
    pub area_px: u64,
    /// Centroid of the visible pixels, `[x, y]` in pixel coordinates.
    pub centroid: [f64; 2],
    /// Whether the instance touches the image border (likely cut by it).
    pub touches_border: bool,
}

/// A rendered image with its ground truth.
#[derive(Clone, Debug)]
pub struct EmSample {
    /// 16-bit TEM image, shape `(height, width)`; bright = electron-lucent.
    pub image: Array2<u16>,
    /// 0 = no organelle, otherwise the id of the visible (top-most) instance.
    pub labels: Array2<u32>,
    /// Visible instances, ids 1..=n in z-order (later ids drawn on top).
    pub organelles: Vec<Organelle>,
    /// Pixels inside the plasma membrane.
    pub cell_mask: Array2<bool>,
    pub pixel_size_nm: f64,
    pub seed: u64,
}

impl EmSample {
    /// Semantic map: 0 = none, 1 + [`OrganelleClass::index`] otherwise.
    pub fn class_map(&self) -> Array2<u8> {
        let mut lut = vec![0u8; self.organelles.len() + 1];
        for o in &self.organelles {
            lut[o.id as usize] = o.class.index() as u8 + 1;
        }
        self.labels.mapv(|l| lut[l as usize])
    }

    /// Number of visible instances of a class.
    pub fn count(&self, class: OrganelleClass) -> usize {
        self.organelles.iter().filter(|o| o.class == class).count()
    }
}

/// Render one synthetic TEM image. Deterministic in `(cfg, seed)`.
pub fn render_em(cfg: &EmConfig, seed: u64) -> EmSample {
    let (w, h) = (cfg.width_px, cfg.height_px);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let scene = scene::build(cfg, &mut rng);
    let canvas = paint::render(&scene, w, h, cfg.pixel_size_nm as f32);

    let ga = rng.random_range(0.0..std::f32::consts::TAU);
    let jit = cfg.contrast_jitter.abs() as f32;
    let contrast = if jit > 0.0 {
        1.0 + rng.random_range(-jit..=jit)
    } else {
        1.0
    };
    let params = imaging::Imaging {
        blur_sigma_px: (cfg.blur_sigma_nm / cfg.pixel_size_nm) as f32,
        dose: cfg.dose_e_per_px as f32,
        illum_amp: cfg.illumination_amplitude as f32,
        contrast,
        gain_dir: [libm::cosf(ga), libm::sinf(ga)],
        seed: rng.random(),
    };
    let image = imaging::form(&canvas.dens, w, h, &params);

    let classes: Vec<OrganelleClass> = scene.objects.iter().map(|o| o.class()).collect();
    let (labels, organelles) = extract_truth(canvas.label, w, h, &classes);
    EmSample {
        image: Array2::from_shape_vec((h, w), image).expect("shape"),
        labels,
        organelles,
        cell_mask: Array2::from_shape_vec((h, w), canvas.cell).expect("shape"),
        pixel_size_nm: cfg.pixel_size_nm,
        seed,
    }
}

/// Renumber painted ids to 1..=n (dropping fully hidden ones) and build the
/// instance list.
fn extract_truth(
    mut label: Vec<u32>,
    w: usize,
    h: usize,
    classes: &[OrganelleClass],
) -> (Array2<u32>, Vec<Organelle>) {
    let n = classes.len();
    let mut area = vec![0u64; n + 1];
    let mut sx = vec![0f64; n + 1];
    let mut sy = vec![0f64; n + 1];
    let mut bb = vec![[usize::MAX, usize::MAX, 0usize, 0usize]; n + 1];
    for y in 0..h {
        for x in 0..w {
            let l = label[y * w + x] as usize;
            if l == 0 {
                continue;
            }
            area[l] += 1;
            sx[l] += x as f64;
            sy[l] += y as f64;
            let b = &mut bb[l];
            b[0] = b[0].min(x);
            b[1] = b[1].min(y);
            b[2] = b[2].max(x);
            b[3] = b[3].max(y);
        }
    }
    let mut remap = vec![0u32; n + 1];
    let mut organelles = Vec::new();
    for old in 1..=n {
        if area[old] == 0 {
            continue;
        }
        let id = organelles.len() as u32 + 1;
        remap[old] = id;
        let b = bb[old];
        let bbox = BBox {
            x0: b[0],
            y0: b[1],
            width: b[2] - b[0] + 1,
            height: b[3] - b[1] + 1,
        };
        let mask = Array2::from_shape_fn((bbox.height, bbox.width), |(j, i)| {
            label[(bbox.y0 + j) * w + bbox.x0 + i] as usize == old
        });
        organelles.push(Organelle {
            id,
            class: classes[old - 1],
            bbox,
            mask,
            area_px: area[old],
            centroid: [sx[old] / area[old] as f64, sy[old] / area[old] as f64],
            touches_border: b[0] == 0 || b[1] == 0 || b[2] + 1 == w || b[3] + 1 == h,
        });
    }
    label.iter_mut().for_each(|l| *l = remap[*l as usize]);
    (
        Array2::from_shape_vec((h, w), label).expect("shape"),
        organelles,
    )
}
