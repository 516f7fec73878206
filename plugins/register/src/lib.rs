//! EM ↔ NanoSIMS registration.

pub mod warp;
pub mod qc;
