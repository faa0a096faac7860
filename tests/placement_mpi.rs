//! Placement under the real `mpirun`: which cores each rank runs on (`spmdkit info`'s `cores`
//! and `placement`) for Open MPI's default binding, `--bind-to core`, `--bind-to none` and
//! `--map-by slot:PE=N`, at several rank and thread counts. The decision itself is unit-tested
//! in `src/collective/placement.rs` with given masks.

mod common;

use common::{run_mpi, Run};
use serde_json::Value;
use spmdkit::collective::placement::parse_cpu_list;
use spmdkit::comm::cores_here;
use std::process::Command;

/// `mpirun <launch...> -np <np> spmdkit info --json <args...>`, nothing else on the line.
fn info(launch: &[&str], np: usize, args: &[&str]) -> Run {
    let mut cmd = Command::new("mpirun");
    cmd.args(launch)
        .args(["-np", &np.to_string()])
        .arg(common::binary())
        .args(["info", "--json"])
        .args(args);
    run_mpi(cmd)
}

fn cores_of(r: &Value) -> Vec<usize> {
    let text = r["cores"].as_str().unwrap();
    parse_cpu_list(text).unwrap_or_else(|| panic!("not a CPU list: {text}"))
}

fn ranks(run: &Run) -> Vec<Value> {
    run.assert_code(0);
    run.json()["per_rank"].as_array().unwrap().clone()
}

#[test]
fn the_default_binding_is_widened_to_the_threads_when_there_is_room() {
    let n = cores_here();
    assert!(n >= 2, "these tests need 2 cores");
    // One rank with 2 threads: Open MPI binds it to one core; it gets 2 of its own.
    let r = ranks(&info(&[], 1, &["--threads", "2"]));
    assert_eq!(cores_of(&r[0]).len(), 2, "{r:?}");
    assert!(
        r[0]["placement"]
            .as_str()
            .unwrap()
            .starts_with("widened from the launcher's 1 core(s) to 2"),
        "{r:?}"
    );
    // No --threads: the rank's share is the whole host.
    let r = ranks(&info(&[], 1, &[]));
    assert_eq!(
        (r[0]["threads"].as_u64(), cores_of(&r[0]).len()),
        (Some(n as u64), n),
        "{r:?}"
    );
    assert_eq!(r[0]["threads_from"], "its share of the host's cores");
    // One thread: its one core is already right.
    let r = ranks(&info(&[], 1, &["--threads", "1"]));
    assert_eq!(cores_of(&r[0]).len(), 1, "{r:?}");
    assert!(!r[0]["placement"].as_str().unwrap().starts_with("widened"));
    // Two ranks of one thread: one core each, not the same one.
    let r = ranks(&info(&[], 2, &[]));
    let (a, b) = (cores_of(&r[0]), cores_of(&r[1]));
    assert_eq!((a.len(), b.len()), (1, 1), "{r:?}");
    assert_ne!(a, b, "{r:?}");
    assert!(r.iter().all(|x| x["threads"] == 1));
}

#[test]
fn no_room_keeps_the_binding_and_says_why() {
    let n = cores_here();
    // More ranks x threads than cores, at n ranks and at n + 1 (a rank count that is not a
    // power of two here): nothing is widened, and each rank says why. Rank 0 notes, once, the
    // ranks whose threads outnumber their own cores: under Open MPI's default binding (one
    // core each up to 2 ranks, oversubscribed ranks unbound) that depends on the rank count.
    for np in [n, n + 1] {
        let run = info(&["--oversubscribe"], np, &["--threads", "2"]);
        let r = ranks(&run);
        for x in &r {
            let how = x["placement"].as_str().unwrap();
            assert!(
                how.starts_with("kept:")
                    && how.contains(&format!("= {} > the {n} core(s)", 2 * np)),
                "np {np}: {x}"
            );
        }
        let short = r.iter().any(|x| cores_of(x).len() < 2);
        assert_eq!(
            run.stderr
                .matches("threads will take turns on cores")
                .count(),
            usize::from(short),
            "np {np}: a note from rank 0 exactly when a rank has fewer cores than threads: {}",
            run.stderr
        );
    }
}

#[test]
fn a_binding_given_on_the_command_line_is_kept() {
    // --bind-to core with 2 threads: still one core, and said so.
    let run = info(&["--bind-to", "core"], 1, &["--threads", "2"]);
    let r = ranks(&run);
    assert_eq!(cores_of(&r[0]).len(), 1, "{r:?}");
    assert_eq!(r[0]["placement"], "kept: chosen by --bind-to core");
    assert!(
        run.stderr.contains("rank 0 on ") && run.stderr.contains("runs 2 threads on 1 core(s)"),
        "{}",
        run.stderr
    );
    // --bind-to none: every core, and the default threads are the rank's share.
    let n = cores_here();
    let r = ranks(&info(&["--bind-to", "none"], 2, &[]));
    for x in &r {
        assert_eq!(cores_of(x).len(), n, "{x}");
        assert_eq!(x["placement"], "kept: chosen by --bind-to none");
        assert_eq!(x["threads"].as_u64(), Some((n as u64 / 2).max(1)), "{x}");
    }
    // --map-by slot:PE=2: two cores, two threads by default.
    let r = ranks(&info(&["--map-by", "slot:PE=2"], 1, &[]));
    assert_eq!(cores_of(&r[0]).len(), 2, "{r:?}");
    assert_eq!(r[0]["threads"], 2, "{r:?}");
    assert_eq!(r[0]["placement"], "kept: chosen by --map-by slot:PE=2");
}

#[test]
fn a_placed_rank_s_worker_threads_run_on_its_cores() {
    // The matrix job at 1 rank x 2 threads under the default binding computes the same digest
    // as alone, and its rank's threads were not held on one core: it says nothing about
    // threads taking turns.
    let args = [
        "--count",
        "4",
        "--size",
        "120",
        "--seed",
        "5",
        "--threads",
        "2",
        "--json",
    ];
    let mut cmd = Command::new("mpirun");
    cmd.args(["-np", "1"])
        .arg(common::binary())
        .arg("matrix")
        .args(args);
    let run = run_mpi(cmd);
    run.assert_code(0);
    assert!(!run.stderr.contains("take turns"), "{}", run.stderr);
    let mut single = vec!["matrix"];
    single.extend(args);
    let alone = common::alone(&single, &[]);
    assert_eq!(
        run.json()["result"]["digest"],
        alone.json()["result"]["digest"]
    );
}
