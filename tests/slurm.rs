//! The batch scripts in `slurm/` submitted with `sbatch` to a real single-node Slurm cluster
//! (munge, slurmctld, slurmd) that this test starts and stops. Needs root and slurm-wlm + munge.

mod common;

use common::{alone, run_bounded, Scratch, HANG_LIMIT};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The cluster; stopped when dropped, also when a test fails.
struct Cluster {
    dir: PathBuf,
}

impl Cluster {
    fn up(dir: &Path) -> Cluster {
        let mut cmd = Command::new(repo("slurm/testcluster.sh"));
        cmd.arg("up").arg(dir);
        run_bounded(cmd, HANG_LIMIT).assert_code(0);
        Cluster {
            dir: dir.to_path_buf(),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", self.dir.join("slurm.conf"));
        cmd
    }

    /// Submits `script` from `workdir` with `env` and waits for the job to end; returns the
    /// job's fields (JobState, ExitCode, ...).
    fn run_job(
        &self,
        script: &str,
        workdir: &Path,
        env: &[(&str, &str)],
    ) -> HashMap<String, String> {
        let mut submit = self.command("sbatch");
        submit
            .arg("--parsable")
            .arg(format!("--chdir={}", workdir.display()))
            .arg(repo(script));
        submit.env("OMPI_MCA_mpi_yield_when_idle", "1");
        for (k, v) in env {
            submit.env(k, v);
        }
        let submitted = run_bounded(submit, HANG_LIMIT);
        submitted.assert_code(0);
        let id = submitted.stdout.trim().to_string();
        // `sbatch --wait` polls at 2 s, 8 s, then every 32 s; asking every 200 ms is much faster.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut show = self.command("scontrol");
            show.args(["show", "job", "-o", &id]);
            let out = run_bounded(show, HANG_LIMIT);
            let fields: HashMap<String, String> = out
                .stdout
                .split_whitespace()
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let state = fields.get("JobState").cloned().unwrap_or_default();
            let running =
                ["PENDING", "CONFIGURING", "RUNNING", "COMPLETING"].contains(&state.as_str());
            if !running && !state.is_empty() {
                let mut fields = fields;
                fields.insert("id".into(), id);
                return fields;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} still {state} after 120 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut cmd = Command::new(repo("slurm/testcluster.sh"));
        cmd.arg("down").arg(&self.dir);
        let _ = cmd.status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The job ended in `state` with `exit_code` (Slurm's `code:signal`).
fn assert_ended(job: &HashMap<String, String>, state: &str, exit_code: &str) {
    let got = (job["JobState"].as_str(), job["ExitCode"].as_str());
    assert_eq!(got, (state, exit_code), "{job:?}");
}

fn read(dir: &Path, name: String) -> String {
    std::fs::read_to_string(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn batch_scripts_run_on_a_real_slurm_cluster() {
    if !is_root() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the Slurm test as root"
        );
        eprintln!("SKIPPED: the Slurm test needs root to start munge and the Slurm daemons");
        return;
    }
    let state = Scratch::new("slurm-state");
    let work = Scratch::new("slurm-work");
    let cluster = Cluster::up(&state.0);
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
