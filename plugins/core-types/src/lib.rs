//! The data types that flow between stages, each with one HDF5 layout (documented in
//! `schemas/hdf5-layouts.md`). Every group written here carries the attributes `corrflow_type`
//! (the port type name) and `layout_version`, so that h5py/HDFView users and the engine can tell
//! what a group holds.

pub mod em_image;

pub use em_image::EmImage;

use corrflow_stage::StageError;
use corrflow_stage::h5;
use corrflow_stage::hdf5::Group;

/// Port type names of the microscopy data types.
pub mod types {
    /// A 2-D EM image with its pixel size ([`crate::EmImage`]).
    pub const EM_IMAGE: &str = "em_image";
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
