//! The batch scripts in `slurm/` across three nodes of a real Slurm cluster that this test
//! starts and stops (`slurm/testcluster-nodes.sh`: a head and three compute nodes, each in its
//! own network namespace): every workload with `srun --mpi=pmix` and with `mpirun` inside the
//! allocation; the farm's drain on the time-limit warning (sent by hand and by a real one-minute
//! limit) and its requeue, which resumes from the journal; and a node lost in the middle of
//! `run`, `sleep` and `matrix`. Needs root, slurm-wlm and munge.

#[path = "common/cluster.rs"]
mod cluster;
mod common;

use cluster::{assert_ended, read, Cluster};
use common::{
    alone, read_journal as journal, run_bounded, tasks_file, unended, wait_until, Scratch, Started,
    HANG_LIMIT,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const NODES: [&str; 3] = ["spmdk-c1", "spmdk-c2", "spmdk-c3"];
/// One rank a node, one CPU each: several jobs share the nodes at once.
const ACROSS: [&str; 3] = ["--nodes=3", "--ntasks-per-node=1", "--cpus-per-task=1"];
/// Far above what any of these jobs takes, only there to turn a hang into a failure.
const JOB_LIMIT: Duration = Duration::from_secs(180);

/// The journal split at its `run` records: one part per start of the farm.
fn runs(entries: &[Value]) -> Vec<Vec<Value>> {
    let mut parts: Vec<Vec<Value>> = Vec::new();
    for e in entries {
        if e["event"] == "run" {
            parts.push(Vec::new());
        }
        parts
            .last_mut()
            .expect("a run record first")
            .push(e.clone());
    }
    parts
}

/// Every task 1..=n ended ok exactly once over the whole journal.
fn assert_each_ok_once(entries: &[Value], n: u64) {
    let mut oks: BTreeMap<u64, usize> = BTreeMap::new();
    for e in entries {
        if e["event"] == "finished" && e["kind"] == "ok" {
            *oks.entry(e["task"].as_u64().unwrap()).or_default() += 1;
        }
    }
    let expected: BTreeMap<u64, usize> = (1..=n).map(|t| (t, 1)).collect();
    assert_eq!(oks, expected, "each task must end ok exactly once");
}

/// The last JSON report in a job's `.out` (the script appends one per start of the farm).
fn last_report(dir: &Path, name: String) -> Value {
    let out = read(dir, name);
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON report in:\n{out}"));
    serde_json::from_str(line).expect("a JSON report")
}

/// The programs running on `node` (by name), as the cluster script lists its PIDs.
fn programs_on(cluster: &Cluster, node: &str) -> Vec<String> {
    let mut names: Vec<String> = cluster
        .script(&["pids", node])
        .split_whitespace()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok())
        .map(|c| c.trim().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn batch_scripts_run_across_three_nodes() {
    if !common::runs_as_root("multi-node Slurm test", "for namespaces and daemons") {
        return;
    }
    let state = Scratch::new("slurm-nodes-state");
    let work = Scratch::new("slurm-nodes-work");
    let w = &work.0;
    let began = Instant::now();
    let cluster = Cluster::up("slurm/testcluster-nodes.sh", &state.0, &["3"]);
    eprintln!("cluster up in {:.1} s", began.elapsed().as_secs_f64());
    let bin = common::binary();
    let bench = bin.replace("/spmdkit", "/spmdkit-bench");

    // A real one-minute time limit, submitted first: it runs beside the jobs below. With
    // --signal=B:USR1@60 the warning comes at slurmctld's first limit check (every 30 s): the
    // farm drains, the script requeues the job, each start goes on from the journal.
    tasks_file(w, "limit.txt", 54, "sleep 2");
    let limit_journal = w.join("limit.journal");
    let limit_job = cluster.submit(
        "slurm/run.sbatch",
        w,
        &[&ACROSS[..], &["--time=1", "--job-name=limit"]].concat(),
        &[
            ("SPMDKIT", bin),
            ("TASKS", "limit.txt"),
            ("JOURNAL", limit_journal.to_str().unwrap()),
            ("SPMDKIT_ARGS", "--json --quiet"),
        ],
    );
    let limit_began = Instant::now();

    // `spmdkit info` from the login side, through srun: three ranks on three hosts.
    let mut srun = cluster.command("srun");
    srun.args([
        "--mpi=pmix",
        "-N",
        "3",
        "--ntasks-per-node=1",
        bin,
        "info",
        "--json",
    ]);
    srun.env("OMPI_MCA_mpi_yield_when_idle", "1");
    let info = run_bounded(srun, HANG_LIMIT);
    info.assert_code(0);
    let info = info.json();
    assert_eq!(info["ranks"], 3, "{info}");
    assert_eq!(info["hosts"], serde_json::json!(NODES), "{info}");

    // Signals to srun, as the README's table says: SIGUSR1 is passed to every task (a drain,
    // 75, every end on record); SIGTERM makes srun kill the step at once (137: the starts have
    // no end, the resume names them); one SIGINT only makes srun print the step's state.
    for (case, signals, code) in [
        ("usr1", &[libc::SIGUSR1][..], Some(75)),
        ("term", &[libc::SIGTERM][..], Some(137)),
        ("int", &[libc::SIGINT, libc::SIGUSR1][..], Some(75)),
    ] {
        tasks_file(w, "slow.txt", 6, "sleep 30");
        let journal_path = w.join(format!("srun-{case}.journal"));
        let mut srun = cluster.command("srun");
        srun.args(["--mpi=pmix", "-N", "3", "--ntasks-per-node=1", bin, "run"])
            .args(["--tasks-file", "slow.txt", "--slots", "1", "--grace", "1"])
            .args(["--kill-grace", "1", "--json", "--quiet", "--journal"])
            .arg(&journal_path)
            .current_dir(w)
            .env("OMPI_MCA_mpi_yield_when_idle", "1");
        let started = Started::new(srun);
        wait_until(HANG_LIMIT, "a command on every node", || {
            std::fs::read_to_string(&journal_path)
                .is_ok_and(|t| t.matches("\"event\":\"started\"").count() == 3)
        });
        for &signal in signals {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(started.child.id() as i32, signal) };
            std::thread::sleep(Duration::from_millis(1500));
        }
        let run = started.finish(HANG_LIMIT);
        assert_eq!(run.code, code, "{case}: {}", run.stderr);
        let records = journal(&journal_path);
        let parts = runs(&records);
        if case == "term" {
            assert_eq!(unended(&parts[0]).len(), 3, "{case}: {records:?}");
        } else {
            assert_eq!(unended(&parts[0]), BTreeSet::new(), "{case}: {records:?}");
            assert!(
                run.stderr
                    .contains("SIGUSR1 received: starting no more tasks"),
                "{case}: {}",
                run.stderr
            );
        }
        if case == "int" {
            assert!(
                run.stderr
                    .contains("srun: interrupt (one more within 1 sec to abort)"),
                "{}",
                run.stderr
            );
        }
    }

    // Many short farms across the nodes, back to back: the launches that once died in
    // MPI_Init (about 1 in 100: a message before Open MPI's handlers were registered) or lost a
    // task's end (about 1 in 200: records overtaken by the end). Every one must exit 0 with
    // every task ok once in its journal.
    tasks_file(w, "quick.txt", 12, "echo $SPMDKIT_TASK_ID");
    let repeats = 25;
    for launch in 0..repeats {
        let journal_path = w.join(format!("quick-{launch}.journal"));
        let mut srun = cluster.command("srun");
        srun.args(["--mpi=pmix", "-N", "3", "--ntasks-per-node=1", bin, "run"])
            .args(["--tasks-file", "quick.txt", "--quiet", "--journal"])
            .arg(&journal_path)
            .current_dir(w)
            .env("OMPI_MCA_mpi_yield_when_idle", "1");
        let run = run_bounded(srun, HANG_LIMIT);
        assert_eq!(run.code, Some(0), "launch {launch}: {}", run.stderr);
        assert_each_ok_once(&journal(&journal_path), 12);
    }
    eprintln!("{repeats} farms across 3 nodes, each exact");

    // Every workload with both launches, all submitted at once.
    tasks_file(
        w,
        "hosts.txt",
        12,
        "echo \"$SPMDKIT_TASK_ID $(hostname)\"; sleep 0.3",
    );
    let matrix_args = "--count 8 --size 150 --seed 9 --json";
    let mut jobs: Vec<(String, &str, &str)> = Vec::new();
    for launcher in ["srun", "mpirun"] {
        let common_env = [("SPMDKIT", bin), ("LAUNCHER", launcher)];
        let submit = |script: &str, env: &[(&str, &str)]| {
            cluster.submit(script, w, &ACROSS, &[&common_env[..], env].concat())
        };
        let sleep_args = "--durations 0.3,0.1,0.2,0.4,0.2,0.1 --json";
        jobs.push((
            submit("slurm/sleep.sbatch", &[("SPMDKIT_ARGS", sleep_args)]),
            "sleep",
            launcher,
        ));
        jobs.push((
            submit("slurm/matrix.sbatch", &[("SPMDKIT_ARGS", matrix_args)]),
            "matrix",
            launcher,
        ));
        jobs.push((
            submit(
                "slurm/bench.sbatch",
                &[
                    ("SPMDKIT_BENCH", &bench),
                    ("BENCH_ARGS", "--sizes 8,64K --iterations 5"),
                ],
            ),
            "bench",
            launcher,
        ));
        let journal = format!("{}/hosts-{launcher}.journal", w.display());
        jobs.push((
            submit(
                "slurm/run.sbatch",
                &[
                    ("TASKS", "hosts.txt"),
                    ("JOURNAL", &journal),
                    ("SPMDKIT_ARGS", "--json --quiet"),
                ],
            ),
            "run",
            launcher,
        ));
    }
    let mut single = vec!["matrix"];
    single.extend(matrix_args.split(' '));
    let single_digest = alone(&single, &[]).json()["result"]["digest"].clone();
    for (id, workload, launcher) in &jobs {
        let t = Instant::now();
        let job = cluster.wait(id, JOB_LIMIT);
        assert_ended(&job, "COMPLETED", "0:0");
        eprintln!(
            "{workload} with {launcher} across 3 nodes: job {id} done (waited {:.1} s more)",
            t.elapsed().as_secs_f64()
        );
        match *workload {
            "sleep" => {
                let report = last_report(w, format!("spmdkit-sleep-{id}.out"));
                assert_eq!(report["ranks"], 3, "{report}");
                let ranks: BTreeSet<u64> = report["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t["rank"].as_u64().unwrap())
                    .collect();
                assert_eq!(ranks, BTreeSet::from([0, 1, 2]), "{report}");
                let h5 = common::read_h5(&w.join(format!("spmdkit-sleep-{id}.h5")));
                assert_eq!(h5["attrs"]["ranks"], 3);
            }
            "matrix" => {
                let report = last_report(w, format!("spmdkit-matrix-{id}.out"));
                assert_eq!(report["ranks"], 3, "{report}");
                assert_eq!(report["result"]["digest"], single_digest, "{report}");
            }
            "bench" => {
                let csv = read(w, format!("spmdkit-bench-{id}.csv"));
                let rows: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
                assert_eq!(rows.len(), 1 + 2 * 3, "{csv}");
                assert!(
                    rows[1..].iter().all(|r| r.split(',').nth(1) == Some("3")),
                    "{csv}"
                );
            }
            _ => {
                // Each task says where it ran; the journal says the same; every node ran some.
                let entries = journal(&w.join(format!("hosts-{launcher}.journal")));
                assert_each_ok_once(&entries, 12);
                let mut started_on = BTreeMap::new();
                for e in entries.iter().filter(|e| e["event"] == "started") {
                    started_on.insert(e["task"].as_u64().unwrap(), e["host"].clone());
                }
                let mut hosts = BTreeSet::new();
                for e in entries.iter().filter(|e| e["event"] == "finished") {
                    let said = e["stdout_tail"].as_str().unwrap().trim().to_string();
                    let task = e["task"].as_u64().unwrap();
                    let host = started_on[&task].as_str().unwrap();
                    assert_eq!(said, format!("{task} {host}"), "{e}");
                    hosts.insert(host.to_string());
                }
                let all: BTreeSet<String> = NODES.iter().map(|s| s.to_string()).collect();
                assert_eq!(hosts, all, "every node runs some of the tasks");
            }
        }
    }

    // The time-limit warning, sent by hand to the batch shell (what --signal=B:USR1@60 does):
    // the farm drains (a running `sleep 2` ends within --grace), the journal is complete, the
    // job requeues itself and the second start resumes.
    tasks_file(w, "warned.txt", 30, "sleep 2");
    let warned_journal = w.join("warned.journal");
    let submit_farm = |tasks: &str, journal: &Path, extra: &[&str]| {
        let env = [
            ("SPMDKIT", bin),
            ("TASKS", tasks),
            ("JOURNAL", journal.to_str().unwrap()),
            ("SPMDKIT_ARGS", "--json --quiet"),
        ];
        cluster.submit("slurm/run.sbatch", w, &[&ACROSS[..], extra].concat(), &env)
    };
    // Waits until the journal has some ok record (the farm is running on every node).
    let wait_first_ok = |journal: &Path| {
        wait_until(
            HANG_LIMIT,
            &format!("a task ended ok in {journal:?}"),
            || std::fs::read_to_string(journal).is_ok_and(|t| t.contains("\"kind\":\"ok\"")),
        )
    };
    let warned = submit_farm("warned.txt", &warned_journal, &["--job-name=warned"]);
    // The second interruption, from outside: `scontrol requeue` (Slurm signals every process of
    // the job: the farm and its commands alike).
    tasks_file(w, "requeued.txt", 30, "sleep 2");
    let requeued_journal = w.join("requeued.journal");
    let requeued = submit_farm("requeued.txt", &requeued_journal, &["--job-name=requeued"]);
    wait_first_ok(&warned_journal);
    let mut signal = cluster.command("scancel");
    signal.args(["--signal=USR1", "--batch", &warned]);
    run_bounded(signal, HANG_LIMIT).assert_code(0);
    wait_first_ok(&requeued_journal);
    let mut requeue = cluster.command("scontrol");
    requeue.args(["requeue", &requeued]);
    run_bounded(requeue, HANG_LIMIT).assert_code(0);

    let job = cluster.wait(&warned, JOB_LIMIT);
    assert_ended(&job, "COMPLETED", "0:0");
    assert_eq!(job["Restarts"], "1", "{job:?}");
    let err = read(w, format!("spmdkit-run-{warned}.err"));
    assert!(err.contains("appeared (--stop-file)"), "{err}");
    assert!(
        err.contains("interrupted by the time-limit warning; requeueing"),
        "{err}"
    );
    assert!(err.contains("restart 1 of job"), "{err}");
    let entries = journal(&warned_journal);
    let parts = runs(&entries);
    assert_eq!(parts.len(), 2, "two starts of the farm");
    assert_eq!(
        unended(&parts[0]),
        BTreeSet::new(),
        "the drain left no task unended"
    );
    assert!(
        !entries.iter().any(|e| e["kind"] == "interrupted"),
        "running tasks ended within the grace: none was killed"
    );
    assert_each_ok_once(&entries, 30);
    let again = last_report(w, format!("spmdkit-run-{warned}.out"));
    assert!(again["skipped"].as_u64().unwrap() > 0, "{again}");

    let job = cluster.wait(&requeued, JOB_LIMIT);
    assert_ended(&job, "COMPLETED", "0:0");
    assert_eq!(job["Restarts"], "1", "{job:?}");
    let entries = journal(&requeued_journal);
    assert_each_ok_once(&entries, 30);
    // The commands killed with the job are `interrupted` (run again), not failures.
    let killed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "finished" && e["kind"] != "ok")
        .collect();
    assert!(
        killed.iter().all(|e| e["kind"] == "interrupted"),
        "{killed:?}"
    );
    let err = read(w, format!("spmdkit-run-{requeued}.err"));
    assert!(err.contains("DUE TO JOB REQUEUE"), "{err}");
    assert!(err.contains("restart 1 of job"), "{err}");

    // The real time limit: every start drained on the warning and requeued itself; none ran
    // into the limit (the job would have ended TIMEOUT).
    let job = cluster.wait(&limit_job, JOB_LIMIT);
    assert_ended(&job, "COMPLETED", "0:0");
    let restarts: u64 = job["Restarts"].parse().unwrap();
    assert!(restarts >= 1, "{job:?}");
    let err = read(w, format!("spmdkit-run-{limit_job}.err"));
    assert_eq!(
        err.matches("interrupted by the time-limit warning; requeueing")
            .count() as u64,
        restarts,
        "{err}"
    );
    assert!(!err.contains("TIME LIMIT"), "{err}");
    let entries = journal(&limit_journal);
    assert_each_ok_once(&entries, 54);
    for part in runs(&entries) {
        assert_eq!(unended(&part), BTreeSet::new(), "each drain was complete");
    }
    eprintln!(
        "a real 1-minute limit: done after {restarts} requeue(s), {:.0} s after submission",
        limit_began.elapsed().as_secs_f64()
    );

    // A node lost in the middle of three jobs: every process of spmdk-c2 is killed (a power
    // cut). sleep and matrix (not requeued) end NODE_FAIL with nothing left on the other
    // nodes and no file written; the farm is requeued by Slurm and, once the node is back,
    // resumes and runs again the tasks that were lost, naming them.
    tasks_file(w, "lost.txt", 40, "sleep 3");
    let lost_journal = w.join("lost.journal");
    let farm = submit_farm("lost.txt", &lost_journal, &["--job-name=lost"]);
    let no_requeue = [&ACROSS[..], &["--no-requeue"]].concat();
    let sleep_job = cluster.submit(
        "slurm/sleep.sbatch",
        w,
        &no_requeue,
        &[("SPMDKIT", bin), ("SPMDKIT_ARGS", "--durations 90,90,90")],
    );
    let matrix_job = cluster.submit(
        "slurm/matrix.sbatch",
        w,
        &no_requeue,
        &[
            ("SPMDKIT", bin),
            ("SPMDKIT_ARGS", "--count 100000 --size 300 --threads 1"),
        ],
    );
    // Every job has its rank on the node to lose before it goes.
    wait_until(HANG_LIMIT, "the three jobs' ranks on spmdk-c2", || {
        let on = programs_on(&cluster, "spmdk-c2");
        on.iter().filter(|p| *p == "spmdkit").count() >= 3
    });
    wait_first_ok(&lost_journal);
    let cut = Instant::now();
    cluster.script(&["kill-node", "spmdk-c2"]);
    let mut took = Vec::new();
    for id in [&sleep_job, &matrix_job] {
        let job = cluster.wait(id, JOB_LIMIT);
        took.push(cut.elapsed().as_secs_f64());
        assert_eq!(job["JobState"], "NODE_FAIL", "{job:?}");
        assert_ne!(job["ExitCode"], "0:0", "{job:?}");
    }
    let job = cluster.wait_for(&farm, JOB_LIMIT, |j| {
        j["JobState"] == "PENDING" && j["Restarts"] == "1"
    });
    eprintln!(
        "node lost: sleep and matrix ended NODE_FAIL {:.1} and {:.1} s after the cut; the farm was requeued ({})",
        took[0], took[1], job["Reason"]
    );
    for node in ["spmdk-c1", "spmdk-c3"] {
        let left = programs_on(&cluster, node);
        assert_eq!(left, vec!["slurmd".to_string()], "left on {node}");
    }
    let written: Vec<String> = work
        .entries()
        .into_iter()
        .filter(|n| {
            n.contains(&format!("-{sleep_job}.h5"))
                || n.contains(&format!("-{matrix_job}.h5"))
                || n.contains(".spmdkit-partial-")
        })
        .collect();
    assert_eq!(written, Vec::<String>::new(), "no output of a failed job");

    cluster.script(&["start-node", state.0.to_str().unwrap(), "spmdk-c2"]);
    let job = cluster.wait(&farm, JOB_LIMIT);
    assert_ended(&job, "COMPLETED", "0:0");
    let entries = journal(&lost_journal);
    let parts = runs(&entries);
    assert_eq!(parts.len(), 2, "two starts of the farm");
    let lost = unended(&parts[0]);
    let on_lost_node: BTreeSet<u64> = parts[0]
        .iter()
        .filter(|e| e["event"] == "started" && e["host"] == "spmdk-c2")
        .map(|e| e["task"].as_u64().unwrap())
        .filter(|t| lost.contains(t))
        .collect();
    assert!(!on_lost_node.is_empty(), "the lost node was running tasks");
    let report = last_report(w, format!("spmdkit-run-{farm}.out"));
    let named: BTreeSet<u64> = report["possibly_run_partly"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_u64().unwrap())
        .collect();
    assert_eq!(named, lost, "{report}");
    assert_each_ok_once(&entries, 40);

    drop(cluster);
    let mut left = Command::new("ip");
    left.args(["netns", "list"]);
    let namespaces = run_bounded(left, HANG_LIMIT).stdout;
    assert!(
        !namespaces.contains("spmdk-c") && !namespaces.contains("spmdk-head"),
        "{namespaces}"
    );
    eprintln!(
        "multi-node Slurm tests: {:.0} s in all",
        began.elapsed().as_secs_f64()
    );
    state.done();
    work.done();
}
