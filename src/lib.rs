//! spmdkit: SPMD compute on MPI — a task engine, reproducible reductions and the classic
//! workloads, usable as a library.
//!
//! # The model
//!
//! Every rank runs the same program, the closure given to [`World::run`], which gets the [`Job`]:
//! the communicator and this rank's threads. Rank 0 holds the task list; the engine ([`Farm`],
//! or [`Job::run`]) runs every task once over all ranks × threads — planned in advance (`lpt`
//! with a cost per task, `block`, `cyclic`) or handed out as ranks ask (`dynamic`) — and returns
//! one [`Record`] per task on the rank that ran it. The run ends in one collective step:
//! [`farm::Run::sum`] (results summed by task id up a binomial tree in ⌈log2 P⌉ rounds, with the
//! same bits for any number of ranks and threads and any schedule), [`farm::Run::collect`] (every
//! result at rank 0 in task order) or [`farm::Run::check`]; underneath, [`Leaves`] and
//! [`reduce::tree`] take arrays of any shape. Started without a launcher, a program is one
//! in-process rank and never starts MPI.
//!
//! # The layers
//!
//! From the bottom up; a layer never uses one above it:
//!
//! | module | what it holds |
//! |---|---|
//! | [`comm`] | the [`Comm`] trait, its MPI and in-process backends, [`World`], thread counts |
//! | [`collective`] | typed scatter / gather / broadcast of serde types, [`agree`], same-command check |
//! | [`reduce`] | reproducible tree reduction by global leaf index (+ all-reduce), linear, native |
//! | [`farm`] | the task engine: policies, lanes on a rayon pool, progress, records, failure isolation, a run's sum |
//! | [`Job`], [`World::run`] | a program's body: the communicator, its placed threads, errors and exit codes |
//! | `output` | (feature `hdf5`) HDF5 files written atomically: a crash leaves none or all |
//!
//! Beneath them all: [`Error`] and [`Kind`], and the crash report.
//!
//! This crate is the engine; it knows nothing of the applications built on it (the `spmdkit`
//! command's jobs and command farm are the crate `spmdkit-apps`, its benchmarks
//! `spmdkit-bench`). Its dependencies are MPI, rayon, serde, ndarray and, with the `hdf5`
//! feature, HDF5: no command-line parser, progress-bar or plotting crate.
//!
//! # Who calls what
//!
//! Functions documented as **collective** must be called by every rank, in the same order; the
//! rest are local; every collective checks that all ranks make the same call, and names where
//! each rank is when they do not. MPI is only ever called from the thread that started the
//! program (MPI's `Funneled` level): tasks run on the pool's threads and never call MPI. A
//! rank-local failure (a file one rank cannot read) is agreed on with [`agree`], so that every
//! rank ends alike; an error that one rank returns from [`World::run`] alone ends the whole job
//! at once with its message (see [`World::run`]).
//!
//! # A complete program
//!
//! A Monte Carlo estimate of π: 64 tasks under `dynamic`, each returning its estimate, summed in
//! the fixed tree so the answer has the same bits on any number of ranks and threads
//! (`examples/pi.rs` is this program, with arguments and a check against the serial sum):
//!
//! ```no_run
//! use rand::{Rng, SeedableRng};
//!
//! fn estimate(seed: u64) -> f64 {
//!     let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
//!     let inside = (0..1_000_000)
//!         .filter(|_| rng.random::<f64>().powi(2) + rng.random::<f64>().powi(2) <= 1.0)
//!         .count();
//!     4.0 * inside as f64 / 1e6
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     spmdkit::World::run(|job| {
//!         let run = job.run(0..64u64, |_ctx, &seed| estimate(seed))?; // read on rank 0 only
//!         if let Some(sum) = run.sum(job)? {                           // Some on rank 0
//!             println!("pi = {}", sum / 64.0);
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
mod job;
mod names;
#[cfg(feature = "hdf5")]
pub mod output;
mod program;
pub mod reduce;

pub use collective::agree;
pub use comm::{Comm, World, WorldError};
pub use error::{say, Error, Kind};
pub use farm::{pool, Ctx, Farm, Policy, Record};
pub use job::Job;
pub use program::report_crashes_as;
pub use reduce::Leaves;
