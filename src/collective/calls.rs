//! Which collective each rank is in: every typed collective, the farm and the reductions check on
//! entry, with one `MPI_Allreduce` of two numbers, that all ranks make the same call. A rank that
//! calls another collective than the others (or skips one, and so meets the others' next call)
//! ends the job with a message naming both calls, instead of meeting a message of another call
//! (`MPI_ERR_TRUNCATE`, a value that does not decode) or waiting forever. The messages number the
//! calls (the n-th checked call of this rank) so that a program's author can find them.

use crate::comm::Comm;
use std::cell::Cell;

/// The collective calls that check on entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Call {
    Broadcast = 1,
    Gather = 2,
    Scatter = 3,
    Agree = 4,
    Farm = 5,
    Tree = 6,
    AllTree = 7,
    Linear = 8,
    Native = 9,
    LiveRun = 10,
}

impl Call {
    const ALL: [Call; 10] = [
        Call::Broadcast,
        Call::Gather,
        Call::Scatter,
        Call::Agree,
        Call::Farm,
        Call::Tree,
        Call::AllTree,
        Call::Linear,
        Call::Native,
        Call::LiveRun,
    ];

    fn name(self) -> &'static str {
        match self {
            Call::Broadcast => "collective::broadcast",
            Call::Gather => "collective::gather",
            Call::Scatter => "collective::scatter",
            Call::Agree => "agree",
            Call::Farm => "Farm::run",
            Call::Tree => "reduce::tree",
            Call::AllTree => "reduce::all_tree",
            Call::Linear => "reduce::linear",
            Call::Native => "reduce::native",
            Call::LiveRun => "farm::run_live",
        }
    }
}

thread_local! {
    /// The checked calls this rank has made (collectives run on a rank's main thread only).
    static CALLS: Cell<u64> = const { Cell::new(0) };
}

/// The identifier of the `n`-th call, `call`.
fn id(n: u64, call: Call) -> u64 {
    (n << 8) | call as u64
}

/// The name of the call of an identifier.
fn name(id: u64) -> &'static str {
    Call::ALL
        .iter()
        .find(|c| **c as u64 == id & 0xff)
        .map_or("an unknown call", |c| c.name())
}

/// Checks that every rank makes the same collective call, `call`, as its next one; ends the job
/// with a message naming both calls when they differ.
///
/// # Collective
/// Every rank must call it (which is what it checks).
pub(crate) fn enter<C: Comm + ?Sized>(comm: &C, call: Call) {
    if comm.size() == 1 {
        return;
    }
    let n = CALLS.with(|c| {
        let n = c.get();
        c.set(n + 1);
        n
    });
    let mine = id(n, call);
    let [lowest, not_highest] = comm.all_reduce_min_pair([mine, !mine]);
    let highest = !not_highest;
    if lowest == highest {
        return;
    }
    let other = if mine == lowest { highest } else { lowest };
    // Every rank is here: the lowest rank tells.
    if comm.rank() == 0 {
        comm.abort(
            1,
            &format!(
                "the ranks are in different collectives: this rank's collective call #{} is {}, \
                 another rank's is {} (every rank must make the same collective calls in the \
                 same order)",
                n + 1,
                name(mine),
                name(other)
            ),
        );
    }
    // Rank 0's abort ends the job; nothing here goes on.
    comm.barrier();
    comm.abort(
        1,
        "the ranks are in different collectives (see the message above)",
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;

    #[test]
    fn the_same_calls_pass_and_different_ones_name_both() {
        for size in [1, 2, 3, 5] {
            let out = inproc::run(size, |comm| {
                enter(comm, Call::Gather);
                enter(comm, Call::Tree);
                comm.rank()
            });
            assert_eq!(out, (0..size).collect::<Vec<_>>());
        }
        let died = std::panic::catch_unwind(|| {
            inproc::run(3, |comm| {
                enter(comm, Call::Agree);
                enter(
                    comm,
                    if comm.rank() == 2 {
                        Call::Broadcast
                    } else {
                        Call::Tree
                    },
                );
            })
        });
        let why = crate::farm::panic_message(died.expect_err("the job ends").as_ref());
        assert!(
            why.contains(
                "rank 0 aborted with code 1: the ranks are in different collectives: this \
                 rank's collective call #2 is reduce::tree, another rank's is \
                 collective::broadcast"
            ),
            "{why}"
        );
    }
}
