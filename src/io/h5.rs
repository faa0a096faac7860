//! HDF5 output, written atomically.
//!
//! A file is written under a temporary name in the same directory,
//! `<name>.spmdkit-partial-<pid>`, closed and flushed to disk, then published under the
//! requested name in one step: `link(2)` when the name must not be overwritten (it fails if the
//! name appeared meanwhile) or `rename(2)` with `--force`. A crash at any moment therefore leaves
//! either no file or the complete one under the requested name; a leftover `*.spmdkit-partial-*`
//! file is an interrupted write, safe to delete, and the next run (another pid) never collides
//! with it.

use crate::jobs::matrix::MatrixReport;
use crate::jobs::run::RunReport;
use crate::jobs::sleep::SleepReport;
use hdf5::types::VarLenUnicode;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

/// The output file cannot be used or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The file exists and `--force` was not given.
    #[error("output file '{0}' already exists; pass --force to overwrite it")]
    Exists(PathBuf),
    /// The path names a directory.
    #[error("output path '{0}' is a directory; give a file name such as run.h5")]
    IsDirectory(PathBuf),
    /// The directory that would hold the file does not exist.
    #[error("cannot write '{path}': directory '{dir}' does not exist")]
    NoDirectory {
        /// The requested file.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// Files cannot be created in the directory.
    #[error("cannot write '{path}': cannot create files in '{dir}': {why}")]
    NotWritable {
        /// The requested file.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
        /// The operating system's reason.
        why: String,
    },
    /// Writing failed part-way; nothing was left under the requested name.
    #[error("writing '{path}' failed: {why}")]
    Write {
        /// The requested file.
        path: PathBuf,
        /// What failed.
        why: String,
    },
}

impl OutputError {
    /// 2 for a path refused before any work (bad input), 1 for a failed write.
    pub fn exit_code(&self) -> u8 {
        self.kind().exit_code()
    }

    /// Bad input for a path refused before any work, a failure for a failed write.
    pub fn kind(&self) -> crate::Kind {
        match self {
            OutputError::Write { .. } => crate::Kind::Failed,
            _ => crate::Kind::BadInput,
        }
    }
}

impl From<OutputError> for crate::Error {
    fn from(e: OutputError) -> Self {
        crate::Error::new(e.kind(), e.to_string())
    }
}

/// A checked place to write one HDF5 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTarget {
    path: PathBuf,
    force: bool,
    fail_part_way: bool,
}

impl OutputTarget {
    /// Checks, before any work starts, that `path` can be written: not a directory, not existing
    /// unless `force`, and in a directory where this process can create files (tested by creating
    /// and removing the temporary file).
    ///
    /// # Errors
    /// The reason the path cannot be used.
    pub fn check(path: &Path, force: bool) -> Result<Self, OutputError> {
        if path.is_dir() {
            return Err(OutputError::IsDirectory(path.to_path_buf()));
        }
        if path.exists() && !force {
            return Err(OutputError::Exists(path.to_path_buf()));
        }
        let dir = directory_of(path);
        if !dir.is_dir() {
            return Err(OutputError::NoDirectory {
                path: path.to_path_buf(),
                dir,
            });
        }
        let target = OutputTarget {
            path: path.to_path_buf(),
            force,
            fail_part_way: false,
        };
        let probe = target.partial_path();
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(|e| OutputError::NotWritable {
                path: path.to_path_buf(),
                dir: dir.clone(),
                why: e.to_string(),
            })?;
        let _ = std::fs::remove_file(&probe);
        Ok(target)
    }

    /// Makes [`OutputTarget::write_with`] fail after the content is written but before the file
    /// is published, when `yes` (the `io-error` injected fault).
    pub fn fail_part_way(mut self, yes: bool) -> Self {
        self.fail_part_way = yes;
        self
    }

    /// Temporary files of earlier writes to the same name whose process is gone: left by a run
    /// that was killed while writing. They are never reused or overwritten (each run writes under
    /// its own pid), only reported, so the user can delete them.
    pub fn stale_partials(&self) -> Vec<PathBuf> {
        let Some(name) = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            return Vec::new();
        };
        let prefix = format!("{name}.spmdkit-partial-");
        let Ok(entries) = std::fs::read_dir(directory_of(&self.path)) else {
            return Vec::new();
        };
        let mut stale: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                match file.strip_prefix(&prefix).map(str::parse::<u32>) {
                    Some(Ok(pid)) => !Path::new(&format!("/proc/{pid}")).exists(),
                    _ => false,
                }
            })
            .map(|e| e.path())
            .collect();
        stale.sort();
        stale
    }

    /// The requested file name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary name this process writes to before publishing.
    pub fn partial_path(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        directory_of(&self.path).join(format!("{name}.spmdkit-partial-{}", std::process::id()))
    }

    /// Creates the file under the temporary name, lets `fill` write it, and publishes it under the
    /// requested name only if everything succeeded.
    ///
    /// # Examples
    /// ```
    /// use spmdkit::io::{hdf5, OutputTarget};
    /// let dir = std::env::temp_dir().join(format!("spmdkit-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let path = dir.join("squares.h5");
    /// let target = OutputTarget::check(&path, false).unwrap(); // before any work: exit 2 if bad
    /// target
    ///     .write_with(|file: &hdf5::File| {
    ///         let squares: Vec<f64> = (0..4).map(|i| (i * i) as f64).collect();
    ///         file.new_dataset_builder().with_data(&squares[..]).create("squares")?;
    ///         Ok(())
    ///     })
    ///     .unwrap();
    /// assert!(path.exists());
    /// std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    ///
    /// # Errors
    /// [`OutputError::Write`] when `fill`, closing, syncing or publishing fails; the temporary
    /// file is removed and nothing appears under the requested name.
    pub fn write_with(
        &self,
        fill: impl FnOnce(&hdf5::File) -> hdf5::Result<()>,
    ) -> Result<(), OutputError> {
        let partial = Partial(self.partial_path());
        let fail = |why: String| OutputError::Write {
            path: self.path.clone(),
            why,
        };
        let file = hdf5::File::create(&partial.0).map_err(|e| fail(e.to_string()))?;
        fill(&file).map_err(|e| fail(e.to_string()))?;
        if self.fail_part_way {
            return Err(fail(
                "injected fault: I/O error part-way through the write".into(),
            ));
        }
        file.close().map_err(|e| fail(e.to_string()))?;
        std::fs::File::open(&partial.0)
            .and_then(|f| f.sync_all())
            .map_err(|e| fail(format!("cannot flush to disk: {e}")))?;
        if self.force {
            std::fs::rename(&partial.0, &self.path).map_err(|e| fail(e.to_string()))?;
        } else {
            std::fs::hard_link(&partial.0, &self.path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    fail(
                        "the file appeared while spmdkit was running; pass --force to overwrite it"
                            .into(),
                    )
                } else {
                    fail(e.to_string())
                }
            })?;
        }
        drop(partial);
        if let Ok(dir) = std::fs::File::open(directory_of(&self.path)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// Removes the temporary file when dropped (after publishing, only the extra link goes).
struct Partial(PathBuf);

impl Drop for Partial {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The HDF5 library version, e.g. `"1.10.8"`.
pub fn library_version() -> String {
    let (a, b, c) = hdf5::library_version();
    format!("{a}.{b}.{c}")
}

fn text(s: &str) -> hdf5::Result<VarLenUnicode> {
    s.parse::<VarLenUnicode>()
        .map_err(|e| hdf5::Error::from(format!("cannot store '{s}' as HDF5 text: {e}")))
}

/// Attributes of `/`, the facts of a run.
pub(crate) fn put_text_attr(file: &hdf5::File, name: &str, value: &str) -> hdf5::Result<()> {
    file.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&text(value)?)
}

pub(crate) fn put_number_attr<T: hdf5::H5Type>(
    file: &hdf5::File,
    name: &str,
    value: T,
) -> hdf5::Result<()> {
    file.new_attr::<T>().create(name)?.write_scalar(&value)
}

/// Writes a `sleep` report: group `/tasks` with one 1-D dataset per record field (`id`,
/// `duration_s`, `rank`, `thread`, `start_s`, `end_s`, `ok`, `result`, `error`) and the run
/// facts as attributes of `/`.
///
/// # Errors
/// As [`OutputTarget::write_with`].
pub fn write_sleep(report: &SleepReport, target: &OutputTarget) -> Result<(), OutputError> {
    target.write_with(|file| {
        put_text_attr(file, "command", "sleep")?;
        put_number_attr(file, "ranks", report.ranks as u64)?;
        put_number_attr(file, "threads_per_rank", report.threads_per_rank as u64)?;
        put_number_attr(file, "workers", report.workers as u64)?;
        put_text_attr(file, "schedule", &report.schedule)?;
        put_number_attr(file, "total_sleep_s", report.total_sleep_s)?;
        put_number_attr(file, "wall_s", report.wall_s)?;
        put_number_attr(file, "makespan_s", report.makespan_s)?;
        put_number_attr(file, "ideal_s", report.ideal_s)?;
        put_number_attr(file, "failed_count", report.failed.len() as u64)?;
        put_text_attr(file, "version", &report.version)?;
        put_text_attr(file, "mpi_library", &report.mpi_library)?;

        let tasks = file.create_group("tasks")?;
        let t = &report.tasks;
        let column = |name: &str, values: &[f64]| -> hdf5::Result<()> {
            tasks.new_dataset_builder().with_data(values).create(name)?;
            Ok(())
        };
        let ints = |name: &str, values: Vec<u64>| -> hdf5::Result<()> {
            tasks
                .new_dataset_builder()
                .with_data(&values[..])
                .create(name)?;
            Ok(())
        };
        let strings = |name: &str, values: Vec<&str>| -> hdf5::Result<()> {
            let values = values
                .into_iter()
                .map(text)
                .collect::<hdf5::Result<Vec<_>>>()?;
            tasks
                .new_dataset_builder()
                .with_data(&values[..])
                .create(name)?;
            Ok(())
        };
        ints("id", t.iter().map(|r| r.id as u64).collect())?;
        column(
            "duration_s",
            &t.iter().map(|r| r.duration_s).collect::<Vec<_>>(),
        )?;
        ints("rank", t.iter().map(|r| r.rank as u64).collect())?;
        ints("thread", t.iter().map(|r| r.thread as u64).collect())?;
        column("start_s", &t.iter().map(|r| r.start_s).collect::<Vec<_>>())?;
        column("end_s", &t.iter().map(|r| r.end_s).collect::<Vec<_>>())?;
        let ok: Vec<u8> = t.iter().map(|r| u8::from(r.error.is_none())).collect();
        tasks
            .new_dataset_builder()
            .with_data(&ok[..])
            .create("ok")?;
        strings(
            "result",
            t.iter()
                .map(|r| r.result.as_deref().unwrap_or(""))
                .collect(),
        )?;
        strings(
            "error",
            t.iter().map(|r| r.error.as_deref().unwrap_or("")).collect(),
        )?;
        Ok(())
    })
}

/// Writes a `run` report: group `/tasks` with one 1-D dataset per field of every attempt's
/// record (`task`, `attempt`, `rank`, `slot`, `kind`, `exit_code` and `signal` with -1 for none,
/// `wall_s`, `user_s`, `sys_s`, `max_rss_kib`, `stdout_bytes`, `stderr_bytes`), in the order the
/// attempts ended, and the run facts as attributes of `/`.
///
/// # Errors
/// As [`OutputTarget::write_with`].
pub fn write_run(report: &RunReport, target: &OutputTarget) -> Result<(), OutputError> {
    target.write_with(|file| {
        put_text_attr(file, "command", "run")?;
        put_number_attr(file, "ranks", report.ranks as u64)?;
        put_number_attr(file, "tasks", report.tasks as u64)?;
        put_number_attr(file, "ok", report.ok as u64)?;
        put_number_attr(file, "failed_count", report.failed.len() as u64)?;
        put_number_attr(file, "skipped", report.skipped as u64)?;
        put_number_attr(file, "wall_s", report.wall_s)?;
        put_text_attr(file, "journal", &report.journal)?;
        put_text_attr(file, "version", &report.version)?;
        let tasks = file.create_group("tasks")?;
        let r = &report.records;
        let ints = |name: &str, values: Vec<i64>| -> hdf5::Result<()> {
            tasks
                .new_dataset_builder()
                .with_data(&values[..])
                .create(name)?;
            Ok(())
        };
        let floats = |name: &str, values: Vec<f64>| -> hdf5::Result<()> {
            tasks
                .new_dataset_builder()
                .with_data(&values[..])
                .create(name)?;
            Ok(())
        };
        ints("task", r.iter().map(|f| f.task as i64).collect())?;
        ints("attempt", r.iter().map(|f| i64::from(f.attempt)).collect())?;
        ints("rank", r.iter().map(|f| f.rank as i64).collect())?;
        ints("slot", r.iter().map(|f| f.slot as i64).collect())?;
        let kinds = r
            .iter()
            .map(|f| text(f.kind.name()))
            .collect::<hdf5::Result<Vec<_>>>()?;
        tasks
            .new_dataset_builder()
            .with_data(&kinds[..])
            .create("kind")?;
        ints(
            "exit_code",
            r.iter()
                .map(|f| f.exit_code.map_or(-1, i64::from))
                .collect(),
        )?;
        ints(
            "signal",
            r.iter().map(|f| f.signal.map_or(-1, i64::from)).collect(),
        )?;
        floats("wall_s", r.iter().map(|f| f.wall_s).collect())?;
        floats("user_s", r.iter().map(|f| f.user_s).collect())?;
        floats("sys_s", r.iter().map(|f| f.sys_s).collect())?;
        ints(
            "max_rss_kib",
            r.iter().map(|f| f.max_rss_kib as i64).collect(),
        )?;
        ints(
            "stdout_bytes",
            r.iter().map(|f| f.stdout_bytes as i64).collect(),
        )?;
        ints(
            "stderr_bytes",
            r.iter().map(|f| f.stderr_bytes as i64).collect(),
        )?;
        Ok(())
    })
}

/// Writes a `matrix` result: dataset `/result` (n × n f64) and, with `save_inputs`,
/// `/inputs/<i>` for every input matrix, regenerated here from (seed, i) one at a time so that
/// rank 0 never holds more than one of them. Run facts and `digest` are attributes of `/`.
///
/// # Errors
/// As [`OutputTarget::write_with`].
pub fn write_matrix(
    report: &MatrixReport,
    result: &ndarray::Array2<f64>,
    target: &OutputTarget,
    save_inputs: bool,
) -> Result<(), OutputError> {
    target.write_with(|file| {
        put_text_attr(file, "command", "matrix")?;
        put_number_attr(file, "ranks", report.ranks as u64)?;
        put_number_attr(file, "threads_per_rank", report.threads_per_rank as u64)?;
        put_number_attr(file, "count", report.count as u64)?;
        put_number_attr(file, "size", report.size as u64)?;
        put_number_attr(file, "seed", report.seed)?;
        put_text_attr(file, "reduce", &report.reduce)?;
        put_number_attr(file, "reduce_rounds", u64::from(report.reduce_rounds))?;
        put_text_attr(file, "digest", &report.result.digest)?;
        put_number_attr(file, "sum", report.result.sum)?;
        put_number_attr(file, "frobenius", report.result.frobenius)?;
        put_text_attr(file, "version", &report.version)?;
        put_text_attr(file, "mpi_library", &report.mpi_library)?;
        file.new_dataset_builder()
            .with_data(result)
            .create("result")?;
        if save_inputs {
            let inputs = file.create_group("inputs")?;
            let n = report.size;
            let mut m = ndarray::Array2::zeros((n, n));
            for i in 0..report.count {
                crate::kernels::generate_into(report.seed, i as u64, &mut m);
                inputs
                    .new_dataset_builder()
                    .with_data(&m)
                    .create(i.to_string().as_str())?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("spmdkit-h5-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn existing_files_are_refused_without_force() {
        let dir = scratch("exists");
        let path = dir.join("a.h5");
        std::fs::write(&path, b"old").unwrap();
        assert!(matches!(
            OutputTarget::check(&path, false),
            Err(OutputError::Exists(_))
        ));
        assert!(OutputTarget::check(&path, true).is_ok());
        assert!(matches!(
            OutputTarget::check(&dir, true),
            Err(OutputError::IsDirectory(_))
        ));
        let missing = dir.join("no/such/dir/x.h5");
        assert!(matches!(
            OutputTarget::check(&missing, false),
            Err(OutputError::NoDirectory { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_partials_of_dead_processes_are_found() {
        let dir = scratch("stale");
        let path = dir.join("d.h5");
        let target = OutputTarget::check(&path, false).unwrap();
        // pid 4194305 is above Linux's pid_max limit: no such process can exist.
        let dead = dir.join("d.h5.spmdkit-partial-4194305");
        let alive = dir.join(format!("d.h5.spmdkit-partial-{}", std::process::id()));
        let other = dir.join("e.h5.spmdkit-partial-4194305");
        for f in [&dead, &alive, &other] {
            std::fs::write(f, b"x").unwrap();
        }
        assert_eq!(target.stale_partials(), vec![dead]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_fill_leaves_nothing_behind() {
        let dir = scratch("fail");
        let path = dir.join("b.h5");
        let target = OutputTarget::check(&path, false).unwrap();
        let e = target
            .write_with(|_| Err(hdf5::Error::from("injected")))
            .unwrap_err();
        assert!(e.to_string().contains("injected"));
        assert_eq!(e.exit_code(), 1);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_complete_write_is_published_and_the_partial_removed() {
        let dir = scratch("ok");
        let path = dir.join("c.h5");
        let target = OutputTarget::check(&path, false).unwrap();
        target
            .write_with(|f| put_number_attr(f, "answer", 42u64))
            .unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("c.h5")]);
        let file = hdf5::File::open(&path).unwrap();
        assert_eq!(
            file.attr("answer").unwrap().read_scalar::<u64>().unwrap(),
            42
        );
        // A second write without force must not clobber the first.
        let again = OutputTarget {
            path: path.clone(),
            force: false,
            fail_part_way: false,
        };
        assert!(again.write_with(|_| Ok(())).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
