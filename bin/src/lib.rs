//! The applications of spmdkit, standing on the engine ([`spmdkit`]): the classic workloads
//! (`sleep`, `matrix`), `info`, and the command farm (`run`: its guardian, journal and
//! commands), their reports and HDF5 schemas, and the command line of the `spmdkit` binary.
//!
//! | module | what it holds |
//! |---|---|
//! | [`kernels`] | matrix generation and GEMM on `ndarray::Array2<f64>`, pre-faulted buffers; no MPI |
//! | [`jobs`] | the `sleep`, `matrix`, `info` and `run` jobs, each a client of the engine |
//! | [`io`] | report formats, the jobs' HDF5 schemas, timelines |
//! | [`cli`] | the command-line definitions and the checked configurations built from them |

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(unreachable_pub)]

pub mod cli;
pub mod io;
pub mod jobs;
pub mod kernels;
