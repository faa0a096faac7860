//! Streams of f64 values between ranks of one node through MPI shared memory.
//!
//! Open MPI and MPICH move a large message between two processes of one node with a single copy
//! (CMA's `process_vm_readv`), which on these machines runs at about half the speed of `memcpy`,
//! and only then can the receiver start combining. A stream instead goes through a small ring of
//! [`SLOTS`] slots of [`SLOT`] values that the sender owns in an MPI shared-memory window
//! (`MPI_Win_allocate_shared` over the ranks of the node). One message starts the stream; then
//! the sender copies part after part into the free slots and counts them in the ring's `filled`
//! counter, and the receiver combines each part straight from its slot into its own array and
//! counts it in `freed`, which gives the slot back. The sender's copy of one part overlaps the
//! receiver's combine of the one before, and no whole copy of the message lands in the
//! receiver's memory first.
//!
//! The counters are atomics in the shared window (release when a part is filled or freed,
//! acquire when waiting for one), and only ever grow: a stream is a range of parts, `[base,
//! base + parts)`, and the sender starts the next stream only when the receiver has freed every
//! part of the last. Waiting goes through the backend's pause and pulse, so a stopped peer is
//! noticed by hang detection as in any other wait.
//!
//! The window is made once per job, at the first [`Comm::prepare_streams`](super::Comm), by every
//! rank together; `SPMDKIT_SHARED_MEMORY=0` on every rank turns streams off (messages as before).

use mpi::ffi;
use mpi::raw::AsRaw;
use mpi::topology::{Communicator, SimpleCommunicator};
use std::cell::Cell;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values per slot: 64 KB, a part that stays in cache between the sender's copy and the
/// receiver's combine. Measured with `benches/reduce-shm.sh` on a 2-core machine (8 MB at 2
/// ranks): 64 KB × 4 and 128 KB × 3 slots were the fastest of 64–512 KB × 2–6 slots.
pub(crate) const SLOT: usize = 8 * 1024;
/// Slots per rank's ring: while the receiver combines one, the sender fills the next.
pub(crate) const SLOTS: usize = 4;
/// The ring's header: the two counters, each on a cache line of its own, in f64 units.
const HEADER: usize = 16;
const FREED_AT: usize = 8;

/// Whether the environment turns streams off (`SPMDKIT_SHARED_MEMORY=0`).
pub(crate) fn disabled_by_env() -> bool {
    std::env::var("SPMDKIT_SHARED_MEMORY").is_ok_and(|v| v.trim() == "0")
}

/// This rank's ring and its view of the rings of the other ranks of its node.
pub(crate) struct Rings {
    window: ffi::MPI_Win,
    /// The ranks of this node, kept alive for the window's life.
    _node: SimpleCommunicator,
    /// For every rank of the job: the start of its ring if it shares this node, else `None`.
    ring_of: Vec<Option<NonNull<f64>>>,
    /// This rank's rank in the job.
    me: usize,
    /// Whether this rank has mapped each peer's ring in already (see [`populate`]).
    mapped: Vec<Cell<bool>>,
}

/// One ring seen from either side of a stream.
pub(crate) struct Ring<'r> {
    start: NonNull<f64>,
    _rings: &'r Rings,
}

impl Rings {
    /// Makes the window over the ranks of this node; `None` when this rank is alone on its node.
    ///
    /// # Collective
    /// Every rank of `world` must call it.
    pub(crate) fn new(world: &SimpleCommunicator) -> Option<Rings> {
        let node = world.split_shared(world.rank());
        if node.size() < 2 {
            return None;
        }
        let bytes = ((HEADER + SLOTS * SLOT) * std::mem::size_of::<f64>()) as ffi::MPI_Aint;
        // Room to start the ring on a cache line: MPI aligns the segments to 8 bytes only.
        let room = bytes + 64;
        let mut base: *mut f64 = std::ptr::null_mut();
        // SAFETY: plain MPI calls on a valid communicator. MPI_Win_allocate_shared writes the
        // window's handle and this rank's base address through the pointers given (MPI's default
        // error handler ends the job on failure); its memory is zero-filled by the system, so
        // both counters start at 0.
        let window = unsafe {
            let mut window: ffi::MPI_Win = std::mem::zeroed();
            ffi::MPI_Win_allocate_shared(
                room,
                std::mem::size_of::<f64>() as i32,
                ffi::RSMPI_INFO_NULL,
                node.as_raw(),
                (&mut base as *mut *mut f64).cast(),
                &mut window,
            );
            ffi::MPI_Win_lock_all(ffi::MPI_MODE_NOCHECK as i32, window);
            window
        };
        // Which rank of the job each rank of the node is.
        let node_ranks: Vec<i32> = (0..node.size()).collect();
        let mut world_ranks = vec![0i32; node_ranks.len()];
        // SAFETY: both groups are valid for the call and freed after it; the arrays have
        // node.size() entries.
        unsafe {
            let (mut node_group, mut world_group) = (std::mem::zeroed(), std::mem::zeroed());
            ffi::MPI_Comm_group(node.as_raw(), &mut node_group);
            ffi::MPI_Comm_group(world.as_raw(), &mut world_group);
            ffi::MPI_Group_translate_ranks(
                node_group,
                node.size(),
                node_ranks.as_ptr(),
                world_group,
                world_ranks.as_mut_ptr(),
            );
            ffi::MPI_Group_free(&mut node_group);
            ffi::MPI_Group_free(&mut world_group);
        }
        let mut ring_of = vec![None; world.size() as usize];
        for (node_rank, &world_rank) in node_ranks.iter().zip(&world_ranks) {
            let mut size: ffi::MPI_Aint = 0;
            let mut unit: i32 = 0;
            let mut at: *mut f64 = std::ptr::null_mut();
            // SAFETY: queries the window made above for a rank of its communicator.
            unsafe {
                ffi::MPI_Win_shared_query(
                    window,
                    *node_rank,
                    &mut size,
                    &mut unit,
                    (&mut at as *mut *mut f64).cast(),
                );
            }
            if size >= room && !at.is_null() {
                // SAFETY: at most 7 values (56 bytes) into a segment of `room` bytes, as MPI
                // aligns segments to their unit, 8 bytes.
                let start = unsafe { at.add(at.align_offset(64).min(7)) };
                ring_of[world_rank as usize] = NonNull::new(start);
            }
        }
        let me = world.rank() as usize;
        if let Some(mine) = ring_of[me] {
            populate(mine, libc::MADV_POPULATE_WRITE);
        }
        let mapped = (0..ring_of.len()).map(|r| Cell::new(r == me)).collect();
        Some(Rings {
            window,
            _node: node,
            ring_of,
            me,
            mapped,
        })
    }

    /// The ring of streams from `sender` to `receiver`, the one of them that is not this rank,
    /// when both share this node and have a ring.
    pub(crate) fn between(&self, sender: usize, receiver: usize) -> Option<Ring<'_>> {
        let peer = if sender == self.me { receiver } else { sender };
        if peer == self.me || self.ring_of.get(peer).is_none_or(Option::is_none) {
            return None;
        }
        let start = self.ring_of[sender]?;
        if !self.mapped[sender].replace(true) {
            populate(start, libc::MADV_POPULATE_READ);
        }
        Some(Ring {
            start,
            _rings: self,
        })
    }
}

/// Maps a ring's pages into this process at once (`advice`: for reading or for writing), one
/// system call instead of a page fault per 4 KB page (about 4 µs each on these machines, 64 per
/// ring). Best effort: a kernel older than 5.14 refuses the advice and the pages fault in as used.
fn populate(ring: NonNull<f64>, advice: libc::c_int) {
    let page = 4096;
    let from = ring.as_ptr() as usize / page * page;
    let to = ring.as_ptr() as usize + (HEADER + SLOTS * SLOT) * std::mem::size_of::<f64>();
    // SAFETY: the range covers the ring and at most the rest of its first and last pages, all
    // within the window's shared mapping; the advice only maps pages in, it changes no contents.
    unsafe {
        libc::madvise(from as *mut libc::c_void, to - from, advice);
    }
}

impl Ring<'_> {
    fn counter(&self, at: usize) -> &AtomicU64 {
        // SAFETY: the header's first value of each cache line is a u64 counter, 8-aligned (the
        // ring is 64-aligned), in memory that lives as long as the window, which outlives
        // `self`; it is only ever accessed atomically.
        unsafe { AtomicU64::from_ptr(self.start.as_ptr().add(at).cast()) }
    }

    /// Parts filled by the sender, ever.
    pub(crate) fn filled(&self) -> &AtomicU64 {
        self.counter(0)
    }

    /// Parts freed by the receiver, ever.
    pub(crate) fn freed(&self) -> &AtomicU64 {
        self.counter(FREED_AT)
    }

    /// The slot of part `n` (counted over the ring's life) as a pointer to its first value.
    /// Reading or writing through it is the caller's to justify: the sender writes a slot only
    /// after its last part was freed, the receiver reads it only between `filled` counting it
    /// and its own `freed` giving it back.
    pub(crate) fn slot(&self, n: u64) -> *mut f64 {
        let i = (n % SLOTS as u64) as usize;
        // SAFETY: the offset is within the ring of HEADER + SLOTS * SLOT values.
        unsafe { self.start.as_ptr().add(HEADER + i * SLOT) }
    }

    /// Counts part `n` in `counter`, after this side's accesses to its slot.
    pub(crate) fn count(counter: &AtomicU64, n: u64) {
        counter.store(n + 1, Ordering::Release);
    }

    /// Whether `counter` has counted `parts` parts (the accesses of the other side before it are
    /// visible after `true`).
    pub(crate) fn reached(counter: &AtomicU64, parts: u64) -> bool {
        counter.load(Ordering::Acquire) >= parts
    }
}

impl Drop for Rings {
    /// Frees the window (collective over the node's ranks: every rank drops its rings as the job
    /// ends, before `MPI_Finalize`).
    fn drop(&mut self) {
        // SAFETY: the window is valid and locked by this rank; no stream is under way once the
        // job's communicator is being dropped.
        unsafe {
            ffi::MPI_Win_unlock_all(self.window);
            ffi::MPI_Win_free(&mut self.window);
        }
    }
}
