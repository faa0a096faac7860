//! Starting a process from a rank: `posix_spawn` with a clean slate.
//!
//! A rank is an MPI process: it holds the launcher's sockets (PMIx, the TCP links to its
//! peers) and the variables that make it a rank of its job. What it starts (each command, the
//! guardian) must hold neither: an inherited peer socket keeps a dead rank's connections open
//! (its peers would not see it go), and a command that is itself an MPI program would take
//! itself for a rank of this job. So every descriptor from 3 up is closed in the child
//! (`posix_spawn_file_actions_addclosefrom_np`, glibc 2.34+), the launcher's variables are left
//! out of its environment ([`spmdkit::comm::set_by_launcher`]), every signal is reset to its
//! default and none is blocked, and the child gets a process group of its own.
//!
//! `posix_spawn` (a `vfork`-like clone in glibc) runs no code of this program in the child, so
//! nothing here can run in a half-copied multithreaded process (what `fork` + `pre_exec` would
//! risk under MPI's threads and handlers).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The environment a rank's children start from: this process's, without the launcher's
/// variables. Read once per run, on the main thread (the environment must not be read while
/// another thread may change it).
#[derive(Debug, Clone)]
pub(super) struct BaseEnv(Vec<(OsString, OsString)>);

impl BaseEnv {
    /// This process's environment less the launcher's variables.
    pub(super) fn of_this_process() -> BaseEnv {
        BaseEnv(
            std::env::vars_os()
                .filter(|(k, _)| !k.to_str().is_some_and(spmdkit::comm::set_by_launcher))
                .collect(),
        )
    }

    /// `KEY=VALUE` strings of this environment with `set` added (or replacing).
    fn with(&self, set: &[(&str, String)]) -> Vec<CString> {
        let mut out = Vec::with_capacity(self.0.len() + set.len());
        for (k, v) in &self.0 {
            if set.iter().any(|(s, _)| OsStr::new(s) == k) {
                continue;
            }
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            if let Ok(c) = CString::new(kv) {
                out.push(c);
            }
        }
        for (k, v) in set {
            if let Ok(c) = CString::new(format!("{k}={v}")) {
                out.push(c);
            }
        }
        out
    }
}

/// What to start.
pub(super) struct Spawn<'a> {
    /// The program (a path: no `PATH` lookup).
    pub(super) program: &'a Path,
    /// Its arguments after `argv[0]` (which is the program's path).
    pub(super) args: &'a [&'a str],
    /// The environment: the base, with these variables set.
    pub(super) env: &'a BaseEnv,
    pub(super) set: &'a [(&'a str, String)],
    /// The working directory, if not this process's.
    pub(super) cwd: Option<&'a Path>,
    /// Descriptors 0, 1 and 2 of the child.
    pub(super) stdio: [RawFd; 3],
}

fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a path"))
}

fn check(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Starts `spawn` in a process group of its own; returns its pid.
///
/// # Errors
/// The error of `posix_spawn` (a missing program, no memory, too many processes).
pub(super) fn spawn(spawn: &Spawn<'_>) -> io::Result<libc::pid_t> {
    let program = c_path(spawn.program)?;
    let mut argv: Vec<CString> = vec![program.clone()];
    for a in spawn.args {
        argv.push(
            CString::new(*a).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte in a command")
            })?,
        );
    }
    let env = spawn.env.with(spawn.set);
    let cwd = spawn.cwd.map(c_path).transpose()?;
    let mut argv_ptrs: Vec<*mut libc::c_char> =
        argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv_ptrs.push(std::ptr::null_mut());
    let mut env_ptrs: Vec<*mut libc::c_char> = env.iter().map(|e| e.as_ptr().cast_mut()).collect();
    env_ptrs.push(std::ptr::null_mut());
    // SAFETY: the attribute and file-action objects are initialised before use and destroyed
    // on every path below; every pointer handed to posix_spawn (program, argv, envp, cwd)
    // points at a NUL-terminated string, the arrays end with a null pointer, and all of them
    // outlive the call.
    unsafe {
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        check(libc::posix_spawn_file_actions_init(&mut actions))?;
        if let Err(e) = check(libc::posix_spawnattr_init(&mut attr)) {
            libc::posix_spawn_file_actions_destroy(&mut actions);
            return Err(e);
        }
        let result = (|| {
            for (target, &fd) in spawn.stdio.iter().enumerate() {
                check(libc::posix_spawn_file_actions_adddup2(
                    &mut actions,
                    fd,
                    target as libc::c_int,
                ))?;
            }
            check(libc::posix_spawn_file_actions_addclosefrom_np(
                &mut actions,
                3,
            ))?;
            if let Some(dir) = &cwd {
                check(libc::posix_spawn_file_actions_addchdir_np(
                    &mut actions,
                    dir.as_ptr(),
                ))?;
            }
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            check(libc::posix_spawnattr_setsigdefault(&mut attr, &all))?;
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            check(libc::posix_spawnattr_setsigmask(&mut attr, &none))?;
            check(libc::posix_spawnattr_setpgroup(&mut attr, 0))?;
            let flags = libc::POSIX_SPAWN_SETSIGDEF
                | libc::POSIX_SPAWN_SETSIGMASK
                | libc::POSIX_SPAWN_SETPGROUP;
            check(libc::posix_spawnattr_setflags(&mut attr, flags as _))?;
            let mut pid: libc::pid_t = 0;
            check(libc::posix_spawn(
                &mut pid,
                program.as_ptr(),
                &actions,
                &attr,
                argv_ptrs.as_ptr(),
                env_ptrs.as_ptr(),
            ))?;
            Ok(pid)
        })();
        libc::posix_spawnattr_destroy(&mut attr);
        libc::posix_spawn_file_actions_destroy(&mut actions);
        result
    }
}

/// A pipe whose two ends are closed on exec (the child gets the one it needs through dup2).
pub(super) fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    use std::os::fd::FromRawFd;
    // SAFETY: both descriptors were just made and are owned by nobody else.
    Ok(unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    })
}

/// `/dev/null`, opened for reading and writing.
pub(super) fn dev_null() -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
}

/// The raw descriptor of a file, for [`Spawn::stdio`].
pub(super) fn fd(f: &std::fs::File) -> RawFd {
    f.as_raw_fd()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn wait(pid: libc::pid_t) -> i32 {
        let mut status = 0;
        // SAFETY: pid is our child; status is valid for writes.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        status
    }

    #[test]
    fn a_child_gets_its_stdio_no_other_descriptor_and_a_clean_environment() {
        // A descriptor this process holds without close-on-exec, as MPI's sockets are.
        let held = dev_null().unwrap();
        // SAFETY: clears FD_CLOEXEC on a descriptor of ours.
        unsafe { libc::fcntl(held.as_raw_fd(), libc::F_SETFD, 0) };
        let (mut read, write) = pipe().unwrap();
        let null = dev_null().unwrap();
        let base = BaseEnv(vec![
            ("KEEP".into(), "kept".into()),
            ("PMIX_RANK".into(), "3".into()),
            ("SET".into(), "old".into()),
        ]);
        // Built as of_this_process would: the launcher's variables left out.
        let base = BaseEnv(
            base.0
                .into_iter()
                .filter(|(k, _)| !spmdkit::comm::set_by_launcher(k.to_str().unwrap()))
                .collect(),
        );
        let script = format!(
            "ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; echo \"$KEEP $SET ${{PMIX_RANK:-none}}\"; \
             test -e /proc/self/fd/{} && echo leaked; pwd",
            held.as_raw_fd()
        );
        let pid = spawn(&Spawn {
            program: Path::new("/bin/sh"),
            args: &["-c", &script],
            env: &base,
            set: &[("SET", "new".into())],
            cwd: Some(Path::new("/tmp")),
            stdio: [fd(&null), fd(&write), fd(&write)],
        })
        .unwrap();
        drop(write);
        let mut out = String::new();
        read.read_to_string(&mut out).unwrap();
        assert_eq!(wait(pid), 0);
        let lines: Vec<&str> = out.lines().collect();
        // ls itself opens one more descriptor to list the directory.
        let fds: Vec<u32> = lines[0]
            .split_whitespace()
            .map(|f| f.parse().unwrap())
            .collect();
        assert!(fds.starts_with(&[0, 1, 2]) && fds.len() <= 4, "{out}");
        assert_eq!(lines[1], "kept new none", "{out}");
        assert_eq!(lines[2], "/tmp", "{out}");
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let null = dev_null().unwrap();
        let e = spawn(&Spawn {
            program: Path::new("/nonexistent/program"),
            args: &[],
            env: &BaseEnv(Vec::new()),
            set: &[],
            cwd: None,
            stdio: [fd(&null), fd(&null), fd(&null)],
        })
        .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
