//! A Slurm test cluster started by one of the scripts in `slurm/` and stopped when dropped (also
//! when a test fails), with the few things the Slurm tests do with it: submit a batch script,
//! poll the job, read the files it left.

#![allow(dead_code)]

use crate::common::{repo, run_bounded, HANG_LIMIT};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A job's fields from `scontrol show job -o` (JobState, ExitCode, RestartCnt, ...).
pub type Job = HashMap<String, String>;

/// States in which a job has not ended yet.
const NOT_ENDED: [&str; 5] = [
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "REQUEUED",
];

pub struct Cluster {
    pub dir: PathBuf,
    script: PathBuf,
}

impl Cluster {
    /// Runs `script up DIR ARGS...` and keeps the cluster until dropped.
    pub fn up(script: &str, dir: &Path, args: &[&str]) -> Cluster {
        let script = repo(script);
        let mut cmd = Command::new(&script);
        cmd.arg("up").arg(dir).args(args);
        run_bounded(cmd, HANG_LIMIT).assert_code(0);
        Cluster {
            dir: dir.to_path_buf(),
            script,
        }
    }

    /// A Slurm client command pointed at this cluster.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SLURM_CONF", self.dir.join("slurm.conf"));
        cmd
    }

    /// The cluster's own script with these arguments (`kill-node`, `pids`, ...), run to its end.
    pub fn script(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(&self.script);
        cmd.args(args);
        let out = run_bounded(cmd, HANG_LIMIT);
        out.assert_code(0);
        out.stdout
    }

    /// Submits `script` from `workdir` with `sbatch_args` before it and `env` added; returns
    /// the job id.
    pub fn submit(
        &self,
        script: &str,
        workdir: &Path,
        sbatch_args: &[&str],
        env: &[(&str, &str)],
    ) -> String {
        let mut submit = self.command("sbatch");
        submit
            .arg("--parsable")
            .arg(format!("--chdir={}", workdir.display()))
            .args(sbatch_args)
            .arg(repo(script));
        submit.env("OMPI_MCA_mpi_yield_when_idle", "1");
        for (k, v) in env {
            submit.env(k, v);
        }
        let submitted = run_bounded(submit, HANG_LIMIT);
        submitted.assert_code(0);
        submitted.stdout.trim().to_string()
    }

    /// The job's fields now, with `id` added.
    pub fn show(&self, id: &str) -> Job {
        let mut show = self.command("scontrol");
        show.args(["show", "job", "-o", id]);
        let out = run_bounded(show, HANG_LIMIT);
        let mut fields: Job = out
            .stdout
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        fields.insert("id".into(), id.to_string());
        fields
    }

    /// Waits (asking every 200 ms: `sbatch --wait` polls at 2 s, 8 s, then every 32 s) until
    /// `done` holds for the job's fields, at most `limit`; returns them.
    pub fn wait_for(&self, id: &str, limit: Duration, done: impl Fn(&Job) -> bool) -> Job {
        let deadline = Instant::now() + limit;
        loop {
            let job = self.show(id);
            if done(&job) {
                return job;
            }
            assert!(
                Instant::now() < deadline,
                "job {id} not as expected after {limit:?}: {job:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the job has ended (a requeued job has not), at most `limit`.
    pub fn wait(&self, id: &str, limit: Duration) -> Job {
        self.wait_for(id, limit, ended)
    }

    /// Submits and waits for the end (at most 120 s).
    pub fn run_job(&self, script: &str, workdir: &Path, env: &[(&str, &str)]) -> Job {
        let id = self.submit(script, workdir, &[], env);
        self.wait(&id, Duration::from_secs(120))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut cmd = Command::new(&self.script);
        cmd.arg("down").arg(&self.dir);
        let _ = cmd.status();
    }
}

/// Whether the job has ended.
pub fn ended(job: &Job) -> bool {
    let state = job.get("JobState").map_or("", String::as_str);
    !state.is_empty() && !NOT_ENDED.contains(&state)
}

/// The job ended in `state` with `exit_code` (Slurm's `code:signal`). Otherwise the test fails
/// with what the job wrote (a crash report of spmdkit's is in its stderr) and the kernel's last
/// segfault lines.
pub fn assert_ended(job: &Job, state: &str, exit_code: &str) {
    let got = (job["JobState"].as_str(), job["ExitCode"].as_str());
    if got != (state, exit_code) {
        let tail = |key: &str| {
            job.get(key)
                .and_then(|path| std::fs::read_to_string(path).ok())
                .map(|text| {
                    let lines: Vec<&str> = text.lines().collect();
                    lines[lines.len().saturating_sub(80)..].join("\n")
                })
                .unwrap_or_default()
        };
        let kernel = Command::new("dmesg")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.contains("segfault") || l.contains("general protection"))
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default();
        panic!(
            "job {} ended {got:?}, expected ({state}, {exit_code}): {job:?}\n--- its stdout:\n{}\n--- its \
             stderr:\n{}\n--- the kernel's last segfaults:\n{kernel}",
            job.get("id").map_or("?", String::as_str),
            tail("StdOut"),
            tail("StdErr")
        );
    }
}

pub fn read(dir: &Path, name: String) -> String {
    std::fs::read_to_string(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}
