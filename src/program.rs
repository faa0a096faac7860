//! The entry point of a whole program: [`World::run`].

use crate::collective::{agree, same_command};
use crate::comm::{Comm, World};
use crate::comm::{DEFAULT_HANG_TIMEOUT_S, HANG_TIMEOUT_VAR};
use crate::error::panic_message;
use crate::error::{say, Error};
use crate::job::Job;
use std::panic::{self, AssertUnwindSafe};
use std::process::ExitCode;

impl World {
    /// Runs `main` as the body of an SPMD program and returns the process's exit code.
    ///
    /// It does what every spmdkit program needs around its work:
    /// 1. joins the job ([`World::init`]): MPI under a launcher, one in-process rank otherwise;
    /// 2. checks that every rank runs the same build with the same arguments
    ///    (the same-command check), and turns hang detection on ([`Comm::watch_for_hangs`]) with
    ///    [`HANG_TIMEOUT_VAR`] seconds, 300 by default, `0` off:
    ///    a rank silent for that long ends the job, named; a main thread that computes longer
    ///    than that outside spmdkit's calls runs its work through
    ///    [`keep_alive`](crate::comm::keep_alive) (tasks of the [`Farm`](crate::farm::Farm) run on
    ///    the pool's threads while the main thread keeps the heartbeat);
    /// 3. gives `main` the [`Job`]: the communicator and this rank's threads;
    /// 4. keeps task panics quiet: a panic inside a task of the engine ([`Farm`](crate::farm::Farm))
    ///    prints one line, since the engine records it as the task's failure;
    /// 5. turns a panic that escapes `main` into an abort of the whole job that names the rank
    ///    (never an unwind into `MPI_Finalize` while other ranks wait);
    /// 6. agrees on the outcome ([`agree`]), so every rank exits alike and rank 0
    ///    alone prints the error, naming the rank it came from;
    /// 7. maps it to the exit code: 0 success, 2 bad input ([`Kind::BadInput`](crate::error::Kind)),
    ///    1 a failure while running.
    ///
    /// Messages start with the program's file name. An error that the ranks share (agreed on
    /// with [`agree`], returned by spmdkit's collectives, or marked with
    /// [`Error::everywhere`](crate::error::Error::everywhere)) ends the job normally, printed once by
    /// rank 0. An error that a rank returns alone ends the whole job at once with that rank's
    /// message and exit code 1 (`MPI_Abort`): the other ranks may be waiting for it in a
    /// collective, and would otherwise meet a message of another call or wait forever.
    ///
    /// # Collective
    /// Every process of the job must call it, once.
    ///
    /// # Examples
    /// ```no_run
    /// use spmdkit::World;
    /// fn main() -> std::process::ExitCode {
    ///     World::run(|job| {
    ///         if job.rank() == 0 {
    ///             println!("{} ranks", job.size());
    ///         }
    ///         Ok(())
    ///     })
    /// }
    /// ```
    pub fn run<F>(main: F) -> ExitCode
    where
        F: FnOnce(&Job<'_>) -> Result<(), Error>,
    {
        let name = program_name();
        crate::crash::install(&name);
        quiet_task_panics(&name);
        let world = match World::init() {
            Ok(w) => w,
            Err(e) => {
                if e.should_report() {
                    say(&format!("{name}: error: {e}"));
                }
                return ExitCode::from(Error::from(e).exit_code());
            }
        };
        let comm = world.comm();
        crate::crash::identify(&format!(
            "rank {} (host {})",
            comm.rank(),
            crate::comm::host_name()
        ));
        let args: Vec<String> = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let job = Job::new(comm);
        let outcome = same_command(comm, &args)
            .and_then(|()| watch_for_hangs(comm))
            .and_then(
                |()| match panic::catch_unwind(AssertUnwindSafe(|| main(&job))) {
                    Ok(outcome) => outcome,
                    Err(payload) => {
                        let why = panic_message(payload.as_ref());
                        if comm.size() > 1 {
                            comm.abort(1, &format!("panicked: {why}"));
                        }
                        Err(Error::failed(format!("panicked: {why}")))
                    }
                },
            );
        if let Err(e) = &outcome {
            if comm.size() > 1 && !e.is_shared() {
                // The other ranks did not agree on it: they may be waiting for this one in a
                // collective, where a message of this rank's next collective (or none) would meet
                // theirs. End the job now, with this rank's message.
                comm.abort(
                    1,
                    &format!(
                        "{name}: error: {e}\n  (this rank alone returned the error from World::run, \
                         and the job ends here: agree on rank-local errors with spmdkit::agree, \
                         or mark the errors every rank decides alike with Error::everywhere)"
                    ),
                );
            }
        }
        let code = match agree(comm, outcome) {
            Ok(()) => 0,
            Err(e) => {
                if comm.rank() == 0 && !e.is_reported() {
                    say(&format!("{name}: error: {e}"));
                }
                e.exit_code()
            }
        };
        // The pools of the program are gone: their threads end before MPI does.
        crate::farm::lanes::join_ended_pools(std::time::Duration::from_millis(500));
        drop(world);
        ExitCode::from(code)
    }
}

/// Turns hang detection on with rank 0's [`HANG_TIMEOUT_VAR`] (default
/// [`DEFAULT_HANG_TIMEOUT_S`]; a bad value is bad input on every rank).
fn watch_for_hangs(comm: &dyn Comm) -> Result<(), Error> {
    let mine = match std::env::var(HANG_TIMEOUT_VAR) {
        Err(_) => Ok(DEFAULT_HANG_TIMEOUT_S),
        Ok(text) => match text.trim().parse::<f64>() {
            Ok(s) if (0.0..=1.0e6).contains(&s) => Ok(s),
            _ => Err(Error::bad_input(format!(
                "{HANG_TIMEOUT_VAR} = '{}': expected seconds from 0 (off) to 1000000",
                text.escape_debug()
            ))),
        },
    };
    // Every rank watches with rank 0's timeout (the environment may differ between ranks).
    let seconds = agree(comm, mine)?;
    let seconds: f64 = crate::collective::broadcast(comm, 0, Some(&seconds));
    comm.watch_for_hangs((seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds)));
    Ok(())
}

/// Installs the crash report for a process of the program that is not a rank (a helper it
/// starts from its own binary, say): a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT)
/// prints one report on stderr, naming the process as `who`, with its registers and a backtrace,
/// then the process dies of that signal. [`World::run`] installs it for every rank.
pub fn report_crashes_as(who: &str) {
    crate::crash::install(&program_name());
    crate::crash::identify(who);
}

/// The file name this process was started as, for messages.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "spmdkit".into())
}

/// Task panics are caught and recorded with the task; print one line for them instead of the
/// default message and backtrace: `PROGRAM: task 13 (rank 0, thread 1) panicked at
/// src/x.rs:11:22: MESSAGE`, and note the location for the task's record. Other panics (in a
/// pool thread outside the engine's tasks too: they end the job) keep the default report.
fn quiet_task_panics(name: &str) {
    let default = panic::take_hook();
    let name = name.to_string();
    panic::set_hook(Box::new(move |info| {
        if crate::farm::lanes::in_task() {
            let why = panic_message(info.payload());
            let at = info
                .location()
                .map(|l| l.to_string())
                .unwrap_or_else(|| "an unknown place".into());
            crate::farm::lanes::note_panic_location(at.clone());
            let who = match crate::farm::lanes::current_task() {
                Some(t) => format!("task {} (rank {}, thread {})", t.id, t.rank, t.thread),
                None => "a task".into(),
            };
            say(&format!(
                "{name}: {who} panicked at {at}: {why} (recorded as failed; the others go on)"
            ));
        } else {
            default(info);
        }
    }));
}
