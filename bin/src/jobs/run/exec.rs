//! Running one command: `/bin/sh -c`, stdin from `/dev/null`, its own process group, output to
//! files, `wait4` for its exit status and resources, and a watchdog that ends it on a timeout or
//! when the run is cancelled (SIGTERM to the group, SIGKILL after a grace).
//!
//! The slot is free as soon as the command's own process exits, even if a background child of it
//! still holds its output open (output goes to files, not pipes); the rest of its process group is
//! killed then. Processes that left the group (`setsid`) are reparented to this rank, which is a
//! child subreaper, and killed at the end of the run.

use super::journal::{EndKind, Finished};
use super::spawn::{self, BaseEnv, Spawn};
use super::STOP_SIGNALS;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Bytes of stdout and stderr kept in the journal.
pub(super) const TAIL_BYTES: u64 = 4096;

/// Why the watchdog ended a process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Timeout,
    Interrupted,
}

#[derive(Debug)]
struct Watched {
    deadline: Option<Instant>,
    term_sent: Option<Instant>,
    reason: Option<Ended>,
}

#[derive(Default)]
struct WatchState {
    groups: HashMap<i32, Watched>,
    cancelled: bool,
    closing: bool,
}

/// Ends process groups whose time is up, or all of them when the run is cancelled.
pub(super) struct Watchdog {
    state: Mutex<WatchState>,
    wake: Condvar,
    grace: Duration,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Watchdog {
    /// A watchdog that waits `grace` between SIGTERM and SIGKILL, with its thread.
    pub(super) fn start(grace: Duration) -> Arc<Watchdog> {
        let dog = Arc::new(Watchdog {
            state: Mutex::new(WatchState::default()),
            wake: Condvar::new(),
            grace,
            thread: Mutex::new(None),
        });
        let d = Arc::clone(&dog);
        let thread = std::thread::Builder::new()
            .name("spmdkit-watchdog".into())
            .spawn(move || d.watch())
            .expect("start the watchdog thread");
        *dog.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread);
        dog
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WatchState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn watch(&self) {
        let mut state = self.lock();
        while !state.closing {
            let now = Instant::now();
            let grace = self.grace;
            let cancelled = state.cancelled;
            let mut next = now + Duration::from_millis(500);
            for (&pgid, w) in state.groups.iter_mut() {
                if w.term_sent.is_none() {
                    let due = if cancelled {
                        Some((now, Ended::Interrupted))
                    } else {
                        w.deadline.map(|d| (d, Ended::Timeout))
                    };
                    if let Some((at, why)) = due {
                        if at <= now {
                            signal_group(pgid, libc::SIGTERM);
                            w.term_sent = Some(now);
                            w.reason = Some(why);
                        } else {
                            next = next.min(at);
                        }
                    }
                }
                if let Some(sent) = w.term_sent {
                    if now >= sent + grace {
                        signal_group(pgid, libc::SIGKILL);
                    } else {
                        next = next.min(sent + grace);
                    }
                }
            }
            let wait = next.saturating_duration_since(Instant::now());
            state = self
                .wake
                .wait_timeout(state, wait.max(Duration::from_millis(1)))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn add(&self, pgid: i32, timeout: Option<Duration>) {
        let mut state = self.lock();
        state.groups.insert(
            pgid,
            Watched {
                deadline: timeout.map(|t| Instant::now() + t),
                term_sent: None,
                reason: None,
            },
        );
        drop(state);
        self.wake.notify_all();
    }

    fn remove(&self, pgid: i32) -> Option<Ended> {
        self.lock().groups.remove(&pgid).and_then(|w| w.reason)
    }

    /// Ends every running group (SIGTERM, SIGKILL after the grace) and every one started later.
    pub(super) fn cancel(&self) {
        self.lock().cancelled = true;
        self.wake.notify_all();
    }

    /// Whether [`Watchdog::cancel`] was called.
    pub(super) fn is_cancelled(&self) -> bool {
        self.lock().cancelled
    }

    /// Stops the watchdog's thread and waits for it to end.
    pub(super) fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_all();
        if let Some(t) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = t.join();
        }
    }
}

fn signal_group(pgid: i32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid names a process group.
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// Makes this process the reaper of its orphaned descendants (Linux), so that a task's children
/// that left its process group are still this rank's to end.
pub(super) fn become_subreaper() {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) only sets a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Kills and reaps every remaining child of this process: tasks' descendants that escaped their
/// group and were reparented here. Returns how many were still running (the others had ended and
/// only waited to be reaped).
pub(super) fn kill_orphans() -> usize {
    let me = std::process::id();
    let mut killed = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for entry in entries.filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let mut fields = after.split_whitespace();
        let state = fields.next();
        let ppid = fields.next().and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(me) {
            if state != Some("Z") {
                killed += 1;
            }
            // SAFETY: kill and waitpid have no memory-safety preconditions; pid is our child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, std::ptr::null_mut(), 0);
            }
        }
    }
    killed
}

/// The variable that starts a program as the guardian of a rank's commands instead of as itself
/// ([`World::run`](spmdkit::World::run) checks it first).
pub const REAPER_VAR: &str = "SPMDKIT_RUN_REAPER";

/// A guardian process that ends the process group of every command still running when this
/// rank dies, however it dies (kill -9, a node's processes killed, the launcher killed): the rank
/// tells it each group it starts and ends through a pipe; when the pipe closes without a
/// goodbye, it kills every group left. It runs in a process group of its own, so the signals a
/// launcher sends to the rank's group do not reach it, and, like the commands, it holds none of
/// the rank's descriptors and none of the launcher's variables (see [`spawn`]).
pub(super) struct Reaper {
    pipe: Mutex<Option<std::fs::File>>,
    pid: Mutex<Option<libc::pid_t>>,
}

impl Reaper {
    /// Starts the guardian (this same executable, with [`REAPER_VAR`] set to `rank`). Without
    /// one (it cannot start) the run goes on, with a warning.
    pub(super) fn start(rank: usize, env: &BaseEnv) -> Reaper {
        let started = std::env::current_exe().and_then(|exe| {
            let (read, write) = spawn::pipe()?;
            let null = spawn::dev_null()?;
            let pid = spawn::spawn(&Spawn {
                program: &exe,
                args: &[],
                env,
                set: &[(REAPER_VAR, rank.to_string())],
                cwd: None,
                stdio: [spawn::fd(&read), spawn::fd(&null), 2],
            })?;
            Ok((write, pid))
        });
        match started {
            Ok((pipe, pid)) => Reaper {
                pipe: Mutex::new(Some(pipe)),
                pid: Mutex::new(Some(pid)),
            },
            Err(e) => {
                spmdkit::say(&format!(
                    "spmdkit run: warning: no guardian for the commands of this rank ({e}); if \
                     the rank is killed, its running commands may outlive it"
                ));
                Reaper {
                    pipe: Mutex::new(None),
                    pid: Mutex::new(None),
                }
            }
        }
    }

    /// No guardian (unit tests, whose executable is not a program of [`World::run`](spmdkit::World::run)).
    #[cfg(test)]
    pub(super) fn disabled() -> Reaper {
        Reaper {
            pipe: Mutex::new(None),
            pid: Mutex::new(None),
        }
    }

    /// The guardian's pid, if it runs.
    pub(super) fn pid(&self) -> Option<u32> {
        self.pid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map(|p| p as u32)
    }

    fn tell(&self, line: String) {
        use std::io::Write;
        if let Some(pipe) = self.pipe.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = pipe.write_all(line.as_bytes());
        }
    }

    fn watch(&self, pgid: i32) {
        self.tell(format!("+{pgid}\n"));
    }

    fn forget(&self, pgid: i32) {
        self.tell(format!("-{pgid}\n"));
    }

    /// The run is over: the guardian leaves without killing anything.
    pub(super) fn close(&self) {
        self.tell("bye\n".into());
        self.pipe.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(pid) = self.pid.lock().unwrap_or_else(|e| e.into_inner()).take() {
            wait_for(pid);
        }
    }
}

/// Waits for child `pid` to end (retrying when a signal interrupts the wait).
fn wait_for(pid: libc::pid_t) {
    loop {
        // SAFETY: pid is a child of ours, waited for only here; a null status is allowed.
        let rc = unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
        if rc != -1 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return;
        }
    }
}

/// The guardian's life (`main` calls it when [`REAPER_VAR`] is set): read `+pgid` / `-pgid` lines
/// from stdin; at `bye`, leave; at the end of
/// stdin without `bye` (the rank died), SIGKILL every group still listed.
pub fn reaper_main() -> std::process::ExitCode {
    use std::io::BufRead;
    for signal in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGUSR1,
        libc::SIGHUP,
        libc::SIGPIPE,
    ] {
        // SAFETY: ignoring a signal has no memory-safety preconditions.
        unsafe {
            libc::signal(signal, libc::SIG_IGN);
        }
    }
    let mut groups = std::collections::HashSet::new();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        match line.split_at_checked(1) {
            Some(("+", g)) => {
                groups.insert(g.parse::<i32>().unwrap_or(0));
            }
            Some(("-", g)) => {
                groups.remove(&g.parse::<i32>().unwrap_or(0));
            }
            _ if line == "bye" => return std::process::ExitCode::SUCCESS,
            _ => {}
        }
    }
    for g in groups.into_iter().filter(|&g| g > 0) {
        signal_group(g, libc::SIGKILL);
    }
    std::process::ExitCode::SUCCESS
}

/// Where one task's output goes.
pub(super) struct Capture {
    /// A directory for this rank's temporary output files.
    pub(super) scratch: PathBuf,
    /// `--output-dir`: keep each task's full output there.
    pub(super) keep_in: Option<PathBuf>,
}

/// What a command is run with.
pub(super) struct Spec<'a> {
    /// The shell command.
    pub(super) command: &'a str,
    /// Its task id.
    pub(super) task: u64,
    /// Its attempt.
    pub(super) attempt: u32,
    /// Working directory.
    pub(super) cwd: &'a Path,
    /// Environment variables to set.
    pub(super) env: Vec<(&'static str, String)>,
    /// `--timeout`.
    pub(super) timeout: Option<Duration>,
    /// The environment the command starts from (the rank's, less the launcher's variables).
    pub(super) base_env: &'a BaseEnv,
}

fn tail(path: &Path) -> (u64, String) {
    let Ok(mut f) = std::fs::File::open(path) else {
        return (0, String::new());
    };
    let len = f.metadata().map_or(0, |m| m.len());
    let from = len.saturating_sub(TAIL_BYTES);
    let mut bytes = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_ok() {
        let _ = f.read_to_end(&mut bytes);
    }
    (len, String::from_utf8_lossy(&bytes).into_owned())
}

/// Whether a command that died of `signal` (or exited with `exit_code`) was ended together with
/// the run: Slurm, srun and a terminal signal every process of a job, the commands as well as
/// spmdkit, so a command killed by a stop signal (or exiting 128 + it, as shells do) after this
/// rank got one was interrupted, not failed. The rank's own signal may arrive a moment after the
/// command's: it is waited for up to [`SIGNAL_SKEW`].
fn stopped_with_the_run(signal: Option<i32>, exit_code: Option<i32>) -> bool {
    let by = signal.or(exit_code.filter(|c| *c > 128).map(|c| c - 128));
    if !by.is_some_and(|s| STOP_SIGNALS.contains(&s)) {
        return false;
    }
    let until = Instant::now() + SIGNAL_SKEW;
    loop {
        if super::signalled().is_some() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// How long a command's death by a stop signal waits for the rank's own copy of the signal.
const SIGNAL_SKEW: Duration = Duration::from_millis(200);

/// Runs one command to its end and describes how it ended (`rank` and `slot` filled in).
pub(super) fn run(
    spec: &Spec<'_>,
    capture: &Capture,
    dog: &Watchdog,
    reaper: &Reaper,
    rank: usize,
    slot: usize,
) -> Finished {
    let name = format!("{}.{}", spec.task, spec.attempt);
    let dir = match &capture.keep_in {
        Some(d) => d.join(format!("{:03}", spec.task % 1000)),
        None => capture.scratch.clone(),
    };
    let _ = std::fs::create_dir_all(&dir);
    let out_tmp = dir.join(format!(".{name}.out.partial-{}", std::process::id()));
    let err_tmp = dir.join(format!(".{name}.err.partial-{}", std::process::id()));
    let started = Instant::now();
    let failed = |why: String| Finished {
        task: spec.task,
        attempt: spec.attempt,
        rank,
        slot,
        kind: EndKind::Exit,
        exit_code: Some(127),
        signal: None,
        wall_s: started.elapsed().as_secs_f64(),
        user_s: 0.0,
        sys_s: 0.0,
        max_rss_kib: 0,
        stdout_bytes: 0,
        stderr_bytes: why.len() as u64,
        stdout_tail: String::new(),
        stderr_tail: why,
        pid: None,
    };
    let files =
        std::fs::File::create(&out_tmp).and_then(|o| Ok((o, std::fs::File::create(&err_tmp)?)));
    let (out, err) = match files {
        Ok(f) => f,
        Err(e) => {
            return failed(format!(
                "spmdkit: cannot create the output files in '{}': {e}",
                dir.display()
            ))
        }
    };
    if dog.is_cancelled() {
        let _ = std::fs::remove_file(&out_tmp);
        let _ = std::fs::remove_file(&err_tmp);
        let mut f = failed("spmdkit: the run was stopped before this task started".into());
        f.kind = EndKind::Interrupted;
        f.exit_code = None;
        return f;
    }
    let null = match spawn::dev_null() {
        Ok(n) => n,
        Err(e) => return failed(format!("spmdkit: cannot open /dev/null: {e}")),
    };
    let spawned = spawn::spawn(&Spawn {
        program: Path::new("/bin/sh"),
        args: &["-c", spec.command],
        env: spec.base_env,
        set: &spec.env,
        cwd: Some(spec.cwd),
        stdio: [spawn::fd(&null), spawn::fd(&out), spawn::fd(&err)],
    });
    drop((null, out, err));
    let pid = match spawned {
        Ok(pid) => pid,
        Err(e) => return failed(format!("spmdkit: cannot start /bin/sh: {e}")),
    };
    reaper.watch(pid);
    dog.add(pid, spec.timeout);
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: status and usage are valid for writes; pid is our child, waited for only here.
    let waited = loop {
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if rc == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break rc;
    };
    let wall_s = started.elapsed().as_secs_f64();
    // The command has ended; whatever it left running in its group goes with it.
    signal_group(pid, libc::SIGKILL);
    reaper.forget(pid);
    let ended_by_us = dog.remove(pid);
    let (stdout_bytes, stdout_tail) = tail(&out_tmp);
    let (stderr_bytes, stderr_tail) = tail(&err_tmp);
    match &capture.keep_in {
        Some(_) => {
            // Each file appears complete under its name, in one rename.
            let _ = std::fs::rename(&out_tmp, dir.join(format!("{name}.out")));
            let _ = std::fs::rename(&err_tmp, dir.join(format!("{name}.err")));
        }
        None => {
            let _ = std::fs::remove_file(&out_tmp);
            let _ = std::fs::remove_file(&err_tmp);
        }
    }
    let (exit_code, signal) = if waited == -1 {
        (None, None)
    } else if libc::WIFEXITED(status) {
        (Some(libc::WEXITSTATUS(status)), None)
    } else if libc::WIFSIGNALED(status) {
        (None, Some(libc::WTERMSIG(status)))
    } else {
        (None, None)
    };
    let kind = match (ended_by_us, exit_code) {
        (Some(Ended::Timeout), _) => EndKind::Timeout,
        (Some(Ended::Interrupted), _) => EndKind::Interrupted,
        _ if stopped_with_the_run(signal, exit_code) => EndKind::Interrupted,
        (None, Some(0)) => EndKind::Ok,
        (None, Some(_)) => EndKind::Exit,
        (None, None) => EndKind::Signal,
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Finished {
        task: spec.task,
        attempt: spec.attempt,
        rank,
        slot,
        kind,
        exit_code,
        signal,
        wall_s,
        user_s: secs(usage.ru_utime),
        sys_s: secs(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss.max(0) as u64,
        stdout_bytes,
        stderr_bytes,
        stdout_tail,
        stderr_tail,
        pid: Some(pid as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("spmdkit-exec-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn spec<'a>(command: &'a str, cwd: &'a Path, timeout: Option<Duration>) -> Spec<'a> {
        static BASE: std::sync::OnceLock<BaseEnv> = std::sync::OnceLock::new();
        Spec {
            command,
            task: 7,
            attempt: 1,
            cwd,
            env: vec![("SPMDKIT_TASK_ID", "7".into())],
            timeout,
            base_env: BASE.get_or_init(BaseEnv::of_this_process),
        }
    }

    #[test]
    fn exit_codes_signals_output_and_environment() {
        let d = scratch("basic");
        let dog = Watchdog::start(Duration::from_millis(200));
        let capture = Capture {
            scratch: d.clone(),
            keep_in: None,
        };
        let ok = run(
            &spec(
                "echo out $SPMDKIT_TASK_ID; echo err >&2; read x || echo no-stdin",
                &d,
                None,
            ),
            &capture,
            &dog,
            &Reaper::disabled(),
            0,
            0,
        );
        assert_eq!(ok.kind, EndKind::Ok);
        assert_eq!(ok.stdout_tail, "out 7\nno-stdin\n");
        assert_eq!((ok.stderr_tail.as_str(), ok.stderr_bytes), ("err\n", 4));
        let exit = run(
            &spec("exit 3", &d, None),
            &capture,
            &dog,
            &Reaper::disabled(),
            0,
            0,
        );
        assert_eq!((exit.kind, exit.exit_code), (EndKind::Exit, Some(3)));
        let sig = run(
            &spec("kill -9 $$", &d, None),
            &capture,
            &dog,
            &Reaper::disabled(),
            0,
            0,
        );
        assert_eq!(
            (sig.kind, sig.exit_code, sig.signal),
            (EndKind::Signal, None, Some(9))
        );
        let big = run(
            &spec("head -c 3000000 /dev/zero | tr '\\0' x", &d, None),
            &capture,
            &dog,
            &Reaper::disabled(),
            0,
            0,
        );
        assert_eq!(
            (big.stdout_bytes, big.stdout_tail.len()),
            (3_000_000, TAIL_BYTES as usize)
        );
        // Nothing is left in the scratch directory.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        dog.close();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_timeout_ends_the_group_and_a_background_child_does_not_hold_the_slot() {
        let d = scratch("timeout");
        let dog = Watchdog::start(Duration::from_millis(200));
        let capture = Capture {
            scratch: d.clone(),
            keep_in: None,
        };
        let t = Instant::now();
        let slow = run(
            &spec(
                "trap '' TERM; sleep 30",
                &d,
                Some(Duration::from_millis(200)),
            ),
            &capture,
            &dog,
            &Reaper::disabled(),
            0,
            0,
        );
        assert_eq!(slow.kind, EndKind::Timeout);
        assert!(t.elapsed() < Duration::from_secs(10));
        let t = Instant::now();
        let bg = run(
            &spec("sleep 30 & echo started", &d, None),
            &capture,
            &dog,
            &Reaper::disabled(),
            0,
            0,
        );
        assert_eq!(
            (bg.kind, bg.stdout_tail.as_str()),
            (EndKind::Ok, "started\n")
        );
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "the slot waited for the background child"
        );
        dog.close();
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn output_is_kept_under_the_output_directory_when_asked() {
        let d = scratch("keep");
        let dog = Watchdog::start(Duration::from_millis(200));
        let capture = Capture {
            scratch: d.clone(),
            keep_in: Some(d.join("out")),
        };
        run(
            &spec("echo kept", &d, None),
            &capture,
            &dog,
            &Reaper::disabled(),
            0,
            0,
        );
        assert_eq!(
            std::fs::read_to_string(d.join("out/007/7.1.out")).unwrap(),
            "kept\n"
        );
        assert_eq!(std::fs::read_dir(d.join("out/007")).unwrap().count(), 2);
        dog.close();
        std::fs::remove_dir_all(&d).unwrap();
    }
}
