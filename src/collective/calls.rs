//! Which collective each rank is in: every typed collective, the farm and the reductions check on
//! entry, with one `MPI_Allreduce` of two numbers, that all ranks make the same call. A rank that
//! calls another collective than the others (or skips one, and so meets the others' next call)
//! ends the job with a message naming both calls, instead of meeting a message of another call
//! (`MPI_ERR_TRUNCATE`, a value that does not decode) or waiting forever. The message says where
//! each rank is, by the place in the program that made the call.

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
    Check = 11,
}

impl Call {
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
            Call::Check => "Run::check",
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

/// Checks that every rank makes the same collective call, `call`, as its next one; when they
/// differ, rank 0 ends the job with a message naming every rank's call and where the program
/// made it (spmdkit's collectives pass their caller's location down).
///
/// # Collective
/// Every rank must call it (which is what it checks).
#[track_caller]
pub(crate) fn enter<C: Comm + ?Sized>(comm: &C, call: Call) {
    if comm.size() == 1 {
        return;
    }
    let at = std::panic::Location::caller();
    let n = CALLS.with(|c| {
        let n = c.get();
        c.set(n + 1);
        n
    });
    let mine = id(n, call);
    let [lowest, not_highest] = comm.all_reduce_min_pair([mine, !mine]);
    if lowest == !not_highest {
        return;
    }
    // Every rank is here: rank 0 learns where each one is and tells.
    let here = format!(
        "{} at {}:{}:{}",
        call.name(),
        at.file(),
        at.line(),
        at.column()
    );
    if let Some(all) = comm.gather_bytes(0, here.as_bytes()) {
        let mut places: Vec<(String, Vec<usize>)> = Vec::new();
        for (rank, place) in all.iter().enumerate() {
            let place = String::from_utf8_lossy(place).into_owned();
            match places.iter_mut().find(|(p, _)| *p == place) {
                Some((_, ranks)) => ranks.push(rank),
                None => places.push((place, vec![rank])),
            }
        }
        let told: Vec<String> = places
            .iter()
            .map(|(place, ranks)| format!("{} in {place}", ranks_text(ranks)))
            .collect();
        comm.abort(
            1,
            &format!(
                "the ranks are in different collectives: {} (every rank must make the same \
                 collective calls in the same order)",
                told.join("; ")
            ),
        );
    }
    // Rank 0's abort ends the job; nothing here goes on.
    comm.barrier();
    comm.abort(
        1,
        "the ranks are in different collectives (see rank 0's message)",
    );
}

/// `rank 3`, `ranks 0-2,5` (the run-length form of CPU lists).
fn ranks_text(ranks: &[usize]) -> String {
    let word = if ranks.len() == 1 { "rank" } else { "ranks" };
    format!("{word} {}", super::placement::format_cpu_list(ranks))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;

    #[test]
    fn the_same_calls_pass_and_different_ones_name_every_rank_and_place() {
        for size in [1, 2, 3, 5] {
            let out = inproc::run(size, |comm| {
                enter(comm, Call::Gather);
                enter(comm, Call::Tree);
                comm.rank()
            });
            assert_eq!(out, (0..size).collect::<Vec<_>>());
        }
        let died = std::panic::catch_unwind(|| {
            inproc::run(5, |comm| {
                enter(comm, Call::Agree);
                if comm.rank() == 3 {
                    enter(comm, Call::Broadcast)
                } else {
                    enter(comm, Call::Tree)
                }
            })
        });
        let why = crate::error::panic_message(died.expect_err("the job ends").as_ref());
        assert!(
            why.contains(
                "rank 0 aborted with code 1: the ranks are in different collectives: ranks \
                 0-2,4 in reduce::tree at src/collective/calls.rs:"
            ) && why.contains("; rank 3 in collective::broadcast at src/collective/calls.rs:"),
            "{why}"
        );
    }

    #[test]
    fn rank_lists_are_short() {
        assert_eq!(ranks_text(&[3]), "rank 3");
        assert_eq!(ranks_text(&[0, 1, 2, 5, 7, 8]), "ranks 0-2,5,7-8");
    }
}
