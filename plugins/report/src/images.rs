//! Figures as PNG bytes and `data:` URIs for the page.

use base64::Engine;
use corrflow_stage::StageError;
use corrflow_stage::hdf5::Group;
use image::RgbImage;
use ndarray::Array3;

/// An RGB image from a (height, width, 3) u8 array.
pub fn rgb_from_array(a: Array3<u8>) -> Result<RgbImage, StageError> {
    let (h, w, c) = a.dim();
    if c != 3 {
        return Err(StageError::input(format!(
            "expected an RGB image (height, width, 3), got shape {:?}",
            a.shape()
        )));
    }
    let raw: Vec<u8> = if a.is_standard_layout() {
        a.into_raw_vec_and_offset().0
    } else {
        a.iter().copied().collect()
    };
    let (w32, h32) = (
        u32::try_from(w).map_err(|_| StageError::input("image too wide"))?,
        u32::try_from(h).map_err(|_| StageError::input("image too tall"))?,
    );
    RgbImage::from_raw(w32, h32, raw)
        .ok_or_else(|| StageError::input(format!("an RGB image of {h} × {w} px is inconsistent")))
}

/// Read an RGB dataset (height, width, 3) of a group, `None` when the group lacks it.
pub fn read_rgb(g: &Group, name: &str) -> Result<Option<RgbImage>, StageError> {
    if !g.link_exists(name) {
        return Ok(None);
    }
    let a: Array3<u8> = g.dataset(name)?.read()?;
    rgb_from_array(a).map(Some)
}

/// The image reduced to at most `max_width` px wide by an integer factor k = ⌈w / max_width⌉:
/// each output pixel is the mean of a k × k block (area averaging; blocks at the right and bottom
/// edges average the pixels they have), rounded to nearest.
///
/// Written here rather than with `image::imageops::resize`: that is a generic separable f32
/// convolution and was the largest single cost of the report (17 % of its time for 2048² EM
/// figures); a block mean on u8 is a few lines, exact, and an order of magnitude faster.
pub fn fit_width(img: RgbImage, max_width: u32) -> RgbImage {
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

/// PNG bytes of an RGB image.
pub fn png_bytes(img: &RgbImage) -> Result<Vec<u8>, StageError> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| StageError::other(format!("PNG encoding: {e}")))?;
    Ok(out.into_inner())
}

/// JPEG bytes (quality 85) of an RGB image.
pub fn jpeg_bytes(img: &RgbImage) -> Result<Vec<u8>, StageError> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(img)
        .map_err(|e| StageError::other(format!("JPEG encoding: {e}")))?;
    Ok(out)
}

const JPEG_QUALITY: u8 = 85;

/// `data:image/png;base64,…` of PNG bytes.
pub fn png_data_uri(png: &[u8]) -> String {
    data_uri("image/png", png)
}

fn data_uri(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// How a figure is embedded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Lossless: drawings, colour bars, small images.
    Png,
    /// Photographs (EM images and overlays on them): far smaller than PNG.
    Jpeg,
}

/// An `<img>` element of an RGB image (reduced to `max_width`), with escaped alt text.
pub fn img_tag(
    img: RgbImage,
    max_width: u32,
    alt: &str,
    encoding: Encoding,
) -> Result<String, StageError> {
    let img = fit_width(img, max_width);
    let (w, h) = img.dimensions();
    let src = match encoding {
        Encoding::Png => png_data_uri(&png_bytes(&img)?),
        Encoding::Jpeg => data_uri("image/jpeg", &jpeg_bytes(&img)?),
    };
    Ok(format!(
        "<img src=\"{src}\" width=\"{w}\" height=\"{h}\" alt=\"{}\">",
        crate::html::escape(alt)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Block means against a direct computation, with partial blocks at the edges.
    #[test]
    fn block_mean_reduction() {
        let img = RgbImage::from_fn(10, 7, |x, y| {
            image::Rgb([(x * 20) as u8, (y * 30) as u8, (x * y) as u8])
        });
        let small = fit_width(img.clone(), 4); // k = 3: 4 × 3 output, last column 1 px wide
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
        assert_eq!(fit_width(img.clone(), 10).dimensions(), (10, 7));
    }

    #[test]
    fn reduces_and_encodes() {
        let img = RgbImage::from_pixel(1600, 400, image::Rgb([10, 20, 30]));
        let small = fit_width(img, 800);
        assert_eq!(small.dimensions(), (800, 200));
        assert!(small.pixels().all(|p| p.0 == [10, 20, 30]));
        let tag = img_tag(small.clone(), 800, "a \"b\"", Encoding::Png).unwrap();
        assert!(tag.starts_with("<img src=\"data:image/png;base64,iVBORw0KGgo"));
        let jpeg = img_tag(small, 800, "j", Encoding::Jpeg).unwrap();
        assert!(jpeg.starts_with("<img src=\"data:image/jpeg;base64,/9j/"));
        assert!(tag.contains("alt=\"a &quot;b&quot;\""));
        let a = Array3::<u8>::zeros((2, 3, 3));
        assert_eq!(rgb_from_array(a).unwrap().dimensions(), (3, 2));
        assert!(rgb_from_array(Array3::<u8>::zeros((2, 3, 4))).is_err());
    }
}
