//! HDF5 output, written atomically.
//!
//! A file is written under a temporary name of its own in the directory of the file,
//! `<name>.spmdkit-partial-<id>` (`<id>`: 16 random hex digits, so the name is unique across
//! hosts sharing a filesystem and across PID namespaces; created exclusively), closed and flushed
//! to disk, then published under the requested name in one step: `link(2)` when the name must not
//! be overwritten (it fails if the name appeared meanwhile; on filesystems without hard links,
//! `renameat2(RENAME_NOREPLACE)`, else a check and a `rename`), or `rename(2)` with `--force`.
//! Every file carries the run's id as the attribute `run_id` of `/`, and after publishing the
//! writer reads it back: a run that reports success has published its own results. A crash at
//! any moment leaves either no file or the complete one under the requested name; a leftover
//! `*.spmdkit-partial-*` file is an interrupted write, safe to delete, and is never reused.
//!
//! `--force` replaces a regular file only: a directory, device, FIFO or socket is refused before
//! any work. A symbolic link is followed: with `--force` the file it points to is replaced (in
//! the target's directory), the link itself kept; a link to nothing is refused.

/// The HDF5 crate spmdkit writes with (`hdf5-metno`), so programs use the same version.
pub use hdf5;
use hdf5::types::VarLenUnicode;
use std::fs::OpenOptions;
use std::os::unix::fs::FileTypeExt;
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
    /// The path names something other than a regular file (a device, FIFO, socket).
    #[error(
        "output path '{path}' is {kind}, not a regular file; spmdkit writes (and --force \
         replaces) regular files only"
    )]
    NotRegular {
        /// The requested file.
        path: PathBuf,
        /// What it is: "a character device", "a FIFO", ...
        kind: &'static str,
    },
    /// The path is a symbolic link to nothing.
    #[error(
        "output path '{path}' is a symbolic link to '{target}', which does not exist; remove the \
         link or give another name"
    )]
    DanglingLink {
        /// The requested file.
        path: PathBuf,
        /// Where the link points.
        target: PathBuf,
    },
    /// The directory that would hold the file does not exist.
    #[error("cannot write '{path}': directory '{dir}' does not exist")]
    NoDirectory {
        /// The requested file.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// What would be the file's directory is not a directory.
    #[error("cannot write '{path}': '{dir}' is not a directory")]
    NotADirectory {
        /// The requested file.
        path: PathBuf,
        /// What stands where its directory would be.
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
    /// Writing failed part-way; nothing of this run was left under the requested name.
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
    pub fn kind(&self) -> crate::error::Kind {
        match self {
            OutputError::Write { .. } => crate::error::Kind::Failed,
            _ => crate::error::Kind::BadInput,
        }
    }
}

impl From<OutputError> for crate::error::Error {
    fn from(e: OutputError) -> Self {
        crate::error::Error::new(e.kind(), e.to_string())
    }
}

/// A checked place to write one HDF5 file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputTarget {
    /// The name as given.
    path: PathBuf,
    /// Where the file is published: `path`, or the file a symbolic link `path` points to.
    dest: PathBuf,
    force: bool,
    /// This run's id: in the temporary names and in the file's `run_id` attribute.
    run_id: String,
    fail_part_way: bool,
    no_hard_links: bool,
}

/// What a file type is, in words.
fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// 16 random hex digits from the kernel (std's randomly keyed hash of the time and pid if it has
/// none to give).
fn random_id() -> String {
    let mut bytes = [0u8; 8];
    // SAFETY: the pointer and length describe `bytes`, which outlives the call.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    let mut value = u64::from_le_bytes(bytes);
    if got != bytes.len() as isize {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        value = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            (now, std::process::id()),
        );
    }
    format!("{value:016x}")
}

/// The longest prefix of `name` of at most `max` bytes that ends on a character boundary.
fn prefix(name: &str, max: usize) -> &str {
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Temporary names keep at most this much of the file name, so that any legal name (255 bytes)
/// leaves room for the suffix.
const NAME_KEPT: usize = 200;
const PARTIAL: &str = ".spmdkit-partial-";
/// A temporary file untouched for this long is reported as probably left by an interrupted write.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

impl OutputTarget {
    /// Checks, before any work starts, that `path` can be written: not a directory, device, FIFO
    /// or socket, not a symbolic link to nothing, not existing unless `force`, and in a directory
    /// where this process can create files (tested by creating and removing a temporary file).
    ///
    /// # Errors
    /// The reason the path cannot be used.
    pub fn check(path: &Path, force: bool) -> Result<Self, OutputError> {
        let not_writable = |dir: &Path, e: std::io::Error| OutputError::NotWritable {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            why: e.to_string(),
        };
        let dest = match std::fs::symlink_metadata(path) {
            // Not there, or its directory is not one (said below).
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.raw_os_error() == Some(libc::ENOTDIR) =>
            {
                path.to_path_buf()
            }
            Err(e) => return Err(not_writable(&directory_of(path), e)),
            Ok(meta) => {
                let (meta, dest) = if meta.file_type().is_symlink() {
                    match std::fs::metadata(path) {
                        Ok(target) => (
                            target,
                            std::fs::canonicalize(path)
                                .map_err(|e| not_writable(&directory_of(path), e))?,
                        ),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            return Err(OutputError::DanglingLink {
                                path: path.to_path_buf(),
                                target: std::fs::read_link(path).unwrap_or_default(),
                            })
                        }
                        Err(e) => return Err(not_writable(&directory_of(path), e)),
                    }
                } else {
                    (meta, path.to_path_buf())
                };
                if meta.is_dir() {
                    return Err(OutputError::IsDirectory(path.to_path_buf()));
                }
                if !meta.is_file() {
                    return Err(OutputError::NotRegular {
                        path: path.to_path_buf(),
                        kind: kind_of(meta.file_type()),
                    });
                }
                if !force {
                    return Err(OutputError::Exists(path.to_path_buf()));
                }
                dest
            }
        };
        let dir = directory_of(&dest);
        if !dir.exists() {
            return Err(OutputError::NoDirectory {
                path: path.to_path_buf(),
                dir,
            });
        }
        if !dir.is_dir() {
            return Err(OutputError::NotADirectory {
                path: path.to_path_buf(),
                dir,
            });
        }
        let target = OutputTarget {
            path: path.to_path_buf(),
            dest,
            force,
            run_id: random_id(),
            fail_part_way: false,
            no_hard_links: false,
        };
        let probe = target.partial_path(&random_id());
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(|e| not_writable(&dir, e))?;
        let _ = std::fs::remove_file(&probe);
        Ok(target)
    }

    /// Makes [`OutputTarget::write_with`] fail after the content is written but before the file
    /// is published, when `yes` (the `io-error` injected fault).
    pub fn fail_part_way(mut self, yes: bool) -> Self {
        self.fail_part_way = yes;
        self
    }

    /// Publishes as on a filesystem without hard links, when `yes` (the `no-hard-links`
    /// injected fault).
    #[doc(hidden)]
    pub fn without_hard_links(mut self, yes: bool) -> Self {
        self.no_hard_links = yes;
        self
    }

    /// Temporary files of earlier writes to the same name, untouched for 10 minutes: most likely
    /// left by a run that was killed while writing. They are never reused or removed (another
    /// run's live write looks the same from here), only reported, so the user can delete them.
    pub fn stale_partials(&self) -> Vec<PathBuf> {
        let Some(name) = self
            .dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            return Vec::new();
        };
        let start = format!("{}{PARTIAL}", prefix(&name, NAME_KEPT));
        let Ok(entries) = std::fs::read_dir(directory_of(&self.dest)) else {
            return Vec::new();
        };
        let mut stale: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| {
                let file = e.file_name().to_string_lossy().into_owned();
                let ours = file
                    .strip_prefix(&start)
                    .is_some_and(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()));
                ours && e
                    .metadata()
                    .ok()
                    .and_then(|m| m.modified().ok())
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= STALE_AFTER)
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

    /// This run's id, stored in the file as the attribute `run_id` of `/`.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// A temporary name with `id`, next to the file.
    fn partial_path(&self, id: &str) -> PathBuf {
        let name = self
            .dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        directory_of(&self.dest).join(format!("{}{PARTIAL}{id}", prefix(&name, NAME_KEPT)))
    }

    /// Creates a temporary file of this run's own, exclusively (another name if one exists).
    fn create_partial(&self) -> Result<Partial, String> {
        let mut id = self.run_id.clone();
        for _ in 0..8 {
            let path = self.partial_path(&id);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(Partial(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => id = random_id(),
                Err(e) => return Err(format!("cannot create '{}': {e}", path.display())),
            }
        }
        Err("cannot find a free temporary name".into())
    }

    /// Creates the file under a temporary name, lets `fill` write it, and publishes it under the
    /// requested name only if everything succeeded.
    ///
    /// # Examples
    /// ```
    /// use spmdkit::output::{hdf5, OutputTarget};
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
    /// [`OutputError::Write`] when `fill`, closing, syncing or publishing fails, or when another
    /// run's file took the name at the same moment; the temporary file is removed and nothing of
    /// this run appears under the requested name.
    pub fn write_with(
        &self,
        fill: impl FnOnce(&hdf5::File) -> hdf5::Result<()>,
    ) -> Result<(), OutputError> {
        let fail = |why: String| OutputError::Write {
            path: self.path.clone(),
            why,
        };
        let partial = self.create_partial().map_err(fail)?;
        let file = hdf5::File::create(&partial.0).map_err(|e| fail(e.to_string()))?;
        put_text_attr(&file, "run_id", &self.run_id).map_err(|e| fail(e.to_string()))?;
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
        self.publish(&partial.0).map_err(fail)?;
        drop(partial);
        if let Ok(dir) = std::fs::File::open(directory_of(&self.dest)) {
            let _ = dir.sync_all();
        }
        self.verify().map_err(fail)
    }

    /// Writes `bytes` as the file (a timeline, a text report), by the same steps as
    /// [`OutputTarget::write_with`]: a temporary file of its own, flushed, published, read back.
    ///
    /// # Errors
    /// [`OutputError::Write`] when writing or publishing fails, or another run's file took the
    /// name at the same moment.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<(), OutputError> {
        use std::io::Write;
        let fail = |why: String| OutputError::Write {
            path: self.path.clone(),
            why,
        };
        let partial = self.create_partial().map_err(fail)?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&partial.0)
            .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
            .map_err(|e| fail(e.to_string()))?;
        if self.fail_part_way {
            return Err(fail(
                "injected fault: I/O error part-way through the write".into(),
            ));
        }
        self.publish(&partial.0).map_err(fail)?;
        drop(partial);
        match std::fs::read(&self.dest) {
            Ok(back) if back == bytes => Ok(()),
            Ok(_) => Err(fail(
                "another run replaced the file at the same moment; it holds that run's output"
                    .into(),
            )),
            Err(e) => Err(fail(format!("cannot read the published file back: {e}"))),
        }
    }

    /// Moves the complete temporary file to its name: replacing with `force`, else only if the
    /// name is still free.
    fn publish(&self, partial: &Path) -> Result<(), String> {
        let appeared = || {
            "the file appeared while spmdkit was running (another run?); this run's results \
             are not in it; pass --force to overwrite it"
                .to_string()
        };
        if self.force {
            return std::fs::rename(partial, &self.dest).map_err(|e| e.to_string());
        }
        let linked = if self.no_hard_links {
            Err(std::io::Error::from_raw_os_error(libc::EPERM))
        } else {
            std::fs::hard_link(partial, &self.dest)
        };
        let unsupported = |e: &std::io::Error| {
            matches!(
                e.raw_os_error(),
                Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL | libc::EMLINK)
            )
        };
        match linked {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(appeared()),
            Err(e) if !unsupported(&e) => return Err(e.to_string()),
            Err(_) => {}
        }
        // No hard links here (some FUSE and SMB filesystems): rename without replacing.
        match rename_noreplace(partial, &self.dest) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(appeared()),
            Err(e) if unsupported(&e) => {
                // Neither: check, then rename. A run creating the name in between would be
                // replaced; `verify` then tells that run it lost its file.
                if std::fs::symlink_metadata(&self.dest).is_ok() {
                    return Err(appeared());
                }
                std::fs::rename(partial, &self.dest).map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Reads the published file's `run_id` back: it must be this run's.
    fn verify(&self) -> Result<(), String> {
        let found = hdf5::File::open(&self.dest)
            .and_then(|f| f.attr("run_id")?.read_scalar::<VarLenUnicode>())
            .map_err(|e| format!("cannot read the published file back: {e}"))?;
        if found.as_str() == self.run_id {
            Ok(())
        } else {
            Err(format!(
                "another run (id {found}) replaced the file at the same moment; it holds that \
                 run's results, not this one's (id {})",
                self.run_id
            ))
        }
    }
}

/// `renameat2(from, to, RENAME_NOREPLACE)`: fails with `AlreadyExists` if `to` exists.
fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both pointers are NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
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
fn put_text_attr(file: &hdf5::File, name: &str, value: &str) -> hdf5::Result<()> {
    file.new_attr::<VarLenUnicode>()
        .create(name)?
        .write_scalar(&text(value)?)
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
    fn old_partials_of_the_same_name_are_reported_and_nothing_else() {
        let dir = scratch("stale");
        let path = dir.join("d.h5");
        let target = OutputTarget::check(&path, false).unwrap();
        let old = dir.join("d.h5.spmdkit-partial-0123456789abcdef");
        let fresh = dir.join("d.h5.spmdkit-partial-fedcba9876543210");
        let other = dir.join("e.h5.spmdkit-partial-0123456789abcdef");
        let odd = dir.join("d.h5.spmdkit-partial-42");
        for f in [&old, &fresh, &other, &odd] {
            std::fs::write(f, b"x").unwrap();
        }
        let long_ago = std::time::SystemTime::now() - STALE_AFTER * 2;
        for f in [&old, &other, &odd] {
            std::fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        assert_eq!(target.stale_partials(), vec![old]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_is_not_a_regular_file_is_refused_even_with_force() {
        let dir = scratch("special");
        let fifo = dir.join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        for force in [false, true] {
            let e = OutputTarget::check(&fifo, force).unwrap_err();
            assert!(
                e.to_string().contains("is a FIFO, not a regular file"),
                "{e}"
            );
            assert_eq!(e.exit_code(), 2);
        }
        let socket_path = dir.join("sock");
        let _socket = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
        let e = OutputTarget::check(&socket_path, true).unwrap_err();
        assert!(e.to_string().contains("a socket"), "{e}");
        // A link to a device is followed and refused.
        let link = dir.join("null.h5");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let e = OutputTarget::check(&link, true).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        // A link to nothing is refused before any work, with or without force.
        let dangling = dir.join("gone.h5");
        std::os::unix::fs::symlink(dir.join("nowhere/x.h5"), &dangling).unwrap();
        for force in [false, true] {
            let e = OutputTarget::check(&dangling, force).unwrap_err();
            assert!(e.to_string().contains("symbolic link to"), "{e}");
        }
        // A regular file where the directory should be.
        let file = dir.join("plain");
        std::fs::write(&file, b"x").unwrap();
        let e = OutputTarget::check(&file.join("x.h5"), false).unwrap_err();
        assert!(e.to_string().contains("is not a directory"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn force_through_a_link_replaces_its_target_and_keeps_the_link() {
        let dir = scratch("link");
        std::fs::create_dir_all(dir.join("runs")).unwrap();
        let real = dir.join("runs/r1.h5");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.join("latest.h5");
        std::os::unix::fs::symlink("runs/r1.h5", &link).unwrap();
        assert!(matches!(
            OutputTarget::check(&link, false),
            Err(OutputError::Exists(_))
        ));
        let target = OutputTarget::check(&link, true).unwrap();
        target
            .write_with(|f| f.new_attr::<u64>().create("answer")?.write_scalar(&7u64))
            .unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let file = hdf5::File::open(&real).unwrap();
        assert_eq!(
            file.attr("answer").unwrap().read_scalar::<u64>().unwrap(),
            7
        );
        let id = file
            .attr("run_id")
            .unwrap()
            .read_scalar::<VarLenUnicode>()
            .unwrap();
        assert_eq!(id.as_str(), target.run_id());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_longest_legal_name_can_be_written() {
        let dir = scratch("long");
        let path = dir.join(format!("{}.h5", "n".repeat(250)));
        let target = OutputTarget::check(&path, false).unwrap();
        target.write_with(|_| Ok(())).unwrap();
        assert!(path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn without_hard_links_the_file_is_still_published_without_clobbering() {
        let dir = scratch("nolinks");
        let path = dir.join("f.h5");
        let target = OutputTarget::check(&path, false)
            .unwrap()
            .without_hard_links(true);
        target.write_with(|_| Ok(())).unwrap();
        assert!(path.exists());
        let second = OutputTarget {
            run_id: random_id(),
            ..target
        };
        let e = second.write_with(|_| Ok(())).unwrap_err();
        assert!(e.to_string().contains("appeared"), "{e}");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_replaced_by_another_run_is_not_reported_as_published() {
        let dir = scratch("swap");
        let path = dir.join("s.h5");
        let mine = OutputTarget::check(&path, false).unwrap();
        let theirs = OutputTarget::check(&path, false).unwrap();
        assert_ne!(mine.run_id(), theirs.run_id());
        theirs.write_with(|_| Ok(())).unwrap();
        // As if their rename had landed between this run's publish and its check.
        let e = mine.verify().unwrap_err();
        assert!(e.contains("another run"), "{e}");
        assert!(theirs.verify().is_ok());
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
            .write_with(|f| f.new_attr::<u64>().create("answer")?.write_scalar(&42u64))
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
            run_id: random_id(),
            ..target
        };
        assert!(again.write_with(|_| Ok(())).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
