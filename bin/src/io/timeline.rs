//! Pictures of a run: where each rank's threads spent their time.
//!
//! A [`Timeline`] has one track per worker (rank × thread, or rank × slot) and one event per task
//! on the job's common clock. It is written as a Chrome trace-event file (`.json`: Perfetto and
//! `chrome://tracing` open it; one process per rank, one thread per worker, a complete `X` event
//! per task with its id, attempt and result in `args`) or drawn as a Gantt chart (`.svg`: workers
//! down, time across, failed tasks in red, the ideal makespan as a dashed line). Both are written
//! atomically, like the HDF5 files.

use super::OutputTarget;
use crate::jobs::sleep::SleepReport;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

/// One task (or phase) on one track.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Index into [`Timeline::tracks`].
    pub track: usize,
    /// What is shown: `task 3`.
    pub name: String,
    /// Start on the common clock, seconds.
    pub start_s: f64,
    /// End on the common clock, seconds.
    pub end_s: f64,
    /// Whether it failed (drawn in red).
    pub failed: bool,
    /// What kind of event: `task`, or a phase (`generate`, `multiply`, `sum`, `reduce`); phases
    /// have colours of their own.
    pub category: &'static str,
    /// Shown with the event: id, attempt, result.
    pub args: Value,
}

/// One worker: its rank and its thread (or slot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    /// The rank.
    pub rank: usize,
    /// The thread or slot within the rank.
    pub lane: usize,
}

/// Where a run's workers spent their time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// What the run was: `spmdkit sleep, 2 ranks x 8 threads, lpt`.
    pub title: String,
    /// The workers, in rank then lane order.
    pub tracks: Vec<Track>,
    /// Every task.
    pub events: Vec<Event>,
    /// The ideal makespan, drawn as a line, when known.
    pub ideal_s: Option<f64>,
    /// What a lane of a rank is: `thread` (sleep) or `slot` (run).
    pub lane_name: &'static str,
}

/// The formats, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Chrome trace events.
    Json,
    /// A Gantt chart.
    Svg,
}

impl Format {
    /// The format of `path`, from its extension.
    ///
    /// # Errors
    /// An extension other than `.json` or `.svg`.
    pub fn of(path: &Path) -> Result<Format, String> {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("json") => Ok(Format::Json),
            Some(e) if e.eq_ignore_ascii_case("svg") => Ok(Format::Svg),
            _ => Err(format!(
                "timeline '{}': name it .json (Chrome trace events, for Perfetto or \
                 chrome://tracing) or .svg (a Gantt chart)",
                path.display()
            )),
        }
    }
}

impl Timeline {
    /// The timeline of a `sleep` run: one track per rank × thread, one event per task.
    pub fn from_sleep(report: &SleepReport) -> Self {
        let tracks: Vec<Track> = report
            .threads
            .iter()
            .enumerate()
            .flat_map(|(rank, &n)| (0..n).map(move |lane| Track { rank, lane }))
            .collect();
        let at = track_index(&tracks);
        let index = |rank: usize, lane: usize| at.get(&(rank, lane)).copied().unwrap_or(0);
        let events = report
            .tasks
            .iter()
            .map(|t| Event {
                track: index(t.rank, t.thread),
                name: format!("task {}", t.id),
                start_s: t.start_s,
                end_s: t.end_s,
                failed: t.error.is_some(),
                category: "task",
                args: json!({
                    "id": t.id,
                    "attempt": 1,
                    "duration_s": t.duration_s,
                    "result": t.result.as_deref().or(t.error.as_deref()).unwrap_or(""),
                    "ok": t.error.is_none(),
                }),
            })
            .collect();
        Timeline {
            title: title(
                report.tasks.len(),
                report.ranks,
                report.threads_per_rank,
                &report.schedule,
                report.failed.len(),
            ),
            events,
            tracks,
            ideal_s: Some(report.ideal_s),
            lane_name: "thread",
        }
    }

    /// The timeline of a `run` from its journal: one track per rank × slot, one event per
    /// attempt, from its recorded start (rank 0's clock, written before the command could start)
    /// for its measured wall time. An attempt without an end on record (the run was killed) is
    /// drawn as failed, at its start. Resumed runs appear on the same clock, later.
    pub fn from_journal(entries: &[crate::jobs::run::journal::Entry]) -> Self {
        use crate::jobs::run::journal::{EndKind, Entry};
        let origin = entries
            .iter()
            .find_map(|e| match e {
                Entry::Run(r) => Some(r.time),
                _ => None,
            })
            .unwrap_or(0.0);
        let mut tracks: Vec<Track> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Started(s) => Some(Track {
                    rank: s.rank,
                    lane: s.slot,
                }),
                _ => None,
            })
            .collect();
        tracks.sort_by_key(|t| (t.rank, t.lane));
        tracks.dedup();
        let ends: std::collections::HashMap<(u64, u32), &crate::jobs::run::journal::Finished> =
            entries
                .iter()
                .filter_map(|e| match e {
                    Entry::Finished(f) => Some(((f.task, f.attempt), f)),
                    _ => None,
                })
                .collect();
        let mut events = Vec::new();
        let at = track_index(&tracks);
        let mut runs = 0usize;
        for e in entries {
            match e {
                Entry::Run(_) => runs += 1,
                Entry::Started(s) => {
                    let track = at[&(s.rank, s.slot)];
                    let end = ends.get(&(s.task, s.attempt));
                    let start_s = s.time - origin;
                    let (end_s, failed, args) = match end {
                        Some(f) => (
                            start_s + f.wall_s,
                            f.kind != EndKind::Ok,
                            json!({"id": s.task, "attempt": s.attempt, "host": s.host,
                                   "result": f.kind.name(), "exit_code": f.exit_code,
                                   "signal": f.signal, "wall_s": f.wall_s}),
                        ),
                        None => (
                            start_s,
                            true,
                            json!({"id": s.task, "attempt": s.attempt, "host": s.host,
                                   "result": "no end on record (the run was killed?)"}),
                        ),
                    };
                    events.push(Event {
                        track,
                        name: format!("task {}", s.task),
                        start_s,
                        end_s,
                        failed,
                        category: "task",
                        args,
                    });
                }
                Entry::Finished(_) | Entry::Reported(_) => {}
            }
        }
        let failed = events.iter().filter(|e| e.failed).count();
        let ranks = tracks.iter().map(|t| t.rank).max().map_or(0, |r| r + 1);
        let mut title = format!(
            "spmdkit run: {} attempt{} on {ranks} rank{} ({} slot{} in all)",
            events.len(),
            if events.len() == 1 { "" } else { "s" },
            if ranks == 1 { "" } else { "s" },
            tracks.len(),
            if tracks.len() == 1 { "" } else { "s" },
        );
        if runs > 1 {
            let _ = write!(title, ", {} runs (resumed)", runs);
        }
        if failed > 0 {
            let _ = write!(title, " ({failed} not ok, in red)");
        }
        Timeline {
            title,
            tracks,
            events,
            ideal_s: None,
            lane_name: "slot",
        }
    }

    /// The timeline of a saved run: a `sleep` HDF5 file, or the journal of a `run`.
    ///
    /// # Errors
    /// A file that cannot be read or is neither.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let mut head = [0u8; 8];
        let is_h5 = std::fs::File::open(path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
            .is_ok()
            && head == *b"\x89HDF\r\n\x1a\n";
        if is_h5 {
            Timeline::from_h5(path)
        } else {
            crate::jobs::run::journal::read(path)
                .map(|entries| Timeline::from_journal(&entries))
                .map_err(|e| {
                    format!("{e} (give the HDF5 file of `sleep --output`, or the journal of `run`)")
                })
        }
    }

    /// The timeline of a saved `sleep` run (the HDF5 file of `sleep --output`).
    ///
    /// # Errors
    /// A file that cannot be read or is not a `sleep` results file.
    pub fn from_h5(path: &Path) -> Result<Self, String> {
        let bad = |why: String| format!("'{}': {why}", path.display());
        let file = hdf5::File::open(path).map_err(|e| bad(e.to_string()))?;
        let text = |name: &str| -> Result<String, String> {
            file.attr(name)
                .and_then(|a| a.read_scalar::<hdf5::types::VarLenUnicode>())
                .map(|v| v.as_str().to_string())
                .map_err(|e| bad(format!("attribute {name}: {e}")))
        };
        let number = |name: &str| -> Result<u64, String> {
            file.attr(name)
                .and_then(|a| a.read_scalar::<u64>())
                .map_err(|e| bad(format!("attribute {name}: {e}")))
        };
        let command = text("command")?;
        if command != "sleep" {
            return Err(bad(format!(
                "it holds a `{command}` run; timelines are drawn from `sleep` files"
            )));
        }
        let ints = |name: &str| -> Result<Vec<u64>, String> {
            file.dataset(&format!("tasks/{name}"))
                .and_then(|d| d.read_raw::<u64>())
                .map_err(|e| bad(format!("tasks/{name}: {e}")))
        };
        let floats = |name: &str| -> Result<Vec<f64>, String> {
            file.dataset(&format!("tasks/{name}"))
                .and_then(|d| d.read_raw::<f64>())
                .map_err(|e| bad(format!("tasks/{name}: {e}")))
        };
        let strings = |name: &str| -> Result<Vec<String>, String> {
            file.dataset(&format!("tasks/{name}"))
                .and_then(|d| d.read_raw::<hdf5::types::VarLenUnicode>())
                .map(|v| v.into_iter().map(|s| s.as_str().to_string()).collect())
                .map_err(|e| bad(format!("tasks/{name}: {e}")))
        };
        let (id, rank, thread) = (ints("id")?, ints("rank")?, ints("thread")?);
        let (start, end, duration) = (floats("start_s")?, floats("end_s")?, floats("duration_s")?);
        let ok: Vec<u8> = file
            .dataset("tasks/ok")
            .and_then(|d| d.read_raw::<u8>())
            .map_err(|e| bad(format!("tasks/ok: {e}")))?;
        let (result, error) = (strings("result")?, strings("error")?);
        let n = id.len();
        if [
            rank.len(),
            thread.len(),
            start.len(),
            end.len(),
            duration.len(),
            ok.len(),
        ]
        .iter()
        .chain([result.len(), error.len()].iter())
        .any(|&l| l != n)
        {
            return Err(bad("its task columns differ in length".into()));
        }
        let ranks = number("ranks")? as usize;
        let per_rank = number("threads_per_rank")? as usize;
        let tracks: Vec<Track> = (0..ranks)
            .flat_map(|rank| (0..per_rank).map(move |lane| Track { rank, lane }))
            .collect();
        let at = track_index(&tracks);
        let events = (0..n)
            .map(|i| {
                let track = at
                    .get(&(rank[i] as usize, thread[i] as usize))
                    .copied()
                    .ok_or_else(|| {
                        bad(format!(
                            "task {} ran on a worker the file does not list",
                            id[i]
                        ))
                    })?;
                let failed = ok[i] == 0;
                Ok(Event {
                    track,
                    name: format!("task {}", id[i]),
                    start_s: start[i],
                    end_s: end[i],
                    failed,
                    category: "task",
                    args: json!({
                        "id": id[i],
                        "attempt": 1,
                        "duration_s": duration[i],
                        "result": if failed { &error[i] } else { &result[i] },
                        "ok": !failed,
                    }),
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let ideal_s = file
            .attr("ideal_s")
            .and_then(|a| a.read_scalar::<f64>())
            .ok();
        Ok(Timeline {
            title: title(
                n,
                ranks,
                per_rank,
                &text("schedule")?,
                ok.iter().filter(|&&o| o == 0).count(),
            ),
            tracks,
            events,
            ideal_s,
            lane_name: "thread",
        })
    }

    /// The timeline of a `matrix` run: one track per rank, an event per phase (generating,
    /// multiplying and summing each pair, then the reduction), each rank on its own clock from
    /// the barrier before the work.
    pub fn from_matrix(
        report: &crate::jobs::matrix::MatrixReport,
        phases: &[crate::jobs::matrix::Phase],
    ) -> Self {
        let tracks: Vec<Track> = (0..report.ranks)
            .map(|rank| Track { rank, lane: 0 })
            .collect();
        let events = phases
            .iter()
            .map(|p| Event {
                track: p.rank.min(report.ranks.saturating_sub(1)),
                name: match p.pair {
                    Some(k) => format!("{} {k}", p.name),
                    None => p.name.clone(),
                },
                start_s: p.start_s,
                end_s: p.end_s,
                failed: false,
                category: match p.name.as_str() {
                    "generate" => "generate",
                    "multiply" => "multiply",
                    "sum" => "sum",
                    _ => "reduce",
                },
                args: json!({"phase": p.name, "pair": p.pair, "seconds": p.end_s - p.start_s}),
            })
            .collect();
        Timeline {
            title: format!(
                "spmdkit matrix: {} x {}^2, {} rank{} x {} thread{}, reduce {}",
                report.count,
                report.size,
                report.ranks,
                if report.ranks == 1 { "" } else { "s" },
                report.threads_per_rank,
                if report.threads_per_rank == 1 {
                    ""
                } else {
                    "s"
                },
                report.reduce
            ),
            tracks,
            events,
            ideal_s: None,
            lane_name: "",
        }
    }

    /// How a track is named: `rank 1 / thread 3`, or `rank 1` for one track per rank.
    fn track_name(&self, t: &Track) -> String {
        if self.lane_name.is_empty() {
            format!("rank {}", t.rank)
        } else {
            format!("rank {} / {} {}", t.rank, self.lane_name, t.lane)
        }
    }

    /// The Chrome trace-event file: a process per rank, a thread per track, microseconds.
    pub fn to_chrome_json(&self) -> String {
        let mut events: Vec<Value> = Vec::new();
        let mut ranks: Vec<usize> = self.tracks.iter().map(|t| t.rank).collect();
        ranks.dedup();
        for rank in ranks {
            events.push(
                json!({"ph": "M", "name": "process_name", "pid": rank, "tid": 0,
                               "args": {"name": format!("rank {rank}")}}),
            );
            events.push(
                json!({"ph": "M", "name": "process_sort_index", "pid": rank, "tid": 0,
                               "args": {"sort_index": rank}}),
            );
        }
        for t in &self.tracks {
            events.push(
                json!({"ph": "M", "name": "thread_name", "pid": t.rank, "tid": t.lane,
                               "args": {"name": format!("thread {}", t.lane)}}),
            );
        }
        for e in &self.events {
            let t = &self.tracks[e.track];
            events.push(json!({
                "ph": "X",
                "name": e.name,
                "cat": if e.failed { "failed" } else { e.category },
                "pid": t.rank,
                "tid": t.lane,
                "ts": e.start_s * 1e6,
                "dur": (e.end_s - e.start_s).max(0.0) * 1e6,
                "args": e.args,
            }));
        }
        let doc = json!({
            "traceEvents": events,
            "displayTimeUnit": "ms",
            "otherData": {"title": self.title, "ideal_s": self.ideal_s},
        });
        serde_json::to_string(&doc).expect("a trace serialises")
    }

    /// The Gantt chart.
    pub fn to_svg(&self) -> String {
        const LEFT: f64 = 150.0;
        const RIGHT: f64 = 30.0;
        const TOP: f64 = 50.0;
        const ROW: f64 = 22.0;
        const WIDTH: f64 = 1000.0;
        let end = self
            .events
            .iter()
            .map(|e| e.end_s)
            .chain(self.ideal_s)
            .fold(0.0f64, f64::max)
            .max(1e-6);
        let step = nice_step(end / 8.0);
        let span = (end / step).ceil() * step;
        let plot = WIDTH - LEFT - RIGHT;
        let x = |s: f64| LEFT + s / span * plot;
        let rows = self.tracks.len().max(1) as f64;
        let bottom = TOP + rows * ROW;
        let phased = self.events.iter().any(|e| e.category != "task");
        let height = bottom + if phased { 80.0 } else { 60.0 };
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">{}</text>"#,
            escape(&self.title)
        );
        for (i, t) in self.tracks.iter().enumerate() {
            let y = TOP + i as f64 * ROW;
            if i % 2 == 0 {
                let _ = writeln!(
                    s,
                    r##"<rect x="{LEFT}" y="{y}" width="{plot}" height="{ROW}" fill="#f3f3f3"/>"##
                );
            }
            let _ = writeln!(
                s,
                r#"<text class="track" x="{}" y="{}" text-anchor="end">{}</text>"#,
                LEFT - 8.0,
                y + ROW * 0.7,
                self.track_name(t)
            );
        }
        let mut tick = 0.0;
        while tick <= span + step * 1e-9 {
            let tx = x(tick);
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{bottom}" stroke="#ccc"/><text x="{tx:.1}" y="{}" text-anchor="middle">{}</text>"##,
                bottom + 16.0,
                trim(tick)
            );
            tick += step;
        }
        let _ = writeln!(
            s,
            r#"<text class="axis" x="{}" y="{}" text-anchor="middle">time since the common start (s)</text>"#,
            LEFT + plot / 2.0,
            bottom + 36.0
        );
        let _ = writeln!(
            s,
            r#"<text class="axis" x="{}" y="{}" text-anchor="end" font-weight="bold">{}</text>"#,
            LEFT - 8.0,
            TOP - 10.0,
            if self.lane_name.is_empty() {
                "rank".to_string()
            } else {
                format!("rank / {}", self.lane_name)
            }
        );
        // Failed tasks last, so that they are drawn on top, at least 4 px wide even when they
        // failed at once.
        let mut order: Vec<&Event> = self.events.iter().collect();
        order.sort_by_key(|e| e.failed);
        for e in order {
            let y = TOP + e.track as f64 * ROW + 3.0;
            let (x0, x1) = (x(e.start_s), x(e.end_s.max(e.start_s)));
            let w = (x1 - x0).max(if e.failed { 4.0 } else { 1.0 });
            let fill = match (e.failed, e.category) {
                (true, _) => "#d62728",
                (false, "generate") => "#f58518",
                (false, "sum") => "#b279a2",
                (false, "reduce") => "#54a24b",
                _ => "#4c78a8",
            };
            let _ = writeln!(
                s,
                r##"<rect class="task{}" x="{x0:.2}" y="{y:.1}" width="{w:.2}" height="{}" fill="{fill}" stroke="white" stroke-width="0.5"><title>{} ({:.3} s to {:.3} s){}</title></rect>"##,
                if e.failed { " failed" } else { "" },
                ROW - 6.0,
                escape(&e.name),
                e.start_s,
                e.end_s,
                if e.failed { ", failed" } else { "" }
            );
            let label = e.name.trim_start_matches("task ");
            if w > 7.0 * label.len() as f64 + 4.0 {
                let _ = writeln!(
                    s,
                    r#"<text x="{:.1}" y="{:.1}" fill="white" text-anchor="middle" font-size="11">{}</text>"#,
                    x0 + w / 2.0,
                    y + ROW * 0.55,
                    escape(label)
                );
            }
        }
        if let Some(ideal) = self.ideal_s {
            let ix = x(ideal);
            // The label stays inside the picture, on whichever side of the line has room.
            let anchor = if ix > LEFT + plot * 0.75 {
                "end"
            } else {
                "start"
            };
            let _ = writeln!(
                s,
                r##"<line class="ideal" x1="{ix:.1}" y1="{}" x2="{ix:.1}" y2="{bottom}" stroke="#2ca02c" stroke-width="2" stroke-dasharray="6 4"/><text x="{ix:.1}" y="{}" fill="#2ca02c" text-anchor="{anchor}">ideal makespan {ideal:.3} s</text>"##,
                TOP - 6.0,
                TOP - 10.0
            );
        }
        if phased {
            let mut lx = LEFT;
            for (name, colour) in [
                ("generate", "#f58518"),
                ("multiply", "#4c78a8"),
                ("sum", "#b279a2"),
                ("reduce", "#54a24b"),
            ] {
                let _ = writeln!(
                    s,
                    r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{colour}"/><text class="legend" x="{}" y="{}">{name}</text>"#,
                    bottom + 50.0,
                    lx + 16.0,
                    bottom + 60.0
                );
                lx += 100.0;
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// Writes the timeline to `target` in the format of its name.
    ///
    /// # Errors
    /// The file's name has another extension, or it cannot be written.
    pub fn write(&self, target: &OutputTarget) -> Result<(), String> {
        let text = match Format::of(target.path())? {
            Format::Json => self.to_chrome_json(),
            Format::Svg => self.to_svg(),
        };
        target
            .write_bytes(text.as_bytes())
            .map_err(|e| e.to_string())
    }
}

/// Where each (rank, lane) is among `tracks`: one lookup per task instead of a scan of them all.
fn track_index(tracks: &[Track]) -> std::collections::HashMap<(usize, usize), usize> {
    tracks
        .iter()
        .enumerate()
        .map(|(i, t)| ((t.rank, t.lane), i))
        .collect()
}

/// `spmdkit sleep: 16 tasks, 2 ranks x 8 threads, lpt` (and how many failed).
fn title(tasks: usize, ranks: usize, threads: usize, schedule: &str, failed: usize) -> String {
    let s = |n: usize| if n == 1 { "" } else { "s" };
    let mut t = format!(
        "spmdkit sleep: {tasks} task{}, {ranks} rank{} x {threads} thread{}, {schedule}",
        s(tasks),
        s(ranks),
        s(threads)
    );
    if failed > 0 {
        let _ = write!(t, " ({failed} failed, in red)");
    }
    t
}

/// 1, 2 or 5 times a power of ten, at least `rough`.
fn nice_step(rough: f64) -> f64 {
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|&s| s >= rough)
        .unwrap_or(10.0 * power)
}

/// A tick label without needless digits.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Timeline {
        Timeline {
            title: "t <1>".into(),
            tracks: vec![Track { rank: 0, lane: 0 }, Track { rank: 1, lane: 0 }],
            events: vec![
                Event {
                    track: 0,
                    name: "task 0".into(),
                    start_s: 0.0,
                    end_s: 0.5,
                    failed: false,
                    category: "task",
                    args: json!({"id": 0}),
                },
                Event {
                    track: 1,
                    name: "task 1".into(),
                    start_s: 0.1,
                    end_s: 0.3,
                    failed: true,
                    category: "task",
                    args: json!({"id": 1}),
                },
            ],
            ideal_s: Some(0.4),
            lane_name: "thread",
        }
    }

    #[test]
    fn the_trace_has_one_complete_event_per_task_on_its_track() {
        let doc: Value = serde_json::from_str(&sample().to_chrome_json()).unwrap();
        let events = doc["traceEvents"].as_array().unwrap();
        let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), 2);
        assert_eq!(complete[1]["pid"], 1);
        assert_eq!(complete[1]["ts"].as_f64(), Some(0.1e6));
        assert!((complete[1]["dur"].as_f64().unwrap() - 0.2e6).abs() < 1e-6);
        assert_eq!(complete[1]["cat"], "failed");
        assert!(events
            .iter()
            .any(|e| e["name"] == "process_name" && e["args"]["name"] == "rank 1"));
    }

    #[test]
    fn the_chart_has_a_bar_per_task_axes_and_the_ideal_line() {
        let svg = sample().to_svg();
        assert_eq!(svg.matches("<rect class=\"task").count(), 2);
        assert_eq!(svg.matches("class=\"task failed\"").count(), 1);
        assert!(svg.contains("time since the common start (s)"));
        assert!(svg.contains("rank 1 / thread 0"));
        assert!(svg.contains("ideal makespan 0.400 s"));
        assert!(svg.contains("t &lt;1&gt;"));
        assert_eq!(nice_step(0.07), 0.1);
        assert_eq!(nice_step(0.19), 0.2);
        assert_eq!(nice_step(3.0), 5.0);
        assert!(Format::of(Path::new("a.png")).is_err());
        assert_eq!(Format::of(Path::new("a.SVG")), Ok(Format::Svg));
    }
}
