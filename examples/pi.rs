//! Monte Carlo estimate of π: tasks scattered under `dynamic`, computed on each rank's threads,
//! their estimates summed in the fixed tree, so the answer has the same bits on any number of
//! ranks and threads.
//!
//! `pi [TASKS] [SAMPLES]` (defaults 64 and 200000); `mpirun -np 3 target/release/examples/pi`.

use ndarray::array;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use spmdkit::{reduce, Error, Farm, Leaves, World};

#[derive(Serialize, Deserialize)]
struct Task {
    seed: u64,
    samples: u64,
}

fn estimate(task: &Task) -> f64 {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(task.seed);
    let inside = (0..task.samples)
        .filter(|_| rng.random::<f64>().powi(2) + rng.random::<f64>().powi(2) <= 1.0)
        .count();
    4.0 * inside as f64 / task.samples as f64
}

fn main() -> std::process::ExitCode {
    World::run(|comm| {
        let arg = |i: usize, default: u64| -> Result<u64, Error> {
            std::env::args().nth(i).map_or(Ok(default), |a| {
                a.parse()
                    .map_err(|_| Error::bad_input(format!("'{a}' is not a whole number")))
            })
        };
        let (count, samples) = (arg(1, 64)?, arg(2, 200_000)?);
        let threads = spmdkit::comm::threads_here(None)?.count;
        let pool = spmdkit::agree(comm, spmdkit::pool(threads))?;
        let tasks = (0..count).map(|seed| Task { seed, samples }).collect();
        let run = Farm::new(&pool).run(comm, tasks, |_, t| estimate(t))?;

        let mut leaves = Leaves::new(&pool);
        for r in run.records() {
            leaves.insert(r.id, array![r.result.clone().map_err(Error::failed)?]);
        }
        if let Some(sum) = reduce::tree(comm, leaves) {
            let pi = sum[0] / count as f64;
            println!(
                "pi = {pi:.6} (bits {:016x}) from {count} tasks on {} ranks",
                pi.to_bits(),
                comm.size()
            );
        }
        Ok(())
    })
}
