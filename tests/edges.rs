//! The edges of spmdkit's promises ("never hang, never lie, never destroy"): exit codes of a
//! resume that describe the whole journal, flags that only make sense with `--resume`, every
//! signal to every launcher as the README's table says, a crash that explains itself, a task
//! panic that names its task and place, and commands (and the guardian) that hold nothing of
//! their rank: no MPI socket, no launcher variable.

mod common;

use common::{events, farm, read_journal as journal, unended, Run, Scratch, Started, HANG_LIMIT};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

fn ids(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn a_resume_exits_as_the_whole_journal_stands() {
    for np in [0, 2, 3] {
        let dir = Scratch::new(&format!("resumecodes{np}"));
        // Task 1 fails once, then succeeds; task 2 always fails; tasks 3..6 are slow enough
        // for the stop file to leave some not started.
        std::fs::write(
            dir.path("t.txt"),
            "test -e once || { touch once; exit 3; }\nexit 4\nsleep 1\nsleep 1\nsleep 1\n\
             sleep 1\nsleep 1\nsleep 1\n",
        )
        .unwrap();
        let base = ["--tasks-file", "t.txt", "--slots", "1", "--json", "--quiet"];
        fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
            [base, extra].concat()
        }
        // First start, stopped by the stop file once the failures are on record: 75 (tasks
        // not done), the failures named in the journal line.
        std::fs::write(dir.path("stop"), "").unwrap();
        let first = farm(
            np,
            &dir.0,
            &with(&base, &["--journal", "j", "--stop-file", "stop"]),
        );
        first.assert_says_once(2, "--stop-file 'stop' exists already");
        std::fs::remove_file(dir.path("stop")).unwrap();
        let started = {
            let mut cmd = if np == 0 {
                let mut c = Command::new(common::binary());
                c.arg("run");
                c
            } else {
                common::mpirun_command(common::binary(), np, &["run"], &[])
            };
            cmd.args(with(&base, &["--journal", "j", "--stop-file", "stop"]))
                .current_dir(&dir.0);
            let session = common::SessionDir::new();
            session.apply(&mut cmd);
            std::mem::forget(session);
            Started::new(cmd)
        };
        common::wait_until(HANG_LIMIT, "both failures on record", || {
            std::fs::read_to_string(dir.path("j"))
                .is_ok_and(|t| t.matches("\"kind\":\"exit\"").count() == 2)
        });
        std::fs::write(dir.path("stop"), "").unwrap();
        let run = started.finish(HANG_LIMIT);
        run.assert_code(75);
        let report = run.json();
        let whole = &report["journal_summary"];
        assert_eq!(ids(&whole["failed"]), vec![1, 2], "{report}");
        assert!(!ids(&whole["not_done"]).is_empty(), "{report}");
        assert!(
            run.stderr
                .contains("task(s) not done; 2 task(s) failed (tasks 1, 2)"),
            "{}",
            run.stderr
        );
        std::fs::remove_file(dir.path("stop")).unwrap();

        // A resume that only skips the failures: the rest runs, the failures stand: 1, and
        // the report says they failed before and were not run again.
        let resumed = farm(np, &dir.0, &with(&base, &["--resume", "j"]));
        resumed.assert_code(1);
        let report = resumed.json();
        let whole = &report["journal_summary"];
        assert_eq!(ids(&whole["failed"]), vec![1, 2], "{report}");
        assert_eq!(ids(&whole["failed_before"]), vec![1, 2], "{report}");
        assert_eq!(ids(&whole["not_done"]), Vec::<u64>::new(), "{report}");
        assert_eq!(whole["ok"], 6, "{report}");
        assert_eq!(report["failed"], serde_json::json!([]), "none failed now");
        assert!(
            resumed
                .stderr
                .contains("were not run again (--resume --retry-failed"),
            "{}",
            resumed.stderr
        );
        // The human report has the journal line too.
        let human = farm(np, &dir.0, &["--tasks-file", "t.txt", "--resume", "j"]);
        human.assert_code(1);
        assert!(
            human
                .stdout
                .contains("journal: 6 ok, 2 failed (tasks 1, 2), 0 not done"),
            "{}",
            human.stdout
        );
        assert!(
            human
                .stdout
                .contains("failed before this start and not run again: tasks 1, 2"),
            "{}",
            human.stdout
        );

        // Retried: task 1 now ends ok, task 2 fails again: still 1, now a failure of this start.
        let retried = farm(
            np,
            &dir.0,
            &with(&base, &["--resume", "j", "--retry-failed"]),
        );
        retried.assert_code(1);
        let report = retried.json();
        let whole = &report["journal_summary"];
        assert_eq!(ids(&whole["failed"]), vec![2], "{report}");
        assert_eq!(ids(&whole["failed_before"]), Vec::<u64>::new(), "{report}");
        assert_eq!(report["ran"], 2, "{report}");

        // Once task 2 succeeds too, the journal is all ok: 0.
        let fixed = std::fs::read_to_string(dir.path("t.txt"))
            .unwrap()
            .replace("exit 4", "true");
        std::fs::write(dir.path("t.txt"), fixed).unwrap();
        let changed = farm(
            np,
            &dir.0,
            &with(
                &base,
                &["--resume", "j", "--resume-changed", "--retry-failed"],
            ),
        );
        changed.assert_code(0);
        assert_eq!(changed.json()["journal_summary"]["ok"], 8);
        dir.done();
    }
}

#[test]
fn possibly_partial_tasks_are_named_by_the_start_that_finds_them_only() {
    let resume = [
        "--tasks-file",
        "t.txt",
        "--slots",
        "1",
        "--resume",
        "spmdkit-run.journal",
        "--json",
        "--quiet",
    ];
    // Tasks 2 and 3 hang the first time they run (until killed), and succeed after.
    let dir = Scratch::new("resumepartial2");
    std::fs::write(
        dir.path("t.txt"),
        "true\ntest -e ran2 || { touch ran2; sleep 30; }\n\
         test -e ran3 || { touch ran3; sleep 30; }\n",
    )
    .unwrap();
    // Runs a start and kills it with SIGKILL (before its report) once `marker` exists.
    let killed = |args: &[&str], marker: &str| {
        let mut cmd = Command::new(common::binary());
        cmd.arg("run").args(args).current_dir(&dir.0);
        let started = Started::new(cmd);
        common::wait_until(HANG_LIMIT, marker, || dir.path(marker).exists());
        common::kill_tree(started.child.id());
        started.finish(HANG_LIMIT);
    };
    let journal_now = || journal(&dir.path("spmdkit-run.journal"));
    // The first start is killed while task 2 runs: its start is on record, its end is not.
    killed(
        &["--tasks-file", "t.txt", "--slots", "1", "--quiet"],
        "ran2",
    );
    assert_eq!(unended(&journal_now()), BTreeSet::from([2]));
    // The next start finds it and runs it again (ok now), but is killed while task 3 runs,
    // before its report: it told no one about task 2.
    killed(&resume, "ran3");
    assert_eq!(unended(&journal_now()), BTreeSet::from([2, 3]));
    assert!(events(&journal_now(), "reported").is_empty());
    // The start that prints its report names both; its `reported` record says so.
    let third = farm(0, &dir.0, &resume);
    third.assert_code(0);
    assert_eq!(ids(&third.json()["possibly_run_partly"]), vec![2, 3]);
    let records = journal_now();
    let reported = events(&records, "reported");
    assert_eq!(reported.len(), 1);
    assert_eq!(ids(&reported[0]["possibly_run_partly"]), vec![2, 3]);
    assert_eq!(reported[0]["exit_code"], 0);
    // The next start names none of them again.
    let fourth = farm(0, &dir.0, &resume);
    fourth.assert_code(0);
    assert_eq!(
        ids(&fourth.json()["possibly_run_partly"]),
        Vec::<u64>::new()
    );
    dir.done();
}

#[test]
fn flags_of_a_resume_are_refused_without_one() {
    let dir = Scratch::new("resumeflags");
    std::fs::write(dir.path("t.txt"), "true\n").unwrap();
    for flag in ["--retry-failed", "--resume-changed"] {
        for journal in [Some("given.journal"), None] {
            for np in [0, 2] {
                let mut args = vec!["--tasks-file", "t.txt", flag];
                if let Some(j) = journal {
                    args.extend(["--journal", j]);
                }
                let run = farm(np, &dir.0, &args);
                // With --journal spmdkit says so; with neither, clap's own check names --resume.
                match journal {
                    Some(_) => run.assert_says_once(2, &format!("{flag} without --resume")),
                    None => run.assert_says_once(
                        2,
                        "required arguments were not provided:\n  --resume <JOURNAL>",
                    ),
                };
                assert!(
                    !dir.path("given.journal").exists()
                        && !dir.path("spmdkit-run.journal").exists(),
                    "nothing ran, no journal was written"
                );
            }
        }
    }
    dir.done();
}

/// A farm of `2 × np` `sleep 30` commands on `np` ranks × 1 slot, `program` started by
/// `launcher` (none: alone, one rank), signalled with `signal` (to the launcher, or to the ranks
/// when `to_ranks`) once every slot runs one. Returns the exit code of what was started (None:
/// killed by a signal), the journal and the output.
fn signalled_farm(
    launcher: &[&str],
    program: &str,
    np: usize,
    signal: i32,
    to_ranks: bool,
    name: &str,
) -> (Option<i32>, Vec<Value>, Run) {
    let dir = Scratch::new(name);
    common::tasks_file(&dir.0, "t.txt", np * 2, "sleep 30");
    let mut cmd = match launcher.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.args([
        "run",
        "--tasks-file",
        "t.txt",
        "--slots",
        "1",
        "--grace",
        "1",
        "--kill-grace",
        "1",
        "--json",
        "--quiet",
    ])
    .current_dir(&dir.0);
    let session = common::SessionDir::new();
    session.apply(&mut cmd);
    let started = Started::new(cmd);
    let launcher_pid = started.child.id();
    common::wait_until(HANG_LIMIT, "a command on every slot", || {
        std::fs::read_to_string(dir.path("spmdkit-run.journal"))
            .is_ok_and(|t| t.matches("\"event\":\"started\"").count() == np)
    });
    let targets: Vec<u32> = if to_ranks {
        common::descendants(launcher_pid)
            .into_iter()
            .filter(|p| {
                std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| {
                    c.starts_with(b"/") && String::from_utf8_lossy(&c).contains("--tasks-file")
                }) && std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "spmdkit")
            })
            .collect()
    } else {
        vec![launcher_pid]
    };
    assert!(!targets.is_empty());
    for p in targets {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(p as i32, signal) };
    }
    let run = started.finish(Duration::from_secs(50));
    let records = journal(&dir.path("spmdkit-run.journal"));
    dir.done();
    (run.code, records, run)
}

/// Every command that started has its end on record, `interrupted`.
fn assert_every_end_on_record(records: &[Value], what: &str) {
    assert_eq!(unended(records), BTreeSet::new(), "{what}: {records:?}");
    let ends: Vec<&Value> = records
        .iter()
        .filter(|e| e["event"] == "finished")
        .collect();
    assert!(!ends.is_empty(), "{what}");
    assert!(
        ends.iter().all(|e| e["kind"] == "interrupted"),
        "{what}: {ends:?}"
    );
}

#[test]
fn signals_to_open_mpi_and_to_the_ranks_as_the_readme_says() {
    let mpirun = ["mpirun", "--oversubscribe", "--bind-to", "none", "-np", "2"];
    let bin = common::binary();
    // To mpirun: SIGUSR1 is forwarded (drain, 75); SIGTERM, SIGINT and SIGHUP make Open MPI
    // kill the ranks ~2 s later and exit 1: the farm ended its commands first.
    for (signal, code) in [
        (libc::SIGUSR1, 75),
        (libc::SIGTERM, 1),
        (libc::SIGINT, 1),
        (libc::SIGHUP, 1),
    ] {
        let (got, records, run) =
            signalled_farm(&mpirun, bin, 2, signal, false, &format!("sigompi{signal}"));
        let what = format!("signal {signal} to mpirun");
        assert_eq!(got, Some(code), "{what}: {}", run.stderr);
        assert_every_end_on_record(&records, &what);
        assert!(
            run.stderr
                .contains("with 4 task(s) not done; resume with --resume"),
            "{what}: {}",
            run.stderr
        );
    }
    // To the ranks themselves (and to a farm without a launcher): 75.
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGUSR1] {
        let (got, records, run) =
            signalled_farm(&mpirun, bin, 2, signal, true, &format!("sigranks{signal}"));
        let what = format!("signal {signal} to the ranks");
        assert_eq!(got, Some(75), "{what}: {}", run.stderr);
        assert_every_end_on_record(&records, &what);
        let (got, records, run) =
            signalled_farm(&[], bin, 1, signal, false, &format!("sigalone{signal}"));
        let what = format!("signal {signal} without a launcher");
        assert_eq!(got, Some(75), "{what}: {}", run.stderr);
        assert_every_end_on_record(&records, &what);
    }
}

#[test]
fn signals_to_mpich_s_mpiexec_as_the_readme_says() {
    if std::env::var("SPMDKIT_MPICH_BIN").is_err() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must build the MPICH binary (SPMDKIT_MPICH_BIN)"
        );
        eprintln!("SKIPPED: SPMDKIT_MPICH_BIN is not set (scripts/test.sh sets it)");
        return;
    }
    let hydra = ["mpiexec.mpich", "-n", "2"];
    let bin = std::env::var("SPMDKIT_MPICH_BIN").expect("checked above");
    // Forwarded: the ranks exit 75, and Hydra 75 or 0 (its own race, measured: both happen).
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
        let (got, records, run) =
            signalled_farm(&hydra, &bin, 2, signal, false, &format!("sighydra{signal}"));
        let what = format!("signal {signal} to Hydra");
        assert!(
            matches!(got, Some(75 | 0)),
            "{what}: {got:?} {}",
            run.stderr
        );
        assert_every_end_on_record(&records, &what);
        assert!(
            run.stderr
                .contains("task(s) not done; resume with --resume"),
            "{what}: {}",
            run.stderr
        );
    }
    // SIGHUP: Hydra dies of it and the ranks are killed: the starts have no end, and a resume
    // would name them.
    let (got, records, _) = signalled_farm(&hydra, &bin, 2, libc::SIGHUP, false, "sighydrahup");
    assert_eq!(got, None, "Hydra died of SIGHUP");
    assert_eq!(unended(&records).len(), 2, "{records:?}");
}

#[test]
fn a_crash_says_who_died_and_where() {
    let dir = Scratch::new("crash");
    for np in [0, 2, 3] {
        let args = [
            "sleep",
            "--durations",
            "0.2,0.2,0.2",
            "--inject-fault",
            "crash-rank=1",
        ];
        let run = if np == 0 {
            common::alone(&["sleep", "--inject-fault", "crash-rank=0"], &[])
        } else {
            common::mpirun(np, &args, &[])
        };
        let rank = if np == 0 { 0 } else { 1 };
        let err = &run.stderr;
        assert_ne!(run.code, Some(0), "{err}");
        if np == 0 {
            assert_eq!(run.code, None, "died of the signal itself");
        }
        assert!(
            err.contains(&format!("spmdkit: rank {rank} (host "))
                && err.contains("fatal SIGSEGV at address 0x0, pc 0x0"),
            "{err}"
        );
        assert!(
            err.contains("the program counter points at no code"),
            "{err}"
        );
        assert!(err.contains("frame 0: 0x"), "{err}");
        // The caller of the null pointer, named by addr2line (binutils comes with the build
        // tools), is the first frame.
        let named = err
            .lines()
            .skip_while(|l| !l.contains("named by addr2line"))
            .nth(1)
            .unwrap_or_default();
        assert!(
            named.starts_with("spmdkit_apps::jobs::fault::call_null"),
            "{err}"
        );
        assert!(err.contains("Faults::arm"), "{err}");
    }
    dir.done();
}

#[test]
fn a_task_panic_names_the_task_its_rank_thread_and_place() {
    for np in [0, 2] {
        let args = [
            "sleep",
            "--durations",
            "0.01,0.01,0.01,0.01",
            "--inject-fault",
            "panic-task=3",
            "--json",
        ];
        let run = if np == 0 {
            common::alone(&args, &[])
        } else {
            common::mpirun(np, &args, &[])
        };
        run.assert_code(1);
        let report = run.json();
        let rank = report["tasks"][3]["rank"].as_u64().unwrap();
        let thread = report["tasks"][3]["thread"].as_u64().unwrap();
        let line = format!(
            "spmdkit: task 3 (rank {rank}, thread {thread}) panicked at bin/src/jobs/sleep.rs:"
        );
        assert!(run.stderr.contains(&line), "{}", run.stderr);
        assert!(
            run.stderr
                .contains(": injected fault: task 3 panics (recorded as failed"),
            "{}",
            run.stderr
        );
        let error = report["tasks"][3]["error"].as_str().unwrap();
        assert!(
            error.starts_with("panicked at bin/src/jobs/sleep.rs:")
                && error.ends_with(": injected fault: task 3 panics"),
            "{error}"
        );
    }
}

#[test]
fn commands_and_the_guardian_hold_nothing_of_their_rank() {
    let dir = Scratch::new("childclean");
    // Each command lists its descriptors (ls opens one more to list them), the launcher's
    // variables it sees, and runs spmdkit itself: an MPI program that must be a rank of its own,
    // not of the farm's job.
    let bin = common::binary();
    let command = format!(
        "ls /proc/self/fd | wc -l; env | grep -cE '^(PMIX_|PMI_|OMPI_COMM_WORLD|OMPI_MCA_orte_|OMPI_MCA_ess|SLURM_PROCID)' || true; \
         {bin} info --json | grep -o '\"ranks\":[0-9]*'; sleep 1"
    );
    common::tasks_file(&dir.0, "t.txt", 4, &command);
    for np in [2, 3] {
        let journal_name = format!("j{np}");
        let mut cmd = common::mpirun_command(
            bin,
            np,
            &[
                "run",
                "--tasks-file",
                "t.txt",
                "--journal",
                &journal_name,
                "--json",
                "--quiet",
            ],
            &[],
        );
        cmd.current_dir(&dir.0);
        let session = common::SessionDir::new();
        session.apply(&mut cmd);
        let started = Started::new(cmd);
        // While the commands run: each guardian holds its stdin, /dev/null and stderr only.
        common::wait_until(HANG_LIMIT, "commands running", || {
            std::fs::read_to_string(dir.path(&journal_name))
                .is_ok_and(|t| t.contains("\"event\":\"started\""))
        });
        let records = journal(&dir.path(&journal_name));
        let processes = records[0]["processes"].as_array().unwrap().clone();
        assert_eq!(processes.len(), np, "{processes:?}");
        for p in &processes {
            let rank_pid = p["pid"].as_u64().unwrap();
            let guardian = p["guardian_pid"].as_u64().expect("a guardian runs");
            let ppid = std::fs::read_to_string(format!("/proc/{guardian}/stat"))
                .map(|s| {
                    s.rsplit_once(')')
                        .unwrap()
                        .1
                        .split_whitespace()
                        .nth(1)
                        .unwrap()
                        .to_string()
                })
                .unwrap_or_default();
            assert_eq!(
                ppid,
                rank_pid.to_string(),
                "the guardian is its rank's child"
            );
            let fds: Vec<String> = std::fs::read_dir(format!("/proc/{guardian}/fd"))
                .map(|d| {
                    d.filter_map(Result::ok)
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            let mut fds: Vec<u32> = fds.iter().map(|f| f.parse().unwrap()).collect();
            fds.sort();
            assert_eq!(
                fds,
                vec![0, 1, 2],
                "guardian {guardian} of rank pid {rank_pid}"
            );
            let env = std::fs::read(format!("/proc/{guardian}/environ")).unwrap_or_default();
            let env = String::from_utf8_lossy(&env);
            assert!(
                !env.split('\0')
                    .any(|v| v.starts_with("PMIX_") || v.starts_with("OMPI_COMM_WORLD")),
                "the guardian has the launcher's variables"
            );
        }
        let run = started.finish(HANG_LIMIT);
        run.assert_code(0);
        for r in run.json()["records"].as_array().unwrap() {
            let out: Vec<&str> = r["stdout_tail"].as_str().unwrap().lines().collect();
            assert_eq!(out[0].trim(), "4", "0, 1, 2 and ls's own: {r}");
            assert_eq!(out[1].trim(), "0", "no launcher variable: {r}");
            assert_eq!(out[2], "\"ranks\":1", "a command's spmdkit is alone: {r}");
            assert!(r["pid"].as_u64().is_some(), "{r}");
        }
    }
    dir.done();
}

#[test]
fn a_signal_ignored_at_start_stays_ignored() {
    // As under `nohup`: SIGHUP ignored when the farm starts is not a stop; SIGUSR1 still is.
    let dir = Scratch::new("sighupignored");
    common::tasks_file(&dir.0, "t.txt", 2, "sleep 30");
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        &format!(
            "trap '' HUP; exec {} run --tasks-file t.txt --slots 1 --grace 0 --kill-grace 1 --json --quiet",
            common::binary()
        ),
    ])
    .current_dir(&dir.0);
    let started = Started::new(cmd);
    common::wait_until(HANG_LIMIT, "a command running", || {
        std::fs::read_to_string(dir.path("spmdkit-run.journal"))
            .is_ok_and(|t| t.contains("\"event\":\"started\""))
    });
    let pid = started.child.id() as i32;
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        common::alive(pid as u32),
        "the farm stopped on a SIGHUP it was started to ignore"
    );
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
    let run = started.finish(Duration::from_secs(30));
    run.assert_code(75);
    assert!(run.stderr.contains("SIGUSR1 received"), "{}", run.stderr);
    dir.done();
}
