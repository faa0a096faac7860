//! Output of the jobs: the report formats (human and JSON), the HDF5 schemas of their results
//! (written through the engine's atomic writer, [`spmdkit::output::OutputTarget`]) and the
//! timeline charts.

mod h5;
mod report;
pub mod timeline;

pub use h5::{write_matrix, write_run, write_sleep};
pub use report::{Render, HUMAN_TASK_ROWS};
pub use spmdkit::output::{library_version as hdf5_version, OutputError, OutputTarget};
