//! corrflow's engine: pipeline spec → validated graph → keyed tasks → parallel executor → HDF5 cache.
//!
//! The engine knows nothing about microscopy: stages come from plugin crates through a
//! [`corrflow_stage::Registry`], which the binary fills (see `main.rs`).

pub mod cache;
pub mod cli;
pub mod crashpoint;
pub mod diagnostic;
pub mod exec;
pub mod graph;
pub mod samples;
pub mod schema;
pub mod spec;
pub mod textfile;

pub use cli::main_with;
