//! Per-organelle NanoSIMS quantification: the coverage of NanoSIMS pixels by EM masks
//! ([`coverage`]), the ratio measures ([`measure`]), QC images ([`qc`]) and the `quantify.ratio`
//! stage ([`stage`]).

pub mod coverage;
pub mod measure;
pub mod qc;
pub mod stage;

/// Registers `quantify.ratio`.
pub struct QuantifyPlugin;

impl corrflow_stage::Plugin for QuantifyPlugin {
    fn build(&self, registry: &mut corrflow_stage::Registry) {
        registry.add_stage(stage::QuantifyRatio);
    }
}
