//! Output: the report formats (human and JSON) and, with the `hdf5` feature, HDF5 files written
//! atomically.
//!
//! [`OutputTarget`] is the writer every results file goes through, the library's users' own
//! included: [`OutputTarget::check`] refuses a bad path before any work starts, and
//! [`OutputTarget::write_with`] writes under a temporary name, syncs, and publishes the file in
//! one step, so a crash leaves either no file or the complete one.

#[cfg(feature = "hdf5")]
mod h5;
mod report;
#[cfg(feature = "hdf5")]
pub mod timeline;

#[cfg(feature = "hdf5")]
pub use h5::{
    library_version as hdf5_version, write_matrix, write_run, write_sleep, OutputError,
    OutputTarget,
};
/// The HDF5 crate spmdkit writes with (`hdf5-metno`), so programs use the same version.
#[cfg(feature = "hdf5")]
pub use hdf5;
pub use report::{Render, HUMAN_TASK_ROWS};
