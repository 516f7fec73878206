//! The integration tests: they drive the real `corrflow` binary (and, where a test needs a stage
//! that the binary does not have, the engine library with a custom registry).

mod catalogue;
mod common;
mod diagnostics;
mod engine_api;
mod exec_stage;
mod kill;
mod nanosims;
mod peer;
mod register;
mod rerun;
mod samples_make;
mod security;
mod segment;
mod snakemake;
mod subcommands;
mod synth;
