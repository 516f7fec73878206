//! From a validated graph to results: tasks with keys ([`plan`]), their state and the reasons for it
//! ([`status`]), and the parallel executor ([`run`]).

pub mod exports;
pub mod plan;
pub mod progress;
pub mod run;
pub mod status;

pub use plan::{Plan, Task};
pub use run::{RunOptions, RunSummary, run};
pub use status::{State, TaskStatus};
