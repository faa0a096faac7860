//! The batch scripts in `slurm/` submitted with `sbatch` to a real single-node Slurm cluster
//! (munge, slurmctld, slurmd) that this test starts and stops. Needs root and slurm-wlm + munge.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::{assert_ended, read, Cluster};
use common::{alone, Scratch};

#[test]
fn batch_scripts_run_on_a_real_slurm_cluster() {
    if !common::runs_as_root("Slurm test", "to start munge and the Slurm daemons") {
        return;
    }
    let state = Scratch::new("slurm-state");
    let work = Scratch::new("slurm-work");
    let cluster = Cluster::up("slurm/testcluster.sh", &state.0, &[]);
    let bin = common::binary();
    let bench = bin.replace("/spmdkit", "/spmdkit-bench");

    // sleep with srun: 2 ranks x 4 threads from the script's headers.
    let job = cluster.run_job(
        "slurm/sleep.sbatch",
        &work.0,
        &[
            ("SPMDKIT", bin),
            ("SPMDKIT_ARGS", "--durations 0.2,0.1,0.3 --json"),
        ],
    );
    assert_ended(&job, "COMPLETED", "0:0");
    let id = &job["id"];
    let report: serde_json::Value =
        serde_json::from_str(read(&work.0, format!("spmdkit-sleep-{id}.out")).trim()).unwrap();
    assert_eq!(report["ranks"], 2);
    assert_eq!(
        report["threads_per_rank"], 4,
        "threads from SLURM_CPUS_PER_TASK"
    );
    let h5 = common::read_h5(&work.path(&format!("spmdkit-sleep-{id}.h5")));
    assert_eq!(h5["attrs"]["ranks"], 2);
    assert_eq!(
        h5["datasets"]["/tasks/duration_s"]["data"],
        serde_json::json!([0.2, 0.1, 0.3])
    );

    // The documented mpirun variant inside the allocation, with the dynamic schedule.
    let job = cluster.run_job(
        "slurm/sleep.sbatch",
        &work.0,
        &[
            ("SPMDKIT", bin),
            ("LAUNCHER", "mpirun"),
            (
                "SPMDKIT_ARGS",
                "--durations 0.1,0.1,0.1,0.1 --schedule dynamic --json",
            ),
        ],
    );
    assert_ended(&job, "COMPLETED", "0:0");
    let out = read(&work.0, format!("spmdkit-sleep-{}.out", job["id"]));
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (report["ranks"].as_u64(), report["schedule"].as_str()),
        (Some(2), Some("dynamic"))
    );

    // matrix: the digest is the single-rank digest.
    let args = "--count 6 --size 200 --seed 4 --json";
    let job = cluster.run_job(
        "slurm/matrix.sbatch",
        &work.0,
        &[("SPMDKIT", bin), ("SPMDKIT_ARGS", args)],
    );
    assert_ended(&job, "COMPLETED", "0:0");
    let out = read(&work.0, format!("spmdkit-matrix-{}.out", job["id"]));
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let mut single_args = vec!["matrix"];
    single_args.extend(args.split(' '));
    let single = alone(&single_args, &[]);
    assert_eq!(
        report["result"]["digest"],
        single.json()["result"]["digest"]
    );
    assert!(work
        .path(&format!("spmdkit-matrix-{}.h5", job["id"]))
        .exists());

    // The reduction benchmark writes its CSV where asked.
    let job = cluster.run_job(
        "slurm/bench.sbatch",
        &work.0,
        &[
            ("SPMDKIT_BENCH", &bench),
            ("BENCH_ARGS", "--sizes 8,64K --iterations 5"),
        ],
    );
    assert_ended(&job, "COMPLETED", "0:0");
    let csv = read(&work.0, format!("spmdkit-bench-{}.csv", job["id"]));
    let rows: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        rows[0],
        "strategy,ranks,bytes,iterations,rounds,min_s,avg_s,max_s"
    );
    assert_eq!(rows.len(), 1 + 2 * 3, "{csv}");
    assert!(
        rows[1..].iter().all(|r| r.split(',').nth(1) == Some("4")),
        "{csv}"
    );

    // The scaling benchmark under srun: one row per thread count, at the job's 4 ranks.
    let job = cluster.run_job(
        "slurm/bench.sbatch",
        &work.0,
        &[
            ("SPMDKIT_BENCH", &bench),
            ("BENCH_MODE", "matrix"),
            ("BENCH_ARGS", "--count 4 --size 100 --threads 1 --repeats 1"),
        ],
    );
    assert_ended(&job, "COMPLETED", "0:0");
    let csv = read(&work.0, format!("spmdkit-bench-{}.csv", job["id"]));
    // The CSV's columns by name: one row, at 4 ranks of 1 thread.
    let mut lines = csv.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let column = |name: &str| header.iter().position(|h| *h == name).expect(name);
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(
        (rows[0][column("ranks")], rows[0][column("threads")]),
        ("4", "1"),
        "{csv}"
    );

    // The command farm: every command runs, on both ranks' slots, and the journal says so; a
    // second start of the same job (what a requeue does) resumes from the journal and runs
    // nothing twice.
    std::fs::write(
        work.path("cmds.txt"),
        (1..=12)
            .map(|i| format!("echo {i} $SPMDKIT_RANK >> done.txt\n"))
            .collect::<String>(),
    )
    .unwrap();
    let journal = work.path("farm.journal");
    let j = journal.to_str().unwrap();
    let farm_env = [
        ("SPMDKIT", bin),
        ("TASKS", "cmds.txt"),
        ("JOURNAL", j),
        ("SPMDKIT_ARGS", "--json --quiet"),
    ];
    let job = cluster.run_job("slurm/run.sbatch", &work.0, &farm_env);
    assert_ended(&job, "COMPLETED", "0:0");
    let report: serde_json::Value =
        serde_json::from_str(read(&work.0, format!("spmdkit-run-{}.out", job["id"])).trim())
            .unwrap();
    assert_eq!(
        (report["ranks"].as_u64(), report["ok"].as_u64()),
        (Some(2), Some(12)),
        "{report}"
    );
    assert_eq!(
        report["slots"],
        serde_json::json!([2, 2]),
        "slots from --cpus-per-task"
    );
    let job = cluster.run_job("slurm/run.sbatch", &work.0, &farm_env);
    assert_ended(&job, "COMPLETED", "0:0");
    let err = read(&work.0, format!("spmdkit-run-{}.err", job["id"]));
    assert!(err.contains("resuming"), "{err}");
    let again: serde_json::Value =
        serde_json::from_str(read(&work.0, format!("spmdkit-run-{}.out", job["id"])).trim())
            .unwrap();
    assert_eq!(
        (again["ran"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(12))
    );
    assert_eq!(read(&work.0, "done.txt".into()).lines().count(), 12);

    // Bad input fails the job with spmdkit's exit code, and nothing is written.
    let job = cluster.run_job(
        "slurm/sleep.sbatch",
        &work.0,
        &[("SPMDKIT", bin), ("SPMDKIT_ARGS", "--durations 0.1,-5")],
    );
    assert_ended(&job, "FAILED", "2:0");
    let err = read(&work.0, format!("spmdkit-sleep-{}.err", job["id"]));
    assert_eq!(
        err.matches("'-5' is not a valid duration").count(),
        1,
        "{err}"
    );
    assert!(!work
        .path(&format!("spmdkit-sleep-{}.h5", job["id"]))
        .exists());

    // An MPICH build: with srun's pmi2 plugin it runs; with the default pmix plugin its processes
    // would be unrelated singletons, which spmdkit detects and refuses.
    if let Ok(mpich) = std::env::var("SPMDKIT_MPICH_BIN") {
        let env = [
            ("SPMDKIT", mpich.as_str()),
            ("SPMDKIT_ARGS", "--durations 0.1,0.2 --json"),
            ("SRUN_MPI", "pmi2"),
        ];
        let job = cluster.run_job("slurm/sleep.sbatch", &work.0, &env);
        assert_ended(&job, "COMPLETED", "0:0");
        let out = read(&work.0, format!("spmdkit-sleep-{}.out", job["id"]));
        let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(report["ranks"], 2);
        assert!(report["mpi_library"].as_str().unwrap().starts_with("MPICH"));
        let env = [
            ("SPMDKIT", mpich.as_str()),
            ("SPMDKIT_ARGS", "--durations 0.1"),
        ];
        let job = cluster.run_job("slurm/sleep.sbatch", &work.0, &env);
        assert_ended(&job, "FAILED", "2:0");
        let err = read(&work.0, format!("spmdkit-sleep-{}.err", job["id"]));
        assert_eq!(
            err.matches("launch mistake: Slurm srun started 2 processes")
                .count(),
            1,
            "{err}"
        );
    } else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must build the MPICH binary (SPMDKIT_MPICH_BIN)"
        );
    }

    drop(cluster);
    state.done();
    work.done();
}
