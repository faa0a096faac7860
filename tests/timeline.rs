//! Seeing a run: `sleep --timeline` (Chrome trace events or an SVG Gantt chart) under mpirun,
//! `spmdkit timeline RUN.h5` from a saved run, and the README's one-line pandas loads.

mod common;

use common::{alone, f, mpirun, refused, run_bounded, Scratch};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const DURATIONS: &str = "0.2,0.1,0.3,0.05,0.15";

#[test]
fn the_trace_has_one_complete_event_per_task_on_its_worker() {
    let dir = Scratch::new("trace");
    let trace = dir.path("run.json");
    let t = trace.to_str().unwrap();
    let args = [
        "sleep",
        "--json",
        "--quiet",
        "--threads",
        "2",
        "--durations",
        DURATIONS,
    ];
    for np in [2, 3] {
        let _ = std::fs::remove_file(&trace);
        let run = mpirun(np, &[&args[..], &["--timeline", t]].concat(), &[]);
        run.assert_code(0);
        let report = run.json();
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
        let events = doc["traceEvents"].as_array().unwrap();
        let tasks: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        let records = report["tasks"].as_array().unwrap();
        assert_eq!(tasks.len(), records.len(), "np {np}: one event per task");
        for r in records {
            let name = format!("task {}", r["id"]);
            let e = tasks.iter().find(|e| e["name"] == name.as_str()).unwrap();
            assert_eq!(e["pid"], r["rank"], "{name}: track = its rank");
            assert_eq!(e["tid"], r["thread"], "{name}: and its thread");
            assert!((f(&e["ts"]) - f(&r["start_s"]) * 1e6).abs() < 1.0, "{name}");
            let dur = f(&e["dur"]) / 1e6;
            assert!(
                (dur - (f(&r["end_s"]) - f(&r["start_s"]))).abs() < 1e-6,
                "{name}"
            );
            assert!(dur >= f(&r["duration_s"]), "{name}: {dur} s");
            assert_eq!(e["args"]["id"], r["id"]);
            assert_eq!(e["args"]["attempt"], 1);
            assert_eq!(e["args"]["ok"], true);
        }
        let names: Vec<&Value> = events
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .collect();
        assert_eq!(names.len(), np * 2, "a named track per worker");
    }
    dir.done();
}

#[test]
fn the_chart_has_a_bar_per_task_and_is_the_same_from_a_saved_run() {
    let dir = Scratch::new("chart");
    let (h5, svg, again) = (
        dir.path("run.h5"),
        dir.path("run.svg"),
        dir.path("again.svg"),
    );
    let run = mpirun(
        2,
        &[
            "sleep",
            "--quiet",
            "--threads",
            "2",
            "--durations",
            DURATIONS,
            "--inject-fault",
            "panic-task=3",
            "--output",
            h5.to_str().unwrap(),
            "--timeline",
            svg.to_str().unwrap(),
        ],
        &[],
    );
    run.assert_code(1);
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg"), "{chart}");
    assert_eq!(
        chart.matches("<rect class=\"task").count(),
        5,
        "a bar per task"
    );
    assert_eq!(
        chart.matches("class=\"task failed\"").count(),
        1,
        "the failed one marked"
    );
    assert!(chart.contains("time since the common start (s)") && chart.contains("rank / thread"));
    assert!(chart.contains("rank 1 / thread 1"));
    assert!(chart.contains("ideal makespan"));
    // Drawn again from the HDF5 file: the same picture.
    let drawn = alone(
        &[
            "timeline",
            h5.to_str().unwrap(),
            "-o",
            again.to_str().unwrap(),
        ],
        &[],
    );
    drawn.assert_code(0);
    assert_eq!(std::fs::read_to_string(&again).unwrap(), chart);
    // Never over an existing file without --force; bad names and other files refused.
    let a = again.to_str().unwrap();
    alone(&["timeline", h5.to_str().unwrap(), "-o", a], &[]).assert_says_once(2, "already exists");
    alone(&["timeline", h5.to_str().unwrap(), "-o", a, "--force"], &[]).assert_code(0);
    // --force applies to a timeline alone too.
    let lone = ["sleep", "--durations", "0", "--quiet", "--timeline", a];
    alone(&lone, &[]).assert_says_once(2, "already exists");
    alone(&[&lone[..], &["--force"]].concat(), &[]).assert_code(0);
    refused(
        &[
            "sleep",
            "--durations",
            "0",
            "--timeline",
            dir.path("x.png").to_str().unwrap(),
        ],
        &[],
        "name it .json",
    );
    let m = dir.path("m.h5");
    alone(
        &[
            "matrix",
            "--count",
            "2",
            "--size",
            "4",
            "--output",
            m.to_str().unwrap(),
        ],
        &[],
    )
    .assert_code(0);
    let other = dir.path("m.svg");
    alone(
        &[
            "timeline",
            m.to_str().unwrap(),
            "-o",
            other.to_str().unwrap(),
        ],
        &[],
    )
    .assert_says_once(2, "it holds a `matrix` run");
    assert!(!other.exists());
    // Neither an HDF5 file nor a journal.
    let junk = dir.path("junk.txt");
    std::fs::write(&junk, "not a run\n").unwrap();
    alone(
        &[
            "timeline",
            junk.to_str().unwrap(),
            "-o",
            other.to_str().unwrap(),
        ],
        &[],
    )
    .assert_says_once(
        2,
        "give the HDF5 file of `sleep --output`, or the journal of `run`",
    );
    assert!(!other.exists());
    dir.done();
}

/// The README's pandas lines, run on real files.
#[test]
fn results_load_into_pandas_in_one_line() {
    let readme = std::fs::read_to_string(common::repo("README.md")).unwrap();
    let tasks_line = r#"tasks = pd.DataFrame({k: v.asstr()[()] if v.dtype.kind == "O" else v[()] for k, v in h5py.File("run.h5")["tasks"].items()})"#;
    let matrix_line = r#"S = pd.DataFrame(h5py.File("m.h5")["result"][()])"#;
    for line in [tasks_line, matrix_line] {
        assert!(readme.contains(line), "the README shows: {line}");
    }
    let dir = Scratch::new("pandas");
    let mut sleep = Command::new(common::binary());
    sleep.current_dir(&dir.0).args([
        "sleep",
        "--quiet",
        "--durations",
        DURATIONS,
        "--output",
        "run.h5",
    ]);
    run_bounded(sleep, Duration::from_secs(60)).assert_code(0);
    let mut matrix = Command::new(common::binary());
    matrix
        .current_dir(&dir.0)
        .args(["matrix", "--count", "2", "--size", "5", "--output", "m.h5"]);
    run_bounded(matrix, Duration::from_secs(60)).assert_code(0);
    let script = format!(
        "import h5py, pandas as pd\n{tasks_line}\n{matrix_line}\n\
         print(len(tasks), sorted(tasks.columns) == sorted(['id', 'duration_s', 'rank', 'thread', \
         'start_s', 'end_s', 'ok', 'result', 'error']), tasks['result'][0], S.shape)\n"
    );
    let mut py = Command::new("/usr/bin/python3");
    py.current_dir(&dir.0).args(["-c", &script]);
    let out = run_bounded(py, Duration::from_secs(60));
    out.assert_code(0);
    assert_eq!(
        out.stdout.trim(),
        "5 True Sleep time 0.2 (5, 5)",
        "{}",
        out.stderr
    );
    dir.done();
}

#[test]
fn run_and_matrix_draw_their_own_timelines() {
    let dir = Scratch::new("farmline");
    std::fs::write(
        dir.path("t.txt"),
        "sleep 0.2\nexit 3\nsleep 0.1\nsleep 0.15\n",
    )
    .unwrap();
    let mut cmd = common::mpirun_command(
        common::binary(),
        2,
        &[
            "run",
            "--tasks-file",
            "t.txt",
            "--slots",
            "2",
            "--quiet",
            "--timeline",
            "run.json",
        ],
        &[],
    );
    cmd.current_dir(&dir.0);
    common::run_mpi(cmd).assert_code(1);
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path("run.json")).unwrap()).unwrap();
    let journal: Vec<Value> = std::fs::read_to_string(dir.path("spmdkit-run.journal"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<&Value> = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .collect();
    let started: Vec<&Value> = journal.iter().filter(|e| e["event"] == "started").collect();
    assert_eq!(events.len(), started.len(), "an event per attempt");
    for s in started {
        let e = events
            .iter()
            .find(|e| e["args"]["id"] == s["task"] && e["args"]["attempt"] == s["attempt"])
            .unwrap();
        let end = journal
            .iter()
            .find(|f| f["event"] == "finished" && f["task"] == s["task"])
            .unwrap();
        assert_eq!((&e["pid"], &e["tid"]), (&s["rank"], &s["slot"]));
        assert!((f(&e["dur"]) / 1e6 - f(&end["wall_s"])).abs() < 1e-6);
        let failed = end["kind"] != "ok";
        assert_eq!(e["cat"] == "failed", failed, "{e}");
    }
    // The same from the journal afterwards.
    let again = alone(
        &[
            "timeline",
            dir.path("spmdkit-run.journal").to_str().unwrap(),
            "-o",
            dir.path("again.json").to_str().unwrap(),
        ],
        &[],
    );
    again.assert_code(0);
    assert_eq!(
        std::fs::read(dir.path("again.json")).unwrap(),
        std::fs::read(dir.path("run.json")).unwrap()
    );
    // matrix: generate, multiply and sum for each pair, and a reduction on each rank.
    let chart = dir.path("m.svg");
    mpirun(
        2,
        &[
            "matrix",
            "--count",
            "8",
            "--size",
            "64",
            "--timeline",
            chart.to_str().unwrap(),
        ],
        &[],
    )
    .assert_code(0);
    let svg = std::fs::read_to_string(&chart).unwrap();
    assert_eq!(
        svg.matches("<rect class=\"task").count(),
        4 * 3 + 2,
        "{svg}"
    );
    for label in [
        "rank 1<",
        "generate",
        "multiply",
        "reduce",
        "time since the common start",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    dir.done();
}
