//! The run reports: a human table by default, one JSON object with `--json`.
//!
//! Report structs are plain data built by rank 0; their field names are the JSON contract of
//! DESIGN.md (extend, never rename). Rendering never touches MPI.

use serde::Serialize;
use std::fmt::Write as _;

/// How many task rows the human report shows before summarising the rest.
pub const HUMAN_TASK_ROWS: usize = 40;

/// One task of a `sleep` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRecord {
    /// Index in the input list.
    pub id: usize,
    /// Requested duration, seconds.
    pub duration_s: f64,
    /// The rank that ran it.
    pub rank: usize,
    /// The thread (lane) of that rank that ran it.
    pub thread: usize,
    /// Start on the job's common clock (seconds since the first rank left the starting barrier).
    pub start_s: f64,
    /// End on the same clock.
    pub end_s: f64,
    /// `Sleep time <d>`, or `None` when the task failed.
    pub result: Option<String>,
    /// The panic message of a failed task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How busy one rank was in a `sleep` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankLoad {
    /// The rank.
    pub rank: usize,
    /// Its worker threads.
    pub threads: usize,
    /// Tasks it ran.
    pub tasks: usize,
    /// Time its threads spent in tasks, summed over threads.
    pub busy_s: f64,
    /// threads × makespan − busy: time its threads could have worked but did not.
    pub idle_s: f64,
}

/// The report of a `sleep` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SleepReport {
    /// Always `"sleep"`.
    pub command: &'static str,
    /// Number of ranks.
    pub ranks: usize,
    /// Worker threads per rank (the largest, if ranks differ; see `threads`).
    pub threads_per_rank: usize,
    /// Worker threads of each rank.
    pub threads: Vec<usize>,
    /// W, the total number of workers.
    pub workers: usize,
    /// The assignment policy.
    pub schedule: String,
    /// One record per task, ordered by id.
    pub tasks: Vec<TaskRecord>,
    /// Sum of all durations: the sequential time.
    pub total_sleep_s: f64,
    /// From the common start until rank 0 held every record (same clock as the tasks).
    pub wall_s: f64,
    /// From the common start until the last task ended.
    pub makespan_s: f64,
    /// The lower bound max(longest task, total / W).
    pub ideal_s: f64,
    /// total_sleep_s / wall_s.
    pub speedup: f64,
    /// ideal_s / wall_s.
    pub efficiency: f64,
    /// Ids of the tasks that failed.
    pub failed: Vec<usize>,
    /// Load of each rank, to see imbalance.
    pub per_rank: Vec<RankLoad>,
    /// spmdkit's version.
    pub version: String,
    /// The MPI library, or `none` for a run without a launcher.
    pub mpi_library: String,
}

impl SleepReport {
    /// The JSON object, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The human report.
    pub fn to_human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "spmdkit sleep: {} tasks on {} rank{} x {} thread{} (W = {} workers), schedule {}",
            self.tasks.len(),
            self.ranks,
            plural(self.ranks),
            self.threads_per_rank,
            plural(self.threads_per_rank),
            self.workers,
            self.schedule
        );
        let _ = writeln!(
            s,
            "\n  {:>6}  {:>9}  {:>5}  {:>6}  {:>8}  {:>8}  result",
            "task", "duration", "rank", "thread", "start", "end"
        );
        for r in self.tasks.iter().take(HUMAN_TASK_ROWS) {
            let outcome = match (&r.result, &r.error) {
                (Some(text), _) => text.clone(),
                (None, Some(e)) => format!("FAILED: {e}"),
                (None, None) => "FAILED".into(),
            };
            let _ = writeln!(
                s,
                "  {:>6}  {:>8.3}s  {:>5}  {:>6}  {:>8.3}  {:>8.3}  {}",
                r.id, r.duration_s, r.rank, r.thread, r.start_s, r.end_s, outcome
            );
        }
        if self.tasks.len() > HUMAN_TASK_ROWS {
            let _ = writeln!(
                s,
                "  ... {} more tasks (all of them with --json or --output)",
                self.tasks.len() - HUMAN_TASK_ROWS
            );
        }
        let longest = self.tasks.iter().map(|t| t.duration_s).fold(0.0, f64::max);
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "  sequential  {:>9.3} s   sum of all durations",
            self.total_sleep_s
        );
        let _ = writeln!(
            s,
            "  ideal       {:>9.3} s   max(longest task {:.3} s, total / W {:.3} s)",
            self.ideal_s,
            longest,
            self.total_sleep_s / self.workers.max(1) as f64
        );
        let _ = writeln!(
            s,
            "  makespan    {:>9.3} s   common start to the end of the last task",
            self.makespan_s
        );
        let _ = writeln!(
            s,
            "  wall        {:>9.3} s   common start to every record at rank 0",
            self.wall_s
        );
        let _ = writeln!(
            s,
            "  speedup     {:>9.2} x   sequential / wall",
            self.speedup
        );
        let _ = writeln!(
            s,
            "  efficiency  {:>9.1} %   ideal / wall",
            self.efficiency * 100.0
        );
        let _ = writeln!(
            s,
            "\n  {:>5}  {:>7}  {:>8}  {:>10}  {:>10}",
            "rank", "threads", "tasks", "busy", "idle"
        );
        for r in self.per_rank.iter().take(HUMAN_TASK_ROWS) {
            let _ = writeln!(
                s,
                "  {:>5}  {:>7}  {:>8}  {:>9.3}s  {:>9.3}s",
                r.rank, r.threads, r.tasks, r.busy_s, r.idle_s
            );
        }
        if self.per_rank.len() > HUMAN_TASK_ROWS {
            let _ = writeln!(
                s,
                "  ... {} more ranks",
                self.per_rank.len() - HUMAN_TASK_ROWS
            );
        }
        let _ = writeln!(s);
        if self.failed.is_empty() {
            let _ = writeln!(s, "  all {} tasks succeeded", self.tasks.len());
        } else {
            let _ = writeln!(s, "  FAILED tasks: {:?}", self.failed);
        }
        s
    }
}

/// The numbers that identify a matrix result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixResult {
    /// Sum of all elements of S.
    pub sum: f64,
    /// Frobenius norm of S.
    pub frobenius: f64,
    /// SHA-256 of S's row-major little-endian f64 bytes, hex.
    pub digest: String,
}

/// Phase times of a matrix run, the maximum over ranks, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixTimings {
    /// Generating the input matrices.
    pub generate: f64,
    /// Multiplying the pairs.
    pub multiply: f64,
    /// Local sums and the reduction across ranks (including waiting for slower ranks).
    pub reduce: f64,
    /// From the common start until this rank's part was done.
    pub total: f64,
}

/// The report of a `matrix` run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixReport {
    /// Always `"matrix"`.
    pub command: &'static str,
    /// Number of ranks.
    pub ranks: usize,
    /// Worker threads per rank (the largest, if ranks differ).
    pub threads_per_rank: usize,
    /// Number of matrices N.
    pub count: usize,
    /// Matrix side n.
    pub size: usize,
    /// Generator seed.
    pub seed: u64,
    /// Reduction strategy.
    pub reduce: String,
    /// Communication rounds of the reduction.
    pub reduce_rounds: u32,
    /// Whether this strategy gives the same bits for any rank and thread count.
    pub bit_reproducible: bool,
    /// Sum, Frobenius norm and digest of S.
    pub result: MatrixResult,
    /// Phase times, the maximum over ranks.
    pub timings_s: MatrixTimings,
    /// 2 n³ N/2 floating-point operations over the slowest rank's multiply time.
    pub multiply_gflops: f64,
    /// spmdkit's version.
    pub version: String,
    /// The MPI library, or `none` for a run without a launcher.
    pub mpi_library: String,
}

impl MatrixReport {
    /// The JSON object, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The human report.
    pub fn to_human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "spmdkit matrix: {} matrices of {} x {} (seed {}), {} product{} summed, on {} rank{} x {} thread{}",
            self.count,
            self.size,
            self.size,
            self.seed,
            self.count / 2,
            plural(self.count / 2),
            self.ranks,
            plural(self.ranks),
            self.threads_per_rank,
            plural(self.threads_per_rank)
        );
        let _ = writeln!(
            s,
            "\n  reduce      {}, {} round{}{}",
            self.reduce,
            self.reduce_rounds,
            plural(self.reduce_rounds as usize),
            if self.bit_reproducible {
                " (same bits for any number of ranks and threads)"
            } else {
                " (bits may change with the number of ranks)"
            }
        );
        let _ = writeln!(s, "  sum         {:.6}", self.result.sum);
        let _ = writeln!(s, "  frobenius   {:.6}", self.result.frobenius);
        let _ = writeln!(s, "  digest      sha256:{}", self.result.digest);
        let t = &self.timings_s;
        let _ = writeln!(s, "\n  time (slowest rank)");
        let _ = writeln!(s, "    generate  {:>8.4} s", t.generate);
        let _ = writeln!(
            s,
            "    multiply  {:>8.4} s   {:.1} GFLOP/s",
            t.multiply, self.multiply_gflops
        );
        let _ = writeln!(s, "    reduce    {:>8.4} s", t.reduce);
        let _ = writeln!(s, "    total     {:>8.4} s", t.total);
        s
    }
}

/// What each rank of the job reported about itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RankInfo {
    /// The rank.
    pub rank: usize,
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Its worker threads.
    pub threads: usize,
    /// Where the thread count came from.
    pub threads_from: String,
}

/// The report of `spmdkit info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InfoReport {
    /// Always `"info"`.
    pub command: &'static str,
    /// spmdkit's version.
    pub version: String,
    /// `mpi` or `in-process` (started without a launcher; MPI not initialised).
    pub backend: String,
    /// The MPI library the binary is linked with.
    pub mpi_library: String,
    /// The MPI standard version it implements.
    pub mpi_standard: String,
    /// Number of ranks.
    pub ranks: usize,
    /// Worker threads per rank (the largest, if ranks differ).
    pub threads_per_rank: usize,
    /// Distinct host names, in rank order of first appearance.
    pub hosts: Vec<String>,
    /// One entry per rank.
    pub per_rank: Vec<RankInfo>,
    /// The HDF5 library version.
    pub hdf5_version: String,
}

impl InfoReport {
    /// The JSON object, one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The human report.
    pub fn to_human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "spmdkit {}", self.version);
        let _ = writeln!(s, "  backend        {}", self.backend);
        let _ = writeln!(s, "  MPI library    {}", self.mpi_library);
        let _ = writeln!(s, "  MPI standard   {}", self.mpi_standard);
        let _ = writeln!(s, "  HDF5           {}", self.hdf5_version);
        let _ = writeln!(
            s,
            "  ranks          {} on {} host{}",
            self.ranks,
            self.hosts.len(),
            plural(self.hosts.len())
        );
        let _ = writeln!(s, "  threads/rank   {}", self.threads_per_rank);
        let _ = writeln!(
            s,
            "\n  {:>5}  {:<24}  {:>8}  {:>7}  threads from",
            "rank", "host", "pid", "threads"
        );
        for r in &self.per_rank {
            let _ = writeln!(
                s,
                "  {:>5}  {:<24}  {:>8}  {:>7}  {}",
                r.rank, r.host, r.pid, r.threads, r.threads_from
            );
        }
        s
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
