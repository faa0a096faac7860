//! Tasks that fail: each parses a number and takes its square root; "x" is not a number (the
//! task returns the parse error) and "boom" panics. Every other task still runs. Rank 0 lists
//! the failures (message, and for the panic its location), then the run's check gives every rank
//! the same error, naming the first failed task, and the job exits 1.
//!
//! `mpirun -np 3 target/release/examples/failing_tasks`.

use spmdkit::{collective, World};

fn main() -> std::process::ExitCode {
    World::run(|job| {
        let inputs = ["1", "4", "x", "9", "boom", "16", "25"].map(String::from);
        let run = job.farm()?.quiet().try_run(job, inputs, |_, s: &String| {
            assert!(s != "boom", "task input '{s}'");
            s.parse::<f64>().map(f64::sqrt)
        })?;
        let failed: Vec<(usize, String)> = run
            .records()
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(|e| (r.id, e.clone())))
            .collect();
        if let Some(all) = collective::gather(job, 0, &failed) {
            let ok = 7 - all.iter().map(Vec::len).sum::<usize>();
            println!("{ok} of 7 tasks ok on {} ranks", job.size());
            let mut failed = all.concat();
            failed.sort(); // by task id, whichever rank ran it
            for (id, why) in failed {
                println!("task {id} failed: {why}");
            }
        }
        run.check(job) // Err on every rank: [rank R: ]task 2 failed: invalid float literal
    })
}
