//! The workloads, each a client of the engine ([`spmdkit::farm`]) or of the reductions
//! ([`spmdkit::reduce`]), taking job parameters (not command-line structs). A job function is
//! collective: every rank calls it; rank 0 returns the report, the others `None`.

/// The longest duration accepted anywhere (a task, a timeout, a delay), in seconds (about 11.6
/// days): long enough for any job, short enough to stay exact and in range everywhere.
pub const MAX_DURATION_S: f64 = 1.0e6;

#[doc(hidden)]
pub mod fault;
pub mod info;
pub mod matrix;
pub mod memory;
pub mod run;
pub mod sleep;
pub(crate) mod text;
