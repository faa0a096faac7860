//! The benchmark suite of spmdkit (`spmdkit-bench`): the reductions, the farm and the classic
//! jobs measured against their baselines, the cost model, CSV rows and charts.

pub mod cli;
pub mod error;
pub mod plot;
pub mod reduce;
pub mod table;
pub mod workloads;
