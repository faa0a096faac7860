//! spmdkit: SPMD compute on MPI — a task engine, reproducible reductions and the classic
//! workloads, usable as a library.
//!
//! # The model
//!
//! Every rank runs the same program. Rank 0 holds the task list; the engine ([`Farm`]) runs every
//! task once over all ranks × threads — planned in advance (`lpt` with a cost per task, `block`,
//! `cyclic`) or handed out as ranks ask (`dynamic`) — and returns one [`Record`] per task on the
//! rank that ran it, which [`farm::Run::gather`] can bring to rank 0. Results that are arrays stay
//! where they were computed and meet in a reduction: each rank inserts them into [`Leaves`] by the
//! task's id, and [`reduce::tree`] combines them up a binomial tree in ⌈log2 P⌉ rounds, with the
//! same bits for any number of ranks and threads and any schedule. Started without a launcher, a
//! program is one in-process rank and never starts MPI.
//!
//! # The layers
//!
//! From the bottom up; a layer never uses one above it:
//!
//! | module | what it holds |
//! |---|---|
//! | [`comm`] | the [`Comm`] trait, its MPI and in-process backends, [`World`], thread counts |
//! | [`collective`] | typed scatter / gather / broadcast of serde types, [`agree`], same-command check |
//! | [`farm`] | the task engine: policies, lanes on a rayon pool, progress, records, failure isolation |
//! | [`reduce`] | reproducible tree reduction by global leaf index (+ all-reduce), linear, native |
//! | `output` | (feature `hdf5`) HDF5 files written atomically: a crash leaves none or all |
//!
//! This crate is the engine; it knows nothing of the applications built on it (the `spmdkit`
//! command's jobs and command farm are the crate `spmdkit-apps`, its benchmarks
//! `spmdkit-bench`). Its dependencies are MPI, rayon, serde, ndarray and, with the `hdf5`
//! feature, HDF5: no command-line parser, progress-bar or plotting crate.
//!
//! # Who calls what
//!
//! Functions documented as **collective** must be called by every rank, in the same order; the
//! rest are local. MPI is only ever called from the thread that started the program (MPI's
//! `Funneled` level): tasks run on the pool's threads and never call MPI. A rank-local failure
//! (a file one rank cannot read) must be agreed on with [`agree`] before the next collective, or
//! the other ranks would wait for it.
//!
//! # A complete program
//!
//! A Monte Carlo estimate of π: 16 tasks under `dynamic`, each returning its estimate, summed
//! in the fixed tree so the answer has the same bits on any number of ranks
//! (`examples/pi.rs` is this program, with arguments):
//!
//! ```no_run
//! use ndarray::array;
//! use rand::{Rng, SeedableRng};
//! use spmdkit::{reduce, Error, Farm, Leaves, World};
//!
//! fn main() -> std::process::ExitCode {
//!     World::run(|comm| {
//!         let pool = spmdkit::agree(comm, spmdkit::pool(spmdkit::comm::threads_here(None)?.count))?;
//!         let tasks: Vec<u64> = (0..16).collect(); // the seeds; only rank 0's list is used
//!         let run = Farm::new(&pool).run(comm, tasks, |_ctx, &seed| {
//!             let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
//!             let n = 1_000_000;
//!             let inside = (0..n)
//!                 .filter(|_| {
//!                     let (x, y): (f64, f64) = (rng.random(), rng.random());
//!                     x * x + y * y <= 1.0
//!                 })
//!                 .count();
//!             4.0 * inside as f64 / n as f64
//!         })?;
//!         let mut leaves = Leaves::new(&pool);
//!         for r in run.records() {
//!             let estimate = r.result.clone().map_err(Error::failed)?;
//!             leaves.insert(r.id, array![estimate]);
//!         }
//!         if let Some(sum) = reduce::tree(comm, leaves) {
//!             println!("pi ≈ {}", sum[0] / 16.0);
//!         }
//!         Ok(())
//!     })
//! }
//! ```
//!
//! Run it with `mpirun -np 3 target/release/examples/pi`, or alone.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(unreachable_pub)]

pub mod collective;
pub mod comm;
mod crash;
mod error;
pub mod farm;
mod names;
#[cfg(feature = "hdf5")]
pub mod output;
mod program;
pub mod reduce;

pub use collective::agree;
pub use comm::{Comm, World, WorldError};
pub use error::{Error, Kind};
pub use farm::{pool, Ctx, Farm, Policy, Record};
pub use program::report_crashes_as;
pub use reduce::Leaves;

/// Writes `line` and a newline to stderr in one `write`, so that launchers that forward several
/// ranks' stderr (and a panic message of the same rank) never cut it in pieces.
pub fn say(line: &str) {
    use std::io::Write;
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}
