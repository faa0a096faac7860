//! The `spmdkit` executable: parse, run the subcommand, map the outcome to an exit code.

use anyhow::Context;
use clap::{ColorChoice, CommandFactory, FromArgMatches};
use spmdkit::cli::{Cli, Command, MatrixConfig, SleepConfig};
use spmdkit::world::{agree, launch, same_command, Comm, World};
use spmdkit::{h5, jobs, Error};
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

fn main() -> ExitCode {
    quiet_task_panics();
    let world = match World::init() {
        Ok(w) => w,
        Err(e) => {
            if e.should_report() {
                spmdkit::say(&format!("spmdkit: error: {e}"));
            }
            return ExitCode::from(Error::from(e).exit_code());
        }
    };
    let comm = world.comm();
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if let Err(e) = same_command(comm, &args) {
        if comm.rank() == 0 {
            spmdkit::say(&format!("spmdkit: error: {e}"));
        }
        return ExitCode::from(e.exit_code);
    }
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
        // A panic that escapes the workload (not a task's, which are caught and reported) must
        // not unwind into MPI_Finalize while other ranks wait for this one: abort the job.
        Ok(cli) => match panic::catch_unwind(AssertUnwindSafe(|| run(comm, cli))) {
            Ok(Ok(code)) => code,
            Ok(Err(e)) => report_error(comm, &e),
            Err(payload) => {
                let why = spmdkit::local::panic_message(payload.as_ref());
                if comm.size() > 1 {
                    comm.abort(1, &format!("panicked: {why}"));
                }
                spmdkit::say(&format!("spmdkit: error: panicked: {why}"));
                1
            }
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
            config.output.iter().for_each(note_stale_partials);
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
            config.output.iter().for_each(note_stale_partials);
            if let Some(note) = launch::binding_note(comm, config.threads.count) {
                spmdkit::say(&format!("spmdkit: {note}"));
            }
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

/// Rank 0 mentions temporary files that killed runs left next to the output file.
fn note_stale_partials(target: &h5::OutputTarget) {
    for stale in target.stale_partials() {
        spmdkit::say(&format!(
            "spmdkit: note: '{}' was left by an interrupted write (its process is gone); it is \
             safe to delete",
            stale.display()
        ));
    }
}

/// Task panics are caught and reported with the task; print one line for them instead of the
/// default message and backtrace. Other panics keep the default report.
fn quiet_task_panics() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let worker = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("spmdkit-worker-"));
        if worker {
            let why = spmdkit::local::panic_message(info.payload());
            spmdkit::say(&format!(
                "spmdkit: a task panicked: {why} (recorded as failed; the others go on)"
            ));
        } else {
            default(info);
        }
    }));
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
        spmdkit::say(&format!("spmdkit: error: {e:#}"));
    }
    lib.map_or(1, Error::exit_code)
}
