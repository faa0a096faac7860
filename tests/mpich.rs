//! spmdkit built against MPICH (`scripts/test.sh` builds it into `target-mpich/` and names it in
//! `SPMDKIT_MPICH_BIN`): a small set at np <= 2 under MPICH's own launcher, and the launch mistakes
//! between the two MPI implementations. Every run is bounded: MPICH 4.0.2 can hang in
//! MPI_Finalize in a fraction of runs over some transports.

mod common;

use common::{alone, check_report, run_bounded, Run, Scratch, HANG_LIMIT};
use std::process::Command;

fn mpich_binary() -> Option<String> {
    match std::env::var("SPMDKIT_MPICH_BIN") {
        Ok(path) => Some(path),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must build the MPICH binary (SPMDKIT_MPICH_BIN)"
            );
            eprintln!("SKIPPED: SPMDKIT_MPICH_BIN is not set (scripts/test.sh sets it)");
            None
        }
    }
}

fn mpiexec(bin: &str, np: usize, args: &[&str]) -> Run {
    let mut cmd = Command::new("mpiexec.mpich");
    cmd.args(["-n", &np.to_string(), bin]).args(args);
    run_bounded(cmd, HANG_LIMIT)
}

#[test]
fn mpich_build_runs_info_sleep_and_matrix() {
    let Some(bin) = mpich_binary() else { return };
    for np in [1, 2] {
        let info = mpiexec(&bin, np, &["info", "--json"]);
        info.assert_code(0);
        let info = info.json();
        assert_eq!(info["ranks"], np);
        assert_eq!(info["backend"], "mpi");
        let lib = info["mpi_library"].as_str().unwrap();
        assert!(lib.starts_with("MPICH") && !lib.contains('\t'), "{lib:?}");
    }
    let dir = Scratch::new("mpich");
    let out = dir.path("s.h5");
    let sleep = mpiexec(
        &bin,
        2,
        &[
            "sleep",
            "--threads",
            "8",
            "--json",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    sleep.assert_code(0);
    check_report(&sleep.json(), &common::CLASSIC, 2, 8);
    assert!(common::read_h5(&out)["attrs"]["mpi_library"]
        .as_str()
        .unwrap()
        .starts_with("MPICH"));
    let args = [
        "matrix", "--count", "6", "--size", "150", "--seed", "8", "--json",
    ];
    let m = mpiexec(&bin, 2, &args);
    m.assert_code(0);
    // The same bits as the Open MPI build on one rank: the sum order does not depend on MPI.
    assert_eq!(
        m.json()["result"]["digest"],
        alone(&args, &[]).json()["result"]["digest"]
    );
    let bad = mpiexec(&bin, 2, &["matrix", "--count", "5"]);
    bad.assert_says_once(2, "--count 5: the matrices are multiplied in pairs");
    dir.done();
}

#[test]
fn the_wrong_launcher_is_reported_both_ways() {
    let Some(bin) = mpich_binary() else { return };
    // An MPICH build under Open MPI's mpirun.
    let mut cmd = Command::new("mpirun");
    cmd.args([
        "--oversubscribe",
        "-np",
        "2",
        &bin,
        "sleep",
        "--durations",
        "0.1",
    ]);
    let run = common::run_mpi(cmd);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("launch mistake: Open MPI mpirun started 2 processes"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("built with MPICH"), "{}", run.stderr);
    assert!(run.stdout.is_empty());
    // The Open MPI build under MPICH's mpiexec.
    let run = mpiexec(common::binary(), 2, &["sleep", "--durations", "0.1"]);
    run.assert_code(2);
    assert!(
        run.stderr
            .contains("started 2 processes, but MPI gives this process a world of 1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("built with Open MPI"), "{}", run.stderr);
}
