//! `spmdkit-bench` at a small size: every strategy is measured, checked and written to the CSV.

mod common;

use common::{run_mpi, Scratch};
use std::process::Command;

fn bench_binary() -> &'static str {
    env!("CARGO_BIN_EXE_spmdkit-bench")
}

#[test]
fn reduce_benchmark_writes_checked_rows_at_np_2_and_3() {
    for np in [2, 3] {
        let dir = Scratch::new("bench");
        let csv = dir.path("reduce.csv");
        let mut cmd = Command::new("mpirun");
        cmd.args(["--oversubscribe", "-np", &np.to_string(), bench_binary()])
            .args([
                "reduce",
                "--sizes",
                "8,4K,256K",
                "--iterations",
                "5",
                "--warmup",
                "1",
                "--csv",
            ])
            .arg(&csv);
        let run = run_mpi(cmd);
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
        let mut cmd = Command::new(bench_binary());
        cmd.arg("model").arg("--csv").arg(&csv);
        let model = common::run_bounded(cmd, common::HANG_LIMIT);
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

#[test]
fn bad_benchmark_arguments_are_refused() {
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "--oversubscribe",
        "-np",
        "2",
        bench_binary(),
        "reduce",
        "--sizes",
        "12",
    ]);
    let run = run_mpi(cmd);
    run.assert_code(2);
    assert_eq!(
        run.stderr
            .matches("'12' must be a positive multiple of 8 bytes")
            .count(),
        1,
        "{}",
        run.stderr
    );
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "--oversubscribe",
        "-np",
        "2",
        bench_binary(),
        "reduce",
        "--strategies",
        "tree,fast",
    ]);
    let run = run_mpi(cmd);
    run.assert_code(2);
    assert!(
        run.stderr.contains("unknown reduction 'fast'"),
        "{}",
        run.stderr
    );
    // The model refuses what it cannot read, naming it.
    let dir = Scratch::new("badmodel");
    let csv = dir.path("broken.csv");
    std::fs::write(
        &csv,
        "strategy,ranks,bytes,iterations,rounds,min_s,avg_s,max_s\ntree,2,eight,5,1,0.1,0.2,0.3\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let cases: [(&[&str], &str); 3] = [
        (&["--csv", csv], "line 2: 'eight' in column 'bytes'"),
        (
            &["--csv", "/nonexistent/r.csv"],
            "cannot read '/nonexistent/r.csv'",
        ),
        (&["--csv", csv, "--bytes", "lots"], "--bytes: 'lots'"),
    ];
    for (args, needle) in cases {
        let mut cmd = Command::new(bench_binary());
        cmd.arg("model").args(args);
        let run = common::run_bounded(cmd, common::HANG_LIMIT);
        run.assert_code(2);
        assert!(run.stderr.contains(needle), "{args:?}: {}", run.stderr);
    }
    dir.done();
}
