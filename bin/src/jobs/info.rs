//! `spmdkit info`: what the job is made of.

use serde::{Deserialize, Serialize};
use spmdkit::collective::{self, placement};
use spmdkit::comm::{Comm, Threads};

#[derive(Serialize, Deserialize)]
struct Me {
    host: String,
    pid: u32,
    threads: usize,
    origin: String,
    cores: String,
    placement: String,
}

/// What each rank of the job reported about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankInfo {
    /// The rank.
    pub rank: usize,
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Its worker threads.
    pub threads: usize,
    /// Where the thread count came from.
    pub threads_from: String,
    /// The CPUs it may run on (its affinity, in the kernel's list format: `0-3,8`).
    pub cores: String,
    /// How its cores were chosen ([`spmdkit::collective::placement`]).
    pub placement: String,
}

/// The report of `spmdkit info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InfoReport {
    /// Always `"info"`.
    pub command: &'static str,
    /// spmdkit's version.
    pub version: String,
    /// `mpi` or `in-process` (started without a launcher; MPI not initialised).
    pub backend: String,
    /// The MPI library the binary is linked with.
    pub mpi_library: String,
    /// The MPI standard version it implements.
    pub mpi_standard: String,
    /// Number of ranks.
    pub ranks: usize,
    /// Worker threads per rank (the largest, if ranks differ).
    pub threads_per_rank: usize,
    /// Distinct host names, in rank order of first appearance.
    pub hosts: Vec<String>,
    /// One entry per rank.
    pub per_rank: Vec<RankInfo>,
    /// The HDF5 library version.
    pub hdf5_version: String,
}

/// Gathers every rank's host, pid, threads and cores. Rank 0 returns the report, the others
/// `None`. `placement` says how this rank's cores were chosen; `hdf5_version` is the HDF5
/// library's version to report (`none` in a build without HDF5).
///
/// # Collective
/// Every rank must call it.
pub fn run<C: Comm + ?Sized>(
    comm: &C,
    threads: Threads,
    placement: &str,
    hdf5_version: &str,
) -> Option<InfoReport> {
    let me = Me {
        host: spmdkit::comm::host_name(),
        pid: std::process::id(),
        threads: threads.count,
        origin: threads.origin.to_string(),
        cores: placement::format_cpu_list(&placement::affinity()),
        placement: placement.to_string(),
    };
    let all = collective::gather(comm, 0, &me)?;
    let mut hosts: Vec<String> = Vec::new();
    for m in &all {
        if !hosts.contains(&m.host) {
            hosts.push(m.host.clone());
        }
    }
    Some(InfoReport {
        command: "info",
        version: env!("CARGO_PKG_VERSION").to_string(),
        backend: comm.backend().name().to_string(),
        mpi_library: comm.backend().library(),
        mpi_standard: match comm.backend().mpi_standard() {
            Some((major, minor)) => format!("{major}.{minor}"),
            None => "none".into(),
        },
        ranks: comm.size(),
        threads_per_rank: all.iter().map(|m| m.threads).max().unwrap_or(1),
        hosts,
        per_rank: all
            .into_iter()
            .enumerate()
            .map(|(rank, m)| RankInfo {
                rank,
                host: m.host,
                pid: m.pid,
                threads: m.threads,
                threads_from: m.origin,
                cores: m.cores,
                placement: m.placement,
            })
            .collect(),
        hdf5_version: hdf5_version.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use spmdkit::comm::inproc;

    #[test]
    fn every_rank_appears_once() {
        let out = inproc::run(5, |comm| {
            run(
                comm,
                Threads {
                    count: comm.rank() + 1,
                    origin: "--threads",
                },
                "kept",
                "1.10.8",
            )
        });
        let report = out[0].as_ref().unwrap();
        assert_eq!(report.ranks, 5);
        assert_eq!(report.per_rank.len(), 5);
        assert_eq!(report.threads_per_rank, 5);
        assert_eq!(report.hosts.len(), 1);
        assert_eq!(report.hdf5_version, "1.10.8");
    }
}
