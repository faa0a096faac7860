//! Never destroy, never lie, never read without bounds: what `--force` may replace, how results
//! files are published when runs race, reports that cannot be written, inputs that never end,
//! environment values and fault specs that make no sense, and messages that say what happened.

mod common;

use common::{alone, binary, mpirun, read_h5, refused, run_bounded, Scratch};
use std::process::Command;
use std::time::Duration;

fn mkfifo(path: &std::path::Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

#[test]
fn force_replaces_regular_files_only() {
    let dir = Scratch::new("force");
    // A FIFO, a socket and a character device (a null device of the test's own, made with
    // mknod as root: /dev/null itself is never put at risk).
    let fifo = dir.path("fifo.h5");
    mkfifo(&fifo);
    let socket = dir.path("sock.h5");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let device = dir.path("null.h5");
    let c = std::ffi::CString::new(device.to_str().unwrap()).unwrap();
    // SAFETY: a NUL-terminated path; makedev(1, 3) is the null device.
    let made = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(made, 0, "mknod needs root, which the test suite runs as");
    let link_to_device = dir.path("link.h5");
    std::os::unix::fs::symlink(&device, &link_to_device).unwrap();
    for (path, kind) in [
        (&fifo, "a FIFO"),
        (&socket, "a socket"),
        (&device, "a character device"),
        (&link_to_device, "a character device"),
    ] {
        let p = path.to_str().unwrap();
        refused(
            &["sleep", "--durations", "0", "--output", p, "--force"],
            &[],
            &format!("is {kind}, not a regular file"),
        );
    }
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(std::fs::metadata(&device)
        .unwrap()
        .file_type()
        .is_char_device());
    assert!(std::fs::symlink_metadata(&link_to_device)
        .unwrap()
        .file_type()
        .is_symlink());
    // A link to a regular file: with --force the file it points to is replaced, the link kept.
    std::fs::create_dir(dir.path("runs")).unwrap();
    std::fs::write(dir.path("runs/r.h5"), b"old").unwrap();
    let latest = dir.path("latest.h5");
    std::os::unix::fs::symlink("runs/r.h5", &latest).unwrap();
    let l = latest.to_str().unwrap();
    mpirun(2, &["sleep", "--durations", "0.01", "--output", l], &[]).assert_code(2);
    mpirun(
        2,
        &["sleep", "--durations", "0.01", "--output", l, "--force"],
        &[],
    )
    .assert_code(0);
    assert!(std::fs::symlink_metadata(&latest)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read_h5(&dir.path("runs/r.h5"))["attrs"]["ranks"], 2);
    dir.done();
}

#[test]
fn a_dangling_link_or_a_file_for_a_directory_is_refused_before_the_run() {
    let dir = Scratch::new("dangling");
    let link = dir.path("gone.h5");
    std::os::unix::fs::symlink(dir.path("nowhere/x.h5"), &link).unwrap();
    let l = link.to_str().unwrap();
    // 30 s of tasks: a refusal comes long before they could have run.
    for force in [false, true] {
        let mut args = vec!["sleep", "--durations", "30", "--output", l];
        if force {
            args.push("--force");
        }
        let run = mpirun(2, &args, &[]);
        run.assert_says_once(2, "is a symbolic link to");
        assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
    }
    std::fs::write(dir.path("plain"), b"x").unwrap();
    let under_file = dir.path("plain/x.h5");
    refused(
        &["sleep", "--output", under_file.to_str().unwrap()],
        &[],
        "plain' is not a directory",
    );
    dir.done();
}

#[test]
fn the_longest_legal_name_is_written_and_partials_are_unique() {
    let dir = Scratch::new("names");
    let name = format!("{}.h5", "r".repeat(250));
    let path = dir.path(&name);
    let p = path.to_str().unwrap();
    mpirun(2, &["sleep", "--durations", "0", "--output", p], &[]).assert_code(0);
    assert_eq!(dir.entries(), vec![name]);
    // Without hard links (some FUSE and SMB filesystems) the file is still published, and still
    // never over another one.
    let other = dir.path("nolink.h5");
    let o = other.to_str().unwrap();
    let args = [
        "sleep",
        "--durations",
        "0",
        "--output",
        o,
        "--inject-fault",
        "no-hard-links",
    ];
    alone(&args, &[]).assert_code(0);
    let again = alone(&args, &[]);
    again.assert_code(2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert!(read_h5(&other)["attrs"]["run_id"].as_str().unwrap().len() == 16);
    dir.done();
}

/// Two runs in PID namespaces of their own (both are pid 1 there) write the same file at the
/// same moment, without HDF5's file locks (as on Lustre or NFS). Without --force exactly one may
/// claim it; with --force both may succeed, one after the other. Either way a run that claims
/// the file alone finds its own results in it, and the file is always complete. (With temporary
/// names made of the pid, 7 of 12 such trials went wrong here.)
#[test]
fn runs_in_separate_pid_namespaces_never_swap_results() {
    let dir = Scratch::new("pidns");
    let out = dir.path("same.h5");
    let o = out.to_str().unwrap().to_string();
    for trial in 0..16 {
        let force = trial % 2 == 1;
        let _ = std::fs::remove_file(&out);
        let start = |durations: &'static str| {
            let mut cmd = Command::new("unshare");
            cmd.args([
                "--pid",
                "--fork",
                "--kill-child",
                binary(),
                "sleep",
                "--quiet",
            ])
            .args(["--durations", durations, "--output", &o])
            .env("HDF5_USE_FILE_LOCKING", "FALSE");
            if force {
                cmd.arg("--force");
            }
            std::thread::spawn(move || run_bounded(cmd, Duration::from_secs(60)))
        };
        // Two tasks in one run, three in the other: the file tells whose it is.
        let (a, b) = (start("0,0"), start("0,0,0"));
        let runs = [a.join().unwrap(), b.join().unwrap()];
        let won: Vec<usize> = (0..2).filter(|&i| runs[i].code == Some(0)).collect();
        let tasks = read_h5(&out)["datasets"]["/tasks/id"]["shape"][0]
            .as_u64()
            .unwrap() as usize;
        assert!(tasks == 2 || tasks == 3, "trial {trial}: {tasks} tasks");
        if !force {
            assert_eq!(won.len(), 1, "trial {trial}: one run publishes\n{runs:?}");
            let loser = &runs[1 - won[0]];
            // It lost the race while writing, or started after the other had published.
            assert!(
                loser.stderr.contains("appeared while spmdkit was running")
                    || loser.stderr.contains("already exists"),
                "trial {trial}: {}",
                loser.stderr
            );
        }
        if won.len() == 1 {
            assert_eq!(
                tasks,
                2 + won[0],
                "trial {trial}: the file is the winner's\n{runs:?}"
            );
        }
        assert_eq!(dir.entries(), vec!["same.h5".to_string()], "trial {trial}");
    }
    dir.done();
}

#[test]
fn a_report_that_cannot_be_written_is_a_failure() {
    let sh = |script: &str| {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script, "sh", binary()]);
        run_bounded(cmd, Duration::from_secs(60))
    };
    let full = sh("\"$1\" sleep --durations 0 --json > /dev/full");
    full.assert_code(1);
    assert!(
        full.stderr
            .contains("cannot write the report to stdout: No space left"),
        "{}",
        full.stderr
    );
    let closed = sh("\"$1\" sleep --durations 0 >&-");
    closed.assert_code(1);
    assert!(
        closed.stderr.contains("stdout is closed"),
        "{}",
        closed.stderr
    );
    // A reader that stops early chose to: not an error.
    let mut cmd = Command::new("/bin/bash");
    cmd.args([
        "-c",
        "set -o pipefail; \"$1\" sleep --durations 0,0 | head -c 1 >/dev/null",
        "sh",
        binary(),
    ]);
    run_bounded(cmd, Duration::from_secs(60)).assert_code(0);
    // Redirected to /dev/null on purpose: fine.
    sh("\"$1\" sleep --durations 0 > /dev/null").assert_code(0);
}

#[test]
fn inputs_are_bounded_and_devices_refused() {
    let dir = Scratch::new("bounded");
    let run = mpirun(2, &["sleep", "--tasks-file", "/dev/zero"], &[]);
    run.assert_says_once(2, "it is a device");
    let farm = mpirun(
        2,
        &[
            "run",
            "--tasks-file",
            "/dev/zero",
            "--journal",
            "/nonexistent/j",
        ],
        &[],
    );
    farm.assert_says_once(2, "it is a device");
    // One 48 MB line: refused with its length and a short quote, not echoed.
    let huge = dir.path("huge.txt");
    std::fs::write(&huge, vec![b'1'; 48 << 20]).unwrap();
    let run = alone(&["sleep", "--tasks-file", huge.to_str().unwrap()], &[]);
    run.assert_says_once(2, "line 1 has 50331648 bytes; lines are limited to 1048576");
    assert!(
        run.stderr.len() < 1000,
        "{} bytes of message",
        run.stderr.len()
    );
    // A pipe is read (within the same limits).
    let fifo = dir.path("tasks.fifo");
    mkfifo(&fifo);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, b"0.01\n0.02\n").unwrap())
    };
    let run = alone(
        &["sleep", "--json", "--tasks-file", fifo.to_str().unwrap()],
        &[],
    );
    writer.join().unwrap();
    run.assert_code(0);
    assert_eq!(run.json()["tasks"].as_array().unwrap().len(), 2);
    dir.done();
}

#[test]
fn environment_values_are_checked_like_options() {
    for value in ["1e300", "abc", "-1", "0"] {
        refused(
            &["sleep", "--durations", "0"],
            &[("SPMDKIT_PROGRESS_INTERVAL", value)],
            "SPMDKIT_PROGRESS_INTERVAL",
        );
    }
    alone(
        &["sleep", "--durations", "0"],
        &[("SPMDKIT_PROGRESS_INTERVAL", "0.5")],
    )
    .assert_code(0);
    for value in ["lots", "-1G", "4X", "1e300G"] {
        refused(
            &["matrix", "--count", "2", "--size", "8"],
            &[("SPMDKIT_MEMORY_PER_RANK", value)],
            "SPMDKIT_MEMORY_PER_RANK",
        );
    }
    for value in ["4Gi", "4GiB", "4G", "4gb", "100MiB"] {
        alone(
            &["matrix", "--count", "2", "--size", "8"],
            &[("SPMDKIT_MEMORY_PER_RANK", value)],
        )
        .assert_code(0);
    }
    // Just too little memory: the two figures are told apart, not both "N MiB".
    let run = alone(
        &["matrix", "--count", "2", "--size", "1024"],
        &[("SPMDKIT_MEMORY_PER_RANK", "41943039")],
    );
    run.assert_says_once(2, "needs 41943040 B");
    assert!(run.stderr.contains("but has 41943039 B"), "{}", run.stderr);
}

#[test]
fn faults_that_cannot_fire_are_refused() {
    refused(
        &[
            "sleep",
            "--durations",
            "0",
            "--inject-fault",
            "abort-rank=0@1e300",
        ],
        &[],
        "is not a fault",
    );
    refused(
        &[
            "sleep",
            "--durations",
            "0,0",
            "--inject-fault",
            "panic-task=2",
        ],
        &[],
        "the tasks are numbered from 0 to 1",
    );
    refused(
        &["sleep", "--durations", "0", "--inject-fault", "exit-rank=3"],
        &[],
        "the ranks are numbered from 0 to 2",
    );
    refused(
        &[
            "matrix",
            "--count",
            "4",
            "--size",
            "8",
            "--inject-fault",
            "panic-task=2",
        ],
        &[],
        "the tasks are numbered from 0 to 1",
    );
    let run = mpirun(
        2,
        &["sleep", "--durations", "0", "--inject-fault", "io-error"],
        &[],
    );
    run.assert_says_once(2, "there is no --output file to write");
}

#[test]
fn thread_counts_are_capped_per_core() {
    // This rank's cores, as spmdkit counts them.
    let cores = spmdkit::comm::cores_here();
    let most = spmdkit::comm::max_threads(cores).to_string();
    let over = (spmdkit::comm::max_threads(cores) + 1).to_string();
    let run = alone(&["sleep", "--durations", "0", "--threads", &over], &[]);
    run.assert_says_once(2, &format!("use at most {most} (64 per core"));
    alone(
        &[
            "sleep",
            "--durations",
            "0.01",
            "--threads",
            &most,
            "--quiet",
        ],
        &[],
    )
    .assert_code(0);
    // run's slots are threads too: refused for their number, before any command is read.
    let dir = Scratch::new("slots");
    let tasks = dir.path("t.txt");
    std::fs::write(&tasks, "true\n").unwrap();
    let t = tasks.to_str().unwrap();
    let run = alone(&["run", "--tasks-file", t, "--slots", &over], &[]);
    run.assert_says_once(
        2,
        &format!("--slots {over}: expected a whole number from 1 to {most}"),
    );
    dir.done();
}

#[test]
fn messages_say_what_is_there() {
    let dir = Scratch::new("messages");
    // A byte-order mark is accepted like CRLF.
    let bom = dir.path("bom.txt");
    std::fs::write(&bom, b"\xEF\xBB\xBF0.01\r\n-0\r\n").unwrap();
    let run = alone(
        &["sleep", "--json", "--tasks-file", bom.to_str().unwrap()],
        &[],
    );
    run.assert_code(0);
    let report = run.json();
    assert_eq!(report["tasks"][1]["duration_s"].as_f64(), Some(0.0));
    assert!(report["tasks"][1]["duration_s"]
        .as_f64()
        .unwrap()
        .is_sign_positive());
    let human = alone(&["sleep", "--durations", "-0"], &[]);
    human.assert_code(0);
    assert!(!human.stdout.contains("-0.0"), "{}", human.stdout);
    // Control characters are shown escaped, never raw.
    let run = alone(&["sleep", "--durations", "0.1\u{1b}[31m"], &[]);
    run.assert_code(2);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    assert!(run.stderr.contains("\\u{1b}[31m"), "{}", run.stderr);
    // One task is one task.
    let run = alone(&["sleep", "--durations", "0"], &[]);
    assert!(
        run.stdout.contains("spmdkit sleep: 1 task on 1 rank"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("the task succeeded"), "{}", run.stdout);
    // A panic in matrix ends the job: it does not claim that the others go on.
    let run = mpirun(
        2,
        &[
            "matrix",
            "--count",
            "2",
            "--size",
            "8",
            "--inject-fault",
            "panic-task=0",
        ],
        &[],
    );
    assert_ne!(run.code, Some(0));
    assert!(!run.stderr.contains("the others go on"), "{}", run.stderr);
    assert!(
        run.stderr.contains("injected fault: pair 0 panics"),
        "{}",
        run.stderr
    );
    // The classic sleep: a panic in a task is recorded and the others do go on.
    let run = mpirun(
        2,
        &[
            "sleep",
            "--durations",
            "0,0",
            "--inject-fault",
            "panic-task=1",
            "--quiet",
        ],
        &[],
    );
    run.assert_code(1);
    assert!(run.stderr.contains("the others go on"), "{}", run.stderr);
    dir.done();
}
