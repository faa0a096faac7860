//! `spmdkit-bench`: MPI benchmarks of spmdkit's collectives, run under `mpirun` or `srun`.

use clap::{Parser, Subcommand};
use spmdkit::bench;
use spmdkit::memory::parse_bytes;
use spmdkit::reduce::Strategy;
use spmdkit::world::{agree, World};
use std::io::Write;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  mpirun -np 4 spmdkit-bench reduce --sizes 8,1K,1M,8M --csv reduce.csv
  spmdkit-bench model --csv reduce-np2.csv --csv reduce-np4.csv   (no MPI needed)

Each point: warm-up iterations, then timed ones, each after a barrier; min/avg/max over ranks of
each rank's average time; the sum is checked before a time is printed.";

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
        /// Bytes per rank, comma-separated, with K/M/G suffixes [default: 8 B to 64 MiB, x4].
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
        return Ok((0..12).map(|i| 8usize << (2 * i)).collect());
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
    let (list, strategies, iterations, warmup, csv) = match cli.command {
        Bench::Reduce {
            sizes,
            strategies,
            iterations,
            warmup,
            csv,
        } => (sizes, strategies, iterations, warmup, csv),
        Bench::Model { csv, bytes } => {
            if comm.rank() != 0 {
                return ExitCode::SUCCESS;
            }
            return match model(&csv, &bytes) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    spmdkit::say(&format!("spmdkit-bench: error: {e}"));
                    ExitCode::from(2)
                }
            };
        }
    };
    let parsed = sizes(list.as_deref()).and_then(|s| {
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
    let (sizes, strategies) = match agree(comm, parsed.map_err(|e| (2, e))) {
        Ok(v) => v,
        Err(e) => {
            if comm.rank() == 0 {
                spmdkit::say(&format!("spmdkit-bench: error: {e}"));
            }
            return ExitCode::from(e.exit_code);
        }
    };
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
    }
    if let (true, Some(path)) = (root, csv) {
        let mut text = format!(
            "# spmdkit-bench reduce\n# ranks={} warmup={} version={} mpi={}\nstrategy,ranks,bytes,iterations,rounds,min_s,avg_s,max_s\n",
            comm.size(),
            warmup,
            env!("CARGO_PKG_VERSION"),
            spmdkit::jobs::mpi_library_for(comm.backend())
        );
        for r in &rows {
            text.push_str(&format!(
                "{},{},{},{},{},{:.9},{:.9},{:.9}\n",
                r.strategy, r.ranks, r.bytes, r.iterations, r.rounds, r.min_s, r.avg_s, r.max_s
            ));
        }
        if let Err(e) = std::fs::write(&path, text) {
            spmdkit::say(&format!(
                "spmdkit-bench: error: cannot write '{}': {e}",
                path.display()
            ));
            return ExitCode::from(1);
        }
    }
    drop(world);
    ExitCode::SUCCESS
}
