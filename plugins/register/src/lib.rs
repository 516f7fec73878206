//! EM ↔ NanoSIMS registration.

pub mod auto;
pub mod auto_stage;
pub mod command;
pub mod identity_stage;
pub mod landmarks;
pub mod landmarks_stage;
pub mod output;
pub mod qc;
pub mod warp;

/// Registers the registration stages.
pub struct RegisterPlugin;

impl corrflow_stage::Plugin for RegisterPlugin {
    fn build(&self, registry: &mut corrflow_stage::Registry) {
        registry
            .add_stage(identity_stage::RegisterIdentity)
            .add_stage(landmarks_stage::RegisterLandmarks)
            .add_stage(auto_stage::RegisterAuto)
            .add_command(command::RegisterCommand);
    }
}
