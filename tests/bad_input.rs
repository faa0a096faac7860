//! Bad input: exit 2, one message from rank 0 that names the problem, nothing computed, nothing
//! written.

mod common;

use common::{mpirun, refused, Scratch};

#[test]
fn bad_durations_are_named() {
    refused(
        &["sleep", "--durations", "0.1,-1"],
        &[],
        "--durations item 2: '-1' is not a valid duration: durations cannot be negative",
    );
    refused(
        &["sleep", "--durations", "nan"],
        &[],
        "item 1: 'nan' is not a valid duration: durations must be finite",
    );
    refused(
        &["sleep", "--durations", "1,inf"],
        &[],
        "item 2: 'inf' is not a valid duration",
    );
    refused(
        &["sleep", "--durations", "0.1,abc"],
        &[],
        "item 2: 'abc' is not a valid duration: expected a number",
    );
    refused(
        &["sleep", "--durations", ""],
        &[],
        "--durations lists no tasks",
    );
    refused(
        &["sleep", "--durations", "5e6"],
        &[],
        "limited to 1000000 s",
    );
}

#[test]
fn bad_tasks_files_are_named_with_the_line() {
    let dir = Scratch::new("badfiles");
    let bad = dir.path("bad.txt");
    std::fs::write(&bad, "0.1\n# fine\n0.2\nten\n").unwrap();
    let empty = dir.path("empty.txt");
    std::fs::write(&empty, "# only a comment\n").unwrap();
    let binary = dir.path("blob.bin");
    std::fs::write(&binary, [0u8, 159, 146, 150, 255]).unwrap();
    let b = bad.to_str().unwrap();
    refused(
        &["sleep", "--tasks-file", b],
        &[],
        "line 4: 'ten' is not a valid duration",
    );
    refused(
        &["sleep", "--tasks-file", "/nonexistent/tasks.txt"],
        &[],
        "tasks file '/nonexistent/tasks.txt': No such file or directory",
    );
    refused(
        &["sleep", "--tasks-file", empty.to_str().unwrap()],
        &[],
        "lists no tasks",
    );
    refused(
        &["sleep", "--tasks-file", binary.to_str().unwrap()],
        &[],
        "is not text",
    );
    refused(
        &["sleep", "--tasks-file", dir.0.to_str().unwrap()],
        &[],
        "it is a directory",
    );
    dir.done();
}

#[test]
fn bad_threads_schedules_and_flags_are_named() {
    refused(
        &["sleep", "--threads", "0"],
        &[],
        "--threads = '0' is not a valid thread count: use at least 1",
    );
    refused(&["sleep", "--threads", "many"], &[], "--threads = 'many'");
    refused(&["sleep", "--schedule", "fastest"], &[], "'fastest'");
    refused(&["sleep", "--no-such-flag"], &[], "--no-such-flag");
    refused(
        &["sleep", "--durations", "1", "--tasks-file", "x"],
        &[],
        "cannot be used with",
    );
    refused(
        &["sleep"],
        &[("SLURM_CPUS_PER_TASK", "lots")],
        "SLURM_CPUS_PER_TASK = 'lots'",
    );
    refused(&["info", "--threads", "-3"], &[], "--threads = '-3'");
    refused(&["frobnicate"], &[], "unrecognized subcommand 'frobnicate'");
}

#[test]
fn bad_outputs_are_named() {
    let dir = Scratch::new("badout");
    let existing = dir.path("exists.h5");
    std::fs::write(&existing, b"keep").unwrap();
    let e = existing.to_str().unwrap();
    let run = mpirun(2, &["sleep", "--durations", "0.01", "--output", e], &[]);
    run.assert_code(2);
    assert!(run.stderr.contains("already exists"), "{}", run.stderr);
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep");
    refused(
        &["sleep", "--output", "/nonexistent-dir/x.h5"],
        &[],
        "directory '/nonexistent-dir' does not exist",
    );
    refused(
        &["sleep", "--output", dir.0.to_str().unwrap()],
        &[],
        "is a directory",
    );
    refused(
        &["sleep", "--force"],
        &[],
        "required arguments were not provided",
    );
    dir.done();
}
