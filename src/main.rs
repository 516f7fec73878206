//! The `corrflow` binary: the one place that knows which stage families exist.

use std::process::ExitCode;

use corrflow_stage::Registry;

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`corrflow status … | head`), like other Unix tools.
    // SAFETY: called once at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let mut registry = Registry::new();
    registry
        .add_plugin(corrflow_io_em::IoEmPlugin)
        .add_plugin(corrflow_preprocess::PreprocessPlugin)
        .add_plugin(corrflow_nanosims::NanosimsPlugin)
        .add_plugin(corrflow_synth::SynthPlugin)
        .add_plugin(corrflow_dataset::DatasetPlugin)
        .add_plugin(corrflow_segment::SegmentPlugin)
        .add_plugin(corrflow_evaluate::EvaluatePlugin)
        .add_plugin(corrflow_filter::FilterPlugin)
        .add_plugin(corrflow_register::RegisterPlugin)
        .add_plugin(corrflow_quantify::QuantifyPlugin)
        .add_plugin(corrflow_tables::TablesPlugin)
        .add_plugin(corrflow_stats::StatsPlugin)
        .add_plugin(corrflow_report::ReportPlugin)
        .add_plugin(corrflow_exec::ExecPlugin);
    corrflow::main_with(registry)
}
