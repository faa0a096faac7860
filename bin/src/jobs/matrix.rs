//! The `matrix` workload: random matrices, pairwise products, a reproducible sum.
//!
//! 1. Rank 0 splits the K = N/2 pair indices into contiguous ranges and scatters them.
//! 2. Every rank checks that its share fits in memory and starts its threads; failures are agreed
//!    on so all ranks stop together, before anything large is allocated.
//! 3. After a barrier, each rank generates M_2k and M_2k+1 for its k, multiplies them with all its
//!    threads and inserts the product as leaf k of the reduction ([`Leaves`], which sums siblings
//!    of the fixed tree as they complete).
//! 4. The leaves are combined at rank 0 with the chosen [`Strategy`].
//! 5. Rank 0 gathers every rank's phase times (and threads) and reports the maximum of each.

use super::fault::Faults;
use super::memory::{self, human};
use crate::kernels;
use ndarray::{Array2, Ix2};
use serde::Serialize;
use spmdkit::comm::Comm;
use spmdkit::reduce::{self, ceil_log2, Leaves, Strategy};
use spmdkit::{agree, collective, farm, Error};
use std::time::Instant;

/// The parameters of a `matrix` run.
#[derive(Debug, Clone)]
pub struct MatrixParams {
    /// Number of matrices N (even, ≥ 2).
    pub count: usize,
    /// Matrix side n.
    pub size: usize,
    /// Generator seed.
    pub seed: u64,
    /// How the products are combined across ranks.
    pub reduce: Strategy,
    /// This rank's worker threads.
    pub threads: usize,
    /// Injected faults (testing only).
    #[doc(hidden)]
    pub faults: Faults,
}

impl MatrixParams {
    /// Number of products K = N / 2.
    pub fn pairs(&self) -> usize {
        self.count / 2
    }
}

/// The numbers that identify a matrix result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixResult {
    /// Sum of all elements of S.
    pub sum: f64,
    /// Frobenius norm of S.
    pub frobenius: f64,
    /// SHA-256 of S's row-major little-endian f64 bytes, hex.
    pub digest: String,
}

/// Phase times of a matrix run, the maximum over ranks, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixTimings {
    /// Generating the input matrices.
    pub generate: f64,
    /// Multiplying the pairs.
    pub multiply: f64,
    /// Local sums and the reduction across ranks (including waiting for slower ranks).
    pub reduce: f64,
    /// From the common start until this rank's part was done.
    pub total: f64,
}

/// One rank's share of a `matrix` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankTimings {
    /// The rank.
    pub rank: usize,
    /// Its worker threads.
    pub threads: usize,
    /// Its pairs.
    pub pairs: usize,
    /// Its phase times, seconds ([`MatrixTimings`]).
    pub timings_s: MatrixTimings,
}

/// The report of a `matrix` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixReport {
    /// Always `"matrix"`.
    pub command: &'static str,
    /// Number of ranks.
    pub ranks: usize,
    /// Worker threads per rank (the largest, if ranks differ).
    pub threads_per_rank: usize,
    /// Number of matrices N.
    pub count: usize,
    /// Matrix side n.
    pub size: usize,
    /// Generator seed.
    pub seed: u64,
    /// Reduction strategy.
    pub reduce: String,
    /// Communication rounds of the reduction.
    pub reduce_rounds: u32,
    /// Whether this strategy gives the same bits for any rank and thread count.
    pub bit_reproducible: bool,
    /// Sum, Frobenius norm and digest of S.
    pub result: MatrixResult,
    /// Phase times, the maximum over ranks.
    pub timings_s: MatrixTimings,
    /// 2 n³ N/2 floating-point operations over the slowest rank's multiply time.
    pub multiply_gflops: f64,
    /// Each rank's threads and phase times.
    pub per_rank: Vec<RankTimings>,
    /// spmdkit's version.
    pub version: String,
    /// The MPI library, or `none` for a run without a launcher.
    pub mpi_library: String,
}

/// Matrices a rank may hold at once: its two inputs and a product, plus the partial-sum nodes
/// (at most about two per tree level) and as many arriving from a neighbour during the tree.
pub fn peak_matrices(pairs: usize) -> u64 {
    3 + 2 * (u64::from(ceil_log2(pairs.max(1))) + 1)
}

fn check_memory(params: &MatrixParams) -> Result<(), Error> {
    let each = kernels::matrix_bytes(params.size).ok_or_else(|| {
        Error::bad_input(format!(
            "--size {}: an n x n f64 matrix does not fit in memory addresses",
            params.size
        ))
    })? as u64;
    let matrices = peak_matrices(params.pairs());
    let needed = each.saturating_mul(matrices);
    let budget = memory::budget().map_err(Error::bad_input)?;
    if needed > budget.bytes {
        let (needed, has) = memory::human_pair(needed, budget.bytes);
        return Err(Error::bad_input(format!(
            "not enough memory: this rank needs {needed} ({matrices} matrices of {}) but has \
             {has} ({}); use fewer or smaller matrices, more nodes, or set {}",
            human(each),
            budget.origin,
            memory::BUDGET_VAR
        )));
    }
    Ok(())
}

/// Splits pair indices `0..pairs` into `ranks` contiguous ranges, sizes differing by at most one.
fn ranges(pairs: usize, ranks: usize) -> Vec<(usize, usize)> {
    (0..ranks)
        .map(|r| (r * pairs / ranks, (r + 1) * pairs / ranks))
        .collect()
}

/// What rank 0 holds at the end: the report and S itself (for the HDF5 file).
pub struct MatrixOutcome {
    /// The report.
    pub report: MatrixReport,
    /// S, n × n.
    pub result: Array2<f64>,
    /// Every rank's phases, for a timeline.
    pub phases: Vec<Phase>,
}

/// One phase of one rank's work: generating, multiplying or summing a pair, or the reduction.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Phase {
    /// The rank.
    pub rank: usize,
    /// `generate`, `multiply`, `sum` or `reduce`.
    pub name: String,
    /// The pair, for the phases of one pair.
    pub pair: Option<usize>,
    /// Start, seconds since the rank left the barrier before the work (the ranks leave it within
    /// a fraction of a millisecond of each other on one node).
    pub start_s: f64,
    /// End, on the same clock.
    pub end_s: f64,
}

/// Runs the `matrix` workload. Rank 0 returns the outcome, the other ranks `None`. `buffers`:
/// zeroed buffers of n × n values made ahead of time ([`kernels::Prefaulted`]), up to three used
/// (the two factors and the first product), or `Prefaulted::default()`.
///
/// # Collective
/// Every rank must call it with the parameters built from the same command line.
///
/// # Errors
/// When some rank lacks memory or threads; every rank returns it.
pub fn run<C: Comm + ?Sized>(
    comm: &C,
    params: &MatrixParams,
    mut buffers: kernels::Prefaulted,
) -> Result<Option<MatrixOutcome>, Error> {
    let n = params.size;
    let len = n * n;
    // Rank 0 plans which pairs each rank owns and sends each rank its range.
    let plan = (comm.rank() == 0).then(|| ranges(params.pairs(), comm.size()));
    let (lo, hi): (usize, usize) = collective::scatter(comm, 0, plan);

    agree(comm, check_memory(params))?;
    // Generation, products, the local sums and the adds of the reduction all run on this job's
    // own pool of `threads` threads. Bits depend on none of them.
    let pool = agree(comm, farm::pool(params.threads))?;
    let threads = pool.current_num_threads();

    comm.barrier();
    let start = Instant::now();
    params.faults.arm(comm.rank());
    let (mut t_generate, mut t_multiply, mut t_reduce) = (0.0, 0.0, 0.0);
    let mut phases: Vec<Phase> = Vec::new();
    let me = comm.rank();
    let mut phase = |name: &str, pair: Option<usize>, from: Instant, to: Instant| {
        phases.push(Phase {
            rank: me,
            name: name.to_string(),
            pair,
            start_s: from.duration_since(start).as_secs_f64(),
            end_s: to.duration_since(start).as_secs_f64(),
        });
        to.duration_since(from).as_secs_f64()
    };
    let mut leaves = Leaves::new(&pool);
    if let Some(spare) = buffers.take(len) {
        leaves.recycle(spare);
    }
    if hi > lo {
        // On a thread of its own, so that the main thread keeps the heartbeat going.
        spmdkit::comm::keep_alive(comm, || {
            pool.install(|| {
                let mut zeros = || {
                    buffers.take(len).map_or_else(
                        || Array2::zeros((n, n)),
                        |v| Array2::from_shape_vec((n, n), v).expect("n x n values"),
                    )
                };
                let (mut a, mut b) = (zeros(), zeros());
                for k in lo..hi {
                    if params.faults.task_panics(k) {
                        panic!("injected fault: pair {k} panics");
                    }
                    let t = Instant::now();
                    kernels::generate_into(params.seed, 2 * k as u64, &mut a);
                    kernels::generate_into(params.seed, 2 * k as u64 + 1, &mut b);
                    t_generate += phase("generate", Some(k), t, Instant::now());
                    let mut product = Array2::from_shape_vec((n, n), leaves.buffer(len))
                        .expect("a buffer of n x n values");
                    let t = Instant::now();
                    kernels::multiply_into(&a, &b, &mut product, threads);
                    t_multiply += phase("multiply", Some(k), t, Instant::now());
                    let t = Instant::now();
                    leaves.insert(k, product);
                    t_reduce += phase("sum", Some(k), t, Instant::now());
                }
                // Their pages are mapped: partial sums from other ranks land in them.
                leaves.recycle(a.into_raw_vec_and_offset().0);
                leaves.recycle(b.into_raw_vec_and_offset().0);
            })
        });
    }
    let t = Instant::now();
    let (sum, rounds) = reduce::reduce(comm, params.reduce, leaves, Ix2(n, n));
    t_reduce += phase("reduce", None, t, Instant::now());
    let total = start.elapsed().as_secs_f64();

    // One gather brings every rank's phase times and thread count (a whole number in an f64),
    // and its phases.
    let facts = vec![
        t_generate,
        t_multiply,
        t_reduce,
        total,
        threads as f64,
        (hi - lo) as f64,
    ];
    let Some(gathered) = collective::gather(comm, 0, &(facts, phases)) else {
        return Ok(None);
    };
    let (per_rank, phases): (Vec<Vec<f64>>, Vec<Vec<Phase>>) = gathered.into_iter().unzip();
    let phases: Vec<Phase> = phases.into_iter().flatten().collect();
    let result =
        sum.unwrap_or_else(|| comm.abort(1, "rank 0 ended the reduction without a result"));
    let max = |i: usize| per_rank.iter().map(|t| t[i]).fold(0.0, f64::max);
    let timings = MatrixTimings {
        generate: max(0),
        multiply: max(1),
        reduce: max(2),
        total: max(3),
    };
    let flops = 2.0 * (n as f64).powi(3) * params.pairs() as f64;
    // Ranks multiply at the same time: the job's rate is all its flops over the slowest rank.
    let gflops = if timings.multiply > 0.0 {
        flops / timings.multiply / 1e9
    } else {
        0.0
    };
    let values = result.as_slice().expect("the sum is in standard layout");
    let report = MatrixReport {
        command: "matrix",
        ranks: comm.size(),
        threads_per_rank: max(4) as usize,
        count: params.count,
        size: n,
        seed: params.seed,
        reduce: params.reduce.to_string(),
        reduce_rounds: rounds,
        bit_reproducible: params.reduce == Strategy::Tree,
        result: MatrixResult {
            sum: kernels::sum(values),
            frobenius: kernels::frobenius(values),
            digest: kernels::digest(values),
        },
        timings_s: timings,
        multiply_gflops: gflops,
        per_rank: per_rank
            .iter()
            .enumerate()
            .map(|(rank, f)| RankTimings {
                rank,
                threads: f[4] as usize,
                pairs: f[5] as usize,
                timings_s: MatrixTimings {
                    generate: f[0],
                    multiply: f[1],
                    reduce: f[2],
                    total: f[3],
                },
            })
            .collect(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        mpi_library: comm.backend().library(),
    };
    Ok(Some(MatrixOutcome {
        report,
        result,
        phases,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spmdkit::comm::inproc;

    fn params(count: usize, size: usize, reduce: Strategy) -> MatrixParams {
        MatrixParams {
            count,
            size,
            seed: 9,
            reduce,
            threads: 1,
            faults: Faults::default(),
        }
    }

    #[test]
    fn the_digest_is_the_same_for_every_rank_count() {
        let p = params(10, 24, Strategy::Tree);
        let digests: Vec<String> = (1..=7)
            .map(|size| {
                let out = inproc::run(size, |comm| run(comm, &p, Default::default()).unwrap());
                let o = out.into_iter().next().unwrap().unwrap();
                assert_eq!(o.report.reduce_rounds, ceil_log2(size));
                o.report.result.digest
            })
            .collect();
        assert!(digests.iter().all(|d| d == &digests[0]), "{digests:?}");
    }

    #[test]
    fn the_result_is_the_sum_of_the_products() {
        let (n, count) = (9, 6);
        let out = inproc::run(3, |comm| {
            run(
                comm,
                &params(count, n, Strategy::Linear),
                Default::default(),
            )
            .unwrap()
        });
        let got = out.into_iter().next().unwrap().unwrap().result;
        let mut want = Array2::<f64>::zeros((n, n));
        for k in 0..count / 2 {
            let a = kernels::generate(9, 2 * k as u64, n);
            let b = kernels::generate(9, 2 * k as u64 + 1, n);
            want += &a.dot(&b);
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

    #[test]
    fn ranges_cover_the_pairs_in_rank_order() {
        assert_eq!(ranges(2, 3), vec![(0, 0), (0, 1), (1, 2)]);
        assert_eq!(ranges(5, 2), vec![(0, 2), (2, 5)]);
    }
}
