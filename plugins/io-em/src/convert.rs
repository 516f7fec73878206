//! Decoded samples in their native type, and their reduction to one gray plane.

use ndarray::Array2;

use crate::{PixelSizeOrigin, SampleKind, SourceChannels, SourceFormat};

/// BT.601 luma weights (R, G, B).
pub(crate) const LUMA_BT601: [f64; 3] = [0.299, 0.587, 0.114];

/// Decoded sample buffer, in the file's sample type.
#[derive(Debug)]
pub(crate) enum Samples {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Samples {
    pub(crate) fn len(&self) -> usize {
        match self {
            Samples::U8(v) => v.len(),
            Samples::U16(v) => v.len(),
            Samples::U32(v) => v.len(),
            Samples::I8(v) => v.len(),
            Samples::I16(v) => v.len(),
            Samples::I32(v) => v.len(),
            Samples::F32(v) => v.len(),
            Samples::F64(v) => v.len(),
        }
    }
}

/// Everything about a raster except its samples.
#[derive(Debug, Clone)]
pub(crate) struct NativeMeta {
    pub pixel_size_nm: Option<f64>,
    pub pixel_size_origin: Option<PixelSizeOrigin>,
    pub source_format: SourceFormat,
    pub sample_format: SampleKind,
    pub bit_depth: u8,
    pub channels: SourceChannels,
    pub page: usize,
    pub n_pages: usize,
}

/// A decoded image: `samples` holds `width * height * stride` values, either interleaved
/// (chunky, `planar == false`) or as consecutive planes of `width * height` values.
#[derive(Debug)]
pub(crate) struct NativeImage {
    pub samples: Samples,
    pub width: usize,
    pub height: usize,
    /// Samples per pixel present in `samples`.
    pub stride: usize,
    pub planar: bool,
    pub meta: NativeMeta,
}

trait Sample: Copy {
    fn to_f32(self) -> f32;
    fn to_f64(self) -> f64;
}

macro_rules! impl_sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline]
            fn to_f32(self) -> f32 { self as f32 }
            #[inline]
            fn to_f64(self) -> f64 { self as f64 }
        }
    )*};
}
impl_sample!(u8, u16, u32, i8, i16, i32, f32, f64);

impl NativeImage {
    fn index(&self, pixel: usize, channel: usize) -> usize {
        if self.planar {
            channel * self.width * self.height + pixel
        } else {
            pixel * self.stride + channel
        }
    }

    fn gray_from<T: Sample>(&self, v: &[T]) -> Vec<f32> {
        let n = self.width * self.height;
        match self.meta.channels {
            SourceChannels::Gray | SourceChannels::GrayAlpha => {
                if self.stride == 1 || self.planar {
                    v[..n].iter().map(|x| x.to_f32()).collect()
                } else {
                    v.iter()
                        .step_by(self.stride)
                        .take(n)
                        .map(|x| x.to_f32())
                        .collect()
                }
            }
            SourceChannels::Rgb | SourceChannels::Rgba => {
                let [wr, wg, wb] = LUMA_BT601;
                (0..n)
                    .map(|i| {
                        let r = v[self.index(i, 0)].to_f64();
                        let g = v[self.index(i, 1)].to_f64();
                        let b = v[self.index(i, 2)].to_f64();
                        (wr * r + wg * g + wb * b) as f32
                    })
                    .collect()
            }
        }
    }

    /// One gray plane as `f32`, shape `(height, width)`.
    pub(crate) fn to_gray_f32(&self) -> Array2<f32> {
        let v = match &self.samples {
            Samples::U8(v) => self.gray_from(v),
            Samples::U16(v) => self.gray_from(v),
            Samples::U32(v) => self.gray_from(v),
            Samples::I8(v) => self.gray_from(v),
            Samples::I16(v) => self.gray_from(v),
            Samples::I32(v) => self.gray_from(v),
            Samples::F32(v) => self.gray_from(v),
            Samples::F64(v) => self.gray_from(v),
        };
        Array2::from_shape_vec((self.height, self.width), v)
            .expect("buffer length checked by the decoder wrappers")
    }

    /// The first channel as exact `u32`, for unsigned integer samples only.
    pub(crate) fn to_labels_u32(&self) -> Option<Array2<u32>> {
        let n = self.width * self.height;
        let pick = |i: usize| self.index(i, 0);
        let v: Vec<u32> = match &self.samples {
            Samples::U8(v) => (0..n).map(|i| u32::from(v[pick(i)])).collect(),
            Samples::U16(v) => (0..n).map(|i| u32::from(v[pick(i)])).collect(),
            Samples::U32(v) => (0..n).map(|i| v[pick(i)]).collect(),
            _ => return None,
        };
        Array2::from_shape_vec((self.height, self.width), v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(channels: SourceChannels) -> NativeMeta {
        NativeMeta {
            pixel_size_nm: None,
            pixel_size_origin: None,
            source_format: SourceFormat::Tiff,
            sample_format: SampleKind::U8,
            bit_depth: 8,
            channels,
            page: 0,
            n_pages: 1,
        }
    }

    #[test]
    fn rgb_chunky_and_planar_give_same_luminance() {
        // 2 pixels: (10, 20, 30) and (255, 0, 128)
        let chunky = NativeImage {
            samples: Samples::U8(vec![10, 20, 30, 255, 0, 128]),
            width: 2,
            height: 1,
            stride: 3,
            planar: false,
            meta: meta(SourceChannels::Rgb),
        };
        let planar = NativeImage {
            samples: Samples::U8(vec![10, 255, 20, 0, 30, 128]),
            width: 2,
            height: 1,
            stride: 3,
            planar: true,
            meta: meta(SourceChannels::Rgb),
        };
        let expect = [
            (0.299 * 10.0 + 0.587 * 20.0 + 0.114 * 30.0) as f32,
            (0.299 * 255.0 + 0.114 * 128.0) as f32,
        ];
        assert_eq!(chunky.to_gray_f32().as_slice().unwrap(), &expect);
        assert_eq!(planar.to_gray_f32().as_slice().unwrap(), &expect);
    }

    #[test]
    fn gray_alpha_drops_alpha() {
        let img = NativeImage {
            samples: Samples::U16(vec![1000, 65535, 2000, 0]),
            width: 1,
            height: 2,
            stride: 2,
            planar: false,
            meta: meta(SourceChannels::GrayAlpha),
        };
        assert_eq!(img.to_gray_f32().as_slice().unwrap(), &[1000.0, 2000.0]);
        assert_eq!(
            img.to_labels_u32().unwrap().as_slice().unwrap(),
            &[1000, 2000]
        );
    }

    #[test]
    fn labels_refuse_floats() {
        let img = NativeImage {
            samples: Samples::F32(vec![1.0]),
            width: 1,
            height: 1,
            stride: 1,
            planar: false,
            meta: meta(SourceChannels::Gray),
        };
        assert!(img.to_labels_u32().is_none());
    }
}
