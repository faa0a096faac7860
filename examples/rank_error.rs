//! An error that only one rank sees (its input is missing, say), in the three ways a program can
//! meet it. The last rank fails; the others go on to a reduction.
//!
//! * `rank_error agreed`: the ranks agree on it first ([`spmdkit::agree`]): every rank returns
//!   the same error, rank 0 prints it once, naming the rank, and the job exits 2 (bad input).
//! * `rank_error alone`: the last rank returns it alone while the others are in the reduction:
//!   the job ends at once with that rank's message and exit 1 (not a wait, not a message of
//!   another call).
//! * `rank_error panic`: the last rank panics: the job ends at once, naming the rank.
//! * `rank_error collective`: the last rank calls another collective than the others: the job
//!   ends naming both calls.
//!
//! `mpirun -np 3 target/release/examples/rank_error agreed`.

use ndarray::array;
use spmdkit::{agree, collective, reduce, Error, Leaves, World};

fn main() -> std::process::ExitCode {
    World::run(|comm| {
        let how = std::env::args().nth(1).unwrap_or_default();
        let pool = agree(comm, spmdkit::pool(1))?;
        let last = comm.rank() + 1 == comm.size();
        let input = if last {
            Err(Error::bad_input(format!(
                "input.{} is missing",
                comm.rank()
            )))
        } else {
            Ok(comm.rank() as f64)
        };
        let value = match how.as_str() {
            "agreed" => agree(comm, input)?,
            "alone" => input?,
            "panic" if last => panic!("rank {} cannot go on", comm.rank()),
            // Rank 0 is in the reduction below, this rank in a broadcast from rank 0.
            "collective" if last => collective::broadcast::<_, f64>(comm, 0, None),
            "panic" | "collective" => 0.0,
            _ => {
                return Err(
                    Error::bad_input("usage: rank_error agreed|alone|panic|collective")
                        .everywhere(),
                )
            }
        };
        let mut leaves = Leaves::new(&pool);
        leaves.insert(comm.rank(), array![value]);
        if let Some(sum) = reduce::tree(comm, leaves) {
            println!("sum {} on {} ranks", sum[0], comm.size());
        }
        Ok(())
    })
}
