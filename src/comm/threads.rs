//! How many worker threads a rank runs: `--threads`, else `RAYON_NUM_THREADS`, else
//! `SLURM_CPUS_PER_TASK`, else the cores this process may run on.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The most threads a rank may be asked to start.
pub const MAX_THREADS: usize = 4096;

/// The most threads a rank may start per core it may run on. rayon's idle threads look for work
/// in every other thread's queue, so starting and ending a pool costs time growing with the
/// square of its threads over the cores: here (2 cores) 0.12 s at 128 threads, 3.8 s at 1024,
/// 15 s at 2048, for one 0.1 s task. 64 per core keeps that cost to a fraction of a second.
pub(crate) const THREADS_PER_CORE: usize = 64;

/// The most threads for a rank that may run on `cores` cores.
pub fn max_threads(cores: usize) -> usize {
    (THREADS_PER_CORE * cores.max(1)).min(MAX_THREADS)
}

/// A thread count that is not a whole number in range, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin} = '{value}' is not a valid thread count: {why}")]
pub struct ThreadsError {
    /// Where the value came from (`--threads`, an environment variable).
    pub origin: &'static str,
    /// The value as given.
    pub value: String,
    /// What would be accepted.
    pub why: String,
}

impl From<ThreadsError> for crate::error::Error {
    fn from(e: ThreadsError) -> Self {
        crate::error::Error::bad_input(e.to_string())
    }
}

/// Where a thread count came from, and the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Threads {
    /// The number of worker threads for this rank.
    pub count: usize,
    /// `--threads`, `RAYON_NUM_THREADS`, `SLURM_CPUS_PER_TASK` or `available cores`.
    pub origin: &'static str,
}

/// Resolves this rank's thread count: `--threads`, else `RAYON_NUM_THREADS` (0 means unset, as
/// for rayon), else `SLURM_CPUS_PER_TASK`, else the `available` cores.
///
/// # Errors
/// A value that is not a whole number from 1 to [`max_threads`]`(available)`.
pub(crate) fn resolve_threads(
    arg: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
    available: usize,
) -> Result<Threads, ThreadsError> {
    let most = max_threads(available);
    let check = |origin: &'static str, value: &str, zero_is_unset: bool| {
        let bad = |why: String| ThreadsError {
            origin,
            value: value.to_string(),
            why,
        };
        match value.trim().parse::<usize>() {
            Ok(0) if zero_is_unset => Ok(None),
            Ok(0) => Err(bad("use at least 1".into())),
            Ok(n) if n > most => Err(bad(format!(
                "use at most {most} ({THREADS_PER_CORE} per core of the {available} this rank \
                 may run on; more cost more to start and stop than they can gain)"
            ))),
            Ok(n) => Ok(Some(Threads { count: n, origin })),
            Err(_) => Err(bad(format!("expected a whole number from 1 to {most}"))),
        }
    };
    if let Some(v) = arg {
        return check("--threads", v, false).map(|t| t.expect("zero is refused"));
    }
    if let Some(v) = env("RAYON_NUM_THREADS") {
        if let Some(t) = check("RAYON_NUM_THREADS", &v, true)? {
            return Ok(t);
        }
    }
    if let Some(v) = env("SLURM_CPUS_PER_TASK") {
        return check("SLURM_CPUS_PER_TASK", &v, false).map(|t| t.expect("zero is refused"));
    }
    Ok(Threads {
        count: available.max(1),
        origin: DEFAULT_ORIGIN,
    })
}

/// The default thread count placement decided for this process (0: not placed).
static PLACED_THREADS: AtomicUsize = AtomicUsize::new(0);

/// Where a default thread count comes from once the job's ranks were placed.
pub(crate) const PLACED_ORIGIN: &str = "its share of the host's cores";

/// Records the default thread count that placement decided for this process
/// ([`crate::collective::placement::place`]).
pub(crate) fn set_placed_threads(n: usize) {
    PLACED_THREADS.store(n, Ordering::Relaxed);
}

/// The default thread count of this process once its ranks were placed, if they were.
pub(crate) fn placed_threads() -> Option<usize> {
    match PLACED_THREADS.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// The thread count a rank should use, from `arg` (a `--threads` value) or else this process's
/// environment and CPU affinity; once `collective::placement::place` ran, the default is the
/// rank's share of its host's cores.
///
/// # Errors
/// A value that is not a whole number from 1 to [`MAX_THREADS`], naming where it came from.
pub fn threads_here(arg: Option<&str>) -> Result<Threads, ThreadsError> {
    let available = super::launch::cores_here();
    let threads = resolve_threads(arg, |k| std::env::var(k).ok(), available)?;
    Ok(match placed_threads() {
        Some(count) if threads.origin == DEFAULT_ORIGIN => Threads {
            count,
            origin: PLACED_ORIGIN,
        },
        _ => threads,
    })
}

/// The thread count `arg` or the environment asks for (`--threads`, `RAYON_NUM_THREADS`,
/// `SLURM_CPUS_PER_TASK`), `None` for the default or a value that is no count (refused later,
/// where the count is used).
pub fn requested_threads(arg: Option<&str>) -> Option<usize> {
    let available = super::launch::cores_here();
    resolve_threads(arg, |k| std::env::var(k).ok(), available)
        .ok()
        .filter(|t| t.origin != DEFAULT_ORIGIN)
        .map(|t| t.count)
}

/// Where the default thread count comes from before placement.
const DEFAULT_ORIGIN: &str = "available cores";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_cpus_per_task_is_the_default_and_an_argument_wins() {
        let env = |k: &str| (k == "SLURM_CPUS_PER_TASK").then(|| "6".to_string());
        assert_eq!(resolve_threads(None, env, 2).unwrap().count, 6);
        assert_eq!(resolve_threads(Some("3"), env, 2).unwrap().count, 3);
        assert!(resolve_threads(Some("0"), env, 2).is_err());
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn threads_follow_the_documented_precedence() {
        let env = |k: &str| match k {
            "RAYON_NUM_THREADS" => Some("5".to_string()),
            "SLURM_CPUS_PER_TASK" => Some("6".to_string()),
            _ => None,
        };
        assert_eq!(resolve_threads(Some("3"), env, 2).unwrap().count, 3);
        assert_eq!(
            resolve_threads(None, env, 2).unwrap().origin,
            "RAYON_NUM_THREADS"
        );
        let rayon_zero = |k: &str| match k {
            "RAYON_NUM_THREADS" => Some("0".to_string()),
            "SLURM_CPUS_PER_TASK" => Some("6".to_string()),
            _ => None,
        };
        assert_eq!(resolve_threads(None, rayon_zero, 2).unwrap().count, 6);
        assert_eq!(resolve_threads(None, no_env, 7).unwrap().count, 7);
    }

    #[test]
    fn bad_thread_counts_name_the_value_and_origin() {
        for bad in ["0", "-2", "two", "", "99999"] {
            let e = resolve_threads(Some(bad), no_env, 2)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("--threads") && e.contains(&format!("'{bad}'")),
                "{e}"
            );
        }
        let e = resolve_threads(Some("129"), no_env, 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("use at most 128 (64 per core of the 2"), "{e}");
        assert_eq!(resolve_threads(Some("128"), no_env, 2).unwrap().count, 128);
        assert_eq!(max_threads(1000), MAX_THREADS);
        assert_eq!(max_threads(0), THREADS_PER_CORE);
        let slurm = |k: &str| (k == "SLURM_CPUS_PER_TASK").then(|| "abc".to_string());
        let e = resolve_threads(None, slurm, 2).unwrap_err().to_string();
        assert!(e.contains("SLURM_CPUS_PER_TASK = 'abc'"), "{e}");
    }
}
