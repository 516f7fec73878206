//! Small helpers for the HDF5 layouts: attributes as h5py reads them, and entry-file creation.

use std::path::Path;
use std::str::FromStr;

use crate::StageError;
use crate::hdf5::file::FileCloseDegree;
use crate::hdf5::types::VarLenUnicode;
use crate::hdf5::{File, Location};

/// Create an entry file whose bytes do not depend on when it was written (object time stamps off),
/// so that two runs of the same task produce identical files.
pub fn create_file(path: &Path) -> Result<File, StageError> {
    Ok(File::with_options()
        .with_fcpl(|p| p.obj_track_times(false))
        // Closing the file closes every object still open in it, so the file is complete and
        // released when `close` returns (a leaked handle cannot keep it open and locked).
        .with_fapl(|p| p.fclose_degree(FileCloseDegree::Strong).file_locking(false))
        .create(path)?)
}

/// Open an entry file read-only.
///
/// HDF5's own file locking is off, here and in [`create_file`]: the cache's commit protocol never
/// needs it (temp files are private, committed files are never written again), and HDF5 takes its
/// `flock` on descriptors that child processes inherit, so a program started by one task could
/// otherwise keep another task's file locked. It also fails on some network file systems.
pub fn open_file(path: &Path) -> Result<File, StageError> {
    Ok(File::with_options()
        .with_fapl(|p| p.file_locking(false))
        .open(path)?)
}

/// Write a UTF-8 string attribute (h5py reads it as `str`).
pub fn set_str(loc: &Location, name: &str, value: &str) -> Result<(), StageError> {
    let v = VarLenUnicode::from_str(value)
        .map_err(|e| StageError::other(format!("attribute {name}: {e}")))?;
    loc.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&v)?;
    Ok(())
}

/// Read a string attribute written by [`set_str`] (or any variable-length UTF-8/ASCII string).
pub fn get_str(loc: &Location, name: &str) -> Result<String, StageError> {
    let a = loc.attr(name).map_err(|_| missing(loc, name))?;
    let v: VarLenUnicode = a.read_scalar()?;
    Ok(v.as_str().to_string())
}

/// Write a float attribute.
pub fn set_f64(loc: &Location, name: &str, value: f64) -> Result<(), StageError> {
    loc.new_attr::<f64>().create(name)?.write_scalar(&value)?;
    Ok(())
}

pub fn get_f64(loc: &Location, name: &str) -> Result<f64, StageError> {
    let a = loc.attr(name).map_err(|_| missing(loc, name))?;
    Ok(a.read_scalar::<f64>()?)
}

/// Write an integer attribute.
pub fn set_i64(loc: &Location, name: &str, value: i64) -> Result<(), StageError> {
    loc.new_attr::<i64>().create(name)?.write_scalar(&value)?;
    Ok(())
}

pub fn get_i64(loc: &Location, name: &str) -> Result<i64, StageError> {
    let a = loc.attr(name).map_err(|_| missing(loc, name))?;
    Ok(a.read_scalar::<i64>()?)
}

fn missing(loc: &Location, name: &str) -> StageError {
    StageError::input(format!(
        "HDF5 object '{}' has no attribute '{name}'",
        loc.name()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip_and_files_are_reproducible() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str| {
            let path = dir.path().join(name);
            let f = create_file(&path).unwrap();
            let g = f.create_group("image").unwrap();
            set_str(&g, "units", "nm µm²").unwrap();
            set_f64(&g, "pixel_size_nm", 4.25).unwrap();
            set_i64(&g, "bit_depth", 16).unwrap();
            g.new_dataset::<f32>().shape((3, 2)).create("data").unwrap();
            f.close().unwrap();
            path
        };
        let a = write("a.h5");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let b = write("b.h5");
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let f = File::open(&a).unwrap();
        let g = f.group("image").unwrap();
        assert_eq!(get_str(&g, "units").unwrap(), "nm µm²");
        assert_eq!(get_f64(&g, "pixel_size_nm").unwrap(), 4.25);
        assert_eq!(get_i64(&g, "bit_depth").unwrap(), 16);
        assert!(
            get_f64(&g, "nope")
                .unwrap_err()
                .to_string()
                .contains("nope")
        );
    }
}
