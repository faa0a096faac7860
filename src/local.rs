//! Running one rank's tasks on its rayon pool. No MPI in here.
//!
//! Each task carries the lane (thread index) the plan gave it. [`run_lanes`] uses
//! `ThreadPool::broadcast`, which runs a closure exactly once on every thread of the pool, so
//! thread `k` runs exactly the tasks of lane `k`, in plan order, and the thread index in a record
//! is the one that really ran it. A panicking task is caught where it runs and recorded as a
//! failure with its message; the other tasks of the lane still run.

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

/// Builds a pool of exactly `threads` threads named `spmdkit-worker-<k>`.
///
/// # Errors
/// When the operating system refuses to start the threads.
pub fn pool(threads: usize) -> Result<ThreadPool, PoolError> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|k| format!("spmdkit-worker-{k}"))
        .build()
        .map_err(|source| PoolError { threads, source })
}

/// What happened to one task.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<R> {
    /// Position of the task in the slice given to [`run_lanes`]; for [`run_pulled`], the order
    /// in which the thread took it.
    pub index: usize,
    /// The pool thread that ran it.
    pub thread: usize,
    /// Start, in seconds since `epoch`.
    pub start_s: f64,
    /// End, in seconds since `epoch`.
    pub end_s: f64,
    /// The task's value, or the message it panicked with.
    pub result: Result<R, String>,
}

fn run_one<T, R>(
    task: &T,
    index: usize,
    thread: usize,
    epoch: Instant,
    work: &(impl Fn(&T) -> R + Sync),
) -> Outcome<R> {
    let start_s = epoch.elapsed().as_secs_f64();
    let result = panic::catch_unwind(AssertUnwindSafe(|| work(task)))
        .map_err(|payload| panic_message(payload.as_ref()));
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
/// returns one outcome per task in slice order. Times are measured from `epoch`; `done` counts
/// finished tasks as they finish (for progress reports).
///
/// # Panics
/// If a task's lane is not a thread of `pool`.
///
/// # Examples
/// ```
/// let pool = spmdkit::local::pool(2).unwrap();
/// let tasks = [(0, 3), (1, 4), (0, 5)];
/// let done = std::sync::atomic::AtomicUsize::new(0);
/// let epoch = std::time::Instant::now();
/// let out = spmdkit::local::run_lanes(&pool, &tasks, |t| t.0, epoch, &done, |t| {
///     if t.1 == 4 { panic!("four") }
///     t.1 * 10
/// });
/// assert_eq!(out[0].result, Ok(30));
/// assert_eq!(out[1].result, Err("four".to_string()));
/// assert_eq!(out[2].result, Ok(50));
/// assert_eq!((out[0].thread, out[1].thread, out[2].thread), (0, 1, 0));
/// assert_eq!(done.into_inner(), 3);
/// ```
pub fn run_lanes<T, R, L, F>(
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
    F: Fn(&T) -> R + Sync,
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
///
/// # Examples
/// ```
/// use std::sync::{atomic::AtomicUsize, Mutex};
/// let pool = spmdkit::local::pool(2).unwrap();
/// let left = Mutex::new((0..10).collect::<Vec<u32>>());
/// let done = AtomicUsize::new(0);
/// let next = || left.lock().unwrap().pop().into_iter().collect();
/// let out = spmdkit::local::run_pulled(&pool, next, std::time::Instant::now(), &done, |t| t * 2);
/// assert_eq!(out.len(), 10);
/// assert!(out.iter().all(|(t, o)| o.result == Ok(t * 2)));
/// ```
pub fn run_pulled<T, R, N, F>(
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
    F: Fn(&T) -> R + Sync,
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

/// A queue of tasks that the pool's threads drain: the local end of the dynamic schedule. The
/// main thread fills it on ranks other than 0; on rank 0 the threads refill it themselves.
///
/// It is filled on demand: [`Feed::wait_for_demand`] returns when more threads are waiting for a
/// task than there are tasks queued, so a rank never hoards tasks that another rank's idle
/// threads could run.
pub struct Feed<T> {
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
    pub fn push_many(&self, items: impl IntoIterator<Item = T>) {
        self.lock().items.extend(items);
        self.changed.notify_all();
    }

    /// No more tasks will come: threads waiting in [`Feed::pop`] get `None` once it is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }

    /// Tasks queued now.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether no task is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Threads waiting in [`Feed::pop`] beyond the tasks queued: how many more tasks would be
    /// taken at once.
    pub fn demand(&self) -> usize {
        let state = self.lock();
        state.waiting.saturating_sub(state.items.len())
    }

    /// Whether [`Feed::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Takes the next task, waiting while the queue is empty and open; `None` when closed and
    /// empty.
    pub fn pop(&self) -> Option<T> {
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
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
            state.waiting -= 1;
        }
    }

    /// Waits up to `timeout` until more threads wait in [`Feed::pop`] than tasks are queued;
    /// returns whether they do.
    pub fn wait_for_demand(&self, timeout: Duration) -> bool {
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

/// The text a panic was raised with, or a placeholder for non-text payloads.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked with a non-text payload".to_string()
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
            |t| {
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
            |&t| {
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
        let out = run_lanes(&pool, &[] as &[usize], |_| 0, Instant::now(), &done, |_| ());
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
                    |t: &u32| *t,
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
