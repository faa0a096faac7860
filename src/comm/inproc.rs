//! The in-process backend: P simulated ranks as threads of one process.
//!
//! Each rank owns a mailbox (a queue behind a mutex and a condition variable). `send` appends to
//! the destination's mailbox and never blocks; `recv` takes the oldest message matching
//! (source, tag), which gives MPI's non-overtaking order. When any rank panics, the shared
//! `failed` flag is raised and every rank blocked in `recv` panics too, so a bug in a distributed
//! algorithm fails its test instead of hanging it. A receive that waits longer than
//! A wait longer than 60 s is treated as a deadlock for the same reason.

use super::{Comm, Tag};
use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a simulated rank waits for a message before declaring a deadlock.
pub(crate) const RECV_TIMEOUT: Duration = Duration::from_secs(60);

struct Message {
    src: usize,
    tag: Tag,
    data: Vec<u8>,
}

#[derive(Default)]
struct Mailbox {
    queue: Mutex<VecDeque<Message>>,
    arrived: Condvar,
}

struct Shared {
    mailboxes: Vec<Mailbox>,
    failed: AtomicBool,
}

/// One simulated rank. Created by [`run`] (P ranks on P threads) or [`ThreadComm::solo`].
pub struct ThreadComm {
    rank: usize,
    shared: Arc<Shared>,
}

impl ThreadComm {
    /// A communicator of one rank, used when the process was started without any MPI launcher.
    pub fn solo() -> Self {
        Self::group(1).pop().expect("one rank")
    }

    fn group(size: usize) -> Vec<Self> {
        let shared = Arc::new(Shared {
            mailboxes: (0..size).map(|_| Mailbox::default()).collect(),
            failed: AtomicBool::new(false),
        });
        (0..size)
            .map(|rank| ThreadComm {
                rank,
                shared: Arc::clone(&shared),
            })
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Message>> {
        // A poisoned lock only means another rank panicked while holding it; the queue itself
        // is always left consistent (push/remove are single operations).
        self.shared.mailboxes[self.rank]
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn take_matching(&self, matches: impl Fn(&Message) -> bool) -> Message {
        let deadline = Instant::now() + RECV_TIMEOUT;
        let mut queue = self.lock();
        loop {
            if let Some(pos) = queue.iter().position(&matches) {
                return queue.remove(pos).expect("position is in range");
            }
            if self.shared.failed.load(Ordering::SeqCst) {
                panic!("rank {}: {FAILED_FOR_ANOTHER}", self.rank);
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "rank {}: no matching message within {:?} (deadlock?)",
                    self.rank, RECV_TIMEOUT
                );
            }
            // Wake up periodically to notice a failed rank even if nobody notifies us.
            let wait = (deadline - now).min(Duration::from_millis(50));
            queue = self.shared.mailboxes[self.rank]
                .arrived
                .wait_timeout(queue, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

impl Comm for ThreadComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.mailboxes.len()
    }

    fn send(&self, dest: usize, tag: Tag, data: &[u8]) {
        let mailbox = &self.shared.mailboxes[dest];
        mailbox
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(Message {
                src: self.rank,
                tag,
                data: data.to_vec(),
            });
        mailbox.arrived.notify_all();
    }

    fn recv(&self, src: usize, tag: Tag) -> Vec<u8> {
        self.take_matching(|m| m.src == src && m.tag == tag).data
    }

    fn recv_any(&self, tag: Tag) -> (usize, Vec<u8>) {
        let m = self.take_matching(|m| m.tag == tag);
        (m.src, m.data)
    }

    fn try_recv_any(&self, tag: Tag) -> Option<(usize, Vec<u8>)> {
        let mut queue = self.lock();
        let pos = queue.iter().position(|m| m.tag == tag)?;
        let m = queue.remove(pos).expect("position is in range");
        Some((m.src, m.data))
    }

    fn abort(&self, code: i32, message: &str) -> ! {
        self.shared.failed.store(true, Ordering::SeqCst);
        panic!("rank {} aborted with code {code}: {message}", self.rank);
    }

    fn backend(&self) -> super::Backend {
        super::Backend::InProcess
    }
}

/// How a rank that waited for one that failed panics.
const FAILED_FOR_ANOTHER: &str = "another simulated rank failed";

/// Runs `f` on `size` simulated ranks, one thread each, and returns their results by rank.
///
/// # Panics
/// If `size` is 0, or if any rank panics (after every rank has stopped), with the message of the
/// rank whose panic ended the job.
///
/// # Examples
/// ```
/// use spmdkit::comm::{inproc, Comm};
/// let sizes = inproc::run(4, |comm| comm.size() * 10 + comm.rank());
/// assert_eq!(sizes, vec![40, 41, 42, 43]);
/// ```
pub fn run<R, F>(size: usize, f: F) -> Vec<R>
where
    R: Send,
    F: Fn(&ThreadComm) -> R + Sync,
{
    assert!(size > 0, "a communicator needs at least one rank");
    let comms = ThreadComm::group(size);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = comms
            .into_iter()
            .map(|comm| {
                scope.spawn(move || {
                    let out = panic::catch_unwind(AssertUnwindSafe(|| f(&comm)));
                    if out.is_err() {
                        comm.shared.failed.store(true, Ordering::SeqCst);
                        for mailbox in &comm.shared.mailboxes {
                            mailbox.arrived.notify_all();
                        }
                    }
                    out
                })
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("rank thread catches its own panics"))
            .collect();
        // The panic that ended the job is the one of a rank that did not fail for another.
        let first = results.iter().enumerate().find_map(|(rank, r)| {
            let why = crate::error::panic_message(r.as_ref().err()?.as_ref());
            (!why.contains(FAILED_FOR_ANOTHER)).then_some((rank, why))
        });
        if let Some((rank, why)) = first {
            panic!("simulated rank {rank} panicked: {why}");
        }
        results
            .into_iter()
            .enumerate()
            .map(|(rank, r)| r.unwrap_or_else(|_| panic!("simulated rank {rank} panicked")))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_between_a_pair_keep_their_order() {
        let got = run(2, |comm| {
            if comm.rank() == 0 {
                for i in 0u8..10 {
                    comm.send(1, 7, &[i]);
                }
                Vec::new()
            } else {
                (0..10).map(|_| comm.recv(0, 7)[0]).collect::<Vec<u8>>()
            }
        });
        assert_eq!(got[1], (0u8..10).collect::<Vec<_>>());
    }

    #[test]
    fn tags_select_messages() {
        let got = run(2, |comm| {
            if comm.rank() == 0 {
                comm.send(1, 1, b"one");
                comm.send(1, 2, b"two");
                (Vec::new(), Vec::new())
            } else {
                let two = comm.recv(0, 2);
                let one = comm.recv(0, 1);
                (one, two)
            }
        });
        assert_eq!(got[1], (b"one".to_vec(), b"two".to_vec()));
    }

    #[test]
    fn provided_collectives_work_at_many_sizes() {
        for size in [1, 2, 3, 5, 8, 13] {
            let out = run(size, |comm| {
                let b = comm.broadcast_bytes(size - 1, vec![comm.rank() as u8; 3]);
                let g = comm.gather_bytes(0, &[comm.rank() as u8]);
                let parts =
                    (comm.rank() == 0).then(|| (0..size).map(|r| vec![r as u8 * 2]).collect());
                let s = comm.scatter_bytes(0, parts);
                let m = comm.all_reduce_min_u64(100 - comm.rank() as u64);
                let mut sum = vec![comm.rank() as f64, 1.0];
                comm.reduce_sum_f64_into(0, &mut sum);
                comm.barrier();
                (b, g, s, m, sum)
            });
            for (rank, (b, g, s, m, sum)) in out.into_iter().enumerate() {
                assert_eq!(b, vec![(size - 1) as u8; 3]);
                assert_eq!(s, vec![rank as u8 * 2]);
                assert_eq!(m, 100 - (size as u64 - 1));
                if rank == 0 {
                    let want: Vec<Vec<u8>> = (0..size).map(|r| vec![r as u8]).collect();
                    assert_eq!(g, Some(want));
                    let n = size as f64;
                    assert_eq!(sum, vec![n * (n - 1.0) / 2.0, n]);
                } else {
                    assert_eq!(g, None);
                }
            }
        }
    }

    #[test]
    fn a_panicking_rank_fails_the_others_instead_of_hanging() {
        let started = Instant::now();
        let result = panic::catch_unwind(|| {
            run(3, |comm| {
                if comm.rank() == 1 {
                    panic!("boom");
                }
                comm.recv(1, 0)
            })
        });
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn try_recv_any_does_not_block() {
        let out = run(2, |comm| {
            if comm.rank() == 0 {
                assert!(comm.try_recv_any(5).is_none());
                comm.barrier();
                comm.barrier();
                comm.try_recv_any(5)
            } else {
                comm.barrier();
                comm.send(0, 5, b"x");
                comm.barrier();
                None
            }
        });
        assert_eq!(out[0], Some((1, b"x".to_vec())));
    }

    #[test]
    fn recv_any_reports_the_sender() {
        let out = run(4, |comm| {
            if comm.rank() == 0 {
                let mut senders: Vec<usize> = (1..4).map(|_| comm.recv_any(9).0).collect();
                senders.sort();
                senders
            } else {
                comm.send(0, 9, &[]);
                Vec::new()
            }
        });
        assert_eq!(out[0], vec![1, 2, 3]);
    }
}
