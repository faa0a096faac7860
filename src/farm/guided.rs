//! The dynamic dispatcher: guided self-scheduling over ranks.
//!
//! Rank 0 holds the task list and a cursor. Every other rank, when its local queue runs low,
//! sends a request (carrying how many tasks it has finished, for progress) and receives the next
//! chunk of tasks in id order; an empty chunk means there is no more work. Rank 0's own threads
//! take their chunks from the same cursor directly, without messages. When a rank has run all its
//! tasks it sends one final message with its count, so rank 0 can follow progress to the end.
//!
//! Chunk sizes are *guided*: a request for `t` threads gets ⌈remaining · t / (4W)⌉ tasks. Early
//! chunks are large (100 000 short tasks cost a few hundred round trips, not 100 000), and the
//! last ones are single tasks, so a few long tasks at the end still balance. (With 2W instead of
//! 4W, 200 uneven tasks on 8 workers ended 5 % above the lower bound instead of 3.5–4.7 %; greedy
//! dispatch of single tasks in id order would give 4.0 % there.) MPI calls happen
//! only on each rank's main thread.

use std::ops::Range;

/// The cursor over the task list, handing out guided chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Guided {
    next: usize,
    total: usize,
    workers: usize,
}

impl Guided {
    /// A cursor over tasks `0..total` for `workers` workers in all.
    pub(crate) fn new(total: usize, workers: usize) -> Self {
        Guided {
            next: 0,
            total,
            workers: workers.max(1),
        }
    }

    /// Tasks not yet handed out.
    pub(crate) fn remaining(&self) -> usize {
        self.total - self.next
    }

    /// The next chunk for a requester with `threads` threads: ⌈remaining · threads / (4W)⌉ tasks,
    /// at least one while any remain; empty when none remain.
    #[cfg(test)]
    pub(crate) fn take(&mut self, threads: usize) -> Range<usize> {
        self.take_at_least(threads, 1)
    }

    /// As [`Guided::take`], but at least `waiting` tasks (while that many remain): a rank whose
    /// `waiting` threads are idle gets one task for each in a single round trip, which is what
    /// greedy list scheduling would give them.
    pub(crate) fn take_at_least(&mut self, threads: usize, waiting: usize) -> Range<usize> {
        let remaining = self.remaining();
        let share = (remaining * threads.max(1)).div_ceil(4 * self.workers);
        let size = share.max(waiting).clamp(remaining.min(1), remaining);
        let chunk = self.next..self.next + size;
        self.next += size;
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_task_once_and_shrink_to_one() {
        for (total, workers) in [(0, 1), (1, 4), (16, 16), (1000, 8), (100_000, 4)] {
            let mut g = Guided::new(total, workers);
            let mut covered = 0;
            let mut sizes = Vec::new();
            loop {
                let c = g.take(1 + sizes.len() % 3);
                if c.is_empty() {
                    break;
                }
                assert_eq!(c.start, covered);
                covered = c.end;
                sizes.push(c.len());
            }
            assert_eq!(covered, total);
            if total > 0 {
                assert_eq!(*sizes.last().unwrap(), 1, "the last chunk is a single task");
            }
        }
    }

    #[test]
    fn chunk_sizes_follow_the_guided_formula() {
        let mut g = Guided::new(100, 4);
        assert_eq!(g.take(1), 0..7); // ⌈100 / 16⌉
        assert_eq!(g.take(2), 7..19); // ⌈93 · 2 / 16⌉
    }

    #[test]
    fn idle_threads_get_a_task_each() {
        let mut g = Guided::new(16, 16);
        assert_eq!(g.take(8), 0..2);
        assert_eq!(g.take_at_least(8, 8), 2..10);
        assert_eq!(g.take_at_least(8, 100), 10..16);
        assert!(g.take_at_least(8, 3).is_empty());
    }

    #[test]
    fn many_short_tasks_need_few_round_trips() {
        let mut g = Guided::new(100_000, 4);
        let mut requests = 0;
        while !g.take(2).is_empty() {
            requests += 1;
        }
        assert!(requests < 1000, "{requests} requests for 100 000 tasks");
    }
}
