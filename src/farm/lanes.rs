//! Running one rank's tasks on its rayon pool. No MPI in here.
//!
//! Each task carries the lane (thread index) the plan gave it. [`run_lanes`] uses
//! `ThreadPool::broadcast`, which runs a closure exactly once on every thread of the pool, so
//! thread `k` runs exactly the tasks of lane `k`, in plan order, and the thread index in a record
//! is the one that really ran it. A panicking task is caught where it runs and recorded as a
//! failure with its message; the other tasks of the lane still run.

use crate::error::panic_message;
use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The pool could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot start {threads} worker threads: {source}")]
pub struct PoolError {
    threads: usize,
    #[source]
    source: rayon::ThreadPoolBuildError,
}

/// The name of every pool thread starts with this.
pub(crate) const WORKER_PREFIX: &str = "spmdkit-worker-";

thread_local! {
    /// Whether this thread is running an engine task, whose panic is caught and recorded.
    static IN_TASK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The task this thread runs, for a panic's message.
    static CURRENT: std::cell::Cell<Option<crate::farm::Ctx>> = const { std::cell::Cell::new(None) };
    /// Where the task's panic happened (`file:line:column`), noted by the panic hook.
    static LOCATION: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Whether the calling thread is inside an engine task (a panic there is the task's failure).
pub(crate) fn in_task() -> bool {
    IN_TASK.with(std::cell::Cell::get)
}

/// Runs `work` as the task `ctx`: a panic in it is reported with the task's id, rank and thread.
pub(crate) fn as_task<R>(ctx: crate::farm::Ctx, work: impl FnOnce() -> R) -> R {
    CURRENT.with(|c| c.set(Some(ctx)));
    let result = work();
    CURRENT.with(|c| c.set(None));
    result
}

/// The task the calling thread runs, if it runs one.
pub(crate) fn current_task() -> Option<crate::farm::Ctx> {
    CURRENT.with(std::cell::Cell::get)
}

/// The panic hook notes where the calling thread's task panicked; the engine puts it in the
/// task's record.
pub(crate) fn note_panic_location(location: String) {
    LOCATION.with(|l| *l.borrow_mut() = Some(location));
}

impl From<PoolError> for crate::error::Error {
    fn from(e: PoolError) -> Self {
        crate::error::Error::failed(e.to_string())
    }
}

/// Builds a pool of exactly `threads` threads named `spmdkit-worker-<k>`: the pool to hand to
/// [`Farm`](crate::farm::Farm) and to the reductions. (A panic inside an engine task is the task's,
/// which [`World::run`](crate::comm::World::run) reports in one line.)
///
/// # Errors
/// When the operating system refuses to start the threads.
///
/// # Examples
/// ```
/// let pool = spmdkit::pool(2).unwrap();
/// assert_eq!(pool.current_num_threads(), 2);
/// ```
pub fn pool(threads: usize) -> Result<ThreadPool, PoolError> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|k| format!("{WORKER_PREFIX}{k}"))
        .spawn_handler(|thread| {
            let mut builder = std::thread::Builder::new();
            if let Some(name) = thread.name() {
                builder = builder.name(name.to_string());
            }
            if let Some(size) = thread.stack_size() {
                builder = builder.stack_size(size);
            }
            let handle = builder.spawn(|| thread.run())?;
            POOL_THREADS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(handle);
            Ok(())
        })
        .build()
        .map_err(|source| PoolError { threads, source })
}

/// The threads of every pool [`pool`] built, to be joined once their pool is gone.
static POOL_THREADS: Mutex<Vec<std::thread::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Waits, up to `limit`, for the threads of the pools that were dropped to end, and joins them.
/// [`World::run`](crate::comm::World::run) calls it before MPI is finalised, so that no thread of
/// spmdkit's is still ending (freeing its stack, running thread-local destructors) while MPI
/// tears down. A pool that is still alive keeps its threads (they are not waited for).
pub(crate) fn join_ended_pools(limit: Duration) {
    let until = Instant::now() + limit;
    let mut threads = std::mem::take(&mut *POOL_THREADS.lock().unwrap_or_else(|e| e.into_inner()));
    loop {
        let (ended, running): (Vec<_>, Vec<_>) = threads.into_iter().partition(|h| h.is_finished());
        for h in ended {
            let _ = h.join();
        }
        threads = running;
        if threads.is_empty() || Instant::now() >= until {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    POOL_THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(threads);
}

/// What happened to one task.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome<R> {
    /// Position of the task in the slice given to [`run_lanes`]; for [`run_pulled`], the order
    /// in which the thread took it.
    pub(crate) index: usize,
    /// The pool thread that ran it.
    pub(crate) thread: usize,
    /// Start, in seconds since `epoch`.
    pub(crate) start_s: f64,
    /// End, in seconds since `epoch`.
    pub(crate) end_s: f64,
    /// The task's value, or the message it panicked with.
    pub(crate) result: Result<R, String>,
}

fn run_one<T, R>(
    task: &T,
    index: usize,
    thread: usize,
    epoch: Instant,
    work: &(impl Fn(&T, usize) -> R + Sync),
) -> Outcome<R> {
    let start_s = epoch.elapsed().as_secs_f64();
    IN_TASK.with(|t| t.set(true));
    LOCATION.with(|l| l.borrow_mut().take());
    let result = panic::catch_unwind(AssertUnwindSafe(|| work(task, thread))).map_err(|payload| {
        let why = panic_message(payload.as_ref());
        match LOCATION.with(|l| l.borrow_mut().take()) {
            Some(at) => format!("panicked at {at}: {why}"),
            None => why,
        }
    });
    IN_TASK.with(|t| t.set(false));
    CURRENT.with(|c| c.set(None));
    let end_s = epoch.elapsed().as_secs_f64();
    Outcome {
        index,
        thread,
        start_s,
        end_s,
        result,
    }
}

/// Runs every task on the pool thread named by `lane_of`, in slice order within a lane, and
/// returns one outcome per task in slice order. `work` gets the task and the thread's index. Times are measured from `epoch`; `done` counts
/// finished tasks as they finish (for progress reports).
///
/// # Panics
/// If a task's lane is not a thread of `pool`.
pub(crate) fn run_lanes<T, R, L, F>(
    pool: &ThreadPool,
    tasks: &[T],
    lane_of: L,
    epoch: Instant,
    done: &AtomicUsize,
    work: F,
) -> Vec<Outcome<R>>
where
    T: Sync,
    R: Send,
    L: Fn(&T) -> usize + Sync,
    F: Fn(&T, usize) -> R + Sync,
{
    let threads = pool.current_num_threads();
    assert!(
        tasks.iter().all(|t| lane_of(t) < threads),
        "a task names a lane beyond the pool's {threads} threads"
    );
    let per_thread: Vec<Vec<Outcome<R>>> = pool.broadcast(|ctx| {
        let me = ctx.index();
        tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| lane_of(t) == me)
            .map(|(index, task)| {
                let outcome = run_one(task, index, me, epoch, &work);
                done.fetch_add(1, Ordering::Relaxed);
                outcome
            })
            .collect()
    });
    let mut all: Vec<Outcome<R>> = per_thread.into_iter().flatten().collect();
    all.sort_by_key(|o| o.index);
    all
}

/// Runs tasks as the pool's threads pull them: each thread calls `next_chunk` whenever it has
/// nothing left, runs the chunk in order, and stops when `next_chunk` returns an empty chunk.
/// Returns every task with its outcome. Times are measured from `epoch`; `done` counts finished
/// tasks as they finish.
pub(crate) fn run_pulled<T, R, N, F>(
    pool: &ThreadPool,
    next_chunk: N,
    epoch: Instant,
    done: &AtomicUsize,
    work: F,
) -> Vec<(T, Outcome<R>)>
where
    T: Send,
    R: Send,
    N: Fn() -> Vec<T> + Sync,
    F: Fn(&T, usize) -> R + Sync,
{
    let per_thread: Vec<Vec<(T, Outcome<R>)>> = pool.broadcast(|ctx| {
        let me = ctx.index();
        let mut out = Vec::new();
        loop {
            let chunk = next_chunk();
            if chunk.is_empty() {
                return out;
            }
            for task in chunk {
                let outcome = run_one(&task, out.len(), me, epoch, &work);
                done.fetch_add(1, Ordering::Relaxed);
                out.push((task, outcome));
            }
        }
    });
    per_thread.into_iter().flatten().collect()
}

/// Runs tasks as each slot (pool thread) asks for them: slot `k` calls `next(k)` whenever it is
/// free and stops at `None`; `on_done` gets each task with its outcome as soon as it ends.
pub(crate) fn run_slots<T, R, N, F, D>(
    pool: &ThreadPool,
    next: N,
    epoch: Instant,
    done: &AtomicUsize,
    work: F,
    on_done: D,
) where
    T: Send,
    R: Send,
    N: Fn(usize) -> Option<T> + Sync,
    F: Fn(&T, usize) -> R + Sync,
    D: Fn(T, Outcome<R>) + Sync,
{
    pool.broadcast(|ctx| {
        let me = ctx.index();
        let mut index = 0;
        while let Some(task) = next(me) {
            let outcome = run_one(&task, index, me, epoch, &work);
            done.fetch_add(1, Ordering::Relaxed);
            on_done(task, outcome);
            index += 1;
        }
    });
}

/// A queue of tasks that the pool's threads drain: the local end of the dynamic schedule. The
/// main thread fills it on ranks other than 0; on rank 0 the threads refill it themselves.
///
/// It is filled on demand: [`Feed::wait_for_demand`] returns when more threads are waiting for a
/// task than there are tasks queued, so a rank never hoards tasks that another rank's idle
/// threads could run.
pub(crate) struct Feed<T> {
    state: Mutex<FeedState<T>>,
    changed: Condvar,
}

struct FeedState<T> {
    items: VecDeque<T>,
    closed: bool,
    waiting: usize,
}

impl<T> Default for Feed<T> {
    fn default() -> Self {
        Feed {
            state: Mutex::new(FeedState {
                items: VecDeque::new(),
                closed: false,
                waiting: 0,
            }),
            changed: Condvar::new(),
        }
    }
}

impl<T> Feed<T> {
    fn lock(&self) -> MutexGuard<'_, FeedState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds tasks at the back.
    pub(crate) fn push_many(&self, items: impl IntoIterator<Item = T>) {
        self.lock().items.extend(items);
        self.changed.notify_all();
    }

    /// No more tasks will come: threads waiting in [`Feed::pop`] get `None` once it is empty.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Tasks queued now.
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether no task is queued now.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Threads waiting in [`Feed::pop`] beyond the tasks queued: how many more tasks would be
    /// taken at once.
    pub(crate) fn demand(&self) -> usize {
        let state = self.lock();
        state.waiting.saturating_sub(state.items.len())
    }

    /// Whether [`Feed::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Takes the next task, waiting while the queue is empty and open; `None` when closed and
    /// empty.
    pub(crate) fn pop(&self) -> Option<T> {
        self.pop_ringing(|| {})
    }

    /// As [`Feed::pop`], calling `ring` each time this thread starts waiting (after it counts as
    /// waiting), so whoever fills the queue can be woken.
    pub(crate) fn pop_ringing(&self, ring: impl Fn()) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state.waiting += 1;
            self.changed.notify_all();
            ring();
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting -= 1;
        }
    }

    /// Waits up to `timeout` until more threads wait in [`Feed::pop`] than tasks are queued;
    /// returns whether they do.
    pub(crate) fn wait_for_demand(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if state.waiting > state.items.len() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// How rank 0's main thread waits between polls while its own threads work: not at all after
/// it found something to do, else 50 µs doubling to 250 µs, so the worker threads keep the cores.
pub(crate) struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Backoff(Duration::from_micros(50))
    }
}

impl Backoff {
    /// Sleeps (or not) after a poll that found work (`busy`) or did not.
    pub(crate) fn after(&mut self, busy: bool) {
        if busy {
            *self = Backoff::default();
        } else {
            std::thread::sleep(self.0);
            self.0 = (self.0 * 2).min(Duration::from_micros(250));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lanes_run_concurrently_and_in_order() {
        let pool = pool(4).unwrap();
        let tasks: Vec<(usize, u64)> = (0..8).map(|i| (i % 4, 30)).collect();
        let epoch = Instant::now();
        let done = AtomicUsize::new(0);
        let out = run_lanes(
            &pool,
            &tasks,
            |t| t.0,
            epoch,
            &done,
            |t, _| {
                std::thread::sleep(Duration::from_millis(t.1));
            },
        );
        assert_eq!(out.len(), 8);
        assert_eq!(done.into_inner(), 8);
        for o in &out {
            assert_eq!(o.thread, o.index % 4);
            assert!(o.end_s >= o.start_s + 0.029);
        }
        // Within a lane the second task starts after the first ends.
        for lane in 0..4 {
            assert!(out[lane + 4].start_s >= out[lane].end_s);
        }
    }

    #[test]
    fn a_panic_is_captured_and_the_lane_goes_on() {
        let pool = pool(1).unwrap();
        let tasks = [1, 2, 3];
        let done = AtomicUsize::new(0);
        let out = run_lanes(
            &pool,
            &tasks,
            |_| 0,
            Instant::now(),
            &done,
            |&t, _| {
                if t == 2 {
                    panic!("task {t} failed");
                }
                t
            },
        );
        let results: Vec<_> = out.into_iter().map(|o| o.result).collect();
        assert_eq!(
            results,
            vec![Ok(1), Err("task 2 failed".to_string()), Ok(3)]
        );
    }

    #[test]
    fn an_empty_task_list_is_fine() {
        let pool = pool(3).unwrap();
        let done = AtomicUsize::new(0);
        let out = run_lanes(
            &pool,
            &[] as &[usize],
            |_| 0,
            Instant::now(),
            &done,
            |_, _| (),
        );
        assert!(out.is_empty());
    }

    #[test]
    fn a_feed_hands_every_task_to_exactly_one_thread() {
        let pool = pool(3).unwrap();
        let feed = Feed::default();
        let done = AtomicUsize::new(0);
        let out = std::thread::scope(|s| {
            let workers = s.spawn(|| {
                run_pulled(
                    &pool,
                    || feed.pop().into_iter().collect(),
                    Instant::now(),
                    &done,
                    |t: &u32, _| *t,
                )
            });
            for batch in 0..10u32 {
                while !feed.wait_for_demand(Duration::from_millis(100)) {}
                feed.push_many(batch * 100..batch * 100 + 100);
            }
            feed.close();
            workers.join().unwrap()
        });
        let mut ids: Vec<u32> = out.iter().map(|(t, _)| *t).collect();
        ids.sort();
        assert_eq!(ids, (0..1000).collect::<Vec<_>>());
        assert_eq!(done.into_inner(), 1000);
    }
}
