//! [`Job`]: what a program's body gets from [`World::run`](crate::comm::World::run): this rank's
//! communicator and its threads.

use crate::collective::agree;
use crate::comm::{Backend, Comm, Tag};
use crate::error::Error;
use crate::farm::Farm;
use rayon::ThreadPool;
use std::cell::OnceCell;
use std::time::Duration;

/// This rank's part of the job: its communicator (a [`Comm`], so every collective takes it) and
/// its pool of threads, made on first use and placed on cores as the `spmdkit` binary places
/// its ranks.
///
/// # Examples
/// ```no_run
/// use spmdkit::World;
/// fn main() -> std::process::ExitCode {
///     World::run(|job| {
///         let squares = job.run(0..100u64, |_, &x| (x * x) as f64)?;
///         if let Some(sum) = squares.sum(job)? {
///             println!("{sum}"); // 328350, on rank 0
///         }
///         Ok(())
///     })
/// }
/// ```
pub struct Job<'w> {
    comm: &'w dyn Comm,
    pool: OnceCell<ThreadPool>,
}

impl<'w> Job<'w> {
    pub(crate) fn new(comm: &'w dyn Comm) -> Self {
        Job {
            comm,
            pool: OnceCell::new(),
        }
    }

    /// This rank's index, `0..size()` (also [`Comm::rank`], without importing the trait).
    pub fn rank(&self) -> usize {
        self.comm.rank()
    }

    /// The number of ranks (also [`Comm::size`]).
    pub fn size(&self) -> usize {
        self.comm.size()
    }

    /// This rank's threads: as many as its cores (or `SLURM_CPUS_PER_TASK`, `RAYON_NUM_THREADS`,
    /// `OMP_NUM_THREADS`), each rank placed on cores of its own where the launcher left the
    /// choice to spmdkit (see `collective::placement`). Made on the first call.
    ///
    /// # Collective
    /// The first call, on every rank (the ranks agree on the cores and on any failure).
    ///
    /// # Errors
    /// When some rank cannot read its thread count or start its threads: every rank returns it.
    #[track_caller]
    pub fn pool(&self) -> Result<&ThreadPool, Error> {
        if let Some(pool) = self.pool.get() {
            return Ok(pool);
        }
        crate::collective::placement::place(self.comm, None);
        let threads = agree(self.comm, crate::comm::threads_here(None))?;
        let pool = agree(self.comm, crate::farm::pool(threads.count))?;
        Ok(self.pool.get_or_init(|| pool))
    }

    /// The task engine on this rank's [`pool`](Job::pool), to choose a policy, costs or progress
    /// before [`Farm::run`].
    ///
    /// # Collective
    /// As [`Job::pool`].
    ///
    /// # Errors
    /// As [`Job::pool`].
    #[track_caller]
    pub fn farm(&self) -> Result<Farm<'_>, Error> {
        Ok(Farm::new(self.pool()?))
    }

    /// Runs every task once over all ranks × threads under the `dynamic` policy (see
    /// [`Farm::run`]); `tasks` is read on rank 0 only.
    ///
    /// # Collective
    /// Every rank must call it.
    ///
    /// # Errors
    /// As [`Farm::run`] and [`Job::pool`].
    #[track_caller]
    pub fn run<T, R, F>(
        &self,
        tasks: impl IntoIterator<Item = T>,
        work: F,
    ) -> Result<crate::farm::Run<'_, R>, Error>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync,
        R: Send,
        F: Fn(crate::farm::Ctx, &T) -> R + Sync,
    {
        self.farm()?.run(self, tasks, work)
    }
}

impl Comm for Job<'_> {
    fn rank(&self) -> usize {
        self.comm.rank()
    }
    fn size(&self) -> usize {
        self.comm.size()
    }
    fn send(&self, dest: usize, tag: Tag, data: &[u8]) {
        self.comm.send(dest, tag, data)
    }
    fn recv(&self, src: usize, tag: Tag) -> Vec<u8> {
        self.comm.recv(src, tag)
    }
    fn recv_any(&self, tag: Tag) -> (usize, Vec<u8>) {
        self.comm.recv_any(tag)
    }
    fn try_recv_any(&self, tag: Tag) -> Option<(usize, Vec<u8>)> {
        self.comm.try_recv_any(tag)
    }
    fn send_f64(&self, dest: usize, tag: Tag, data: &[f64]) {
        self.comm.send_f64(dest, tag, data)
    }
    fn recv_f64(&self, src: usize, tag: Tag) -> Vec<f64> {
        self.comm.recv_f64(src, tag)
    }
    fn recv_f64_into(&self, src: usize, tag: Tag, buf: &mut [f64]) {
        self.comm.recv_f64_into(src, tag, buf)
    }
    fn prepare_streams(&self) {
        self.comm.prepare_streams()
    }
    fn send_f64_streamed(&self, dest: usize, tag: Tag, data: &[f64]) {
        self.comm.send_f64_streamed(dest, tag, data)
    }
    fn recv_f64_streamed_into(&self, src: usize, tag: Tag, buf: &mut [f64]) {
        self.comm.recv_f64_streamed_into(src, tag, buf)
    }
    fn recv_f64_streamed_combine(
        &self,
        src: usize,
        tag: Tag,
        acc: &mut [f64],
        scratch: &mut [f64],
        combine: &mut dyn FnMut(&mut [f64], &[f64]),
    ) {
        self.comm
            .recv_f64_streamed_combine(src, tag, acc, scratch, combine)
    }
    fn streamed(&self) -> usize {
        self.comm.streamed()
    }
    fn abort(&self, code: i32, message: &str) -> ! {
        self.comm.abort(code, message)
    }
    fn backend(&self) -> Backend {
        self.comm.backend()
    }
    fn watch_for_hangs(&self, timeout: Option<Duration>) {
        self.comm.watch_for_hangs(timeout)
    }
    fn hang_timeout(&self) -> Option<Duration> {
        self.comm.hang_timeout()
    }
    fn pulse(&self) {
        self.comm.pulse()
    }
    fn barrier(&self) {
        self.comm.barrier()
    }
    fn broadcast_bytes(&self, root: usize, data: Vec<u8>) -> Vec<u8> {
        self.comm.broadcast_bytes(root, data)
    }
    fn gather_bytes(&self, root: usize, data: &[u8]) -> Option<Vec<Vec<u8>>> {
        self.comm.gather_bytes(root, data)
    }
    fn scatter_bytes(&self, root: usize, parts: Option<Vec<Vec<u8>>>) -> Vec<u8> {
        self.comm.scatter_bytes(root, parts)
    }
    fn all_reduce_min_u64(&self, value: u64) -> u64 {
        self.comm.all_reduce_min_u64(value)
    }
    fn all_reduce_min_pair(&self, values: [u64; 2]) -> [u64; 2] {
        self.comm.all_reduce_min_pair(values)
    }
    fn broadcast_f64_into(&self, root: usize, buf: &mut [f64]) {
        self.comm.broadcast_f64_into(root, buf)
    }
    fn reduce_sum_f64_into(&self, root: usize, buf: &mut [f64]) {
        self.comm.reduce_sum_f64_into(root, buf)
    }
}
