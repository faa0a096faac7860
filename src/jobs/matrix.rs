//! The `matrix` workload: random matrices, pairwise products, a reproducible sum.
//!
//! 1. Rank 0 splits the K = N/2 pair indices into contiguous ranges and sends the plan to all.
//! 2. Every rank checks that its share fits in memory and starts its threads; failures are agreed
//!    on so all ranks stop together, before anything large is allocated.
//! 3. After a barrier, each rank generates M_2k and M_2k+1 for its k, multiplies them and pushes
//!    the product onto its [`Partial`] (which sums siblings of the fixed tree as they complete).
//! 4. The partial sums are combined at rank 0 with the chosen [`Strategy`].
//! 5. Rank 0 gathers every rank's phase times (and threads) and reports the maximum of each.

use crate::cli::MatrixConfig;
use crate::local;
use crate::matrix;
use crate::memory::{self, human};
use crate::reduce::{self, ceil_log2, Partial, Strategy};
use crate::report::{MatrixReport, MatrixResult, MatrixTimings};
use crate::scatter;
use crate::world::{agree, Agreed, Comm};
use std::time::Instant;

/// Matrices a rank may hold at once: its two inputs and a product, plus the partial-sum nodes
/// (at most about two per tree level) and as many arriving from a neighbour during the tree.
pub fn peak_matrices(pairs: usize) -> u64 {
    3 + 2 * (u64::from(ceil_log2(pairs.max(1))) + 1)
}

fn check_memory(config: &MatrixConfig) -> Result<(), (u8, String)> {
    let each = matrix::matrix_bytes(config.size).ok_or_else(|| {
        (
            2,
            format!(
                "--size {}: an n x n f64 matrix does not fit in memory addresses",
                config.size
            ),
        )
    })? as u64;
    let matrices = peak_matrices(config.pairs());
    let needed = each.saturating_mul(matrices);
    let budget = memory::budget().map_err(|e| (2, e))?;
    if needed > budget.bytes {
        let e = crate::cli::ConfigError::Memory {
            needed: human(needed),
            matrices,
            each: human(each),
            available: human(budget.bytes),
            origin: budget.origin,
            var: memory::BUDGET_VAR,
        };
        return Err((2, e.to_string()));
    }
    Ok(())
}

/// What rank 0 holds at the end: the report and S itself (for the HDF5 file).
pub struct MatrixOutcome {
    /// The report.
    pub report: MatrixReport,
    /// S, n × n, row-major.
    pub result: Vec<f64>,
}

/// Runs the `matrix` workload. Rank 0 returns the outcome, the other ranks `None`.
///
/// # Collective
/// Every rank must call it with the configuration built from the same command line.
///
/// # Errors
/// An [`Agreed`] failure when some rank lacks memory or threads; every rank returns it.
pub fn run<C: Comm + ?Sized>(
    comm: &C,
    config: &MatrixConfig,
) -> Result<Option<MatrixOutcome>, Agreed> {
    let n = config.size;
    let len = n * n;
    // Rank 0 plans which pairs each rank owns and sends the whole plan: a rank needs its own
    // range to compute, and every range to know the shape of what its tree partners will send.
    let plan: Option<Vec<usize>> = (comm.rank() == 0).then(|| {
        reduce::ranges(config.pairs(), comm.size())
            .into_iter()
            .flat_map(|(lo, hi)| [lo, hi])
            .collect()
    });
    let plan: Vec<usize> = scatter::broadcast(comm, 0, plan.as_ref());
    let all_ranges: Vec<(usize, usize)> = plan.chunks_exact(2).map(|r| (r[0], r[1])).collect();
    if all_ranges.len() != comm.size() {
        comm.abort(1, "the plan from rank 0 does not have one range per rank");
    }
    let (lo, hi) = all_ranges[comm.rank()];

    agree(comm, check_memory(config))?;
    // Generation, products and the local sums run on this job's own pool of `threads.count`
    // threads; the adds of the reduction across ranks (which must call MPI from this thread) run
    // on the global pool, sized the same when this is the first job of the process. Bits depend
    // on neither.
    let pool = agree(
        comm,
        local::pool(config.threads.count).map_err(|e| (1, e.to_string())),
    )?;
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads.count)
        .thread_name(|k| format!("spmdkit-worker-{k}"))
        .build_global();
    let threads = pool.current_num_threads();

    comm.barrier();
    let start = Instant::now();
    config.faults.arm(comm.rank());
    let (mut t_generate, mut t_multiply, mut t_reduce) = (0.0, 0.0, 0.0);
    let mut partial = Partial::new();
    if hi > lo {
        pool.install(|| {
            let mut a = vec![0.0; len];
            let mut b = vec![0.0; len];
            for k in lo..hi {
                if config.faults.task_panics(k) {
                    panic!("injected fault: pair {k} panics");
                }
                let t = Instant::now();
                matrix::generate(config.seed, 2 * k as u64, &mut a);
                matrix::generate(config.seed, 2 * k as u64 + 1, &mut b);
                t_generate += t.elapsed().as_secs_f64();
                let mut product = partial.buffer(len);
                let t = Instant::now();
                matrix::multiply_into(&a, &b, &mut product, n, threads);
                t_multiply += t.elapsed().as_secs_f64();
                let t = Instant::now();
                partial.push_product(k, product);
                t_reduce += t.elapsed().as_secs_f64();
            }
        });
    }
    let t = Instant::now();
    let (sum, rounds) = reduce::reduce(comm, config.reduce, partial, len, &all_ranges);
    t_reduce += t.elapsed().as_secs_f64();
    let total = start.elapsed().as_secs_f64();

    // One gather brings every rank's phase times and thread count (a whole number in an f64).
    let facts = vec![t_generate, t_multiply, t_reduce, total, threads as f64];
    let Some(per_rank) = scatter::gather(comm, 0, &facts) else {
        return Ok(None);
    };
    let result =
        sum.unwrap_or_else(|| comm.abort(1, "rank 0 ended the reduction without a result"));
    let max = |i: usize| per_rank.iter().map(|t| t[i]).fold(0.0, f64::max);
    let timings = MatrixTimings {
        generate: max(0),
        multiply: max(1),
        reduce: max(2),
        total: max(3),
    };
    let flops = 2.0 * (n as f64).powi(3) * config.pairs() as f64;
    // Ranks multiply at the same time: the job's rate is all its flops over the slowest rank.
    let gflops = if timings.multiply > 0.0 {
        flops / timings.multiply / 1e9
    } else {
        0.0
    };
    let report = MatrixReport {
        command: "matrix",
        ranks: comm.size(),
        threads_per_rank: max(4) as usize,
        count: config.count,
        size: n,
        seed: config.seed,
        reduce: config.reduce.to_string(),
        reduce_rounds: rounds,
        bit_reproducible: config.reduce == Strategy::Tree,
        result: MatrixResult {
            sum: matrix::sum(&result),
            frobenius: matrix::frobenius(&result),
            digest: matrix::digest(&result),
        },
        timings_s: timings,
        multiply_gflops: gflops,
        version: env!("CARGO_PKG_VERSION").to_string(),
        mpi_library: super::mpi_library_for(comm.backend()),
    };
    Ok(Some(MatrixOutcome { report, result }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Threads;
    use crate::world::inproc;

    fn config(count: usize, size: usize, reduce: Strategy) -> MatrixConfig {
        MatrixConfig {
            count,
            size,
            seed: 9,
            reduce,
            threads: Threads {
                count: 1,
                origin: "--threads",
            },
            json: true,
            output: None,
            save_inputs: false,
            faults: crate::fault::Faults::default(),
        }
    }

    #[test]
    fn the_digest_is_the_same_for_every_rank_count() {
        let cfg = config(10, 24, Strategy::Tree);
        let digests: Vec<String> = (1..=7)
            .map(|p| {
                let out = inproc::run(p, |comm| run(comm, &cfg).unwrap());
                let o = out.into_iter().next().unwrap().unwrap();
                assert_eq!(o.report.reduce_rounds, ceil_log2(p));
                o.report.result.digest
            })
            .collect();
        assert!(digests.iter().all(|d| d == &digests[0]), "{digests:?}");
    }

    #[test]
    fn the_result_is_the_sum_of_the_products() {
        let (n, count) = (9, 6);
        let out = inproc::run(3, |comm| {
            run(comm, &config(count, n, Strategy::Linear)).unwrap()
        });
        let got = out.into_iter().next().unwrap().unwrap().result;
        let mut want = vec![0.0; n * n];
        for k in 0..count / 2 {
            let (mut a, mut b) = (vec![0.0; n * n], vec![0.0; n * n]);
            matrix::generate(9, 2 * k as u64, &mut a);
            matrix::generate(9, 2 * k as u64 + 1, &mut b);
            for i in 0..n {
                for j in 0..n {
                    want[i * n + j] += (0..n).map(|l| a[i * n + l] * b[l * n + j]).sum::<f64>();
                }
            }
        }
        for (x, y) in got.iter().zip(&want) {
            assert!((x - y).abs() < 1e-10 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn memory_estimate_grows_with_the_tree() {
        assert_eq!(peak_matrices(1), 5);
        assert_eq!(peak_matrices(2), 7);
        assert!(peak_matrices(1 << 20) > peak_matrices(1 << 10));
    }
}
