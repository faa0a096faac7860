//! Hang detection under real `mpirun`: a rank stopped with SIGSTOP (as a deadlock outside MPI or
//! a stalled node would leave it) ends the job within `--hang-timeout` plus a few seconds, named
//! with its host and pid; a rank that is only busy with a long task is never taken for hung.

mod common;

use common::{alive, binary, mpirun, mpirun_command, rank_pid, SessionDir, Started};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// These tests time how fast a stopped rank is noticed: one job at a time, so that the
/// oversubscribed cores do not starve a healthy rank for seconds.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const TIMEOUT_S: u64 = 2;

/// Starts `spmdkit <args> --hang-timeout 2` on `np` ranks, stops rank `victim` once the job has
/// worked for a second, and checks that the job ends in time, non-zero, naming the victim.
fn stop_rank(np: usize, victim: usize, args: &[&str]) {
    let timeout = TIMEOUT_S.to_string();
    let args = [args, &["--hang-timeout", &timeout]].concat();
    let session = SessionDir::new();
    let mut cmd = mpirun_command(binary(), np, &args, &[]);
    session.apply(&mut cmd);
    let job = Started::new(cmd);
    let launcher = job.child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    let pids: Vec<u32> = loop {
        let found: Vec<Option<u32>> = (0..np).map(|r| rank_pid(launcher, r)).collect();
        if found.iter().all(Option::is_some) {
            break found.into_iter().flatten().collect();
        }
        assert!(
            Instant::now() < deadline,
            "the ranks of {args:?} did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let the job get into its work (past MPI_Init and the first collectives).
    std::thread::sleep(Duration::from_millis(1500));
    let stopped_at = Instant::now();
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pids[victim] as i32, libc::SIGSTOP) };
    let run = job.finish(Duration::from_secs(60));
    let took = stopped_at.elapsed();
    // No rank may outlive the job, the stopped one included.
    let gone = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|&p| alive(p)) && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<u32> = pids.iter().copied().filter(|&p| alive(p)).collect();
    for &p in &left {
        // SAFETY: as above; cleans up before failing.
        unsafe { libc::kill(p as i32, libc::SIGKILL) };
    }
    assert!(left.is_empty(), "ranks {left:?} outlived the job {args:?}");
    assert_ne!(
        run.code,
        Some(0),
        "{args:?}: a hung job must not succeed\n{}",
        run.stderr
    );
    let named = format!(
        "rank {victim} (host {}, pid {}) has not been heard from",
        spmdkit::comm::host_name(),
        pids[victim]
    );
    assert!(
        run.stderr.contains(&named),
        "{args:?} at np {np}: expected '{named}' in:\n{}",
        run.stderr
    );
    assert!(
        took < Duration::from_secs(TIMEOUT_S + 5),
        "{args:?} at np {np}: the job took {took:?} after the stop to end"
    );
}

/// `sleep` with twelve 4 s tasks: the stop comes while they run.
fn stop_in_sleep(schedule: &str, threads: &str, cases: &[(usize, usize)]) {
    let durations = ["4"; 12].join(",");
    for &(np, victim) in cases {
        stop_rank(
            np,
            victim,
            &[
                "sleep",
                "--quiet",
                "--threads",
                threads,
                "--schedule",
                schedule,
                "--durations",
                &durations,
            ],
        );
    }
}

#[test]
fn a_stopped_rank_ends_a_sleep_job() {
    let _one = serial();
    stop_in_sleep("lpt", "2", &[(2, 1), (3, 2)]);
}

#[test]
fn a_stopped_rank_ends_a_dynamic_sleep_job() {
    let _one = serial();
    stop_in_sleep("dynamic", "2", &[(2, 1), (3, 1)]);
}

#[test]
fn a_stopped_rank_ends_a_matrix_job() {
    let _one = serial();
    // About 20 s of products per rank on these machines: the stop comes in the middle.
    for (np, victim) in [(2, 1), (3, 2)] {
        stop_rank(
            np,
            victim,
            &[
                "matrix",
                "--threads",
                "1",
                "--count",
                "8000",
                "--size",
                "400",
            ],
        );
    }
}

#[test]
fn a_stopped_rank_zero_is_named_by_the_others() {
    let _one = serial();
    stop_in_sleep("lpt", "1", &[(3, 0)]);
}

#[test]
fn long_tasks_and_long_products_are_not_hangs() {
    let _one = serial();
    // Tasks and products far longer than the timeout: the main threads keep beating.
    mpirun(
        2,
        &[
            "sleep",
            "--durations",
            "4,0.1",
            "--hang-timeout",
            "1",
            "--quiet",
        ],
        &[],
    )
    .assert_code(0);
    mpirun(
        3,
        &[
            "sleep",
            "--schedule",
            "dynamic",
            "--durations",
            "4,3,0.1",
            "--hang-timeout",
            "1",
            "--quiet",
        ],
        &[],
    )
    .assert_code(0);
    mpirun(
        2,
        &[
            "matrix",
            "--size",
            "3000",
            "--count",
            "4",
            "--threads",
            "1",
            "--hang-timeout",
            "1",
        ],
        &[],
    )
    .assert_code(0);
    let dir = common::Scratch::new("hangrun");
    let mut cmd = mpirun_command(
        binary(),
        3,
        &[
            "run",
            "--tasks-file",
            "t.txt",
            "--slots",
            "1",
            "--quiet",
            "--hang-timeout",
            "1",
        ],
        &[],
    );
    std::fs::write(dir.path("t.txt"), "sleep 3\nsleep 3\nsleep 0.1\n").unwrap();
    cmd.current_dir(&dir.0);
    common::run_mpi(cmd).assert_code(0);
    dir.done();
}

#[test]
fn bad_hang_timeouts_are_refused() {
    for (value, why) in [
        ("abc", "expected a number of seconds"),
        ("-1", "cannot be negative"),
        ("inf", "must be finite"),
        ("1e300", "limited to"),
    ] {
        common::alone(&["sleep", "--durations", "0", "--hang-timeout", value], &[])
            .assert_says_once(2, why);
        common::alone(&["info"], &[("SPMDKIT_HANG_TIMEOUT", value)])
            .assert_says_once(2, "SPMDKIT_HANG_TIMEOUT");
    }
    // 0 turns the check off.
    common::alone(&["sleep", "--durations", "0", "--hang-timeout", "0"], &[]).assert_code(0);
}
