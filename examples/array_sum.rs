//! Tasks that each return an array, summed reproducibly after a dynamic schedule: whichever rank
//! ran which task, the sum has the same bits, those of the same leaves summed on one rank alone
//! ([`Leaves::into_array`], the serial reference), which rank 0 checks.
//!
//! `array_sum [TASKS] [SIDE]` (defaults 40 and 64); `mpirun -np 3 target/release/examples/array_sum`.

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use spmdkit::{reduce, Error, Farm, Leaves, World};

/// Task k's array: `side × side` values drawn from a stream seeded with k.
fn array(k: u64, side: usize) -> Array2<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(k);
    Array2::from_shape_simple_fn((side, side), || rng.random::<f64>() - 0.5)
}

fn main() -> std::process::ExitCode {
    World::run(|comm| {
        let arg = |i: usize, default: usize| -> Result<usize, Error> {
            std::env::args().nth(i).map_or(Ok(default), |a| {
                a.parse()
                    .map_err(|_| Error::bad_input(format!("'{a}' is not a whole number")))
            })
        };
        let (count, side) = (arg(1, 40)?, arg(2, 64)?);
        let pool = spmdkit::agree(comm, spmdkit::pool(2))?;
        let tasks: Vec<u64> = (0..count as u64).collect();
        let run = Farm::new(&pool)
            .quiet()
            .run(comm, tasks, |_, &k| array(k, side))?;

        let mut leaves = Leaves::new(&pool);
        for r in run.into_records() {
            leaves.insert(r.id, r.result.map_err(Error::failed)?);
        }
        if let Some(sum) = reduce::tree(comm, leaves) {
            let mut serial = Leaves::new(&pool);
            for k in 0..count {
                serial.insert(k, array(k as u64, side));
            }
            let serial = serial.into_array().expect("some tasks");
            let same = sum
                .iter()
                .zip(&serial)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same, "the sum differs from the serial reference");
            let bits = sum.iter().fold(0u64, |h, x| h.rotate_left(5) ^ x.to_bits());
            println!(
                "sum of {count} arrays of {side}x{side} on {} ranks: bits {bits:016x}, the serial \
                 reference's",
                comm.size()
            );
        }
        Ok(())
    })
}
