//! Fault injection, for testing how spmdkit fails: `--inject-fault SPEC`, repeatable.
//!
//! | SPEC | what happens |
//! |---|---|
//! | `panic-task=<id>` | sleep task `<id>` panics (matrix: the rank computing pair `<id>` panics) |
//! | `abort-rank=<r>[@<seconds>]` | rank `<r>`'s process aborts (SIGABRT), when the work starts or that many seconds later |
//! | `exit-rank=<r>` | rank `<r>` exits with code 3 when the work starts, without telling MPI |
//! | `crash-rank=<r>` | rank `<r>` calls through a null function pointer when the work starts (SIGSEGV) |
//! | `io-error` | writing the output file fails part-way |
//! | `no-hard-links` | the output file is published as on a filesystem without hard links |
//!
//! Faults are armed after the configuration has been agreed on, so they test failures while
//! running, not bad input.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// One injected fault.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// The task (sleep) or pair (matrix) with this index panics.
    PanicTask(usize),
    /// This rank's process aborts, optionally after a delay.
    AbortRank {
        /// The rank.
        rank: usize,
        /// Seconds after the work starts; `None` for at once.
        after: Option<f64>,
    },
    /// This rank exits with code 3 without finalising MPI.
    ExitRank(usize),
    /// This rank calls through a null function pointer: it dies of SIGSEGV.
    CrashRank(usize),
    /// Writing the output file fails part-way.
    IoError,
    /// The output file is published as on a filesystem without hard links.
    NoHardLinks,
}

/// A `--inject-fault` value that is not a fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--inject-fault '{0}' is not a fault (expected panic-task=<id>, abort-rank=<rank>[@<seconds>], \
     exit-rank=<rank>, crash-rank=<rank>, io-error or no-hard-links)"
)]
pub struct BadFault(pub String);

impl FromStr for Fault {
    type Err = BadFault;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadFault(s.to_string());
        let number = |v: &str| v.trim().parse::<usize>().map_err(|_| bad());
        match s.split_once('=') {
            None if s == "io-error" => Ok(Fault::IoError),
            None if s == "no-hard-links" => Ok(Fault::NoHardLinks),
            Some(("panic-task", v)) => Ok(Fault::PanicTask(number(v)?)),
            Some(("exit-rank", v)) => Ok(Fault::ExitRank(number(v)?)),
            Some(("crash-rank", v)) => Ok(Fault::CrashRank(number(v)?)),
            Some(("abort-rank", v)) => {
                let (rank, after) = match v.split_once('@') {
                    Some((r, t)) => {
                        let t: f64 = t.trim().parse().map_err(|_| bad())?;
                        if !t.is_finite() || !(0.0..=crate::jobs::MAX_DURATION_S).contains(&t) {
                            return Err(bad());
                        }
                        (number(r)?, Some(t))
                    }
                    None => (number(v)?, None),
                };
                Ok(Fault::AbortRank { rank, after })
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::PanicTask(id) => write!(f, "panic-task={id}"),
            Fault::AbortRank { rank, after: None } => write!(f, "abort-rank={rank}"),
            Fault::AbortRank {
                rank,
                after: Some(t),
            } => write!(f, "abort-rank={rank}@{t}"),
            Fault::ExitRank(rank) => write!(f, "exit-rank={rank}"),
            Fault::CrashRank(rank) => write!(f, "crash-rank={rank}"),
            Fault::IoError => f.write_str("io-error"),
            Fault::NoHardLinks => f.write_str("no-hard-links"),
        }
    }
}

/// The faults of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults(pub Vec<Fault>);

impl Faults {
    /// Whether task (or pair) `id` must panic.
    pub fn task_panics(&self, id: usize) -> bool {
        self.0.contains(&Fault::PanicTask(id))
    }

    /// Whether the output write must fail.
    pub fn io_error(&self) -> bool {
        self.0.contains(&Fault::IoError)
    }

    /// Whether the output must be published as without hard links.
    pub fn no_hard_links(&self) -> bool {
        self.0.contains(&Fault::NoHardLinks)
    }

    /// Refuses faults that cannot fire in a job of `ranks` ranks with `tasks` tasks (or pairs,
    /// for `matrix`; `None` where unknown) and with or without an output file.
    ///
    /// # Errors
    /// The first such fault, and why.
    pub fn check(&self, ranks: usize, tasks: Option<usize>, output: bool) -> Result<(), String> {
        for fault in &self.0 {
            let why = match *fault {
                Fault::PanicTask(id) => tasks
                    .filter(|&n| id >= n)
                    .map(|n| format!("the tasks are numbered from 0 to {}", n.saturating_sub(1))),
                Fault::AbortRank { rank, .. } | Fault::ExitRank(rank) | Fault::CrashRank(rank)
                    if rank >= ranks =>
                {
                    Some(format!("the ranks are numbered from 0 to {}", ranks - 1))
                }
                Fault::IoError | Fault::NoHardLinks if !output => {
                    Some("there is no --output file to write".to_string())
                }
                _ => None,
            };
            if let Some(why) = why {
                return Err(format!("--inject-fault {fault}: it cannot happen: {why}"));
            }
        }
        Ok(())
    }

    /// Arms the faults aimed at `rank`: exits or aborts now, or starts a timer that aborts later.
    /// Call it when the work starts, after every check has passed.
    pub fn arm(&self, rank: usize) {
        for fault in &self.0 {
            match *fault {
                Fault::ExitRank(r) if r == rank => {
                    spmdkit::say(&format!("spmdkit: rank {rank}: injected fault: exiting with code 3 without finalising MPI"));
                    std::process::exit(3);
                }
                Fault::CrashRank(r) if r == rank => {
                    spmdkit::say(&format!("spmdkit: rank {rank}: injected fault: calling through a null function pointer"));
                    call_null();
                }
                Fault::AbortRank { rank: r, after } if r == rank => {
                    let delay = after.unwrap_or(0.0);
                    let abort = move || {
                        spmdkit::say(&format!("spmdkit: rank {rank}: injected fault: aborting (SIGABRT) after {delay} s"));
                        std::process::abort();
                    };
                    if delay == 0.0 {
                        abort();
                    }
                    std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_secs_f64(delay));
                        abort();
                    });
                }
                _ => {}
            }
        }
    }
}

/// For tests of the crash report: a call through a null function pointer, as the crash it was made
/// to explain (a jump to address 0, with the return address on the stack).
fn call_null() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: not safe at all, on purpose: it faults at address 0 and the process dies of
    // SIGSEGV (the engine's crash report runs first).
    unsafe {
        std::arch::asm!("call {0}", in(reg) 0usize, clobber_abi("C"));
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: raise has no preconditions.
    unsafe {
        libc::raise(libc::SIGSEGV);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print_back() {
        for spec in [
            "panic-task=3",
            "abort-rank=1",
            "abort-rank=2@0.5",
            "exit-rank=0",
            "crash-rank=1",
            "io-error",
            "no-hard-links",
        ] {
            let fault: Fault = spec.parse().unwrap();
            assert_eq!(fault.to_string(), spec);
        }
        for bad in [
            "",
            "panic",
            "panic-task=",
            "panic-task=x",
            "abort-rank=1@-1",
            "abort-rank=1@nan",
            "abort-rank=0@1e300",
            "io-error=1",
            "exit-rank=-1",
        ] {
            let e = bad.parse::<Fault>().unwrap_err();
            assert!(e.to_string().contains(&format!("'{bad}'")), "{e}");
        }
    }

    #[test]
    fn queries() {
        let f = Faults(vec![Fault::PanicTask(2), Fault::IoError]);
        assert!(f.task_panics(2) && !f.task_panics(1) && f.io_error());
        assert!(!Faults::default().io_error());
    }

    #[test]
    fn faults_that_cannot_fire_are_refused() {
        let f = |spec: &str| Faults(vec![spec.parse().unwrap()]);
        assert!(f("panic-task=3").check(2, Some(4), false).is_ok());
        let e = f("panic-task=4").check(2, Some(4), false).unwrap_err();
        assert!(e.contains("numbered from 0 to 3"), "{e}");
        assert!(f("panic-task=99").check(2, None, false).is_ok());
        let e = f("abort-rank=2").check(2, None, false).unwrap_err();
        assert!(e.contains("ranks are numbered from 0 to 1"), "{e}");
        assert!(f("exit-rank=1").check(2, None, false).is_ok());
        let e = f("io-error").check(1, None, false).unwrap_err();
        assert!(e.contains("no --output"), "{e}");
        assert!(f("io-error").check(1, None, true).is_ok());
    }
}
