//! MPI benchmarks in the style of the OSU and IMB suites, run by the `spmdkit-bench` binary.
//!
//! Habits kept: warm-up iterations that are not timed, a barrier before every timed iteration,
//! each rank timing its own part, min/avg/max over ranks of the per-rank average, the parameters
//! printed with the result, and the answer checked before a time is reported.

use crate::reduce::{self, Node, Partial, Strategy};
use crate::scatter;
use crate::world::Comm;
use std::time::Instant;

/// One measured point of the reduction benchmark.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReduceRow {
    /// The strategy.
    pub strategy: String,
    /// Number of ranks.
    pub ranks: usize,
    /// Bytes of each rank's contribution.
    pub bytes: usize,
    /// Timed iterations.
    pub iterations: usize,
    /// Communication rounds.
    pub rounds: u32,
    /// Fastest rank's average time per reduction, seconds.
    pub min_s: f64,
    /// Average over ranks of the per-rank average, seconds.
    pub avg_s: f64,
    /// Slowest rank's average, seconds.
    pub max_s: f64,
}

/// Times each of `strategies` reducing `values` f64 per rank to rank 0. Iterations alternate the
/// strategies (one of each per iteration), so that a noisy machine's drift affects them alike and
/// their ratio is fair. Rank r contributes the pair index r filled with r + 1, so the answer is
/// P(P+1)/2 in every element, exactly. Rank 0 returns one row per strategy.
///
/// # Collective
/// Every rank must call it with the same arguments.
///
/// # Panics
/// Aborts the job (on rank 0) if a reduction returns a wrong answer.
pub fn reduce_latency<C: Comm + ?Sized>(
    comm: &C,
    strategies: &[Strategy],
    values: usize,
    warmup: usize,
    iterations: usize,
) -> Option<Vec<ReduceRow>> {
    let (rank, size) = (comm.rank(), comm.size());
    let expected = (size * (size + 1) / 2) as f64;
    let mut spent = vec![0.0; strategies.len()];
    let mut rounds = vec![0; strategies.len()];
    let ranges: Vec<(usize, usize)> = (0..size).map(|r| (r, r + 1)).collect();
    for i in 0..warmup + iterations {
        for (s, &strategy) in strategies.iter().enumerate() {
            let mut mine = Partial::new();
            mine.push(Node {
                level: 0,
                start: rank,
                data: vec![(rank + 1) as f64; values],
            });
            comm.barrier();
            let t = Instant::now();
            let (result, r) = reduce::reduce(comm, strategy, mine, values, &ranges);
            let dt = t.elapsed().as_secs_f64();
            rounds[s] = r;
            if i >= warmup {
                spent[s] += dt;
            }
            if let Some(sum) = result {
                if sum.len() != values || sum.iter().any(|&x| x != expected) {
                    comm.abort(
                        1,
                        &format!("{strategy} reduction returned a wrong sum (expected {expected})"),
                    );
                }
            }
        }
    }
    let mine: Vec<f64> = spent.iter().map(|t| t / iterations.max(1) as f64).collect();
    let all = scatter::gather(comm, 0, &mine)?;
    Some(
        strategies
            .iter()
            .enumerate()
            .map(|(s, strategy)| {
                let per_rank: Vec<f64> = all.iter().map(|r| r[s]).collect();
                ReduceRow {
                    strategy: strategy.to_string(),
                    ranks: size,
                    bytes: values * 8,
                    iterations,
                    rounds: rounds[s],
                    min_s: per_rank.iter().copied().fold(f64::INFINITY, f64::min),
                    avg_s: per_rank.iter().sum::<f64>() / size as f64,
                    max_s: per_rank.iter().copied().fold(0.0, f64::max),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::inproc;

    #[test]
    fn every_strategy_is_measured_and_checked() {
        for size in [1, 2, 3, 5] {
            let all: Vec<Strategy> = Strategy::ALL.iter().map(|(s, _)| *s).collect();
            let rows = inproc::run(size, |comm| reduce_latency(comm, &all, 100, 1, 3));
            let got = rows[0].as_ref().unwrap();
            assert_eq!(got.len(), 3);
            for (row, strategy) in got.iter().zip(&all) {
                assert_eq!(row.strategy, strategy.to_string());
                assert_eq!(row.ranks, size);
                assert_eq!(row.bytes, 800);
                assert_eq!(row.rounds, strategy.rounds(size));
                assert!(row.min_s <= row.avg_s && row.avg_s <= row.max_s);
            }
            assert!(rows[1..].iter().all(Option::is_none));
        }
    }
}
