//! Command-line definitions shared by the binaries, and the validated configurations built from
//! them.
//!
//! The clap structs only parse. `*Config::from_args` checks every value once, names the bad value
//! and what would be accepted, and holds ready objects (parsed durations, a checked output
//! target). Rank 0 alone reads the task list and checks the output path; every rank resolves its
//! own thread count, because the environment (Slurm's, rayon's) belongs to each process.

use crate::io::{OutputError, OutputTarget};
use crate::jobs::fault::{BadFault, Fault, Faults};
use crate::jobs::matrix::MatrixParams;
use crate::jobs::sleep::SleepParams;
use clap::{Args, Parser, Subcommand};
use spmdkit::comm::{threads_here, Threads, ThreadsError};
use spmdkit::farm::{Policy, ProgressMode};

pub mod generate;
mod run;
pub use run::{FarmArgs, FarmConfig};
use std::path::{Path, PathBuf};

pub use crate::jobs::MAX_DURATION_S;

/// The 16 durations of the classic "Ray vs concurrent.futures" example (sum 9.9 s).
pub const CLASSIC_DURATIONS: [f64; 16] = [
    0.1, 0.2, 0.1, 0.5, 0.7, 0.9, 0.5, 0.4, 1.5, 1.3, 1.0, 0.3, 0.7, 0.6, 0.3, 0.8,
];

const AFTER_HELP: &str = "\
Examples:
  mpirun -np 2 spmdkit sleep --threads 8            the classic 16 tasks on 2 ranks x 8 threads
  mpirun -np 4 spmdkit sleep --schedule block --json
  mpirun --hostfile hosts -np 8 spmdkit info        which host each rank runs on
  spmdkit sleep --durations 0.5,0.25 --output run.h5
  mpirun -np 4 spmdkit run --tasks-file cmds.txt    a command farm with a journal
  mpirun -np 2 spmdkit sleep --timeline run.svg     a Gantt chart of the run (.json: for Perfetto)

Started without a launcher, spmdkit runs as a single rank without starting MPI.
Exit codes: 0 success; 2 bad usage or bad input (nothing computed, nothing written);
1 a failure while running (a task failed, a rank died, I/O failed); 75 `run` was stopped by a
signal or its deadline and can be resumed.";

/// spmdkit: SPMD compute on MPI.
///
/// Every rank runs this same binary: rank 0 plans and scatters the tasks, each rank runs its share
/// on a rayon pool of threads, and rank 0 gathers the results, prints the report and writes the
/// HDF5 file.
#[derive(Debug, Parser)]
#[command(name = "spmdkit", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The workload to run.
    #[command(subcommand)]
    pub command: Command,
    /// End the job when a rank has not been heard from for SECONDS (stopped, deadlocked, on a
    /// stalled node), naming it; 0 turns the check off. A rank running a long task is heard
    /// from: its main thread keeps sending heartbeats [default: SPMDKIT_HANG_TIMEOUT, else 300].
    #[arg(
        long,
        value_name = "SECONDS",
        global = true,
        allow_hyphen_values = true
    )]
    pub hang_timeout: Option<String>,
}

pub use spmdkit::comm::{DEFAULT_HANG_TIMEOUT_S, HANG_TIMEOUT_VAR};

impl Cli {
    /// The hang timeout to enforce (`None`: off), from `--hang-timeout`, else
    /// [`HANG_TIMEOUT_VAR`], else [`DEFAULT_HANG_TIMEOUT_S`].
    ///
    /// # Errors
    /// A value that is not a number of seconds from 0 to [`MAX_DURATION_S`], naming where it
    /// came from.
    pub fn hang_timeout(&self) -> Result<Option<std::time::Duration>, ConfigError> {
        let (origin, text) = match &self.hang_timeout {
            Some(t) => ("--hang-timeout".to_string(), t.clone()),
            None => match std::env::var(HANG_TIMEOUT_VAR) {
                Ok(t) => (HANG_TIMEOUT_VAR.to_string(), t),
                Err(_) => {
                    return Ok(Some(std::time::Duration::from_secs_f64(
                        DEFAULT_HANG_TIMEOUT_S,
                    )))
                }
            },
        };
        let seconds = parse_duration(&text).map_err(|why| ConfigError::Duration {
            origin,
            value: text.trim().to_string(),
            why,
        })?;
        Ok((seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds)))
    }
}

/// The subcommands.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run sleep tasks of uneven length on ranks x threads workers (the classic example).
    ///
    /// Rank 0 assigns the tasks to the W = ranks x threads workers with the chosen schedule and
    /// scatters them (or, with --schedule dynamic, hands out chunks as ranks ask for work); every
    /// worker sleeps through its tasks; rank 0 shows progress on stderr, gathers one record per
    /// task and reports wall time, the ideal makespan max(longest task, total / W), speedup,
    /// efficiency (ideal / wall) and each rank's busy and idle time.
    Sleep(SleepArgs),
    /// Multiply pairs of random matrices and sum the products (the classic example).
    ///
    /// N standard-normal n x n matrices M_i (M_i depends only on the seed and i); products
    /// P_k = M_2k . M_2k+1; result S = sum of the P_k. Rank 0 gives each rank a contiguous range of
    /// k; ranks generate, multiply and sum their pairs with their threads; the partial sums are
    /// combined at rank 0. With --reduce tree (the default) S has the same bits for any number of
    /// ranks and threads; `digest` (SHA-256 of S's little-endian bytes) lets you check it.
    Matrix(MatrixArgs),
    /// Run shell commands over all ranks x slots, with a journal that makes resume exact.
    ///
    /// The commands come from --tasks-file (one a line) or from --command expanded over the
    /// rows of --params. Rank 0 hands a command to each slot as it becomes free and records its
    /// start in the journal before it can start, and its end (exit code or signal, times, CPU,
    /// memory, the last 4 KiB of stdout and stderr) when it ends. --resume JOURNAL runs what is
    /// left, naming the tasks that may have run partly. SIGUSR1, --stop-file or the deadline
    /// drain the run: nothing more starts, running commands get --grace seconds; SIGTERM, SIGINT
    /// and SIGHUP end it: running commands are ended at once. Either way the journal records
    /// every end and spmdkit exits with 75 (resumable). Exit codes, for the journal as a whole:
    /// 0 every task's latest record ok, 1 some task's latest record a failure (also one from an
    /// earlier start), 2 bad input (nothing ran), 75 some task not done.
    Run(FarmArgs),
    /// Describe the job: MPI library, ranks, the host and threads of each rank, HDF5 version.
    Info(InfoArgs),
    /// Draw a saved run: the timeline of a `sleep` HDF5 file or of a `run` journal, as an SVG
    /// Gantt chart or a Chrome trace (no MPI needed).
    Timeline(TimelineArgs),
}

/// Options of `spmdkit timeline`.
#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// The HDF5 file a `sleep --output` run wrote, or the journal of a `run`.
    #[arg(value_name = "RUN.h5|JOURNAL")]
    pub input: PathBuf,
    /// The picture: FILE.svg (a Gantt chart) or FILE.json (Chrome trace events, for Perfetto or
    /// chrome://tracing).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Options shared by the workloads.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Worker threads per rank [default: RAYON_NUM_THREADS, else SLURM_CPUS_PER_TASK, else the
    /// rank's share of its host's cores]. Under Open MPI's default binding each rank of a host
    /// gets cores of its own for its threads when the host has them; a binding you give
    /// (--bind-to, --map-by ...:PE=N) is kept. `spmdkit info` shows each rank's cores.
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub threads: Option<String>,
    /// Rank 0 prints one JSON object on stdout and nothing else there.
    #[arg(long)]
    pub json: bool,
    /// Write the results to this HDF5 file (written under a temporary name, then renamed).
    #[arg(long, value_name = "FILE.h5")]
    pub output: Option<PathBuf>,
    /// Overwrite the --output (and --timeline) file if it exists; replaces regular files only.
    #[arg(long, requires = "written")]
    pub force: bool,
    /// No progress on stderr (by default rank 0 shows a bar on a terminal, else a line every
    /// few seconds; SPMDKIT_PROGRESS_INTERVAL sets the seconds).
    #[arg(long)]
    pub quiet: bool,
    /// For testing failure handling (repeatable): panic-task=ID, abort-rank=RANK or
    /// abort-rank=RANK@SECONDS,
    /// exit-rank=RANK, io-error.
    #[arg(long, value_name = "SPEC")]
    pub inject_fault: Vec<String>,
}

impl RunArgs {
    fn faults(&self) -> Result<Faults, ConfigError> {
        let faults = self
            .inject_fault
            .iter()
            .map(|s| s.parse::<Fault>())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Faults(faults))
    }
}

/// Options of `spmdkit sleep`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("written").args(["output", "timeline"]).multiple(true)))]
pub struct SleepArgs {
    /// Shared options.
    #[command(flatten)]
    pub run: RunArgs,
    /// Task durations in seconds, comma-separated [default: the classic 16 tasks,
    /// 0.1,0.2,0.1,0.5,0.7,0.9,0.5,0.4,1.5,1.3,1.0,0.3,0.7,0.6,0.3,0.8].
    #[arg(
        long,
        value_name = "D1,D2,...",
        allow_hyphen_values = true,
        conflicts_with = "tasks_file"
    )]
    pub durations: Option<String>,
    /// Read the durations from FILE: one a line, blank lines and `#` comments ignored.
    #[arg(long, value_name = "FILE")]
    pub tasks_file: Option<PathBuf>,
    /// Also draw the run into FILE.svg (a Gantt chart: workers down, time across, failed tasks
    /// red, the ideal makespan dashed) or FILE.json (Chrome trace events, for Perfetto or
    /// chrome://tracing); written like --output, never over an existing file unless --force.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// How tasks are assigned to workers: lpt (longest first to the least-loaded worker),
    /// block (contiguous ranges of tasks), cyclic (round-robin over ranks), dynamic (idle ranks
    /// ask rank 0 for chunks of tasks; the durations are not used to plan).
    #[arg(long, value_name = "POLICY", default_value = "lpt",
          value_parser = ["lpt", "block", "cyclic", "dynamic"])]
    pub schedule: String,
}

/// Options of `spmdkit matrix`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("written").args(["output", "timeline"]).multiple(true)))]
pub struct MatrixArgs {
    /// Shared options.
    #[command(flatten)]
    pub run: RunArgs,
    /// Number of matrices N: even, at least 2 (they are multiplied in pairs).
    #[arg(
        long,
        value_name = "N",
        default_value = "4",
        allow_hyphen_values = true
    )]
    pub count: String,
    /// Rows (= columns) n of every matrix.
    #[arg(
        long,
        value_name = "n",
        default_value = "1000",
        allow_hyphen_values = true
    )]
    pub size: String,
    /// Seed of the generator: the same seed gives the same matrices everywhere.
    #[arg(
        long,
        value_name = "S",
        default_value = "1",
        allow_hyphen_values = true
    )]
    pub seed: String,
    /// How partial sums are combined: tree (binomial tree, ceil(log2 P) rounds, bit-reproducible
    /// for any ranks and threads; between ranks of one node through shared memory, or MPI
    /// messages with SPMDKIT_SHARED_MEMORY=0), linear (every rank sends to rank 0; not
    /// bit-reproducible across rank counts), native (the MPI library's reduce; not
    /// bit-reproducible).
    #[arg(long, value_name = "STRATEGY", default_value = "tree",
          value_parser = ["tree", "linear", "native"])]
    pub reduce: String,
    /// Also store every input matrix in the HDF5 file (/inputs/I for matrix I), so S can be recomputed.
    #[arg(long, requires = "output")]
    pub save_inputs: bool,
    /// Also draw each rank's phases (generating, multiplying, summing each pair, the reduction)
    /// into FILE.svg (a Gantt chart) or FILE.json (Chrome trace events); written like --output.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

/// Options of `spmdkit info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// Worker threads per rank to report [default as for the workloads].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub threads: Option<String>,
    /// Rank 0 prints one JSON object on stdout and nothing else there.
    #[arg(long)]
    pub json: bool,
}

/// A value on the command line, in a file or in the environment is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A thread count is not acceptable.
    #[error(transparent)]
    Threads(#[from] ThreadsError),
    /// A task duration is not acceptable.
    #[error("{origin}: '{value}' is not a valid duration: {why}")]
    Duration {
        /// Where: `--durations item 3`, `tasks file 'f' line 7`.
        origin: String,
        /// The text as given.
        value: String,
        /// What is wrong and what would be accepted.
        why: &'static str,
    },
    /// The task list is empty.
    #[error("{0} lists no tasks; give at least one duration")]
    NoTasks(String),
    /// A text input cannot be read or is not text (the message names it and the line).
    #[error("{0}")]
    Input(String),
    /// An option's value is not acceptable (`matrix` and `run` options).
    #[error("{option} {value}: {why}")]
    Value {
        /// The option.
        option: &'static str,
        /// The value as given.
        value: String,
        /// What is wrong and what would be accepted.
        why: String,
    },
    /// An environment variable spmdkit reads is not acceptable (the message names it).
    #[error("{0}")]
    Environment(String),
    /// The commands of `run` cannot be used.
    #[error("{0}")]
    Run(String),
    /// An `--inject-fault` value is not a fault.
    #[error(transparent)]
    Fault(#[from] BadFault),
    /// The schedule is not one of the policies.
    #[error("--schedule: {0}")]
    Schedule(#[from] spmdkit::farm::UnknownPolicy),
    /// The output file cannot be used.
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// Parses one duration in seconds: a finite number from 0 to [`MAX_DURATION_S`].
///
/// # Errors
/// The reason, in words, when the text is not such a number.
pub fn parse_duration(text: &str) -> Result<f64, &'static str> {
    let d: f64 = text
        .trim()
        .parse()
        .map_err(|_| "expected a number of seconds such as 0.5")?;
    if !d.is_finite() {
        Err("durations must be finite")
    } else if d < 0.0 {
        Err("durations cannot be negative")
    } else if d > MAX_DURATION_S {
        Err("durations are limited to 1000000 s")
    } else {
        // `-0` is 0.
        Ok(d.abs())
    }
}

/// Parses `--durations`: comma-separated seconds.
///
/// # Errors
/// The first bad item, with its position, or an empty list.
pub fn parse_duration_list(list: &str) -> Result<Vec<f64>, ConfigError> {
    if list.trim().is_empty() {
        return Err(ConfigError::NoTasks("--durations".into()));
    }
    list.split(',')
        .enumerate()
        .map(|(i, item)| {
            parse_duration(item).map_err(|why| ConfigError::Duration {
                origin: format!("--durations item {}", i + 1),
                value: crate::jobs::text::quote(item.trim()),
                why,
            })
        })
        .collect()
}

/// Reads a tasks file: one duration a line; blank lines and `#` comments are ignored.
///
/// # Errors
/// An unreadable or non-text file, a bad line (with its number), or no durations at all.
pub fn read_tasks_file(path: &Path) -> Result<Vec<f64>, ConfigError> {
    let lines = crate::jobs::text::read_lines(path, "tasks file").map_err(ConfigError::Input)?;
    let mut durations = Vec::new();
    for (number, line) in &lines {
        let content = line.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let d = parse_duration(content).map_err(|why| ConfigError::Duration {
            origin: format!("tasks file '{}' line {number}", path.display()),
            value: crate::jobs::text::quote(content),
            why,
        })?;
        durations.push(d);
    }
    if durations.is_empty() {
        return Err(ConfigError::NoTasks(format!(
            "tasks file '{}'",
            path.display()
        )));
    }
    Ok(durations)
}

/// A checked `sleep` run.
#[derive(Debug, Clone)]
pub struct SleepConfig {
    /// The job's parameters (the durations on rank 0 only; empty elsewhere).
    pub params: SleepParams,
    /// This rank's worker threads, and where the count came from.
    pub threads: Threads,
    /// JSON instead of the human report.
    pub json: bool,
    /// Where rank 0 writes the HDF5 file.
    pub output: Option<OutputTarget>,
    /// Where rank 0 draws the timeline.
    pub timeline: Option<OutputTarget>,
}

/// Checks a `--timeline` path: its extension and the place, as for `--output`.
///
/// # Errors
/// A name that is neither .svg nor .json, or a path that cannot be written.
pub fn timeline_target(path: &Path, force: bool) -> Result<OutputTarget, ConfigError> {
    crate::io::timeline::Format::of(path).map_err(ConfigError::Input)?;
    Ok(OutputTarget::check(path, force)?)
}

impl SleepConfig {
    /// Checks the arguments. Rank 0 (`is_root`) also reads the task list and checks the output.
    /// `under_launcher` chooses how progress is shown (see [`ProgressMode::choose`]).
    ///
    /// # Errors
    /// The first bad value found.
    pub fn from_args(
        args: &SleepArgs,
        is_root: bool,
        under_launcher: bool,
    ) -> Result<Self, ConfigError> {
        let threads = threads_here(args.run.threads.as_deref())?;
        let schedule = args.schedule.parse::<Policy>()?;
        let mut config = SleepConfig {
            params: SleepParams {
                durations: Vec::new(),
                schedule,
                threads: threads.count,
                progress: ProgressMode::choose(args.run.quiet, under_launcher)
                    .map_err(ConfigError::Environment)?,
                faults: args.run.faults()?,
            },
            threads,
            json: args.run.json,
            output: None,
            timeline: None,
        };
        if is_root {
            config.params.durations = match (&args.durations, &args.tasks_file) {
                (Some(list), _) => parse_duration_list(list)?,
                (None, Some(path)) => read_tasks_file(path)?,
                (None, None) => CLASSIC_DURATIONS.to_vec(),
            };
            config.output = output_target(&args.run)?;
            config.timeline = match &args.timeline {
                Some(path) => Some(timeline_target(path, args.run.force)?),
                None => None,
            };
        }
        Ok(config)
    }
}

/// The largest matrix side: n² values must fit in one MPI message (an `int` count).
pub const MAX_SIZE: usize = 46_340;

/// A checked `matrix` run.
#[derive(Debug, Clone)]
pub struct MatrixConfig {
    /// The job's parameters.
    pub params: MatrixParams,
    /// This rank's worker threads, and where the count came from.
    pub threads: Threads,
    /// JSON instead of the human report.
    pub json: bool,
    /// Where rank 0 writes the HDF5 file.
    pub output: Option<OutputTarget>,
    /// Store the inputs in the HDF5 file.
    pub save_inputs: bool,
    /// Where rank 0 draws the timeline.
    pub timeline: Option<OutputTarget>,
}

impl MatrixConfig {
    /// Checks the arguments; rank 0 (`is_root`) also checks the output path.
    ///
    /// # Errors
    /// The first bad value found.
    pub fn from_args(args: &MatrixArgs, is_root: bool) -> Result<Self, ConfigError> {
        let bad = |option: &'static str, value: &str, why: &str| ConfigError::Value {
            option,
            value: value.to_string(),
            why: why.to_string(),
        };
        let count: usize = args.count.trim().parse().map_err(|_| {
            bad(
                "--count",
                &args.count,
                "expected a whole, even number of matrices, at least 2",
            )
        })?;
        if count < 2 || !count.is_multiple_of(2) {
            return Err(bad(
                "--count",
                &args.count,
                "the matrices are multiplied in pairs: give an even number, at least 2",
            ));
        }
        let size: usize = args.size.trim().parse().map_err(|_| {
            bad(
                "--size",
                &args.size,
                "expected a whole number of rows, at least 1",
            )
        })?;
        if size == 0 {
            return Err(bad("--size", &args.size, "a matrix needs at least 1 row"));
        }
        if size > MAX_SIZE {
            return Err(bad(
                "--size",
                &args.size,
                &format!(
                    "an n x n matrix must have at most 2^31 - 1 values to travel in one MPI \
                     message: n <= {MAX_SIZE}"
                ),
            ));
        }
        let seed: u64 = args.seed.trim().parse().map_err(|_| {
            bad(
                "--seed",
                &args.seed,
                "expected a whole number from 0 to 2^64 - 1",
            )
        })?;
        let reduce = args
            .reduce
            .parse::<spmdkit::reduce::Strategy>()
            .map_err(|e| bad("--reduce", &args.reduce, &e.to_string()))?;
        let threads = threads_here(args.run.threads.as_deref())?;
        Ok(MatrixConfig {
            params: MatrixParams {
                count,
                size,
                seed,
                reduce,
                threads: threads.count,
                faults: args.run.faults()?,
            },
            threads,
            json: args.run.json,
            output: if is_root {
                output_target(&args.run)?
            } else {
                None
            },
            save_inputs: args.save_inputs,
            timeline: match (&args.timeline, is_root) {
                (Some(path), true) => Some(timeline_target(path, args.run.force)?),
                _ => None,
            },
        })
    }
}

fn output_target(run: &RunArgs) -> Result<Option<OutputTarget>, ConfigError> {
    let faults = run.faults()?;
    Ok(match &run.output {
        Some(path) => Some(
            OutputTarget::check(path, run.force)?
                .fail_part_way(faults.io_error())
                .without_hard_links(faults.no_hard_links()),
        ),
        None => None,
    })
}

impl From<ConfigError> for spmdkit::Error {
    fn from(e: ConfigError) -> Self {
        match e {
            ConfigError::Output(o) => o.into(),
            other => spmdkit::Error::bad_input(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_checked_one_by_one() {
        assert_eq!(
            parse_duration_list("0.5, 1,0").unwrap(),
            vec![0.5, 1.0, 0.0]
        );
        for (list, item, value) in [
            ("1,-1", 2, "-1"),
            ("nan", 1, "nan"),
            ("1,inf", 2, "inf"),
            ("0.1,abc,0.2", 2, "abc"),
            ("1,,2", 2, ""),
            ("2e6", 1, "2e6"),
        ] {
            let e = parse_duration_list(list).unwrap_err().to_string();
            assert!(e.contains(&format!("item {item}: '{value}'")), "{e}");
        }
        assert!(matches!(
            parse_duration_list(" "),
            Err(ConfigError::NoTasks(_))
        ));
    }

    #[test]
    fn tasks_files_report_the_line_of_a_bad_value() {
        let dir = std::env::temp_dir().join(format!("spmdkit-cli-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.txt");
        std::fs::write(&good, "# classic\n0.5\n\n  1.5  # long one\n").unwrap();
        assert_eq!(read_tasks_file(&good).unwrap(), vec![0.5, 1.5]);
        let bad = dir.join("bad.txt");
        std::fs::write(&bad, "0.5\n0.25\nlots\n").unwrap();
        let e = read_tasks_file(&bad).unwrap_err().to_string();
        assert!(e.contains("line 3: 'lots'"), "{e}");
        let empty = dir.join("empty.txt");
        std::fs::write(&empty, "# nothing\n\n").unwrap();
        assert!(matches!(
            read_tasks_file(&empty),
            Err(ConfigError::NoTasks(_))
        ));
        let binary = dir.join("binary.bin");
        std::fs::write(&binary, [0x31, 0x0a, 0xff, 0xfe, 0x00]).unwrap();
        let e = read_tasks_file(&binary).unwrap_err().to_string();
        assert!(e.contains("line 2 holds a NUL byte"), "{e}");
        let latin1 = dir.join("latin1.txt");
        std::fs::write(&latin1, b"0.1\n0.2\xe9\n").unwrap();
        let e = read_tasks_file(&latin1).unwrap_err().to_string();
        assert!(e.contains("line 2 is not UTF-8"), "{e}");
        let e = read_tasks_file(&dir).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        let e = read_tasks_file(&dir.join("missing"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("No such file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
