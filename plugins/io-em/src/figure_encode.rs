//! Encoding figures (overlays, ratio images) for files and reports: PNG with fast compression,
//! JPEG for previews, and an integer-factor reduction to a preview's width.
//!
//! Figures are written on every run that changes them; with the default (balanced) zlib level a
//! 2048² overlay took ~100 ms to encode, half of some stages' time. The fast level gives files a
//! little larger (about 10–30 % on these images) in a fraction of the time; PNG stays lossless.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, RgbImage};

/// JPEG quality of previews (photographic figures: EM images and overlays on them).
pub const JPEG_QUALITY: u8 = 85;

/// `img` as PNG bytes (8-bit RGB, fast compression, adaptive filtering).
pub fn encode_png_rgb(img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::with_capacity(img.as_raw().len() / 4);
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            ExtendedColorType::Rgb8,
        )?;
    Ok(out)
}

/// `img` as baseline JPEG bytes at [`JPEG_QUALITY`].
pub fn encode_jpeg_rgb(img: &RgbImage) -> Result<Vec<u8>, image::ImageError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode_image(img)?;
    Ok(out)
}

/// The image reduced to at most `max_width` px wide by an integer factor k = ⌈w / max_width⌉:
/// each output pixel is the mean of a k × k block (area averaging; blocks at the right and bottom
/// edges average the pixels they have), rounded to nearest.
///
/// Written here rather than with `image::imageops::resize`: that is a generic separable f32
/// convolution and was the largest single cost of the HTML report (17 % of its time for 2048² EM
/// figures); a block mean on u8 is a few lines, exact, and an order of magnitude faster.
pub fn reduce_to_width(img: RgbImage, max_width: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    if w <= max_width || w == 0 || max_width == 0 {
        return img;
    }
    let k = w.div_ceil(max_width);
    let (ow, oh) = (w.div_ceil(k), h.div_ceil(k));
    let src = img.as_raw();
    let (w, k) = (w as usize, k as usize);
    let mut out = Vec::with_capacity(ow as usize * oh as usize * 3);
    let mut sums = vec![0u32; ow as usize * 3];
    for y0 in (0..h as usize).step_by(k) {
        sums.fill(0);
        let y1 = (y0 + k).min(h as usize);
        for row in src[y0 * w * 3..y1 * w * 3].chunks_exact(w * 3) {
            for (block, s) in row.chunks(k * 3).zip(sums.chunks_exact_mut(3)) {
                for px in block.chunks_exact(3) {
                    s[0] += u32::from(px[0]);
                    s[1] += u32::from(px[1]);
                    s[2] += u32::from(px[2]);
                }
            }
        }
        for (ox, s) in sums.chunks_exact(3).enumerate() {
            let bw = (w - ox * k).min(k);
            let n = (bw * (y1 - y0)) as u32;
            out.extend(s.iter().map(|&v| ((v + n / 2) / n) as u8));
        }
    }
    RgbImage::from_raw(ow, oh, out).unwrap_or_else(|| unreachable!("ow × oh × 3 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let img = RgbImage::from_fn(37, 23, |x, y| image::Rgb([x as u8 * 7, y as u8 * 11, 200]));
        let bytes = encode_png_rgb(&img).unwrap();
        let back = image::load_from_memory(&bytes).unwrap().to_rgb8();
        assert_eq!(back, img);
    }

    /// Block means against a direct computation, with partial blocks at the edges.
    #[test]
    fn block_mean_reduction() {
        let img = RgbImage::from_fn(10, 7, |x, y| {
            image::Rgb([(x * 20) as u8, (y * 30) as u8, (x * y) as u8])
        });
        let small = reduce_to_width(img.clone(), 4); // k = 3: 4 × 3 output, last column 1 px wide
        assert_eq!(small.dimensions(), (4, 3));
        for (ox, oy, p) in small.enumerate_pixels() {
            for c in 0..3 {
                let mut sum = 0.0;
                let mut n = 0.0;
                for y in oy * 3..(oy * 3 + 3).min(7) {
                    for x in ox * 3..(ox * 3 + 3).min(10) {
                        sum += f64::from(img.get_pixel(x, y).0[c]);
                        n += 1.0;
                    }
                }
                assert_eq!(
                    f64::from(p.0[c]),
                    (sum / n).round(),
                    "({ox}, {oy}) channel {c}"
                );
            }
        }
        assert_eq!(reduce_to_width(img.clone(), 10).dimensions(), (10, 7));
        let flat = RgbImage::from_pixel(1600, 400, image::Rgb([10, 20, 30]));
        let half = reduce_to_width(flat, 800);
        assert_eq!(half.dimensions(), (800, 200));
        assert!(half.pixels().all(|p| p.0 == [10, 20, 30]));
        let jpeg = encode_jpeg_rgb(&half).unwrap();
        assert!(jpeg.starts_with(&[0xff, 0xd8, 0xff]));
    }
}
