//! `spmdkit matrix` under `mpirun`: reproducible digests across rank and thread counts, the
//! HDF5 file checked with h5py + NumPy, and bad input.

mod common;

use common::{alone, mpirun, refused, Scratch};
use std::process::Command;

fn digest_of(run: &common::Run) -> String {
    run.assert_code(0);
    run.json()["result"]["digest"].as_str().unwrap().to_string()
}

#[test]
fn tree_digest_is_the_same_for_np_1_to_4_and_threads_1_to_4() {
    let base = [
        "matrix", "--count", "14", "--size", "96", "--seed", "17", "--json",
    ];
    let reference = digest_of(&alone(&[&base[..], &["--threads", "1"]].concat(), &[]));
    for np in 1..=4 {
        for threads in 1..=4 {
            let t = threads.to_string();
            let run = mpirun(np, &[&base[..], &["--threads", &t]].concat(), &[]);
            let report = run.json();
            assert_eq!(report["ranks"], np);
            assert_eq!(report["threads_per_rank"], threads);
            let rounds = (np as f64).log2().ceil() as u64;
            assert_eq!(report["reduce_rounds"], rounds, "ceil(log2 {np})");
            assert_eq!(digest_of(&run), reference, "np {np}, threads {threads}");
        }
    }
}

/// Partial sums between ranks of one node go through shared memory in parts (combined as they
/// come, or copied when the sibling is not held); through MPI messages with
/// `SPMDKIT_SHARED_MEMORY=0`. The bits are the same either way. 300² values are 11 parts, the
/// last one short; at 3 ranks rank 0 takes nodes of both kinds from ranks 1 and 2.
#[test]
fn tree_digest_is_the_same_through_shared_memory_and_messages() {
    let base = [
        "matrix", "--count", "14", "--size", "300", "--seed", "5", "--json",
    ];
    let reference = digest_of(&alone(&base, &[]));
    for np in [2, 3, 4] {
        for shm in ["1", "0"] {
            let run = mpirun(np, &base, &[("SPMDKIT_SHARED_MEMORY", shm)]);
            assert_eq!(digest_of(&run), reference, "np {np}, shared memory {shm}");
        }
    }
}

#[test]
fn classic_defaults_and_every_strategy_agree() {
    let tree = mpirun(2, &["matrix", "--json"], &[]);
    let report = tree.json();
    assert_eq!(report["count"], 4);
    assert_eq!(report["size"], 1000);
    assert_eq!(report["reduce"], "tree");
    assert_eq!(report["bit_reproducible"], true);
    for key in ["generate", "multiply", "reduce", "total"] {
        assert!(report["timings_s"][key].as_f64().unwrap() >= 0.0);
    }
    let sum = report["result"]["sum"].as_f64().unwrap();
    let frob = report["result"]["frobenius"].as_f64().unwrap();
    // Each element of a product of two standard-normal 1000 x 1000 matrices has variance 1000,
    // so the Frobenius norm of the sum of two is about sqrt(2 * 1000 * 10^6).
    assert!(
        (frob / (2e9f64).sqrt() - 1.0).abs() < 0.01,
        "frobenius {frob}"
    );
    for strategy in ["linear", "native"] {
        let other = mpirun(
            3,
            &["matrix", "--json", "--reduce", strategy, "--size", "1000"],
            &[],
        );
        other.assert_code(0);
        let r = other.json();
        assert_eq!(r["reduce"], strategy);
        assert_eq!(r["bit_reproducible"], false);
        assert_eq!(r["reduce_rounds"], 1);
        let s = r["result"]["sum"].as_f64().unwrap();
        assert!((s - sum).abs() <= 1e-9 * frob, "{strategy}: {s} vs {sum}");
    }
}

#[test]
fn different_seeds_give_different_results() {
    let a = digest_of(&alone(
        &["matrix", "--size", "32", "--seed", "1", "--json"],
        &[],
    ));
    let b = digest_of(&alone(
        &["matrix", "--size", "32", "--seed", "2", "--json"],
        &[],
    ));
    assert_ne!(a, b);
}

#[test]
fn human_report_shows_result_and_times() {
    let run = mpirun(3, &["matrix", "--size", "64", "--count", "6"], &[]);
    run.assert_code(0);
    for needle in [
        "spmdkit matrix: 6 matrices of 64 x 64 (seed 1), 3 products summed, on 3 ranks",
        "tree, 2 rounds (same bits for any number of ranks and threads)",
        "digest      sha256:",
        "GFLOP/s",
    ] {
        assert!(
            run.stdout.contains(needle),
            "missing '{needle}':\n{}",
            run.stdout
        );
    }
}

#[test]
fn hdf5_result_is_the_sum_of_the_saved_input_products() {
    let dir = Scratch::new("h5matrix");
    let out = dir.path("m.h5");
    let run = mpirun(
        3,
        &[
            "matrix",
            "--count",
            "6",
            "--size",
            "40",
            "--seed",
            "3",
            "--save-inputs",
            "--json",
            "--output",
            out.to_str().unwrap(),
        ],
        &[],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(dir.entries(), vec!["m.h5"]);
    let check = common::repo("tests/check_matrix_h5.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(check).arg(&out);
    let py = common::run_bounded(cmd, common::HANG_LIMIT);
    py.assert_code(0);
    let facts: serde_json::Value = serde_json::from_str(&py.stdout).unwrap();
    assert_eq!(facts["digest_attr"], report["result"]["digest"]);
    assert_eq!(facts["digest_of_result"], report["result"]["digest"]);
    assert_eq!(facts["inputs"], 6);
    assert!(facts["max_abs_error"].as_f64().unwrap() < 1e-9, "{facts}");
    for (attr, want) in [("command", "matrix"), ("reduce", "tree")] {
        assert_eq!(facts["attrs"][attr], want);
    }
    for (attr, want) in [
        ("ranks", 3),
        ("count", 6),
        ("size", 40),
        ("seed", 3),
        ("reduce_rounds", 2),
    ] {
        assert_eq!(facts["attrs"][attr], want, "{attr}");
    }
    assert_eq!(facts["attrs"]["version"], env!("CARGO_PKG_VERSION"));
    dir.done();
}

#[test]
fn bad_matrix_input_is_refused_before_any_work() {
    refused(
        &["matrix", "--count", "3"],
        &[],
        "--count 3: the matrices are multiplied in pairs",
    );
    refused(
        &["matrix", "--count", "0"],
        &[],
        "--count 0: the matrices are multiplied in pairs",
    );
    refused(
        &["matrix", "--count", "-2"],
        &[],
        "--count -2: expected a whole, even number",
    );
    refused(
        &["matrix", "--size", "0"],
        &[],
        "--size 0: a matrix needs at least 1 row",
    );
    refused(
        &["matrix", "--size", "99999999999"],
        &[],
        "--size 99999999999: an n x n matrix must have at most",
    );
    refused(
        &["matrix", "--size", "big"],
        &[],
        "--size big: expected a whole number",
    );
    refused(
        &["matrix", "--seed", "-1"],
        &[],
        "--seed -1: expected a whole number",
    );
    refused(&["matrix", "--reduce", "fastest"], &[], "'fastest'");
    refused(&["matrix", "--threads", "0"], &[], "--threads = '0'");
    refused(
        &["matrix", "--save-inputs", "--output"],
        &[],
        "a value is required for '--output",
    );
}

#[test]
fn a_run_that_cannot_fit_is_refused_with_the_numbers() {
    // 40000^2 f64 = 11.9 GiB per matrix: more than the 1 GiB budget of every rank.
    refused(
        &["matrix", "--size", "40000"],
        &[("SPMDKIT_MEMORY_PER_RANK", "1G")],
        "not enough memory: this rank needs 83.4 GiB (7 matrices of 11.9 GiB) but has 1.0 GiB",
    );
    // Without an explicit budget the machine's own available memory is the limit.
    refused(
        &["matrix", "--size", "46000", "--count", "64"],
        &[],
        "not enough memory",
    );
    refused(
        &["matrix"],
        &[("SPMDKIT_MEMORY_PER_RANK", "plenty")],
        "SPMDKIT_MEMORY_PER_RANK = 'plenty'",
    );
}

#[test]
fn an_existing_output_is_kept() {
    let dir = Scratch::new("matrixexists");
    let out = dir.path("keep.h5");
    std::fs::write(&out, b"old").unwrap();
    let run = mpirun(
        2,
        &["matrix", "--size", "8", "--output", out.to_str().unwrap()],
        &[],
    );
    run.assert_code(2);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), b"old");
    dir.done();
}

#[test]
fn threads_beyond_a_ranks_cores_are_noted_once() {
    let run_with = |binding: &str| {
        let mut cmd = std::process::Command::new("mpirun");
        cmd.args(["--bind-to", binding, "-np", "2", common::binary()])
            .args([
                "matrix",
                "--count",
                "4",
                "--size",
                "40",
                "--threads",
                "2",
                "--json",
            ]);
        common::run_mpi(cmd)
    };
    // Bound to one core each, two threads per rank take turns: rank 0 says so, once.
    let bound = run_with("core");
    bound.assert_says_once(0, "note: threads will take turns on cores: rank 0 on ");
    assert!(
        bound
            .stderr
            .contains("runs 2 threads on 1 core(s) (kept: chosen by --bind-to core)"),
        "{}",
        bound.stderr
    );
    assert!(
        bound.stderr.contains("--map-by slot:PE=N"),
        "{}",
        bound.stderr
    );
    assert_eq!(bound.json()["threads_per_rank"], 2);
    // Unbound, each rank sees every core of this 2-core machine: nothing to say.
    let free = run_with("none");
    free.assert_code(0);
    assert!(!free.stderr.contains("note:"), "{}", free.stderr);
    assert_eq!(digest_of(&bound), digest_of(&free));
}
