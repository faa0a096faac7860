//! `spmdkit-bench`: MPI benchmarks of spmdkit's collectives, run under `mpirun` or `srun`.

use clap::{Parser, Subcommand};
use spmdkit::bench::{self, plot, table, workloads};
use spmdkit::cli::{parse_duration, threads_here, CLASSIC_DURATIONS, MAX_SIZE, MAX_THREADS};
use spmdkit::memory::parse_bytes;
use spmdkit::plan::Policy;
use spmdkit::reduce::Strategy;
use spmdkit::world::{agree, launch, Comm, World};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

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
#[derive(Parser)]
#[command(name = "spmdkit-bench", version, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Time the reductions (tree, linear, native) of one f64 buffer per rank to rank 0.
    Reduce {
        /// Bytes per rank, comma-separated, with K/M/G suffixes [default: 8 B to 32 MiB x4, 64 MiB].
        #[arg(long, value_name = "LIST")]
        sizes: Option<String>,
        /// Strategies to time, comma-separated.
        #[arg(long, value_name = "LIST", default_value = "tree,linear,native")]
        strategies: String,
        /// Timed iterations per point [default: 200 up to 64 KiB, 50 up to 4 MiB, 10 above].
        #[arg(long, value_name = "N")]
        iterations: Option<usize>,
        /// Untimed warm-up iterations per point.
        #[arg(long, value_name = "N", default_value = "3")]
        warmup: usize,
        /// Also write the rows to this CSV file (parameters in `#` comment lines).
        #[arg(long, value_name = "FILE")]
        csv: Option<std::path::PathBuf>,
    },
    /// Scheduling efficiency of `sleep`: each policy's makespan against the lower bound
    /// max(longest task, total / W), policies alternating run by run.
    Sleep {
        /// Policies to compare, comma-separated.
        #[arg(long, value_name = "LIST", default_value = "lpt,block,cyclic,dynamic")]
        policies: String,
        /// The tasks: `classic` (the 16 tasks of the classic demonstration) or `random`
        /// (--count tasks of uniform length from 0 to --longest, from --seed).
        #[arg(long, value_name = "NAME", default_value = "classic")]
        tasks: String,
        /// Number of random tasks.
        #[arg(long, value_name = "N", default_value = "200")]
        count: usize,
        /// Longest random task, seconds.
        #[arg(long, value_name = "SECONDS", default_value = "0.1")]
        longest: String,
        /// Seed of the random tasks.
        #[arg(long, value_name = "N", default_value = "42")]
        seed: u64,
        /// Worker threads per rank [default: as `spmdkit sleep`].
        #[arg(long, value_name = "N")]
        threads: Option<String>,
        /// Runs of each policy (medians are reported).
        #[arg(long, value_name = "N", default_value = "3")]
        repeats: usize,
        /// Also write the rows to this CSV file.
        #[arg(long, value_name = "FILE")]
        csv: Option<std::path::PathBuf>,
    },
    /// Strong scaling of `matrix`: the same job at each thread count (alternating), on the ranks
    /// this is started with; run it at several rank counts and plot the CSVs together.
    Matrix {
        /// Number of matrices N (even).
        #[arg(long, value_name = "N", default_value = "8")]
        count: usize,
        /// Matrix side n.
        #[arg(long, value_name = "N", default_value = "1000")]
        size: usize,
        /// Generator seed.
        #[arg(long, value_name = "N", default_value = "1")]
        seed: u64,
        /// Threads per rank to measure, comma-separated.
        #[arg(long, value_name = "LIST", default_value = "1,2")]
        threads: String,
        /// Reduction strategy.
        #[arg(long, value_name = "NAME", default_value = "tree")]
        reduce: String,
        /// Runs of each thread count (medians are reported).
        #[arg(long, value_name = "N", default_value = "3")]
        repeats: usize,
        /// Also write the rows to this CSV file.
        #[arg(long, value_name = "FILE")]
        csv: Option<std::path::PathBuf>,
    },
    /// Draw SVG charts from the CSVs of the other benchmarks (no MPI needed).
    Plot {
        /// CSVs of `reduce` (time against size; the model's extrapolation).
        #[arg(long, value_name = "FILE")]
        reduce: Vec<std::path::PathBuf>,
        /// Bytes per rank for the model's chart.
        #[arg(long, value_name = "SIZE", default_value = "8M")]
        bytes: String,
        /// CSVs of `matrix` at several rank counts (strong scaling).
        #[arg(long, value_name = "FILE")]
        matrix: Vec<std::path::PathBuf>,
        /// CSVs of `sleep` (scheduling efficiency).
        #[arg(long, value_name = "FILE")]
        sleep: Vec<std::path::PathBuf>,
        /// The CSV of `benches/compare-python.sh` (the classic comparison).
        #[arg(long, value_name = "FILE")]
        compare: Option<std::path::PathBuf>,
        /// Directory for the SVG files (created if missing).
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: std::path::PathBuf,
    },
    /// Fit the latency/bandwidth/compute model (alpha, beta, gamma) to `reduce` CSVs, show it next
    /// to the measurements, and predict tree against linear for 2 to 65 536 ranks.
    Model {
        /// CSV files written by `reduce --csv` (repeat for several rank counts).
        #[arg(long, value_name = "FILE", required = true)]
        csv: Vec<std::path::PathBuf>,
        /// Bytes per rank for the predictions.
        #[arg(long, value_name = "SIZE", default_value = "8M")]
        bytes: String,
    },
}

/// The add kernel's time per byte of a message (gamma), measured here: median of 15 adds of
/// 1 M values on this process's rayon threads.
fn measure_gamma() -> f64 {
    let values = 1 << 20;
    let mut acc = vec![1.0; values];
    let x = vec![0.5; values];
    let mut times: Vec<f64> = (0..16)
        .map(|_| {
            let t = std::time::Instant::now();
            spmdkit::matrix::add_into(&mut acc, &x);
            t.elapsed().as_secs_f64()
        })
        .skip(1)
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2] / (values * 8) as f64
}

fn model(files: &[std::path::PathBuf], bytes: &str) -> Result<(), String> {
    let bytes = parse_bytes(bytes)
        .filter(|b| *b >= 8)
        .ok_or_else(|| format!("--bytes: '{bytes}' is not a size such as 8M"))?
        as usize;
    let mut rows = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read '{}': {e}", f.display()))?;
        rows.extend(bench::parse_reduce_csv(&text).map_err(|e| format!("'{}': {e}", f.display()))?);
    }
    let gamma = measure_gamma();
    let m = bench::Model::fit(&rows, gamma).ok_or(
        "the CSVs need at least two tree or linear rows of different sizes or rank counts",
    )?;
    println!("# spmdkit-bench model: t = hops x (alpha + bytes x (beta + gamma)); hops = P-1 (linear), ceil(log2 P) (tree)");
    println!(
        "alpha = {:.3} us, beta = {:.3} ns/byte ({:.2} GB/s), gamma = {:.3} ns/byte ({:.2} GB/s, measured here)",
        m.alpha_s * 1e6,
        m.beta_s_per_byte * 1e9,
        1e-9 / m.beta_s_per_byte,
        m.gamma_s_per_byte * 1e9,
        1e-9 / m.gamma_s_per_byte
    );
    println!(
        "\n{:>8} {:>6} {:>10} {:>12} {:>12} {:>8}",
        "strategy", "ranks", "bytes", "measured_us", "model_us", "ratio"
    );
    for r in rows
        .iter()
        .filter(|r| bench::hops(&r.strategy, r.ranks).is_finite())
    {
        let p = m.predict(&r.strategy, r.ranks, r.bytes);
        println!(
            "{:>8} {:>6} {:>10} {:>12.2} {:>12.2} {:>8.2}",
            r.strategy,
            r.ranks,
            r.bytes,
            r.max_s * 1e6,
            p * 1e6,
            r.max_s / p
        );
    }
    println!("\npredicted for {bytes} bytes per rank:");
    println!(
        "{:>8} {:>14} {:>14} {:>14}",
        "ranks", "tree_s", "linear_s", "linear/tree"
    );
    let mut p = 2usize;
    while p <= 65_536 {
        let (t, l) = (m.predict("tree", p, bytes), m.predict("linear", p, bytes));
        println!("{p:>8} {t:>14.6} {l:>14.6} {:>14.1}", l / t);
        p *= 2;
    }
    Ok(())
}

fn sizes(list: Option<&str>) -> Result<Vec<usize>, String> {
    let Some(list) = list else {
        // 8 B, 32 B, ... 32 MiB (x4), then 64 MiB.
        return Ok((0..12)
            .map(|i| 8usize << (2 * i))
            .chain([64 << 20])
            .collect());
    };
    list.split(',')
        .map(|s| {
            let bytes = parse_bytes(s)
                .ok_or_else(|| format!("--sizes: '{s}' is not a size such as 8, 1K or 4M"))?;
            if bytes < 8 || bytes % 8 != 0 {
                return Err(format!(
                    "--sizes: '{s}' must be a positive multiple of 8 bytes (f64 values)"
                ));
            }
            Ok(bytes as usize)
        })
        .collect()
}

/// An error and the exit code it asks for (2: a bad argument, 1: a failure while running).
type Failure = (u8, String);

fn reduce(
    comm: &dyn Comm,
    list: Option<&str>,
    strategies: &str,
    iterations: Option<usize>,
    warmup: usize,
    csv: Option<&Path>,
) -> Result<(), Failure> {
    let parsed = sizes(list).and_then(|s| {
        let st = strategies
            .split(',')
            .map(|n| {
                n.trim()
                    .parse::<Strategy>()
                    .map_err(|e| format!("--strategies: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((s, st))
    });
    let (sizes, strategies) = agree(comm, parsed.map_err(|e| (2, e))).map_err(failure)?;
    let root = comm.rank() == 0;
    let mut rows = Vec::new();
    if root {
        println!(
            "# spmdkit-bench reduce: {} ranks, {} warm-up iterations",
            comm.size(),
            warmup
        );
        println!(
            "{:>8} {:>12} {:>6} {:>6} {:>12} {:>12} {:>12}",
            "strategy", "bytes", "iters", "rounds", "min_us", "avg_us", "max_us"
        );
    }
    for &bytes in &sizes {
        let iters = iterations.unwrap_or(match bytes {
            0..=65_536 => 200,
            65_537..=4_194_304 => 50,
            _ => 10,
        });
        for row in
            bench::reduce_latency(comm, &strategies, bytes / 8, warmup, iters).unwrap_or_default()
        {
            println!(
                "{:>8} {:>12} {:>6} {:>6} {:>12.2} {:>12.2} {:>12.2}",
                row.strategy,
                row.bytes,
                row.iterations,
                row.rounds,
                row.min_s * 1e6,
                row.avg_s * 1e6,
                row.max_s * 1e6
            );
            let _ = std::io::stdout().flush();
            rows.push(row);
        }
    }
    match (root, csv) {
        (true, Some(path)) => table::write(
            path,
            "spmdkit-bench reduce",
            &[
                ("ranks", comm.size().to_string()),
                ("warmup", warmup.to_string()),
            ]
            .into_iter()
            .chain(provenance(comm))
            .collect::<Vec<_>>(),
            bench::REDUCE_HEADER,
            rows.iter().map(bench::ReduceRow::csv_line),
        )
        .map_err(|e| (1, e)),
        _ => Ok(()),
    }
}

/// The version and MPI library, for the CSV's parameter line.
fn provenance(comm: &dyn Comm) -> [(&'static str, String); 2] {
    [
        ("version", env!("CARGO_PKG_VERSION").to_string()),
        ("mpi", spmdkit::jobs::mpi_library_for(comm.backend())),
    ]
}

fn failure(e: spmdkit::world::Agreed) -> Failure {
    (e.exit_code, e.to_string())
}

fn positive(option: &str, n: usize) -> Result<usize, Failure> {
    if n == 0 {
        Err((2, format!("{option}: use at least 1")))
    } else {
        Ok(n)
    }
}

/// Reports a finished run on rank 0's stderr, so that long benchmarks show progress.
fn progress(what: &str) -> impl FnMut(usize, usize, String) + '_ {
    move |done, all, variant| {
        if done == all || done.is_power_of_two() || done % 10 == 0 {
            spmdkit::say(&format!(
                "spmdkit-bench {what}: run {done}/{all} done ({variant})"
            ));
        }
    }
}

struct SleepArgs {
    policies: String,
    tasks: String,
    count: usize,
    longest: String,
    seed: u64,
    threads: Option<String>,
    repeats: usize,
    csv: Option<std::path::PathBuf>,
}

fn sleep(comm: &dyn Comm, a: &SleepArgs) -> Result<(), Failure> {
    let checked = (|| -> Result<_, Failure> {
        let policies = a
            .policies
            .split(',')
            .map(|n| {
                n.trim()
                    .parse::<Policy>()
                    .map_err(|e| (2, format!("--policies: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let threads = threads_here(a.threads.as_deref()).map_err(|e| (2, e.to_string()))?;
        let repeats = positive("--repeats", a.repeats)?;
        let longest = parse_duration(&a.longest)
            .map_err(|why| (2, format!("--longest '{}': {why}", a.longest)))?;
        let (name, durations) = match a.tasks.as_str() {
            "classic" => ("classic".to_string(), CLASSIC_DURATIONS.to_vec()),
            "random" => (
                format!("random{}", positive("--count", a.count)?),
                workloads::random_durations(a.count, longest, a.seed),
            ),
            other => {
                return Err((
                    2,
                    format!("--tasks: '{other}' is neither 'classic' nor 'random'"),
                ))
            }
        };
        Ok((policies, threads, repeats, name, durations))
    })();
    let (policies, threads, repeats, name, durations) = agree(comm, checked).map_err(failure)?;
    if comm.rank() == 0 {
        println!(
            "# spmdkit-bench sleep: {} tasks ({name}, {:.3} s in all), {} ranks, {repeats} runs per policy, alternating",
            durations.len(),
            durations.iter().sum::<f64>(),
            comm.size()
        );
    }
    let mut report = progress("sleep");
    let rows = workloads::sleep_efficiency(
        comm,
        &name,
        &durations,
        &policies,
        threads,
        repeats,
        |done, all, p| report(done, all, p.to_string()),
    )
    .map_err(failure)?;
    let Some(rows) = rows else { return Ok(()) };
    println!(
        "{:>8} {:>6} {:>8} {:>8} {:>10} {:>12} {:>10} {:>11}",
        "policy", "ranks", "threads", "workers", "bound_s", "makespan_s", "wall_s", "efficiency"
    );
    for r in &rows {
        println!(
            "{:>8} {:>6} {:>8} {:>8} {:>10.4} {:>12.4} {:>10.4} {:>11.4}",
            r.policy,
            r.ranks,
            r.threads,
            r.workers,
            r.bound_s,
            r.makespan_s,
            r.wall_s,
            r.efficiency
        );
    }
    match &a.csv {
        Some(path) => table::write(
            path,
            "spmdkit-bench sleep",
            &[
                ("tasks", name.clone()),
                ("seed", a.seed.to_string()),
                ("longest", a.longest.clone()),
                ("ranks", comm.size().to_string()),
                ("repeats", repeats.to_string()),
            ]
            .into_iter()
            .chain(provenance(comm))
            .collect::<Vec<_>>(),
            workloads::SLEEP_HEADER,
            rows.iter().map(workloads::SleepRow::csv_line),
        )
        .map_err(|e| (1, e)),
        None => Ok(()),
    }
}

struct MatrixArgs {
    job: (usize, usize, u64),
    threads: String,
    reduce: String,
    repeats: usize,
    csv: Option<std::path::PathBuf>,
}

fn matrix(comm: &dyn Comm, a: &MatrixArgs) -> Result<(), Failure> {
    let (count, size, seed) = a.job;
    let checked = (|| -> Result<_, Failure> {
        if count < 2 || count % 2 != 0 {
            return Err((
                2,
                format!("--count {count}: give an even number, at least 2"),
            ));
        }
        if size == 0 || size > MAX_SIZE {
            return Err((2, format!("--size {size}: use 1 to {MAX_SIZE}")));
        }
        let threads = a
            .threads
            .split(',')
            .map(|t| match t.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(n),
                _ => Err((
                    2,
                    format!("--threads: '{t}' is not a whole number from 1 to {MAX_THREADS}"),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let reduce = a
            .reduce
            .parse::<Strategy>()
            .map_err(|e| (2, format!("--reduce: {e}")))?;
        Ok((threads, reduce, positive("--repeats", a.repeats)?))
    })();
    let (threads, reduce, repeats) = agree(comm, checked).map_err(failure)?;
    if comm.rank() == 0 {
        println!(
            "# spmdkit-bench matrix: {count} x {size}^2, seed {seed}, reduce {reduce}, {} ranks, {repeats} runs per thread count, alternating",
            comm.size()
        );
    }
    if let Some(note) = launch::binding_note(comm, threads.iter().copied().max().unwrap_or(1)) {
        spmdkit::say(&format!("spmdkit-bench: {note}"));
    }
    let job = workloads::MatrixJob {
        count,
        size,
        seed,
        reduce,
    };
    let mut report = progress("matrix");
    let rows = workloads::matrix_scaling(comm, job, &threads, repeats, |done, all, t| {
        report(done, all, format!("{t} threads"))
    })
    .map_err(failure)?;
    let Some(rows) = rows else { return Ok(()) };
    println!(
        "{:>6} {:>8} {:>8} {:>11} {:>11} {:>11} {:>11} {:>9}  digest",
        "ranks", "threads", "workers", "generate_s", "multiply_s", "reduce_s", "total_s", "GFLOP/s"
    );
    for r in &rows {
        println!(
            "{:>6} {:>8} {:>8} {:>11.4} {:>11.4} {:>11.4} {:>11.4} {:>9.1}  {}",
            r.ranks,
            r.threads,
            r.workers,
            r.generate_s,
            r.multiply_s,
            r.reduce_s,
            r.total_s,
            r.gflops,
            &r.digest[..16]
        );
    }
    match &a.csv {
        Some(path) => table::write(
            path,
            "spmdkit-bench matrix",
            &[
                ("count", count.to_string()),
                ("size", size.to_string()),
                ("seed", seed.to_string()),
                ("reduce", reduce.to_string()),
                ("ranks", comm.size().to_string()),
                ("repeats", repeats.to_string()),
            ]
            .into_iter()
            .chain(provenance(comm))
            .collect::<Vec<_>>(),
            workloads::MATRIX_HEADER,
            rows.iter().map(workloads::MatrixRow::csv_line),
        )
        .map_err(|e| (1, e)),
        None => Ok(()),
    }
}

fn read_all<T>(
    files: &[std::path::PathBuf],
    parse: fn(&str) -> Result<Vec<T>, String>,
) -> Result<Vec<T>, String> {
    let mut rows = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read '{}': {e}", f.display()))?;
        rows.extend(parse(&text).map_err(|e| format!("'{}': {e}", f.display()))?);
    }
    Ok(rows)
}

struct PlotArgs {
    reduce: Vec<std::path::PathBuf>,
    bytes: String,
    matrix: Vec<std::path::PathBuf>,
    sleep: Vec<std::path::PathBuf>,
    compare: Option<std::path::PathBuf>,
    out: std::path::PathBuf,
}

fn plot(a: &PlotArgs) -> Result<(), String> {
    if a.reduce.is_empty() && a.matrix.is_empty() && a.sleep.is_empty() && a.compare.is_none() {
        return Err("nothing to draw: give --reduce, --matrix, --sleep or --compare CSVs".into());
    }
    let bytes = parse_bytes(&a.bytes)
        .filter(|b| *b >= 8)
        .ok_or_else(|| format!("--bytes: '{}' is not a size such as 8M", a.bytes))?
        as usize;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| format!("cannot create '{}': {e}", a.out.display()))?;
    let mut drawn = Vec::new();
    let mut draw = |name: &str, f: &dyn Fn(&Path) -> Result<(), String>| {
        let path = a.out.join(name);
        f(&path)?;
        drawn.push(path);
        Ok::<(), String>(())
    };
    if !a.reduce.is_empty() {
        let rows = read_all(&a.reduce, bench::parse_reduce_csv)?;
        draw("reduce-time.svg", &|p| plot::reduce_time(&rows, p))?;
        let m = bench::Model::fit(&rows, measure_gamma()).ok_or(
            "the reduce CSVs need at least two tree or linear rows of different sizes or rank counts",
        )?;
        draw("reduce-model.svg", &|p| plot::model(&m, &rows, bytes, p))?;
    }
    if !a.matrix.is_empty() {
        let rows = read_all(&a.matrix, workloads::parse_matrix_csv)?;
        let cores = launch::cores_here();
        draw("matrix-scaling.svg", &|p| plot::scaling(&rows, cores, p))?;
    }
    if !a.sleep.is_empty() {
        let rows = read_all(&a.sleep, workloads::parse_sleep_csv)?;
        draw("sleep-efficiency.svg", &|p| plot::sleep(&rows, p))?;
    }
    if let Some(f) = &a.compare {
        let rows = read_all(std::slice::from_ref(f), plot::parse_compare_csv)?;
        draw("compare.svg", &|p| plot::compare(&rows, p))?;
    }
    for p in drawn {
        println!("wrote {}", p.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    let world = match World::init() {
        Ok(w) => w,
        Err(e) => {
            if e.should_report() {
                spmdkit::say(&format!("spmdkit-bench: error: {e}"));
            }
            return ExitCode::from(2);
        }
    };
    let comm = world.comm();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            if comm.rank() == 0 {
                let _ = e.print();
            }
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let root = comm.rank() == 0;
    let outcome = match cli.command {
        Bench::Reduce {
            sizes,
            strategies,
            iterations,
            warmup,
            csv,
        } => reduce(
            comm,
            sizes.as_deref(),
            &strategies,
            iterations,
            warmup,
            csv.as_deref(),
        ),
        Bench::Sleep {
            policies,
            tasks,
            count,
            longest,
            seed,
            threads,
            repeats,
            csv,
        } => sleep(
            comm,
            &SleepArgs {
                policies,
                tasks,
                count,
                longest,
                seed,
                threads,
                repeats,
                csv,
            },
        ),
        Bench::Matrix {
            count,
            size,
            seed,
            threads,
            reduce,
            repeats,
            csv,
        } => matrix(
            comm,
            &MatrixArgs {
                job: (count, size, seed),
                threads,
                reduce,
                repeats,
                csv,
            },
        ),
        // The file-only commands run on rank 0 if started under a launcher.
        Bench::Model { csv, bytes } if root => model(&csv, &bytes).map_err(|e| (2, e)),
        Bench::Plot {
            reduce,
            bytes,
            matrix,
            sleep,
            compare,
            out,
        } if root => plot(&PlotArgs {
            reduce,
            bytes,
            matrix,
            sleep,
            compare,
            out,
        })
        .map_err(|e| (2, e)),
        Bench::Model { .. } | Bench::Plot { .. } => Ok(()),
    };
    match outcome {
        Ok(()) => {
            drop(world);
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            if root {
                spmdkit::say(&format!("spmdkit-bench: error: {message}"));
            }
            ExitCode::from(code)
        }
    }
}
