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
    ///
    /// # Errors
    /// When [`INTERVAL_VAR`] is set to something other than a number of seconds from 0.01 to
    /// 86400, naming it (checked even where it is not used, so a mistake shows at once).
    pub fn choose(quiet: bool, under_launcher: bool) -> Result<ProgressMode, String> {
        let interval = match std::env::var(INTERVAL_VAR) {
            Ok(v) => interval_from(&v)?,
            Err(_) => Duration::from_secs(5),
        };
        if quiet {
            return Ok(ProgressMode::Off);
        }
        if cfg!(feature = "cli")
            && !under_launcher
            && std::io::IsTerminal::is_terminal(&std::io::stderr())
        {
            return Ok(ProgressMode::Bar);
        }
        Ok(ProgressMode::Lines { interval })
    }
}

/// Parses a value of [`INTERVAL_VAR`].
fn interval_from(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<f64>() {
        Ok(s) if (0.01..=86_400.0).contains(&s) => Ok(Duration::from_secs_f64(s)),
        _ => Err(format!(
            "{INTERVAL_VAR} = '{}': expected the seconds between progress lines, from 0.01 to 86400",
            text.escape_debug()
        )),
    }
}

/// A rate for people: `1234 tasks/s`, `2.5 tasks/s`, `0.25 tasks/s`, `1.2 tasks/min`.
fn rate_text(per_s: f64) -> String {
    if per_s >= 10.0 {
        format!("{per_s:.0} tasks/s")
    } else if per_s >= 1.0 {
        format!("{per_s:.1} tasks/s")
    } else if per_s >= 0.1 {
        format!("{per_s:.2} tasks/s")
    } else {
        format!("{:.1} tasks/min", per_s * 60.0)
    }
}

/// A remaining time for people: `42.0 s`, `12 min`, `3.4 h`.
fn eta_text(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
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
        // Until a task has ended there is no rate to speak of, nor an ETA.
        let (rate, eta) = if done > 0 && rate > 0.0 {
            let left = (self.total - done.min(self.total)) as f64 / rate;
            (rate_text(rate), eta_text(left))
        } else {
            ("no task ended yet".to_string(), "unknown".to_string())
        };
        let percent = if self.total > 0 {
            100.0 * done as f64 / self.total as f64
        } else {
            100.0
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(
            err,
            "spmdkit: progress {done}/{} tasks ({percent:.1} %), {rate}, ETA {eta}",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_checked() {
        assert_eq!(interval_from(" 2 "), Ok(Duration::from_secs(2)));
        for bad in ["1e300", "abc", "-1", "0", "nan", "inf", ""] {
            let e = interval_from(bad).unwrap_err();
            assert!(
                e.contains(INTERVAL_VAR) && e.contains("from 0.01 to 86400"),
                "{e}"
            );
        }
    }

    #[test]
    fn slow_rates_and_long_waits_read_well() {
        assert_eq!(rate_text(1234.4), "1234 tasks/s");
        assert_eq!(rate_text(2.54), "2.5 tasks/s");
        assert_eq!(rate_text(0.25), "0.25 tasks/s");
        assert_eq!(rate_text(0.02), "1.2 tasks/min");
        assert_eq!(eta_text(15.0), "15.0 s");
        assert_eq!(eta_text(720.0), "12 min");
        assert_eq!(eta_text(12_240.0), "3.4 h");
    }
}
