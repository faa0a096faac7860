//! Tasks that each return a 2-D array, summed reproducibly after a dynamic schedule: whichever
//! rank ran which task, the sum has the bits of the same arrays summed on one thread in the
//! tree's order ([`spmdkit::reduce::serial_sum`]), which rank 0 checks.
//!
//! `array_sum [TASKS] [SIDE]` (defaults 40 and 64); `mpirun -np 3 target/release/examples/array_sum`.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use spmdkit::reduce::serial_sum;
use spmdkit::{Error, World};

/// Task k's array: `side × side` values drawn from a stream seeded with k.
fn array(k: u64, side: usize) -> Array2<f64> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(k);
    Array2::from_shape_simple_fn((side, side), || rng.random::<f64>() - 0.5)
}

fn arg(i: usize, default: u64) -> Result<u64, Error> {
    let text = std::env::args().nth(i);
    let bad = |a: &str| Error::bad_input(format!("'{a}' is not a whole number")).everywhere();
    text.map_or(Ok(default), |a| a.parse().map_err(|_| bad(&a)))
}

fn main() -> std::process::ExitCode {
    World::run(|job| {
        let (tasks, side) = (arg(1, 40)?, arg(2, 64)? as usize);
        let run = job.run(0..tasks, |_, &k| array(k, side))?;
        if let Some(sum) = run.sum(job)? {
            let serial = serial_sum((0..tasks).map(|k| array(k, side))).expect("some tasks");
            let same = serial
                .iter()
                .zip(&sum)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "the sum has the bits of the serial reference");
            let bits = sum.iter().fold(0u64, |h, x| h.rotate_left(5) ^ x.to_bits());
            let ranks = job.size();
            println!("sum of {tasks} arrays of {side}x{side} on {ranks} ranks: bits {bits:016x}");
        }
        Ok(())
    })
}
