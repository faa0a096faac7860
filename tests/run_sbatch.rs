//! What `slurm/run.sbatch` decides after the farm drained on the time-limit warning, outside
//! Slurm: the script runs under bash with the job's variables set by hand, `mpirun` as its
//! launcher and a stand-in `scontrol` that records its arguments. Requeued when the run made
//! progress; not when the restarts are used up (MAX_RESTARTS) or when no task ended ok. The
//! real requeue on a real cluster is in `tests/slurm_nodes.rs`.

mod common;

use common::{tasks_file, wait_until, Run, Scratch, SessionDir, Started, HANG_LIMIT};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Runs the script in `dir` with `env` added, sends its shell SIGUSR1 (what `--signal=B:USR1`
/// does) once the journal shows `ready`, and returns how it ended and what `scontrol` got.
fn warned_run(dir: &Scratch, env: &[(&str, &str)], ready: &str) -> (Run, String) {
    let bin = dir.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let scontrol = bin.join("scontrol");
    std::fs::write(&scontrol, "#!/bin/sh\necho \"$@\" >> \"$SCONTROL_LOG\"\n").unwrap();
    std::fs::set_permissions(&scontrol, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = dir.path("scontrol.log");
    let _ = std::fs::remove_file(&log);
    let journal = dir.path("j.journal");
    let _ = std::fs::remove_file(&journal);
    let mut cmd = Command::new("bash");
    cmd.arg(common::repo("slurm/run.sbatch"))
        .current_dir(&dir.0)
        .env(
            "PATH",
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
        )
        .env("SCONTROL_LOG", &log)
        .env("SPMDKIT", common::binary())
        .env("TASKS", "t.txt")
        .env("JOURNAL", &journal)
        .env("LAUNCHER", "mpirun")
        .env("SLURM_NTASKS", "1")
        .env("SLURM_JOB_ID", "4242")
        .env("SPMDKIT_ARGS", "--quiet --slots 1 --grace 0.2");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let session = SessionDir::new();
    session.apply(&mut cmd);
    let started = Started::new(cmd);
    wait_until(HANG_LIMIT, &format!("'{ready}' in the journal"), || {
        std::fs::read_to_string(&journal).is_ok_and(|t| t.contains(ready))
    });
    // SAFETY: kill has no preconditions; the PID is the script's shell, a child of this test.
    unsafe { libc::kill(started.child.id() as i32, libc::SIGUSR1) };
    let run = started.finish(HANG_LIMIT);
    (run, std::fs::read_to_string(&log).unwrap_or_default())
}

/// One warned run: its tasks' command, extra variables, what the journal shows when the
/// warning comes, and what the script must do.
struct Case {
    command: &'static str,
    env: &'static [(&'static str, &'static str)],
    ready: &'static str,
    code: i32,
    scontrol: &'static str,
    says: &'static str,
}

#[test]
fn after_a_drain_the_script_requeues_only_when_it_should() {
    let dir = Scratch::new("runsbatch");
    let ok = "\"kind\":\"ok\"";
    let cases = [
        // A run that finished tasks: requeued (the stand-in's requeue succeeds: exit 0).
        Case {
            command: "sleep 0.3",
            env: &[],
            ready: ok,
            code: 0,
            scontrol: "requeue 4242\n",
            says: "interrupted by the time-limit warning; requeueing job 4242 (restart 1)",
        },
        // The restarts used up: not requeued, the farm's 75 is the job's.
        Case {
            command: "sleep 0.3",
            env: &[("MAX_RESTARTS", "2"), ("SLURM_RESTART_COUNT", "2")],
            ready: ok,
            code: 75,
            scontrol: "",
            says: "not requeued: restart 2 of 2 (MAX_RESTARTS)",
        },
        // Warned while the first commands still run: nothing ended ok, a restart would not
        // get further, so no requeue.
        Case {
            command: "sleep 30",
            env: &[],
            ready: "\"event\":\"started\"",
            code: 75,
            scontrol: "",
            says: "interrupted before any task ended ok; not requeued",
        },
    ];
    for case in cases {
        tasks_file(&dir.0, "t.txt", 20, case.command);
        let (run, scontrol) = warned_run(&dir, case.env, case.ready);
        run.assert_code(case.code);
        assert_eq!(scontrol, case.scontrol, "{}", case.says);
        assert!(run.stderr.contains(case.says), "{}", run.stderr);
        assert!(
            !dir.path("j.journal.stop").exists(),
            "the stop file is removed"
        );
    }
    dir.done();
}
