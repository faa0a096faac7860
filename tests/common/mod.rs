//! Helpers for integration tests: launch the real `spmdkit` binary, alone or under `mpirun`,
//! always under a timeout, and read what it left behind.

#![allow(dead_code)]

use serde_json::Value;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A generous bound: far above any run in these tests, only there to turn a hang into a failure.
pub const HANG_LIMIT: Duration = Duration::from_secs(60);

/// What a finished process left.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts the exit code and that `needle` is in stderr exactly once (said by rank 0 only).
    pub fn assert_says_once(&self, code: i32, needle: &str) -> &Self {
        self.assert_code(code);
        assert_eq!(
            self.stderr.matches(needle).count(),
            1,
            "expected '{needle}' exactly once in:\n{}",
            self.stderr
        );
        self
    }
}

pub fn binary() -> &'static str {
    match option_env!("CARGO_BIN_EXE_spmdkit") {
        Some(path) => path,
        None => panic!("the tests that run spmdkit belong to its package (spmdkit-apps, in bin/)"),
    }
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Whether a test that needs root (namespaces, daemons) can run: as root, yes; otherwise it
/// fails under CI (a test that cannot run there must not pass silently) and is skipped by hand,
/// saying `why` it needs root.
pub fn runs_as_root(test: &str, why: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var("CI").is_err(),
        "CI must run the {test} as root"
    );
    eprintln!("SKIPPED: the {test} needs root {why}");
    false
}

/// The records of a `spmdkit run` journal, in order (blank lines ignored).
pub fn read_journal(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A file of the repository (the system tests belong to the packages at the root, in `bin/` and
/// in `benches/`).
pub fn repo(path: &str) -> PathBuf {
    let package = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = if package.join("src/lib.rs").exists() && package.join("bin").is_dir() {
        package
    } else {
        package.parent().expect("a package below the root")
    };
    root.join(path)
}

/// The journal's records of one kind (`run`, `started`, `finished`, `reported`).
pub fn events<'a>(records: &'a [Value], event: &str) -> Vec<&'a Value> {
    records.iter().filter(|r| r["event"] == event).collect()
}

/// Waits until `done` holds, looking every 50 ms; fails the test, naming `what`, after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes a tasks file `name` in `dir`: `command` on each of `n` lines.
pub fn tasks_file(dir: &Path, name: &str, n: usize, command: &str) {
    let text: String = (0..n).map(|_| format!("{command}\n")).collect();
    std::fs::write(dir.join(name), text).unwrap();
}

/// A session directory base of its own for one `mpirun`, removed when dropped. Open MPI's
/// launchers share `/tmp/ompi.<host>.<uid>` otherwise, and two of them starting while a third
/// removes it can fail with "mkdir ... File exists".
pub struct SessionDir(PathBuf);

impl SessionDir {
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("spmdkit-ompi-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a session dir base");
        SessionDir(dir)
    }

    /// Sets up `cmd` (an `mpirun`) to use this base and the usual variables for the tests.
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("OMPI_MCA_orte_tmpdir_base", &self.0);
        // Oversubscribed ranks busy-poll unless told to yield; the tests run on 2 cores.
        cmd.env("OMPI_MCA_mpi_yield_when_idle", "1");
        if is_root() {
            cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
                .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        }
    }
}

impl Drop for SessionDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs an `mpirun` command line (bounded), with a session directory of its own.
pub fn run_mpi(mut cmd: Command) -> Run {
    let session = SessionDir::new();
    session.apply(&mut cmd);
    run_bounded(cmd, HANG_LIMIT)
}

/// `mpirun -np <np> spmdkit <args>`, oversubscribed where needed, with `env` passed to every rank.
pub fn mpirun(np: usize, args: &[&str], env: &[(&str, &str)]) -> Run {
    mpirun_of(binary(), np, args, env)
}

/// `mpirun -np <np> <program> <args>`, unbound and oversubscribed where needed, with `env` passed
/// to every rank.
pub fn mpirun_of(program: &str, np: usize, args: &[&str], env: &[(&str, &str)]) -> Run {
    run_mpi(mpirun_command(program, np, args, env))
}

/// The `mpirun` command line of [`mpirun_of`], to adjust (working directory, pipes) before
/// running it.
pub fn mpirun_command(program: &str, np: usize, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "--oversubscribe",
        "--bind-to",
        "none",
        "-np",
        &np.to_string(),
    ]);
    for (k, v) in env {
        cmd.env(k, v);
        cmd.args(["-x", k]);
    }
    cmd.arg(program).args(args);
    cmd
}

/// `spmdkit <args>` started by hand, with no launcher.
pub fn alone(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(binary());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_bounded(cmd, HANG_LIMIT)
}

/// Runs `cmd` in its own process group; kills the whole group and fails the test if it
/// outlives `limit`.
pub fn run_bounded(cmd: Command, limit: Duration) -> Run {
    Started::new(cmd).finish(limit)
}

/// A command started in its own process group, its output being collected.
pub struct Started {
    pub child: std::process::Child,
    started: Instant,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
    what: String,
}

impl Started {
    /// Starts `cmd` without launcher variables of an enclosing job, stdin from /dev/null.
    pub fn new(mut cmd: Command) -> Self {
        // Launcher variables of an enclosing job would change what the binary does.
        for var in [
            "OMPI_COMM_WORLD_SIZE",
            "PMI_SIZE",
            "PMI_RANK",
            "PMIX_RANK",
            "SLURM_PROCID",
            "SLURM_STEP_ID",
            "RAYON_NUM_THREADS",
            "SLURM_CPUS_PER_TASK",
        ] {
            if !cmd.get_envs().any(|(k, _)| k == var) {
                cmd.env_remove(var);
            }
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // The signals the tests send start at their default action, whatever the runner left
        // (`nohup` ignores SIGHUP, a background job SIGINT, and ignored signals are inherited).
        // SAFETY: only async-signal-safe calls (signal) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                for s in [libc::SIGHUP, libc::SIGINT, libc::SIGTERM, libc::SIGUSR1] {
                    libc::signal(s, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("start the command");
        let mut out_pipe = child.stdout.take().expect("stdout piped");
        let mut err_pipe = child.stderr.take().expect("stderr piped");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out_pipe.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err_pipe.read_to_string(&mut s);
            s
        });
        Started {
            child,
            started,
            out,
            err,
            what: format!("{cmd:?}"),
        }
    }

    /// Waits for the end; kills the whole process tree and fails the test if the command
    /// outlives `limit` from its start.
    pub fn finish(mut self, limit: Duration) -> Run {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the command") {
                break Some(status);
            }
            if self.started.elapsed() > limit {
                kill_tree(self.child.id());
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let run = Run {
            code: status.and_then(|s| s.code()),
            stdout: self.out.join().unwrap_or_default(),
            stderr: self.err.join().unwrap_or_default(),
            elapsed: self.started.elapsed(),
        };
        assert!(
            status.is_some(),
            "{} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
            self.what,
            run.stdout,
            run.stderr
        );
        run
    }
}

/// Every descendant of `pid` (the launcher's ranks, which Open MPI puts in process groups of
/// their own, and their commands), by parent links in /proc, `pid` first.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u32>().ok())
        {
            parent_of.insert(p, ppid);
        }
    }
    let mut tree = vec![pid];
    let mut grew = true;
    while grew {
        grew = false;
        for (&p, &pp) in &parent_of {
            if tree.contains(&pp) && !tree.contains(&p) {
                tree.push(p);
                grew = true;
            }
        }
    }
    tree
}

/// kill -9 of a whole job, as a batch system does: the launcher, its ranks and their commands,
/// all stopped first so that none of them acts on the others' deaths.
pub fn kill_tree(pid: u32) {
    let tree = descendants(pid);
    for signal in [libc::SIGSTOP, libc::SIGKILL] {
        for &p in &tree {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(p as i32, signal) };
        }
    }
}

/// The pid of MPI rank `rank` among the descendants of the launcher `launcher`, from the rank
/// variable Open MPI gives each rank.
pub fn rank_pid(launcher: u32, rank: usize) -> Option<u32> {
    let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
    descendants(launcher).into_iter().skip(1).find(|p| {
        std::fs::read(format!("/proc/{p}/environ"))
            .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == wanted.as_bytes()))
    })
}

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

/// A fresh directory for one test, removed by the caller with [`Scratch::done`].
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir =
            std::env::temp_dir().join(format!("spmdkit-it-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("read scratch dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    pub fn done(self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads an HDF5 file with h5py (an independent reader) and returns its contents as JSON:
/// `{"attrs": {...}, "datasets": {"/path": [...]}}`.
pub fn read_h5(path: &Path) -> serde_json::Value {
    let script = repo("tests/h5_to_json.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(script).arg(path);
    let run = run_bounded(cmd, HANG_LIMIT);
    run.assert_code(0);
    serde_json::from_str(&run.stdout).expect("h5_to_json prints JSON")
}

pub const CLASSIC: [f64; 16] = [
    0.1, 0.2, 0.1, 0.5, 0.7, 0.9, 0.5, 0.4, 1.5, 1.3, 1.0, 0.3, 0.7, 0.6, 0.3, 0.8,
];

pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// Checks a sleep report against the durations it was given and the job's shape.
pub fn check_report(report: &Value, durations: &[f64], ranks: usize, threads: usize) {
    assert_eq!(report["command"], "sleep");
    assert_eq!(report["ranks"], ranks);
    assert_eq!(report["threads_per_rank"], threads);
    assert_eq!(report["workers"], ranks * threads);
    let tasks = report["tasks"].as_array().expect("tasks[]");
    assert_eq!(tasks.len(), durations.len());
    for (i, t) in tasks.iter().enumerate() {
        assert_eq!(t["id"], i, "records are ordered by id");
        assert_eq!(f(&t["duration_s"]), durations[i]);
        assert!(t["rank"].as_u64().unwrap() < ranks as u64);
        assert!(t["thread"].as_u64().unwrap() < threads as u64);
        assert_eq!(t["result"], format!("Sleep time {:?}", durations[i]));
        let (start, end) = (f(&t["start_s"]), f(&t["end_s"]));
        assert!(
            start >= 0.0 && end >= start + durations[i],
            "task {i}: {start}..{end}"
        );
    }
    let total: f64 = durations.iter().sum();
    let longest = durations.iter().copied().fold(0.0, f64::max);
    let ideal = longest.max(total / (ranks * threads) as f64);
    assert!((f(&report["total_sleep_s"]) - total).abs() < 1e-9);
    assert!((f(&report["ideal_s"]) - ideal).abs() < 1e-12);
    let wall = f(&report["wall_s"]);
    assert!(wall >= ideal, "wall {wall} below the lower bound {ideal}");
    // Records are put on rank 0's clock to within half a ping's round trip (microseconds here).
    assert!(
        f(&report["makespan_s"]) <= wall + 1e-3,
        "makespan after wall: {report}"
    );
    assert!((f(&report["speedup"]) - total / wall).abs() < 1e-9);
    assert!((f(&report["efficiency"]) - ideal / wall).abs() < 1e-9);
    assert_eq!(report["failed"], serde_json::json!([]));
}

/// Runs a bad command at 3 ranks and checks the contract for bad input: exit 2 within a few
/// seconds, `needle` printed exactly once (by rank 0), nothing on stdout, and nothing written
/// (sleep and matrix runs are given an `--output` in a scratch directory, which must stay empty).
pub fn refused(args: &[&str], env: &[(&str, &str)], needle: &str) {
    let dir = Scratch::new("refused");
    let out = dir.path("out.h5").display().to_string();
    let mut full: Vec<&str> = args.to_vec();
    let writes = matches!(args.first(), Some(&"sleep") | Some(&"matrix"));
    if writes && !args.contains(&"--output") && !args.contains(&"--force") {
        full.extend(["--output", &out]);
    }
    let run = mpirun(3, &full, env);
    run.assert_says_once(2, needle);
    assert!(
        run.stdout.is_empty(),
        "{args:?}: nothing computed, but stdout has:\n{}",
        run.stdout
    );
    assert!(
        dir.entries().is_empty(),
        "{args:?}: nothing written, found {:?}",
        dir.entries()
    );
    assert!(
        run.elapsed < Duration::from_secs(20),
        "{args:?} took {:?}",
        run.elapsed
    );
    dir.done();
}

/// `spmdkit run <args>` in `dir`: alone when `np` is 0, else under `mpirun -np <np>`.
pub fn farm(np: usize, dir: &Path, args: &[&str]) -> Run {
    if np == 0 {
        let mut cmd = Command::new(binary());
        cmd.arg("run").args(args).current_dir(dir);
        return run_bounded(cmd, HANG_LIMIT);
    }
    let mut cmd = mpirun_command(binary(), np, &[&["run"], args].concat(), &[]);
    cmd.current_dir(dir);
    run_mpi(cmd)
}

/// The tasks of journal `records` (or a part of one) whose attempt started without a
/// `finished` record for it.
pub fn unended(records: &[Value]) -> std::collections::BTreeSet<u64> {
    let key = |e: &Value| (e["task"].as_u64().unwrap(), e["attempt"].as_u64().unwrap());
    let ended: std::collections::BTreeSet<_> = records
        .iter()
        .filter(|e| e["event"] == "finished")
        .map(key)
        .collect();
    records
        .iter()
        .filter(|e| e["event"] == "started" && !ended.contains(&key(e)))
        .map(|e| key(e).0)
        .collect()
}
