//! spmdkit across simulated hosts: three network namespaces, each with its own address and host
//! name, linked by a bridge; Open MPI's `mpirun` starts ranks on them from a hostfile through a
//! remote-shell agent in place of ssh, so rank-to-rank traffic really crosses TCP links.
//! Needs root (namespaces); CI runs as root.

mod common;

use common::{alone, run_bounded, Run, Scratch, HANG_LIMIT};
use std::path::PathBuf;
use std::process::Command;

const HOSTS: usize = 3;

fn script(name: &str) -> PathBuf {
    common::repo("tests/multihost").join(name)
}

/// The test hosts; removed when dropped, also when a test fails.
struct TestHosts;

impl TestHosts {
    fn up(n: usize) -> TestHosts {
        let mut cmd = Command::new(script("testhosts.sh"));
        cmd.args(["up", &n.to_string()]);
        run_bounded(cmd, HANG_LIMIT).assert_code(0);
        TestHosts
    }

    fn host(i: usize) -> String {
        format!("spmdk-node{i}")
    }

    /// Bytes sent and received on a host's link.
    fn traffic(i: usize) -> (u64, u64) {
        let read = |what: &str| -> u64 {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", &Self::host(i), "cat"])
                .arg(format!("/sys/class/net/mpi0/statistics/{what}_bytes"));
            let run = run_bounded(cmd, HANG_LIMIT);
            run.assert_code(0);
            run.stdout.trim().parse().expect("a byte count")
        };
        (read("tx"), read("rx"))
    }

    /// Processes running inside host `i`'s namespace.
    fn pids(i: usize) -> Vec<i32> {
        let out = Command::new("ip")
            .args(["netns", "pids", &Self::host(i)])
            .output()
            .expect("ip netns pids");
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Runs `job` while `fault` happens `after` seconds into it.
    fn with_fault_after(
        &self,
        after: f64,
        fault: impl FnOnce() + Send,
        job: impl FnOnce() -> Run,
    ) -> Run {
        std::thread::scope(|s| {
            s.spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs_f64(after));
                fault();
            });
            job()
        })
    }

    /// `mpirun` on host 1 over every host, with `extra` launcher options and spmdkit `args`.
    fn mpirun(&self, hostfile: &std::path::Path, extra: &[&str], args: &[&str]) -> Run {
        let mut words: Vec<String> = vec![
            "timeout".into(),
            "60".into(),
            "mpirun".into(),
            "--hostfile".into(),
            hostfile.display().to_string(),
            "--mca".into(),
            "plm_rsh_agent".into(),
            script("agent.sh").display().to_string(),
            "--mca".into(),
            "btl_tcp_if_include".into(),
            "10.250.77.0/24".into(),
            "--mca".into(),
            "oob_tcp_if_include".into(),
            "10.250.77.0/24".into(),
            "--map-by".into(),
            "node".into(),
            "--bind-to".into(),
            "none".into(),
            "-np".into(),
            HOSTS.to_string(),
        ];
        words.extend(extra.iter().map(|s| s.to_string()));
        words.push(common::binary().into());
        words.extend(args.iter().map(|s| s.to_string()));
        let mut cmd = Command::new(script("agent.sh"));
        cmd.arg(Self::host(1)).arg(words.join(" "));
        cmd.env("OMPI_MCA_mpi_yield_when_idle", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        run_bounded(cmd, HANG_LIMIT)
    }
}

impl Drop for TestHosts {
    fn drop(&mut self) {
        let mut cmd = Command::new(script("testhosts.sh"));
        cmd.arg("down");
        let _ = cmd.status();
    }
}

#[test]
fn info_sleep_and_matrix_across_three_hosts() {
    if !common::runs_as_root("multi-host test", "for network namespaces") {
        return;
    }
    let hosts = TestHosts::up(HOSTS);
    let dir = Scratch::new("multihost");
    let hostfile = dir.path("hosts");
    let lines: String = (1..=HOSTS)
        .map(|i| format!("{} slots=1\n", TestHosts::host(i)))
        .collect();
    std::fs::write(&hostfile, lines).unwrap();

    // info: one rank on each host, each seeing its own host name.
    let info = hosts.mpirun(&hostfile, &[], &["info", "--json"]);
    info.assert_code(0);
    let info = info.json();
    assert_eq!(info["ranks"], HOSTS);
    let want: Vec<String> = (1..=HOSTS).map(TestHosts::host).collect();
    assert_eq!(info["hosts"], serde_json::json!(want));
    for (i, r) in info["per_rank"].as_array().unwrap().iter().enumerate() {
        assert_eq!(r["host"], TestHosts::host(i + 1));
    }

    // sleep: the classic tasks spread over the hosts.
    let sleep = hosts.mpirun(&hostfile, &[], &["sleep", "--threads", "6", "--json"]);
    sleep.assert_code(0);
    let report = sleep.json();
    common::check_report(&report, &common::CLASSIC, HOSTS, 6);

    // run: the commands spread over the hosts, and each says the host it ran on.
    let farm_dir = Scratch::new("multihost-farm");
    let tasks = farm_dir.path("cmds.txt");
    std::fs::write(&tasks, "sleep 0.2; hostname\n".repeat(12)).unwrap();
    let journal = farm_dir.path("farm.journal");
    let farm = hosts.mpirun(
        &hostfile,
        &[],
        &[
            "run",
            "--tasks-file",
            tasks.to_str().unwrap(),
            "--journal",
            journal.to_str().unwrap(),
            "--slots",
            "2",
            "--json",
            "--quiet",
        ],
    );
    farm.assert_code(0);
    let farm = farm.json();
    assert_eq!(
        (farm["ranks"].as_u64(), farm["ok"].as_u64()),
        (Some(HOSTS as u64), Some(12))
    );
    let mut ran_on = std::collections::HashSet::new();
    for r in farm["records"].as_array().unwrap() {
        let host = r["stdout_tail"].as_str().unwrap().trim().to_string();
        let rank = r["rank"].as_u64().unwrap() as usize;
        assert_eq!(host, TestHosts::host(rank + 1), "{r}");
        ran_on.insert(host);
    }
    assert_eq!(
        ran_on.len(),
        HOSTS,
        "every host ran some commands: {ran_on:?}"
    );
    let journal_text = std::fs::read_to_string(&journal).unwrap();
    for i in 1..=HOSTS {
        let host = format!("\"host\":\"{}\"", TestHosts::host(i));
        assert!(journal_text.contains(&host), "the journal names {host}");
    }
    farm_dir.done();

    // matrix: the partial sums cross the links, and the digest is the single-rank digest.
    let args = [
        "matrix", "--count", "6", "--size", "300", "--seed", "11", "--json",
    ];
    let before: Vec<(u64, u64)> = (1..=HOSTS).map(TestHosts::traffic).collect();
    let out = dir.path("m.h5");
    let mut with_output = args.to_vec();
    let out_str = out.display().to_string();
    with_output.extend(["--output", &out_str]);
    let matrix = hosts.mpirun(&hostfile, &[], &with_output);
    matrix.assert_code(0);
    let after: Vec<(u64, u64)> = (1..=HOSTS).map(TestHosts::traffic).collect();
    let matrix = matrix.json();
    assert_eq!(matrix["ranks"], HOSTS);
    assert_eq!(matrix["reduce_rounds"], 2);
    let bytes = 300 * 300 * 8;
    // Ranks 1 and 2 (hosts 2 and 3) each send their partial sum to rank 0 (host 1).
    for (i, (b, a)) in before.iter().zip(&after).enumerate().skip(1) {
        assert!(
            a.0 - b.0 >= bytes,
            "host {} sent only {} bytes",
            i + 1,
            a.0 - b.0
        );
    }
    assert!(
        after[0].1 - before[0].1 >= bytes,
        "host 1 received only {} bytes",
        after[0].1 - before[0].1
    );
    let single = alone(&args, &[]);
    single.assert_code(0);
    assert_eq!(
        matrix["result"]["digest"],
        single.json()["result"]["digest"]
    );
    assert_eq!(dir.entries(), vec!["hosts", "m.h5"]);

    // A lost host: its processes killed, then (last, since it breaks the host) its link cut.
    // Both must end the job within 15 s with an error, however long the tasks would have run.
    let long = [
        "sleep",
        "--threads",
        "1",
        "--durations",
        "20,20,20",
        "--quiet",
    ];
    let killed = hosts.with_fault_after(
        1.5,
        || {
            for pid in TestHosts::pids(3) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        },
        || hosts.mpirun(&hostfile, &[], &long),
    );
    assert_ne!(killed.code, Some(0), "{}", killed.stderr);
    assert!(
        killed.elapsed.as_secs_f64() < 15.0,
        "took {:?}",
        killed.elapsed
    );
    let keepalive = [
        "--mca",
        "oob_tcp_keepalive_time",
        "1",
        "--mca",
        "oob_tcp_keepalive_intvl",
        "1",
        "--mca",
        "oob_tcp_keepalive_probes",
        "3",
    ];
    let cut = hosts.with_fault_after(
        1.5,
        || {
            let mut cmd = Command::new("ip");
            cmd.args(["-n", &TestHosts::host(3), "link", "set", "mpi0", "down"]);
            run_bounded(cmd, HANG_LIMIT).assert_code(0);
        },
        || hosts.mpirun(&hostfile, &keepalive, &long),
    );
    assert_ne!(cut.code, Some(0), "{}", cut.stderr);
    assert!(cut.elapsed.as_secs_f64() < 15.0, "took {:?}", cut.elapsed);
    eprintln!(
        "lost host: processes killed after 1.5 s, job ended after {:?}; link cut after 1.5 s, \
         job ended after {:?}",
        killed.elapsed, cut.elapsed
    );
    // Nothing of the job survives on the hosts that stayed reachable.
    for i in 1..=2 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !TestHosts::pids(i).is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(
            TestHosts::pids(i),
            Vec::<i32>::new(),
            "processes left on host {i}"
        );
    }

    drop(hosts);
    let left = Command::new("ip").args(["netns", "list"]).output().unwrap();
    // This test's hosts and bridge only: the Slurm test cluster (spmdk-c*, spmdk-head) may be up
    // beside it.
    let left = String::from_utf8_lossy(&left.stdout).into_owned();
    assert!(
        !left.contains("spmdk-node") && !left.contains("spmdk-br"),
        "namespaces removed: {left}"
    );
    dir.done();
}
