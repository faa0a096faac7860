//! The `sleep` workload: uneven sleep tasks on ranks × threads workers.
//!
//! 1. Rank 0 gathers every rank's thread count, plans all W workers at once
//!    ([`plan::assign`]) and scatters each rank its task descriptors.
//! 2. Every rank builds its pool; a failure to start threads on any rank is agreed on, so all
//!    ranks stop together instead of waiting in the barrier.
//! 3. A barrier starts the clocks: each rank measures times from the moment it left the barrier.
//!    At the end rank 0 measures each rank's offset ([`clock_offsets`]) and puts every record on
//!    one clock whose zero is the first rank's exit from the barrier, so records of different
//!    ranks are comparable to within microseconds.
//! 4. Each thread sleeps through its lane (static schedules), or takes chunks as it runs out
//!    (`dynamic`, see [`plan::dynamic`]); rank 0 follows progress, then gathers the records.

use crate::cli::SleepConfig;
use crate::fault::Faults;
use crate::local::{self, Feed};
use crate::plan::dynamic::{Guided, TAG_CHUNK, TAG_FINISHED, TAG_REQUEST};
use crate::plan::{self, Assigned};
use crate::progress::{Mode, Progress};
use crate::report::{RankLoad, SleepReport, TaskRecord};
use crate::scatter;
use crate::wire::{self, Wire, WireError};
use crate::world::{agree, clock_offsets, Agreed, Comm};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What rank 0 sends each rank: one task.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TaskSpec {
    id: usize,
    duration_s: f64,
    lane: usize,
}

impl Wire for TaskSpec {
    fn put(&self, out: &mut Vec<u8>) {
        self.id.put(out);
        self.duration_s.put(out);
        self.lane.put(out);
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        Ok(TaskSpec {
            id: usize::take(input)?,
            duration_s: f64::take(input)?,
            lane: usize::take(input)?,
        })
    }
}

/// What each rank sends back: one record per task (without the rank, which the gather knows).
#[derive(Debug, Clone, PartialEq)]
struct Done {
    id: usize,
    duration_s: f64,
    thread: usize,
    start_s: f64,
    end_s: f64,
    result: Result<String, String>,
}

impl Wire for Done {
    fn put(&self, out: &mut Vec<u8>) {
        self.id.put(out);
        self.duration_s.put(out);
        self.thread.put(out);
        self.start_s.put(out);
        self.end_s.put(out);
        self.result.put(out);
    }
    fn take(input: &mut &[u8]) -> Result<Self, WireError> {
        Ok(Done {
            id: usize::take(input)?,
            duration_s: f64::take(input)?,
            thread: usize::take(input)?,
            start_s: f64::take(input)?,
            end_s: f64::take(input)?,
            result: Result::take(input)?,
        })
    }
}

/// The text a sleep task returns, as in the classic example: `Sleep time 0.5`.
pub fn sleep_result(duration_s: f64) -> String {
    format!("Sleep time {duration_s:?}")
}

/// Runs the `sleep` workload. Rank 0 returns the report; the other ranks `None`.
///
/// # Collective
/// Every rank must call it with the configuration it built from the same command line.
///
/// # Errors
/// An [`Agreed`] failure when some rank could not start its threads; every rank returns it.
pub fn run<C: Comm + ?Sized>(
    comm: &C,
    config: &SleepConfig,
) -> Result<Option<SleepReport>, Agreed> {
    let root = comm.rank() == 0;
    let lanes = scatter::gather(comm, 0, &config.threads.count);
    let mine: Vec<TaskSpec> = if config.schedule.is_static() {
        let plan = lanes.as_ref().map(|lanes| {
            plan::assign(&config.durations, config.schedule, lanes)
                .into_iter()
                .map(|tasks| {
                    tasks
                        .into_iter()
                        .map(|Assigned { id, lane }| spec(&config.durations, id, lane))
                        .collect::<Vec<_>>()
                })
                .collect()
        });
        scatter::scatter(comm, 0, plan)
    } else {
        Vec::new()
    };

    let pool = agree(
        comm,
        local::pool(config.threads.count).map_err(|e| (1, e.to_string())),
    )?;
    let mut progress = root.then(|| {
        let under_launcher = comm.backend() == "mpi";
        Progress::new(
            config.durations.len(),
            Mode::choose(config.quiet, under_launcher),
        )
    });

    comm.barrier();
    let epoch = Instant::now();
    config.faults.arm(comm.rank());
    let run = Running {
        pool: &pool,
        epoch,
        done: AtomicUsize::new(0),
        faults: &config.faults,
    };
    let done = if config.schedule.is_static() {
        run.lanes(comm, &mine, &mut progress)
    } else {
        run.dynamic(comm, config, lanes.as_deref(), &mut progress)
    };
    if let Some(p) = progress.take() {
        p.finish(if root { config.durations.len() } else { 0 });
    }
    let offsets = clock_offsets(comm, epoch);
    let gathered = scatter::gather(comm, 0, &done);
    let wall_s = epoch.elapsed().as_secs_f64();
    if !root {
        return Ok(None);
    }
    let (Some(mut per_rank), Some(lanes), Some(offsets)) = (gathered, lanes, offsets) else {
        unreachable!("rank 0 is the root of the gathers and the clock")
    };
    // One clock for all: zero is the moment the first rank left the barrier (the rank whose
    // clock is furthest ahead of rank 0's); shifting keeps every duration exact.
    let lead = offsets.iter().copied().fold(0.0, f64::max);
    for (records, offset) in per_rank.iter_mut().zip(&offsets) {
        for d in records.iter_mut() {
            d.start_s += lead - offset;
            d.end_s += lead - offset;
        }
    }
    Ok(Some(build_report(
        comm,
        config,
        per_rank,
        lanes,
        wall_s + lead,
    )))
}

fn spec(durations: &[f64], id: usize, lane: usize) -> TaskSpec {
    TaskSpec {
        id,
        duration_s: durations[id],
        lane,
    }
}

fn sleep_task(t: &TaskSpec, faults: &Faults) -> String {
    if faults.task_panics(t.id) {
        panic!("injected fault: task {} panics", t.id);
    }
    std::thread::sleep(Duration::from_secs_f64(t.duration_s));
    sleep_result(t.duration_s)
}

fn done_record(t: &TaskSpec, o: local::Outcome<String>) -> Done {
    Done {
        id: t.id,
        duration_s: t.duration_s,
        thread: o.thread,
        start_s: o.start_s,
        end_s: o.end_s,
        result: o.result,
    }
}

/// One rank's execution: its pool, the common clock, and its count of finished tasks.
struct Running<'p> {
    pool: &'p rayon::ThreadPool,
    epoch: Instant,
    done: AtomicUsize,
    faults: &'p Faults,
}

impl Running<'_> {
    /// Static schedules: every thread runs its lane; ranks other than 0 report their count when
    /// done, while rank 0 follows progress.
    fn lanes<C: Comm + ?Sized>(
        &self,
        comm: &C,
        mine: &[TaskSpec],
        progress: &mut Option<Progress>,
    ) -> Vec<Done> {
        let outcomes = std::thread::scope(|s| {
            let workers = s.spawn(|| {
                local::run_lanes(
                    self.pool,
                    mine,
                    |t| t.lane,
                    self.epoch,
                    &self.done,
                    |t| sleep_task(t, self.faults),
                )
            });
            if comm.rank() == 0 {
                self.follow(comm, progress, &|| workers.is_finished(), &mut |_, _| {});
            }
            workers
                .join()
                .expect("task panics are caught in the workers")
        });
        if comm.rank() != 0 {
            comm.send(0, TAG_FINISHED, &wire::encode(&(mine.len() as u64)));
        }
        outcomes
            .into_iter()
            .map(|o| done_record(&mine[o.index], o))
            .collect()
    }

    /// The dynamic schedule: rank 0's threads take chunks from the cursor directly while its main
    /// thread answers the other ranks' requests; the other ranks' main threads ask rank 0 for a
    /// chunk whenever more of their threads wait for work than tasks are queued.
    fn dynamic<C: Comm + ?Sized>(
        &self,
        comm: &C,
        config: &SleepConfig,
        lanes: Option<&[usize]>,
        progress: &mut Option<Progress>,
    ) -> Vec<Done> {
        let pulled = if let Some(lanes) = lanes {
            let durations = &config.durations;
            let cursor = Mutex::new(Guided::new(durations.len(), lanes.iter().sum()));
            let take = |threads: usize, waiting: usize| -> Vec<TaskSpec> {
                let mut cursor = cursor.lock().unwrap_or_else(|e| e.into_inner());
                let range = cursor.take_at_least(threads, waiting);
                range.map(|id| spec(durations, id, 0)).collect()
            };
            // Rank 0's threads share one local queue like every other rank's, and refill it from
            // the cursor themselves when a thread finds it empty, in chunks for all its threads.
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
            std::thread::scope(|s| {
                let workers = s.spawn(|| {
                    local::run_pulled(self.pool, next, self.epoch, &self.done, |t| {
                        sleep_task(t, self.faults)
                    })
                });
                self.follow(
                    comm,
                    progress,
                    &|| workers.is_finished(),
                    &mut |src, waiting| {
                        comm.send(src, TAG_CHUNK, &wire::encode(&take(lanes[src], waiting)));
                    },
                );
                workers
                    .join()
                    .expect("task panics are caught in the workers")
            })
        } else {
            let feed = Feed::default();
            let pulled = std::thread::scope(|s| {
                let workers = s.spawn(|| {
                    let next = || feed.pop().into_iter().collect();
                    local::run_pulled(self.pool, next, self.epoch, &self.done, |t| {
                        sleep_task(t, self.faults)
                    })
                });
                loop {
                    if !feed.wait_for_demand(Duration::from_millis(100)) {
                        continue;
                    }
                    let finished = self.done.load(Ordering::Relaxed) as u64;
                    let request = vec![finished, feed.demand() as u64];
                    comm.send(0, TAG_REQUEST, &wire::encode(&request));
                    let chunk: Vec<TaskSpec> = wire::decode(&comm.recv(0, TAG_CHUNK))
                        .unwrap_or_else(|e| comm.abort(1, &format!("bad chunk from rank 0: {e}")));
                    if chunk.is_empty() {
                        feed.close();
                        break;
                    }
                    feed.push_many(chunk);
                }
                workers
                    .join()
                    .expect("task panics are caught in the workers")
            });
            comm.send(0, TAG_FINISHED, &wire::encode(&(pulled.len() as u64)));
            pulled
        };
        pulled
            .into_iter()
            .map(|(t, o)| done_record(&t, o))
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
        let count = |bytes: &[u8], src: usize| -> usize {
            wire::decode::<u64>(bytes)
                .unwrap_or_else(|e| comm.abort(1, &format!("bad count from rank {src}: {e}")))
                as usize
        };
        let request = |bytes: &[u8], src: usize| -> (usize, usize) {
            match wire::decode::<Vec<u64>>(bytes).as_deref() {
                Ok([finished, waiting]) => (*finished as usize, *waiting as usize),
                _ => comm.abort(1, &format!("bad request from rank {src}")),
            }
        };
        let mut remote = vec![0usize; comm.size()];
        let mut finished = 0;
        let mut pause = Duration::from_micros(50);
        loop {
            let mut busy = false;
            while let Some((src, payload)) = comm.try_recv_any(TAG_REQUEST) {
                let (finished, waiting) = request(&payload, src);
                remote[src] = finished;
                serve(src, waiting);
                busy = true;
            }
            while let Some((src, payload)) = comm.try_recv_any(TAG_FINISHED) {
                remote[src] = count(&payload, src);
                finished += 1;
                busy = true;
            }
            if let Some(p) = progress.as_mut() {
                p.update(self.done.load(Ordering::Relaxed) + remote.iter().sum::<usize>());
            }
            if finished == comm.size() - 1 && local_finished() {
                return;
            }
            if busy {
                pause = Duration::from_micros(50);
            } else {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_micros(250));
            }
        }
    }
}

fn build_report<C: Comm + ?Sized>(
    comm: &C,
    config: &SleepConfig,
    per_rank: Vec<Vec<Done>>,
    lanes: Vec<usize>,
    wall_s: f64,
) -> SleepReport {
    let mut tasks: Vec<TaskRecord> = per_rank
        .into_iter()
        .enumerate()
        .flat_map(|(rank, done)| {
            done.into_iter().map(move |d| {
                let (result, error) = match d.result {
                    Ok(text) => (Some(text), None),
                    Err(e) => (None, Some(e)),
                };
                TaskRecord {
                    id: d.id,
                    duration_s: d.duration_s,
                    rank,
                    thread: d.thread,
                    start_s: d.start_s,
                    end_s: d.end_s,
                    result,
                    error,
                }
            })
        })
        .collect();
    tasks.sort_by_key(|t| t.id);
    if tasks.len() != config.durations.len() {
        comm.abort(
            1,
            &format!(
                "gathered {} records for {} tasks",
                tasks.len(),
                config.durations.len()
            ),
        );
    }
    let workers: usize = lanes.iter().sum();
    let total_sleep_s: f64 = config.durations.iter().sum();
    let ideal_s = plan::ideal_makespan(&config.durations, workers);
    let makespan_s = tasks.iter().map(|t| t.end_s).fold(0.0, f64::max);
    let failed = tasks
        .iter()
        .filter(|t| t.error.is_some())
        .map(|t| t.id)
        .collect();
    let mut per_rank: Vec<RankLoad> = lanes
        .iter()
        .enumerate()
        .map(|(rank, &threads)| RankLoad {
            rank,
            threads,
            tasks: 0,
            busy_s: 0.0,
            idle_s: 0.0,
        })
        .collect();
    for t in &tasks {
        per_rank[t.rank].tasks += 1;
        per_rank[t.rank].busy_s += t.end_s - t.start_s;
    }
    for r in &mut per_rank {
        r.idle_s = (r.threads as f64 * makespan_s - r.busy_s).max(0.0);
    }
    SleepReport {
        command: "sleep",
        ranks: comm.size(),
        threads_per_rank: lanes.iter().copied().max().unwrap_or(1),
        threads: lanes,
        workers,
        schedule: config.schedule.to_string(),
        tasks,
        total_sleep_s,
        wall_s,
        makespan_s,
        ideal_s,
        speedup: if wall_s > 0.0 {
            total_sleep_s / wall_s
        } else {
            0.0
        },
        efficiency: if wall_s > 0.0 { ideal_s / wall_s } else { 0.0 },
        failed,
        per_rank,
        version: env!("CARGO_PKG_VERSION").to_string(),
        mpi_library: super::mpi_library_for(comm.backend()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Threads;
    use crate::plan::Policy;
    use crate::world::inproc;

    fn config(durations: Vec<f64>, schedule: Policy, threads: usize) -> SleepConfig {
        SleepConfig {
            durations,
            schedule,
            threads: Threads {
                count: threads,
                origin: "--threads",
            },
            json: false,
            quiet: true,
            output: None,
            faults: Faults::default(),
        }
    }

    #[test]
    fn every_task_is_reported_once_in_id_order_at_many_sizes() {
        for size in [1, 2, 3, 5, 8] {
            for (policy, _) in Policy::ALL {
                let durations: Vec<f64> = (0..11).map(|i| (i % 3) as f64 * 0.001).collect();
                let out = inproc::run(size, |comm| {
                    let d = if comm.rank() == 0 {
                        durations.clone()
                    } else {
                        Vec::new()
                    };
                    run(comm, &config(d, policy, 2)).unwrap()
                });
                let report = out[0].as_ref().expect("rank 0 reports");
                assert!(out[1..].iter().all(Option::is_none));
                let ids: Vec<usize> = report.tasks.iter().map(|t| t.id).collect();
                assert_eq!(ids, (0..11).collect::<Vec<_>>());
                assert_eq!(report.workers, size * 2);
                for t in &report.tasks {
                    assert!(t.rank < size && t.thread < 2);
                    assert_eq!(
                        t.result.as_deref(),
                        Some(sleep_result(t.duration_s).as_str())
                    );
                    assert!(t.end_s >= t.start_s + t.duration_s);
                }
                assert!(report.failed.is_empty());
            }
        }
    }

    #[test]
    fn more_ranks_than_tasks_works() {
        let out = inproc::run(6, |comm| {
            let d = if comm.rank() == 0 {
                vec![0.002, 0.001]
            } else {
                Vec::new()
            };
            run(comm, &config(d, Policy::Lpt, 1)).unwrap()
        });
        let report = out[0].as_ref().unwrap();
        assert_eq!(report.tasks.len(), 2);
        assert_ne!(report.tasks[0].rank, report.tasks[1].rank);
    }

    #[test]
    fn results_read_like_the_classic_example() {
        assert_eq!(sleep_result(0.1), "Sleep time 0.1");
        assert_eq!(sleep_result(1.0), "Sleep time 1.0");
    }
}
