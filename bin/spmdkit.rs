//! The `spmdkit` executable: parse, run the subcommand, print the report, write the file.

use clap::{ColorChoice, CommandFactory, FromArgMatches};
use spmdkit::cli::{Cli, Command, FarmConfig, MatrixConfig, SleepConfig};
use spmdkit::comm::{keep_alive, threads_here};
use spmdkit::io::{self, OutputTarget, Render};
use spmdkit::{agree, jobs, Comm, Error, Kind, World};
use std::process::ExitCode;

fn main() -> ExitCode {
    World::run(|comm| {
        let Some(cli) = parse(comm)? else {
            return Ok(());
        };
        // Every rank watches with rank 0's timeout (the environment may differ between ranks).
        let timeout = agree(comm, cli.hang_timeout())?;
        let timeout =
            spmdkit::collective::broadcast(comm, 0, (comm.rank() == 0).then_some(&timeout));
        comm.watch_for_hangs(timeout);
        let root = comm.rank() == 0;
        let under_launcher = comm.backend() == "mpi";
        match cli.command {
            Command::Sleep(args) => {
                let config = agree(
                    comm,
                    keep_alive(comm, || SleepConfig::from_args(&args, root, under_launcher)),
                )?;
                config.output.iter().for_each(note_stale_partials);
                let Some(report) = jobs::sleep::run(comm, &config.params)? else {
                    return Ok(());
                };
                keep_alive(comm, || {
                    print(report.render(config.json));
                    match &config.output {
                        Some(target) => io::write_sleep(&report, target).map_err(not_written),
                        None => Ok(()),
                    }
                })?;
                match report.failed.len() {
                    0 => Ok(()),
                    n => Err(Error::failed(format!(
                        "{n} of {} tasks failed (see the report)",
                        report.tasks.len()
                    ))),
                }
            }
            Command::Matrix(args) => {
                let config = agree(
                    comm,
                    keep_alive(comm, || MatrixConfig::from_args(&args, root)),
                )?;
                config.output.iter().for_each(note_stale_partials);
                if let Some(note) = jobs::binding_note(comm, config.threads.count) {
                    spmdkit::say(&format!("spmdkit: {note}"));
                }
                let Some(outcome) = jobs::matrix::run(comm, &config.params)? else {
                    return Ok(());
                };
                let report = &outcome.report;
                keep_alive(comm, || {
                    print(report.render(config.json));
                    match &config.output {
                        Some(target) => {
                            io::write_matrix(report, &outcome.result, target, config.save_inputs)
                                .map_err(not_written)
                        }
                        None => Ok(()),
                    }
                })?;
                Ok(())
            }
            Command::Run(args) => {
                let config = agree(
                    comm,
                    keep_alive(comm, || FarmConfig::from_args(&args, root, under_launcher)),
                )?;
                let Some(report) = jobs::run::run(comm, &config.params)? else {
                    return Ok(());
                };
                keep_alive(comm, || {
                    print(report.render(config.json));
                    match &config.output {
                        Some(target) => io::write_run(&report, target).map_err(not_written),
                        None => Ok(()),
                    }
                })?;
                report.outcome()
            }
            Command::Info(args) => {
                let threads = agree(comm, threads_here(args.threads.as_deref()))?;
                if let Some(report) = jobs::info::run(comm, threads, &io::hdf5_version()) {
                    print(report.render(args.json));
                }
                Ok(())
            }
        }
    })
}

/// Every rank parses the same arguments; rank 0 alone prints help or the usage error. `None` when
/// help or the version was printed.
fn parse(comm: &dyn Comm) -> Result<Option<Cli>, Error> {
    // Under mpirun a rank's stdout is a pseudo-terminal even when the user redirects it to a
    // file: colour only a process started by hand.
    let color = if comm.backend() == "mpi" {
        ColorChoice::Never
    } else {
        ColorChoice::Auto
    };
    match Cli::command()
        .color(color)
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => Ok(Some(cli)),
        Err(e) => {
            if comm.rank() == 0 {
                let _ = e.print();
            }
            if e.use_stderr() {
                Err(Error::already_reported(Kind::BadInput))
            } else {
                Ok(None)
            }
        }
    }
}

fn not_written(e: io::OutputError) -> Error {
    Error::from(e).context("the report above is complete, but the HDF5 file was not written")
}

/// Rank 0 mentions temporary files that killed runs left next to the output file.
fn note_stale_partials(target: &OutputTarget) {
    for stale in target.stale_partials() {
        spmdkit::say(&format!(
            "spmdkit: note: '{}' was left by an interrupted write (its process is gone); it is \
             safe to delete",
            stale.display()
        ));
    }
}

fn print(text: String) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.trim_end());
    let _ = out.flush();
}
