//! The `corrflow` binary: the one place that knows which stage families exist.

use std::process::ExitCode;

use corrflow_stage::Registry;

fn main() -> ExitCode {
    let mut registry = Registry::new();
    registry.add_plugin(corrflow_exec::ExecPlugin);
    corrflow::main_with(registry)
}
