//! spmdkit: SPMD compute on MPI.
//!
//! Every rank runs the same binary. Rank 0 plans the work and scatters task descriptors
//! ([`plan`], [`scatter`]); each rank computes its share with rayon across its cores ([`local`]);
//! results travel back to rank 0, which writes the report ([`report`]) and the HDF5 file ([`h5`]).
//! Everything distributed is written against the communicator abstraction in [`world`], which has
//! an MPI backend and an in-process backend for tests and single-rank runs.
//!
//! Dependencies point one way: [`local`] never touches MPI; [`plan`], [`scatter`] and [`world`]
//! never touch clap or HDF5; the binaries in `bin/` are glue.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod bench;
pub mod cli;
pub mod fault;
pub mod h5;
pub mod jobs;
pub mod local;
pub mod matrix;
pub mod memory;
mod names;
pub mod plan;
pub mod progress;
pub mod reduce;
pub mod report;
pub mod scatter;
pub mod wire;
pub mod world;

/// Writes `line` and a newline to stderr in one `write`, so that launchers that forward several
/// ranks' stderr (and a panic message of the same rank) never cut it in pieces.
pub fn say(line: &str) {
    use std::io::Write;
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Any failure that ends a run, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input found before any work.
    #[error(transparent)]
    Config(#[from] cli::ConfigError),
    /// The output file could not be written.
    #[error(transparent)]
    Output(#[from] h5::OutputError),
    /// A failure every rank agreed on.
    #[error("{0}")]
    Agreed(world::Agreed),
    /// The process could not join its job.
    #[error(transparent)]
    World(#[from] world::WorldError),
}

impl From<world::Agreed> for Error {
    fn from(a: world::Agreed) -> Self {
        Error::Agreed(a)
    }
}

impl Error {
    /// 2 for bad usage or input, 1 for a failure while running.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 2,
            Error::Output(e) => e.exit_code(),
            Error::Agreed(a) => a.exit_code,
            Error::World(world::WorldError::LaunchMismatch { .. }) => 2,
            Error::World(_) => 1,
        }
    }

    /// Whether every rank holds this error (so rank 0 alone should print it).
    pub fn is_shared(&self) -> bool {
        matches!(self, Error::Agreed(_))
    }
}
