//! The workloads, each a client of the engine ([`crate::farm`]) or of the reductions
//! ([`crate::reduce`]), taking job parameters (not command-line structs). A job function is
//! collective: every rank calls it; rank 0 returns the report, the others `None`.

/// The longest duration accepted anywhere (a task, a timeout, a delay), in seconds (about 11.6
/// days): long enough for any job, short enough to stay exact and in range everywhere.
pub const MAX_DURATION_S: f64 = 1.0e6;

#[doc(hidden)]
pub mod fault;
pub mod info;
pub mod matrix;
pub mod memory;
pub mod run;
pub mod sleep;
pub(crate) mod text;

use crate::collective;
use crate::comm::{cores_here, Comm};

/// A note for the user when some rank may run on fewer cores than the `threads` it will use:
/// launchers bind ranks to cores (Open MPI binds each of up to 2 ranks to one core by default),
/// and threads beyond a rank's cores only take turns on them. Rank 0 gets the note, naming the
/// first such rank, and every other rank `None`.
///
/// # Collective
/// Every rank must call it.
pub fn binding_note<C: Comm + ?Sized>(comm: &C, threads: usize) -> Option<String> {
    let all = collective::gather(comm, 0, &cores_here())?;
    let (rank, cores) = all.iter().enumerate().find(|(_, c)| **c < threads)?;
    Some(format!(
        "note: rank {rank} may run on {cores} core(s) (its CPU binding) but will use {threads} \
         threads, which take turns on them; under Open MPI give --bind-to none or \
         --map-by slot:PE={threads}, under Slurm --cpus-per-task={threads}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;

    #[test]
    fn a_note_only_when_threads_exceed_the_cores() {
        let cores = cores_here();
        let notes = inproc::run(3, |comm| binding_note(comm, cores + 1));
        let note = notes[0].as_deref().expect("rank 0 gets the note");
        assert!(
            note.contains("rank 0 may run on") && note.contains("--bind-to none"),
            "{note}"
        );
        assert!(notes[1..].iter().all(Option::is_none));
        let quiet = inproc::run(2, |comm| binding_note(comm, cores));
        assert!(quiet.iter().all(Option::is_none));
    }
}
