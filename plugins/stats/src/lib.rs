//! Statistics between conditions for per-object measurements (e.g. the NanoSIMS isotope ratio of
//! each organelle): descriptive summaries ([`summary`]), the Mann–Whitney U test
//! ([`mann_whitney`]), Welch's t-test and Hedges' g ([`welch`]), Holm and Benjamini–Hochberg
//! adjustment ([`adjust`]), the comparison of every pair of conditions per group ([`compare`]) and
//! the aggregate stage `stats.compare` ([`stage`]). The arithmetic follows numpy, scipy and
//! statsmodels so that the numbers equal theirs (see `tests/scipy_reference.rs`).

pub mod adjust;
pub mod compare;
pub mod mann_whitney;
pub mod stage;
pub mod summary;
pub mod welch;

/// Registers `stats.compare`.
pub struct StatsPlugin;

impl corrflow_stage::Plugin for StatsPlugin {
    fn build(&self, registry: &mut corrflow_stage::Registry) {
        registry.add_stage(stage::StatsCompare);
    }
}
