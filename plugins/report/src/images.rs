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

/// PNG bytes of an RGB image.
pub fn png_bytes(img: &RgbImage) -> Result<Vec<u8>, StageError> {
    corrflow_io_em::encode_png_rgb(img).map_err(|e| StageError::other(format!("PNG encoding: {e}")))
}

/// JPEG bytes of an RGB image.
pub fn jpeg_bytes(img: &RgbImage) -> Result<Vec<u8>, StageError> {
    corrflow_io_em::encode_jpeg_rgb(img)
        .map_err(|e| StageError::other(format!("JPEG encoding: {e}")))
}

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
    let img = corrflow_io_em::reduce_to_width(img, max_width);
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

/// An `<img>` element of an already encoded image (a stored preview), with escaped alt text.
pub fn encoded_img_tag(
    img: &corrflow_types::figure::EncodedImage,
    alt: &str,
) -> Result<String, StageError> {
    let mime = match img.format.as_str() {
        "JPEG" => "image/jpeg",
        "PNG" => "image/png",
        other => {
            return Err(StageError::input(format!(
                "a stored figure has format '{other}'; expected JPEG or PNG"
            )));
        }
    };
    Ok(format!(
        "<img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\">",
        data_uri(mime, &img.bytes),
        img.width,
        img.height,
        crate::html::escape(alt)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_and_encodes() {
        let img = RgbImage::from_pixel(1600, 400, image::Rgb([10, 20, 30]));
        let small = corrflow_io_em::reduce_to_width(img, 800);
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
