//! The `report.html` aggregate stage: one self-contained HTML page (inline CSS, images as data
//! URIs, inline SVG) with the value plots, the statistics, what the filter removed, per-sample QC
//! figures and the provenance of the run.

pub mod boxplot;
pub mod dag;
pub mod html;
pub mod images;
pub mod plot;
pub mod stage;

/// Registers `report.html`.
pub struct ReportPlugin;

impl corrflow_stage::Plugin for ReportPlugin {
    fn build(&self, registry: &mut corrflow_stage::Registry) {
        registry.add_stage(stage::ReportHtml);
    }
}
