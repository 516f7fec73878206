//! Figures stored in a stage's output group, already encoded: the full image as the bytes of a
//! PNG file (what the stage's export writes as it is) and a reduced JPEG preview (what the HTML
//! report embeds). Encoding once, where the figure is made, means that neither an export nor a
//! report re-renders, re-compresses or resizes it, which matters on reruns where only the report
//! and a few stages run again.
//!
//! Layout in a group, for a figure `NAME`:
//! - dataset `NAME`: u8, 1-D, the bytes of a PNG file; attributes `format = "PNG"`, `width`,
//!   `height` (px). In h5py: `PIL.Image.open(io.BytesIO(g["NAME"][()].tobytes()))`.
//! - dataset `NAME_preview`: u8, 1-D, the bytes of a JPEG file; attributes `format = "JPEG"`,
//!   `width`, `height` (px).

use corrflow_stage::StageError;
use corrflow_stage::h5;
use corrflow_stage::hdf5::Group;

/// Widest preview (px): previews are reduced to at most this width, which is also the widest
/// figure of the HTML report.
pub const PREVIEW_MAX_WIDTH: u32 = 800;

/// The bytes of an encoded image file and its size in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedImage {
    /// `"PNG"` or `"JPEG"`.
    pub format: String,
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

/// The name of the preview dataset of figure `name`.
pub fn preview_name(name: &str) -> String {
    format!("{name}_preview")
}

/// Write figure `name`: the full image (PNG) and its preview (JPEG).
pub fn write_figure(
    g: &Group,
    name: &str,
    full: &EncodedImage,
    preview: &EncodedImage,
) -> Result<(), StageError> {
    write_encoded(g, name, full)?;
    write_encoded(g, &preview_name(name), preview)
}

/// The full image of figure `name`, `None` when the group has none.
pub fn read_figure(g: &Group, name: &str) -> Result<Option<EncodedImage>, StageError> {
    read_encoded(g, name)
}

/// The preview of figure `name`, `None` when the group has none.
pub fn read_preview(g: &Group, name: &str) -> Result<Option<EncodedImage>, StageError> {
    read_encoded(g, &preview_name(name))
}

fn write_encoded(g: &Group, name: &str, img: &EncodedImage) -> Result<(), StageError> {
    let ds = g
        .new_dataset_builder()
        .with_data(img.bytes.as_slice())
        .create(name)?;
    h5::set_str(&ds, "format", &img.format)?;
    h5::set_i64(&ds, "width", i64::from(img.width))?;
    h5::set_i64(&ds, "height", i64::from(img.height))?;
    Ok(())
}

fn read_encoded(g: &Group, name: &str) -> Result<Option<EncodedImage>, StageError> {
    if !g.link_exists(name) {
        return Ok(None);
    }
    let ds = g.dataset(name)?;
    let side = |attr: &str| -> Result<u32, StageError> {
        let v = h5::get_i64(&ds, attr)?;
        u32::try_from(v).map_err(|_| {
            StageError::input(format!(
                "HDF5 group '{}': figure '{name}' has {attr} {v}, not a pixel count",
                g.name()
            ))
        })
    };
    Ok(Some(EncodedImage {
        format: h5::get_str(&ds, "format")?,
        bytes: ds.read_raw::<u8>()?,
        width: side("width")?,
        height: side("height")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_absent() {
        let dir = tempfile::tempdir().unwrap();
        let f = h5::create_file(&dir.path().join("f.h5")).unwrap();
        let g = f.create_group("ratio").unwrap();
        let full = EncodedImage {
            format: "PNG".into(),
            bytes: vec![0x89, b'P', b'N', b'G', 1, 2, 3],
            width: 640,
            height: 480,
        };
        let preview = EncodedImage {
            format: "JPEG".into(),
            bytes: vec![0xff, 0xd8, 0xff, 9],
            width: 320,
            height: 240,
        };
        write_figure(&g, "organelles", &full, &preview).unwrap();
        assert_eq!(read_figure(&g, "organelles").unwrap(), Some(full));
        assert_eq!(read_preview(&g, "organelles").unwrap(), Some(preview));
        assert_eq!(read_figure(&g, "other").unwrap(), None);
        assert_eq!(read_preview(&g, "other").unwrap(), None);
    }
}
