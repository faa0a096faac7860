//! The workloads, each composed from [`plan`](crate::plan), [`scatter`](crate::scatter),
//! [`local`](crate::local) and the communicator. A job function is collective: every rank calls
//! it; rank 0 returns the report, the others `None`.

pub mod info;
pub mod matrix;
pub mod sleep;

/// The host name of this process.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe `buf`, which outlives the call; gethostname writes
    // at most `len` bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown-host".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The MPI library of this build when the job runs under MPI, `none` otherwise.
pub fn mpi_library_for(backend: &str) -> String {
    if backend == "mpi" {
        crate::world::mpi_backend::library_version()
    } else {
        "none (single rank started without a launcher)".into()
    }
}
