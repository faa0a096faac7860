//! Tasks that each return an array, summed reproducibly after a dynamic schedule: whichever rank
//! ran which task, the sum has the same bits (checked by its SHA-256).
//!
//! `array_sum [TASKS] [SIDE]` (defaults 40 and 64); `mpirun -np 3 target/release/examples/array_sum`.

use ndarray::Array2;
use spmdkit::{kernels, reduce, Error, Farm, Leaves, World};

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
        // Task k: the product of two random matrices drawn from (seed 7, k).
        let tasks: Vec<u64> = (0..count as u64).collect();
        let run = Farm::new(&pool).quiet().run(comm, tasks, |_, &k| {
            let (a, b) = (
                kernels::generate(7, 2 * k, side),
                kernels::generate(7, 2 * k + 1, side),
            );
            let mut c = Array2::zeros((side, side));
            kernels::multiply_into(&a, &b, &mut c, 1);
            c
        })?;

        let mut leaves = Leaves::new(&pool);
        for r in run.into_records() {
            leaves.insert(r.id, r.result.map_err(Error::failed)?);
        }
        if let Some(sum) = reduce::tree(comm, leaves) {
            let digest = kernels::digest(sum.as_slice().expect("standard layout"));
            println!(
                "sum of {count} products of {side}x{side} on {} ranks: digest {digest}",
                comm.size()
            );
        }
        Ok(())
    })
}
