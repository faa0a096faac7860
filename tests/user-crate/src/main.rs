//! Squares of 100 numbers, summed reproducibly over whatever ranks run them, with the lower-level
//! pieces: an explicit pool, the farm, leaves by task id and the tree.

use serde::{Deserialize, Serialize};
use spmdkit::{reduce, Error, Farm, Leaves, Policy, World};

#[derive(Serialize, Deserialize)]
struct Task {
    x: u64,
}

fn main() -> std::process::ExitCode {
    World::run(|comm| {
        let pool = spmdkit::agree(comm, spmdkit::pool(2))?;
        let tasks: Vec<Task> = (0..100).map(|x| Task { x }).collect();
        let run = Farm::new(&pool)
            .policy(Policy::Dynamic)
            .quiet()
            .run(comm, tasks, |_, t| (t.x * t.x) as f64)?;
        let mut leaves = Leaves::new(&pool);
        for r in run.into_records() {
            leaves.insert(r.id, ndarray::array![r.result.map_err(Error::failed)?]);
        }
        if let Some(sum) = reduce::tree(comm, leaves) {
            println!("sum of squares {} on {} ranks", sum[0], comm.size());
        }
        Ok(())
    })
}
