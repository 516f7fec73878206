//! The plugin contract of corrflow.
//!
//! A stage is a pure function of its declared inputs and its parameters. It reads its inputs from
//! cache entries (HDF5 groups) or plain files, and writes each of its outputs as one HDF5 group of the
//! entry file the engine hands it. The engine (the `corrflow` crate) schedules and caches; stage crates
//! know nothing of either. Stage families are bundled as [`Plugin`]s that add stages to a [`Registry`];
//! adding a stage with an id that is already registered replaces it in place, which is how a user's
//! build swaps an implementation.

pub mod context;
pub mod error;
pub mod h5;
pub mod lineage;
pub mod port;
pub mod registry;
pub mod run_once;
pub mod stage;

pub use context::{ExportContext, InputBinding, RunContext, SampleInfo};
pub use error::{ParamError, StageError};
pub use lineage::{Lineage, LineageNode};
pub use port::{PortSpec, Ports, Scope, port_types};
pub use registry::{Command, Inspector, Plugin, Registry};
pub use run_once::run_once;
pub use stage::{Stage, TypedStage};

/// Re-exported so that stage crates use the same HDF5 binding as the engine.
pub use hdf5_metno as hdf5;
