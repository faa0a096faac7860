//! The task engine: a list of tasks run over all ranks × threads, one record per task.
//!
//! [`Farm`] takes any task type `T` and any result type `R` (serde types: they travel between
//! ranks with their derive) and a closure `work(ctx, &task) -> R`. It runs every task once, under
//! one of the [`Policy`]s:
//!
//! * `lpt`, `block`, `cyclic` are planned by rank 0 over all W workers before anything runs
//!   (longest first, blocks or round robin; `lpt` needs a cost per task), and scattered; each pool thread runs its lane in
//!   plan order;
//! * `dynamic` is guided self-scheduling: rank 0 holds a cursor over the list, its own threads take
//!   chunks from it directly while its main thread answers the other ranks' requests; a rank asks
//!   whenever more of its threads wait for work than tasks are queued. Chunks shrink from
//!   ⌈remaining · t / 4W⌉ to single tasks, so 100 000 short tasks cost a few hundred messages and
//!   a few long tasks at the end still balance.
//!
//! Invariants:
//! * MPI is only called from the calling (main) thread; the pool's threads only run tasks. Rank 0
//!   keeps computing on its pool while its main thread dispatches and follows progress.
//! * A task that panics becomes a record whose result is `Err(message)`; the other tasks still
//!   run, and no rank waits for it.
//! * Every record's times are on the job's common clock: seconds since the first rank left the
//!   starting barrier, with each rank's clock offset measured at the end (Cristian's method).
//! * Each rank gets its own records back ([`Run::records`]), so results that stay on the rank
//!   that computed them (arrays to reduce) never travel; [`Run::gather`] brings every record to
//!   rank 0 when the results are small.

mod guided;
pub(crate) mod lanes;
mod live;
mod policy;
mod progress;

pub use lanes::{pool, PoolError};
pub use live::{run_live, Control, LiveRun};
use policy::{assign, Assigned};
pub use policy::{ideal_makespan, Policy, UnknownPolicy};
pub use progress::{Progress, ProgressMode};

use crate::collective::agree;
use crate::collective::{self, clock_offsets};
use crate::comm::{tags, Comm};
use crate::error::Error;
use guided::Guided;
use lanes::{Feed, Outcome};
use rayon::ThreadPool;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a task is told about where it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ctx {
    /// The task's id: its index in the list given to [`Farm::run`].
    pub id: usize,
    /// The rank that runs it.
    pub rank: usize,
    /// The pool thread (lane) of that rank that runs it, `0..threads`.
    pub thread: usize,
}

/// What happened to one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record<R> {
    /// The task's id (its index in the list).
    pub id: usize,
    /// The rank that ran it.
    pub rank: usize,
    /// The thread of that rank that ran it.
    pub thread: usize,
    /// Start on the job's common clock, in seconds.
    pub start_s: f64,
    /// End on the same clock.
    pub end_s: f64,
    /// The task's value, or the message it panicked with.
    pub result: Result<R, String>,
}

impl<R> Record<Result<R, String>> {
    /// The record of a fallible task: its error is the task's failure, as a panic is.
    fn flatten(self) -> Record<R> {
        Record {
            result: self.result.and_then(|v| v),
            id: self.id,
            rank: self.rank,
            thread: self.thread,
            start_s: self.start_s,
            end_s: self.end_s,
        }
    }
}

/// A rank's part of a finished run: the records of the tasks it ran (and the pool they ran on,
/// for [`Run::sum`]).
#[derive(Debug)]
pub struct Run<'p, R> {
    pool: &'p ThreadPool,
    records: Vec<Record<R>>,
    /// Rank 0: the threads of every rank; elsewhere empty.
    threads: Vec<usize>,
    tasks: usize,
    epoch: Instant,
    /// Seconds to add to this rank's clock to read the common clock.
    shift: f64,
}

/// Every record of a run, at rank 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Gathered<R> {
    /// One record per task, in id order.
    pub records: Vec<Record<R>>,
    /// The pool threads of each rank.
    pub threads: Vec<usize>,
    /// From the common start to the end of the gather, in seconds.
    pub wall_s: f64,
}

impl<R> Run<'_, R> {
    /// The records of the tasks this rank ran, in the order its threads ran them.
    pub fn records(&self) -> &[Record<R>] {
        &self.records
    }

    /// The records of the tasks this rank ran.
    pub fn into_records(self) -> Vec<Record<R>> {
        self.records
    }

    /// Seconds since the common start (the first rank leaving the starting barrier).
    pub fn elapsed_s(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64() + self.shift
    }

    /// Brings every record to rank 0, in id order, with each rank's thread count and the wall
    /// time; the other ranks get `None`.
    ///
    /// # Collective
    /// Every rank must call it.
    pub fn gather<C: Comm + ?Sized>(self, comm: &C) -> Option<Gathered<R>>
    where
        R: Serialize + DeserializeOwned,
    {
        // Rank 0 keeps its own records as they are (no encoding round trip) and places every
        // record by its id, which also checks that each task has exactly one.
        let mine = if comm.rank() == 0 {
            Vec::new()
        } else {
            collective::encode(&self.records)
        };
        let parts = comm.gather_bytes(0, &mine)?;
        let wall_s = self.elapsed_s();
        let tasks = self.tasks;
        let mut slots: Vec<Option<Record<R>>> = (0..tasks).map(|_| None).collect();
        let mut misplaced = 0usize;
        let mut place = |r: Record<R>| match slots.get_mut(r.id) {
            Some(slot @ None) => *slot = Some(r),
            _ => misplaced += 1,
        };
        self.records.into_iter().for_each(&mut place);
        for part in parts.iter().skip(1) {
            let theirs: Vec<Record<R>> =
                collective::decode_or_abort(comm, part, "a rank's records");
            theirs.into_iter().for_each(&mut place);
        }
        let records: Option<Vec<Record<R>>> = slots.into_iter().collect();
        let Some(records) = records.filter(|_| misplaced == 0) else {
            comm.abort(
                1,
                &format!("the engine gathered records that do not match its {tasks} tasks"),
            );
        };
        Some(Gathered {
            records,
            threads: self.threads,
            wall_s,
        })
    }
}

impl<R> Run<'_, R> {
    /// Whether every task of the run succeeded, on every rank: `Ok` everywhere, or on every rank
    /// the same error naming the failed task of the lowest id, the rank that ran it and its
    /// message (whatever the schedule, the same task is named).
    ///
    /// # Collective
    /// Every rank must call it.
    ///
    /// # Errors
    /// [`Kind::Failed`](crate::error::Kind::Failed) when a task failed (returned an error or panicked).
    #[track_caller]
    pub fn check<C: Comm + ?Sized>(&self, comm: &C) -> Result<(), Error> {
        collective::enter(comm, collective::Call::Check);
        let first = self
            .records
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(|e| (r.id, e)))
            .min_by_key(|(id, _)| *id);
        let lowest = comm.all_reduce_min_u64(first.map_or(u64::MAX, |(id, _)| id as u64));
        if lowest == u64::MAX {
            return Ok(());
        }
        let local = match first {
            Some((id, why)) if id as u64 == lowest => {
                Err(Error::failed(format!("task {id} failed: {why}")))
            }
            _ => Ok(()),
        };
        agree(comm, local)
    }

    /// This rank's results by task id, once every task of the run succeeded ([`Run::check`]).
    ///
    /// # Collective
    /// Every rank must call it.
    ///
    /// # Errors
    /// As [`Run::check`].
    #[track_caller]
    pub fn results<C: Comm + ?Sized>(self, comm: &C) -> Result<Vec<(usize, R)>, Error> {
        self.check(comm)?;
        Ok(self
            .records
            .into_iter()
            .filter_map(|r| r.result.ok().map(|v| (r.id, v)))
            .collect())
    }

    /// Every task's result at rank 0, in task order (rank 0 holds the task list too: zip them
    /// for the inputs), once every task succeeded; the other ranks get `None`.
    ///
    /// # Collective
    /// Every rank must call it.
    ///
    /// # Errors
    /// As [`Run::check`].
    ///
    /// # Examples
    /// ```
    /// use spmdkit::comm::inproc;
    /// let out = inproc::run(2, |comm| {
    ///     let pool = spmdkit::pool(2).unwrap();
    ///     let farm = spmdkit::Farm::new(&pool).quiet();
    ///     farm.run(comm, ["a", "bb", "ccc"].map(String::from), |_, s| s.len()).unwrap().collect(comm).unwrap()
    /// });
    /// assert_eq!(out, vec![Some(vec![1, 2, 3]), None]);
    /// ```
    #[track_caller]
    pub fn collect<C: Comm + ?Sized>(self, comm: &C) -> Result<Option<Vec<R>>, Error>
    where
        R: Serialize + DeserializeOwned,
    {
        self.check(comm)?;
        Ok(self.gather(comm).map(|all| {
            all.records
                .into_iter()
                .filter_map(|r| r.result.ok())
                .collect()
        }))
    }

    /// The sum of every task's result (a number, an array of numbers or an `ndarray` array)
    /// once every task succeeded: each result is the leaf of its task's id in the reproducible
    /// tree ([`reduce::tree`](crate::reduce::tree)), so the sum has the same bits for any number
    /// of ranks and threads and any schedule; rank 0 gets `Some`, the others `None` (and rank 0
    /// `None` when there was no task).
    ///
    /// # Collective
    /// Every rank must call it.
    ///
    /// # Errors
    /// As [`Run::check`].
    ///
    /// # Examples
    /// ```
    /// use spmdkit::comm::inproc;
    /// let out = inproc::run(3, |comm| {
    ///     let pool = spmdkit::pool(2).unwrap();
    ///     let run = spmdkit::Farm::new(&pool).quiet();
    ///     let run = run.run(comm, (1..=4u64).map(|k| k as f64), |_, &x| [x, x * x]).unwrap();
    ///     run.sum(comm).unwrap()
    /// });
    /// assert_eq!(out, vec![Some([10.0, 30.0]), None, None]);
    /// ```
    #[track_caller]
    pub fn sum<C: Comm + ?Sized>(self, comm: &C) -> Result<Option<R>, Error>
    where
        R: crate::reduce::Leaf,
    {
        let pool = self.pool;
        let results = self.results(comm)?;
        let mut leaves = crate::reduce::Leaves::new(pool);
        for (id, value) in results {
            leaves.insert(id, value.into_leaf());
        }
        Ok(crate::reduce::tree(comm, leaves).map(R::from_leaf))
    }
}

/// The task engine: how to run a list of tasks (policy, costs, progress) on a pool.
///
/// # Examples
/// ```
/// use spmdkit::comm::{inproc, Comm};
/// use spmdkit::{Farm, Policy};
/// let out = inproc::run(3, |comm| {
///     let pool = spmdkit::pool(2).unwrap();
///     let tasks: Vec<u64> = (0..10).collect(); // only rank 0's list is used
///     let run = Farm::new(&pool)
///         .policy(Policy::Dynamic)
///         .quiet()
///         .run(comm, tasks, |_ctx, t| t * t)
///         .unwrap();
///     run.gather(comm).map(|g| g.records.iter().map(|r| *r.result.as_ref().unwrap()).sum::<u64>())
/// });
/// assert_eq!(out[0], Some(285));
/// ```
pub struct Farm<'p> {
    pool: &'p ThreadPool,
    policy: Policy,
    costs: Option<Vec<f64>>,
    progress: Option<ProgressMode>,
}

impl<'p> Farm<'p> {
    /// An engine that runs tasks on `pool` (see [`pool`]) with the `dynamic` policy and progress
    /// on rank 0's stderr chosen by [`ProgressMode::choose`].
    pub fn new(pool: &'p ThreadPool) -> Self {
        Farm {
            pool,
            policy: Policy::Dynamic,
            costs: None,
            progress: None,
        }
    }

    /// The policy that assigns tasks to workers.
    pub fn policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The expected cost of each task (any unit, finite, ≥ 0), in list order, for `lpt`; read on
    /// rank 0 only. Ignored by the other policies.
    pub fn costs(mut self, costs: Vec<f64>) -> Self {
        self.costs = Some(costs);
        self
    }

    /// How progress is shown on rank 0's stderr.
    pub fn progress(mut self, mode: ProgressMode) -> Self {
        self.progress = Some(mode);
        self
    }

    /// No progress display.
    pub fn quiet(self) -> Self {
        self.progress(ProgressMode::Off)
    }

    /// Runs every task once and returns this rank's records. `tasks` (a `Vec`, a range, any
    /// iterator) is read on rank 0 only: the other ranks may pass an empty list. `work` runs on
    /// the pool's threads; a panic in it is caught and recorded as the task's failure, with its
    /// message and location.
    ///
    /// # Collective
    /// Every rank must call it, with the same policy, after building its pool.
    ///
    /// # Errors
    /// Bad input found on rank 0 before anything runs (`lpt` without a cost for every task, a
    /// cost that is negative or not finite); every rank returns it.
    ///
    /// # Panics
    /// If `work` panics outside a task (it cannot: panics in `work` are the task's) or a backend
    /// invariant breaks; a message that does not decode aborts the job instead.
    #[track_caller]
    pub fn run<C, T, R, F>(
        &self,
        comm: &C,
        tasks: impl IntoIterator<Item = T>,
        work: F,
    ) -> Result<Run<'p, R>, Error>
    where
        C: Comm + ?Sized,
        T: Serialize + DeserializeOwned + Send + Sync,
        R: Send,
        F: Fn(Ctx, &T) -> R + Sync,
    {
        let tasks: Vec<T> = if comm.rank() == 0 {
            tasks.into_iter().collect()
        } else {
            Vec::new()
        };
        collective::enter(comm, collective::Call::Farm);
        let root = comm.rank() == 0;
        let lanes = collective::gather(comm, 0, &self.pool.current_num_threads());
        let mode = match self.progress {
            Some(mode) => Ok(mode),
            None => ProgressMode::choose(false, comm.backend() == crate::comm::Backend::Mpi)
                .map_err(Error::bad_input),
        };
        let checked = if root {
            self.check_costs(tasks.len()).and(mode)
        } else {
            Ok(ProgressMode::Off)
        };
        let mode = agree(comm, checked)?;
        let mine: Vec<(usize, usize, T)> = if self.policy.is_static() {
            let plan = lanes.as_ref().map(|lanes| self.plan(&tasks, lanes));
            collective::scatter_as(comm, 0, plan)
        } else {
            Vec::new()
        };
        let mut progress = root.then(|| Progress::new(tasks.len(), mode));

        comm.barrier();
        let epoch = Instant::now();
        let running = Running {
            pool: self.pool,
            epoch,
            done: AtomicUsize::new(0),
            rank: comm.rank(),
        };
        let records = match &lanes {
            _ if self.policy.is_static() => running.lanes(comm, mine, &work, &mut progress),
            Some(lanes) => running.serve(comm, &tasks, lanes, &work, &mut progress),
            None => running.ask(comm, &work),
        };
        if let Some(p) = progress.take() {
            p.finish(tasks.len());
        }
        // One clock for all: zero is the moment the first rank left the barrier (the rank whose
        // clock is furthest ahead of rank 0's); shifting keeps every duration exact.
        let shifts = clock_offsets(comm, epoch).map(|offsets| {
            let lead = offsets.iter().copied().fold(0.0, f64::max);
            offsets.iter().map(|o| lead - o).collect::<Vec<f64>>()
        });
        let shift: f64 = collective::scatter(comm, 0, shifts);
        let records = records
            .into_iter()
            .map(|mut r| {
                r.start_s += shift;
                r.end_s += shift;
                r
            })
            .collect();
        Ok(Run {
            pool: self.pool,
            records,
            threads: lanes.unwrap_or_default(),
            tasks: tasks.len(),
            epoch,
            shift,
        })
    }

    /// [`Farm::run`] for tasks that can fail: `work` returns `Result<R, E>`, and an `Err` is
    /// recorded as the task's failure with the error's message, as a panic is.
    ///
    /// # Collective
    /// As [`Farm::run`].
    ///
    /// # Errors
    /// As [`Farm::run`].
    #[track_caller]
    pub fn try_run<C, T, R, E, F>(
        &self,
        comm: &C,
        tasks: impl IntoIterator<Item = T>,
        work: F,
    ) -> Result<Run<'p, R>, Error>
    where
        C: Comm + ?Sized,
        T: Serialize + DeserializeOwned + Send + Sync,
        R: Send,
        E: std::fmt::Display,
        F: Fn(Ctx, &T) -> Result<R, E> + Sync,
    {
        let run = self.run(comm, tasks, |ctx, t| {
            work(ctx, t).map_err(|e| e.to_string())
        })?;
        Ok(Run {
            records: run.records.into_iter().map(Record::flatten).collect(),
            pool: run.pool,
            threads: run.threads,
            tasks: run.tasks,
            epoch: run.epoch,
            shift: run.shift,
        })
    }

    fn check_costs(&self, tasks: usize) -> Result<(), Error> {
        if self.policy != Policy::Lpt {
            return Ok(());
        }
        let Some(costs) = &self.costs else {
            return Err(Error::bad_input(
                "the lpt schedule needs a cost for each task (Farm::costs)",
            ));
        };
        if costs.len() != tasks {
            return Err(Error::bad_input(format!(
                "the lpt schedule got {} costs for {tasks} tasks",
                costs.len()
            )));
        }
        if let Some((id, c)) = costs
            .iter()
            .enumerate()
            .find(|(_, c)| !c.is_finite() || **c < 0.0)
        {
            return Err(Error::bad_input(format!(
                "the cost of task {id} is {c}; costs must be finite and not negative"
            )));
        }
        Ok(())
    }

    /// Rank 0's plan for a static policy: for each rank, its tasks as (id, lane, task).
    fn plan<'t, T>(&self, tasks: &'t [T], lanes: &[usize]) -> Vec<Vec<(usize, usize, &'t T)>> {
        let uniform;
        let costs: &[f64] = match &self.costs {
            Some(c) if self.policy == Policy::Lpt => c,
            _ => {
                uniform = vec![1.0; tasks.len()];
                &uniform
            }
        };
        assign(costs, self.policy, lanes)
            .into_iter()
            .map(|rank| {
                rank.into_iter()
                    .map(|Assigned { id, lane }| (id, lane, &tasks[id]))
                    .collect()
            })
            .collect()
    }
}

/// One rank's execution: its pool, the clock, and its count of finished tasks.
struct Running<'p> {
    pool: &'p ThreadPool,
    epoch: Instant,
    done: AtomicUsize,
    rank: usize,
}

/// A request from a rank for more work: (tasks it has finished, threads waiting for work).
type Request = (u64, u64);

impl Running<'_> {
    fn record<R>(&self, id: usize, o: Outcome<R>) -> Record<R> {
        Record {
            id,
            rank: self.rank,
            thread: o.thread,
            start_s: o.start_s,
            end_s: o.end_s,
            result: o.result,
        }
    }

    fn ctx(&self, id: usize, thread: usize) -> Ctx {
        Ctx {
            id,
            rank: self.rank,
            thread,
        }
    }

    /// Static policies: every thread runs its lane; ranks other than 0 report their count when
    /// done, while rank 0 follows progress.
    fn lanes<C, T, R, F>(
        &self,
        comm: &C,
        mine: Vec<(usize, usize, T)>,
        work: &F,
        progress: &mut Option<Progress>,
    ) -> Vec<Record<R>>
    where
        C: Comm + ?Sized,
        T: Sync,
        R: Send,
        F: Fn(Ctx, &T) -> R + Sync,
    {
        let outcomes = std::thread::scope(|s| {
            let workers = s.spawn(|| {
                lanes::run_lanes(
                    self.pool,
                    &mine,
                    |t| t.1,
                    self.epoch,
                    &self.done,
                    |t, thread| {
                        let ctx = self.ctx(t.0, thread);
                        lanes::as_task(ctx, || work(ctx, &t.2))
                    },
                )
            });
            if comm.rank() == 0 {
                self.follow(comm, progress, &|| workers.is_finished(), &mut |_, _| {});
            } else {
                beat_until_finished(comm, &workers);
            }
            workers
                .join()
                .expect("task panics are caught in the workers")
        });
        if comm.rank() != 0 {
            comm.send(
                0,
                tags::FARM_FINISHED,
                &collective::encode(&(mine.len() as u64)),
            );
        }
        outcomes
            .into_iter()
            .map(|o| self.record(mine[o.index].0, o))
            .collect()
    }

    /// Rank 0 under `dynamic`: its threads take chunks from the cursor directly while its main
    /// thread answers the other ranks' requests.
    fn serve<C, T, R, F>(
        &self,
        comm: &C,
        tasks: &[T],
        lanes: &[usize],
        work: &F,
        progress: &mut Option<Progress>,
    ) -> Vec<Record<R>>
    where
        C: Comm + ?Sized,
        T: Serialize + Sync,
        R: Send,
        F: Fn(Ctx, &T) -> R + Sync,
    {
        let cursor = Mutex::new(Guided::new(tasks.len(), lanes.iter().sum()));
        let take = |threads: usize, waiting: usize| {
            let mut cursor = cursor.lock().unwrap_or_else(|e| e.into_inner());
            cursor.take_at_least(threads, waiting)
        };
        // Rank 0's threads share one local queue like every other rank's, and refill it from the
        // cursor themselves when a thread finds it empty, in chunks for all its threads.
        let feed = Feed::default();
        let next = || {
            if feed.is_empty() && !feed.is_closed() {
                // The threads already waiting, and this one.
                let chunk = take(lanes[0], feed.demand() + 1);
                if chunk.is_empty() {
                    feed.close();
                } else {
                    feed.push_many(chunk);
                }
            }
            feed.pop().into_iter().collect()
        };
        let pulled = std::thread::scope(|s| {
            let workers = s.spawn(|| {
                lanes::run_pulled(self.pool, next, self.epoch, &self.done, |&id, thread| {
                    let ctx = self.ctx(id, thread);
                    lanes::as_task(ctx, || work(ctx, &tasks[id]))
                })
            });
            self.follow(
                comm,
                progress,
                &|| workers.is_finished(),
                &mut |src, waiting| {
                    let range = take(lanes[src], waiting);
                    let chunk = (range.start, &tasks[range]);
                    comm.send(src, tags::FARM_CHUNK, &collective::encode(&chunk));
                },
            );
            workers
                .join()
                .expect("task panics are caught in the workers")
        });
        pulled
            .into_iter()
            .map(|(id, o)| self.record(id, o))
            .collect()
    }

    /// Ranks other than 0 under `dynamic`: the main thread asks rank 0 for a chunk whenever more
    /// threads wait for work than tasks are queued.
    fn ask<C, T, R, F>(&self, comm: &C, work: &F) -> Vec<Record<R>>
    where
        C: Comm + ?Sized,
        T: DeserializeOwned + Send + Sync,
        R: Send,
        F: Fn(Ctx, &T) -> R + Sync,
    {
        let feed: Feed<(usize, T)> = Feed::default();
        let pulled = std::thread::scope(|s| {
            let workers = s.spawn(|| {
                let next = || feed.pop().into_iter().collect();
                lanes::run_pulled(self.pool, next, self.epoch, &self.done, |t, thread| {
                    let ctx = self.ctx(t.0, thread);
                    lanes::as_task(ctx, || work(ctx, &t.1))
                })
            });
            loop {
                if !feed.wait_for_demand(Duration::from_millis(10)) {
                    comm.pulse();
                    continue;
                }
                let request: Request = (
                    self.done.load(Ordering::Relaxed) as u64,
                    feed.demand() as u64,
                );
                comm.send(0, tags::FARM_REQUEST, &collective::encode(&request));
                let (start, chunk): (usize, Vec<T>) = collective::decode_or_abort(
                    comm,
                    &comm.recv(0, tags::FARM_CHUNK),
                    "a chunk of tasks from rank 0",
                );
                if chunk.is_empty() {
                    feed.close();
                    break;
                }
                feed.push_many(chunk.into_iter().enumerate().map(|(i, t)| (start + i, t)));
            }
            beat_until_finished(comm, &workers);
            workers
                .join()
                .expect("task panics are caught in the workers")
        });
        comm.send(
            0,
            tags::FARM_FINISHED,
            &collective::encode(&(pulled.len() as u64)),
        );
        pulled
            .into_iter()
            .map(|((id, _), o)| self.record(id, o))
            .collect()
    }

    /// Rank 0's main thread while tasks run: answers requests with `serve`, collects the other
    /// ranks' "finished" messages, and shows progress, until every rank and the local threads
    /// are done. Sleeps briefly (50 µs, backing off to 250 µs) when there is nothing to do, so its
    /// own worker threads keep the cores.
    fn follow<C: Comm + ?Sized>(
        &self,
        comm: &C,
        progress: &mut Option<Progress>,
        local_finished: &dyn Fn() -> bool,
        serve: &mut dyn FnMut(usize, usize),
    ) {
        let mut remote = vec![0usize; comm.size()];
        let mut finished = 0;
        let mut pause = lanes::Backoff::default();
        loop {
            let mut busy = false;
            while let Some((src, payload)) = comm.try_recv_any(tags::FARM_REQUEST) {
                let (done, waiting): Request =
                    collective::decode_or_abort(comm, &payload, "a request for work");
                remote[src] = done as usize;
                serve(src, waiting as usize);
                busy = true;
            }
            while let Some((src, payload)) = comm.try_recv_any(tags::FARM_FINISHED) {
                let count: u64 = collective::decode_or_abort(comm, &payload, "a task count");
                remote[src] = count as usize;
                finished += 1;
                busy = true;
            }
            if let Some(p) = progress.as_mut() {
                p.update(self.done.load(Ordering::Relaxed) + remote.iter().sum::<usize>());
            }
            if finished == comm.size() - 1 && local_finished() {
                return;
            }
            comm.pulse();
            pause.after(busy);
        }
    }
}

/// Keeps the heartbeat going until the threads are done (their last task may take hours).
fn beat_until_finished<C: Comm + ?Sized, R>(
    comm: &C,
    workers: &std::thread::ScopedJoinHandle<'_, R>,
) {
    let mut pause = lanes::Backoff::default();
    while !workers.is_finished() {
        comm.pulse();
        pause.after(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Task {
        seed: u64,
        n: u64,
    }

    fn policies() -> Vec<Policy> {
        Policy::ALL.iter().map(|(p, _)| *p).collect()
    }

    #[test]
    fn every_policy_runs_every_task_once_at_many_sizes() {
        for size in [1, 2, 3, 5, 8] {
            for policy in policies() {
                let out = inproc::run(size, |comm| {
                    let pool = pool(2).unwrap();
                    let tasks: Vec<Task> = if comm.rank() == 0 {
                        (0..23).map(|i| Task { seed: i, n: i % 4 }).collect()
                    } else {
                        Vec::new()
                    };
                    let costs = (0..23).map(|i| (i % 5) as f64).collect();
                    let run = Farm::new(&pool)
                        .policy(policy)
                        .costs(costs)
                        .quiet()
                        .run(comm, tasks, |ctx, t| (ctx.id as u64, t.seed * 10 + t.n))
                        .unwrap();
                    let local: Vec<(usize, usize)> =
                        run.records().iter().map(|r| (r.id, r.rank)).collect();
                    (local, run.gather(comm))
                });
                let gathered = out[0].1.as_ref().expect("rank 0 gathers");
                assert_eq!(gathered.threads, vec![2; size]);
                for (i, r) in gathered.records.iter().enumerate() {
                    assert_eq!(r.id, i);
                    assert_eq!(r.result, Ok((i as u64, i as u64 * 10 + i as u64 % 4)));
                    assert!(r.rank < size && r.thread < 2 && r.end_s >= r.start_s);
                    // Each rank holds exactly the records the gather says it ran.
                    assert!(out[r.rank].0.contains(&(r.id, r.rank)), "{policy} P={size}");
                }
                let local_total: usize = out.iter().map(|o| o.0.len()).sum();
                assert_eq!(local_total, 23);
                assert!(out[1..].iter().all(|o| o.1.is_none()));
            }
        }
    }

    #[test]
    fn a_panicking_task_is_a_failed_record_and_the_others_run() {
        for policy in policies() {
            let out = inproc::run(3, |comm| {
                let pool = pool(2).unwrap();
                Farm::new(&pool)
                    .policy(policy)
                    .costs(vec![1.0; 9])
                    .quiet()
                    .run(comm, 0..9u32, |_, &t| {
                        if t == 4 {
                            panic!("task {t} broke");
                        }
                        t
                    })
                    .unwrap()
                    .gather(comm)
            });
            let records = &out[0].as_ref().unwrap().records;
            assert_eq!(records[4].result, Err("task 4 broke".to_string()));
            assert!(records.iter().filter(|r| r.result.is_ok()).count() == 8);
        }
    }

    #[test]
    fn lpt_without_costs_or_with_a_bad_cost_is_refused_on_every_rank() {
        for costs in [None, Some(vec![1.0]), Some(vec![1.0, f64::NAN])] {
            let out = inproc::run(2, |comm| {
                let pool = pool(1).unwrap();
                let mut farm = Farm::new(&pool).policy(Policy::Lpt).quiet();
                if let Some(c) = &costs {
                    farm = farm.costs(c.clone());
                }
                farm.run(comm, vec![1u8, 2], |_, t| *t).map(|_| ())
            });
            for o in out {
                let e = o.unwrap_err();
                assert_eq!(e.exit_code(), 2);
                assert!(
                    e.message().contains("lpt") || e.message().contains("cost"),
                    "{e}"
                );
            }
        }
    }

    #[test]
    fn lpt_balances_by_cost_across_ranks() {
        let out = inproc::run(2, |comm| {
            let pool = pool(1).unwrap();
            let costs = vec![4.0, 1.0, 1.0, 1.0, 1.0];
            Farm::new(&pool)
                .policy(Policy::Lpt)
                .costs(costs)
                .quiet()
                .run(comm, vec![(); 5], |_, _| ())
                .unwrap()
                .gather(comm)
        });
        let records = &out[0].as_ref().unwrap().records;
        // The long task alone on one worker, the four short ones on the other.
        let rank_of_long = records[0].rank;
        assert!(records[1..].iter().all(|r| r.rank != rank_of_long));
    }

    #[test]
    fn the_context_names_the_task_rank_and_thread() {
        let out = inproc::run(2, |comm| {
            let pool = pool(3).unwrap();
            Farm::new(&pool)
                .quiet()
                .run(comm, vec![0u8; 40], |ctx, _| (ctx.id, ctx.rank, ctx.thread))
                .unwrap()
                .gather(comm)
        });
        for r in &out[0].as_ref().unwrap().records {
            assert_eq!(r.result, Ok((r.id, r.rank, r.thread)));
        }
    }
}
