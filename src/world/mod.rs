//! The communicator abstraction and its two backends.
//!
//! Every distributed algorithm in spmdkit (planning, scatter/gather, reductions) is written once
//! against [`Comm`], a small byte-oriented interface: point-to-point messages plus the handful of
//! collectives the workloads need. Two backends implement it:
//!
//! * [`mpi_backend::MpiComm`]: real MPI through rsmpi, initialised with `Threading::Funneled`.
//!   MPI calls are only ever made from the thread that initialised MPI.
//! * [`inproc::ThreadComm`]: P simulated ranks as threads of one process, exchanging messages
//!   through mailboxes. Unit tests use it at P = 1..64; a process started without any launcher
//!   runs as a single in-process rank and never starts MPI.
//!
//! Invariants every backend keeps:
//! * messages between one (source, tag) pair are received in the order they were sent
//!   (MPI's non-overtaking rule);
//! * a collective must be called by every rank of the communicator, in the same order;
//! * nothing here ever blocks forever on a rank that has died: MPI aborts the job, and the
//!   in-process backend fails every waiting rank once one rank has panicked.

pub mod inproc;
pub mod launch;
pub mod mpi_backend;

use crate::wire::{self, Wire, WireError};

/// A message tag. Tags at or above [`RESERVED_TAGS`] belong to the backends' own collectives.
pub type Tag = i32;

/// First tag reserved for collectives implemented on top of point-to-point messages.
pub const RESERVED_TAGS: Tag = 30_000;

/// The operations spmdkit needs from a group of ranks.
///
/// All payloads are bytes; typed messages go through [`crate::wire`] and the helpers in
/// [`crate::scatter`]. Provided methods implement the collectives with point-to-point
/// messages (linear algorithms, adequate for simulation); the MPI backend overrides them with the
/// MPI library's own collectives.
pub trait Comm {
    /// This rank's index, `0..size()`.
    fn rank(&self) -> usize;

    /// The number of ranks.
    fn size(&self) -> usize;

    /// Sends `data` to `dest` with `tag`. May return before the message is received.
    fn send(&self, dest: usize, tag: Tag, data: &[u8]);

    /// Receives the next message from `src` with `tag`, blocking until it arrives.
    fn recv(&self, src: usize, tag: Tag) -> Vec<u8>;

    /// Receives the next message with `tag` from any rank; returns the sender and the payload.
    fn recv_any(&self, tag: Tag) -> (usize, Vec<u8>);

    /// Receives the next message with `tag` from any rank if one has arrived; never blocks.
    fn try_recv_any(&self, tag: Tag) -> Option<(usize, Vec<u8>)>;

    /// Sends f64 values to `dest` with `tag` (no byte conversion on the MPI backend).
    fn send_f64(&self, dest: usize, tag: Tag, data: &[f64]) {
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.send(dest, tag, &bytes);
    }

    /// Receives f64 values sent with [`Comm::send_f64`] from `src` with `tag`.
    fn recv_f64(&self, src: usize, tag: Tag) -> Vec<f64> {
        self.recv(src, tag)
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunk")))
            .collect()
    }

    /// Receives f64 values sent with [`Comm::send_f64`] from `src` with `tag` into `buf`, whose
    /// length must be the message's. Lets a caller reuse a buffer whose pages are already mapped:
    /// a fresh 8 MB buffer costs about 2 000 page faults when the message lands in it.
    ///
    /// # Panics
    /// If the message does not have `buf.len()` values (the MPI backend aborts instead).
    fn recv_f64_into(&self, src: usize, tag: Tag, buf: &mut [f64]) {
        let data = self.recv_f64(src, tag);
        assert_eq!(data.len(), buf.len(), "message length");
        buf.copy_from_slice(&data);
    }

    /// Ends the whole job at once with `code`, after printing `message` with this rank's number.
    ///
    /// Used when a rank-local failure cannot be agreed on because the other ranks may already
    /// be waiting in a collective.
    fn abort(&self, code: i32, message: &str) -> !;

    /// A short name of the backend, for reports: `"mpi"` or `"in-process"`.
    fn backend(&self) -> &'static str;

    /// Blocks until every rank has called it.
    ///
    /// # Collective
    /// Every rank must call it.
    fn barrier(&self) {
        let _ = self.all_reduce_min_u64(0);
    }

    /// Broadcasts `data` from `root`; every rank returns the root's bytes.
    /// Non-root ranks pass an empty vector; its content is ignored.
    ///
    /// # Collective
    /// Every rank must call it with the same `root`.
    fn broadcast_bytes(&self, root: usize, data: Vec<u8>) -> Vec<u8> {
        const TAG: Tag = RESERVED_TAGS;
        if self.rank() == root {
            for dest in (0..self.size()).filter(|&d| d != root) {
                self.send(dest, TAG, &data);
            }
            data
        } else {
            self.recv(root, TAG)
        }
    }

    /// Gathers one byte buffer from every rank; `root` returns them ordered by rank,
    /// the other ranks return `None`.
    ///
    /// # Collective
    /// Every rank must call it with the same `root`.
    fn gather_bytes(&self, root: usize, data: &[u8]) -> Option<Vec<Vec<u8>>> {
        const TAG: Tag = RESERVED_TAGS + 1;
        if self.rank() == root {
            let parts = (0..self.size())
                .map(|src| {
                    if src == root {
                        data.to_vec()
                    } else {
                        self.recv(src, TAG)
                    }
                })
                .collect();
            Some(parts)
        } else {
            self.send(root, TAG, data);
            None
        }
    }

    /// Scatters one byte buffer to every rank from `root`, which passes `Some(parts)` with
    /// exactly `size()` parts; the other ranks pass `None`. Every rank returns its part.
    ///
    /// # Collective
    /// Every rank must call it with the same `root`.
    ///
    /// # Panics
    /// On `root`, if `parts` is `None` or does not hold `size()` parts.
    fn scatter_bytes(&self, root: usize, parts: Option<Vec<Vec<u8>>>) -> Vec<u8> {
        const TAG: Tag = RESERVED_TAGS + 2;
        if self.rank() == root {
            let parts = parts.expect("scatter_bytes: the root must supply the parts");
            assert_eq!(parts.len(), self.size(), "scatter_bytes: one part per rank");
            let mut mine = Vec::new();
            for (dest, part) in parts.into_iter().enumerate() {
                if dest == root {
                    mine = part;
                } else {
                    self.send(dest, TAG, &part);
                }
            }
            mine
        } else {
            self.recv(root, TAG)
        }
    }

    /// Returns the minimum of `value` over all ranks, on every rank.
    ///
    /// # Collective
    /// Every rank must call it.
    fn all_reduce_min_u64(&self, value: u64) -> u64 {
        let gathered = self.gather_bytes(0, &value.to_le_bytes());
        let min = gathered.map(|parts| {
            parts
                .iter()
                .map(|p| u64::from_le_bytes(p[..8].try_into().expect("8-byte value")))
                .min()
                .unwrap_or(value)
        });
        let bytes =
            self.broadcast_bytes(0, min.map(|m| m.to_le_bytes().to_vec()).unwrap_or_default());
        u64::from_le_bytes(bytes[..8].try_into().expect("8-byte value"))
    }

    /// Sums `buf` element-wise over all ranks into `root`'s `buf`, using the MPI library's own
    /// reduction where there is one. Other ranks' buffers are left unspecified.
    ///
    /// # Collective
    /// Every rank must call it with the same `root` and the same buffer length.
    fn reduce_sum_f64_into(&self, root: usize, buf: &mut [f64]) {
        const TAG: Tag = RESERVED_TAGS + 4;
        if self.rank() == root {
            for src in (0..self.size()).filter(|&s| s != root) {
                let bytes = self.recv(src, TAG);
                for (acc, chunk) in buf.iter_mut().zip(bytes.chunks_exact(8)) {
                    *acc += f64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
                }
            }
        } else {
            let bytes: Vec<u8> = buf.iter().flat_map(|x| x.to_le_bytes()).collect();
            self.send(root, TAG, &bytes);
        }
    }
}

/// A failure that every rank has agreed on, carried with the rank that saw it first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreed {
    /// The lowest rank that reported a failure.
    pub rank: usize,
    /// That rank's message.
    pub message: String,
    /// The exit code that rank asked for.
    pub exit_code: u8,
}

impl std::fmt::Display for Agreed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.rank == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "rank {}: {}", self.rank, self.message)
        }
    }
}

impl Wire for Agreed {
    fn put(&self, out: &mut Vec<u8>) {
        self.rank.put(out);
        self.message.put(out);
        u32::from(self.exit_code).put(out);
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        Ok(Agreed {
            rank: usize::take(input)?,
            message: String::take(input)?,
            exit_code: u8::try_from(u32::take(input)?)
                .map_err(|_| WireError::Invalid("exit code"))?,
        })
    }
}

/// Makes every rank take the same exit when some ranks failed locally.
///
/// Each rank passes its local outcome: `Ok(value)` or `Err((exit_code, message))`. If every rank
/// succeeded, each gets its own value back. Otherwise every rank gets the failure of the lowest
/// failing rank, so all of them can stop together (and only rank 0 need print it) instead of
/// some of them waiting forever in the next collective.
///
/// # Collective
/// Every rank must call it.
///
/// # Examples
/// ```
/// use spmdkit::world::{agree, inproc, Comm};
/// let outcomes = inproc::run(3, |comm| {
///     let local = if comm.rank() == 2 { Err((2, "bad file".to_string())) } else { Ok(()) };
///     agree(comm, local).map_err(|a| (a.rank, a.message))
/// });
/// assert!(outcomes.iter().all(|o| o == &Err((2, "bad file".to_string()))));
/// ```
pub fn agree<C: Comm + ?Sized, T>(comm: &C, local: Result<T, (u8, String)>) -> Result<T, Agreed> {
    let size = comm.size() as u64;
    let mine = if local.is_err() {
        comm.rank() as u64
    } else {
        size
    };
    let first = comm.all_reduce_min_u64(mine);
    if first == size {
        return Ok(local.unwrap_or_else(|_| unreachable!("no rank failed")));
    }
    let first = first as usize;
    let payload = match (&local, comm.rank() == first) {
        (Err((code, message)), true) => wire::encode(&Agreed {
            rank: first,
            message: message.clone(),
            exit_code: *code,
        }),
        _ => Vec::new(),
    };
    let bytes = comm.broadcast_bytes(first, payload);
    match wire::decode::<Agreed>(&bytes) {
        Ok(agreed) => Err(agreed),
        Err(e) => comm.abort(
            1,
            &format!("could not decode the failure of rank {first}: {e}"),
        ),
    }
}

/// Checks that every rank runs the same spmdkit version with the same arguments (the program
/// path aside, which may differ between nodes). A rank started differently (an MPMD launch, a
/// stale binary on one node) would otherwise take other branches and wait forever in another
/// collective.
///
/// # Collective
/// Every rank must call it.
///
/// # Errors
/// The first rank whose command differs from rank 0's, with both commands; every rank gets it.
pub fn same_command<C: Comm + ?Sized>(comm: &C, args: &[String]) -> Result<(), Agreed> {
    let mut mine = vec![env!("CARGO_PKG_VERSION").to_string()];
    mine.extend(args.iter().cloned());
    let root = crate::scatter::broadcast(comm, 0, (comm.rank() == 0).then_some(&mine));
    let local = if root == mine {
        Ok(())
    } else {
        Err((
            2,
            format!(
                "this rank was started differently from rank 0: spmdkit {} with {:?}, rank 0 runs \
                 spmdkit {} with {:?}; every rank must run the same build with the same arguments",
                mine[0],
                &mine[1..],
                root.first().map(String::as_str).unwrap_or("?"),
                root.get(1..).unwrap_or(&[])
            ),
        ))
    };
    agree(comm, local)
}

/// Tag of the clock-offset ping-pong.
const TAG_CLOCK: Tag = RESERVED_TAGS + 10;

/// Estimates how far each rank's clock is ahead of rank 0's, in seconds, where every rank's clock
/// reads `epoch.elapsed()` on its own `epoch` (taken when it left a common barrier, so they differ
/// by the barrier's exit skew, which can reach milliseconds on a loaded machine).
///
/// Rank 0 pings each rank three times; a rank answers with its clock, and rank 0 takes the answer
/// of the fastest round trip, placed at the round trip's midpoint (Cristian's method): the error is
/// at most half that round trip, microseconds on one node. Subtracting a rank's offset from its
/// times puts them on rank 0's clock. Rank 0 returns one offset per rank (0 for itself); the
/// others return `None`.
///
/// # Collective
/// Every rank must call it.
pub fn clock_offsets<C: Comm + ?Sized>(comm: &C, epoch: std::time::Instant) -> Option<Vec<f64>> {
    const PINGS: usize = 3;
    if comm.rank() != 0 {
        for _ in 0..PINGS {
            let _ = comm.recv(0, TAG_CLOCK);
            comm.send(0, TAG_CLOCK, &epoch.elapsed().as_secs_f64().to_le_bytes());
        }
        return None;
    }
    let mut offsets = vec![0.0; comm.size()];
    for (rank, offset) in offsets.iter_mut().enumerate().skip(1) {
        let mut best = (f64::INFINITY, 0.0);
        for _ in 0..PINGS {
            let sent = epoch.elapsed().as_secs_f64();
            comm.send(rank, TAG_CLOCK, &[]);
            let reply = comm.recv(rank, TAG_CLOCK);
            let back = epoch.elapsed().as_secs_f64();
            let theirs = reply
                .get(..8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .unwrap_or_else(|| comm.abort(1, &format!("bad clock reply from rank {rank}")));
            if back - sent < best.0 {
                best = (back - sent, theirs - (sent + back) / 2.0);
            }
        }
        *offset = best.1;
    }
    Some(offsets)
}

/// Why this process could not join its job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorldError {
    /// MPI could not be started.
    #[error("cannot start MPI: {0}")]
    Init(#[from] mpi_backend::MpiInitError),
    /// The launcher started several processes but each one sees a world of its own.
    #[error(
        "launch mistake: {launcher} started {expected} processes, but MPI gives this process a \
         world of {actual}; the processes would run as {expected} unrelated copies.\n  This spmdkit \
         is built with {library}.\n  Launch it with that library's own mpirun/mpiexec, or under \
         Slurm with the PMI plugin that library needs (Open MPI: `srun --mpi=pmix`, MPICH: \
         `srun --mpi=pmi2`)."
    )]
    LaunchMismatch {
        /// The launcher recognised from the environment.
        launcher: &'static str,
        /// How many processes it started.
        expected: usize,
        /// The size of `MPI_COMM_WORLD`.
        actual: usize,
        /// The MPI library the binary is linked with.
        library: String,
        /// This process's rank according to the launcher (only rank 0 reports).
        launcher_rank: Option<usize>,
    },
}

impl WorldError {
    /// Whether this process should print the error (so a job prints it once, not P times).
    pub fn should_report(&self) -> bool {
        match self {
            WorldError::LaunchMismatch { launcher_rank, .. } => launcher_rank.unwrap_or(0) == 0,
            _ => true,
        }
    }
}

/// The communicator this process runs in: MPI under a launcher, one in-process rank otherwise.
pub enum World {
    /// Started by a launcher: `MPI_COMM_WORLD`.
    Mpi(mpi_backend::MpiComm),
    /// Started by hand: a single rank, MPI never initialised.
    Solo(inproc::ThreadComm),
}

impl World {
    /// Joins the job: starts MPI when a launcher started this process, and checks that MPI's
    /// world has as many ranks as the launcher started.
    ///
    /// # Collective
    /// Under a launcher every process must call it (it calls `MPI_Init_thread`).
    ///
    /// # Errors
    /// [`WorldError::LaunchMismatch`] for the wrong launcher; [`WorldError::Init`] when MPI
    /// cannot start with Funneled threading.
    pub fn init() -> Result<World, WorldError> {
        let Some(launch) = launch::detect() else {
            return Ok(World::Solo(inproc::ThreadComm::solo()));
        };
        launch::prefer_fast_local_start(|k| std::env::var(k).ok());
        let comm = mpi_backend::MpiComm::init()?;
        if let Some(expected) = launch.size {
            if expected != comm.size() {
                return Err(WorldError::LaunchMismatch {
                    launcher: launch.launcher,
                    expected,
                    actual: comm.size(),
                    library: mpi_backend::library_version(),
                    launcher_rank: launch.rank,
                });
            }
        }
        Ok(World::Mpi(comm))
    }

    /// The communicator of this process.
    pub fn comm(&self) -> &dyn Comm {
        match self {
            World::Mpi(c) => c,
            World::Solo(c) => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_offsets_find_a_rank_that_started_late() {
        let base = std::time::Instant::now();
        let out = inproc::run(3, |comm| {
            // Rank 2 starts its clock 50 ms after the others: its clock is 50 ms behind.
            let epoch = if comm.rank() == 2 {
                base + std::time::Duration::from_millis(50)
            } else {
                base
            };
            comm.barrier();
            std::thread::sleep(std::time::Duration::from_millis(60));
            clock_offsets(comm, epoch)
        });
        let offsets = out[0].as_ref().unwrap();
        assert_eq!(offsets[0], 0.0);
        assert!(offsets[1].abs() < 0.005, "{offsets:?}");
        assert!((offsets[2] + 0.050).abs() < 0.005, "{offsets:?}");
        assert!(out[1].is_none() && out[2].is_none());
    }

    #[test]
    fn agree_passes_values_through_when_nobody_fails() {
        for size in 1..=9 {
            let out = inproc::run(size, |comm| agree(comm, Ok::<_, (u8, String)>(comm.rank())));
            assert_eq!(out, (0..size).map(Ok).collect::<Vec<_>>());
        }
    }

    #[test]
    fn agree_reports_the_lowest_failing_rank_everywhere() {
        for size in 2..=17 {
            let out = inproc::run(size, |comm| {
                let r = comm.rank();
                let local = if r % 3 == 1 {
                    Err((2 + (r % 2) as u8, format!("problem on {r}")))
                } else {
                    Ok(())
                };
                agree(comm, local)
            });
            for o in out {
                let a = o.unwrap_err();
                assert_eq!(a.rank, 1);
                assert_eq!(a.message, "problem on 1");
                assert_eq!(a.exit_code, 3);
                assert_eq!(a.to_string(), "rank 1: problem on 1");
            }
        }
    }
}
