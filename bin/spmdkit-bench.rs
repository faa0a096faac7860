//! `spmdkit-bench`: MPI benchmarks of spmdkit's collectives, run under `mpirun` or `srun`.

use clap::{Parser, Subcommand};
use spmdkit::bench;
use spmdkit::memory::parse_bytes;
use spmdkit::reduce::Strategy;
use spmdkit::world::{agree, World};
use std::io::Write;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Example:
  mpirun -np 4 spmdkit-bench reduce --sizes 8,1K,1M,8M --csv reduce.csv

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
    let Bench::Reduce {
        sizes: list,
        strategies,
        iterations,
        warmup,
        csv,
    } = cli.command;
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
