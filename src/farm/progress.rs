//! Live progress of a run, shown by rank 0 on stderr.
//!
//! On a terminal (a process started by hand, stderr a tty) it is a progress bar with tasks
//! done/total, rate and ETA. Under a launcher, or when stderr is a file (CI, Slurm output files),
//! it is one plain line every few seconds: under `mpirun` a rank's stderr is a pseudo-terminal even
//! when the user redirects it to a file, so a bar there would fill logs with control codes.
//! `--quiet` turns it off. Progress never goes to stdout, so `--json` output is never mixed with it.
//! The bar is one line redrawn in place (`\r`) at most ten times a second.

use std::io::Write;
use std::time::{Duration, Instant};

/// The variable that sets the interval of plain progress lines, in seconds (default 5).
pub(crate) const INTERVAL_VAR: &str = "SPMDKIT_PROGRESS_INTERVAL";

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ProgressMode {
    /// A progress bar on the terminal.
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
    /// plain lines otherwise, every `SPMDKIT_PROGRESS_INTERVAL` seconds (default 5).
    ///
    /// # Errors
    /// When `SPMDKIT_PROGRESS_INTERVAL` is set to something other than a number of seconds from 0.01 to
    /// 86400, naming it (checked even where it is not used, so a mistake shows at once).
    pub fn choose(quiet: bool, under_launcher: bool) -> Result<ProgressMode, String> {
        let interval = match std::env::var(INTERVAL_VAR) {
            Ok(v) => interval_from(&v)?,
            Err(_) => Duration::from_secs(5),
        };
        if quiet {
            return Ok(ProgressMode::Off);
        }
        if !under_launcher && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
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

/// How often the bar is redrawn at most.
const BAR_EVERY: Duration = Duration::from_millis(100);

/// The progress of one run, shown on stderr: `update` as often as convenient, `finish` once (the
/// engine shows it for [`Farm`](crate::farm::Farm) runs; a program that runs its own tasks can too).
pub struct Progress {
    mode: ProgressMode,
    total: usize,
    started: Instant,
    last_line: Instant,
    lines: usize,
    drawn: bool,
}

impl Progress {
    /// Starts showing progress of `total` tasks.
    pub fn new(total: usize, mode: ProgressMode) -> Self {
        let now = Instant::now();
        let mut progress = Progress {
            mode,
            total,
            started: now,
            last_line: now,
            lines: 0,
            drawn: false,
        };
        if mode == ProgressMode::Bar {
            progress.bar(0);
        }
        progress
    }

    /// Records that `done` tasks have finished; draws if it is time to.
    pub fn update(&mut self, done: usize) {
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Bar => {
                if self.last_line.elapsed() >= BAR_EVERY {
                    self.last_line = Instant::now();
                    self.bar(done);
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

    /// Rate and ETA of `done` tasks so far, for people.
    fn pace(&self, done: usize) -> (String, String) {
        let secs = self.started.elapsed().as_secs_f64();
        let rate = if secs > 0.0 { done as f64 / secs } else { 0.0 };
        // Until a task has ended there is no rate to speak of, nor an ETA.
        if done > 0 && rate > 0.0 {
            let left = (self.total - done.min(self.total)) as f64 / rate;
            (rate_text(rate), eta_text(left))
        } else {
            ("no task ended yet".to_string(), "unknown".to_string())
        }
    }

    fn line(&mut self, done: usize) {
        let (rate, eta) = self.pace(done);
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

    /// Redraws the bar in place: `[#######.............] 12/40 tasks  3.1 tasks/s  ETA 9.0 s`.
    fn bar(&mut self, done: usize) {
        const WIDTH: usize = 30;
        let filled = (WIDTH * done.min(self.total))
            .checked_div(self.total)
            .unwrap_or(WIDTH);
        let (rate, eta) = self.pace(done);
        let text = format!(
            "\r[{}{}] {done}/{} tasks  {rate}  ETA {eta}\x1b[K",
            "#".repeat(filled),
            ".".repeat(WIDTH - filled),
            self.total
        );
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
        self.drawn = true;
    }

    /// Shows the end: clears the bar, or prints a last line if any line was printed.
    pub fn finish(mut self, done: usize) {
        match self.mode {
            ProgressMode::Off => {}
            ProgressMode::Bar => {
                if self.drawn {
                    let _ = std::io::stderr().lock().write_all(b"\r\x1b[K");
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
