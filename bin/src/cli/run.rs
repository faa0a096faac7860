//! The options of `spmdkit run` and the checked configuration built from them.

use super::ConfigError;
use crate::jobs::run::input::{self, Task};
use crate::jobs::run::journal::EndKind;
use crate::jobs::run::{Order, RunParams, DEFAULT_JOURNAL};
use clap::Args;
use spmdkit::comm::threads_here;
use spmdkit::farm::ProgressMode;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `spmdkit run`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("written").args(["output", "timeline"]).multiple(true)))]
pub struct FarmArgs {
    /// One shell command a line (blank lines and lines starting with # are skipped).
    #[arg(long, value_name = "FILE", required_unless_present = "command", conflicts_with_all = ["command", "params"])]
    pub tasks_file: Option<PathBuf>,
    /// A command template run once per row of --params: {name} is the row's value in column
    /// `name`, {#} the task id (1, 2, ...); {{ and }} are literal braces.
    #[arg(long, value_name = "TEMPLATE", requires = "params")]
    pub command: Option<String>,
    /// The parameter table of --command: CSV with a header line naming the columns.
    #[arg(long, value_name = "FILE.csv", requires = "command")]
    pub params: Option<PathBuf>,
    /// Commands run at once on each rank [default: the rank's cores (SLURM_CPUS_PER_TASK under
    /// Slurm) divided by --cpus-per-slot].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub slots: Option<String>,
    /// Cores each command uses (sets OMP_NUM_THREADS for it) [default: 1].
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpus_per_slot: Option<String>,
    /// dynamic (in id order, one task to each slot that becomes free) or lpt (longest first, by
    /// the durations that the journal of --costs-from recorded; unknown tasks last).
    #[arg(long, value_name = "POLICY", default_value = "dynamic", value_parser = ["dynamic", "lpt"])]
    pub schedule: String,
    /// The journal of an earlier run whose durations --schedule lpt plans with.
    #[arg(long, value_name = "JOURNAL")]
    pub costs_from: Option<PathBuf>,
    /// Where rank 0 records every start and end (JSON Lines) [default: spmdkit-run.journal in the
    /// working directory]. It must not exist, unless --resume.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub journal: Option<PathBuf>,
    /// Continue the run of this journal: skip what ended (ok, or failed unless --retry-failed),
    /// run the rest with the next attempt number, appending to it. The inputs must be the same.
    #[arg(long, value_name = "JOURNAL")]
    pub resume: Option<PathBuf>,
    /// With --resume: also run again the tasks that failed.
    #[arg(long, requires = "resume")]
    pub retry_failed: bool,
    /// With --resume: accept a changed task list and run only the tasks whose command is new.
    #[arg(long, requires = "resume")]
    pub resume_changed: bool,
    /// End a command after SECONDS (SIGTERM to its process group, SIGKILL after --kill-grace);
    /// recorded as `timeout`.
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub timeout: Option<String>,
    /// Seconds between SIGTERM and SIGKILL when spmdkit ends a command.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "5",
        allow_hyphen_values = true
    )]
    pub kill_grace: String,
    /// Run a failed command again up to N more times (each attempt is recorded).
    #[arg(
        long,
        value_name = "N",
        default_value = "0",
        allow_hyphen_values = true
    )]
    pub retries: String,
    /// The endings --retries applies to, comma-separated: exit, signal, timeout.
    #[arg(long, value_name = "KINDS", default_value = "exit,signal,timeout")]
    pub retry_on: String,
    /// Stop at this time: Unix seconds, or +SECONDS from now [default under Slurm: the job's end
    /// time, SLURM_JOB_END_TIME]. Starts nothing after deadline - grace.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub deadline: Option<String>,
    /// Stop as on SIGUSR1 when FILE appears (rank 0 looks every 0.25 s; it must not exist at
    /// the start). For batch scripts: Slurm and srun signal every process of a job step, the
    /// commands too, so a warning meant for the farm is better passed on this way.
    #[arg(long, value_name = "FILE")]
    pub stop_file: Option<PathBuf>,
    /// After a drain (SIGUSR1, --stop-file, the deadline), seconds that running commands may go
    /// on before they are ended and recorded as `interrupted`. SIGTERM, SIGINT and SIGHUP end
    /// them at once (launchers kill the ranks soon after forwarding those).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "10",
        allow_hyphen_values = true
    )]
    pub grace: String,
    /// Keep each command's full stdout and stderr in DIR/NNN/ID.ATTEMPT.out and .err (NNN = ID mod 1000)
    /// (by default only the last 4 KiB of each are kept, in the journal).
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Seed of SPMDKIT_TASK_SEED, which each task gets from it and its id.
    #[arg(
        long,
        value_name = "S",
        default_value = "1",
        allow_hyphen_values = true
    )]
    pub seed: String,
    /// Also write every attempt's record to this HDF5 file (one dataset per field, written
    /// under a temporary name, then renamed).
    #[arg(long, value_name = "FILE.h5")]
    pub output: Option<PathBuf>,
    /// Also draw the run, from its journal, into FILE.svg (a Gantt chart: ranks x slots down,
    /// time across, attempts that did not end ok in red) or FILE.json (Chrome trace events, for
    /// Perfetto or chrome://tracing); written like --output.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// Overwrite the --output (and --timeline) file if it exists; replaces regular files only.
    #[arg(long, requires = "written")]
    pub force: bool,
    /// Rank 0 prints one JSON object on stdout and nothing else there.
    #[arg(long)]
    pub json: bool,
    /// No progress on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// A checked `run`.
#[derive(Debug, Clone)]
pub struct FarmConfig {
    /// The job's parameters (the tasks on rank 0 only).
    pub params: RunParams,
    /// JSON instead of the human report.
    pub json: bool,
    /// Where rank 0 writes the HDF5 file.
    pub output: Option<crate::io::OutputTarget>,
    /// Where rank 0 draws the timeline.
    pub timeline: Option<crate::io::OutputTarget>,
}

fn seconds(option: &'static str, text: &str, zero_ok: bool) -> Result<Duration, ConfigError> {
    let bad = |why: &str| ConfigError::Value {
        option,
        value: text.to_string(),
        why: why.to_string(),
    };
    let s: f64 = text
        .trim()
        .parse()
        .map_err(|_| bad("expected a number of seconds such as 30 or 0.5"))?;
    if !s.is_finite() || s < 0.0 || (!zero_ok && s == 0.0) || s > 1e9 {
        return Err(bad(if zero_ok {
            "expected seconds from 0 to 1e9"
        } else {
            "expected seconds above 0, at most 1e9"
        }));
    }
    Ok(Duration::from_secs_f64(s))
}

fn count(option: &'static str, text: &str, min: u64, max: u64) -> Result<u64, ConfigError> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| ConfigError::Value {
            option,
            value: text.to_string(),
            why: format!("expected a whole number from {min} to {max}"),
        })
}

impl FarmConfig {
    /// Checks the arguments; rank 0 (`is_root`) also reads the commands.
    ///
    /// # Errors
    /// The first bad value found.
    pub fn from_args(
        args: &FarmArgs,
        is_root: bool,
        under_launcher: bool,
    ) -> Result<Self, ConfigError> {
        // clap's `requires` does not fire when --journal is given (it conflicts with --resume).
        for (given, option) in [
            (args.retry_failed, "--retry-failed"),
            (args.resume_changed, "--resume-changed"),
        ] {
            if given && args.resume.is_none() {
                return Err(ConfigError::Value {
                    option,
                    value: "without --resume".into(),
                    why: "it only applies to a resume: give --resume JOURNAL (a run with \
                          --journal, or with neither, starts from nothing)"
                        .into(),
                });
            }
        }
        let cpus_per_slot = args
            .cpus_per_slot
            .as_deref()
            .map(|c| count("--cpus-per-slot", c, 1, 4096))
            .transpose()?
            .map(|c| c as usize);
        let slots = match &args.slots {
            Some(s) => count(
                "--slots",
                s,
                1,
                spmdkit::comm::max_threads(spmdkit::comm::cores_here()) as u64,
            )? as usize,
            None => (threads_here(None)?.count / cpus_per_slot.unwrap_or(1)).max(1),
        };
        let order =
            match (args.schedule.as_str(), &args.costs_from) {
                ("lpt", Some(j)) => Order::Lpt(j.clone()),
                ("lpt", None) => return Err(ConfigError::Value {
                    option: "--schedule",
                    value: "lpt".into(),
                    why:
                        "lpt plans with the durations of an earlier run: give --costs-from JOURNAL"
                            .into(),
                }),
                (_, Some(_)) => {
                    return Err(ConfigError::Value {
                        option: "--costs-from",
                        value: args
                            .costs_from
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        why: "only --schedule lpt uses costs".into(),
                    })
                }
                _ => Order::Dynamic,
            };
        let retry_on = args
            .retry_on
            .split(',')
            .map(|k| match k.trim() {
                "exit" => Ok(EndKind::Exit),
                "signal" => Ok(EndKind::Signal),
                "timeout" => Ok(EndKind::Timeout),
                other => Err(ConfigError::Value {
                    option: "--retry-on",
                    value: other.to_string(),
                    why: "expected kinds among exit, signal, timeout".into(),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let deadline = match (&args.deadline, std::env::var("SLURM_JOB_END_TIME").ok()) {
            (Some(d), _) => Some(deadline(d, "--deadline")?),
            (None, Some(end)) => Some(deadline(&end, "SLURM_JOB_END_TIME")?),
            (None, None) => None,
        };
        let seed = count("--seed", &args.seed, 0, u64::MAX)?;
        let (tasks, source) = if is_root {
            match (&args.tasks_file, &args.command, &args.params) {
                (Some(f), _, _) => (
                    input::read_tasks_file(f).map_err(|e| ConfigError::Run(e.0))?,
                    format!("tasks file {}", f.display()),
                ),
                (None, Some(t), Some(p)) => (
                    input::expand_template(t, p).map_err(|e| ConfigError::Run(e.0))?,
                    format!("template {t} over {}", p.display()),
                ),
                _ => unreachable!("clap requires --tasks-file or --command with --params"),
            }
        } else {
            (Vec::<Task>::new(), String::new())
        };
        let (journal, resume) = match (&args.resume, &args.journal) {
            (Some(r), _) => (r.clone(), true),
            (None, Some(j)) => (j.clone(), false),
            (None, None) => (PathBuf::from(DEFAULT_JOURNAL), false),
        };
        Ok(FarmConfig {
            params: RunParams {
                tasks,
                source,
                slots,
                cpus_per_slot,
                order,
                journal,
                resume,
                retry_failed: args.retry_failed,
                resume_changed: args.resume_changed,
                timeout: args
                    .timeout
                    .as_deref()
                    .map(|t| seconds("--timeout", t, false))
                    .transpose()?,
                kill_grace: seconds("--kill-grace", &args.kill_grace, true)?,
                retries: count("--retries", &args.retries, 0, 1000)? as u32,
                retry_on,
                deadline,
                stop_file: args.stop_file.clone(),
                grace: seconds("--grace", &args.grace, true)?,
                output_dir: args.output_dir.clone(),
                seed,
                progress: ProgressMode::choose(args.quiet, under_launcher)
                    .map_err(ConfigError::Environment)?,
            },
            json: args.json,
            output: match (&args.output, is_root) {
                (Some(path), true) => Some(crate::io::OutputTarget::check(path, args.force)?),
                _ => None,
            },
            timeline: match (&args.timeline, is_root) {
                (Some(path), true) => Some(super::timeline_target(path, args.force)?),
                _ => None,
            },
        })
    }
}

/// A deadline as Unix seconds: `+SECONDS` from now, or Unix seconds.
fn deadline(text: &str, origin: &'static str) -> Result<f64, ConfigError> {
    let now = crate::jobs::run::journal::unix_now();
    let t = text.trim();
    let value = match t.strip_prefix('+') {
        Some(rel) => seconds(origin, rel, true).map(|d| now + d.as_secs_f64()),
        None => t
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v > 0.0)
            .ok_or_else(|| ConfigError::Value {
                option: origin,
                value: text.to_string(),
                why: "expected Unix seconds, or +SECONDS from now".into(),
            }),
    }?;
    Ok(value)
}
