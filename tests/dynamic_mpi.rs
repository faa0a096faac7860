//! The dynamic schedule, live progress, and many tasks.

mod common;

use common::{check_report, mpirun, Scratch, CLASSIC};
use std::process::Command;

fn per_rank_tasks(report: &serde_json::Value) -> Vec<u64> {
    report["per_rank"]
        .as_array()
        .expect("per_rank[]")
        .iter()
        .map(|r| r["tasks"].as_u64().unwrap())
        .collect()
}

#[test]
fn dynamic_classic_at_np_1_to_4() {
    for (np, threads) in [(1, 16), (2, 8), (3, 6), (4, 4)] {
        let t = threads.to_string();
        let run = mpirun(
            np,
            &["sleep", "--schedule", "dynamic", "--threads", &t, "--json"],
            &[],
        );
        run.assert_code(0);
        let report = run.json();
        assert_eq!(report["schedule"], "dynamic");
        check_report(&report, &CLASSIC, np, threads);
        assert_eq!(per_rank_tasks(&report).iter().sum::<u64>(), 16);
    }
}

#[test]
fn dynamic_with_uneven_tasks_reports_load_per_rank() {
    let durations = "0.05,0.01,0.03,0.02,0.04,0.01,0.01,0.06,0.02,0.03,0.01,0.02";
    let parsed: Vec<f64> = durations.split(',').map(|d| d.parse().unwrap()).collect();
    let run = mpirun(
        3,
        &[
            "sleep",
            "--schedule",
            "dynamic",
            "--threads",
            "2",
            "--durations",
            durations,
            "--json",
        ],
        &[],
    );
    run.assert_code(0);
    let report = run.json();
    check_report(&report, &parsed, 3, 2);
    let makespan = report["makespan_s"].as_f64().unwrap();
    let mut busy_total = 0.0;
    for (i, r) in report["per_rank"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["rank"], i);
        assert_eq!(r["threads"], 2);
        let busy = r["busy_s"].as_f64().unwrap();
        let idle = r["idle_s"].as_f64().unwrap();
        assert!(busy >= 0.0 && idle >= 0.0);
        assert!(
            (busy + idle - 2.0 * makespan).abs() < 1e-6 || idle == 0.0,
            "{r}"
        );
        busy_total += busy;
    }
    assert!(
        busy_total >= parsed.iter().sum::<f64>(),
        "busy {busy_total}"
    );
}

#[test]
fn a_hundred_thousand_zero_length_tasks_dynamic_at_np_2() {
    let dir = Scratch::new("many");
    let file = dir.path("zeros.txt");
    std::fs::write(&file, "0\n".repeat(100_000)).unwrap();
    let run = mpirun(
        2,
        &[
            "sleep",
            "--schedule",
            "dynamic",
            "--threads",
            "2",
            "--tasks-file",
            file.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    run.assert_code(0);
    let report = run.json();
    let tasks = report["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 100_000);
    assert!(tasks
        .iter()
        .enumerate()
        .all(|(i, t)| t["id"] == i && t["result"] == "Sleep time 0.0"));
    assert_eq!(per_rank_tasks(&report).iter().sum::<u64>(), 100_000);
    assert_eq!(report["failed"], serde_json::json!([]));
    dir.done();
}

#[test]
fn a_million_tasks_with_block() {
    let dir = Scratch::new("million");
    let file = dir.path("zeros.txt");
    std::fs::write(&file, "0\n".repeat(1_000_000)).unwrap();
    let run = mpirun(
        2,
        &[
            "sleep",
            "--schedule",
            "block",
            "--threads",
            "2",
            "--quiet",
            "--tasks-file",
            file.to_str().unwrap(),
        ],
        &[],
    );
    run.assert_code(0);
    assert!(
        run.stdout.contains("1000000 tasks on 2 ranks"),
        "{}",
        &run.stdout[..500.min(run.stdout.len())]
    );
    assert!(
        run.stdout.contains("... 999960 more tasks"),
        "human report is summarised"
    );
    assert!(run.stdout.contains("all 1000000 tasks succeeded"));
    assert!(
        run.stdout.contains("   500000 "),
        "each rank ran half:\n{}",
        run.stdout
    );
    dir.done();
}

#[test]
fn progress_lines_go_to_stderr_and_never_into_json() {
    for schedule in ["dynamic", "lpt"] {
        let run = mpirun(
            2,
            &[
                "sleep",
                "--schedule",
                schedule,
                "--threads",
                "1",
                "--durations",
                "0.3,0.3,0.3,0.3",
                "--json",
            ],
            &[("SPMDKIT_PROGRESS_INTERVAL", "0.1")],
        );
        run.assert_code(0);
        run.json(); // stdout is exactly one JSON object
        let lines: Vec<&str> = run
            .stderr
            .lines()
            .filter(|l| l.starts_with("spmdkit: progress"))
            .collect();
        assert!(
            lines.len() >= 2,
            "{schedule}: progress lines expected:\n{}",
            run.stderr
        );
        assert!(
            lines.last().unwrap().contains("4/4 tasks (100.0 %)"),
            "{schedule}:\n{}",
            run.stderr
        );
        // A rate and an ETA once a task has ended; before that, no made-up figures.
        assert!(lines.iter().all(|l| l.contains("ETA")
            && (l.contains("tasks/s") || l.contains("no task ended yet, ETA unknown"))));
        assert!(lines.last().unwrap().contains("tasks/s"));
    }
}

#[test]
fn quiet_silences_progress() {
    let run = mpirun(
        2,
        &[
            "sleep",
            "--schedule",
            "dynamic",
            "--threads",
            "1",
            "--durations",
            "0.3,0.3",
            "--quiet",
            "--json",
        ],
        &[("SPMDKIT_PROGRESS_INTERVAL", "0.05")],
    );
    run.assert_code(0);
    assert!(!run.stderr.contains("progress"), "{}", run.stderr);
}

#[test]
fn a_terminal_gets_a_progress_bar() {
    // `script` gives the process a pseudo-terminal, as an interactive user would have.
    let cmd_line = format!(
        "{} sleep --threads 2 --durations 0.4,0.4,0.4,0.4 --schedule dynamic",
        common::binary()
    );
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &cmd_line, "/dev/null"]);
    let run = common::run_bounded(cmd, common::HANG_LIMIT);
    run.assert_code(0);
    assert!(
        run.stdout.contains("/4 tasks"),
        "bar expected:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("all 4 tasks succeeded"));
}
