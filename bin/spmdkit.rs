//! The `spmdkit` executable: parse, run the subcommand, map the outcome to an exit code.

use anyhow::Context;
use clap::{ColorChoice, CommandFactory, FromArgMatches};
use spmdkit::cli::{Cli, Command, MatrixConfig, SleepConfig};
use spmdkit::world::{agree, Comm, World};
use spmdkit::{h5, jobs, Error};
use std::process::ExitCode;

fn main() -> ExitCode {
    let world = match World::init() {
        Ok(w) => w,
        Err(e) => {
            if e.should_report() {
                eprintln!("spmdkit: error: {e}");
            }
            return ExitCode::from(Error::from(e).exit_code());
        }
    };
    let comm = world.comm();
    // Under mpirun a rank's stdout is a pseudo-terminal even when the user redirects it to a
    // file: colour only a process started by hand.
    let color = if comm.backend() == "mpi" {
        ColorChoice::Never
    } else {
        ColorChoice::Auto
    };
    let parsed = Cli::command()
        .color(color)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m));
    let code = match parsed {
        Ok(cli) => match run(comm, cli) {
            Ok(code) => code,
            Err(e) => report_error(comm, &e),
        },
        // Every rank parses the same arguments; rank 0 alone prints help or the usage error.
        Err(e) => {
            if comm.rank() == 0 {
                let _ = e.print();
            }
            if e.use_stderr() {
                2
            } else {
                0
            }
        }
    };
    drop(world);
    ExitCode::from(code)
}

fn run(comm: &dyn Comm, cli: Cli) -> anyhow::Result<u8> {
    let root = comm.rank() == 0;
    match cli.command {
        Command::Sleep(args) => {
            let local = SleepConfig::from_args(&args, root).map_err(|e| (2, e.to_string()));
            let config = agree(comm, local).map_err(Error::from)?;
            let Some(report) = jobs::sleep::run(comm, &config).map_err(Error::from)? else {
                return Ok(0);
            };
            print(if config.json {
                report.to_json()
            } else {
                report.to_human()
            });
            if let Some(target) = &config.output {
                h5::write_sleep(&report, target)
                    .map_err(Error::from)
                    .context("the report above is complete, but the HDF5 file was not written")?;
            }
            Ok(if report.failed.is_empty() { 0 } else { 1 })
        }
        Command::Matrix(args) => {
            let local = MatrixConfig::from_args(&args, root).map_err(|e| (2, e.to_string()));
            let config = agree(comm, local).map_err(Error::from)?;
            let Some(outcome) = jobs::matrix::run(comm, &config).map_err(Error::from)? else {
                return Ok(0);
            };
            let report = &outcome.report;
            print(if config.json {
                report.to_json()
            } else {
                report.to_human()
            });
            if let Some(target) = &config.output {
                h5::write_matrix(report, &outcome.result, target, config.save_inputs)
                    .map_err(Error::from)
                    .context("the report above is complete, but the HDF5 file was not written")?;
            }
            Ok(0)
        }
        Command::Info(args) => {
            let local =
                spmdkit::cli::threads_here(args.threads.as_deref()).map_err(|e| (2, e.to_string()));
            let threads = agree(comm, local).map_err(Error::from)?;
            if let Some(report) = jobs::info::run(comm, threads) {
                print(if args.json {
                    report.to_json()
                } else {
                    report.to_human()
                });
            }
            Ok(0)
        }
    }
}

fn print(text: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.trim_end());
    let _ = out.flush();
}

fn report_error(comm: &dyn Comm, e: &anyhow::Error) -> u8 {
    let lib = e.downcast_ref::<Error>();
    if comm.rank() == 0 || !lib.is_some_and(Error::is_shared) {
        eprintln!("spmdkit: error: {e:#}");
    }
    lib.map_or(1, Error::exit_code)
}
