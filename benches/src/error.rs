//! The benchmarks' errors, by kind: what the user gave, what a file held, what could not be
//! written. The kind decides the exit code.

/// A benchmark that cannot start or finish.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A command-line value that is not accepted: the option and why, naming the value.
    #[error("{option}: {why}")]
    Argument {
        /// The option, e.g. `--tasks`.
        option: &'static str,
        /// Why, naming the value and what would be accepted.
        why: String,
    },
    /// A value checked as `spmdkit` checks it (durations), which names its own origin.
    #[error(transparent)]
    Config(#[from] spmdkit_apps::cli::ConfigError),
    /// A thread count, which names its own origin.
    #[error(transparent)]
    Threads(#[from] spmdkit::comm::ThreadsError),
    /// An input file that cannot be read or is not what it should be (named in the message).
    #[error("{0}")]
    Input(String),
    /// A file (CSV or chart) that cannot be written (named in the message).
    #[error("{0}")]
    Output(String),
}

impl BenchError {
    /// A bad argument.
    pub fn argument(option: &'static str, why: impl Into<String>) -> Self {
        BenchError::Argument {
            option,
            why: why.into(),
        }
    }

    /// The exit code: 2 for what the user gave (arguments, input files), 1 for a failure while
    /// writing the results.
    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }

    /// Bad input for what the user gave, a failure for results that cannot be written.
    pub fn kind(&self) -> spmdkit::Kind {
        match self {
            BenchError::Output(_) => spmdkit::Kind::Failed,
            _ => spmdkit::Kind::BadInput,
        }
    }
}

impl From<BenchError> for spmdkit::Error {
    fn from(e: BenchError) -> Self {
        spmdkit::Error::new(e.kind(), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_option_and_codes_follow_the_kind() {
        let e = BenchError::argument("--tasks", "'heavy' is neither 'classic' nor 'random'");
        assert_eq!(
            e.to_string(),
            "--tasks: 'heavy' is neither 'classic' nor 'random'"
        );
        assert_eq!(e.exit_code(), 2);
        assert_eq!(BenchError::Input("x".into()).exit_code(), 2);
        assert_eq!(BenchError::Output("x".into()).exit_code(), 1);
    }
}
