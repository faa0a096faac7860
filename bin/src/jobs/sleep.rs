//! The `sleep` workload: uneven sleep tasks on ranks × threads workers, a thin client of the
//! task engine ([`Farm`]): each task is a duration, the work a closure that sleeps for it.
//!
//! Rank 0 holds the durations; they are the costs `lpt` plans with. The engine runs every task
//! once on the W = Σ threads workers, puts the records on the job's common clock and gathers them
//! at rank 0, which builds the report: wall time, the ideal makespan max(longest, total / W),
//! speedup, efficiency and each rank's busy and idle time.

use super::fault::Faults;
use serde::Serialize;
use spmdkit::comm::Comm;
use spmdkit::farm::{self, Farm, Gathered, Policy, ProgressMode};
use spmdkit::{agree, Error};
use std::time::Duration;

/// The parameters of a `sleep` run.
#[derive(Debug, Clone)]
pub struct SleepParams {
    /// The task durations in seconds (read on rank 0 only; the others may leave it empty).
    pub durations: Vec<f64>,
    /// The assignment policy.
    pub schedule: Policy,
    /// This rank's worker threads.
    pub threads: usize,
    /// How rank 0 shows progress.
    pub progress: ProgressMode,
    /// Injected faults (testing only).
    #[doc(hidden)]
    pub faults: Faults,
}

/// One task of a `sleep` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRecord {
    /// Index in the input list.
    pub id: usize,
    /// Requested duration, seconds.
    pub duration_s: f64,
    /// The rank that ran it.
    pub rank: usize,
    /// The thread (lane) of that rank that ran it.
    pub thread: usize,
    /// Start on the job's common clock (seconds since the first rank left the starting barrier).
    pub start_s: f64,
    /// End on the same clock.
    pub end_s: f64,
    /// `Sleep time <d>`, or `None` when the task failed.
    pub result: Option<String>,
    /// The panic message of a failed task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How busy one rank was in a `sleep` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankLoad {
    /// The rank.
    pub rank: usize,
    /// Its worker threads.
    pub threads: usize,
    /// Tasks it ran.
    pub tasks: usize,
    /// Time its threads spent in tasks, summed over threads.
    pub busy_s: f64,
    /// threads × makespan − busy: time its threads could have worked but did not.
    pub idle_s: f64,
}

/// The report of a `sleep` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SleepReport {
    /// Always `"sleep"`.
    pub command: &'static str,
    /// Number of ranks.
    pub ranks: usize,
    /// Worker threads per rank (the largest, if ranks differ; see `threads`).
    pub threads_per_rank: usize,
    /// Worker threads of each rank.
    pub threads: Vec<usize>,
    /// W, the total number of workers.
    pub workers: usize,
    /// The assignment policy.
    pub schedule: String,
    /// One record per task, ordered by id.
    pub tasks: Vec<TaskRecord>,
    /// Sum of all durations: the sequential time.
    pub total_sleep_s: f64,
    /// From the common start until rank 0 held every record (same clock as the tasks).
    pub wall_s: f64,
    /// From the common start until the last task ended.
    pub makespan_s: f64,
    /// The lower bound max(longest task, total / W).
    pub ideal_s: f64,
    /// total_sleep_s / wall_s.
    pub speedup: f64,
    /// ideal_s / wall_s.
    pub efficiency: f64,
    /// Ids of the tasks that failed.
    pub failed: Vec<usize>,
    /// Load of each rank, to see imbalance.
    pub per_rank: Vec<RankLoad>,
    /// spmdkit's version.
    pub version: String,
    /// The MPI library, or `none` for a run without a launcher.
    pub mpi_library: String,
}

/// The text a sleep task returns, as in the classic example: `Sleep time 0.5`.
pub fn sleep_result(duration_s: f64) -> String {
    format!("Sleep time {duration_s:?}")
}

/// Runs the `sleep` workload. Rank 0 returns the report; the other ranks `None`.
///
/// # Collective
/// Every rank must call it with the parameters built from the same command line.
///
/// # Errors
/// When some rank could not start its threads; every rank returns it.
pub fn run<C: Comm + ?Sized>(comm: &C, params: &SleepParams) -> Result<Option<SleepReport>, Error> {
    let pool = agree(comm, farm::pool(params.threads))?;
    params.faults.arm(comm.rank());
    let run = Farm::new(&pool)
        .policy(params.schedule)
        .costs(params.durations.clone())
        .progress(params.progress)
        .run(comm, params.durations.clone(), |ctx, &duration_s| {
            if params.faults.task_panics(ctx.id) {
                panic!("injected fault: task {} panics", ctx.id);
            }
            std::thread::sleep(Duration::from_secs_f64(duration_s));
            sleep_result(duration_s)
        })?;
    Ok(run
        .gather(comm)
        .map(|gathered| build_report(comm, params, gathered)))
}

fn build_report<C: Comm + ?Sized>(
    comm: &C,
    params: &SleepParams,
    gathered: Gathered<String>,
) -> SleepReport {
    let Gathered {
        records,
        threads: lanes,
        wall_s,
    } = gathered;
    let tasks: Vec<TaskRecord> = records
        .into_iter()
        .map(|r| {
            let (result, error) = match r.result {
                Ok(text) => (Some(text), None),
                Err(e) => (None, Some(e)),
            };
            TaskRecord {
                id: r.id,
                duration_s: params.durations[r.id],
                rank: r.rank,
                thread: r.thread,
                start_s: r.start_s,
                end_s: r.end_s,
                result,
                error,
            }
        })
        .collect();
    let workers: usize = lanes.iter().sum();
    let total_sleep_s: f64 = params.durations.iter().sum();
    let ideal_s = farm::ideal_makespan(&params.durations, workers);
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
        schedule: params.schedule.to_string(),
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
        mpi_library: comm.backend().library(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spmdkit::comm::inproc;

    fn config(durations: Vec<f64>, schedule: Policy, threads: usize) -> SleepParams {
        SleepParams {
            durations,
            schedule,
            threads,
            progress: ProgressMode::Off,
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
