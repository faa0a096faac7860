//! Monte Carlo estimate of π: 64 seeded tasks under `dynamic` on every rank's threads, their
//! estimates summed in the reproducible tree, so the answer has the same bits on any number of
//! ranks and threads; rank 0 checks it against the serial sum in the tree's order.
//!
//! `pi [TASKS] [SAMPLES]` (defaults 64 and 200000); `mpirun -np 3 target/release/examples/pi`.

use rand::{Rng, SeedableRng};
use spmdkit::reduce::serial_sum;
use spmdkit::{Error, World};

fn estimate(seed: u64, samples: u64) -> f64 {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let inside = (0..samples)
        .filter(|_| rng.random::<f64>().powi(2) + rng.random::<f64>().powi(2) <= 1.0)
        .count();
    4.0 * inside as f64 / samples as f64
}

fn arg(i: usize, default: u64) -> Result<u64, Error> {
    let text = std::env::args().nth(i);
    let bad = |a: &str| Error::bad_input(format!("'{a}' is not a whole number")).everywhere();
    text.map_or(Ok(default), |a| a.parse().map_err(|_| bad(&a)))
}

fn main() -> std::process::ExitCode {
    World::run(|job| {
        let (tasks, samples) = (arg(1, 64)?, arg(2, 200_000)?);
        let run = job.run(0..tasks, |_, &seed| estimate(seed, samples))?;
        if let Some(sum) = run.sum(job)? {
            let serial = serial_sum((0..tasks).map(|seed| estimate(seed, samples)));
            assert_eq!(
                serial.map(f64::to_bits),
                Some(sum.to_bits()),
                "the serial reference"
            );
            let (pi, ranks) = (sum / tasks as f64, job.size());
            let bits = pi.to_bits();
            println!("pi = {pi:.6} (bits {bits:016x}) from {tasks} tasks on {ranks} ranks");
        }
        Ok(())
    })
}
