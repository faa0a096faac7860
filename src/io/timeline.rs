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
        let index = |rank: usize, lane: usize| {
            tracks
                .iter()
                .position(|t| t.rank == rank && t.lane == lane)
                .unwrap_or(0)
        };
        let events = report
            .tasks
            .iter()
            .map(|t| Event {
                track: index(t.rank, t.thread),
                name: format!("task {}", t.id),
                start_s: t.start_s,
                end_s: t.end_s,
                failed: t.error.is_some(),
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
        let events = (0..n)
            .map(|i| {
                let track = tracks
                    .iter()
                    .position(|t| t.rank == rank[i] as usize && t.lane == thread[i] as usize)
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
        })
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
                "cat": if e.failed { "failed" } else { "ok" },
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
        let height = bottom + 60.0;
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
                r#"<text class="track" x="{}" y="{}" text-anchor="end">rank {} / thread {}</text>"#,
                LEFT - 8.0,
                y + ROW * 0.7,
                t.rank,
                t.lane
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
            r#"<text class="axis" x="{}" y="{}" text-anchor="end" font-weight="bold">rank / thread</text>"#,
            LEFT - 8.0,
            TOP - 10.0
        );
        // Failed tasks last, so that they are drawn on top, at least 4 px wide even when they
        // failed at once.
        let mut order: Vec<&Event> = self.events.iter().collect();
        order.sort_by_key(|e| e.failed);
        for e in order {
            let y = TOP + e.track as f64 * ROW + 3.0;
            let (x0, x1) = (x(e.start_s), x(e.end_s.max(e.start_s)));
            let w = (x1 - x0).max(if e.failed { 4.0 } else { 1.0 });
            let fill = if e.failed { "#d62728" } else { "#4c78a8" };
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
                    args: json!({"id": 0}),
                },
                Event {
                    track: 1,
                    name: "task 1".into(),
                    start_s: 0.1,
                    end_s: 0.3,
                    failed: true,
                    args: json!({"id": 1}),
                },
            ],
            ideal_s: Some(0.4),
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
