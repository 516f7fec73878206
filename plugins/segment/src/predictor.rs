//! Instances on one 8-bit EM image: letterbox → ONNX Runtime → selection → masks, on the whole
//! image (ultralytics predict, exactly) or on overlapping tiles merged back into one image.

use std::sync::Arc;

use corrflow_types::tiling::tile_starts;
use corrflow_types::{Instance, Instances};
use ndarray::{Array4, ArrayView2, s};
use rayon::prelude::*;

use crate::decode::{MaskDecoder, MaskMode, coefficients};
use crate::letterbox::{Letterbox, fill_input, letterbox_gray};
use crate::model::{ModelError, YoloSegModel};
use crate::postprocess::{SelectOptions, select};
use crate::tiling::{MergeOptions, merge_tiles};

/// Tiled inference: square tiles of `size` px overlapping by `overlap` px (the last tile of a
/// row or column is moved back to end at the image edge), instances merged across tiles.
#[derive(Debug, Clone, PartialEq)]
pub struct TileOptions {
    pub size: usize,
    pub overlap: usize,
    pub merge: MergeOptions,
}

/// Everything that decides the result of a prediction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PredictOptions {
    pub select: SelectOptions,
    pub masks: MaskMode,
    pub tile: Option<TileOptions>,
    /// Input size (height, width) for a model with a dynamic input (None: the model's default,
    /// 640 as in ultralytics predict). Ignored by static models.
    pub imgsz: Option<(usize, usize)>,
}

/// A model with its options; `predict` is safe to call from several threads.
pub struct Predictor {
    pub model: Arc<YoloSegModel>,
    pub options: PredictOptions,
    /// Class names of the output (the model's, or an override of the same length).
    pub class_names: Vec<String>,
}

impl Predictor {
    pub fn new(model: Arc<YoloSegModel>, options: PredictOptions) -> Self {
        let class_names = model.info().class_names.clone();
        Self {
            model,
            options,
            class_names,
        }
    }

    /// Instances on `gray` (pixel size in nm for areas downstream).
    pub fn predict(
        &self,
        gray: ArrayView2<'_, u8>,
        pixel_size_nm: f64,
    ) -> Result<Instances, ModelError> {
        let (h, w) = gray.dim();
        let instances = match &self.options.tile {
            None => self.predict_window(gray)?,
            Some(t) => {
                let (ys, th) = tile_starts(h, t.size, t.overlap);
                let (xs, tw) = tile_starts(w, t.size, t.overlap);
                let tiles: Vec<(usize, usize)> = ys
                    .iter()
                    .flat_map(|&y| xs.iter().map(move |&x| (y, x)))
                    .collect();
                let per_tile = tiles
                    .par_iter()
                    .map(|&(y, x)| {
                        let window = gray.slice(s![y..y + th, x..x + tw]);
                        self.predict_window(window).map(|v| {
                            let found: Vec<Instance> =
                                v.into_iter().map(|i| shift(i, x, y)).collect();
                            ([x, y, x + tw, y + th], found)
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                merge_tiles(per_tile, &t.merge)
            }
        };
        Instances::new(h, w, pixel_size_nm, self.class_names.clone(), instances).map_err(|e| {
            ModelError::Run {
                path: self.model.info().path.clone(),
                message: e.to_string(),
            }
        })
    }

    /// ultralytics predict on one image (or tile): instances in its own pixel coordinates, by
    /// descending score.
    pub fn predict_window(&self, img: ArrayView2<'_, u8>) -> Result<Vec<Instance>, ModelError> {
        let info = self.model.info();
        let (h, w) = img.dim();
        let input_hw = match self.options.imgsz {
            Some(hw) if info.dynamic_input => hw,
            _ => info.input_hw,
        };
        let (forward, inverse) = geometry(h, w, input_hw, info.dynamic_input, info.stride);
        let (sh, sw) = (forward.dst_h, forward.dst_w);
        let boxed = letterbox_gray(img, &forward);
        let mut input = Array4::<f32>::zeros((1, 3, sh, sw));
        let buf = input
            .as_slice_mut()
            .expect("a freshly allocated array is contiguous");
        fill_input(boxed.view(), buf).map_err(|e| ModelError::Run {
            path: info.path.clone(),
            message: e.to_string(),
        })?;
        let out = self.model.run(input.view())?;
        let dets = select(
            out.predictions.view(),
            info.num_classes,
            &self.options.select,
        );
        let decoder = MaskDecoder::new(out.protos.view(), &inverse, self.options.masks);
        Ok(dets
            .iter()
            .filter_map(|d| {
                let c = coefficients(out.predictions.view(), d.anchor, info.num_masks);
                decoder.instance(d, &c)
            })
            .collect())
    }
}

/// The letterbox into the model input and the one ultralytics inverts boxes and masks with.
///
/// A static input is letterboxed to its size, both ways. A dynamic input gets ultralytics
/// predict's minimum rectangle (`rect=True`, LetterBox `auto`): the image is scaled by
/// r = min(S/h, S/w) as for a square S input, but padded only up to the next multiple of the
/// stride (padding `(S − new) mod stride`, split round(p/2 − 0.1) / round(p/2 + 0.1)); boxes and
/// masks are then mapped back with the gains ultralytics recomputes from that rectangle.
pub fn geometry(
    h: usize,
    w: usize,
    input_hw: (usize, usize),
    dynamic: bool,
    stride: usize,
) -> (Letterbox, Letterbox) {
    let square = Letterbox::new(h, w, input_hw.0, input_hw.1);
    if !dynamic || stride == 0 {
        return (square, square);
    }
    let pad_h = (input_hw.0 - square.new_h) % stride;
    let pad_w = (input_hw.1 - square.new_w) % stride;
    let split = |p: usize| {
        let half = p as f64 / 2.0;
        (
            (half - 0.1).round_ties_even() as usize,
            (half + 0.1).round_ties_even() as usize,
        )
    };
    let (top, bottom) = split(pad_h);
    let (left, right) = split(pad_w);
    let forward = Letterbox {
        dst_h: square.new_h + top + bottom,
        dst_w: square.new_w + left + right,
        top,
        bottom,
        left,
        right,
        ..square
    };
    let inverse = Letterbox::new(h, w, forward.dst_h, forward.dst_w);
    (forward, inverse)
}

/// Move an instance found in a tile at (x, y) into image coordinates.
fn shift(mut inst: Instance, x: usize, y: usize) -> Instance {
    let (fx, fy) = (x as f32, y as f32);
    inst.bbox = [
        inst.bbox[0] + fx,
        inst.bbox[1] + fy,
        inst.bbox[2] + fx,
        inst.bbox[3] + fy,
    ];
    inst.mask.x0 += x;
    inst.mask.y0 += y;
    inst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_inputs_get_the_minimum_rectangle() {
        // 150×97 at 640: r = 640/150, new 640×414 (round(97·4.2667) = 414), pad (640 − 414) mod 32
        // = 2 → one column each side: input 640×416.
        let (f, inv) = geometry(150, 97, (640, 640), true, 32);
        assert_eq!((f.dst_h, f.dst_w, f.new_h, f.new_w), (640, 416, 640, 414));
        assert_eq!((f.top, f.left, f.right), (0, 1, 1));
        assert_eq!((inv.dst_h, inv.dst_w), (640, 416));
        // A static input is letterboxed to its size.
        let (s, _) = geometry(150, 97, (320, 320), false, 32);
        assert_eq!((s.dst_h, s.dst_w), (320, 320));
    }
}
