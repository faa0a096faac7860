//! Running one rank's tasks on its rayon pool. No MPI in here.
//!
//! Each task carries the lane (thread index) the plan gave it. [`run_lanes`] uses
//! `ThreadPool::broadcast`, which runs a closure exactly once on every thread of the pool, so
//! thread `k` runs exactly the tasks of lane `k`, in plan order, and the thread index in a record
//! is the one that really ran it. A panicking task is caught where it runs and recorded as a
//! failure with its message; the other tasks of the lane still run.

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

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
    /// Position of the task in the slice given to [`run_lanes`].
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

/// Runs every task on the pool thread named by `lane_of`, in slice order within a lane, and
/// returns one outcome per task in slice order. Times are measured from `epoch`.
///
/// # Panics
/// If a task's lane is not a thread of `pool`.
///
/// # Examples
/// ```
/// let pool = spmdkit::local::pool(2).unwrap();
/// let tasks = [(0, 3), (1, 4), (0, 5)];
/// let out = spmdkit::local::run_lanes(&pool, &tasks, |t| t.0, std::time::Instant::now(), |t| {
///     if t.1 == 4 { panic!("four") }
///     t.1 * 10
/// });
/// assert_eq!(out[0].result, Ok(30));
/// assert_eq!(out[1].result, Err("four".to_string()));
/// assert_eq!(out[2].result, Ok(50));
/// assert_eq!((out[0].thread, out[1].thread, out[2].thread), (0, 1, 0));
/// ```
pub fn run_lanes<T, R, L, F>(
    pool: &ThreadPool,
    tasks: &[T],
    lane_of: L,
    epoch: Instant,
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
                let start_s = epoch.elapsed().as_secs_f64();
                let result = panic::catch_unwind(AssertUnwindSafe(|| work(task)))
                    .map_err(|payload| panic_message(payload.as_ref()));
                let end_s = epoch.elapsed().as_secs_f64();
                Outcome {
                    index,
                    thread: me,
                    start_s,
                    end_s,
                    result,
                }
            })
            .collect()
    });
    let mut all: Vec<Outcome<R>> = per_thread.into_iter().flatten().collect();
    all.sort_by_key(|o| o.index);
    all
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
        let out = run_lanes(
            &pool,
            &tasks,
            |t| t.0,
            epoch,
            |t| {
                std::thread::sleep(Duration::from_millis(t.1));
            },
        );
        assert_eq!(out.len(), 8);
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
        let out = run_lanes(
            &pool,
            &tasks,
            |_| 0,
            Instant::now(),
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
        let out = run_lanes(&pool, &[] as &[usize], |_| 0, Instant::now(), |_| ());
        assert!(out.is_empty());
    }
}
