//! Failure handling: failing tasks, dying ranks, rank-local errors, output safety, load.
//! Every run is bounded; time bounds here are generous and only catch hangs.

mod common;

use common::{alone, mpirun, run_bounded, run_mpi, Scratch, SessionDir, HANG_LIMIT};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Processes whose command line mentions `marker` (a scratch path unique to one test).
fn processes_mentioning(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let is_pid = entry
            .file_name()
            .to_string_lossy()
            .chars()
            .all(|c| c.is_ascii_digit());
        if !is_pid {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) {
                found.push(cmdline);
            }
        }
    }
    found
}

fn assert_nothing_left(dir: &Scratch, out: &str) {
    // mpirun has returned; give the kernel a moment to reap, bounded.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_mentioning(out).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        processes_mentioning(out),
        Vec::<String>::new(),
        "processes left behind"
    );
    assert!(dir.entries().is_empty(), "files left: {:?}", dir.entries());
}

#[test]
fn a_failing_task_is_recorded_and_the_others_still_run() {
    let dir = Scratch::new("panic-task");
    let out = dir.path("p.h5");
    let o = out.to_str().unwrap();
    for np in [1, 3] {
        let _ = std::fs::remove_file(&out);
        let run = mpirun(
            np,
            &[
                "sleep",
                "--threads",
                "2",
                "--durations",
                "0.05,0.02,0.03,0.01",
                "--inject-fault",
                "panic-task=2",
                "--json",
                "--output",
                o,
            ],
            &[],
        );
        run.assert_code(1);
        let report = run.json();
        assert_eq!(report["failed"], serde_json::json!([2]));
        let tasks = report["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), 4);
        assert_eq!(tasks[2]["result"], serde_json::Value::Null);
        let error = tasks[2]["error"].as_str().unwrap();
        assert!(
            error.starts_with("panicked at bin/src/jobs/sleep.rs:")
                && error.ends_with(": injected fault: task 2 panics"),
            "{error}"
        );
        for i in [0, 1, 3] {
            assert!(
                tasks[i]["result"]
                    .as_str()
                    .unwrap()
                    .starts_with("Sleep time"),
                "task {i}"
            );
        }
        assert_eq!(
            run.stderr
                .matches(": injected fault: task 2 panics (recorded as failed")
                .count(),
            1
        );
        let h5 = common::read_h5(&out);
        assert_eq!(
            h5["datasets"]["/tasks/ok"]["data"],
            serde_json::json!([1, 1, 0, 1])
        );
        assert_eq!(h5["datasets"]["/tasks/error"]["data"][2], error);
        assert_eq!(h5["attrs"]["failed_count"], 1);
    }
    dir.done();
}

#[test]
fn the_human_report_marks_failed_tasks() {
    let run = alone(
        &[
            "sleep",
            "--durations",
            "0.01,0.01",
            "--inject-fault",
            "panic-task=1",
        ],
        &[],
    );
    run.assert_code(1);
    assert!(
        run.stdout
            .contains("FAILED: panicked at bin/src/jobs/sleep.rs:")
            && run.stdout.contains(": injected fault: task 1 panics"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("FAILED tasks: [1]"), "{}", run.stdout);
}

/// A rank that dies ends the job quickly, names itself, and leaves no process and no file.
fn dying_rank(np: usize, fault: &str, args: &[&str], needles: &[&str]) {
    let dir = Scratch::new("dying");
    let out = dir.path("never.h5");
    let o = out.to_str().unwrap();
    let mut full = args.to_vec();
    full.extend(["--inject-fault", fault, "--output", o]);
    let run = mpirun(np, &full, &[]);
    assert_ne!(run.code, Some(0), "{fault}: must fail\n{}", run.stderr);
    assert!(
        run.elapsed < Duration::from_secs(10),
        "{fault}: took {:?}",
        run.elapsed
    );
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{fault}: expected '{needle}' in:\n{}",
            run.stderr
        );
    }
    assert!(!out.exists());
    assert_nothing_left(&dir, o);
    dir.done();
}

#[test]
fn an_aborting_rank_ends_the_job() {
    let sleep = ["sleep", "--threads", "4", "--quiet"];
    dying_rank(
        3,
        "abort-rank=1@0.3",
        &sleep,
        &[
            "rank 1: injected fault: aborting",
            "process rank 1",
            "signal 6",
        ],
    );
    dying_rank(
        2,
        "abort-rank=0",
        &sleep,
        &["rank 0: injected fault: aborting", "process rank 0"],
    );
    let matrix = ["matrix", "--count", "8", "--size", "200"];
    dying_rank(
        4,
        "abort-rank=3",
        &matrix,
        &["rank 3: injected fault: aborting", "process rank 3"],
    );
}

#[test]
fn a_rank_exiting_behind_mpis_back_ends_the_job() {
    let sleep = ["sleep", "--threads", "4", "--quiet"];
    dying_rank(
        3,
        "exit-rank=2",
        &sleep,
        &[
            "rank 2: injected fault: exiting with code 3",
            "Exit code:    3",
        ],
    );
    let matrix = ["matrix", "--count", "8", "--size", "200"];
    dying_rank(
        3,
        "exit-rank=1",
        &matrix,
        &["rank 1: injected fault: exiting"],
    );
}

#[test]
fn a_rank_panicking_outside_a_task_aborts_the_job() {
    let matrix = ["matrix", "--count", "6", "--size", "100"];
    dying_rank(
        3,
        "panic-task=1",
        &matrix,
        &["rank 1: panicked: injected fault: pair 1 panics"],
    );
}

#[test]
fn a_failed_write_leaves_no_file_and_says_so() {
    let dir = Scratch::new("ioerror");
    let out = dir.path("io.h5");
    let run = mpirun(
        2,
        &[
            "matrix",
            "--size",
            "64",
            "--json",
            "--inject-fault",
            "io-error",
            "--output",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.assert_code(1);
    run.json(); // the report itself is complete
    assert!(
        run.stderr
            .contains("the HDF5 file was not written: writing"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("injected fault: I/O error part-way"),
        "{}",
        run.stderr
    );
    assert!(dir.entries().is_empty(), "{:?}", dir.entries());
    dir.done();
}

/// MPMD: ranks 0-1 run `spmdkit <args>`, rank 2 runs `spmdkit <last>` with `options` of its own
/// (such as `-x VAR=value`).
fn two_and_one(args: &[&str], options: &[&str], last: &[&str]) -> common::Run {
    let bin = common::binary();
    let mut cmd = Command::new("mpirun");
    cmd.args(["--oversubscribe", "-np", "2", bin])
        .args(args)
        .args([":", "-np", "1"])
        .args(options)
        .arg(bin)
        .args(last);
    run_mpi(cmd)
}

#[test]
fn rank_local_problems_are_agreed_on_and_reported_once() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["-x", "SLURM_CPUS_PER_TASK=abc"],
            "rank 2: SLURM_CPUS_PER_TASK = 'abc' is not a valid thread count",
        ),
        (
            &["-x", "SPMDKIT_MEMORY_PER_RANK=1K"],
            "rank 2: not enough memory: this rank needs",
        ),
        (
            &["-x", "SPMDKIT_MEMORY_PER_RANK=lots"],
            "rank 2: SPMDKIT_MEMORY_PER_RANK = 'lots'",
        ),
    ];
    let matrix = ["matrix", "--size", "64"];
    for (options, needle) in cases {
        // Rank 2 gets a different environment.
        let run = two_and_one(&matrix, options, &matrix);
        run.assert_says_once(2, needle);
        assert!(run.stdout.is_empty());
    }
    // Different arguments on one rank.
    two_and_one(
        &["sleep", "--durations", "0.1"],
        &[],
        &["sleep", "--durations", "0.2"],
    )
    .assert_says_once(2, "rank 2: this rank was started differently from rank 0");
}

#[test]
fn a_killed_write_never_leaves_a_partial_file_under_the_name() {
    let dir = Scratch::new("killwrite");
    let out = dir.path("big.h5");
    let o = out.to_str().unwrap().to_string();
    let args = [
        "matrix",
        "--count",
        "24",
        "--size",
        "400",
        "--save-inputs",
        "--quiet",
        "--output",
        &o,
        "--force",
    ];
    // An old file that must survive intact unless replaced by a complete one.
    std::fs::write(&out, b"old contents").unwrap();
    let timed = mpirun(2, &args, &[]);
    timed.assert_code(0);
    let full = timed.elapsed;
    let check = common::repo("tests/check_matrix_h5.py");
    let mut completed = 0;
    for step in 1..=8 {
        std::fs::write(&out, b"old contents").unwrap();
        let session = SessionDir::new();
        let mut cmd = Command::new("mpirun");
        cmd.args(["--oversubscribe", "-np", "2", common::binary()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        session.apply(&mut cmd);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().unwrap();
        std::thread::sleep(full.mul_f64(step as f64 / 8.0));
        // SAFETY: kill has no memory-safety preconditions; the group is our child's.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
        let bytes = std::fs::read(&out).unwrap();
        if bytes != b"old contents" {
            let mut py = Command::new("/usr/bin/python3");
            py.arg(&check).arg(&out);
            let r = run_bounded(py, HANG_LIMIT);
            assert_eq!(
                r.code,
                Some(0),
                "kill at {step}/8 left a broken file:\n{}",
                r.stderr
            );
            completed += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while !processes_mentioning(&o).is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    eprintln!("{completed} of 8 killed runs had already published a complete file");
    // What the killed runs left are recognisable partial files, reported by the next run.
    let run = mpirun(2, &args, &[]);
    run.assert_code(0);
    let partials: Vec<String> = dir
        .entries()
        .into_iter()
        .filter(|n| n.contains(".spmdkit-partial-"))
        .collect();
    for p in &partials {
        assert!(
            run.stderr.contains(p),
            "the next run names '{p}':\n{}",
            run.stderr
        );
    }
    dir.done();
}

#[test]
fn sixteen_ranks_on_two_cores_complete() {
    let sleep = mpirun(
        16,
        &[
            "sleep",
            "--threads",
            "1",
            "--durations",
            &["0.05"; 20].join(","),
            "--json",
        ],
        &[],
    );
    sleep.assert_code(0);
    assert_eq!(sleep.json()["ranks"], 16);
    let args = [
        "matrix",
        "--count",
        "40",
        "--size",
        "64",
        "--threads",
        "1",
        "--json",
    ];
    let many = mpirun(16, &args, &[]);
    many.assert_code(0);
    let report = many.json();
    assert_eq!(report["ranks"], 16);
    assert_eq!(report["reduce_rounds"], 4);
    assert_eq!(
        report["result"]["digest"],
        alone(&args, &[]).json()["result"]["digest"]
    );
}

#[test]
fn a_non_writable_directory_and_bad_fault_specs_are_refused() {
    let run = mpirun(2, &["sleep", "--output", "/proc/spmdkit.h5"], &[]);
    run.assert_code(2);
    assert!(
        run.stderr.contains("cannot create files in '/proc'"),
        "{}",
        run.stderr
    );
    let run = mpirun(2, &["sleep", "--inject-fault", "explode"], &[]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("--inject-fault 'explode' is not a fault"),
        "{}",
        run.stderr
    );
}
