//! The bottom layer: the communicator abstraction, its two backends, and joining the job.
//!
//! Every distributed algorithm in spmdkit (the typed collectives, the task engine, the
//! reductions) is written once against [`Comm`], a small byte-oriented interface: point-to-point
//! messages plus the handful of collectives the layers above need. Two backends implement it:
//!
//! * `MpiComm`: real MPI through rsmpi, initialised with `Threading::Funneled`. MPI calls are
//!   only ever made from the thread that initialised MPI.
//! * [`inproc::ThreadComm`]: P simulated ranks as threads of one process, exchanging messages
//!   through mailboxes. Unit tests use it at P = 1..64; a process started without any launcher
//!   runs as a single in-process rank and never starts MPI.
//!
//! [`World`] joins the job: MPI under a launcher, one in-process rank otherwise.
//!
//! Invariants every backend keeps:
//! * messages between one (source, tag) pair are received in the order they were sent
//!   (MPI's non-overtaking rule);
//! * a collective must be called by every rank of the communicator, in the same order;
//! * nothing here ever blocks forever on a rank that has died: MPI aborts the job, and the
//!   in-process backend fails every waiting rank once one rank has panicked.

pub mod inproc;
pub(crate) mod launch;
pub use launch::set_by_launcher;
pub(crate) mod mpi_backend;
mod shm;
mod threads;
mod watch;

#[cfg(test)]
pub(crate) use threads::placed_threads;
pub(crate) use threads::set_placed_threads;
pub use threads::{
    max_threads, requested_threads, threads_here, Threads, ThreadsError, MAX_THREADS,
};

/// The variable that sets the hang timeout of every spmdkit program, in seconds (`0`: off); see
/// [`World::run`](crate::comm::World::run).
pub const HANG_TIMEOUT_VAR: &str = "SPMDKIT_HANG_TIMEOUT";

/// The hang timeout without [`HANG_TIMEOUT_VAR`], in seconds.
pub const DEFAULT_HANG_TIMEOUT_S: f64 = 300.0;

/// A message tag. Programs may use tags below 30 000 for their own point-to-point messages; the
/// tags from there up belong to spmdkit's collectives, engine and reductions.
pub type Tag = i32;

/// First tag reserved for spmdkit's own messages.
pub(crate) const RESERVED_TAGS: Tag = 30_000;

/// The tags of spmdkit's own messages, in one place so that no two uses collide.
pub(crate) mod tags {
    use super::{Tag, RESERVED_TAGS};
    pub(crate) const BROADCAST: Tag = RESERVED_TAGS;
    pub(crate) const GATHER: Tag = RESERVED_TAGS + 1;
    pub(crate) const SCATTER: Tag = RESERVED_TAGS + 2;
    pub(crate) const REDUCE_SUM: Tag = RESERVED_TAGS + 4;
    pub(crate) const BROADCAST_F64: Tag = RESERVED_TAGS + 5;
    pub(crate) const CLOCK: Tag = RESERVED_TAGS + 10;
    pub(crate) const TREE_HEADER: Tag = RESERVED_TAGS + 20;
    pub(crate) const TREE_NODE: Tag = RESERVED_TAGS + 21;
    pub(crate) const LINEAR: Tag = RESERVED_TAGS + 22;
    pub(crate) const FARM_REQUEST: Tag = RESERVED_TAGS + 30;
    pub(crate) const FARM_CHUNK: Tag = RESERVED_TAGS + 31;
    pub(crate) const FARM_FINISHED: Tag = RESERVED_TAGS + 32;
    pub(crate) const FARM_RECORDS: Tag = RESERVED_TAGS + 33;
    pub(crate) const FARM_CANCEL: Tag = RESERVED_TAGS + 34;
    pub(crate) const FARM_END: Tag = RESERVED_TAGS + 35;
    pub(crate) const HEARTBEAT: Tag = RESERVED_TAGS + 40;
}

/// The operations spmdkit needs from a group of ranks.
///
/// All payloads are bytes or f64 values; typed messages go through the serde collectives of
/// [`crate::collective`]. Provided methods implement the collectives with point-to-point
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

    /// Readies the streams of [`Comm::send_f64_streamed`] between ranks that share a node: the MPI
    /// backend maps a small shared-memory ring per rank, once per job (later calls cost nothing);
    /// other backends have nothing to do.
    ///
    /// # Collective
    /// Every rank must call it.
    fn prepare_streams(&self) {}

    /// Sends `data` to `dest` for [`Comm::recv_f64_streamed_into`] or
    /// [`Comm::recv_f64_streamed_combine`] (only those receive it). Between ranks of one node,
    /// after [`Comm::prepare_streams`], large arrays go in parts through shared memory: the
    /// receiver combines each part as it comes while this rank copies the next, so no whole copy
    /// lands in the receiver's memory first. Otherwise as [`Comm::send_f64`]. Returns once the
    /// receiver holds every part (through shared memory) or the message is on its way.
    fn send_f64_streamed(&self, dest: usize, tag: Tag, data: &[f64]) {
        self.send_f64(dest, tag, data);
    }

    /// Receives values sent with [`Comm::send_f64_streamed`] into `buf`, whose length must be
    /// the sender's.
    fn recv_f64_streamed_into(&self, src: usize, tag: Tag, buf: &mut [f64]) {
        self.recv_f64_into(src, tag, buf);
    }

    /// Receives values sent with [`Comm::send_f64_streamed`] and combines them into `acc` (the
    /// sender's length) with `combine(part of acc, the same part of the message)`, called on
    /// consecutive parts in order, once or many times. `scratch` (as long as `acc`) may be used
    /// as a landing buffer; its contents afterwards are unspecified.
    fn recv_f64_streamed_combine(
        &self,
        src: usize,
        tag: Tag,
        acc: &mut [f64],
        scratch: &mut [f64],
        combine: &mut dyn FnMut(&mut [f64], &[f64]),
    ) {
        self.recv_f64_into(src, tag, scratch);
        combine(acc, scratch);
    }

    /// How many arrays this rank has sent or received through shared-memory streams so far
    /// (0 on backends without them).
    fn streamed(&self) -> usize {
        0
    }

    /// Ends the whole job at once with `code`, after printing `message` with this rank's number.
    ///
    /// Used when a rank-local failure cannot be agreed on because the other ranks may already
    /// be waiting in a collective.
    fn abort(&self, code: i32, message: &str) -> !;

    /// The backend this communicator runs on.
    fn backend(&self) -> Backend;

    /// Turns hang detection on with `timeout` (`None` or zero: off). From then on the main thread
    /// of every rank sends heartbeats while it waits, and a rank silent for longer than
    /// `timeout` (stopped, deadlocked outside MPI, on a stalled node) ends the job with a message
    /// naming it, its host and its pid. MPI alone would wait for it forever.
    ///
    /// A main thread that works for longer than `timeout` without waiting in spmdkit (a long
    /// computation of its own) must call [`Comm::pulse`] now and then, or run the work through
    /// [`keep_alive`]. The in-process backend ignores it (its ranks are threads of one process).
    ///
    /// # Collective
    /// Every rank must call it, with the same `timeout`.
    fn watch_for_hangs(&self, timeout: Option<std::time::Duration>) {
        let _ = timeout;
    }

    /// The hang timeout being enforced, if any.
    fn hang_timeout(&self) -> Option<std::time::Duration> {
        None
    }

    /// Sends this rank's heartbeat when one is due, takes in the others', and ends the job if a
    /// watched rank has been silent too long. Costs a clock read when nothing is due. Every wait
    /// of the MPI backend calls it; call it from a main thread that waits for something else.
    fn pulse(&self) {}

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
        const TAG: Tag = tags::BROADCAST;
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
        const TAG: Tag = tags::GATHER;
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
        const TAG: Tag = tags::SCATTER;
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

    /// [`Comm::all_reduce_min_u64`] of two values at once (one `MPI_Allreduce` of two).
    ///
    /// # Collective
    /// Every rank must call it.
    fn all_reduce_min_pair(&self, values: [u64; 2]) -> [u64; 2] {
        [
            self.all_reduce_min_u64(values[0]),
            self.all_reduce_min_u64(values[1]),
        ]
    }

    /// Copies `root`'s `buf` into every other rank's `buf`, which must have the same length.
    ///
    /// # Collective
    /// Every rank must call it with the same `root` and the same buffer length.
    fn broadcast_f64_into(&self, root: usize, buf: &mut [f64]) {
        if self.rank() == root {
            for dest in (0..self.size()).filter(|&d| d != root) {
                self.send_f64(dest, tags::BROADCAST_F64, buf);
            }
        } else {
            self.recv_f64_into(root, tags::BROADCAST_F64, buf);
        }
    }

    /// Sums `buf` element-wise over all ranks into `root`'s `buf`, using the MPI library's own
    /// reduction where there is one. Other ranks' buffers are left unspecified.
    ///
    /// # Collective
    /// Every rank must call it with the same `root` and the same buffer length.
    fn reduce_sum_f64_into(&self, root: usize, buf: &mut [f64]) {
        const TAG: Tag = tags::REDUCE_SUM;
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

/// Whether a launcher (`mpirun`, `mpiexec`, `srun`) started this process, so that
/// [`World::init`](crate::comm::World::init) will start MPI. Reads the environment only.
pub(crate) fn launched() -> bool {
    launch::detect().is_some()
}

/// Whether a launcher started this process and every rank of its job runs on this node (Open
/// MPI's local size equals its world size, or a Slurm step of one node). Reads the environment
/// only.
pub fn launched_on_one_node() -> bool {
    launched() && launch::single_node(|k| std::env::var(k).ok())
}

/// Runs `work` while the calling thread keeps this rank's heartbeat going, and returns its
/// result: for long work of a main thread (a computation on the pool, a large file written) while
/// hang detection is on. Without it, `work` simply runs on the calling thread. A panic in `work`
/// resumes on the calling thread.
///
/// # Examples
/// ```
/// let comm = spmdkit::comm::inproc::ThreadComm::solo();
/// let sum = spmdkit::comm::keep_alive(&comm, || (1..=10u64).sum::<u64>());
/// assert_eq!(sum, 55);
/// ```
pub fn keep_alive<C, R, F>(comm: &C, work: F) -> R
where
    C: Comm + ?Sized,
    R: Send,
    F: FnOnce() -> R + Send,
{
    if comm.hang_timeout().is_none() {
        return work();
    }
    // The worker hands its result over a channel, so the wait ends the moment it is done; the
    // waiting thread wakes every 10 ms to pulse.
    let (done, result) = std::sync::mpsc::sync_channel(1);
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let _ = done.send(work());
        });
        loop {
            match result.recv_timeout(std::time::Duration::from_millis(10)) {
                Ok(value) => return value,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => comm.pulse(),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let payload = worker
                        .join()
                        .expect_err("a worker that sent nothing has panicked");
                    std::panic::resume_unwind(payload)
                }
            }
        }
    })
}

/// Why this process could not join its job.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorldError {
    /// MPI could not be started.
    #[error("cannot start MPI: {0}")]
    Init(String),
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

impl From<WorldError> for crate::error::Error {
    fn from(e: WorldError) -> Self {
        let kind = match e {
            WorldError::LaunchMismatch { .. } => crate::error::Kind::BadInput,
            WorldError::Init(_) => crate::error::Kind::Failed,
        };
        crate::error::Error::new(kind, e.to_string())
    }
}

/// The communicator this process runs in: MPI under a launcher, one in-process rank otherwise.
///
/// Most programs use [`World::run`](crate::comm::World::run), which joins the job and does the rest
/// (same-command check, panics, exit codes); [`World::init`] is the step underneath. Dropping the
/// world finalises MPI.
pub struct World(Joined);

enum Joined {
    /// Started by a launcher: `MPI_COMM_WORLD`.
    Mpi(mpi_backend::MpiComm),
    /// Started by hand: a single rank, MPI never initialised.
    Solo(inproc::ThreadComm),
}

impl World {
    /// Joins the job: starts MPI when a launcher started this process, and checks that MPI's
    /// world has as many ranks as the launcher started. Without a launcher, the process is one
    /// in-process rank and MPI is never started.
    ///
    /// # Collective
    /// Under a launcher every process must call it (it calls `MPI_Init_thread`).
    ///
    /// # Errors
    /// [`WorldError::LaunchMismatch`] for the wrong launcher; [`WorldError::Init`] when MPI
    /// cannot start with Funneled threading.
    pub fn init() -> Result<World, WorldError> {
        let Some(launch) = launch::detect() else {
            return Ok(World(Joined::Solo(inproc::ThreadComm::solo())));
        };
        launch::apply_open_mpi_settings(|k| std::env::var(k).ok());
        let comm = mpi_backend::MpiComm::init().map_err(|e| WorldError::Init(e.to_string()))?;
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
        Ok(World(Joined::Mpi(comm)))
    }

    /// The communicator of this process.
    pub fn comm(&self) -> &dyn Comm {
        match &self.0 {
            Joined::Mpi(c) => c,
            Joined::Solo(c) => c,
        }
    }
}

/// What a communicator runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// MPI: the process was started by a launcher.
    Mpi,
    /// Ranks as threads of one process (one rank when started without a launcher).
    InProcess,
}

impl Backend {
    /// A short name for reports: `"mpi"` or `"in-process"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Mpi => "mpi",
            Backend::InProcess => "in-process",
        }
    }

    /// The MPI library this build is linked with (`MPI_Get_library_version`, first line) under
    /// MPI; `none (...)` otherwise.
    pub fn library(self) -> String {
        match self {
            Backend::Mpi => mpi_backend::library_version(),
            Backend::InProcess => "none (single rank started without a launcher)".into(),
        }
    }

    /// The MPI standard version the library implements, e.g. `(3, 1)`, under MPI; `None`
    /// otherwise.
    pub fn mpi_standard(self) -> Option<(i32, i32)> {
        match self {
            Backend::Mpi => Some(mpi_backend::standard_version()),
            Backend::InProcess => None,
        }
    }
}

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

/// The cores this process may run on (its CPU affinity, cgroup cpuset included), at least 1.
pub fn cores_here() -> usize {
    launch::cores_here()
}
