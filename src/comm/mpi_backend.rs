//! The MPI backend: rsmpi over the MPI library the binary was linked with.
//!
//! MPI is initialised with `Threading::Funneled`: only the thread that called [`MpiComm::init`]
//! (the process's main thread) ever calls MPI; rayon workers never do. Variable-size collectives
//! send their counts first, then the payload (`MPI_Scatterv`/`MPI_Gatherv` on bytes). Payloads are
//! limited to `i32::MAX` bytes per rank by MPI's count type; larger ones abort with a message
//! instead of being silently truncated.

use super::{Comm, Tag};
use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Equivalence, Root};
use mpi::Threading;

/// A rank of `MPI_COMM_WORLD`.
pub(crate) struct MpiComm {
    world: SimpleCommunicator,
    // Dropping the universe calls MPI_Finalize; keep it last so `world` goes first.
    _universe: Universe,
}

/// Why MPI could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum MpiInitError {
    /// MPI was initialised before (by this process).
    #[error("MPI was already initialised in this process")]
    AlreadyInitialized,
    /// The library does not offer the threading level spmdkit needs.
    #[error("the MPI library offers only {0:?} threading; spmdkit needs Funneled")]
    Threading(Threading),
}

impl MpiComm {
    /// Initialises MPI (`MPI_Init_thread` with `MPI_THREAD_FUNNELED`) on the calling thread,
    /// which becomes the only thread allowed to call MPI.
    ///
    /// # Errors
    /// If MPI was already initialised, or cannot provide Funneled threading.
    pub(crate) fn init() -> Result<Self, MpiInitError> {
        let (universe, provided) = mpi::initialize_with_threading(Threading::Funneled)
            .ok_or(MpiInitError::AlreadyInitialized)?;
        if matches!(provided, Threading::Single) {
            return Err(MpiInitError::Threading(provided));
        }
        Ok(MpiComm {
            world: universe.world(),
            _universe: universe,
        })
    }

    /// `len` as an MPI count (an `int`); aborts the job, naming `what` and its `unit`, when it
    /// does not fit.
    fn count(&self, len: usize, what: &str, unit: &str) -> i32 {
        i32::try_from(len).unwrap_or_else(|_| {
            self.abort(
                1,
                &format!(
                    "{what} of {len} {unit} exceeds MPI's limit of {} {unit}",
                    i32::MAX
                ),
            )
        })
    }
}

/// The MPI library's own description (`MPI_Get_library_version`), first line, NUL bytes removed.
/// Callable before MPI is initialised.
pub(crate) fn library_version() -> String {
    let raw = mpi::environment::library_version()
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    let clean: String = raw.chars().filter(|&c| c != '\0').collect();
    let first = clean
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unknown MPI library")
        .trim_end_matches(',');
    // MPICH separates its fields with tabs.
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The MPI standard version the library implements, e.g. `(3, 1)`.
pub(crate) fn standard_version() -> (i32, i32) {
    mpi::environment::version()
}

fn rank_i32(rank: usize) -> i32 {
    i32::try_from(rank).expect("MPI ranks fit in i32")
}

impl Comm for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn send(&self, dest: usize, tag: Tag, data: &[u8]) {
        self.count(data.len(), "a message", "bytes");
        self.world
            .process_at_rank(rank_i32(dest))
            .send_with_tag(data, tag);
    }

    fn recv(&self, src: usize, tag: Tag) -> Vec<u8> {
        self.world
            .process_at_rank(rank_i32(src))
            .receive_vec_with_tag::<u8>(tag)
            .0
    }

    fn send_f64(&self, dest: usize, tag: Tag, data: &[f64]) {
        self.count(data.len(), "a message", "values");
        self.world
            .process_at_rank(rank_i32(dest))
            .send_with_tag(data, tag);
    }

    fn recv_f64(&self, src: usize, tag: Tag) -> Vec<f64> {
        self.world
            .process_at_rank(rank_i32(src))
            .receive_vec_with_tag::<f64>(tag)
            .0
    }

    fn recv_any(&self, tag: Tag) -> (usize, Vec<u8>) {
        let (data, status) = self.world.any_process().receive_vec_with_tag::<u8>(tag);
        (status.source_rank() as usize, data)
    }

    fn recv_f64_into(&self, src: usize, tag: Tag, buf: &mut [f64]) {
        let status = self
            .world
            .process_at_rank(rank_i32(src))
            .receive_into_with_tag(buf, tag);
        let got = status.count(f64::equivalent_datatype());
        if got as usize != buf.len() {
            self.abort(
                1,
                &format!("rank {src} sent {got} values, expected {}", buf.len()),
            );
        }
    }

    fn try_recv_any(&self, tag: Tag) -> Option<(usize, Vec<u8>)> {
        let probed = self
            .world
            .any_process()
            .immediate_matched_probe_with_tag(tag)?;
        let (data, status) = probed.matched_receive_vec::<u8>();
        Some((status.source_rank() as usize, data))
    }

    fn abort(&self, code: i32, message: &str) -> ! {
        crate::say(&format!("spmdkit: rank {}: {message}", self.rank()));
        self.world.abort(code)
    }

    fn backend(&self) -> &'static str {
        "mpi"
    }

    fn barrier(&self) {
        self.world.barrier();
    }

    fn broadcast_bytes(&self, root: usize, mut data: Vec<u8>) -> Vec<u8> {
        let root_process = self.world.process_at_rank(rank_i32(root));
        let mut len = data.len() as u64;
        root_process.broadcast_into(&mut len);
        let len = len as usize;
        self.count(len, "a broadcast", "bytes");
        if self.rank() != root {
            data = vec![0u8; len];
        }
        root_process.broadcast_into(&mut data[..]);
        data
    }

    fn gather_bytes(&self, root: usize, data: &[u8]) -> Option<Vec<Vec<u8>>> {
        let root_process = self.world.process_at_rank(rank_i32(root));
        let count = self.count(data.len(), "a gathered buffer", "bytes");
        let nothing = [0u8; 1];
        let data = if data.is_empty() { &nothing[..0] } else { data };
        if self.rank() != root {
            root_process.gather_into(&count);
            root_process.gather_varcount_into(data);
            return None;
        }
        let mut counts = vec![0i32; self.size()];
        root_process.gather_into_root(&count, &mut counts[..]);
        let displs = displacements(&counts, || self.abort(1, "gathered data exceeds 2 GiB"));
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        // An empty Vec's pointer is Rust's dangling 0x1, which is Open MPI's MPI_IN_PLACE
        // (MPI_ERR_ARG at the root): give both buffers real places, even when they are empty.
        let mut buf = vec![0u8; total.max(1)];
        {
            let mut partition = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            root_process.gather_varcount_into_root(data, &mut partition);
        }
        Some(split(&buf, &counts))
    }

    fn scatter_bytes(&self, root: usize, parts: Option<Vec<Vec<u8>>>) -> Vec<u8> {
        let root_process = self.world.process_at_rank(rank_i32(root));
        let mut my_count = 0i32;
        if self.rank() != root {
            root_process.scatter_into(&mut my_count);
            let mut mine = vec![0u8; my_count as usize];
            root_process.scatter_varcount_into(&mut mine[..]);
            return mine;
        }
        let parts = parts.expect("scatter_bytes: the root must supply the parts");
        assert_eq!(parts.len(), self.size(), "scatter_bytes: one part per rank");
        let counts: Vec<i32> = parts
            .iter()
            .map(|p| self.count(p.len(), "a scattered part", "bytes"))
            .collect();
        root_process.scatter_into_root(&counts[..], &mut my_count);
        let displs = displacements(&counts, || self.abort(1, "scattered data exceeds 2 GiB"));
        let flat: Vec<u8> = parts.concat();
        let mut mine = vec![0u8; my_count as usize];
        let partition = Partition::new(&flat[..], &counts[..], &displs[..]);
        root_process.scatter_varcount_into_root(&partition, &mut mine[..]);
        mine
    }

    fn all_reduce_min_u64(&self, value: u64) -> u64 {
        let mut out = 0u64;
        self.world
            .all_reduce_into(&value, &mut out, SystemOperation::min());
        out
    }

    fn reduce_sum_f64_into(&self, root: usize, buf: &mut [f64]) {
        let root_process = self.world.process_at_rank(rank_i32(root));
        if self.rank() == root {
            let send = buf.to_vec();
            root_process.reduce_into_root(&send[..], buf, SystemOperation::sum());
        } else {
            root_process.reduce_into(&buf[..], SystemOperation::sum());
        }
    }
}

fn displacements(counts: &[i32], overflow: impl Fn() -> i32) -> Vec<i32> {
    let mut displs = Vec::with_capacity(counts.len());
    let mut at = 0i32;
    for &c in counts {
        displs.push(at);
        at = at.checked_add(c).unwrap_or_else(&overflow);
    }
    displs
}

fn split(buf: &[u8], counts: &[i32]) -> Vec<Vec<u8>> {
    let mut parts = Vec::with_capacity(counts.len());
    let mut at = 0usize;
    for &c in counts {
        parts.push(buf[at..at + c as usize].to_vec());
        at += c as usize;
    }
    parts
}
