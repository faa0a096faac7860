//! The two workloads measured as a user runs them: how well each scheduling policy packs the
//! `sleep` tasks, and how the `matrix` job's time falls with more ranks and threads (strong
//! scaling: the same job on more workers).
//!
//! Both run the real jobs ([`jobs::sleep::run`], [`jobs::matrix::run`]) several times,
//! alternating the variants run by run so that a noisy machine's drift touches them alike, check
//! every answer, and report medians.

use super::table::Table;
use rand::{Rng, SeedableRng};
use spmdkit::comm::{Comm, Threads};
use spmdkit::farm::ProgressMode;
use spmdkit::reduce::Strategy;
use spmdkit::{Error, Policy};
use spmdkit_apps::jobs;
use spmdkit_apps::jobs::fault::Faults;
use spmdkit_apps::jobs::matrix::MatrixParams;
use spmdkit_apps::jobs::sleep::SleepParams;

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `count` durations drawn uniformly from [0, `longest`] seconds, reproducibly from `seed`,
/// rounded to 0.1 ms.
pub fn random_durations(count: usize, longest: f64, seed: u64) -> Vec<f64> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..count)
        .map(|_| (rng.random_range(0.0..=longest) * 1e4).round() / 1e4)
        .collect()
}

/// The scheduling efficiency of one policy: medians over the repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct SleepRow {
    /// What the tasks were (`classic`, `random200`, ...).
    pub workload: String,
    /// The policy.
    pub policy: String,
    /// Ranks.
    pub ranks: usize,
    /// Threads per rank (the largest).
    pub threads: usize,
    /// W, all workers.
    pub workers: usize,
    /// Number of tasks.
    pub tasks: usize,
    /// Runs of this policy.
    pub repeats: usize,
    /// The sum of the durations.
    pub total_s: f64,
    /// The lower bound max(longest, total / W).
    pub bound_s: f64,
    /// Median makespan (common start to the last task's end).
    pub makespan_s: f64,
    /// Median wall time (common start to rank 0 holding every record).
    pub wall_s: f64,
    /// Median of bound / makespan: 1 is a perfect schedule.
    pub efficiency: f64,
}

/// The columns of the `sleep` CSV.
pub const SLEEP_HEADER: &str =
    "workload,policy,ranks,threads,workers,tasks,repeats,total_s,bound_s,makespan_s,wall_s,efficiency";

impl SleepRow {
    /// The row as a line of the `sleep` CSV.
    pub fn csv_line(&self) -> String {
        format!(
            "{},{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6}",
            self.workload,
            self.policy,
            self.ranks,
            self.threads,
            self.workers,
            self.tasks,
            self.repeats,
            self.total_s,
            self.bound_s,
            self.makespan_s,
            self.wall_s,
            self.efficiency
        )
    }
}

/// The human table of `sleep` rows.
pub fn sleep_table(rows: &[SleepRow]) -> String {
    let mut out = format!(
        "{:>8} {:>6} {:>8} {:>8} {:>10} {:>12} {:>10} {:>11}\n",
        "policy", "ranks", "threads", "workers", "bound_s", "makespan_s", "wall_s", "efficiency"
    );
    for r in rows {
        out.push_str(&format!(
            "{:>8} {:>6} {:>8} {:>8} {:>10.4} {:>12.4} {:>10.4} {:>11.4}\n",
            r.policy,
            r.ranks,
            r.threads,
            r.workers,
            r.bound_s,
            r.makespan_s,
            r.wall_s,
            r.efficiency
        ));
    }
    out
}

/// Reads a CSV written by `spmdkit-bench sleep --csv`.
///
/// # Errors
/// A missing column or a bad field, with its line.
pub fn parse_sleep_csv(text: &str) -> Result<Vec<SleepRow>, String> {
    let columns: Vec<&str> = SLEEP_HEADER.split(',').collect();
    let t = Table::parse(text, &columns)?;
    (0..t.len())
        .map(|i| {
            Ok(SleepRow {
                workload: t.text(i, "workload").into(),
                policy: t.text(i, "policy").into(),
                ranks: t.value(i, "ranks")?,
                threads: t.value(i, "threads")?,
                workers: t.value(i, "workers")?,
                tasks: t.value(i, "tasks")?,
                repeats: t.value(i, "repeats")?,
                total_s: t.value(i, "total_s")?,
                bound_s: t.value(i, "bound_s")?,
                makespan_s: t.value(i, "makespan_s")?,
                wall_s: t.value(i, "wall_s")?,
                efficiency: t.value(i, "efficiency")?,
            })
        })
        .collect()
}

/// Runs the `sleep` job `repeats` times with each of `policies` (alternating), `threads` threads
/// on this rank. `durations` matter on rank 0 only. `on_run` is called on rank 0 after each run
/// with (run number from 1, runs in all, policy). Rank 0 returns one row per policy.
///
/// # Collective
/// Every rank must call it with the same policies and repeats.
///
/// # Errors
/// When a rank cannot start its threads (every rank returns it).
///
/// # Panics
/// Aborts the job (on rank 0) when a task failed or returned another answer than its own.
pub fn sleep_efficiency<C: Comm + ?Sized>(
    comm: &C,
    workload: &str,
    durations: &[f64],
    policies: &[Policy],
    threads: Threads,
    repeats: usize,
    mut on_run: impl FnMut(usize, usize, Policy),
) -> Result<Option<Vec<SleepRow>>, Error> {
    let mut reports: Vec<Vec<spmdkit_apps::jobs::sleep::SleepReport>> =
        vec![Vec::new(); policies.len()];
    let configs: Vec<SleepParams> = policies
        .iter()
        .map(|&schedule| SleepParams {
            durations: if comm.rank() == 0 {
                durations.to_vec()
            } else {
                Vec::new()
            },
            schedule,
            threads: threads.count,
            progress: ProgressMode::Off,
            faults: Faults::default(),
        })
        .collect();
    for run in 0..repeats {
        for (p, (&policy, config)) in policies.iter().zip(&configs).enumerate() {
            if let Some(report) = jobs::sleep::run(comm, config)? {
                let answered = report.tasks.len() == durations.len()
                    && report.failed.is_empty()
                    && report.tasks.iter().all(|t| {
                        t.result.as_deref()
                            == Some(jobs::sleep::sleep_result(durations[t.id]).as_str())
                    });
                if !answered {
                    comm.abort(
                        1,
                        &format!("{policy}: a task failed or gave a wrong answer"),
                    );
                }
                reports[p].push(report);
                on_run(
                    run * policies.len() + p + 1,
                    repeats * policies.len(),
                    policy,
                );
            }
        }
    }
    if comm.rank() != 0 {
        return Ok(None);
    }
    Ok(Some(
        policies
            .iter()
            .zip(&reports)
            .map(|(policy, rs)| {
                let of = |f: fn(&spmdkit_apps::jobs::sleep::SleepReport) -> f64| {
                    median(&rs.iter().map(f).collect::<Vec<_>>())
                };
                let first = &rs[0];
                SleepRow {
                    workload: workload.into(),
                    policy: policy.to_string(),
                    ranks: first.ranks,
                    threads: first.threads_per_rank,
                    workers: first.workers,
                    tasks: first.tasks.len(),
                    repeats: rs.len(),
                    total_s: first.total_sleep_s,
                    bound_s: first.ideal_s,
                    makespan_s: of(|r| r.makespan_s),
                    wall_s: of(|r| r.wall_s),
                    efficiency: of(|r| {
                        if r.makespan_s > 0.0 {
                            r.ideal_s / r.makespan_s
                        } else {
                            1.0
                        }
                    }),
                }
            })
            .collect(),
    ))
}

/// One point of the matrix job's strong scaling: medians over the repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixRow {
    /// Ranks.
    pub ranks: usize,
    /// Threads per rank.
    pub threads: usize,
    /// ranks × threads.
    pub workers: usize,
    /// Matrices N.
    pub count: usize,
    /// Side n.
    pub size: usize,
    /// Runs of this point.
    pub repeats: usize,
    /// Median generation time (slowest rank).
    pub generate_s: f64,
    /// Median multiplication time (slowest rank).
    pub multiply_s: f64,
    /// Median reduction time (slowest rank).
    pub reduce_s: f64,
    /// Median time from the common start to the last rank's end.
    pub total_s: f64,
    /// Median rate of the products.
    pub gflops: f64,
    /// SHA-256 of the result (the same in every run: checked).
    pub digest: String,
}

/// The columns of the `matrix` CSV.
pub const MATRIX_HEADER: &str =
    "ranks,threads,workers,count,size,repeats,generate_s,multiply_s,reduce_s,total_s,gflops,digest";

impl MatrixRow {
    /// The row as a line of the `matrix` CSV.
    pub fn csv_line(&self) -> String {
        format!(
            "{},{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.3},{}",
            self.ranks,
            self.threads,
            self.workers,
            self.count,
            self.size,
            self.repeats,
            self.generate_s,
            self.multiply_s,
            self.reduce_s,
            self.total_s,
            self.gflops,
            self.digest
        )
    }
}

/// The human table of `matrix` rows (the digest shortened to 16 hex digits).
pub fn matrix_table(rows: &[MatrixRow]) -> String {
    let mut out = format!(
        "{:>6} {:>8} {:>8} {:>11} {:>11} {:>11} {:>11} {:>9}  digest\n",
        "ranks", "threads", "workers", "generate_s", "multiply_s", "reduce_s", "total_s", "GFLOP/s"
    );
    for r in rows {
        out.push_str(&format!(
            "{:>6} {:>8} {:>8} {:>11.4} {:>11.4} {:>11.4} {:>11.4} {:>9.1}  {}\n",
            r.ranks,
            r.threads,
            r.workers,
            r.generate_s,
            r.multiply_s,
            r.reduce_s,
            r.total_s,
            r.gflops,
            r.digest.get(..16).unwrap_or(&r.digest)
        ));
    }
    out
}

/// Reads a CSV written by `spmdkit-bench matrix --csv`.
///
/// # Errors
/// A missing column or a bad field, with its line.
pub fn parse_matrix_csv(text: &str) -> Result<Vec<MatrixRow>, String> {
    let columns: Vec<&str> = MATRIX_HEADER.split(',').collect();
    let t = Table::parse(text, &columns)?;
    (0..t.len())
        .map(|i| {
            Ok(MatrixRow {
                ranks: t.value(i, "ranks")?,
                threads: t.value(i, "threads")?,
                workers: t.value(i, "workers")?,
                count: t.value(i, "count")?,
                size: t.value(i, "size")?,
                repeats: t.value(i, "repeats")?,
                generate_s: t.value(i, "generate_s")?,
                multiply_s: t.value(i, "multiply_s")?,
                reduce_s: t.value(i, "reduce_s")?,
                total_s: t.value(i, "total_s")?,
                gflops: t.value(i, "gflops")?,
                digest: t.text(i, "digest").into(),
            })
        })
        .collect()
}

/// The fixed part of a strong-scaling run: the job that every point repeats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MatrixJob {
    /// Matrices N (even).
    pub count: usize,
    /// Side n.
    pub size: usize,
    /// Generator seed.
    pub seed: u64,
    /// Reduction strategy.
    pub reduce: Strategy,
}

/// Runs the `matrix` job `repeats` times at each thread count of `threads` (alternating), on the
/// ranks of `comm`. `on_run` is called on rank 0 after each run with (run number from 1, runs in
/// all, threads). Rank 0 returns one row per thread count.
///
/// # Collective
/// Every rank must call it with the same arguments.
///
/// # Errors
/// When a rank lacks memory or threads (every rank returns it).
///
/// # Panics
/// Aborts the job (on rank 0) when a run's result differs from the first run's: with `tree` the
/// bits must not depend on threads or repeats; with other strategies the sum must agree to 1e-9.
pub fn matrix_scaling<C: Comm + ?Sized>(
    comm: &C,
    job: MatrixJob,
    threads: &[usize],
    repeats: usize,
    mut on_run: impl FnMut(usize, usize, usize),
) -> Result<Option<Vec<MatrixRow>>, Error> {
    let mut reports: Vec<Vec<spmdkit_apps::jobs::matrix::MatrixReport>> =
        vec![Vec::new(); threads.len()];
    for run in 0..repeats {
        for (k, &t) in threads.iter().enumerate() {
            let config = MatrixParams {
                count: job.count,
                size: job.size,
                seed: job.seed,
                reduce: job.reduce,
                threads: t,
                faults: Faults::default(),
            };
            if let Some(outcome) = jobs::matrix::run(comm, &config, Default::default())? {
                let r = outcome.report;
                if let Some(first) = reports.iter().flatten().next() {
                    let same = if job.reduce == Strategy::Tree {
                        r.result.digest == first.result.digest
                    } else {
                        (r.result.frobenius / first.result.frobenius - 1.0).abs() < 1e-9
                    };
                    if !same {
                        comm.abort(
                            1,
                            &format!(
                                "the result at {t} threads differs from the first run's \
                                 ({} against {})",
                                r.result.digest, first.result.digest
                            ),
                        );
                    }
                }
                reports[k].push(r);
                on_run(run * threads.len() + k + 1, repeats * threads.len(), t);
            }
        }
    }
    if comm.rank() != 0 {
        return Ok(None);
    }
    Ok(Some(
        threads
            .iter()
            .zip(&reports)
            .map(|(&t, rs)| {
                let of = |f: fn(&spmdkit_apps::jobs::matrix::MatrixReport) -> f64| {
                    median(&rs.iter().map(f).collect::<Vec<_>>())
                };
                MatrixRow {
                    ranks: comm.size(),
                    threads: t,
                    workers: comm.size() * t,
                    count: job.count,
                    size: job.size,
                    repeats: rs.len(),
                    generate_s: of(|r| r.timings_s.generate),
                    multiply_s: of(|r| r.timings_s.multiply),
                    reduce_s: of(|r| r.timings_s.reduce),
                    total_s: of(|r| r.timings_s.total),
                    gflops: of(|r| r.multiply_gflops),
                    digest: rs[0].result.digest.clone(),
                }
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spmdkit::comm::inproc;

    #[test]
    fn medians_and_random_tasks() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let d = random_durations(200, 0.1, 42);
        assert_eq!(d, random_durations(200, 0.1, 42));
        assert_ne!(d, random_durations(200, 0.1, 43));
        assert!(d.iter().all(|&x| (0.0..=0.1).contains(&x)));
        assert!(d.iter().any(|&x| x > 0.05) && d.iter().any(|&x| x < 0.05));
    }

    #[test]
    fn sleep_efficiency_measures_every_policy_and_reads_back() {
        let durations = vec![0.002, 0.004, 0.001, 0.003, 0.002];
        let policies: Vec<Policy> = Policy::ALL.iter().map(|(p, _)| *p).collect();
        let threads = Threads {
            count: 2,
            origin: "--threads",
        };
        let out = inproc::run(2, |comm| {
            let mut runs = Vec::new();
            let rows = sleep_efficiency(
                comm,
                "tiny",
                &durations,
                &policies,
                threads,
                2,
                |i, n, _| {
                    runs.push((i, n));
                },
            )
            .unwrap();
            (rows, runs)
        });
        let (rows, runs) = &out[0];
        let rows = rows.as_ref().unwrap();
        assert_eq!(runs.len(), 8);
        assert_eq!(runs.last(), Some(&(8, 8)));
        assert!(out[1].0.is_none() && out[1].1.is_empty());
        assert_eq!(rows.len(), 4);
        for (row, p) in rows.iter().zip(&policies) {
            assert_eq!(row.policy, p.to_string());
            assert_eq!(
                (row.ranks, row.workers, row.tasks, row.repeats),
                (2, 4, 5, 2)
            );
            assert!((row.total_s - 0.012).abs() < 1e-12);
            assert!((row.bound_s - 0.004).abs() < 1e-12);
            assert!(row.makespan_s >= row.bound_s * 0.99, "{row:?}");
            assert!(row.efficiency > 0.0 && row.efficiency <= 1.01, "{row:?}");
        }
        let csv = format!(
            "{SLEEP_HEADER}\n{}\n",
            rows.iter()
                .map(SleepRow::csv_line)
                .collect::<Vec<_>>()
                .join("\n")
        );
        let back = parse_sleep_csv(&csv).unwrap();
        assert_eq!(back.len(), 4);
        assert_eq!(back[2].policy, rows[2].policy);
        assert!((back[2].makespan_s - rows[2].makespan_s).abs() < 1e-6);
    }

    #[test]
    fn matrix_scaling_keeps_the_bits_across_threads_and_ranks() {
        let job = MatrixJob {
            count: 6,
            size: 24,
            seed: 5,
            reduce: Strategy::Tree,
        };
        let mut digests = Vec::new();
        for size in [1, 3] {
            let out = inproc::run(size, |comm| {
                matrix_scaling(comm, job, &[1, 2], 2, |_, _, _| {}).unwrap()
            });
            let rows = out[0].as_ref().unwrap();
            assert_eq!(rows.len(), 2);
            for (row, t) in rows.iter().zip([1, 2]) {
                assert_eq!((row.ranks, row.threads, row.workers), (size, t, size * t));
                assert_eq!((row.count, row.size, row.repeats), (6, 24, 2));
                assert!(row.total_s > 0.0 && row.gflops > 0.0, "{row:?}");
                digests.push(row.digest.clone());
            }
            let csv = format!(
                "# spmdkit-bench matrix\n{MATRIX_HEADER}\n{}\n",
                rows.iter()
                    .map(MatrixRow::csv_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            assert_eq!(parse_matrix_csv(&csv).unwrap()[1].digest, rows[1].digest);
        }
        assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    }
}
