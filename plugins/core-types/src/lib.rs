//! The data types that flow between stages, each with one HDF5 layout (documented in
//! `schemas/hdf5-layouts.md`). Every group written here carries the attributes `corrflow_type`
//! (the port type name) and `layout_version`, so that h5py/HDFView users and the engine can tell
//! what a group holds.
//!
//! Each type has a validating constructor and `write(&Group)` / `read(&Group)`; `read` applies the
//! same checks, so a file written by another program meets the same rules. `IonStack`,
//! `Instances` and `Transform2D` have public fields and a `validate` method that `write` runs too,
//! so that an invalid value never reaches a file; `Table` keeps its columns private (its
//! constructor and `push` check them).

pub mod coco;
pub mod em_image;
pub mod figure;
pub mod instances;
pub mod intensity;
pub mod ion_stack;
pub mod table;
pub mod tiling;
pub mod transform;

pub use em_image::{EmImage, Storage};
pub use instances::{Instance, Instances, Mask};
pub use ion_stack::{IonStack, MassInfo};
pub use table::{Column, Table, TableColumn};
pub use transform::{Transform2D, TransformKind};

use std::str::FromStr;

use corrflow_stage::StageError;
use corrflow_stage::h5;
use corrflow_stage::hdf5::types::{TypeDescriptor, VarLenUnicode};
use corrflow_stage::hdf5::{Dataset, Group, H5Type, Location};
use ndarray::{Array1, Array2};

/// Port type names of the microscopy data types.
pub mod types {
    /// A 2-D EM image with its pixel size ([`crate::EmImage`]).
    pub const EM_IMAGE: &str = "em_image";
    /// NanoSIMS counts, (masses, planes, height, width), with per-mass metadata ([`crate::IonStack`]).
    pub const ION_STACK: &str = "ion_stack";
    /// Segmented objects with classes, scores, boxes and masks ([`crate::Instances`]).
    pub const INSTANCES: &str = "instances";
    /// A 2-D projective/affine/similarity map between two pixel spaces ([`crate::Transform2D`]).
    pub const TRANSFORM: &str = "transform";
    /// Named, ordered columns of equal length ([`crate::Table`]).
    pub const TABLE: &str = "table";
}

/// Stamp a group with its type and layout version.
pub(crate) fn stamp(g: &Group, ty: &str, layout_version: i64) -> Result<(), StageError> {
    h5::set_str(g, "corrflow_type", ty)?;
    h5::set_i64(g, "layout_version", layout_version)
}

/// Check that a group holds `ty` in a layout version this build can read.
pub(crate) fn check_stamp(g: &Group, ty: &str, max_version: i64) -> Result<(), StageError> {
    let found = h5::get_str(g, "corrflow_type")?;
    if found != ty {
        return Err(StageError::input(format!(
            "HDF5 group '{}' holds '{found}', expected '{ty}'",
            g.name()
        )));
    }
    let v = h5::get_i64(g, "layout_version")?;
    if v > max_version {
        return Err(StageError::input(format!(
            "HDF5 group '{}' has {ty} layout version {v}; this corrflow reads up to {max_version}",
            g.name()
        )));
    }
    Ok(())
}

/// Prefix an error found while reading with the group it was found in (unless it names it).
pub(crate) fn in_group(g: &Group, e: StageError) -> StageError {
    let name = g.name();
    match e {
        StageError::Input(m) if !m.contains(&format!("'{name}'")) => {
            StageError::input(format!("HDF5 group '{name}': {m}"))
        }
        other => other,
    }
}

/// A dataset of `g`, with a message naming both when it is missing.
pub(crate) fn dataset(g: &Group, name: &str) -> Result<Dataset, StageError> {
    g.dataset(name).map_err(|_| {
        StageError::input(format!("HDF5 group '{}' has no dataset '{name}'", g.name()))
    })
}

fn shape_error(ds: &Dataset, expected: &str) -> StageError {
    StageError::input(format!(
        "dataset '{}' has shape {:?}, expected {expected}",
        ds.name(),
        ds.shape()
    ))
}

/// Read a 1-D dataset of `len` values (any numeric type HDF5 converts to `T`).
pub(crate) fn read_vec<T: H5Type>(g: &Group, name: &str, len: usize) -> Result<Vec<T>, StageError> {
    let ds = dataset(g, name)?;
    if ds.shape() != [len] {
        return Err(shape_error(&ds, &format!("[{len}]")));
    }
    Ok(ds.read_raw::<T>()?)
}

/// Read a 2-D dataset of `rows` × `cols` values.
pub(crate) fn read_mat<T: H5Type>(
    g: &Group,
    name: &str,
    rows: usize,
    cols: usize,
) -> Result<Array2<T>, StageError> {
    let ds = dataset(g, name)?;
    if ds.shape() != [rows, cols] {
        return Err(shape_error(&ds, &format!("[{rows}, {cols}]")));
    }
    Ok(ds.read_2d::<T>()?)
}

/// Write a 1-D dataset of variable-length UTF-8 strings (h5py: `ds.asstr()[()]`).
pub(crate) fn write_strings(
    loc: &Group,
    name: &str,
    values: &[String],
) -> Result<Dataset, StageError> {
    let arr = to_varlen(name, values)?;
    Ok(loc.new_dataset_builder().with_data(&arr).create(name)?)
}

/// Write a 1-D attribute of variable-length UTF-8 strings (h5py reads it as an array of `str`).
pub(crate) fn set_strings(loc: &Location, name: &str, values: &[String]) -> Result<(), StageError> {
    let arr = to_varlen(name, values)?;
    loc.new_attr_builder().with_data(&arr).create(name)?;
    Ok(())
}

fn to_varlen(name: &str, values: &[String]) -> Result<Array1<VarLenUnicode>, StageError> {
    values
        .iter()
        .map(|s| {
            VarLenUnicode::from_str(s).map_err(|e| StageError::input(format!("{name}: {s:?}: {e}")))
        })
        .collect()
}

/// Whether a dataset's element type is a variable-length string.
pub(crate) fn is_varlen_string(ds: &Dataset) -> Result<bool, StageError> {
    Ok(matches!(
        ds.dtype()?.to_descriptor()?,
        TypeDescriptor::VarLenUnicode | TypeDescriptor::VarLenAscii
    ))
}

/// Read a 1-D dataset of variable-length strings (UTF-8 or ASCII).
pub(crate) fn read_strings(ds: &Dataset) -> Result<Vec<String>, StageError> {
    if !is_varlen_string(ds)? {
        return Err(StageError::input(format!(
            "dataset '{}' holds {}, expected variable-length strings",
            ds.name(),
            ds.dtype()?.to_descriptor()?
        )));
    }
    if ds.ndim() != 1 {
        return Err(shape_error(ds, "one dimension"));
    }
    Ok(ds
        .read_raw::<VarLenUnicode>()?
        .iter()
        .map(|s| s.as_str().to_string())
        .collect())
}

/// Read a 1-D string dataset of `len` values from `g`.
pub(crate) fn read_strings_n(g: &Group, name: &str, len: usize) -> Result<Vec<String>, StageError> {
    let ds = dataset(g, name)?;
    if ds.shape() != [len] {
        return Err(shape_error(&ds, &format!("[{len}]")));
    }
    read_strings(&ds)
}

/// Read a 1-D string attribute written by [`set_strings`].
pub(crate) fn get_strings(loc: &Location, name: &str) -> Result<Vec<String>, StageError> {
    let a = loc.attr(name).map_err(|_| {
        StageError::input(format!(
            "HDF5 object '{}' has no attribute '{name}'",
            loc.name()
        ))
    })?;
    if a.ndim() != 1 {
        return Err(StageError::input(format!(
            "attribute '{name}' of '{}' has shape {:?}, expected one dimension",
            loc.name(),
            a.shape()
        )));
    }
    Ok(a.read_raw::<VarLenUnicode>()?
        .iter()
        .map(|s| s.as_str().to_string())
        .collect())
}

/// Check that `x` is a finite number > 0.
pub(crate) fn positive(what: &str, x: f64) -> Result<(), StageError> {
    if x.is_finite() && x > 0.0 {
        Ok(())
    } else {
        Err(StageError::input(format!(
            "{what} must be a finite number > 0, got {x}"
        )))
    }
}

/// Test helpers: open a written file, run a Python check against it.
///
/// Child processes inherit the descriptors of HDF5 files that other test threads hold open (HDF5
/// does not open them close-on-exec), and with them those files' `flock` locks, until the child
/// exits. So tests reopen files with HDF5 file locking off, and Python runs with
/// `HDF5_USE_FILE_LOCKING=FALSE`.
#[cfg(test)]
pub(crate) mod testutil {
    use std::path::Path;

    use corrflow_stage::hdf5::File;

    /// Open a file read-only without taking HDF5's file lock.
    pub fn open(path: &Path) -> File {
        File::with_options()
            .with_fapl(|p| p.file_locking(false))
            .open(path)
            .unwrap()
    }

    /// Run `script` with `python3 -c SCRIPT FILE`; `None` (after printing SKIPPED) when python3
    /// with h5py and numpy is not available. Panics with Python's output when the script fails.
    pub fn python(test: &str, script: &str, file: &Path) -> Option<String> {
        if !corrflow_test_support::python_has(test, &["h5py", "numpy"]) {
            return None;
        }
        Some(corrflow_test_support::run_python(test, script, [file]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn write_all(path: &std::path::Path) {
        let f = h5::create_file(path).unwrap();
        let img = EmImage::new(Array2::from_elem((4, 3), 1.5), 2.0, "x.tif").unwrap();
        img.write(&f.create_group("image").unwrap()).unwrap();
        ion_stack::tests::sample()
            .write(&f.create_group("ions").unwrap())
            .unwrap();
        instances::tests::sample()
            .write(&f.create_group("objects").unwrap())
            .unwrap();
        transform::tests::sample()
            .write(&f.create_group("transform").unwrap())
            .unwrap();
        table::tests::sample()
            .write(&f.create_group("table").unwrap())
            .unwrap();
        f.close().unwrap();
    }

    /// The cache relies on a task writing the same bytes every time.
    #[test]
    fn written_files_are_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.h5"), dir.path().join("b.h5"));
        write_all(&a);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        write_all(&b);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn reading_the_wrong_type_names_both() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.h5");
        write_all(&p);
        let f = crate::testutil::open(&p);
        let e = Table::read(&f.group("ions").unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "HDF5 group '/ions' holds 'ion_stack', expected 'table'");
        let e = IonStack::read(&f.group("table").unwrap())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "HDF5 group '/table' holds 'table', expected 'ion_stack'");
    }

    /// Another program (here h5py, as documented in schemas/hdf5-layouts.md) writes every type;
    /// corrflow reads it. h5py's defaults: int64/float64 attributes, UTF-8 variable-length strings.
    #[test]
    fn reads_files_written_by_h5py() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ext.h5");
        let script = r#"
import sys, h5py, numpy as np
S = h5py.string_dtype()
with h5py.File(sys.argv[1], "w") as f:
    def group(name, ty):
        g = f.create_group(name)
        g.attrs["corrflow_type"] = ty
        g.attrs["layout_version"] = 1
        return g
    g = group("image", "em_image")
    g["data"] = np.arange(6, dtype=np.float32).reshape(2, 3)
    g.attrs["pixel_size_nm"] = 4.0
    g.attrs["source"] = "scope"

    g = group("ions", "ion_stack")
    g["counts"] = np.ones((2, 3, 4, 5), np.float32)
    g["mass_label"] = np.array(["12C 14N", "SE"], dtype=S)
    g["mass_name"] = np.array(["12C14N", "SE"], dtype=S)
    g["mass_amu"] = [26.0, 0.0]
    g["detector"] = np.array([3, 7], np.int32)
    g["dead_time_ns"] = [44.0, 0.0]
    g["plane_shifts_px"] = np.zeros((3, 2))
    for k, v in dict(pixel_size_nm=40.0, raster_nm=200.0, dwell_time_s=1e-3).items():
        g.attrs[k] = v
    g.attrs["corrections"] = "none"
    g.attrs["source"] = "external"

    g = group("objects", "instances")
    g.attrs["height"], g.attrs["width"], g.attrs["pixel_size_nm"] = 4, 5, 10.0
    g["class_names"] = np.array(["cell"], dtype=S)
    g["class_id"] = np.array([0, 0], np.uint32)
    g["score"] = np.array([0.7, 0.2], np.float32)
    g["bbox"] = np.array([[0, 0, 2, 2], [1, 1, 5, 4]], np.float32)
    g["mask_box"] = np.array([[0, 0, 2, 2], [1, 1, 5, 4]], np.int64)
    m0 = np.array([[1, 1], [0, 1]], np.uint8)
    m1 = np.ones((3, 4), np.uint8)
    g["mask_data"] = np.concatenate([m0.ravel(), m1.ravel()])
    g["mask_offsets"] = np.array([0, 4, 16], np.int64)

    g = group("transform", "transform")
    g["matrix"] = np.array([[2.0, 0, 1], [0, 2.0, 3], [0, 0, 1]])
    for k, v in dict(kind="affine", from_space="nanosims", to_space="em", method="manual").items():
        g.attrs[k] = v
    g.attrs["from_pixel_size_nm"], g.attrs["to_pixel_size_nm"] = 40.0, 20.0
    g.attrs["rms_nm"], g.attrs["confidence"] = np.nan, np.nan

    g = group("table", "table")
    g.attrs["n_rows"] = 2
    g.attrs["column_order"] = ["name", "area", "n"]
    c = g.create_group("columns")
    c["name"] = np.array(["a", "b"], dtype=S)
    c["area"] = [1.5, np.nan]
    c["area"].attrs["units"] = "nm²"
    c["n"] = np.array([3, 4], np.int32)
print("OK")
"#;
        if crate::testutil::python("h5py writer", script, &p).is_none() {
            return;
        }
        let f = crate::testutil::open(&p);
        let img = EmImage::read(&f.group("image").unwrap()).unwrap();
        assert_eq!((img.data[[1, 2]], img.pixel_size_nm), (5.0, 4.0));
        let ions = IonStack::read(&f.group("ions").unwrap()).unwrap();
        assert_eq!(ions.mass_index("SE").unwrap(), 1);
        assert_eq!(ions.channel_sum("12C14N").unwrap()[[3, 4]], 3.0);
        assert_eq!(ions.masses[0].label, "12C 14N");
        let objs = Instances::read(&f.group("objects").unwrap()).unwrap();
        assert_eq!(objs.instances[0].mask.area_px(), 3);
        let l = objs.label_image();
        assert_eq!((l[[1, 1]], l[[0, 1]], l[[3, 4]], l[[1, 0]]), (1, 1, 2, 0));
        let t = Transform2D::read(&f.group("transform").unwrap()).unwrap();
        assert_eq!(t.apply((1.0, 1.0)), (3.0, 5.0));
        assert_eq!(t.kind, TransformKind::Affine);
        let tab = Table::read(&f.group("table").unwrap()).unwrap();
        let names: Vec<&str> = tab.columns().iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["name", "area", "n"]);
        assert_eq!(tab.column("n").unwrap().values, Column::I64(vec![3, 4]));
        assert_eq!(
            tab.column("name").unwrap().values,
            Column::Text(vec!["a".into(), "b".into()])
        );
        assert_eq!(tab.column("area").unwrap().units.as_deref(), Some("nm²"));
    }
}
