//! `spmdkit-bench` at a small size: every strategy is measured, checked and written to the CSV.

mod common;

use common::{Run, Scratch};
use spmdkit_bench::{plot, workloads};
use std::process::Command;

fn bench_binary() -> &'static str {
    env!("CARGO_BIN_EXE_spmdkit-bench")
}

/// `spmdkit-bench <args>` under `mpirun -np <np>`, bounded in time.
fn bench_mpi(np: usize, args: &[&str]) -> Run {
    common::mpirun_of(bench_binary(), np, args, &[])
}

/// `spmdkit-bench <args>` without a launcher, bounded in time.
fn bench_alone(args: &[&str]) -> Run {
    let mut cmd = Command::new(bench_binary());
    cmd.args(args);
    common::run_bounded(cmd, common::HANG_LIMIT)
}

#[test]
fn reduce_benchmark_writes_checked_rows_at_np_2_and_3() {
    for np in [2, 3] {
        let dir = Scratch::new("bench");
        let csv = dir.path("reduce.csv");
        let run = bench_mpi(
            np,
            &[
                "reduce",
                "--sizes",
                "8,4K,256K",
                "--iterations",
                "5",
                "--warmup",
                "1",
                "--csv",
                csv.to_str().unwrap(),
            ],
        );
        run.assert_code(0);
        assert!(
            run.stdout
                .contains(&format!("# spmdkit-bench reduce: {np} ranks")),
            "{}",
            run.stdout
        );
        let text = std::fs::read_to_string(&csv).unwrap();
        assert!(
            text.starts_with("# spmdkit-bench reduce\n# ranks="),
            "{text}"
        );
        let rows: Vec<Vec<&str>> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .skip(1)
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len(), 3 * 3, "{text}");
        for row in &rows {
            let (strategy, ranks, rounds) = (row[0], row[1], row[4]);
            assert_eq!(ranks, np.to_string());
            let want_rounds = if strategy == "tree" {
                if np == 2 {
                    "1"
                } else {
                    "2"
                }
            } else {
                "1"
            };
            assert_eq!(rounds, want_rounds, "{row:?}");
            let (min, avg, max): (f64, f64, f64) = (
                row[5].parse().unwrap(),
                row[6].parse().unwrap(),
                row[7].parse().unwrap(),
            );
            assert!(0.0 < min && min <= avg && avg <= max, "{row:?}");
        }
        // The cost model fits those rows and extrapolates.
        let model = bench_alone(&["model", "--csv", csv.to_str().unwrap()]);
        model.assert_code(0);
        assert!(model.stdout.contains("alpha = "), "{}", model.stdout);
        let last = model.stdout.lines().last().unwrap_or_default();
        assert!(
            last.trim_start().starts_with("65536 "),
            "predictions up to 65 536 ranks:\n{}",
            model.stdout
        );
        dir.done();
    }
}

/// The tree's arrays between ranks of one node go through shared memory when they fill a slot
/// (64 KB) and as messages otherwise, or always with `SPMDKIT_SHARED_MEMORY=0`; the benchmark
/// aborts on a wrong sum, so every size below (one slot exactly, 15.3 slots, 32 slots) is also
/// checked. Rank 0 takes one array per round from a rank of its node: 1 round at 2 ranks, 2 at
/// 3 and 4; 3 sizes x (1 warm-up + 3 timed) reductions.
#[test]
fn tree_arrays_go_through_shared_memory_unless_turned_off() {
    for np in [2, 3, 4] {
        for (shm, per_reduction) in [("1", if np == 2 { 1 } else { 2 }), ("0", 0)] {
            let run = common::mpirun_of(
                bench_binary(),
                np,
                &[
                    "reduce",
                    "--strategies",
                    "tree",
                    "--sizes",
                    "8,64K,1000008,2M",
                    "--iterations",
                    "3",
                    "--warmup",
                    "1",
                ],
                &[("SPMDKIT_SHARED_MEMORY", shm)],
            );
            run.assert_code(0);
            let want = format!(
                "# arrays rank 0 received through node shared memory: {}",
                3 * 4 * per_reduction
            );
            assert!(
                run.stdout.lines().any(|l| l == want),
                "np {np}, SPMDKIT_SHARED_MEMORY={shm}: expected '{want}' in:\n{}",
                run.stdout
            );
        }
    }
}

#[test]
fn bad_benchmark_arguments_are_refused() {
    bench_mpi(2, &["reduce", "--sizes", "12"])
        .assert_says_once(2, "'12' must be a positive multiple of 8 bytes");
    bench_mpi(2, &["reduce", "--strategies", "tree,fast"])
        .assert_says_once(2, "unknown reduction 'fast'");
    // The model refuses what it cannot read, naming it.
    let dir = Scratch::new("badmodel");
    let csv = dir.path("broken.csv");
    std::fs::write(
        &csv,
        "strategy,ranks,bytes,iterations,rounds,min_s,avg_s,max_s\ntree,2,eight,5,1,0.1,0.2,0.3\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    // One row is too few to fit two parameters, for the model and for its chart.
    let one = dir.path("one.csv");
    std::fs::write(
        &one,
        "strategy,ranks,bytes,iterations,rounds,min_s,avg_s,max_s\ntree,2,8,5,1,0.1,0.2,0.3\n",
    )
    .unwrap();
    let one = one.to_str().unwrap();
    let charts = dir.path("charts");
    let charts = charts.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &["model", "--csv", csv],
            "line 2: 'eight' in column 'bytes'",
        ),
        (
            &["model", "--csv", "/nonexistent/r.csv"],
            "cannot read '/nonexistent/r.csv'",
        ),
        (
            &["model", "--csv", csv, "--bytes", "lots"],
            "--bytes: 'lots'",
        ),
        (
            &["model", "--csv", one],
            "need at least two tree or linear rows",
        ),
        (
            &["plot", "--reduce", one, "--out", charts],
            "need at least two tree or linear rows",
        ),
    ];
    for (args, needle) in cases {
        bench_alone(args).assert_says_once(2, needle);
    }
    // A CSV that cannot be written fails the run (exit code 1) after the measurements.
    bench_mpi(
        2,
        &[
            "reduce",
            "--sizes",
            "8",
            "--iterations",
            "1",
            "--csv",
            "/nonexistent/r.csv",
        ],
    )
    .assert_says_once(1, "cannot write '/nonexistent/r.csv'");
    dir.done();
}

#[test]
fn workload_benchmarks_write_checked_rows_and_the_charts_draw_them() {
    let dir = Scratch::new("benchcharts");
    let mut args = vec!["plot".to_string()];
    let mut digests = Vec::new();
    for np in [1, 2, 3] {
        let m = dir.path(&format!("matrix-np{np}.csv"));
        let m = m.to_str().unwrap();
        bench_mpi(
            np,
            &[
                "matrix",
                "--count",
                "6",
                "--size",
                "64",
                "--threads",
                "1,2",
                "--repeats",
                "2",
                "--csv",
                m,
            ],
        )
        .assert_code(0);
        let rows = workloads::parse_matrix_csv(&std::fs::read_to_string(m).unwrap()).unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        for (row, t) in rows.iter().zip([1, 2]) {
            assert_eq!((row.ranks, row.threads, row.workers), (np, t, np * t));
            assert_eq!((row.count, row.size, row.repeats), (6, 64, 2));
            assert!(row.total_s > 0.0 && row.gflops > 0.0, "{row:?}");
            digests.push(row.digest.clone());
        }
        args.extend(["--matrix".into(), m.into()]);
        if np == 1 {
            continue;
        }
        let s = dir.path(&format!("sleep-np{np}.csv"));
        let s = s.to_str().unwrap();
        let run = bench_mpi(
            np,
            &[
                "sleep",
                "--tasks",
                "random",
                "--count",
                "20",
                "--longest",
                "0.01",
                "--threads",
                "2",
                "--repeats",
                "2",
                "--csv",
                s,
            ],
        );
        run.assert_code(0);
        assert!(
            run.stderr.contains("run 8/8 done"),
            "progress on stderr: {}",
            run.stderr
        );
        let rows = workloads::parse_sleep_csv(&std::fs::read_to_string(s).unwrap()).unwrap();
        let policies: Vec<&str> = rows.iter().map(|r| r.policy.as_str()).collect();
        assert_eq!(policies, ["lpt", "block", "cyclic", "dynamic"]);
        let durations = workloads::random_durations(20, 0.01, 42);
        let total: f64 = durations.iter().sum();
        for r in &rows {
            assert_eq!((r.workload.as_str(), r.ranks), ("random20", np));
            assert_eq!(
                (r.threads, r.workers, r.tasks, r.repeats),
                (2, 2 * np, 20, 2)
            );
            assert!((r.total_s - total).abs() < 1e-6, "{r:?}");
            let longest = durations.iter().copied().fold(0.0, f64::max);
            let bound = (total / (2 * np) as f64).max(longest);
            assert!((r.bound_s - bound).abs() < 1e-6, "{r:?} vs {bound}");
            assert!(r.makespan_s >= r.bound_s * 0.99, "{r:?}");
            assert!(r.efficiency > 0.0 && r.efficiency <= 1.01, "{r:?}");
        }
        args.extend(["--sleep".into(), s.into()]);
        let r = dir.path(&format!("reduce-np{np}.csv"));
        let r = r.to_str().unwrap();
        bench_mpi(
            np,
            &[
                "reduce",
                "--sizes",
                "8,64K",
                "--iterations",
                "3",
                "--csv",
                r,
            ],
        )
        .assert_code(0);
        args.extend(["--reduce".into(), r.into()]);
    }
    // Every rank count and thread count gave the same bits.
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    let compare = dir.path("compare.csv");
    std::fs::write(
        &compare,
        "# made up for the test\njob,workers,tool,runs,whole_s,in_program_s,whole_ratio\n\
         sleep,2,spmdkit,3,5.1,4.96,1.00\nsleep,2,ray,3,8.0,5.0,1.57\n\
         matrix,2,spmdkit,3,0.2,0.07,1.00\nmatrix,2,dask,3,3.0,0.5,15.0\n",
    )
    .unwrap();
    let out = dir.path("charts");
    args.extend([
        "--compare".into(),
        compare.to_str().unwrap().into(),
        "--bytes".into(),
        "64K".into(),
        "--out".into(),
        out.to_str().unwrap().into(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = bench_alone(&args);
    run.assert_code(0);
    let expect = [
        (
            "reduce-time.svg",
            vec!["tree, 3 ranks", "linear, 2 ranks", "native, 3 ranks"],
        ),
        (
            "reduce-model.svg",
            vec!["tree: ceil(log2 P) steps", "linear: P - 1 steps", "64 KiB"],
        ),
        (
            "matrix-scaling.svg",
            vec!["1 rank, more threads", "3 ranks, more threads", "ideal"],
        ),
        (
            "sleep-efficiency.svg",
            vec!["lpt", "dynamic", "random20, 2 x 2", "random20, 3 x 2"],
        ),
        (
            "compare.svg",
            vec!["spmdkit", "ray", "dask", "sleep W=2", "matrix W=2"],
        ),
    ];
    for (name, labels) in expect {
        assert!(run.stdout.contains(name), "{}", run.stdout);
        let svg = std::fs::read_to_string(out.join(name)).unwrap();
        assert!(svg.starts_with("<svg"), "{name}");
        for label in labels {
            assert!(svg.contains(label), "{name} lacks '{label}'");
        }
    }
    // The compare file reads back as the chart saw it.
    let rows = plot::parse_compare_csv(&std::fs::read_to_string(&compare).unwrap()).unwrap();
    assert_eq!(rows[3].tool, "dask");

    // Charts refuse rows that disagree: another result for the same job.
    let m1 = dir.path("matrix-np1.csv");
    let forged = dir.path("forged.csv");
    let text = std::fs::read_to_string(&m1).unwrap();
    std::fs::write(&forged, text.replace(&digests[0], &"0".repeat(64))).unwrap();
    let run = bench_alone(&[
        "plot",
        "--matrix",
        m1.to_str().unwrap(),
        "--matrix",
        forged.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    run.assert_says_once(2, "the same job gave different results");
    dir.done();
}

#[test]
fn bad_workload_benchmark_arguments_are_refused() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["sleep", "--tasks", "heavy"],
            "--tasks: 'heavy' is neither",
        ),
        (&["sleep", "--policies", "lpt,fifo"], "--policies: "),
        (&["sleep", "--repeats", "0"], "--repeats: use at least 1"),
        (
            &["matrix", "--count", "3"],
            "--count: '3' is not an even number",
        ),
        (&["matrix", "--threads", "1,0"], "--threads: '0' is not"),
        (&["matrix", "--reduce", "fast"], "--reduce: "),
    ];
    for (args, needle) in cases {
        bench_mpi(2, args).assert_says_once(2, needle);
    }
    let dir = Scratch::new("badplot");
    bench_alone(&["plot"]).assert_says_once(2, "nothing to draw");
    let file = dir.path("a-file");
    std::fs::write(&file, "").unwrap();
    let run = bench_alone(&[
        "plot",
        "--sleep",
        "/nonexistent/s.csv",
        "--out",
        file.to_str().unwrap(),
    ]);
    // A directory that cannot be made is a failure to write the results: exit code 1.
    run.assert_says_once(1, "cannot create");
    bench_alone(&["plot", "--sleep", "/nonexistent/s.csv"])
        .assert_says_once(2, "cannot read '/nonexistent/s.csv'");
    dir.done();
}

/// The Python side of `benches/compare-python.sh` with what CI has (the standard library and
/// Debian's NumPy): its concurrent.futures version of both classic jobs gives the right answers,
/// so the comparison cannot quietly time a broken job.
#[test]
fn the_comparison_python_jobs_answer_correctly() {
    let script = common::repo("benches/classic_tools.py");
    let python = |args: &[&str]| {
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(&script).args(args);
        common::run_bounded(cmd, common::HANG_LIMIT)
    };
    let run_tool = |args: &[&str]| python(args).assert_code(0).json();
    let sleep = run_tool(&["--tool", "futures", "--job", "sleep", "--workers", "16"]);
    let expected: Vec<String> = common::CLASSIC
        .iter()
        .map(|d| spmdkit_apps::jobs::sleep::sleep_result(*d))
        .collect();
    let results: Vec<String> = sleep["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(results, expected);
    let t = common::f(&sleep["in_program_s"]);
    assert!(
        (1.5..60.0).contains(&t),
        "16 workers need the longest task, 1.5 s: {t}"
    );
    let matrix = run_tool(&["--tool", "futures", "--job", "matrix", "--workers", "2"]);
    // E|AB|_F^2 = n^3 for standard normals; two products: 2 n^3.
    let frobenius = common::f(&matrix["frobenius"]);
    let expected = (2.0f64 * 1e9).sqrt();
    assert!(
        (frobenius / expected - 1.0).abs() < 0.02,
        "{frobenius} vs {expected}"
    );
    python(&["--tool", "futures", "--job", "nothing"]).assert_says_once(2, "invalid choice");
}
