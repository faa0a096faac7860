//! `spmdkit sleep` under `mpirun` at several rank counts, including non-powers of two.

mod common;

use common::{alone, check_report, f, mpirun, read_h5, Scratch, CLASSIC};

#[test]
fn classic_default_on_one_rank_without_a_launcher() {
    let run = alone(&["sleep", "--threads", "16", "--json"], &[]);
    run.assert_code(0);
    check_report(&run.json(), &CLASSIC, 1, 16);
}

#[test]
fn classic_default_at_np_1_2_3_4() {
    for (np, threads) in [(1, 16), (2, 8), (3, 6), (4, 4)] {
        let run = mpirun(
            np,
            &["sleep", "--threads", &threads.to_string(), "--json"],
            &[],
        );
        run.assert_code(0);
        let report = run.json();
        check_report(&report, &CLASSIC, np, threads);
        // 16 workers or more: every task has a worker of its own, so LPT gives the ideal.
        let makespan = f(&report["makespan_s"]);
        assert!(
            makespan < 1.5 + 1.0,
            "makespan {makespan} (a hang guard, not a benchmark)"
        );
        let used: std::collections::BTreeSet<u64> = report["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["rank"].as_u64().unwrap())
            .collect();
        assert_eq!(used.len(), np, "every rank ran tasks");
    }
}

#[test]
fn every_schedule_at_three_ranks() {
    let durations = "0.03,0.01,0.02,0.05,0.04,0.01,0.03,0.02,0.01";
    let parsed: Vec<f64> = durations.split(',').map(|d| d.parse().unwrap()).collect();
    for schedule in ["lpt", "block", "cyclic"] {
        let run = mpirun(
            3,
            &[
                "sleep",
                "--threads",
                "2",
                "--durations",
                durations,
                "--schedule",
                schedule,
                "--json",
            ],
            &[],
        );
        run.assert_code(0);
        let report = run.json();
        assert_eq!(report["schedule"], schedule);
        check_report(&report, &parsed, 3, 2);
    }
}

#[test]
fn block_gives_rank_ranges_and_cyclic_deals_round_robin() {
    let durations = "0.01,0.01,0.01,0.01,0.01,0.01";
    let ranks_of = |schedule: &str| -> Vec<u64> {
        let run = mpirun(
            3,
            &[
                "sleep",
                "--threads",
                "1",
                "--durations",
                durations,
                "--schedule",
                schedule,
                "--json",
            ],
            &[],
        );
        run.assert_code(0);
        run.json()["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["rank"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(ranks_of("block"), vec![0, 0, 1, 1, 2, 2]);
    assert_eq!(ranks_of("cyclic"), vec![0, 1, 2, 0, 1, 2]);
}

#[test]
fn more_ranks_than_tasks() {
    let run = mpirun(
        4,
        &[
            "sleep",
            "--threads",
            "1",
            "--durations",
            "0.02,0.01",
            "--json",
        ],
        &[],
    );
    run.assert_code(0);
    check_report(&run.json(), &[0.02, 0.01], 4, 1);
}

#[test]
fn tasks_file_is_read_by_rank_zero() {
    let dir = Scratch::new("tasksfile");
    let file = dir.path("tasks.txt");
    std::fs::write(&file, "# three tasks\n0.02\n0.01  # short\n\n0.03\n").unwrap();
    let run = mpirun(
        3,
        &[
            "sleep",
            "--threads",
            "1",
            "--tasks-file",
            file.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    run.assert_code(0);
    check_report(&run.json(), &[0.02, 0.01, 0.03], 3, 1);
    dir.done();
}

#[test]
fn human_report_is_readable_and_json_is_alone_on_stdout() {
    let run = mpirun(
        2,
        &["sleep", "--threads", "2", "--durations", "0.01,0.02,0.03"],
        &[],
    );
    run.assert_code(0);
    for needle in [
        "spmdkit sleep: 3 tasks on 2 ranks x 2 threads (W = 4 workers)",
        "Sleep time 0.03",
        "efficiency",
        "all 3 tasks succeeded",
    ] {
        assert!(
            run.stdout.contains(needle),
            "missing '{needle}' in:\n{}",
            run.stdout
        );
    }
    let json = mpirun(
        2,
        &["sleep", "--threads", "2", "--durations", "0.01", "--json"],
        &[],
    );
    json.assert_code(0);
    assert_eq!(
        json.stdout.trim().lines().count(),
        1,
        "one JSON line:\n{}",
        json.stdout
    );
    json.json();
}

#[test]
fn hdf5_output_matches_the_report_at_np_3() {
    let dir = Scratch::new("h5sleep");
    let out = dir.path("run.h5");
    let run = mpirun(
        3,
        &[
            "sleep",
            "--threads",
            "2",
            "--durations",
            "0.02,0.01,0.03,0.04,0.01",
            "--json",
            "--output",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(
        dir.entries(),
        vec!["run.h5"],
        "no temporary file left behind"
    );
    let h5 = read_h5(&out);
    let attrs = &h5["attrs"];
    assert_eq!(attrs["command"], "sleep");
    assert_eq!(attrs["ranks"], 3);
    assert_eq!(attrs["threads_per_rank"], 2);
    assert_eq!(attrs["schedule"], "lpt");
    assert_eq!(attrs["wall_s"], report["wall_s"]);
    assert_eq!(attrs["ideal_s"], report["ideal_s"]);
    assert_eq!(attrs["version"], env!("CARGO_PKG_VERSION"));
    let mpi = attrs["mpi_library"].as_str().unwrap();
    assert!(mpi.contains("Open MPI") && !mpi.contains('\0'), "{mpi:?}");
    let ds = &h5["datasets"];
    let tasks = report["tasks"].as_array().unwrap();
    for field in [
        "id",
        "duration_s",
        "rank",
        "thread",
        "start_s",
        "end_s",
        "result",
    ] {
        let column = ds[format!("/tasks/{field}")]["data"]
            .as_array()
            .unwrap_or_else(|| panic!("/tasks/{field}"));
        assert_eq!(column.len(), tasks.len());
        for (value, task) in column.iter().zip(tasks) {
            assert_eq!(value, &task[field], "/tasks/{field}");
        }
    }
    assert_eq!(ds["/tasks/ok"]["data"], serde_json::json!([1, 1, 1, 1, 1]));
    dir.done();
}

#[test]
fn an_existing_output_is_kept_unless_forced() {
    let dir = Scratch::new("force");
    let out = dir.path("keep.h5");
    std::fs::write(&out, b"precious").unwrap();
    let args = [
        "sleep",
        "--threads",
        "1",
        "--durations",
        "0.01",
        "--output",
        out.to_str().unwrap(),
    ];
    let refused = mpirun(2, &args, &[]);
    refused.assert_code(2);
    assert!(
        refused.stderr.contains("already exists; pass --force"),
        "{}",
        refused.stderr
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    assert!(
        refused.stdout.is_empty(),
        "nothing computed: {}",
        refused.stdout
    );
    let mut forced = args.to_vec();
    forced.push("--force");
    mpirun(2, &forced, &[]).assert_code(0);
    assert_eq!(read_h5(&out)["attrs"]["command"], "sleep");
    assert_eq!(dir.entries(), vec!["keep.h5"]);
    dir.done();
}
