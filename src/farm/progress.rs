//! Live progress of a run, shown by rank 0 on stderr.
//!
//! On a terminal (a process started by hand, stderr a tty) it is a progress bar with tasks
//! done/total, rate and ETA. Under a launcher, or when stderr is a file (CI, Slurm output files),
//! it is one plain line every few seconds: under `mpirun` a rank's stderr is a pseudo-terminal even
//! when the user redirects it to a file, so a bar there would fill logs with control codes.
//! `--quiet` turns it off. Progress never goes to stdout, so `--json` output is never mixed with it.
//! The bar needs the `cli` feature (indicatif); without it a terminal gets the plain lines too.

#[cfg(feature = "cli")]
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Write;
use std::time::{Duration, Instant};

/// The variable that sets the interval of plain progress lines, in seconds (default 5).
pub const INTERVAL_VAR: &str = "SPMDKIT_PROGRESS_INTERVAL";

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProgressMode {
    /// A progress bar on the terminal (a plain line every 5 s without the `cli` feature).
    Bar,
    /// A plain line every `interval`.
    Lines {
        /// Time between lines.
        interval: Duration,
    },
    /// Nothing.
    Off,
}

impl ProgressMode {
    /// Chooses the mode: off when `quiet`; a bar when started by hand with stderr on a terminal;
    /// plain lines otherwise, every [`INTERVAL_VAR`] seconds (default 5).
    pub fn choose(quiet: bool, under_launcher: bool) -> ProgressMode {
        if quiet {
            return ProgressMode::Off;
        }
        if cfg!(feature = "cli")
            && !under_launcher
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
        {
            return ProgressMode::Bar;
        }
        let seconds = std::env::var(INTERVAL_VAR)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(5.0);
        ProgressMode::Lines {
            interval: Duration::from_secs_f64(seconds),
        }
    }
}

/// The progress of one run: `update` as often as convenient, `finish` once.
pub(crate) struct Progress {
    mode: ProgressMode,
    total: usize,
    started: Instant,
    last_line: Instant,
    lines: usize,
    #[cfg(feature = "cli")]
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Starts showing progress of `total` tasks.
    pub(crate) fn new(total: usize, mode: ProgressMode) -> Self {
        #[cfg(not(feature = "cli"))]
        let mode = match mode {
            ProgressMode::Bar => ProgressMode::Lines {
                interval: Duration::from_secs(5),
            },
            other => other,
        };
        #[cfg(feature = "cli")]
        let bar = (mode == ProgressMode::Bar).then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{bar:40} {pos}/{len} tasks  {per_sec}  ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Progress {
            mode,
            total,
            started: now,
            last_line: now,
            lines: 0,
            #[cfg(feature = "cli")]
            bar,
        }
    }

    /// Records that `done` tasks have finished; draws if it is time to.
    pub(crate) fn update(&mut self, done: usize) {
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Bar =>
            {
                #[cfg(feature = "cli")]
                if let Some(bar) = &self.bar {
                    bar.set_position(done as u64);
                }
            }
            ProgressMode::Lines { interval } => {
                if self.last_line.elapsed() >= interval {
                    self.last_line = Instant::now();
                    self.line(done);
                }
            }
        }
    }

    fn line(&mut self, done: usize) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        let eta = if rate > 0.0 {
            format!("{:.1} s", (self.total - done.min(self.total)) as f64 / rate)
        } else {
            "unknown".into()
        };
        let percent = if self.total > 0 {
            100.0 * done as f64 / self.total as f64
        } else {
            100.0
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "spmdkit: progress {done}/{} tasks ({percent:.1} %), {rate:.0} tasks/s, ETA {eta}",
            self.total
        );
        self.lines += 1;
    }

    /// Shows the end: clears the bar, or prints a last line if any line was printed.
    pub(crate) fn finish(mut self, done: usize) {
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Bar =>
            {
                #[cfg(feature = "cli")]
                if let Some(bar) = self.bar.take() {
                    bar.set_position(done as u64);
                    bar.finish_and_clear();
                }
            }
            ProgressMode::Lines { .. } => {
                if self.lines > 0 {
                    self.line(done);
                }
            }
        }
    }
}
