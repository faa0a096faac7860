//! `spmdkit run`: a command farm on the task engine's live dispatch.
//!
//! Rank 0 reads the commands ([`input`]), opens the journal ([`journal`]) and, on a resume,
//! works out from it what is left; every rank runs commands on its slots (`exec`) as rank 0
//! hands them out, one per idle slot, writing `started` before a command can start and
//! `finished` as soon as it is known. A stop hands out nothing more: a drain (SIGUSR1, the
//! stop file, the deadline) waits up to the grace for running commands, then ends them; an end
//! (SIGTERM, SIGINT, SIGHUP) ends them at once. The run exits with
//! [`Kind::Interrupted`](spmdkit::Kind) and the journal says what to resume.

mod exec;
pub mod input;
pub mod journal;
mod spawn;

pub use exec::{reaper_main, REAPER_VAR};

use input::Task;
use journal::{EndKind, Entry, Finished, Process, RunRecord, Started};
use serde::{Deserialize, Serialize};
use spmdkit::collective;
use spmdkit::comm::{host_name, Comm};
use spmdkit::farm::{self, run_live, Control, ProgressMode, Record};
use spmdkit::{agree, Error, Kind};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The default journal, in the working directory.
pub const DEFAULT_JOURNAL: &str = "spmdkit-run.journal";

/// How the commands are ordered for dispatch.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    /// In id order.
    Dynamic,
    /// Longest first, by the wall times of the `ok` records of this journal (unknown ones last,
    /// in id order).
    Lpt(PathBuf),
}

/// The parameters of a `run`.
#[derive(Debug, Clone)]
pub struct RunParams {
    /// The commands (read on rank 0; the others may leave it empty).
    pub tasks: Vec<Task>,
    /// Where they came from, for the journal.
    pub source: String,
    /// Commands run at once on this rank.
    pub slots: usize,
    /// `OMP_NUM_THREADS` for each command, when set.
    pub cpus_per_slot: Option<usize>,
    /// Dispatch order.
    pub order: Order,
    /// The journal.
    pub journal: PathBuf,
    /// Continue the journal instead of starting one.
    pub resume: bool,
    /// On a resume, also rerun tasks that failed (not only those that did not end).
    pub retry_failed: bool,
    /// On a resume of a changed task list, run only the tasks whose command is new.
    pub resume_changed: bool,
    /// End a command after this long.
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL when spmdkit ends a command.
    pub kill_grace: Duration,
    /// Run a failed command again up to this many times.
    pub retries: u32,
    /// The endings that are retried.
    pub retry_on: Vec<EndKind>,
    /// Stop at this Unix time.
    pub deadline: Option<f64>,
    /// Stop, as on SIGUSR1, when this file appears (looked for by rank 0, every
    /// [`STOP_FILE_INTERVAL`]).
    pub stop_file: Option<PathBuf>,
    /// After a stop, how long running commands may go on before they are ended.
    pub grace: Duration,
    /// Keep each command's stdout and stderr here.
    pub output_dir: Option<PathBuf>,
    /// Seed of `SPMDKIT_TASK_SEED`.
    pub seed: u64,
    /// Progress on rank 0's stderr.
    pub progress: ProgressMode,
}

/// One attempt of a command, as it travels to the rank that runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Item {
    id: u64,
    attempt: u32,
    command: String,
    /// Its duration in an earlier run (`--costs-from`), if known.
    cost: Option<f64>,
}

/// A failed task in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailedTask {
    /// Task id.
    pub task: u64,
    /// Its last attempt.
    pub attempt: u32,
    /// How it ended.
    pub kind: EndKind,
    /// Its exit code.
    pub exit_code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// The command.
    pub command: String,
    /// The end of its stderr.
    pub stderr_tail: String,
}

/// How busy one rank was.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunLoad {
    /// The rank.
    pub rank: usize,
    /// Its host.
    pub host: String,
    /// Its slots.
    pub slots: usize,
    /// Commands it ran.
    pub tasks: usize,
    /// Time its slots spent in commands.
    pub busy_s: f64,
    /// slots × wall − busy.
    pub idle_s: f64,
}

/// The report of a `run`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    /// Always `"run"`.
    pub command: &'static str,
    /// Ranks.
    pub ranks: usize,
    /// Slots of each rank.
    pub slots: Vec<usize>,
    /// The journal.
    pub journal: String,
    /// Commands in the list.
    pub tasks: usize,
    /// Commands not run because the journal says they are done.
    pub skipped: usize,
    /// Attempts run now.
    pub ran: usize,
    /// Tasks that ended `ok` now.
    pub ok: usize,
    /// Tasks whose last attempt now failed (exit, signal, timeout).
    pub failed: Vec<FailedTask>,
    /// Tasks that were running when the run stopped and were ended: not done, resumable.
    pub interrupted: Vec<u64>,
    /// Tasks not handed out because the run stopped.
    pub not_started: Vec<u64>,
    /// Tasks an earlier start started without an end on record, which no printed report named
    /// yet: they may have run, partly or wholly, and were (or are now) run again.
    pub possibly_run_partly: Vec<u64>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Attempts per second of wall time.
    pub tasks_per_s: f64,
    /// Each rank's load.
    pub per_rank: Vec<RunLoad>,
    /// Every attempt run now, in the order they ended.
    pub records: Vec<Finished>,
    /// Where every task stands in the journal as a whole, this start and the earlier ones.
    pub journal_summary: JournalSummary,
    /// Why the journal could not be written or synced, if it could not (the run then stopped,
    /// and the journal may not hold everything that happened).
    pub journal_error: Option<String>,
    /// spmdkit's version.
    pub version: String,
}

/// How often rank 0 looks for the `--stop-file`.
pub const STOP_FILE_INTERVAL: Duration = Duration::from_millis(250);

/// Whether the `--stop-file` is there (anything under that name, even a dangling link).
fn stop_file_present(file: &std::path::Path) -> bool {
    std::fs::symlink_metadata(file).is_ok()
}

/// The signals that stop a run (noted on every rank, acted on by rank 0): SIGUSR1 drains it,
/// the others end it now (see `Root::stop_reason`).
const STOP_SIGNALS: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1];

/// The signal that asked this process to stop (0: none).
static SIGNALLED: AtomicI32 = AtomicI32::new(0);

/// The stop signal this rank has received, if any.
fn signalled() -> Option<i32> {
    match SIGNALLED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

extern "C" fn note_signal(signal: libc::c_int) {
    SIGNALLED.store(signal, Ordering::SeqCst);
}

/// Every rank notes SIGTERM, SIGINT, SIGHUP and SIGUSR1 instead of dying of them; rank 0 acts
/// on them.
/// A signal that was ignored when the process started (`nohup`'s SIGHUP, the SIGINT of a job a
/// non-interactive shell put in the background) stays ignored, as the shell's user meant.
fn catch_stop_signals() {
    for signal in STOP_SIGNALS {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe; the
        // sigaction structs are fully initialised (zeroed) before the calls.
        unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut current);
            if current.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = note_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGTERM => "SIGTERM",
        libc::SIGINT => "SIGINT",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// `SPMDKIT_TASK_SEED` of task `id` under `seed`: the same whatever ranks and slots run it.
pub fn task_seed(seed: u64, id: u64) -> u64 {
    use crate::kernels::splitmix64;
    splitmix64(seed ^ splitmix64(id))
}

/// What rank 0 decided before anything runs.
struct Plan {
    writer: journal::Writer,
    todo: Vec<(Task, u32)>,
    costs: HashMap<u64, f64>,
    skipped: usize,
    /// How each skipped task ended before this start (`ok`, or a failure not run again).
    before: HashMap<u64, EndKind>,
    possibly_run_partly: Vec<u64>,
    cwd: String,
}

fn plan(params: &RunParams) -> Result<Plan, Error> {
    if let Some(file) = &params.stop_file {
        if stop_file_present(file) {
            return Err(Error::bad_input(format!(
                "--stop-file '{}' exists already: remove it first (it asks the run to stop)",
                file.display()
            )));
        }
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::bad_input(format!("cannot read the working directory: {e}")))?
        .to_string_lossy()
        .into_owned();
    let keys = journal::keys(&params.tasks);
    let mut todo = Vec::new();
    let mut skipped = 0;
    let mut before = HashMap::new();
    let mut possibly_run_partly = Vec::new();
    if params.resume {
        let entries = journal::read(&params.journal)?;
        let (last, states) = journal::states(&entries);
        let bad = |why: String| {
            Error::bad_input(format!("--resume '{}': {why}", params.journal.display()))
        };
        if last.cwd != cwd {
            return Err(bad(format!(
                "the journal's run worked in '{}', this one in '{cwd}'; resume from the same directory",
                last.cwd
            )));
        }
        if last.seed != params.seed {
            return Err(bad(format!(
                "the journal's run had --seed {}, this one {}",
                last.seed, params.seed
            )));
        }
        let now: Vec<(u64, usize, String)> = params
            .tasks
            .iter()
            .map(|t| (t.id, t.line, t.command.clone()))
            .collect();
        if last.commands != now && !params.resume_changed {
            let first = now
                .iter()
                .zip(&last.commands)
                .find(|(a, b)| a.2 != b.2)
                .map(|(a, b)| {
                    format!(
                        "task {} is now '{}' (line {}) but was '{}' (line {})",
                        a.0, a.2, a.1, b.2, b.1
                    )
                })
                .unwrap_or_else(|| {
                    format!(
                        "the list now has {} tasks, the journal's {}",
                        now.len(),
                        last.commands.len()
                    )
                });
            return Err(bad(format!(
                "the tasks changed: {first}; pass --resume-changed to run only the new ones"
            )));
        }
        for (task, key) in params.tasks.iter().zip(&keys) {
            let Some(state) = states.get(key) else {
                todo.push((task.clone(), 1));
                continue;
            };
            // Named by the start that finds them, not again once a printed report named them
            // (a start killed before its report told no one).
            if state.to_name() {
                possibly_run_partly.push(task.id);
            }
            let last = if state.ok {
                Some(EndKind::Ok)
            } else {
                state.last
            };
            let done = state.ok
                || (!params.retry_failed
                    && !state.latest_unfinished()
                    && last.is_some_and(|k| k != EndKind::Interrupted));
            if let (true, Some(kind)) = (done, last) {
                skipped += 1;
                before.insert(task.id, kind);
            } else {
                todo.push((task.clone(), state.attempts + 1));
            }
        }
    } else {
        todo = params.tasks.iter().map(|t| (t.clone(), 1)).collect();
    }
    let mut costs = HashMap::new();
    if let Order::Lpt(from) = &params.order {
        let (_, states) = journal::states(&journal::read(from)?);
        for (task, key) in params.tasks.iter().zip(&keys) {
            if let Some(wall) = states.get(key).and_then(|s| s.ok_wall_s) {
                costs.insert(task.id, wall);
            }
        }
        let cost = |t: &Task, k: &(String, usize)| (states.get(k).and_then(|s| s.ok_wall_s), t.id);
        let by_key: HashMap<u64, (String, usize)> = params
            .tasks
            .iter()
            .map(|t| t.id)
            .zip(keys.iter().cloned())
            .collect();
        // Longest known first; unknown ones last, in id order.
        todo.sort_by(|(a, _), (b, _)| {
            let (ca, ia) = cost(a, &by_key[&a.id]);
            let (cb, ib) = cost(b, &by_key[&b.id]);
            match (ca, cb) {
                (Some(x), Some(y)) => y.total_cmp(&x).then(ia.cmp(&ib)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => ia.cmp(&ib),
            }
        });
    }
    let writer = journal::Writer::open(&params.journal, params.resume)?;
    Ok(Plan {
        writer,
        todo,
        costs,
        skipped,
        before,
        possibly_run_partly,
        cwd,
    })
}

/// Rank 0's side of a round: the journal and the stop rules.
struct Root<'a> {
    writer: Mutex<journal::Writer>,
    failure: Mutex<Option<String>>,
    hosts: &'a [String],
    items: Mutex<Vec<Item>>,
    deadline: Option<f64>,
    stop_file: Option<&'a std::path::Path>,
    stop_checked: Mutex<Option<Instant>>,
    grace: Duration,
    /// Since when the run stops, why, and the grace running commands get.
    stop_since: Mutex<Option<(Instant, String, Duration)>>,
    finished: AtomicUsize,
    progress: Mutex<Option<farm::Progress>>,
    ended: Mutex<Vec<Finished>>,
    /// Tasks not started because their known duration does not fit before the deadline.
    too_long: Mutex<Vec<u64>>,
}

/// The control of a round, on every rank.
struct RunControl<'a> {
    root: Option<&'a Root<'a>>,
    dog: &'a exec::Watchdog,
}

impl Root<'_> {
    fn write(&self, entry: &Entry) {
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = writer.append(entry) {
            self.failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert(e.to_string());
        }
    }

    /// Why the run stops now, if it does, and the grace running commands get: `--grace` for a
    /// drain (SIGUSR1, the stop file, the deadline, a failed journal), none for SIGTERM, SIGINT
    /// and SIGHUP, which end the job soon whatever the farm does (mpirun kills its ranks about
    /// 2 s after forwarding SIGTERM; Slurm sends SIGKILL after its KillWait): the commands are
    /// ended at once, so that their ends are on record before the rank goes.
    fn stop_reason(&self) -> Option<(String, Duration)> {
        if let Some(f) = self
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Some((f, self.grace));
        }
        if let Some(s) = signalled() {
            let grace = if s == libc::SIGUSR1 {
                self.grace
            } else {
                Duration::ZERO
            };
            return Some((format!("{} received", signal_name(s)), grace));
        }
        if let Some(file) = self.stop_file {
            let mut last = self.stop_checked.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_none_or(|at| at.elapsed() >= STOP_FILE_INTERVAL) {
                *last = Some(Instant::now());
                if stop_file_present(file) {
                    return Some((
                        format!("'{}' appeared (--stop-file)", file.display()),
                        self.grace,
                    ));
                }
            }
        }
        let deadline = self.deadline?;
        let left = deadline - journal::unix_now();
        (left <= self.grace.as_secs_f64()).then(|| {
            let why = format!(
                "the deadline is {:.0} s away, within the grace of {:.0} s",
                left.max(0.0),
                self.grace.as_secs_f64()
            );
            (why, self.grace)
        })
    }
}

impl Control<Finished> for RunControl<'_> {
    fn admit(&self, id: usize) -> bool {
        let Some(root) = self.root else { return true };
        let (Some(deadline), (task, Some(cost))) = (root.deadline, {
            let items = root.items.lock().unwrap_or_else(|e| e.into_inner());
            (items[id].id, items[id].cost)
        }) else {
            return true;
        };
        let fits = journal::unix_now() + cost <= deadline;
        if !fits {
            root.too_long
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task);
        }
        fits
    }

    fn started(&self, id: usize, rank: usize, slot: usize) {
        let Some(root) = self.root else { return };
        let (task, attempt) = {
            let items = root.items.lock().unwrap_or_else(|e| e.into_inner());
            (items[id].id, items[id].attempt)
        };
        root.write(&Entry::Started(Started {
            task,
            attempt,
            rank,
            host: root.hosts.get(rank).cloned().unwrap_or_default(),
            slot,
            time: journal::unix_now(),
        }));
    }

    fn finished(&self, record: &Record<Finished>) {
        let Some(root) = self.root else { return };
        let ended = match &record.result {
            Ok(f) => f.clone(),
            Err(panic) => {
                let items = root.items.lock().unwrap_or_else(|e| e.into_inner());
                Finished {
                    task: items[record.id].id,
                    attempt: items[record.id].attempt,
                    rank: record.rank,
                    slot: record.thread,
                    kind: EndKind::Exit,
                    exit_code: None,
                    signal: None,
                    wall_s: record.end_s - record.start_s,
                    user_s: 0.0,
                    sys_s: 0.0,
                    max_rss_kib: 0,
                    stdout_bytes: 0,
                    stderr_bytes: 0,
                    stdout_tail: String::new(),
                    stderr_tail: format!("spmdkit failed to run it: {panic}"),
                    pid: None,
                }
            }
        };
        root.write(&Entry::Finished(ended.clone()));
        root.finished.fetch_add(1, Ordering::Relaxed);
        root.ended
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ended);
    }

    fn stop(&self) -> bool {
        let Some(root) = self.root else { return false };
        if let Some(p) = root
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            p.update(root.finished.load(Ordering::Relaxed));
        }
        let mut since = root.stop_since.lock().unwrap_or_else(|e| e.into_inner());
        if since.is_none() {
            if let Some((why, grace)) = root.stop_reason() {
                let running = if grace.is_zero() {
                    "running ones are ended now".to_string()
                } else {
                    format!("running ones get {:.1} s to end", grace.as_secs_f64())
                };
                spmdkit::say(&format!(
                    "spmdkit run: {why}: starting no more tasks; {running}"
                ));
                *since = Some((Instant::now(), why, grace));
            }
        }
        since.is_some()
    }

    fn cancel(&self) -> bool {
        let Some(root) = self.root else { return false };
        let since = root.stop_since.lock().unwrap_or_else(|e| e.into_inner());
        since
            .as_ref()
            .is_some_and(|(at, _, grace)| at.elapsed() >= *grace)
    }

    fn cancelled(&self) {
        self.dog.cancel();
    }
}

/// Runs the commands. Rank 0 returns the report; the others `None`.
///
/// # Collective
/// Every rank must call it with the parameters built from the same command line.
///
/// # Errors
/// Bad input found on rank 0 before anything runs (a journal that cannot be used, a changed task
/// list on a resume); a rank that cannot start its slots.
pub fn run<C: Comm + ?Sized>(comm: &C, params: &RunParams) -> Result<Option<RunReport>, Error> {
    let root = comm.rank() == 0;
    let plan = agree(
        comm,
        if root {
            // Reading a long journal takes a while: keep the heartbeat going meanwhile.
            spmdkit::comm::keep_alive(comm, || plan(params)).map(Some)
        } else {
            Ok(None)
        },
    )?;
    let pool = agree(comm, farm::pool(params.slots))?;
    catch_stop_signals();
    exec::become_subreaper();
    let base_env = spawn::BaseEnv::of_this_process();
    let reaper = exec::Reaper::start(comm.rank(), &base_env);
    let scratch = std::env::temp_dir().join(format!(
        "spmdkit-run-{}-{}",
        std::process::id(),
        task_seed(journal::unix_now().to_bits(), u64::from(std::process::id()))
    ));
    let made = std::fs::create_dir_all(&scratch)
        .map_err(|e| Error::failed(format!("cannot create '{}': {e}", scratch.display())));
    agree(comm, made)?;
    // One gather of what each rank is, one broadcast of what rank 0 decided.
    let me = (host_name(), params.slots, std::process::id(), reaper.pid());
    let ranks = collective::gather(comm, 0, &me);
    let processes: Vec<Process> = ranks
        .iter()
        .flatten()
        .enumerate()
        .map(|(rank, (host, _, pid, guardian_pid))| Process {
            rank,
            host: host.clone(),
            pid: *pid,
            guardian_pid: *guardian_pid,
        })
        .collect();
    let (hosts, slots): (Option<Vec<String>>, Option<Vec<usize>>) = ranks
        .map(|r| r.into_iter().map(|(h, s, ..)| (h, s)).unzip())
        .unzip();
    let shared = plan.as_ref().map(|p| (p.cwd.clone(), params.tasks.len()));
    let (cwd, ntasks): (String, usize) = collective::broadcast(comm, 0, shared.as_ref());
    let dog = exec::Watchdog::start(params.kill_grace);
    let capture = exec::Capture {
        scratch: scratch.clone(),
        keep_in: params.output_dir.clone(),
    };

    let started_at = Instant::now();
    let hosts = hosts.unwrap_or_default();
    let mut next: Vec<Item> = Vec::new();
    let root_state = plan.map(|p| {
        let state = Root {
            writer: Mutex::new(p.writer),
            failure: Mutex::new(None),
            hosts: &hosts,
            items: Mutex::new(Vec::new()),
            deadline: params.deadline,
            stop_file: params.stop_file.as_deref(),
            stop_checked: Mutex::new(None),
            grace: params.grace,
            stop_since: Mutex::new(None),
            finished: AtomicUsize::new(0),
            progress: Mutex::new(Some(farm::Progress::new(p.todo.len(), params.progress))),
            ended: Mutex::new(Vec::new()),
            too_long: Mutex::new(Vec::new()),
        };
        state.write(&Entry::Run(RunRecord {
            version: env!("CARGO_PKG_VERSION").to_string(),
            time: journal::unix_now(),
            cwd: p.cwd.clone(),
            seed: params.seed,
            source: params.source.clone(),
            resumed: params.resume,
            slots: slots.clone().unwrap_or_default(),
            processes: processes.clone(),
            commands: params
                .tasks
                .iter()
                .map(|t| (t.id, t.line, t.command.clone()))
                .collect(),
        }));
        next = p
            .todo
            .iter()
            .map(|(t, attempt)| Item {
                id: t.id,
                attempt: *attempt,
                command: t.command.clone(),
                cost: p.costs.get(&t.id).copied(),
            })
            .collect();
        (state, p.skipped, p.before, p.possibly_run_partly)
    });
    let control = RunControl {
        root: root_state.as_ref().map(|(s, ..)| s),
        dog: &dog,
    };
    let commands: HashMap<u64, String> = root_state
        .as_ref()
        .map(|_| {
            params
                .tasks
                .iter()
                .map(|t| (t.id, t.command.clone()))
                .collect()
        })
        .unwrap_or_default();
    // The first attempt of each task in this run: retries count from it.
    let first_attempt: HashMap<u64, u32> = next.iter().map(|i| (i.id, i.attempt)).collect();
    let mut not_started: Vec<u64> = Vec::new();
    let cwd_path = PathBuf::from(&cwd);
    loop {
        // Every rank learns whether there is another round.
        let more = collective::broadcast(comm, 0, root.then_some(&!next.is_empty()));
        if !more {
            break;
        }
        let items = std::mem::take(&mut next);
        if let Some((state, ..)) = &root_state {
            *state.items.lock().unwrap_or_else(|e| e.into_inner()) = items.clone();
        }
        let order: Vec<usize> = (0..items.len()).collect();
        let rank = comm.rank();
        let live = run_live(comm, &pool, &items, order, &control, |ctx, item: &Item| {
            let mut env = vec![
                ("SPMDKIT_TASK_ID", item.id.to_string()),
                ("SPMDKIT_ATTEMPT", item.attempt.to_string()),
                ("SPMDKIT_RANK", rank.to_string()),
                ("SPMDKIT_SLOT", ctx.thread.to_string()),
                ("SPMDKIT_NTASKS", ntasks.to_string()),
                (
                    "SPMDKIT_TASK_SEED",
                    task_seed(params.seed, item.id).to_string(),
                ),
            ];
            if let Some(c) = params.cpus_per_slot {
                env.push(("OMP_NUM_THREADS", c.to_string()));
            }
            let spec = exec::Spec {
                command: &item.command,
                task: item.id,
                attempt: item.attempt,
                cwd: &cwd_path,
                env,
                timeout: params.timeout,
                base_env: &base_env,
            };
            exec::run(&spec, &capture, &dog, &reaper, rank, ctx.thread)
        });
        let Some(live) = live else { continue };
        not_started.extend(live.not_started.iter().map(|&i| items[i].id));
        // Retries: the failures of the kinds asked for, while attempts are left, unless stopped.
        let stopped = control.root.is_some_and(|r| {
            r.stop_since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some()
        });
        for r in &live.records {
            let Ok(f) = &r.result else { continue };
            let first = first_attempt.get(&f.task).copied().unwrap_or(f.attempt);
            let retry = !stopped
                && f.kind != EndKind::Ok
                && params.retry_on.contains(&f.kind)
                && f.attempt < first + params.retries;
            if retry {
                next.push(Item {
                    id: f.task,
                    attempt: f.attempt + 1,
                    command: items[r.id].command.clone(),
                    cost: items[r.id].cost,
                });
            }
        }
        next.sort_by_key(|i| i.id);
    }
    dog.close();
    reaper.close();
    let orphans = exec::kill_orphans();
    let _ = std::fs::remove_dir_all(&scratch);
    if orphans > 0 {
        spmdkit::say(&format!(
            "spmdkit run: rank {}: ended {orphans} process(es) that tasks left running outside \
             their process group",
            comm.rank()
        ));
    }
    let Some((state, skipped, before, possibly_run_partly)) = root_state else {
        return Ok(None);
    };
    let facts = Facts {
        ranks: comm.size(),
        slots: slots.unwrap_or_default(),
        hosts: &hosts,
        wall_s: started_at.elapsed().as_secs_f64(),
        skipped,
        before,
        possibly_run_partly,
        not_started,
        commands: &commands,
    };
    Ok(Some(report(state, params, facts)))
}

/// What rank 0 knows at the end besides the records.
struct Facts<'a> {
    ranks: usize,
    slots: Vec<usize>,
    hosts: &'a [String],
    wall_s: f64,
    skipped: usize,
    before: HashMap<u64, EndKind>,
    possibly_run_partly: Vec<u64>,
    not_started: Vec<u64>,
    commands: &'a HashMap<u64, String>,
}

/// Rank 0 closes the journal (a last sync) and builds the report.
fn report(state: Root<'_>, params: &RunParams, facts: Facts<'_>) -> RunReport {
    let Facts {
        ranks,
        slots,
        hosts,
        wall_s,
        skipped,
        before,
        possibly_run_partly,
        mut not_started,
        commands,
    } = facts;
    if let Some(p) = state
        .progress
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    {
        p.finish(state.finished.load(Ordering::Relaxed));
    }
    let sync = state
        .writer
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .sync();
    if let Err(e) = sync {
        state
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(e.to_string());
    }
    let records = state.ended.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut last: HashMap<u64, &Finished> = HashMap::new();
    for f in &records {
        let keep = last.get(&f.task).is_none_or(|g| g.attempt < f.attempt);
        if keep {
            last.insert(f.task, f);
        }
    }
    let mut interrupted: Vec<u64> = last
        .values()
        .filter(|f| f.kind == EndKind::Interrupted)
        .map(|f| f.task)
        .collect();
    interrupted.sort();
    let mut failed: Vec<FailedTask> = last
        .values()
        .filter(|f| f.kind != EndKind::Ok && f.kind != EndKind::Interrupted)
        .map(|f| FailedTask {
            task: f.task,
            attempt: f.attempt,
            kind: f.kind,
            exit_code: f.exit_code,
            signal: f.signal,
            command: commands.get(&f.task).cloned().unwrap_or_default(),
            stderr_tail: f.stderr_tail.clone(),
        })
        .collect();
    failed.sort_by_key(|f| f.task);
    not_started.sort();
    let ok = last.values().filter(|f| f.kind == EndKind::Ok).count();
    let mut per_rank: Vec<RunLoad> = slots
        .iter()
        .enumerate()
        .map(|(rank, &s)| RunLoad {
            rank,
            host: hosts.get(rank).cloned().unwrap_or_default(),
            slots: s,
            tasks: 0,
            busy_s: 0.0,
            idle_s: 0.0,
        })
        .collect();
    for f in &records {
        if let Some(load) = per_rank.get_mut(f.rank) {
            load.tasks += 1;
            load.busy_s += f.wall_s;
        }
    }
    for load in &mut per_rank {
        load.idle_s = (load.slots as f64 * wall_s - load.busy_s).max(0.0);
    }
    let too_long = state
        .too_long
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let stopped = state
        .stop_since
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|(_, why, _)| why.clone())
        .or_else(|| {
            (!too_long.is_empty()).then(|| {
                format!(
                    "{} task(s) not started: their duration in --costs-from does not fit before \
                     the deadline",
                    too_long.len()
                )
            })
        });
    let failure = state
        .failure
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(f) = &failure {
        spmdkit::say(&format!("spmdkit run: error: {f}"));
    }
    let journal_summary = JournalSummary::of(&params.tasks, &before, &last);
    RunReport {
        command: "run",
        ranks,
        slots,
        journal: params.journal.display().to_string(),
        tasks: params.tasks.len(),
        skipped,
        ran: records.len(),
        ok,
        failed,
        interrupted,
        not_started,
        possibly_run_partly,
        stopped: stopped.clone(),
        wall_s,
        tasks_per_s: if wall_s > 0.0 {
            records.len() as f64 / wall_s
        } else {
            0.0
        },
        per_rank,
        journal_summary,
        records,
        journal_error: failure,
        version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Where every task of the list stands in the journal after this start: the latest record of
/// each, whether it was written now or by an earlier start.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct JournalSummary {
    /// Tasks in the list.
    pub tasks: usize,
    /// Tasks whose latest record is `ok`.
    pub ok: usize,
    /// Tasks whose latest record is a failure (exit, signal, timeout), in id order.
    pub failed: Vec<u64>,
    /// Of `failed`, those that failed in an earlier start and were not run in this one (a
    /// resume without `--retry-failed`).
    pub failed_before: Vec<u64>,
    /// Tasks not done: never run, not started, or interrupted (a resume runs them).
    pub not_done: Vec<u64>,
}

impl JournalSummary {
    /// From the list, how the skipped tasks ended `before`, and the `last` attempt of each task
    /// that ran now.
    fn of(tasks: &[Task], before: &HashMap<u64, EndKind>, last: &HashMap<u64, &Finished>) -> Self {
        let mut summary = JournalSummary {
            tasks: tasks.len(),
            ..JournalSummary::default()
        };
        for task in tasks {
            let (kind, earlier) = match (last.get(&task.id), before.get(&task.id)) {
                (Some(f), _) => (Some(f.kind), false),
                (None, Some(&kind)) => (Some(kind), true),
                (None, None) => (None, false),
            };
            match kind {
                Some(EndKind::Ok) => summary.ok += 1,
                None | Some(EndKind::Interrupted) => summary.not_done.push(task.id),
                Some(_) => {
                    summary.failed.push(task.id);
                    if earlier {
                        summary.failed_before.push(task.id);
                    }
                }
            }
        }
        summary
    }
}

impl RunReport {
    /// The error to exit with, if any, from the journal as a whole (not only this start's
    /// attempts): failed when the journal failed; interrupted (resumable, 75) while some task is
    /// not done; failed (1) while the latest record of some task is a failure, also one from an
    /// earlier start that this one did not run again; success only when every task's latest
    /// record is `ok`.
    pub fn outcome(&self) -> Result<(), Error> {
        if let Some(e) = &self.journal_error {
            return Err(Error::failed(format!(
                "the journal failed ({e}); what ran after that is not on record"
            )));
        }
        let summary = &self.journal_summary;
        let failures = match summary.failed.len() {
            0 => String::new(),
            n => format!(
                "; {n} task(s) failed (tasks {})",
                crate::jobs::text::ids(&summary.failed)
            ),
        };
        if !summary.not_done.is_empty() {
            let why = match &self.stopped {
                Some(why) => format!("stopped ({why})"),
                None => "ended".to_string(),
            };
            return Err(Error::new(
                Kind::Interrupted,
                format!(
                    "{why} with {} task(s) not done{failures}; resume with --resume {}",
                    summary.not_done.len(),
                    self.journal
                ),
            ));
        }
        if summary.failed.is_empty() {
            return Ok(());
        }
        let rerun = if summary.failed_before.is_empty() {
            String::new()
        } else {
            format!(
                "; {} of them failed in an earlier start and were not run again (--resume \
                 --retry-failed reruns them)",
                summary.failed_before.len()
            )
        };
        Err(Error::failed(format!(
            "{} of {} task(s) failed (tasks {}){rerun}; see the report and the journal",
            summary.failed.len(),
            self.tasks,
            crate::jobs::text::ids(&summary.failed)
        )))
    }

    /// Rank 0, once the report is printed: appends the `reported` record, so that a later start
    /// does not name again what this report named as possibly run partly. Not called when the
    /// report could not be printed: the next start names those tasks again.
    ///
    /// # Errors
    /// When the journal cannot be appended to or synced.
    pub fn mark_printed(&self) -> Result<(), Error> {
        let code = self.outcome().err().map_or(0, |e| i32::from(e.exit_code()));
        let record = Entry::Reported(journal::Reported {
            time: journal::unix_now(),
            exit_code: code,
            possibly_run_partly: self.possibly_run_partly.clone(),
        });
        journal::Writer::open(Path::new(&self.journal), true)
            .and_then(|mut writer| {
                writer.append(&record)?;
                writer.sync()
            })
            .map_err(|e| Error::failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_seeds_depend_on_the_seed_and_the_id_only() {
        assert_eq!(task_seed(1, 5), task_seed(1, 5));
        assert_ne!(task_seed(1, 5), task_seed(1, 6));
        assert_ne!(task_seed(1, 5), task_seed(2, 5));
    }
}
