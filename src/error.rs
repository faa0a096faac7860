//! The error that ends a run: a kind (which gives the exit code), a message, and, once the ranks
//! have agreed on it, the rank that saw it first.
//!
//! Each area keeps its own error type with its own variants (`ConfigError`, `OutputError`,
//! [`WorldError`](crate::comm::WorldError), …) and converts into [`Error`], choosing the kind. Programs
//! return [`Error`] from the closure given to [`World::run`](crate::comm::World::run), which maps it to
//! the exit code; nobody passes `(u8, String)` pairs around.

use serde::{Deserialize, Serialize};

/// What kind of failure ended a run; it decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Kind {
    /// Bad usage or bad input, found before any work started: exit code 2.
    BadInput,
    /// A failure while running (a task failed, a rank died, I/O failed): exit code 1.
    Failed,
    /// Stopped early on request (a signal, a deadline), with what was done on record, so a
    /// later run can resume: exit code 75 (`EX_TEMPFAIL`, "try again").
    Interrupted,
}

impl Kind {
    /// The process exit code of this kind: 2 for bad input, 1 for a failure while running.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::BadInput => 2,
            Kind::Failed => 1,
            Kind::Interrupted => 75,
        }
    }
}

/// A failure that ends a run, with its kind.
///
/// # Examples
/// ```
/// use spmdkit::{Error, Kind};
/// let e = Error::bad_input("--count 3: give an even number");
/// assert_eq!(e.kind(), Kind::BadInput);
/// assert_eq!(e.exit_code(), 2);
/// assert_eq!(e.to_string(), "--count 3: give an even number");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    kind: Kind,
    message: String,
    /// The rank that reported it, once every rank holds it (see [`agree`](crate::collective::agree)).
    from_rank: Option<usize>,
    /// Whether the message was already shown to the user (clap's usage errors, for one).
    reported: bool,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            from_rank: None,
            reported: false,
        }
    }

    /// Bad usage or input (exit code 2).
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(Kind::BadInput, message)
    }

    /// A failure while running (exit code 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(Kind::Failed, message)
    }

    /// An error whose message was already printed (for example clap's usage message): it still
    /// gives its exit code, but nothing more is printed.
    pub fn already_reported(kind: Kind) -> Self {
        Error {
            reported: true,
            ..Self::new(kind, "")
        }
    }

    /// Puts `context` before the message: `"<context>: <message>"`.
    pub fn context(mut self, context: impl std::fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The exit code of its kind.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// The message, without the rank.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The rank it came from, when every rank holds it (after [`agree`](crate::collective::agree)).
    pub fn from_rank(&self) -> Option<usize> {
        self.from_rank
    }

    /// Whether every rank holds this error (so rank 0 alone should print it).
    pub fn is_shared(&self) -> bool {
        self.from_rank.is_some()
    }

    /// Marks an error that every rank returns alike without agreeing on it, because every rank
    /// decided it from the same facts (the command line, which [`World::run`](crate::comm::World::run)
    /// checks is the same everywhere; a value broadcast before). [`World::run`](crate::comm::World::run)
    /// then ends the job normally with it; an error no rank marked or agreed on
    /// ([`agree`](crate::collective::agree)) ends the job at once instead, since the other ranks may be
    /// waiting for this one in a collective.
    pub fn everywhere(self) -> Self {
        match self.from_rank {
            Some(_) => self,
            None => self.shared_from(0),
        }
    }

    /// Whether the message was already shown.
    pub fn is_reported(&self) -> bool {
        self.reported
    }

    pub(crate) fn shared_from(mut self, rank: usize) -> Self {
        self.from_rank = Some(rank);
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.from_rank {
            Some(rank) if rank != 0 => write!(f, "rank {rank}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

/// Writes `line` and a newline to stderr in one `write`, so that launchers that forward several
/// ranks' stderr (and a panic message of the same rank) never cut it in pieces.
pub fn say(line: &str) {
    use std::io::Write;
    let mut text = String::with_capacity(line.len() + 1);
    text.push_str(line);
    text.push('\n');
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The text a panic was raised with, or a placeholder for non-text payloads.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked with a non-text payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_give_the_documented_exit_codes() {
        assert_eq!(Error::bad_input("x").exit_code(), 2);
        assert_eq!(Error::failed("x").exit_code(), 1);
        assert!(Error::already_reported(Kind::BadInput).is_reported());
    }

    #[test]
    fn a_shared_error_names_its_rank_unless_it_is_rank_0() {
        let e = Error::failed("bad file").shared_from(2);
        assert_eq!(e.to_string(), "rank 2: bad file");
        assert_eq!(Error::failed("x").shared_from(0).to_string(), "x");
        assert_eq!(
            Error::failed("writing 'a' failed")
                .context("the HDF5 file was not written")
                .to_string(),
            "the HDF5 file was not written: writing 'a' failed"
        );
    }
}
