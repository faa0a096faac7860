//! The MPI backend: rsmpi over the MPI library the binary was linked with.
//!
//! MPI is initialised with `Threading::Funneled`: only the thread that called [`MpiComm::init`]
//! (the process's main thread) ever calls MPI; rayon workers never do. Variable-size collectives
//! send their counts first, then the payload (`MPI_Scatterv`/`MPI_Gatherv` on bytes). Payloads are
//! limited to `i32::MAX` bytes per rank by MPI's count type; larger ones abort with a message
//! instead of being silently truncated.
//!
//! No call blocks inside MPI: every operation is started as its immediate (nonblocking) form and
//! completed by polling on the main thread, which pauses between polls (see `watch::Pause`) and
//! keeps the job's heartbeat going ([`Comm::pulse`]). A rank waiting for another therefore uses no
//! CPU to speak of, and a rank that stops answering is named and the job ended instead of waited
//! for forever.

use super::shm::{self, Ring, Rings};
use super::watch::{Pause, Watch};
use super::{tags, Comm, Tag};
use mpi::collective::SystemOperation;
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Message, Source, Status};
use mpi::request::{Request, Scope, StaticScope};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Equivalence, Root};
use mpi::Threading;
use std::cell::{Cell, OnceCell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A rank of `MPI_COMM_WORLD`.
pub(crate) struct MpiComm {
    /// The shared-memory rings of streams within a node, once made (`None` inside: none). First,
    /// so that the window is freed before anything else goes.
    rings: OnceCell<Option<Box<Rings>>>,
    /// Arrays sent or received through the rings.
    streamed: Cell<usize>,
    world: SimpleCommunicator,
    /// Hang detection, once the job turned it on.
    watch: RefCell<Option<Watch>>,
    // Dropping the universe calls MPI_Finalize; keep it last so `world` goes first.
    _universe: Universe,
}

/// The payload of a heartbeat: none. A static, so the send can be left to complete on its own.
static BEAT: [u8; 0] = [];
/// The last message on the heartbeat tag: one byte. Messages between a pair on one tag arrive in
/// order, so once it is received no beat of that peer is left in flight.
static LAST_BEAT: [u8; 1] = [1];

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
            rings: OnceCell::new(),
            streamed: Cell::new(0),
            world: universe.world(),
            watch: RefCell::new(None),
            _universe: universe,
        })
    }

    /// Completes `request` by polling, pulsing and pausing between polls.
    fn complete<'a, D: ?Sized, S: Scope<'a>>(&self, mut request: Request<'a, D, S>) -> Status {
        let pause = Pause::new();
        loop {
            match request.test() {
                Ok(status) => return status,
                Err(pending) => request = pending,
            }
            self.pulse();
            pause.wait();
        }
    }

    /// Waits for the next message from `src` (any rank when `None`) with `tag`, matched.
    fn matched(&self, src: Option<usize>, tag: Tag) -> (Message, Status) {
        let pause = Pause::new();
        loop {
            if let Some(found) = self.probe(src, tag) {
                return found;
            }
            self.pulse();
            pause.wait();
        }
    }

    fn probe(&self, src: Option<usize>, tag: Tag) -> Option<(Message, Status)> {
        match src {
            Some(src) => self
                .world
                .process_at_rank(rank_i32(src))
                .immediate_matched_probe_with_tag(tag),
            None => self
                .world
                .any_process()
                .immediate_matched_probe_with_tag(tag),
        }
    }

    /// Receives a matched message of `T` values into a vector of its size.
    fn take<T: Equivalence + Default + Clone>(&self, message: Message, status: Status) -> Vec<T> {
        let count = status.count(T::equivalent_datatype()) as usize;
        // A real allocation even for an empty message (see `gather_bytes`).
        let mut data = vec![T::default(); count.max(1)];
        mpi::request::scope(|scope| {
            let request = message.immediate_matched_receive_into(scope, &mut data[..count]);
            self.complete(request);
        });
        data.truncate(count);
        data
    }

    fn send_values<T: Equivalence>(&self, dest: usize, tag: Tag, data: &[T]) {
        mpi::request::scope(|scope| {
            let request = self
                .world
                .process_at_rank(rank_i32(dest))
                .immediate_send_with_tag(scope, data, tag);
            self.complete(request);
        });
    }

    /// Sends a beat to every watched peer and takes in the beats that arrived; ends the job when
    /// a peer has been silent too long.
    fn beat(&self, watch: &mut Watch) {
        for peer in watch.peers().collect::<Vec<_>>() {
            let request = self
                .world
                .process_at_rank(rank_i32(peer))
                .immediate_send_with_tag(StaticScope, &BEAT[..], tags::HEARTBEAT);
            // The beat completes on its own: a stopped peer must not hold this rank up.
            // SAFETY: the request is handed back to MPI, which frees it once the send completes;
            // its buffer is a static.
            unsafe {
                let (mut raw, _, _) = request.into_raw();
                mpi::ffi::MPI_Request_free(&mut raw);
            }
        }
        let now = Instant::now();
        while let Some((message, status)) = self.probe(None, tags::HEARTBEAT) {
            let payload: Vec<u8> = self.take(message, status);
            let peer = status.source_rank() as usize;
            watch.heard_from(peer, now);
            if !payload.is_empty() {
                watch.last_beat_from(peer);
            }
        }
        if let Some((rank, quiet)) = watch.silent(now) {
            let message = watch.message(rank, quiet);
            self.abort(1, &message);
        }
    }

    /// The ring of a stream of `len` values from `sender` to `receiver` (one of them this rank),
    /// when the other shares this node and the array fills at least a slot (a smaller one is as
    /// fast as one message).
    fn ring(&self, sender: usize, receiver: usize, len: usize) -> Option<Ring<'_>> {
        if len < shm::SLOT {
            return None;
        }
        self.rings.get()?.as_ref()?.between(sender, receiver)
    }

    /// Waits until `counter` has counted `parts` parts, pausing and pulsing.
    fn wait_for_parts(&self, counter: &AtomicU64, parts: u64) {
        let pause = Pause::new();
        while !Ring::reached(counter, parts) {
            self.pulse();
            pause.wait();
        }
    }

    /// Takes the parts of a stream of `len` values from `src`, in order: `take(offset, part)`
    /// reads each part from its slot of `src`'s ring, which goes back to `src` right after.
    fn receive_parts(
        &self,
        ring: &Ring<'_>,
        src: usize,
        tag: Tag,
        len: usize,
        mut take: impl FnMut(usize, &[f64]),
    ) {
        let said: Vec<u64> = self
            .recv_f64(src, tag)
            .iter()
            .map(|x| x.to_bits())
            .collect();
        let [base, sent] = said[..] else {
            self.abort(
                1,
                &format!("rank {src} did not stream the {len} values expected"),
            )
        };
        if sent != len as u64 {
            self.abort(
                1,
                &format!("rank {src} streamed {sent} values, expected {len}"),
            );
        }
        for (i, at) in (0..len).step_by(shm::SLOT).enumerate() {
            let n = base + i as u64;
            self.wait_for_parts(ring.filled(), n + 1);
            let part_len = shm::SLOT.min(len - at);
            // SAFETY: `filled` counts part n, so its slot holds it, and src leaves the slot
            // alone until `freed` counts it below; the part is within the slot.
            let part = unsafe { std::slice::from_raw_parts(ring.slot(n), part_len) };
            take(at, part);
            Ring::count(ring.freed(), n);
        }
        self.streamed.set(self.streamed.get() + 1);
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
        self.send_values(dest, tag, data);
    }

    fn recv(&self, src: usize, tag: Tag) -> Vec<u8> {
        let (message, status) = self.matched(Some(src), tag);
        self.take(message, status)
    }

    fn send_f64(&self, dest: usize, tag: Tag, data: &[f64]) {
        self.count(data.len(), "a message", "values");
        self.send_values(dest, tag, data);
    }

    fn recv_f64(&self, src: usize, tag: Tag) -> Vec<f64> {
        let (message, status) = self.matched(Some(src), tag);
        self.take(message, status)
    }

    fn recv_any(&self, tag: Tag) -> (usize, Vec<u8>) {
        let (message, status) = self.matched(None, tag);
        (status.source_rank() as usize, self.take(message, status))
    }

    fn recv_f64_into(&self, src: usize, tag: Tag, buf: &mut [f64]) {
        let (message, status) = self.matched(Some(src), tag);
        let got = status.count(f64::equivalent_datatype());
        if got as usize != buf.len() {
            self.abort(
                1,
                &format!("rank {src} sent {got} values, expected {}", buf.len()),
            );
        }
        mpi::request::scope(|scope| {
            let request = message.immediate_matched_receive_into(scope, buf);
            self.complete(request);
        });
    }

    fn prepare_streams(&self) {
        if self.rings.get().is_some() {
            return;
        }
        // On only if every rank wants it. This waits for every rank (with heartbeats), so the
        // collective MPI calls that make the window do not wait long.
        let wanted = self.all_reduce_min_u64(u64::from(!shm::disabled_by_env())) == 1;
        let rings = if wanted {
            Rings::new(&self.world).map(Box::new)
        } else {
            None
        };
        let _ = self.rings.set(rings);
    }

    fn send_f64_streamed(&self, dest: usize, tag: Tag, data: &[f64]) {
        let Some(ring) = self.ring(self.rank(), dest, data.len()) else {
            return self.send_f64(dest, tag, data);
        };
        // Only this rank counts `filled`; every part of the last stream is freed.
        let base = ring.filled().load(Ordering::Relaxed);
        let start = [f64::from_bits(base), f64::from_bits(data.len() as u64)];
        self.send_values(dest, tag, &start[..]);
        for (i, part) in data.chunks(shm::SLOT).enumerate() {
            let n = base + i as u64;
            if i >= shm::SLOTS {
                self.wait_for_parts(ring.freed(), n + 1 - shm::SLOTS as u64);
            }
            // SAFETY: the slot's last part (n - SLOTS) is freed, or it has none in this stream
            // and the last stream's are all freed: the receiver is done with it. The part fits.
            unsafe {
                std::ptr::copy_nonoverlapping(part.as_ptr(), ring.slot(n), part.len());
            }
            Ring::count(ring.filled(), n);
        }
        // Every part taken: the ring is free for the next stream, and `data` may go.
        self.wait_for_parts(ring.freed(), base + data.len().div_ceil(shm::SLOT) as u64);
        self.streamed.set(self.streamed.get() + 1);
    }

    fn recv_f64_streamed_into(&self, src: usize, tag: Tag, buf: &mut [f64]) {
        let Some(ring) = self.ring(src, self.rank(), buf.len()) else {
            return self.recv_f64_into(src, tag, buf);
        };
        self.receive_parts(&ring, src, tag, buf.len(), |at, part| {
            buf[at..at + part.len()].copy_from_slice(part);
        });
    }

    fn recv_f64_streamed_combine(
        &self,
        src: usize,
        tag: Tag,
        acc: &mut [f64],
        scratch: &mut [f64],
        combine: &mut dyn FnMut(&mut [f64], &[f64]),
    ) {
        let Some(ring) = self.ring(src, self.rank(), acc.len()) else {
            self.recv_f64_into(src, tag, scratch);
            return combine(acc, scratch);
        };
        self.receive_parts(&ring, src, tag, acc.len(), |at, part| {
            combine(&mut acc[at..at + part.len()], part);
        });
    }

    fn streamed(&self) -> usize {
        self.streamed.get()
    }

    fn try_recv_any(&self, tag: Tag) -> Option<(usize, Vec<u8>)> {
        let (message, status) = self.probe(None, tag)?;
        Some((status.source_rank() as usize, self.take(message, status)))
    }

    fn abort(&self, code: i32, message: &str) -> ! {
        crate::error::say(&format!("spmdkit: rank {}: {message}", self.rank()));
        self.world.abort(code)
    }

    fn backend(&self) -> super::Backend {
        super::Backend::Mpi
    }

    fn watch_for_hangs(&self, timeout: Option<Duration>) {
        let timeout = timeout.filter(|t| !t.is_zero());
        if timeout.is_none() {
            // Off everywhere, without a collective: every rank was given the same timeout.
            *self.watch.borrow_mut() = None;
            return;
        }
        // Rank 0 learns every rank's host and pid, the others rank 0's, for the message that
        // names a silent rank.
        let me = format!("host {}, pid {}", super::host_name(), std::process::id());
        let names = self.gather_bytes(0, me.as_bytes()).map(|parts| {
            parts
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect::<Vec<_>>()
        });
        let root = self.broadcast_bytes(
            0,
            names
                .as_ref()
                .map_or_else(Vec::new, |n| n[0].clone().into_bytes()),
        );
        let names = names.unwrap_or_else(|| {
            let mut only_root = vec![String::new(); self.size()];
            only_root[0] = String::from_utf8_lossy(&root).into_owned();
            only_root
        });
        let watch = timeout.map(|t| Watch::new(self.rank(), self.size(), t, names, Instant::now()));
        *self.watch.borrow_mut() = watch;
    }

    fn hang_timeout(&self) -> Option<Duration> {
        self.watch.borrow().as_ref().map(Watch::timeout)
    }

    fn pulse(&self) {
        let Ok(mut slot) = self.watch.try_borrow_mut() else {
            return;
        };
        if let Some(watch) = slot.as_mut() {
            if watch.due(Instant::now()) {
                self.beat(watch);
            }
        }
    }

    fn barrier(&self) {
        let request = self.world.immediate_barrier();
        self.complete(request);
    }

    fn broadcast_bytes(&self, root: usize, mut data: Vec<u8>) -> Vec<u8> {
        let root_process = self.world.process_at_rank(rank_i32(root));
        let mut len = data.len() as u64;
        mpi::request::scope(|scope| {
            self.complete(root_process.immediate_broadcast_into(scope, &mut len));
        });
        let len = len as usize;
        self.count(len, "a broadcast", "bytes");
        if self.rank() != root {
            data = vec![0u8; len];
        }
        if len > 0 {
            mpi::request::scope(|scope| {
                self.complete(root_process.immediate_broadcast_into(scope, &mut data[..]));
            });
        }
        data
    }

    fn gather_bytes(&self, root: usize, data: &[u8]) -> Option<Vec<Vec<u8>>> {
        let root_process = self.world.process_at_rank(rank_i32(root));
        let count = self.count(data.len(), "a gathered buffer", "bytes");
        let nothing = [0u8; 1];
        let data = if data.is_empty() { &nothing[..0] } else { data };
        if self.rank() != root {
            mpi::request::scope(|scope| {
                self.complete(root_process.immediate_gather_into(scope, &count));
            });
            mpi::request::scope(|scope| {
                self.complete(root_process.immediate_gather_varcount_into(scope, data));
            });
            return None;
        }
        let mut counts = vec![0i32; self.size()];
        mpi::request::scope(|scope| {
            self.complete(root_process.immediate_gather_into_root(scope, &count, &mut counts[..]));
        });
        let displs = displacements(&counts, || self.abort(1, "gathered data exceeds 2 GiB"));
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        // An empty Vec's pointer is Rust's dangling 0x1, which is Open MPI's MPI_IN_PLACE
        // (MPI_ERR_ARG at the root): give both buffers real places, even when they are empty.
        let mut buf = vec![0u8; total.max(1)];
        {
            let mut partition = PartitionMut::new(&mut buf[..], &counts[..], &displs[..]);
            mpi::request::scope(|scope| {
                self.complete(root_process.immediate_gather_varcount_into_root(
                    scope,
                    data,
                    &mut partition,
                ));
            });
        }
        Some(split(&buf, &counts))
    }

    fn scatter_bytes(&self, root: usize, parts: Option<Vec<Vec<u8>>>) -> Vec<u8> {
        let root_process = self.world.process_at_rank(rank_i32(root));
        let mut my_count = 0i32;
        if self.rank() != root {
            mpi::request::scope(|scope| {
                self.complete(root_process.immediate_scatter_into(scope, &mut my_count));
            });
            let mut mine = vec![0u8; (my_count as usize).max(1)];
            mpi::request::scope(|scope| {
                self.complete(
                    root_process
                        .immediate_scatter_varcount_into(scope, &mut mine[..my_count as usize]),
                );
            });
            mine.truncate(my_count as usize);
            return mine;
        }
        let parts = parts.expect("scatter_bytes: the root must supply the parts");
        assert_eq!(parts.len(), self.size(), "scatter_bytes: one part per rank");
        let counts: Vec<i32> = parts
            .iter()
            .map(|p| self.count(p.len(), "a scattered part", "bytes"))
            .collect();
        mpi::request::scope(|scope| {
            self.complete(root_process.immediate_scatter_into_root(
                scope,
                &counts[..],
                &mut my_count,
            ));
        });
        let displs = displacements(&counts, || self.abort(1, "scattered data exceeds 2 GiB"));
        let mut flat: Vec<u8> = parts.concat();
        flat.reserve(1);
        let mut mine = vec![0u8; (my_count as usize).max(1)];
        {
            let partition = Partition::new(&flat[..], &counts[..], &displs[..]);
            mpi::request::scope(|scope| {
                self.complete(root_process.immediate_scatter_varcount_into_root(
                    scope,
                    &partition,
                    &mut mine[..my_count as usize],
                ));
            });
        }
        mine.truncate(my_count as usize);
        mine
    }

    fn all_reduce_min_u64(&self, value: u64) -> u64 {
        let mut out = 0u64;
        mpi::request::scope(|scope| {
            self.complete(self.world.immediate_all_reduce_into(
                scope,
                &value,
                &mut out,
                SystemOperation::min(),
            ));
        });
        out
    }

    fn all_reduce_min_pair(&self, values: [u64; 2]) -> [u64; 2] {
        let mut out = [0u64; 2];
        mpi::request::scope(|scope| {
            self.complete(self.world.immediate_all_reduce_into(
                scope,
                &values[..],
                &mut out[..],
                SystemOperation::min(),
            ));
        });
        out
    }

    fn reduce_sum_f64_into(&self, root: usize, buf: &mut [f64]) {
        let root_process = self.world.process_at_rank(rank_i32(root));
        if self.rank() == root {
            let send = buf.to_vec();
            mpi::request::scope(|scope| {
                self.complete(root_process.immediate_reduce_into_root(
                    scope,
                    &send[..],
                    buf,
                    SystemOperation::sum(),
                ));
            });
        } else {
            mpi::request::scope(|scope| {
                self.complete(root_process.immediate_reduce_into(
                    scope,
                    &buf[..],
                    SystemOperation::sum(),
                ));
            });
        }
    }
}

impl Drop for MpiComm {
    /// With hang detection on, before `MPI_Finalize` (when `_universe` drops, next): every rank
    /// sends its peers a last beat and takes in theirs up to their last one, so that no beat is
    /// left unreceived at `MPI_Finalize` (MPICH over UCX warns about each one on stdout). Both
    /// steps wait for every rank, so a thread ends this process if they and `MPI_Finalize` have
    /// not finished within the timeout (a rank stopped after the job's work ended).
    fn drop(&mut self) {
        let Some(watch) = self.watch.get_mut().take() else {
            return;
        };
        let timeout = watch.timeout();
        let rank = self.rank();
        std::thread::spawn(move || {
            std::thread::sleep(timeout);
            crate::error::say(&format!(
                "spmdkit: rank {rank}: the end of the job (MPI_Finalize) has not come after {} \
                 s (a rank stopped after the job's work ended?); exiting",
                super::watch::seconds(timeout)
            ));
            // SAFETY: ends the process at once; nothing of this process is used afterwards.
            unsafe { libc::_exit(1) }
        });
        for peer in watch.peers().collect::<Vec<_>>() {
            self.send_values(peer, tags::HEARTBEAT, &LAST_BEAT[..]);
        }
        for peer in watch.awaiting_last_beat() {
            loop {
                let (message, status) = self.matched(Some(peer), tags::HEARTBEAT);
                let payload: Vec<u8> = self.take(message, status);
                if !payload.is_empty() {
                    break;
                }
            }
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
