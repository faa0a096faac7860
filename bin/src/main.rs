//! The `spmdkit` executable: parse, run the subcommand, print the report, write the file.

use clap::{ColorChoice, CommandFactory, FromArgMatches};
use spmdkit::collective::placement;
use spmdkit::comm::{keep_alive, requested_threads, threads_here};
use spmdkit::{agree, Comm, Error, Kind, World};
use spmdkit_apps::cli::{timeline_target, Cli, Command, FarmConfig, MatrixConfig, SleepConfig};
use spmdkit_apps::io::timeline::Timeline;
use spmdkit_apps::io::{self, OutputTarget, Render};
use spmdkit_apps::jobs;
use spmdkit_apps::kernels::Prefaulted;
use std::process::ExitCode;

/// Large buffers on huge pages where the kernel allows (see `spmdkit_apps::kernels::LargePages`).
#[global_allocator]
static ALLOCATOR: spmdkit_apps::kernels::LargePages = spmdkit_apps::kernels::LargePages;

fn main() -> ExitCode {
    // The guardian of a rank's commands in `spmdkit run` is this program, restarted by the rank.
    if let Some(rank) = std::env::var_os(jobs::run::REAPER_VAR) {
        spmdkit::report_crashes_as(&format!(
            "guardian of rank {} (host {})",
            rank.to_string_lossy(),
            spmdkit::comm::host_name()
        ));
        return jobs::run::reaper_main();
    }
    if let Some(code) = spmdkit_apps::cli::generate::intercept(Cli::command) {
        return code;
    }
    let buffers = prefault_matrices();
    World::run(|comm| {
        let Some(cli) = parse(comm)? else {
            return Ok(());
        };
        // Every rank watches with rank 0's timeout (the environment may differ between ranks).
        let timeout = agree(comm, cli.hang_timeout())?;
        let timeout =
            spmdkit::collective::broadcast(comm, 0, (comm.rank() == 0).then_some(&timeout));
        comm.watch_for_hangs(timeout);
        // What rank 0 alone did last (print the report, write the file) is agreed on, so that
        // every rank ends alike.
        let outcome = run_command(comm, cli, buffers);
        agree(comm, outcome)
    })
}

/// Runs the subcommand on every rank. Rank 0 alone prints and writes at the end: its errors there
/// are its own, and `main` agrees on them.
fn run_command(comm: &dyn Comm, cli: Cli, buffers: Prefaulted) -> Result<(), Error> {
    let root = comm.rank() == 0;
    let under_launcher = comm.backend() == spmdkit::comm::Backend::Mpi;
    // Every rank's cores, before any worker thread starts (see collective::placement); the
    // farm's slots follow the placed default.
    let requested = match &cli.command {
        Command::Sleep(a) => Some(requested_threads(a.run.threads.as_deref())),
        Command::Matrix(a) => Some(requested_threads(a.run.threads.as_deref())),
        Command::Info(a) => Some(requested_threads(a.threads.as_deref())),
        Command::Run(_) => Some(None),
        Command::Timeline(_) => None,
    };
    let placement = requested.map(|threads| placement::place(comm, threads));
    match cli.command {
        Command::Sleep(args) => {
            let config = agree(
                comm,
                keep_alive(comm, || SleepConfig::from_args(&args, root, under_launcher)),
            )?;
            let tasks = root.then_some(config.params.durations.len());
            let output = args.run.output.is_some();
            check_faults(comm, &config.params.faults, tasks, output)?;
            config.output.iter().for_each(note_stale_partials);
            let Some(report) = jobs::sleep::run(comm, &config.params)? else {
                return Ok(());
            };
            keep_alive(comm, || {
                let printed = print(report.render(config.json));
                let written = match &config.output {
                    Some(target) => io::write_sleep(&report, target).map_err(not_written),
                    None => Ok(()),
                };
                let drawn = draw(&config.timeline, || Ok(Timeline::from_sleep(&report)));
                let written = written.and(drawn);
                written.and(printed)
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
            let pairs = Some(config.params.pairs());
            let output = args.run.output.is_some();
            check_faults(comm, &config.params.faults, pairs, output)?;
            config.output.iter().for_each(note_stale_partials);
            if let Some(note) = placement.as_ref().and_then(|p| p.note.as_ref()) {
                spmdkit::say(&format!("spmdkit: {note}"));
            }
            let Some(outcome) = jobs::matrix::run(comm, &config.params, buffers)? else {
                return Ok(());
            };
            let report = &outcome.report;
            keep_alive(comm, || {
                let printed = print(report.render(config.json));
                let written = match &config.output {
                    Some(target) => {
                        io::write_matrix(report, &outcome.result, target, config.save_inputs)
                            .map_err(not_written)
                    }
                    None => Ok(()),
                };
                let drawn = draw(&config.timeline, || {
                    Ok(Timeline::from_matrix(report, &outcome.phases))
                });
                let written = written.and(drawn);
                written.and(printed)
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
                let printed = print(report.render(config.json)).and_then(|()| {
                    report
                        .mark_printed()
                        .map_err(|e| e.context("after printing the report"))
                });
                let written = match &config.output {
                    Some(target) => io::write_run(&report, target).map_err(not_written),
                    None => Ok(()),
                };
                let drawn = draw(&config.timeline, || {
                    jobs::run::journal::read(&config.params.journal)
                        .map(|entries| Timeline::from_journal(&entries))
                        .map_err(|e| e.to_string())
                });
                let written = written.and(drawn);
                written.and(printed)
            })?;
            report.outcome()
        }
        Command::Timeline(args) => {
            if !root {
                return Ok(());
            }
            let target = timeline_target(&args.output, args.force)?;
            let timeline = Timeline::from_file(&args.input).map_err(Error::bad_input)?;
            timeline.write(&target).map_err(Error::failed)?;
            eprintln!(
                "spmdkit: wrote {} ({} tasks on {} workers)",
                args.output.display(),
                timeline.events.len(),
                timeline.tracks.len()
            );
            Ok(())
        }
        Command::Info(args) => {
            let threads = agree(comm, threads_here(args.threads.as_deref()))?;
            if let Some(note) = placement.as_ref().and_then(|p| p.note.as_ref()) {
                spmdkit::say(&format!("spmdkit: {note}"));
            }
            let how = placement.map(|p| p.how).unwrap_or_default();
            if let Some(report) = jobs::info::run(comm, threads, &how, &io::hdf5_version()) {
                print(report.render(args.json))?;
            }
            Ok(())
        }
    }
}

/// Every rank parses the same arguments; rank 0 alone prints help or the usage error. `None` when
/// help or the version was printed.
/// For `matrix` under a launcher: its three matrices per rank (two factors, the product) faulted
/// in on a thread of their own while MPI starts (`spmdkit_apps::kernels::Prefaulted`), when they take at
/// most half of this rank's memory budget. Without a launcher there is no start to hide it in
/// (the job would wait for the thread, whose one core zeroes what the job's threads would share).
/// Anything this cannot read is left to the real parse, after MPI starts.
///
/// Only when every rank is on this node: then Open MPI is told to skip UCX
/// (`spmdkit::comm::launched_on_one_node`), and nothing patches memory functions (UCX's memory
/// hooks) while this thread calls them. Across nodes MPI's start is long anyway.
fn prefault_matrices() -> Prefaulted {
    if !spmdkit::comm::launched_on_one_node() {
        return Prefaulted::default();
    }
    let Ok(matches) = Cli::command().try_get_matches() else {
        return Prefaulted::default();
    };
    let Ok(Cli {
        command: Command::Matrix(args),
        ..
    }) = Cli::from_arg_matches(&matches)
    else {
        return Prefaulted::default();
    };
    let Some(len) = args
        .size
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(n))
    else {
        return Prefaulted::default();
    };
    let bytes = (len as u64).saturating_mul(3 * std::mem::size_of::<f64>() as u64);
    if jobs::memory::budget().is_ok_and(|b| bytes <= b.bytes / 2) {
        Prefaulted::start(len, 3)
    } else {
        Prefaulted::default()
    }
}

fn parse(comm: &dyn Comm) -> Result<Option<Cli>, Error> {
    // Under mpirun a rank's stdout is a pseudo-terminal even when the user redirects it to a
    // file: colour only a process started by hand.
    let color = if comm.backend() == spmdkit::comm::Backend::Mpi {
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
                Err(Error::already_reported(Kind::BadInput).everywhere())
            } else {
                Ok(None)
            }
        }
    }
}

/// Refuses, on every rank, injected faults that cannot happen in this job.
fn check_faults(
    comm: &dyn Comm,
    faults: &spmdkit_apps::jobs::fault::Faults,
    tasks: Option<usize>,
    output: bool,
) -> Result<(), Error> {
    let checked = faults.check(comm.size(), tasks, output);
    agree(comm, checked.map_err(Error::bad_input))
}

/// Draws the timeline into `target`, if one was asked for.
fn draw(
    target: &Option<OutputTarget>,
    timeline: impl FnOnce() -> Result<Timeline, String>,
) -> Result<(), Error> {
    match target {
        Some(target) => timeline()
            .and_then(|t| t.write(target))
            .map_err(Error::failed),
        None => Ok(()),
    }
}

fn not_written(e: io::OutputError) -> Error {
    Error::from(e).context("the report above is complete, but the HDF5 file was not written")
}

/// Rank 0 mentions temporary files that killed runs left next to the output file.
fn note_stale_partials(target: &OutputTarget) {
    for stale in target.stale_partials() {
        spmdkit::say(&format!(
            "spmdkit: note: '{}' looks left by an interrupted write (untouched for 10 minutes); \
             it is safe to delete unless another run is writing this file right now",
            stale.display()
        ));
    }
}

/// Whether descriptor 1 was closed when the process started (`spmdkit ... >&-`). Rust's runtime
/// then puts /dev/null there before `main`, so the report would vanish without an error; this is
/// recorded before that, by a function the loader runs first.
static STDOUT_CLOSED_AT_START: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

extern "C" fn record_closed_stdout() {
    // SAFETY: fcntl with F_GETFD only queries the descriptor's flags.
    let closed = unsafe { libc::fcntl(1, libc::F_GETFD) } == -1;
    STDOUT_CLOSED_AT_START.store(closed, std::sync::atomic::Ordering::Relaxed);
}

#[used]
#[unsafe(link_section = ".init_array")]
static RECORD_CLOSED_STDOUT: extern "C" fn() = record_closed_stdout;

/// Prints the report on stdout. A report that cannot be written is a failure (exit 1): a full
/// disk, a closed stdout. A reader that closed the pipe early (`| head`) chose to stop reading:
/// that is not an error.
fn print(text: String) -> Result<(), Error> {
    use std::io::Write;
    if STDOUT_CLOSED_AT_START.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Error::failed(
            "stdout is closed: the report cannot be written (redirect it to a file or /dev/null)",
        ));
    }
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", text.trim_end()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::failed(format!(
            "cannot write the report to stdout: {e}"
        ))),
        _ => Ok(()),
    }
}
