//! The journal of `spmdkit run`: JSON Lines, one record a line, appended by rank 0.
//!
//! * `run` — first record of every run (and of every resume): the fingerprint (every command with
//!   its line number, the working directory, the seed) and the run's shape;
//! * `started` — written *before* the task can start (rank, host, slot, time);
//! * `finished` — after it ended: `kind` (`ok`, `exit`, `signal`, `timeout`, `interrupted`),
//!   `exit_code` (null when killed by a signal), `signal`, times, CPU, max RSS, output sizes and
//!   tails;
//! * `reported` — the start's report was printed (its exit code, the tasks it named as possibly
//!   run partly): a later start names again only what no printed report named.
//!
//! Every record is written with one `write(2)` as it happens, so a killed job loses none of what
//! it wrote; it is made durable (`fdatasync`) at most every [`SYNC_INTERVAL`] and at the end, so
//! throughput does not pay one sync per task. A torn last line (a crash in the middle of a write)
//! is ignored when reading and cut off when a resume appends; a bad line anywhere else is an
//! error.

use super::input::Task;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest time between two syncs of the journal while records are written.
pub const SYNC_INTERVAL: Duration = Duration::from_millis(200);

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndKind {
    /// Exit code 0.
    Ok,
    /// Another exit code.
    Exit,
    /// Killed by a signal it did not get from spmdkit.
    Signal,
    /// Ended by spmdkit after `--timeout`.
    Timeout,
    /// Ended by spmdkit because the run was stopped (a signal, the deadline).
    Interrupted,
}

impl EndKind {
    /// The name used in the journal and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EndKind::Ok => "ok",
            EndKind::Exit => "exit",
            EndKind::Signal => "signal",
            EndKind::Timeout => "timeout",
            EndKind::Interrupted => "interrupted",
        }
    }
}

/// What the journal says about the run that wrote the records after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// spmdkit's version.
    pub version: String,
    /// Unix time, seconds.
    pub time: f64,
    /// The working directory of the tasks.
    pub cwd: String,
    /// `--seed`.
    pub seed: u64,
    /// Where the commands came from (the tasks file, or the template and its table).
    pub source: String,
    /// Whether this run resumes the journal.
    pub resumed: bool,
    /// Ranks and slots of each.
    pub slots: Vec<usize>,
    /// Every command: (id, line, command).
    pub commands: Vec<(u64, usize, String)>,
    /// The processes of this run, one per rank: to match a crash (`dmesg` names them all
    /// `spmdkit`) with the process that had it. Absent in journals of spmdkit before 0.1.1.
    #[serde(default)]
    pub processes: Vec<Process>,
}

/// One rank of a run and the guardian of its commands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// The rank.
    pub rank: usize,
    /// Its host.
    pub host: String,
    /// Its pid.
    pub pid: u32,
    /// The pid of its guardian, if one runs.
    pub guardian_pid: Option<u32>,
}

/// A task is about to start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Started {
    /// Task id.
    pub task: u64,
    /// Attempt, from 1.
    pub attempt: u32,
    /// Rank.
    pub rank: usize,
    /// Host of the rank.
    pub host: String,
    /// Slot of the rank.
    pub slot: usize,
    /// Unix time, seconds.
    pub time: f64,
}

/// A task has ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finished {
    /// Task id.
    pub task: u64,
    /// Attempt, from 1.
    pub attempt: u32,
    /// Rank.
    pub rank: usize,
    /// Slot of the rank.
    pub slot: usize,
    /// How it ended.
    pub kind: EndKind,
    /// Its exit code; `None` when a signal killed it.
    pub exit_code: Option<i32>,
    /// The signal that killed it.
    pub signal: Option<i32>,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// User CPU time, seconds.
    pub user_s: f64,
    /// System CPU time, seconds.
    pub sys_s: f64,
    /// Largest resident set, KiB (from `wait4`).
    pub max_rss_kib: u64,
    /// Bytes it wrote to stdout.
    pub stdout_bytes: u64,
    /// Bytes it wrote to stderr.
    pub stderr_bytes: u64,
    /// The last bytes of its stdout.
    pub stdout_tail: String,
    /// The last bytes of its stderr.
    pub stderr_tail: String,
    /// The pid of its shell (`/bin/sh -c`), when it started (absent before 0.1.1).
    #[serde(default)]
    pub pid: Option<u32>,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "lowercase")]
pub enum Entry {
    /// A run began.
    Run(RunRecord),
    /// A task is about to start.
    Started(Started),
    /// A task ended.
    Finished(Finished),
    /// The start's report was printed.
    Reported(Reported),
}

/// A start printed its report: what it named reached its user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reported {
    /// Unix time, seconds.
    pub time: f64,
    /// The start's exit code.
    pub exit_code: i32,
    /// The tasks it named as possibly run partly before it.
    pub possibly_run_partly: Vec<u64>,
}

/// The journal cannot be used; the message names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("journal '{path}': {why}")]
pub struct JournalError {
    /// The journal.
    pub path: PathBuf,
    /// What is wrong.
    pub why: String,
}

impl From<JournalError> for spmdkit::Error {
    fn from(e: JournalError) -> Self {
        spmdkit::Error::bad_input(e.to_string())
    }
}

/// Appends records and syncs them in groups.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    file: std::fs::File,
    last_sync: Instant,
    unsynced: bool,
}

impl Writer {
    /// Creates a new journal (`append` false: the file must not exist) or opens one to append.
    ///
    /// # Errors
    /// When it exists and must not, does not exist and must, or cannot be opened for writing.
    pub fn open(path: &Path, append: bool) -> Result<Self, JournalError> {
        let bad = |why: String| JournalError {
            path: path.to_path_buf(),
            why,
        };
        let mut options = std::fs::OpenOptions::new();
        options.append(true);
        if append {
            options.create(false);
        } else {
            options.create_new(true);
        }
        let file = options.open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => bad(
                "it exists: pass --resume with it to continue that run, or give another --journal"
                    .into(),
            ),
            std::io::ErrorKind::NotFound if append => bad("there is no such file to resume".into()),
            _ => bad(format!("cannot open it for writing: {e}")),
        })?;
        // A torn last line (a crash mid-write) is cut off, so that it neither swallows the next
        // record nor ends up in the middle of the journal.
        if append {
            let text = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            if !text.is_empty() && !text.ends_with(b"\n") {
                let keep = text
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |at| at + 1);
                file.set_len(keep as u64)
                    .map_err(|e| bad(format!("cannot cut its torn last line: {e}")))?;
            }
        }
        Ok(Writer {
            path: path.to_path_buf(),
            file,
            last_sync: Instant::now(),
            unsynced: false,
        })
    }

    /// Appends one record (one `write`), syncing if the last sync is older than [`SYNC_INTERVAL`].
    ///
    /// # Errors
    /// When the write or the sync fails.
    pub fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(entry).expect("a journal record serialises");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .map_err(|e| self.error(format!("cannot write: {e}")))?;
        self.unsynced = true;
        if self.last_sync.elapsed() >= SYNC_INTERVAL {
            self.sync()?;
        }
        Ok(())
    }

    /// Makes every record written so far durable.
    ///
    /// # Errors
    /// When the sync fails.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.unsynced {
            self.file
                .sync_data()
                .map_err(|e| self.error(format!("cannot sync to disk: {e}")))?;
            self.unsynced = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    fn error(&self, why: String) -> JournalError {
        JournalError {
            path: self.path.clone(),
            why,
        }
    }
}

/// Reads every record; a torn last line is dropped.
///
/// # Errors
/// An unreadable file, or a line that is not a record and is not the last one.
pub fn read(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let bad = |why: String| JournalError {
        path: path.to_path_buf(),
        why,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(e.to_string()))?;
    if !meta.is_file() {
        return Err(bad("it is not a regular file".into()));
    }
    let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.split('\n').collect();
    let last = lines.len() - 1;
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Entry>(line) {
            Ok(e) => entries.push(e),
            // The last line without its newline: a write the crash cut short.
            Err(_) if i == last => {}
            Err(e) => {
                return Err(bad(format!(
                    "line {} is not a journal record ({e}); a journal is only ever cut at its end",
                    i + 1
                )))
            }
        }
    }
    if !matches!(entries.first(), Some(Entry::Run(_))) {
        return Err(bad("it does not start with a run record".into()));
    }
    Ok(entries)
}

/// What a journal says about one task (a command of a run).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskState {
    /// The highest attempt started.
    pub attempts: u32,
    /// The last ending, if any.
    pub last: Option<EndKind>,
    /// Whether some attempt ended `ok`.
    pub ok: bool,
    /// Attempts that started and have no end on record: they may have run, partly or wholly.
    pub unfinished: Vec<u32>,
    /// Of `unfinished`, those a printed report named (the start that found them ended with one).
    pub named: Vec<u32>,
    /// Of `unfinished`, those the latest start found (named once its report is printed).
    found: Vec<u32>,

    /// Wall time of the last `ok` attempt.
    pub ok_wall_s: Option<f64>,
}

impl TaskState {
    /// Whether its latest attempt started and has no end on record (the start that finds it
    /// runs it again; later starts then see that attempt's end).
    pub fn latest_unfinished(&self) -> bool {
        self.unfinished.contains(&self.attempts)
    }

    /// Whether some attempt started without an end on record and no printed report has named it
    /// yet: a start that was itself killed before its report did not tell anyone.
    pub fn to_name(&self) -> bool {
        self.unfinished.iter().any(|a| !self.named.contains(a))
    }
}

/// The state of every command the journal knows, keyed by its text and occurrence (the n-th
/// task with that text), so that a changed list still finds the tasks it shares with the old one.
pub type States = HashMap<(String, usize), TaskState>;

/// Keys of the tasks: (command, how many earlier tasks have the same command).
pub fn keys(tasks: &[Task]) -> Vec<(String, usize)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    tasks
        .iter()
        .map(|t| {
            let n = seen.entry(&t.command).or_insert(0);
            *n += 1;
            (t.command.clone(), *n - 1)
        })
        .collect()
}

/// The last run record, and the state of every task the records name.
pub fn states(entries: &[Entry]) -> (RunRecord, States) {
    let mut states: States = HashMap::new();
    let mut current: HashMap<u64, (String, usize)> = HashMap::new();
    let mut last_run = None;
    for e in entries {
        match e {
            Entry::Run(run) => {
                let tasks: Vec<Task> = run
                    .commands
                    .iter()
                    .map(|(id, line, command)| Task {
                        id: *id,
                        line: *line,
                        command: command.clone(),
                    })
                    .collect();
                current = tasks.iter().map(|t| t.id).zip(keys(&tasks)).collect();
                last_run = Some(run.clone());
                for state in states.values_mut() {
                    state.found.clone_from(&state.unfinished);
                }
            }
            Entry::Reported(_) => {
                for state in states.values_mut() {
                    let found = std::mem::take(&mut state.found);
                    state.named.extend(found);
                }
            }
            Entry::Started(s) => {
                if let Some(key) = current.get(&s.task) {
                    let state = states.entry(key.clone()).or_default();
                    state.attempts = state.attempts.max(s.attempt);
                    state.unfinished.push(s.attempt);
                }
            }
            Entry::Finished(f) => {
                if let Some(key) = current.get(&f.task) {
                    let state = states.entry(key.clone()).or_default();
                    state.attempts = state.attempts.max(f.attempt);
                    state.unfinished.retain(|&a| a != f.attempt);
                    state.last = Some(f.kind);
                    if f.kind == EndKind::Ok {
                        state.ok = true;
                        state.ok_wall_s = Some(f.wall_s);
                    }
                }
            }
        }
    }
    (last_run.expect("read() checks the first record"), states)
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("spmdkit-journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    fn run(commands: &[&str]) -> Entry {
        Entry::Run(RunRecord {
            version: "0".into(),
            time: 1.0,
            cwd: "/".into(),
            seed: 1,
            source: "test".into(),
            resumed: false,
            slots: vec![1],
            processes: Vec::new(),
            commands: commands
                .iter()
                .enumerate()
                .map(|(i, c)| (i as u64 + 1, i + 1, c.to_string()))
                .collect(),
        })
    }

    fn started(task: u64, attempt: u32) -> Entry {
        Entry::Started(Started {
            task,
            attempt,
            rank: 0,
            host: "h".into(),
            slot: 0,
            time: 2.0,
        })
    }

    fn finished(task: u64, attempt: u32, kind: EndKind) -> Entry {
        Entry::Finished(Finished {
            task,
            attempt,
            rank: 0,
            slot: 0,
            kind,
            exit_code: Some(0),
            signal: None,
            wall_s: 0.5,
            user_s: 0.0,
            sys_s: 0.0,
            max_rss_kib: 1,
            stdout_bytes: 0,
            stderr_bytes: 0,
            stdout_tail: String::new(),
            stderr_tail: String::new(),
            pid: None,
        })
    }

    #[test]
    fn records_round_trip_and_a_torn_last_line_is_dropped() {
        let p = path("torn");
        let mut w = Writer::open(&p, false).unwrap();
        for e in [
            run(&["a", "b"]),
            started(1, 1),
            finished(1, 1, EndKind::Ok),
            started(2, 1),
        ] {
            w.append(&e).unwrap();
        }
        w.sync().unwrap();
        drop(w);
        let mut text = std::fs::read_to_string(&p).unwrap();
        assert!(text
            .lines()
            .nth(2)
            .unwrap()
            .contains(r#""event":"finished""#));
        text.push_str(r#"{"event":"finished","task":2,"att"#);
        std::fs::write(&p, &text).unwrap();
        let entries = read(&p).unwrap();
        assert_eq!(entries.len(), 4);
        let (_, states) = states(&entries);
        let b = &states[&("b".to_string(), 0)];
        assert_eq!(
            (b.attempts, b.unfinished.clone(), b.ok),
            (1, vec![1], false)
        );
        assert!(states[&("a".to_string(), 0)].ok);
        // Appending after a torn line cuts it off first.
        let mut w = Writer::open(&p, true).unwrap();
        w.append(&finished(2, 1, EndKind::Exit)).unwrap();
        drop(w);
        assert_eq!(read(&p).unwrap().len(), 5);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_bad_line_before_the_end_is_an_error_and_files_are_checked() {
        let p = path("bad");
        std::fs::write(&p, "{\"event\":\"oops\"}\n").unwrap();
        assert!(read(&p).unwrap_err().why.contains("line 1"));
        let mut w = Writer::open(&p, true).unwrap();
        w.append(&run(&["a"])).unwrap();
        assert!(read(&p)
            .unwrap_err()
            .why
            .contains("line 1 is not a journal record"));
        assert!(Writer::open(&p, false)
            .unwrap_err()
            .why
            .contains("it exists"));
        std::fs::remove_file(&p).unwrap();
        assert!(Writer::open(&p, true)
            .unwrap_err()
            .why
            .contains("no such file"));
        assert!(read(&p).is_err());
    }

    fn reported() -> Entry {
        Entry::Reported(Reported {
            time: 3.0,
            exit_code: 0,
            possibly_run_partly: vec![1],
        })
    }

    #[test]
    fn an_attempt_without_an_end_is_named_until_a_printed_report_named_it() {
        let name = |entries: &[Entry]| states(entries).1[&("a".to_string(), 0)].to_name();
        // Killed with task 1 running: the next start names it.
        let mut entries = vec![run(&["a"]), started(1, 1)];
        assert!(name(&entries));
        // That start was killed too, before its report: the third names it (both attempts).
        entries.extend([run(&["a"]), started(1, 2)]);
        assert!(name(&entries));
        // The second start ended it and printed its report: named once, not again.
        let mut printed = vec![run(&["a"]), started(1, 1), run(&["a"])];
        printed.extend([started(1, 2), finished(1, 2, EndKind::Ok), reported()]);
        assert!(!name(&printed));
        // Without the printed report, the same ok end leaves attempt 1 to name.
        printed.pop();
        assert!(name(&printed));
        // An attempt of the start that printed, left without an end (its rank was lost), is not
        // named by that report: the next start names it.
        let lost = vec![run(&["a"]), started(1, 1), reported(), run(&["a"])];
        assert!(name(&lost));
        // A start that ended every attempt it started and printed its report: nothing to name.
        let clean = vec![
            run(&["a"]),
            started(1, 1),
            finished(1, 1, EndKind::Ok),
            reported(),
        ];
        assert!(!name(&clean));
    }

    #[test]
    fn states_follow_tasks_by_their_text_across_changed_lists() {
        let entries = vec![
            run(&["a", "b", "a"]),
            started(1, 1),
            finished(1, 1, EndKind::Ok),
            started(3, 1),
            finished(3, 1, EndKind::Exit),
            run(&["b", "a", "a", "c"]),
            started(3, 2),
            finished(3, 2, EndKind::Ok),
        ];
        let (last, states) = states(&entries);
        assert_eq!(last.commands.len(), 4);
        // The second "a" failed once (as task 3), then succeeded (as task 3 of the new list).
        let second_a = &states[&("a".to_string(), 1)];
        assert_eq!(
            (second_a.attempts, second_a.ok, second_a.last),
            (2, true, Some(EndKind::Ok))
        );
        assert!(states[&("a".to_string(), 0)].ok);
        assert!(!states.contains_key(&("c".to_string(), 0)));
    }
}
