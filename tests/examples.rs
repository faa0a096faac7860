//! The programs in `examples/`, written against the library, run under `mpirun` at 1, 2 and 3
//! ranks and without a launcher: each must print the same result bits every time.

mod common;

use common::{run_bounded, Run, Scratch, HANG_LIMIT};
use std::path::PathBuf;
use std::process::Command;

/// `target/<profile>/examples/<name>`, next to this test's own `deps/` directory.
fn example(name: &str) -> String {
    let exe = std::env::current_exe().expect("the test's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path: PathBuf = profile.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: cargo test builds the examples",
        path.display()
    );
    path.to_string_lossy().into_owned()
}

/// Runs the example alone (`np` 0) or under `mpirun -np <np>`.
fn launch(name: &str, np: usize, args: &[&str]) -> Run {
    if np == 0 {
        let mut cmd = Command::new(example(name));
        cmd.args(args);
        run_bounded(cmd, HANG_LIMIT)
    } else {
        common::mpirun_of(&example(name), np, args, &[])
    }
}

/// The example's one line of stdout, with its "on N ranks" checked and taken out.
fn result_line(run: &Run, ranks: usize) -> String {
    run.assert_code(0);
    let line = run.stdout.trim();
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "one line from rank 0:\n{}",
        run.stdout
    );
    let on = format!(" on {ranks} ranks");
    assert!(line.contains(&on), "'{on}' in: {line}");
    line.replace(&on, "")
}

/// The same line at every size, alone and under mpirun.
fn same_everywhere(name: &str, args: &[&str]) -> String {
    let lines: Vec<String> = [0, 1, 2, 3]
        .into_iter()
        .map(|np| result_line(&launch(name, np, args), np.max(1)))
        .collect();
    assert!(lines.iter().all(|l| *l == lines[0]), "{name}: {lines:#?}");
    lines[0].clone()
}

#[test]
fn pi_has_the_same_bits_at_every_rank_count() {
    let line = same_everywhere("pi", &["48", "20000"]);
    assert!(line.starts_with("pi = 3.1"), "{line}");
    let bits = line
        .split("(bits ")
        .nth(1)
        .expect("bits")
        .split(')')
        .next()
        .unwrap();
    let pi = f64::from_bits(u64::from_str_radix(bits, 16).expect("hex bits"));
    assert!((pi - std::f64::consts::PI).abs() < 0.01, "{pi}");
}

#[test]
fn arrays_summed_after_a_dynamic_schedule_have_the_bits_of_the_serial_reference() {
    // The example itself asserts its sum against the serial reference (it would exit 101).
    let line = same_everywhere("array_sum", &["30", "48"]);
    assert!(
        line.starts_with("sum of 30 arrays of 48x48: bits "),
        "{line}"
    );
}

#[test]
fn a_sweep_brings_every_result_to_rank_0_in_task_order() {
    // The example checks its values against the closed form; the output is the same everywhere.
    let outputs: Vec<String> = [0, 1, 2, 3]
        .into_iter()
        .map(|np| {
            let run = launch("sweep", np, &["4000"]);
            run.assert_code(0);
            let last = format!("200 points on {} ranks", np.max(1));
            assert!(run.stdout.trim_end().ends_with(&last), "{}", run.stdout);
            run.stdout.replace(&last, "")
        })
        .collect();
    assert!(outputs.iter().all(|o| *o == outputs[0]), "{outputs:#?}");
    assert!(
        outputs[0].starts_with("a = 0.5, b = 1: 0.80"),
        "{}",
        outputs[0]
    );
}

#[test]
fn failing_tasks_are_listed_and_the_job_fails_alike_everywhere() {
    for np in [0, 2, 3] {
        let run = launch("failing_tasks", np, &[]);
        // The failed task of the lowest id, whichever rank ran it.
        run.assert_says_once(1, "task 2 failed: invalid float literal");
        assert!(
            run.stderr.contains("failing_tasks: error: "),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("task 4 (rank "), "{}", run.stderr);
        let on = format!("5 of 7 tasks ok on {} ranks", np.max(1));
        assert_eq!(
            run.stdout,
            format!(
                "{on}\ntask 2 failed: invalid float literal\ntask 4 failed: panicked at \
                 examples/failing_tasks.rs:14:13: task input 'boom'\n"
            )
        );
    }
}

#[test]
fn a_job_of_ones_own_writes_its_hdf5_file_atomically() {
    let dir = Scratch::new("ownh5");
    let mut files = Vec::new();
    for np in [0, 1, 2, 3] {
        let out = dir.path(&format!("h{np}.h5"));
        let o = out.to_str().unwrap();
        let line = result_line(&launch("own_h5", np, &[o, "20"]), np.max(1));
        assert!(line.contains("20 histograms, total ["), "{line}");
        let h5 = common::read_h5(&out);
        let rows = h5["datasets"]["/histograms"]["data"].as_array().unwrap();
        assert_eq!(rows.len(), 20);
        let total: u64 = h5["datasets"]["/total"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(total, 20 * 100_000);
        files.push(h5["datasets"].clone());
        // An existing file is refused before any work, by every rank alike, and kept.
        let again = launch("own_h5", np, &[o, "20"]);
        again.assert_says_once(2, "already exists");
        assert_eq!(common::read_h5(&out)["datasets"], files[0]);
    }
    assert!(files.iter().all(|f| *f == files[0]));
    // Only the published files remain: no temporary name is left behind.
    assert_eq!(dir.entries().len(), 4, "{:?}", dir.entries());
    dir.done();
}

#[test]
fn an_error_on_one_rank_ends_the_job_as_the_program_chose() {
    for np in [2, 3] {
        let last = np - 1;
        // Never a message of another call, never output of a job that went on.
        let run = |how: &str| {
            let run = launch("rank_error", np, &[how]);
            assert!(
                !run.stderr.contains("MPI_ERR_TRUNCATE") && run.stdout.is_empty(),
                "{how} at np {np}: {}",
                run.stderr
            );
            run
        };
        // Agreed on: every rank returns it, rank 0 prints it once, the kind's exit code.
        run("agreed").assert_says_once(
            2,
            &format!("rank_error: error: rank {last}: input.{last} is missing"),
        );
        // Returned by one rank alone while the others are in the reduction: the job ends at
        // once (within the test's limit, not at a hang timeout) with that rank's message.
        run("alone")
            .assert_says_once(
                1,
                &format!("spmdkit: rank {last}: rank_error: error: input.{last} is missing"),
            )
            .assert_says_once(1, "this rank alone returned the error");
        // A panic on one rank: the job ends, naming it.
        run("panic").assert_says_once(
            1,
            &format!("spmdkit: rank {last}: panicked: rank {last} cannot go on"),
        );
        // Another collective than the others: both calls are named.
        let others = if np == 2 { "rank 0" } else { "ranks 0-1" };
        run("collective").assert_says_once(
            1,
            &format!(
                "spmdkit: rank 0: the ranks are in different collectives: {others} in \
                 reduce::tree at examples/rank_error.rs:47:28; rank {last} in \
                 collective::broadcast at examples/rank_error.rs:36:37"
            ),
        );
    }
    // Without a launcher the one rank's error is the job's: its kind's exit code.
    launch("rank_error", 0, &["alone"])
        .assert_says_once(2, "rank_error: error: input.0 is missing");
}
