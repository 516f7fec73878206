//! Morphological filtering of segmented organelles: region properties per instance and rules.

pub mod regionprops;
pub mod rules;
