//! The run reports rendered: a human table by default, one JSON object with `--json`.
//!
//! The report structs are plain data built by rank 0 in [`crate::jobs`]; their field names are
//! the JSON contract of DESIGN.md (extend, never rename). Rendering never touches MPI.

use crate::jobs::info::InfoReport;
use crate::jobs::matrix::MatrixReport;
use crate::jobs::run::RunReport;
use crate::jobs::sleep::SleepReport;
use std::fmt::Write as _;

/// A report that rank 0 prints: a human table, or one JSON object.
pub trait Render {
    /// The JSON object, one line.
    fn to_json(&self) -> String;
    /// The human report.
    fn to_human(&self) -> String;
    /// [`Render::to_json`] when `json`, else [`Render::to_human`].
    fn render(&self, json: bool) -> String {
        if json {
            self.to_json()
        } else {
            self.to_human()
        }
    }
}

/// How many task rows the human report shows before summarising the rest.
pub const HUMAN_TASK_ROWS: usize = 40;

impl Render for SleepReport {
    /// The JSON object, one line.
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The human report.
    fn to_human(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "spmdkit sleep: {} task{} on {} rank{} x {} thread{} (W = {} worker{}), schedule {}",
            self.tasks.len(),
            plural(self.tasks.len()),
            self.ranks,
            plural(self.ranks),
            self.threads_per_rank,
            plural(self.threads_per_rank),
            self.workers,
            plural(self.workers),
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
            let _ = match self.tasks.len() {
                1 => writeln!(s, "  the task succeeded"),
                n => writeln!(s, "  all {n} tasks succeeded"),
            };
        } else {
            let _ = writeln!(s, "  FAILED tasks: {:?}", self.failed);
        }
        s
    }
}

impl Render for MatrixReport {
    /// The JSON object, one line.
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The human report.
    fn to_human(&self) -> String {
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

impl Render for InfoReport {
    /// The JSON object, one line.
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The human report.
    fn to_human(&self) -> String {
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
            "\n  {:>5}  {:<24}  {:>8}  {:>7}  {:<10}  threads from; cores",
            "rank", "host", "pid", "threads", "cores"
        );
        for r in &self.per_rank {
            let _ = writeln!(
                s,
                "  {:>5}  {:<24}  {:>8}  {:>7}  {:<10}  {}; {}",
                r.rank, r.host, r.pid, r.threads, r.cores, r.threads_from, r.placement
            );
        }
        s
    }
}

impl Render for RunReport {
    /// The JSON object, one line.
    fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }

    /// The human report.
    fn to_human(&self) -> String {
        let mut s = String::new();
        let slots: usize = self.slots.iter().sum();
        let _ = writeln!(
            s,
            "spmdkit run: {} task{} on {} rank{} x {} slot{} ({slots} in all), journal {}",
            self.tasks,
            plural(self.tasks),
            self.ranks,
            plural(self.ranks),
            self.slots.iter().copied().max().unwrap_or(0),
            plural(self.slots.iter().copied().max().unwrap_or(0)),
            self.journal
        );
        let _ = writeln!(
            s,
            "  ran {} attempt{}: {} ok, {} failed, {} interrupted; {} skipped (done before); {} not \
             started",
            self.ran,
            plural(self.ran),
            self.ok,
            self.failed.len(),
            self.interrupted.len(),
            self.skipped,
            self.not_started.len()
        );
        let _ = writeln!(
            s,
            "  wall {:.3} s, {:.1} tasks/s",
            self.wall_s, self.tasks_per_s
        );
        if let Some(why) = &self.stopped {
            let _ = writeln!(s, "  stopped early: {why}");
        }
        if !self.possibly_run_partly.is_empty() {
            let _ = writeln!(
                s,
                "  possibly run partly before (started without an end on record, so run again): \
                 tasks {}",
                list(&self.possibly_run_partly)
            );
        }
        if !self.interrupted.is_empty() {
            let _ = writeln!(s, "  interrupted: tasks {}", list(&self.interrupted));
        }
        if !self.not_started.is_empty() {
            let _ = writeln!(s, "  not started: tasks {}", list(&self.not_started));
        }
        let whole = &self.journal_summary;
        let _ = writeln!(
            s,
            "  journal: {} ok, {} failed{}, {} not done{}",
            whole.ok,
            whole.failed.len(),
            if whole.failed.is_empty() {
                String::new()
            } else {
                format!(" (tasks {})", list(&whole.failed))
            },
            whole.not_done.len(),
            if whole.not_done.is_empty() {
                String::new()
            } else {
                format!(" (tasks {})", list(&whole.not_done))
            }
        );
        if !whole.failed_before.is_empty() {
            let _ = writeln!(
                s,
                "  failed before this start and not run again: tasks {} (--resume --retry-failed \
                 reruns them)",
                list(&whole.failed_before)
            );
        }
        if !self.failed.is_empty() {
            let _ = writeln!(s, "  failed:");
            for f in self.failed.iter().take(HUMAN_TASK_ROWS) {
                let how = match (f.kind, f.exit_code, f.signal) {
                    (_, _, Some(sig)) if f.kind.name() == "signal" => format!("signal {sig}"),
                    (k, Some(code), _) if k.name() == "exit" => format!("exit {code}"),
                    (k, _, _) => k.name().to_string(),
                };
                let last = f.stderr_tail.trim_end().lines().last().unwrap_or("");
                let _ = writeln!(
                    s,
                    "    task {} (attempt {}): {how}: {}{}",
                    f.task,
                    f.attempt,
                    f.command,
                    if last.is_empty() {
                        String::new()
                    } else {
                        format!("\n      stderr: {last}")
                    }
                );
            }
            if self.failed.len() > HUMAN_TASK_ROWS {
                let _ = writeln!(
                    s,
                    "    ... {} more in --json and the journal",
                    self.failed.len() - HUMAN_TASK_ROWS
                );
            }
        }
        let _ = writeln!(
            s,
            "  rank  host              slots  tasks    busy s    idle s"
        );
        for r in self.per_rank.iter().take(HUMAN_TASK_ROWS) {
            let _ = writeln!(
                s,
                "  {:>4}  {:<16}  {:>5}  {:>5}  {:>8.3}  {:>8.3}",
                r.rank, r.host, r.slots, r.tasks, r.busy_s, r.idle_s
            );
        }
        s
    }
}

/// Up to 20 ids, then how many more.
use crate::jobs::text::ids as list;

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
