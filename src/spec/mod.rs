//! Pipeline files → a resolved, located pipeline definition (includes merged, `--set` applied).

pub mod load;
pub mod model;
pub mod yaml;

pub use load::{InputRef, NodeDef, Pipeline, SamplesDef, load};
