//! `spmdkit-bench`: MPI benchmarks of spmdkit's reductions and workloads, run under `mpirun` or
//! `srun`; `model` and `plot` read their CSVs and need no MPI.

use clap::{CommandFactory, FromArgMatches};
use cli::{
    BenchCli, BenchCommand, MatrixBenchConfig, ModelConfig, PlotConfig, ReduceConfig,
    SleepBenchConfig,
};
use error::BenchError;
use spmdkit::comm::cores_here;
use spmdkit::{agree, Comm, Error, Kind, World};
use spmdkit_bench::{cli, error, plot, reduce, table, workloads};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Writes the rows on rank 0, with the rank count, `parameters`, version and MPI library.
fn write_csv(
    comm: &dyn Comm,
    path: Option<&Path>,
    title: &str,
    parameters: &[(&'static str, String)],
    header: &str,
    lines: impl IntoIterator<Item = String>,
) -> Result<(), Error> {
    let (Some(path), true) = (path, comm.rank() == 0) else {
        return Ok(());
    };
    let mut all = vec![("ranks", comm.size().to_string())];
    all.extend_from_slice(parameters);
    all.push(("version", env!("CARGO_PKG_VERSION").to_string()));
    all.push(("mpi", comm.backend().library()));
    Ok(table::write(path, title, &all, header, lines)?)
}

/// Reports finished runs on rank 0's stderr, so that long benchmarks show progress.
fn progress(what: &str) -> impl FnMut(usize, usize, String) + '_ {
    move |done, all, variant| {
        if done == all || done.is_power_of_two() || done % 10 == 0 {
            spmdkit::say(&format!(
                "spmdkit-bench {what}: run {done}/{all} done ({variant})"
            ));
        }
    }
}

fn reduce_bench(comm: &dyn Comm, c: &ReduceConfig) -> Result<(), Error> {
    if comm.rank() == 0 {
        println!(
            "# spmdkit-bench reduce: {} ranks, {} warm-up iterations",
            comm.size(),
            c.warmup
        );
        println!("{}", reduce::reduce_table_header());
    }
    let mut rows = Vec::new();
    for &bytes in &c.sizes {
        let iterations = c.iterations_for(bytes);
        for row in reduce::reduce_latency(comm, &c.strategies, bytes / 8, c.warmup, iterations)
            .unwrap_or_default()
        {
            println!("{}", row.table_line());
            let _ = std::io::stdout().flush();
            rows.push(row);
        }
    }
    // The local floor, on rank 0 while the others wait.
    if comm.rank() == 0 {
        println!(
            "# arrays rank 0 received through node shared memory: {}",
            comm.streamed()
        );
        for &bytes in &c.sizes {
            let (copy, add) = reduce::local_copy_and_add(bytes / 8);
            println!(
                "# one rank alone, {bytes} bytes: copy {:.2} us, add {:.2} us",
                copy * 1e6,
                add * 1e6
            );
        }
    }
    comm.barrier();
    write_csv(
        comm,
        c.csv.as_deref(),
        "spmdkit-bench reduce",
        &[("warmup", c.warmup.to_string())],
        reduce::REDUCE_HEADER,
        rows.iter().map(reduce::ReduceRow::csv_line),
    )
}

fn sleep(comm: &dyn Comm, c: &SleepBenchConfig) -> Result<(), Error> {
    if comm.rank() == 0 {
        println!(
            "# spmdkit-bench sleep: {} tasks ({}, {:.3} s in all), {} ranks, {} runs per policy, alternating",
            c.durations.len(),
            c.workload,
            c.durations.iter().sum::<f64>(),
            comm.size(),
            c.repeats
        );
    }
    let mut report = progress("sleep");
    let rows = workloads::sleep_efficiency(
        comm,
        &c.workload,
        &c.durations,
        &c.policies,
        c.threads,
        c.repeats,
        |done, all, p| report(done, all, p.to_string()),
    )?;
    let Some(rows) = rows else { return Ok(()) };
    print!("{}", workloads::sleep_table(&rows));
    write_csv(
        comm,
        c.csv.as_deref(),
        "spmdkit-bench sleep",
        &c.csv_parameters(),
        workloads::SLEEP_HEADER,
        rows.iter().map(workloads::SleepRow::csv_line),
    )
}

fn matrix(comm: &dyn Comm, c: &MatrixBenchConfig) -> Result<(), Error> {
    let j = c.job;
    if comm.rank() == 0 {
        println!(
            "# spmdkit-bench matrix: {} x {}^2, seed {}, reduce {}, {} ranks, {} runs per thread count, alternating",
            j.count, j.size, j.seed, j.reduce, comm.size(), c.repeats
        );
    }
    let most = c.threads.iter().copied().max().unwrap_or(1);
    // Each rank gets cores for its largest thread count, where the host has them.
    if let Some(note) = spmdkit::collective::placement::place(comm, Some(most)).note {
        spmdkit::say(&format!("spmdkit-bench: {note}"));
    }
    let mut report = progress("matrix");
    let rows = workloads::matrix_scaling(comm, j, &c.threads, c.repeats, |done, all, t| {
        report(done, all, format!("{t} threads"))
    })?;
    let Some(rows) = rows else { return Ok(()) };
    print!("{}", workloads::matrix_table(&rows));
    write_csv(
        comm,
        c.csv.as_deref(),
        "spmdkit-bench matrix",
        &[
            ("count", j.count.to_string()),
            ("size", j.size.to_string()),
            ("seed", j.seed.to_string()),
            ("reduce", j.reduce.to_string()),
            ("repeats", c.repeats.to_string()),
        ],
        workloads::MATRIX_HEADER,
        rows.iter().map(workloads::MatrixRow::csv_line),
    )
}

fn model(c: &ModelConfig) -> Result<(), BenchError> {
    let rows = table::read_rows(&c.csv, reduce::parse_reduce_csv)?;
    print!(
        "{}",
        reduce::model_report(&rows, c.bytes, reduce::measure_gamma())?
    );
    Ok(())
}

fn draw(c: &PlotConfig) -> Result<(), BenchError> {
    for file in plot::draw_all(c, cores_here())? {
        println!("wrote {}", file.display());
    }
    Ok(())
}

/// Large buffers on huge pages where the kernel allows (see `spmdkit_apps::kernels::LargePages`).
#[global_allocator]
static ALLOCATOR: spmdkit_apps::kernels::LargePages = spmdkit_apps::kernels::LargePages;

fn main() -> ExitCode {
    if let Some(code) = spmdkit_apps::cli::generate::intercept(BenchCli::command) {
        return code;
    }
    World::run(|comm| {
        let root = comm.rank() == 0;
        let cli = match BenchCli::command()
            .try_get_matches()
            .and_then(|m| BenchCli::from_arg_matches(&m))
        {
            Ok(c) => c,
            Err(e) => {
                if root {
                    let _ = e.print();
                }
                return if e.use_stderr() {
                    Err(Error::already_reported(Kind::BadInput).everywhere())
                } else {
                    Ok(())
                };
            }
        };
        // Rank 0 alone writes the tables and draws: its errors are agreed on, so every rank
        // ends alike.
        let outcome = match cli.command {
            BenchCommand::Reduce(a) => {
                reduce_bench(comm, &agree(comm, ReduceConfig::from_args(&a))?)
            }
            BenchCommand::Sleep(a) => sleep(comm, &agree(comm, SleepBenchConfig::from_args(&a))?),
            BenchCommand::Matrix(a) => {
                matrix(comm, &agree(comm, MatrixBenchConfig::from_args(&a))?)
            }
            // The file-only commands run on rank 0 when started under a launcher.
            BenchCommand::Model(a) if root => {
                Ok(ModelConfig::from_args(&a).and_then(|c| model(&c))?)
            }
            BenchCommand::Plot(a) if root => Ok(PlotConfig::from_args(&a).and_then(|c| draw(&c))?),
            BenchCommand::Model(_) | BenchCommand::Plot(_) => Ok(()),
        };
        agree(comm, outcome)
    })
}
