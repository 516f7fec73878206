//! Tables across samples: concatenation ([`concat`]), Parquet output ([`parquet_out`]) and the
//! `table.concat` stage ([`stage`]).

pub mod concat;
pub mod parquet_out;
pub mod stage;

/// Registers `table.concat`.
pub struct TablesPlugin;

impl corrflow_stage::Plugin for TablesPlugin {
    fn build(&self, registry: &mut corrflow_stage::Registry) {
        registry.add_stage(stage::TableConcat);
    }
}
