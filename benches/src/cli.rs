//! The command line of `spmdkit-bench`: clap structures that only parse, and the checked
//! configurations built from them, every value validated once before any rank starts work.

use super::error::BenchError;
use super::workloads::{self, MatrixJob};
use clap::{Args, Parser, Subcommand};
use spmdkit::comm::{threads_here, Threads, MAX_THREADS};
use spmdkit::reduce::Strategy;
use spmdkit::Policy;
use spmdkit_apps::cli::{parse_duration, CLASSIC_DURATIONS, MAX_SIZE};
use spmdkit_apps::jobs::memory::parse_bytes;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Examples:
  mpirun -np 4 spmdkit-bench reduce --sizes 8,1K,1M,8M --csv reduce.csv
  mpirun -np 2 spmdkit-bench sleep --tasks random --threads 4 --csv sleep.csv
  mpirun -np 2 spmdkit-bench matrix --count 8 --size 1000 --threads 1,2 --csv matrix-np2.csv
  spmdkit-bench model --csv reduce-np2.csv --csv reduce-np4.csv   (no MPI needed)
  spmdkit-bench plot --reduce reduce-np2.csv --matrix matrix-np2.csv --out charts/

reduce: each point has warm-up iterations, then timed ones, each after a barrier; min/avg/max over
ranks of each rank's average time; the sum is checked before a time is printed.
sleep, matrix: the real jobs, variants alternating run by run, medians; every answer is checked
(sleep: each task's result; matrix: the same digest in every run). Progress goes to stderr.
Threads per rank need cores per rank: Open MPI binds each of up to 2 ranks to one core unless
given --bind-to none (or --map-by slot:PE=N); spmdkit-bench matrix says so when it sees it.";

/// MPI benchmarks of spmdkit.
#[derive(Debug, Parser)]
#[command(name = "spmdkit-bench", version, after_help = AFTER_HELP)]
pub struct BenchCli {
    /// What to measure or draw.
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks and the tools that read their CSVs.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Time the reductions (tree, linear, native) of one f64 buffer per rank to rank 0.
    Reduce(ReduceArgs),
    /// Scheduling efficiency of `sleep`: each policy's makespan against the lower bound
    /// max(longest task, total / W), policies alternating run by run.
    Sleep(SleepArgs),
    /// Strong scaling of `matrix`: the same job at each thread count (alternating), on the ranks
    /// this is started with; run it at several rank counts and plot the CSVs together.
    Matrix(MatrixArgs),
    /// Draw SVG charts from the CSVs of the other benchmarks (no MPI needed).
    Plot(PlotArgs),
    /// Fit the latency/bandwidth/compute model (alpha, beta, gamma) to `reduce` CSVs, show it next
    /// to the measurements, and predict tree against linear for 2 to 65 536 ranks.
    Model(ModelArgs),
}

/// `spmdkit-bench reduce`, as parsed.
#[derive(Debug, Args)]
pub struct ReduceArgs {
    /// Bytes per rank, comma-separated, with K/M/G suffixes [default: 8 B to 32 MiB x4, 64 MiB].
    #[arg(long, value_name = "LIST")]
    pub sizes: Option<String>,
    /// Strategies to time, comma-separated.
    #[arg(long, value_name = "LIST", default_value = "tree,linear,native")]
    pub strategies: String,
    /// Timed iterations per point [default: 200 up to 64 KiB, 50 up to 4 MiB, 10 above].
    #[arg(long, value_name = "N")]
    pub iterations: Option<usize>,
    /// Untimed warm-up iterations per point.
    #[arg(long, value_name = "N", default_value = "3")]
    pub warmup: usize,
    /// Also write the rows to this CSV file (parameters in `#` comment lines).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

/// `spmdkit-bench sleep`, as parsed.
#[derive(Debug, Args)]
pub struct SleepArgs {
    /// Policies to compare, comma-separated.
    #[arg(long, value_name = "LIST", default_value = "lpt,block,cyclic,dynamic")]
    pub policies: String,
    /// The tasks: `classic` (the 16 tasks of the classic demonstration) or `random`
    /// (--count tasks of uniform length from 0 to --longest, from --seed).
    #[arg(long, value_name = "NAME", default_value = "classic")]
    pub tasks: String,
    /// Number of random tasks.
    #[arg(long, value_name = "N", default_value = "200")]
    pub count: usize,
    /// Longest random task, seconds.
    #[arg(long, value_name = "SECONDS", default_value = "0.1")]
    pub longest: String,
    /// Seed of the random tasks.
    #[arg(long, value_name = "N", default_value = "42")]
    pub seed: u64,
    /// Worker threads per rank [default: as `spmdkit sleep`].
    #[arg(long, value_name = "N")]
    pub threads: Option<String>,
    /// Runs of each policy (medians are reported).
    #[arg(long, value_name = "N", default_value = "3")]
    pub repeats: usize,
    /// Also write the rows to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

/// `spmdkit-bench matrix`, as parsed.
#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Number of matrices N (even).
    #[arg(long, value_name = "N", default_value = "8")]
    pub count: usize,
    /// Matrix side n.
    #[arg(long, value_name = "N", default_value = "1000")]
    pub size: usize,
    /// Generator seed.
    #[arg(long, value_name = "N", default_value = "1")]
    pub seed: u64,
    /// Threads per rank to measure, comma-separated.
    #[arg(long, value_name = "LIST", default_value = "1,2")]
    pub threads: String,
    /// Reduction strategy.
    #[arg(long, value_name = "NAME", default_value = "tree")]
    pub reduce: String,
    /// Runs of each thread count (medians are reported).
    #[arg(long, value_name = "N", default_value = "3")]
    pub repeats: usize,
    /// Also write the rows to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
}

/// `spmdkit-bench plot`, as parsed.
#[derive(Debug, Args)]
pub struct PlotArgs {
    /// CSVs of `reduce` (time against size; the model's extrapolation).
    #[arg(long, value_name = "FILE")]
    pub reduce: Vec<PathBuf>,
    /// Bytes per rank for the model's chart.
    #[arg(long, value_name = "SIZE", default_value = "8M")]
    pub bytes: String,
    /// CSVs of `matrix` at several rank counts (strong scaling).
    #[arg(long, value_name = "FILE")]
    pub matrix: Vec<PathBuf>,
    /// CSVs of `sleep` (scheduling efficiency).
    #[arg(long, value_name = "FILE")]
    pub sleep: Vec<PathBuf>,
    /// The CSV of `benches/compare-python.sh` (the classic comparison).
    #[arg(long, value_name = "FILE")]
    pub compare: Option<PathBuf>,
    /// Directory for the SVG files (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub out: PathBuf,
}

/// `spmdkit-bench model`, as parsed.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// CSV files written by `reduce --csv` (repeat for several rank counts).
    #[arg(long, value_name = "FILE", required = true)]
    pub csv: Vec<PathBuf>,
    /// Bytes per rank for the predictions.
    #[arg(long, value_name = "SIZE", default_value = "8M")]
    pub bytes: String,
}

fn list<T>(
    option: &'static str,
    text: &str,
    item: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, BenchError> {
    text.split(',')
        .map(|s| item(s.trim()).map_err(|why| BenchError::argument(option, why)))
        .collect()
}

fn at_least_one(option: &'static str, n: usize) -> Result<usize, BenchError> {
    if n == 0 {
        Err(BenchError::argument(option, "use at least 1"))
    } else {
        Ok(n)
    }
}

fn bytes(option: &'static str, text: &str) -> Result<usize, BenchError> {
    parse_bytes(text)
        .filter(|b| *b >= 8)
        .map(|b| b as usize)
        .ok_or_else(|| BenchError::argument(option, format!("'{text}' is not a size such as 8M")))
}

/// A checked `reduce` run.
#[derive(Debug, Clone, PartialEq)]
pub struct ReduceConfig {
    /// Bytes per rank of each point.
    pub sizes: Vec<usize>,
    /// Strategies, timed alternately.
    pub strategies: Vec<Strategy>,
    /// Timed iterations per point, when given.
    pub iterations: Option<usize>,
    /// Untimed iterations per point.
    pub warmup: usize,
    /// Where rank 0 writes the rows.
    pub csv: Option<PathBuf>,
}

impl ReduceConfig {
    /// Checks the arguments.
    ///
    /// # Errors
    /// A size that is not a positive multiple of 8 bytes, or an unknown strategy.
    pub fn from_args(a: &ReduceArgs) -> Result<Self, BenchError> {
        let sizes = match &a.sizes {
            // 8 B, 32 B, ... 32 MiB (x4), then 64 MiB.
            None => (0..12)
                .map(|i| 8usize << (2 * i))
                .chain([64 << 20])
                .collect(),
            Some(text) => list("--sizes", text, |s| match parse_bytes(s) {
                Some(b) if b >= 8 && b % 8 == 0 => Ok(b as usize),
                Some(_) => Err(format!(
                    "'{s}' must be a positive multiple of 8 bytes (f64 values)"
                )),
                None => Err(format!("'{s}' is not a size such as 8, 1K or 4M")),
            })?,
        };
        let strategies = list("--strategies", &a.strategies, |s| {
            s.parse::<Strategy>().map_err(|e| e.to_string())
        })?;
        Ok(ReduceConfig {
            sizes,
            strategies,
            iterations: a.iterations,
            warmup: a.warmup,
            csv: a.csv.clone(),
        })
    }

    /// Timed iterations at `bytes` per rank: as given, else fewer for larger messages.
    pub fn iterations_for(&self, bytes: usize) -> usize {
        self.iterations.unwrap_or(match bytes {
            0..=65_536 => 200,
            65_537..=4_194_304 => 50,
            _ => 10,
        })
    }
}

/// A checked `sleep` benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct SleepBenchConfig {
    /// Policies, run alternately.
    pub policies: Vec<Policy>,
    /// This rank's worker threads.
    pub threads: Threads,
    /// Runs of each policy.
    pub repeats: usize,
    /// The tasks' name in reports (`classic`, `random200`).
    pub workload: String,
    /// The task durations.
    pub durations: Vec<f64>,
    /// For random tasks, the seed and the longest task (seconds).
    pub random: Option<(u64, f64)>,
    /// Where rank 0 writes the rows.
    pub csv: Option<PathBuf>,
}

impl SleepBenchConfig {
    /// Checks the arguments and makes the task list.
    ///
    /// # Errors
    /// An unknown policy or task set, a bad duration or thread count, or a zero count.
    pub fn from_args(a: &SleepArgs) -> Result<Self, BenchError> {
        let policies = list("--policies", &a.policies, |s| {
            s.parse::<Policy>().map_err(|e| e.to_string())
        })?;
        let threads = threads_here(a.threads.as_deref())?;
        let repeats = at_least_one("--repeats", a.repeats)?;
        let longest = parse_duration(&a.longest)
            .map_err(|why| BenchError::argument("--longest", format!("'{}': {why}", a.longest)))?;
        let (workload, durations, random) = match a.tasks.as_str() {
            "classic" => ("classic".to_string(), CLASSIC_DURATIONS.to_vec(), None),
            "random" => (
                format!("random{}", at_least_one("--count", a.count)?),
                workloads::random_durations(a.count, longest, a.seed),
                Some((a.seed, longest)),
            ),
            other => {
                return Err(BenchError::argument(
                    "--tasks",
                    format!("'{other}' is neither 'classic' nor 'random'"),
                ))
            }
        };
        Ok(SleepBenchConfig {
            policies,
            threads,
            repeats,
            workload,
            durations,
            random,
            csv: a.csv.clone(),
        })
    }

    /// What the CSV keeps of this run: the tasks (with seed and longest task when random) and
    /// the repeats.
    pub fn csv_parameters(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![("tasks", self.workload.clone())];
        if let Some((seed, longest)) = self.random {
            p.push(("seed", seed.to_string()));
            p.push(("longest_s", longest.to_string()));
        }
        p.push(("repeats", self.repeats.to_string()));
        p
    }
}

/// A checked `matrix` scaling benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixBenchConfig {
    /// The job every point repeats.
    pub job: MatrixJob,
    /// Thread counts, run alternately.
    pub threads: Vec<usize>,
    /// Runs of each thread count.
    pub repeats: usize,
    /// Where rank 0 writes the rows.
    pub csv: Option<PathBuf>,
}

impl MatrixBenchConfig {
    /// Checks the arguments.
    ///
    /// # Errors
    /// An odd or too small count, a size out of range, a bad thread count, an unknown strategy,
    /// or zero repeats.
    pub fn from_args(a: &MatrixArgs) -> Result<Self, BenchError> {
        if a.count < 2 || !a.count.is_multiple_of(2) {
            return Err(BenchError::argument(
                "--count",
                format!(
                    "'{}' is not an even number of at least 2 (matrices are multiplied in pairs)",
                    a.count
                ),
            ));
        }
        if a.size == 0 || a.size > MAX_SIZE {
            return Err(BenchError::argument(
                "--size",
                format!("'{}' is not from 1 to {MAX_SIZE}", a.size),
            ));
        }
        let threads = list("--threads", &a.threads, |t| match t.parse::<usize>() {
            Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
            _ => Err(format!(
                "'{t}' is not a whole number from 1 to {MAX_THREADS}"
            )),
        })?;
        let reduce = a
            .reduce
            .parse::<Strategy>()
            .map_err(|e| BenchError::argument("--reduce", e.to_string()))?;
        Ok(MatrixBenchConfig {
            job: MatrixJob {
                count: a.count,
                size: a.size,
                seed: a.seed,
                reduce,
            },
            threads,
            repeats: at_least_one("--repeats", a.repeats)?,
            csv: a.csv.clone(),
        })
    }
}

/// A checked `plot` run.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotConfig {
    /// `reduce` CSVs.
    pub reduce: Vec<PathBuf>,
    /// Bytes per rank of the model's chart.
    pub bytes: usize,
    /// `matrix` CSVs.
    pub matrix: Vec<PathBuf>,
    /// `sleep` CSVs.
    pub sleep: Vec<PathBuf>,
    /// The comparison's CSV.
    pub compare: Option<PathBuf>,
    /// Where the charts go.
    pub out: PathBuf,
}

impl PlotConfig {
    /// Checks the arguments.
    ///
    /// # Errors
    /// No CSV at all, or a bad `--bytes`.
    pub fn from_args(a: &PlotArgs) -> Result<Self, BenchError> {
        if a.reduce.is_empty() && a.matrix.is_empty() && a.sleep.is_empty() && a.compare.is_none() {
            return Err(BenchError::Input(
                "nothing to draw: give --reduce, --matrix, --sleep or --compare CSVs".into(),
            ));
        }
        Ok(PlotConfig {
            reduce: a.reduce.clone(),
            bytes: bytes("--bytes", &a.bytes)?,
            matrix: a.matrix.clone(),
            sleep: a.sleep.clone(),
            compare: a.compare.clone(),
            out: a.out.clone(),
        })
    }
}

/// A checked `model` run.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// `reduce` CSVs.
    pub csv: Vec<PathBuf>,
    /// Bytes per rank of the predictions.
    pub bytes: usize,
}

impl ModelConfig {
    /// Checks the arguments.
    ///
    /// # Errors
    /// A bad `--bytes`.
    pub fn from_args(a: &ModelArgs) -> Result<Self, BenchError> {
        Ok(ModelConfig {
            csv: a.csv.clone(),
            bytes: bytes("--bytes", &a.bytes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> BenchCommand {
        let mut all = vec!["spmdkit-bench"];
        all.extend(args);
        BenchCli::try_parse_from(all).unwrap().command
    }

    #[test]
    fn defaults_are_checked_and_complete() {
        let BenchCommand::Reduce(a) = parse(&["reduce"]) else {
            panic!()
        };
        let c = ReduceConfig::from_args(&a).unwrap();
        assert_eq!(c.sizes.first(), Some(&8));
        assert_eq!(c.sizes.last(), Some(&(64 << 20)));
        assert_eq!(c.strategies.len(), 3);
        assert_eq!((c.iterations_for(8), c.iterations_for(8 << 20)), (200, 10));
        let BenchCommand::Sleep(a) = parse(&["sleep", "--tasks", "random", "--count", "7"]) else {
            panic!()
        };
        let c = SleepBenchConfig::from_args(&a).unwrap();
        assert_eq!((c.workload.as_str(), c.durations.len()), ("random7", 7));
        let keys: Vec<&str> = c.csv_parameters().iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["tasks", "seed", "longest_s", "repeats"]);
        let BenchCommand::Sleep(a) = parse(&["sleep"]) else {
            panic!()
        };
        let classic = SleepBenchConfig::from_args(&a).unwrap();
        assert_eq!(
            classic.csv_parameters()[0],
            ("tasks", "classic".to_string())
        );
        assert_eq!(
            classic.csv_parameters().len(),
            2,
            "no seed for the fixed tasks"
        );
        assert_eq!(c.policies.len(), 4);
        let BenchCommand::Matrix(a) = parse(&["matrix", "--threads", "1, 2,4"]) else {
            panic!()
        };
        assert_eq!(MatrixBenchConfig::from_args(&a).unwrap().threads, [1, 2, 4]);
    }

    #[test]
    fn bad_values_name_the_option_and_the_value() {
        let check = |args: &[&str], needle: &str| {
            let e = match parse(args) {
                BenchCommand::Reduce(a) => ReduceConfig::from_args(&a).unwrap_err(),
                BenchCommand::Sleep(a) => SleepBenchConfig::from_args(&a).unwrap_err(),
                BenchCommand::Matrix(a) => MatrixBenchConfig::from_args(&a).unwrap_err(),
                BenchCommand::Plot(a) => PlotConfig::from_args(&a).unwrap_err(),
                BenchCommand::Model(a) => ModelConfig::from_args(&a).unwrap_err(),
            };
            assert!(e.to_string().contains(needle), "{args:?}: {e}");
            assert!(!e.to_string().contains(": --"), "one prefix: {e}");
            assert_eq!(e.exit_code(), 2);
        };
        check(
            &["reduce", "--sizes", "8,12"],
            "--sizes: '12' must be a positive multiple",
        );
        check(
            &["reduce", "--sizes", "lots"],
            "--sizes: 'lots' is not a size",
        );
        check(
            &["reduce", "--strategies", "tree,fast"],
            "unknown reduction 'fast'",
        );
        check(
            &["sleep", "--tasks", "heavy"],
            "--tasks: 'heavy' is neither",
        );
        check(&["sleep", "--longest=-1"], "--longest: '-1'");
        check(
            &["sleep", "--threads", "0"],
            "--threads = '0' is not a valid thread count",
        );
        check(
            &["sleep", "--tasks", "random", "--count", "0"],
            "--count: use at least 1",
        );
        check(&["matrix", "--size", "0"], "--size: '0' is not from 1 to");
        check(
            &["matrix", "--count", "3"],
            "--count: '3' is not an even number",
        );
        check(&["matrix", "--repeats", "0"], "--repeats: use at least 1");
        check(&["plot"], "nothing to draw");
        check(
            &["plot", "--sleep", "s.csv", "--bytes", "4"],
            "--bytes: '4'",
        );
        check(
            &["model", "--csv", "r.csv", "--bytes", "lots"],
            "--bytes: 'lots'",
        );
    }
}
