//! An EM image: float32 intensities (arbitrary units) on a square pixel grid of known size.

use corrflow_stage::StageError;
use corrflow_stage::h5;
use corrflow_stage::hdf5::Group;
use ndarray::Array2;

use crate::{check_stamp, stamp, types};

/// A 2-D grayscale EM image.
///
/// HDF5 layout (group, `corrflow_type = "em_image"`, `layout_version = 1`):
/// - dataset `data`: float32 — or uint16/uint8 when the image holds such integers exactly (a 16-bit
///   camera image read by `io.em`, half the size of float32) — shape (height, width), row-major,
///   `units` attribute (intensity, a.u.); readers convert to float32;
/// - attribute `pixel_size_nm`: float64, the side of one square pixel in nm;
/// - attribute `source`: text, the file or node the image came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EmImage {
    pub data: Array2<f32>,
    /// Side of one square pixel (nm).
    pub pixel_size_nm: f64,
    pub source: String,
    /// How `data` is stored in HDF5 (values are always exact).
    pub storage: Storage,
}

/// The HDF5 dtype of an EM image's `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    #[default]
    F32,
    /// Only for images whose values are all integers in 0..=65535.
    U16,
    /// Only for images whose values are all integers in 0..=255.
    U8,
}

const LAYOUT_VERSION: i64 = 1;

impl EmImage {
    pub fn new(
        data: Array2<f32>,
        pixel_size_nm: f64,
        source: impl Into<String>,
    ) -> Result<Self, StageError> {
        if !(pixel_size_nm.is_finite() && pixel_size_nm > 0.0) {
            return Err(StageError::input(format!(
                "pixel size must be a positive number of nm, got {pixel_size_nm}"
            )));
        }
        if data.is_empty() {
            return Err(StageError::input("EM image has no pixels"));
        }
        Ok(Self {
            data,
            pixel_size_nm,
            source: source.into(),
            storage: Storage::F32,
        })
    }

    /// Store as the smallest of uint8/uint16/float32 that holds every value exactly (one pass).
    pub fn with_compact_storage(mut self) -> Self {
        let fits = |max: f32| {
            self.data
                .iter()
                .all(|&v| v >= 0.0 && v <= max && v.fract() == 0.0)
        };
        self.storage = if fits(255.0) {
            Storage::U8
        } else if fits(65535.0) {
            Storage::U16
        } else {
            Storage::F32
        };
        self
    }

    pub fn height(&self) -> usize {
        self.data.nrows()
    }

    pub fn width(&self) -> usize {
        self.data.ncols()
    }

    pub fn write(&self, g: &Group) -> Result<(), StageError> {
        stamp(g, types::EM_IMAGE, LAYOUT_VERSION)?;
        h5::set_f64(g, "pixel_size_nm", self.pixel_size_nm)?;
        h5::set_str(g, "source", &self.source)?;
        let std = self.data.as_standard_layout();
        let ds = match self.storage {
            Storage::F32 => g.new_dataset_builder().with_data(&std).create("data")?,
            // Exact by construction (`with_compact_storage` checked every value).
            Storage::U16 => g
                .new_dataset_builder()
                .with_data(&std.mapv(|v| v as u16))
                .create("data")?,
            Storage::U8 => g
                .new_dataset_builder()
                .with_data(&std.mapv(|v| v as u8))
                .create("data")?,
        };
        h5::set_str(&ds, "units", "intensity (a.u.)")?;
        Ok(())
    }

    pub fn read(g: &Group) -> Result<Self, StageError> {
        check_stamp(g, types::EM_IMAGE, LAYOUT_VERSION)?;
        let ds = g.dataset("data")?;
        let dtype = ds.dtype()?;
        let storage = match (dtype.is::<u16>(), dtype.is::<u8>()) {
            (true, _) => Storage::U16,
            (_, true) => Storage::U8,
            _ => Storage::F32,
        };
        // Integer images are read as stored and widened here: HDF5's own type conversion runs
        // under the library's global lock, which serialised parallel tasks reading images.
        let data: Array2<f32> = match storage {
            Storage::U16 => ds.read_2d::<u16>()?.mapv(f32::from),
            Storage::U8 => ds.read_2d::<u8>()?.mapv(f32::from),
            Storage::F32 => ds.read_2d()?,
        };
        let pixel_size_nm = h5::get_f64(g, "pixel_size_nm")?;
        let source = h5::get_str(g, "source")?;
        let mut img = Self::new(data, pixel_size_nm, source)?;
        img.storage = storage;
        Ok(img)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn round_trip_and_type_check() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let img = EmImage::new(
            Array2::from_shape_fn((3, 5), |(r, c)| (r * 10 + c) as f32),
            3.5,
            "a.tif",
        )
        .unwrap();
        let f = h5::create_file(&p).unwrap();
        img.write(&f.create_group("image").unwrap()).unwrap();
        f.create_group("other").unwrap();
        f.close().unwrap();
        let f = crate::testutil::open(&p);
        assert_eq!(EmImage::read(&f.group("image").unwrap()).unwrap(), img);
        let err = EmImage::read(&f.group("other").unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrflow_type"), "{err}");
    }

    #[test]
    fn compact_storage_is_exact_and_smaller() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            (
                Array2::from_shape_fn((64, 64), |(r, c)| ((r * 64 + c) % 256) as f32),
                Storage::U8,
            ),
            (
                Array2::from_shape_fn((64, 64), |(r, c)| (r * 1000 + c) as f32),
                Storage::U16,
            ),
            (
                Array2::from_shape_fn((64, 64), |(r, c)| (r * 64 + c) as f32 + 0.5),
                Storage::F32,
            ),
            (Array2::from_elem((64, 64), -1.0f32), Storage::F32),
            (Array2::from_elem((64, 64), 70000.0f32), Storage::F32),
        ];
        let mut sizes = Vec::new();
        for (i, (data, storage)) in cases.into_iter().enumerate() {
            let img = EmImage::new(data, 2.0, "x").unwrap().with_compact_storage();
            assert_eq!(img.storage, storage, "case {i}");
            let p = dir.path().join(format!("{i}.h5"));
            let f = h5::create_file(&p).unwrap();
            img.write(&f.create_group("image").unwrap()).unwrap();
            f.close().unwrap();
            sizes.push(std::fs::metadata(&p).unwrap().len());
            let f = h5::open_file(&p).unwrap();
            assert_eq!(
                EmImage::read(&f.group("image").unwrap()).unwrap(),
                img,
                "case {i}"
            );
        }
        assert!(sizes[0] < sizes[1] && sizes[1] < sizes[2], "{sizes:?}");
    }

    #[test]
    fn rejects_bad_pixel_size_and_empty_data() {
        let d = Array2::<f32>::zeros((2, 2));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(EmImage::new(d.clone(), bad, "x").is_err());
        }
        assert!(EmImage::new(Array2::zeros((0, 4)), 1.0, "x").is_err());
    }

    #[test]
    fn h5py_reads_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.h5");
        let img = EmImage::new(
            Array2::from_shape_fn((3, 5), |(r, c)| (r * 10 + c) as f32),
            3.5,
            "a.tif",
        )
        .unwrap();
        let f = h5::create_file(&p).unwrap();
        img.write(&f.create_group("image").unwrap()).unwrap();
        f.close().unwrap();
        let script = r#"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
g = f["image"]
img = g["data"][()]                 # float32 (height, width)
nm = g.attrs["pixel_size_nm"]

assert g.attrs["corrflow_type"] == "em_image" and g.attrs["layout_version"] == 1
assert img.dtype == np.float32 and img.shape == (3, 5) and img[2, 4] == 24
assert nm == 3.5 and g.attrs["source"] == "a.tif"
assert g["data"].attrs["units"] == "intensity (a.u.)"
print("OK")
"#;
        if let Some(out) = crate::testutil::python("em_image h5py", script, &p) {
            assert_eq!(out.trim(), "OK");
        }
    }
}
