//! A job of one's own that writes its own HDF5 file with the library's atomic writer: the file
//! appears complete under its name, or not at all.
//!
//! Each task histograms the squares of 100 000 numbers of its own stream into 16 bins; rank 0
//! gathers the histograms and writes `/histograms` (tasks × 16) and `/total` to FILE.h5.
//! `own_h5 FILE.h5 [TASKS]`; `mpirun -np 3 target/release/examples/own_h5 out.h5`.

use rand::{Rng, SeedableRng};
use spmdkit::output::{hdf5, OutputTarget};
use spmdkit::{agree, Error, Policy, World};

fn histogram(seed: u64) -> Vec<u64> {
    let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut bins = vec![0u64; 16];
    for _ in 0..100_000 {
        bins[(rng.random::<f64>().powi(2) * 16.0) as usize] += 1;
    }
    bins
}

fn main() -> std::process::ExitCode {
    World::run(|comm| {
        let path = std::env::args()
            .nth(1)
            .ok_or_else(|| Error::bad_input("usage: own_h5 FILE.h5 [TASKS]"))?;
        let count: u64 = std::env::args()
            .nth(2)
            .map_or(Ok(24), |a| a.parse())
            .map_err(|_| Error::bad_input("TASKS must be a whole number"))?;
        // Rank 0 refuses a bad path before any work; every rank takes the same exit.
        let root = comm.rank() == 0;
        let target = agree(
            comm,
            root.then(|| OutputTarget::check(path.as_ref(), false))
                .transpose(),
        )?;
        let run = comm
            .farm()?
            .policy(Policy::Cyclic)
            .run(comm, 0..count, |_, &seed| histogram(seed))?;
        run.check(comm)?; // every task succeeded, or every rank returns the first failure
        let (Some(all), Some(target)) = (run.gather(comm), target) else {
            return agree(comm, Ok::<(), Error>(())); // rank 0's write, below, is agreed on
        };
        let rows: Vec<Vec<u64>> = all
            .records
            .into_iter()
            .filter_map(|r| r.result.ok())
            .collect();
        let table = ndarray::Array2::from_shape_vec((rows.len(), 16), rows.concat())
            .expect("16 bins a row");
        let total = table.sum_axis(ndarray::Axis(0));
        let written = target.write_with(|file: &hdf5::File| {
            file.new_dataset_builder()
                .with_data(&table)
                .create("histograms")?;
            file.new_dataset_builder()
                .with_data(&total)
                .create("total")?;
            Ok(())
        });
        agree(comm, written)?;
        println!(
            "wrote {path} on {} ranks: {count} histograms, total {total}",
            comm.size()
        );
        Ok(())
    })
}
