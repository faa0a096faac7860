//! `spmdkit info`: what the job is made of.

use crate::cli::Threads;
use crate::report::{InfoReport, RankInfo};
use crate::wire::{Wire, WireError};
use crate::world::Comm;
use crate::{h5, scatter};

struct Me {
    host: String,
    pid: u32,
    threads: usize,
    origin: String,
}

impl Wire for Me {
    fn put(&self, out: &mut Vec<u8>) {
        self.host.put(out);
        self.pid.put(out);
        self.threads.put(out);
        self.origin.put(out);
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        Ok(Me {
            host: String::take(input)?,
            pid: u32::take(input)?,
            threads: usize::take(input)?,
            origin: String::take(input)?,
        })
    }
}

/// Gathers every rank's host, pid and threads. Rank 0 returns the report, the others `None`.
///
/// # Collective
/// Every rank must call it.
pub fn run<C: Comm + ?Sized>(comm: &C, threads: Threads) -> Option<InfoReport> {
    let me = Me {
        host: super::host_name(),
        pid: std::process::id(),
        threads: threads.count,
        origin: threads.origin.to_string(),
    };
    let all = scatter::gather(comm, 0, &me)?;
    let mut hosts: Vec<String> = Vec::new();
    for m in &all {
        if !hosts.contains(&m.host) {
            hosts.push(m.host.clone());
        }
    }
    let (major, minor) = if comm.backend() == "mpi" {
        crate::world::mpi_backend::standard_version()
    } else {
        (0, 0)
    };
    Some(InfoReport {
        command: "info",
        version: env!("CARGO_PKG_VERSION").to_string(),
        backend: comm.backend().to_string(),
        mpi_library: super::mpi_library_for(comm.backend()),
        mpi_standard: if comm.backend() == "mpi" {
            format!("{major}.{minor}")
        } else {
            "none".into()
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
            })
            .collect(),
        hdf5_version: h5::library_version(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::inproc;

    #[test]
    fn every_rank_appears_once() {
        let out = inproc::run(5, |comm| {
            run(
                comm,
                Threads {
                    count: comm.rank() + 1,
                    origin: "--threads",
                },
            )
        });
        let report = out[0].as_ref().unwrap();
        assert_eq!(report.ranks, 5);
        assert_eq!(report.per_rank.len(), 5);
        assert_eq!(report.threads_per_rank, 5);
        assert_eq!(report.hosts.len(), 1);
        assert!(report.hdf5_version.starts_with("1."));
    }
}
