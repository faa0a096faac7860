//! The reduction benchmark and its α–β–γ model, in the style of the OSU and IMB suites.
//!
//! Habits kept: warm-up iterations that are not timed, a barrier before every timed iteration,
//! each rank timing its own part, min/avg/max over ranks of the per-rank average, the parameters
//! printed with the result, and the answer checked before a time is reported.

use crate::error::BenchError;
use crate::table::Table;
use ndarray::{Array1, Ix1};
use spmdkit::collective;
use spmdkit::comm::{cores_here, Comm};
use spmdkit::reduce::{self, Leaves, Strategy};
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
    let pool = spmdkit::pool(cores_here())
        .unwrap_or_else(|e| comm.abort(1, &format!("reduce benchmark: {e}")));
    for i in 0..warmup + iterations {
        for (s, &strategy) in strategies.iter().enumerate() {
            let mut mine = Leaves::new(&pool);
            mine.insert(rank, Array1::from_elem(values, (rank + 1) as f64));
            comm.barrier();
            let t = Instant::now();
            let (result, r) = reduce::reduce(comm, strategy, mine, Ix1(values));
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
    let all = collective::gather(comm, 0, &mine)?;
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
    use spmdkit::comm::inproc;

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

/// A latency–bandwidth–compute model of the reductions: combining one partial sum costs
/// α + bytes·(β + γ) (α latency, β transfer time per byte, γ add time per byte); `linear` pays it
/// P − 1 times in a row at rank 0, `tree` ⌈log2 P⌉ times (once per round).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Model {
    /// Latency per message, seconds.
    pub alpha_s: f64,
    /// Transfer time per byte, seconds.
    pub beta_s_per_byte: f64,
    /// Add time per byte, seconds (measured from the local add kernel).
    pub gamma_s_per_byte: f64,
}

/// How many combine steps lie on the critical path of `strategy` at `ranks` ranks.
pub fn hops(strategy: &str, ranks: usize) -> f64 {
    match strategy {
        "tree" => f64::from(spmdkit::reduce::ceil_log2(ranks)),
        // The MPI library's own algorithm is unknown; it is not modelled.
        "linear" => ranks.saturating_sub(1) as f64,
        _ => f64::NAN,
    }
}

impl Model {
    /// Fits α and β by least squares on relative errors to the `tree` and `linear` rows (their
    /// slowest rank's time), with γ given: small messages then weigh as much as large ones.
    /// Returns `None` without at least two distinct usable rows.
    pub fn fit(rows: &[ReduceRow], gamma_s_per_byte: f64) -> Option<Model> {
        // t − h·bytes·γ = α·h + β·(h·bytes): a linear fit without intercept in (h, h·bytes).
        let (mut sxx, mut sxy, mut syy, mut sxt, mut syt) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut used = 0;
        for r in rows {
            let h = hops(&r.strategy, r.ranks);
            if !h.is_finite() || h == 0.0 {
                continue;
            }
            let (x, y) = (h, h * r.bytes as f64);
            let t = r.max_s - y * gamma_s_per_byte;
            let w = 1.0 / (r.max_s * r.max_s);
            sxx += w * x * x;
            sxy += w * x * y;
            syy += w * y * y;
            sxt += w * x * t;
            syt += w * y * t;
            used += 1;
        }
        let det = sxx * syy - sxy * sxy;
        if used < 2 || det.abs() < f64::EPSILON * sxx * syy {
            return None;
        }
        Some(Model {
            alpha_s: (sxt * syy - syt * sxy) / det,
            beta_s_per_byte: (syt * sxx - sxt * sxy) / det,
            gamma_s_per_byte,
        })
    }

    /// Predicted time of `strategy` reducing `bytes` per rank over `ranks` ranks, seconds.
    pub fn predict(&self, strategy: &str, ranks: usize, bytes: usize) -> f64 {
        hops(strategy, ranks)
            * (self.alpha_s + bytes as f64 * (self.beta_s_per_byte + self.gamma_s_per_byte))
    }
}

/// The columns of the `reduce` CSV.
pub const REDUCE_HEADER: &str = "strategy,ranks,bytes,iterations,rounds,min_s,avg_s,max_s";

impl ReduceRow {
    /// The row as a line of the `reduce` CSV.
    pub fn csv_line(&self) -> String {
        format!(
            "{},{},{},{},{},{:.9},{:.9},{:.9}",
            self.strategy,
            self.ranks,
            self.bytes,
            self.iterations,
            self.rounds,
            self.min_s,
            self.avg_s,
            self.max_s
        )
    }
}

/// The header of the human table of `reduce` rows.
pub fn reduce_table_header() -> String {
    format!(
        "{:>8} {:>12} {:>6} {:>6} {:>12} {:>12} {:>12}",
        "strategy", "bytes", "iters", "rounds", "min_us", "avg_us", "max_us"
    )
}

impl ReduceRow {
    /// The row as a line of the human table (times in µs).
    pub fn table_line(&self) -> String {
        format!(
            "{:>8} {:>12} {:>6} {:>6} {:>12.2} {:>12.2} {:>12.2}",
            self.strategy,
            self.bytes,
            self.iterations,
            self.rounds,
            self.min_s * 1e6,
            self.avg_s * 1e6,
            self.max_s * 1e6
        )
    }
}

/// What one rank alone takes for an array of `values`: a copy (`copy_from_slice`) and an add
/// (`acc += x`, one thread), both into memory already mapped, medians of 11 after one untimed
/// round: the floor a reduction step between ranks is compared with. Seconds.
///
/// The two arrays start half a page apart (modulo 4 KB): glibc's `memcpy` on AMD EPYC was
/// measured 15 × slower for 64 KB when the destination starts 16 bytes after the source modulo
/// 4 KB, the layout two arrays allocated one after the other can get.
pub fn local_copy_and_add(values: usize) -> (f64, f64) {
    let gap = (4096 - (values * 8) % 4096 + 2048) % 4096 / 8;
    let mut both = vec![0.5; 2 * values + gap];
    let (x, rest) = both.split_at_mut(values + gap);
    let x = &x[..values];
    let acc = &mut rest[..values];
    acc.fill(1.0);
    let mut time = |f: &mut dyn FnMut(&mut [f64])| {
        let mut times: Vec<f64> = (0..12)
            .map(|_| {
                let t = Instant::now();
                f(acc);
                t.elapsed().as_secs_f64()
            })
            .skip(1)
            .collect();
        times.sort_by(f64::total_cmp);
        times[times.len() / 2]
    };
    let copy = time(&mut |acc| acc.copy_from_slice(x));
    let add = time(&mut |acc| {
        for (a, b) in acc.iter_mut().zip(x) {
            *a += *b;
        }
    });
    std::hint::black_box(&both);
    (copy, add)
}

/// The add kernel's time per byte of a message (γ), measured here: the median of 15 adds of
/// 1 M values on this process's rayon threads.
pub fn measure_gamma() -> f64 {
    let values = 1 << 20;
    let mut acc = vec![1.0; values];
    let x = vec![0.5; values];
    let mut times: Vec<f64> = (0..16)
        .map(|_| {
            let t = Instant::now();
            spmdkit_apps::kernels::add_into(&mut acc, &x);
            t.elapsed().as_secs_f64()
        })
        .skip(1)
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2] / (values * 8) as f64
}

/// The model's report: the fitted α, β, γ; every tree and linear row next to the model's time;
/// the predictions for 2 to 65 536 ranks at `bytes` per rank.
///
/// # Errors
/// Fewer than two usable rows.
pub fn model_report(
    rows: &[ReduceRow],
    bytes: usize,
    gamma_s_per_byte: f64,
) -> Result<String, BenchError> {
    use std::fmt::Write as _;
    let m = Model::fit(rows, gamma_s_per_byte).ok_or_else(|| {
        BenchError::Input(
            "the CSVs need at least two tree or linear rows of different sizes or rank counts"
                .into(),
        )
    })?;
    let mut out = String::new();
    let _ = writeln!(out, "# spmdkit-bench model: t = hops x (alpha + bytes x (beta + gamma)); hops = P-1 (linear), ceil(log2 P) (tree)");
    let _ = writeln!(
        out,
        "alpha = {:.3} us, beta = {:.3} ns/byte ({:.2} GB/s), gamma = {:.3} ns/byte ({:.2} GB/s, measured here)",
        m.alpha_s * 1e6,
        m.beta_s_per_byte * 1e9,
        1e-9 / m.beta_s_per_byte,
        m.gamma_s_per_byte * 1e9,
        1e-9 / m.gamma_s_per_byte
    );
    let _ = writeln!(
        out,
        "\n{:>8} {:>6} {:>10} {:>12} {:>12} {:>8}",
        "strategy", "ranks", "bytes", "measured_us", "model_us", "ratio"
    );
    for r in rows
        .iter()
        .filter(|r| hops(&r.strategy, r.ranks).is_finite())
    {
        let p = m.predict(&r.strategy, r.ranks, r.bytes);
        let _ = writeln!(
            out,
            "{:>8} {:>6} {:>10} {:>12.2} {:>12.2} {:>8.2}",
            r.strategy,
            r.ranks,
            r.bytes,
            r.max_s * 1e6,
            p * 1e6,
            r.max_s / p
        );
    }
    let _ = writeln!(out, "\npredicted for {bytes} bytes per rank:");
    let _ = writeln!(
        out,
        "{:>8} {:>14} {:>14} {:>14}",
        "ranks", "tree_s", "linear_s", "linear/tree"
    );
    for p in (1..=16).map(|k| 1usize << k) {
        let (t, l) = (m.predict("tree", p, bytes), m.predict("linear", p, bytes));
        let _ = writeln!(out, "{p:>8} {t:>14.6} {l:>14.6} {:>14.1}", l / t);
    }
    Ok(out)
}

/// Reads the rows of a CSV written by `spmdkit-bench reduce --csv`.
///
/// # Errors
/// A missing column or a field that is not a number, with its line.
pub fn parse_reduce_csv(text: &str) -> Result<Vec<ReduceRow>, String> {
    let columns: Vec<&str> = REDUCE_HEADER.split(',').collect();
    let t = Table::parse(text, &columns)?;
    (0..t.len())
        .map(|i| {
            Ok(ReduceRow {
                strategy: t.text(i, "strategy").to_string(),
                ranks: t.value(i, "ranks")?,
                bytes: t.value(i, "bytes")?,
                iterations: t.value(i, "iterations")?,
                rounds: t.value(i, "rounds")?,
                min_s: t.value(i, "min_s")?,
                avg_s: t.value(i, "avg_s")?,
                max_s: t.value(i, "max_s")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod model_tests {
    use super::*;

    fn row(strategy: &str, ranks: usize, bytes: usize, max_s: f64) -> ReduceRow {
        ReduceRow {
            strategy: strategy.into(),
            ranks,
            bytes,
            iterations: 1,
            rounds: 0,
            min_s: max_s,
            avg_s: max_s,
            max_s,
        }
    }

    #[test]
    fn the_fit_recovers_a_known_model() {
        let truth = Model {
            alpha_s: 2e-6,
            beta_s_per_byte: 3e-10,
            gamma_s_per_byte: 1e-10,
        };
        let mut rows = Vec::new();
        for ranks in [2, 3, 4, 8] {
            for bytes in [8, 65_536, 8_388_608] {
                for s in ["tree", "linear", "native"] {
                    let t = if s == "native" {
                        1.0
                    } else {
                        truth.predict(s, ranks, bytes)
                    };
                    rows.push(row(s, ranks, bytes, t));
                }
            }
        }
        let fit = Model::fit(&rows, truth.gamma_s_per_byte).unwrap();
        assert!((fit.alpha_s / truth.alpha_s - 1.0).abs() < 1e-6, "{fit:?}");
        assert!(
            (fit.beta_s_per_byte / truth.beta_s_per_byte - 1.0).abs() < 1e-6,
            "{fit:?}"
        );
        // The tree's advantage grows like (P − 1) / log2 P.
        let at = |p| fit.predict("linear", p, 8_388_608) / fit.predict("tree", p, 8_388_608);
        assert!((at(65_536) - 65_535.0 / 16.0).abs() < 1e-6);
        assert!(Model::fit(&rows[..1], 0.0).is_none());
    }

    #[test]
    fn csv_rows_round_trip_and_bad_lines_are_named() {
        let text = "# spmdkit-bench reduce\nstrategy,ranks,bytes,iterations,rounds,min_s,avg_s,max_s\ntree,4,8,10,2,0.1,0.2,0.3\n";
        let rows = parse_reduce_csv(text).unwrap();
        assert_eq!(
            rows,
            vec![ReduceRow {
                rounds: 2,
                iterations: 10,
                min_s: 0.1,
                avg_s: 0.2,
                ..row("tree", 4, 8, 0.3)
            }]
        );
        let e = parse_reduce_csv(&format!("{REDUCE_HEADER}\ntree,4,eight,10,2,0.1,0.2,0.3"))
            .unwrap_err();
        assert!(e.contains("line 2") && e.contains("'eight'"), "{e}");
        assert!(parse_reduce_csv("tree,4,8,10,2,0.1,0.2,0.3").is_err());
    }
}
