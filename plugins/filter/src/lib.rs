//! Morphological filtering of segmented organelles: region properties per instance
//! ([`regionprops`]), filter rules and mask operations ([`rules`]), the NanoSIMS field seen from
//! the EM image ([`field`]) and the `filter.morphology` stage ([`stage`]).

pub mod field;
pub mod regionprops;
pub mod rules;
pub mod stage;

/// Registers `filter.morphology`.
pub struct FilterPlugin;

impl corrflow_stage::Plugin for FilterPlugin {
    fn build(&self, registry: &mut corrflow_stage::Registry) {
        registry.add_stage(stage::FilterMorphology);
    }
}
