//! Live dispatch: one task per idle slot, in a given order, with rank 0 told of every start
//! before it can happen and of every end as soon as it is known.
//!
//! This is the engine's mode for work whose every start must be on record (the command farm's
//! journal): rank 0 hands a task to a slot only when that slot is idle, and calls
//! [`Control::started`] *before* the task can start anywhere — in the slot thread for its own
//! slots, before sending the assignment for the other ranks' — so a task that ran always has a
//! start on record. Records come back to rank 0 as tasks finish ([`Control::finished`]), in
//! batches that ride on the next request. Rank 0 can stop handing out tasks ([`Control::stop`])
//! and ask every rank to end its running tasks ([`Control::cancel`], which calls
//! [`Control::cancelled`] on every rank once).
//!
//! MPI stays on the main threads; slot threads only run tasks and touch shared queues.

use super::lanes::{self, Feed, Outcome};
use super::{Ctx, Record};
use crate::collective::{self, clock_offsets};
use crate::comm::{tags, Comm};
use rayon::ThreadPool;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// What a live run tells its owner, and asks it. Every method has a default that does nothing.
pub trait Control<R>: Sync {
    /// Rank 0: task `id` is about to start on `slot` of `rank`; called before it can start.
    fn started(&self, _id: usize, _rank: usize, _slot: usize) {}
    /// Rank 0: a task has ended (its times are on rank 0's clock for its own slots and on the
    /// running rank's clock for the others until the end of the run, when they are shifted).
    fn finished(&self, _record: &Record<R>) {}
    /// Rank 0, before task `id` is handed out: whether it may start now; a task refused here is
    /// not started at all (it is named in [`LiveRun::not_started`]).
    fn admit(&self, _id: usize) -> bool {
        true
    }
    /// Rank 0, polled often: whether to hand out no more tasks.
    fn stop(&self) -> bool {
        false
    }
    /// Rank 0, polled often: whether the running tasks should be ended now.
    fn cancel(&self) -> bool {
        false
    }
    /// Every rank, once, after rank 0's [`Control::cancel`] said so: end this rank's tasks.
    fn cancelled(&self) {}
}

/// Every record of a live run, at rank 0.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRun<R> {
    /// One record per task that ran, in the order rank 0 learnt of them, times on the job's
    /// common clock.
    pub records: Vec<Record<R>>,
    /// The slots (pool threads) of each rank.
    pub slots: Vec<usize>,
    /// Tasks never handed out (after a stop), by id.
    pub not_started: Vec<usize>,
    /// From the common start to the end, in seconds.
    pub wall_s: f64,
}

/// A request for work: the records finished since the last message, and the idle slots.
#[derive(Serialize, Deserialize)]
struct Request<R> {
    records: Vec<Record<R>>,
    idle: Vec<usize>,
}

/// Rank 0's answer: (slot, id, task) assignments, and whether more may come.
type Assignment<T> = (Vec<(usize, usize, T)>, bool);

/// Wakes a rank's main thread when a slot becomes idle or a record is ready.
#[derive(Default)]
struct Bell {
    rung: Mutex<bool>,
    cond: Condvar,
}

impl Bell {
    fn ring(&self) {
        *self.rung.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cond.notify_all();
    }
    fn wait(&self, timeout: Duration) {
        let guard = self.rung.lock().unwrap_or_else(|e| e.into_inner());
        let (mut guard, _) = self
            .cond
            .wait_timeout_while(guard, timeout, |rung| !*rung)
            .unwrap_or_else(|e| e.into_inner());
        *guard = false;
    }
}

/// Runs `tasks` (read on rank 0) in `order` (task indices; rank 0's), one task per idle slot of
/// `pool`, telling `control` of every start and end at rank 0. Rank 0 returns every record; the
/// others `None`.
///
/// # Collective
/// Every rank must call it.
#[track_caller]
pub fn run_live<C, T, R, F>(
    comm: &C,
    pool: &ThreadPool,
    tasks: &[T],
    order: Vec<usize>,
    control: &dyn Control<R>,
    work: F,
) -> Option<LiveRun<R>>
where
    C: Comm + ?Sized,
    T: Serialize + DeserializeOwned + Send + Sync,
    R: Serialize + DeserializeOwned + Send + Sync,
    F: Fn(Ctx, &T) -> R + Sync,
{
    collective::enter(comm, collective::Call::LiveRun);
    let slots = collective::gather(comm, 0, &pool.current_num_threads());
    comm.barrier();
    let epoch = Instant::now();
    let rank = comm.rank();
    let done = AtomicUsize::new(0);
    let outcome = match &slots {
        Some(_) => Some(serve(
            comm, pool, tasks, order, control, &work, epoch, &done,
        )),
        None => {
            ask::<C, T, R, F>(comm, pool, control, &work, epoch, &done, rank);
            None
        }
    };
    // The other ranks' records were timed on their own clocks: shift them to the common one.
    let offsets = clock_offsets(comm, epoch);
    let (mut records, not_started) = outcome?;
    let offsets = offsets.unwrap_or_default();
    let lead = offsets.iter().copied().fold(0.0, f64::max);
    for r in &mut records {
        let shift = lead - offsets.get(r.rank).copied().unwrap_or(0.0);
        r.start_s += shift;
        r.end_s += shift;
    }
    Some(LiveRun {
        records,
        slots: slots.unwrap_or_default(),
        not_started,
        wall_s: epoch.elapsed().as_secs_f64() + lead,
    })
}

fn record<R>(id: usize, rank: usize, o: Outcome<R>) -> Record<R> {
    Record {
        id,
        rank,
        thread: o.thread,
        start_s: o.start_s,
        end_s: o.end_s,
        result: o.result,
    }
}

/// Rank 0: its slots take tasks from the cursor themselves; its main thread answers the other
/// ranks and collects their records.
#[allow(clippy::too_many_arguments)]
fn serve<C, T, R, F>(
    comm: &C,
    pool: &ThreadPool,
    tasks: &[T],
    order: Vec<usize>,
    control: &dyn Control<R>,
    work: &F,
    epoch: Instant,
    done: &AtomicUsize,
) -> (Vec<Record<R>>, Vec<usize>)
where
    C: Comm + ?Sized,
    T: Serialize + Sync,
    R: Serialize + DeserializeOwned + Send + Sync,
    F: Fn(Ctx, &T) -> R + Sync,
{
    let cursor = Mutex::new(0usize);
    let refused = Mutex::new(Vec::new());
    let stopped = AtomicBool::new(false);
    let take = || -> Option<usize> {
        if stopped.load(Ordering::SeqCst) {
            return None;
        }
        let mut next = cursor.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&id) = order.get(*next) {
            *next += 1;
            if control.admit(id) {
                return Some(id);
            }
            refused.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        }
        None
    };
    let records = Mutex::new(Vec::new());
    let keep = |r: Record<R>| {
        control.finished(&r);
        records.lock().unwrap_or_else(|e| e.into_inner()).push(r);
    };
    std::thread::scope(|s| {
        let workers = s.spawn(|| {
            lanes::run_slots(
                pool,
                |slot| {
                    let id = take()?;
                    control.started(id, 0, slot);
                    Some(id)
                },
                epoch,
                done,
                |&id, slot| {
                    let ctx = Ctx {
                        id,
                        rank: 0,
                        thread: slot,
                    };
                    lanes::as_task(ctx, || work(ctx, &tasks[id]))
                },
                |id, o| keep(record(id, 0, o)),
            )
        });
        let mut finished = 0;
        // How many FARM_RECORDS messages each rank's have been taken in.
        let mut records_from = vec![0u64; comm.size()];
        let mut cancelled = false;
        let mut pause = lanes::Backoff::default();
        loop {
            let mut busy = false;
            if !stopped.load(Ordering::SeqCst) && control.stop() {
                stopped.store(true, Ordering::SeqCst);
            }
            if !cancelled && control.cancel() {
                cancelled = true;
                stopped.store(true, Ordering::SeqCst);
                for dest in 1..comm.size() {
                    comm.send(dest, tags::FARM_CANCEL, &[]);
                }
                control.cancelled();
            }
            while let Some((src, payload)) = comm.try_recv_any(tags::FARM_REQUEST) {
                let request: Request<R> =
                    collective::decode_or_abort(comm, &payload, "a request for work");
                request.records.into_iter().for_each(&keep);
                let mut given = Vec::new();
                let mut more = true;
                for slot in request.idle {
                    match take() {
                        Some(id) => {
                            control.started(id, src, slot);
                            given.push((slot, id, &tasks[id]));
                        }
                        None => {
                            more = false;
                            break;
                        }
                    }
                }
                let answer: (Vec<(usize, usize, &T)>, bool) = (given, more);
                comm.send(src, tags::FARM_CHUNK, &collective::encode(&answer));
                busy = true;
            }
            let take_records = |src: usize, payload: Vec<u8>| {
                let theirs: Vec<Record<R>> = collective::decode_or_abort(
                    comm,
                    &payload,
                    &format!("records from rank {src}"),
                );
                theirs.into_iter().for_each(&keep);
            };
            while let Some((src, payload)) = comm.try_recv_any(tags::FARM_RECORDS) {
                take_records(src, payload);
                records_from[src] += 1;
                busy = true;
            }
            while let Some((src, payload)) = comm.try_recv_any(tags::FARM_FINISHED) {
                let (sent, last): (u64, Vec<Record<R>>) = collective::decode_or_abort(
                    comm,
                    &payload,
                    &format!("the last records of rank {src}"),
                );
                // Messages of two tags need not arrive in the order they were sent: the
                // records sent before this end may still be on their way. Wait for each.
                while records_from[src] < sent {
                    take_records(src, comm.recv(src, tags::FARM_RECORDS));
                    records_from[src] += 1;
                }
                last.into_iter().for_each(&keep);
                finished += 1;
                busy = true;
            }
            if finished == comm.size() - 1 && workers.is_finished() {
                break;
            }
            comm.pulse();
            pause.after(busy);
        }
        workers.join().expect("task panics are caught in the slots");
        // Every rank learns whether the run was cancelled, so each calls `cancelled` once.
        for dest in 1..comm.size() {
            comm.send(dest, tags::FARM_END, &[u8::from(cancelled)]);
        }
    });
    let next = *cursor.lock().unwrap_or_else(|e| e.into_inner());
    let mut not_started = refused.into_inner().unwrap_or_else(|e| e.into_inner());
    not_started.extend_from_slice(&order[next.min(order.len())..]);
    (
        records.into_inner().unwrap_or_else(|e| e.into_inner()),
        not_started,
    )
}

/// Ranks other than 0: each slot has its own queue; the main thread asks rank 0 for a task for
/// every idle slot and sends the records back as they come.
fn ask<C, T, R, F>(
    comm: &C,
    pool: &ThreadPool,
    control: &dyn Control<R>,
    work: &F,
    epoch: Instant,
    done: &AtomicUsize,
    rank: usize,
) where
    C: Comm + ?Sized,
    T: DeserializeOwned + Send + Sync,
    R: Serialize + Send + Sync,
    F: Fn(Ctx, &T) -> R + Sync,
{
    let n = pool.current_num_threads();
    let feeds: Vec<Feed<(usize, T)>> = (0..n).map(|_| Feed::default()).collect();
    let outbox: Mutex<Vec<Record<R>>> = Mutex::new(Vec::new());
    let bell = Bell::default();
    let mut cancelled = false;
    let mut records_sent = 0u64;
    let take_outbox = || std::mem::take(&mut *outbox.lock().unwrap_or_else(|e| e.into_inner()));
    std::thread::scope(|s| {
        let workers = s.spawn(|| {
            lanes::run_slots(
                pool,
                |slot| feeds[slot].pop_ringing(|| bell.ring()),
                epoch,
                done,
                |t: &(usize, T), slot| {
                    let ctx = Ctx {
                        id: t.0,
                        rank,
                        thread: slot,
                    };
                    lanes::as_task(ctx, || work(ctx, &t.1))
                },
                |t, o| {
                    outbox
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(record(t.0, rank, o));
                    bell.ring();
                },
            )
        });
        let mut more = true;
        loop {
            if !cancelled && comm.try_recv_any(tags::FARM_CANCEL).is_some() {
                cancelled = true;
                control.cancelled();
            }
            let idle: Vec<usize> = if more {
                (0..n)
                    .filter(|&k| feeds[k].is_empty() && feeds[k].demand() > 0)
                    .collect()
            } else {
                Vec::new()
            };
            if !idle.is_empty() {
                let request = Request {
                    records: take_outbox(),
                    idle,
                };
                comm.send(0, tags::FARM_REQUEST, &collective::encode(&request));
                let (given, has_more): Assignment<T> = collective::decode_or_abort(
                    comm,
                    &comm.recv(0, tags::FARM_CHUNK),
                    "tasks from rank 0",
                );
                for (slot, id, task) in given {
                    feeds[slot].push_many([(id, task)]);
                }
                if !has_more {
                    more = false;
                    feeds.iter().for_each(Feed::close);
                }
                continue;
            }
            if !more && workers.is_finished() {
                break;
            }
            let ready = take_outbox();
            if !ready.is_empty() {
                comm.send(0, tags::FARM_RECORDS, &collective::encode(&ready));
                records_sent += 1;
            }
            comm.pulse();
            bell.wait(Duration::from_millis(10));
        }
        workers.join().expect("task panics are caught in the slots");
    });
    // The count lets rank 0 wait for every FARM_RECORDS message sent before this one.
    comm.send(
        0,
        tags::FARM_FINISHED,
        &collective::encode(&(records_sent, take_outbox())),
    );
    let end = comm.recv(0, tags::FARM_END);
    if end.first() == Some(&1) && !cancelled {
        // Rank 0 sent the cancel before the end: it is there to be read.
        let _ = comm.recv(0, tags::FARM_CANCEL);
        control.cancelled();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;
    use std::collections::HashSet;

    struct Journal {
        started: Mutex<Vec<(usize, usize, usize)>>,
        finished: Mutex<HashSet<usize>>,
        stop_after: usize,
    }

    impl Control<u64> for Journal {
        fn started(&self, id: usize, rank: usize, slot: usize) {
            // One lock at a time: `finished` takes them in the other order.
            let done = self.finished.lock().unwrap().contains(&id);
            assert!(!done, "task {id} started after it finished");
            self.started.lock().unwrap().push((id, rank, slot));
        }
        fn finished(&self, r: &Record<u64>) {
            let known = self
                .started
                .lock()
                .unwrap()
                .contains(&(r.id, r.rank, r.thread));
            assert!(
                known,
                "task {} finished on rank {} slot {} without a start",
                r.id, r.rank, r.thread
            );
            self.finished.lock().unwrap().insert(r.id);
        }
        fn stop(&self) -> bool {
            self.finished.lock().unwrap().len() >= self.stop_after
        }
    }

    fn journal(stop_after: usize) -> Journal {
        Journal {
            started: Mutex::new(Vec::new()),
            finished: Mutex::new(HashSet::new()),
            stop_after,
        }
    }

    #[test]
    fn every_task_starts_on_record_before_it_runs_and_ends_once() {
        for size in [1, 2, 3, 5] {
            let out = inproc::run(size, |comm| {
                let pool = crate::farm::pool(2).unwrap();
                let tasks: Vec<u64> = (0..40).collect();
                let order: Vec<usize> = (0..40).rev().collect();
                let j = journal(usize::MAX);
                let run = run_live(comm, &pool, &tasks, order, &j, |ctx, t| {
                    std::thread::sleep(Duration::from_micros(200));
                    assert_eq!(ctx.id as u64, *t, "the context names the task");
                    t * 2
                });
                run.map(|r| (r, j.started.into_inner().unwrap()))
            });
            let (run, started) = out[0].as_ref().unwrap();
            assert_eq!(run.records.len(), 40, "P = {size}");
            assert_eq!(started.len(), 40);
            let mut ids: Vec<usize> = run.records.iter().map(|r| r.id).collect();
            ids.sort();
            assert_eq!(ids, (0..40).collect::<Vec<_>>());
            assert!(run.records.iter().all(|r| r.result == Ok(r.id as u64 * 2)));
            assert!(run.not_started.is_empty());
            assert_eq!(run.slots, vec![2; size]);
        }
        // Tasks are handed out in the order given: exactly so with a single slot (with more,
        // a slot may be preempted between taking a task and recording its start).
        let out = inproc::run(1, |comm| {
            let pool = crate::farm::pool(1).unwrap();
            let tasks: Vec<u64> = (0..10).collect();
            let order = vec![3, 1, 4, 0, 5, 9, 2, 6, 8, 7];
            let j = journal(usize::MAX);
            run_live(comm, &pool, &tasks, order, &j, |_, t| *t)
                .map(|_| j.started.into_inner().unwrap())
        });
        let ids: Vec<usize> = out[0].as_ref().unwrap().iter().map(|s| s.0).collect();
        assert_eq!(ids, vec![3, 1, 4, 0, 5, 9, 2, 6, 8, 7]);
    }

    #[test]
    fn a_stop_hands_out_no_more_and_names_the_rest() {
        let out = inproc::run(3, |comm| {
            let pool = crate::farm::pool(1).unwrap();
            let tasks: Vec<u64> = (0..200).collect();
            let j = journal(10);
            run_live(comm, &pool, &tasks, (0..200).collect(), &j, |_, t| {
                std::thread::sleep(Duration::from_millis(2));
                *t
            })
        });
        let run = out[0].as_ref().unwrap();
        assert!(
            run.records.len() >= 10 && run.records.len() < 200,
            "{}",
            run.records.len()
        );
        assert_eq!(run.records.len() + run.not_started.len(), 200);
        let ran: HashSet<usize> = run.records.iter().map(|r| r.id).collect();
        assert!(run.not_started.iter().all(|id| !ran.contains(id)));
    }

    /// A communicator that hides the records messages from `try_recv_any` until the rank has
    /// said it finished: the order in which MPI may deliver two tags sent one after the other
    /// across nodes (the records last, after the end).
    struct LateRecords<'a>(&'a dyn Comm);

    impl Comm for LateRecords<'_> {
        fn rank(&self) -> usize {
            self.0.rank()
        }
        fn size(&self) -> usize {
            self.0.size()
        }
        fn send(&self, dest: usize, tag: crate::comm::Tag, data: &[u8]) {
            self.0.send(dest, tag, data)
        }
        fn recv(&self, src: usize, tag: crate::comm::Tag) -> Vec<u8> {
            self.0.recv(src, tag)
        }
        fn recv_any(&self, tag: crate::comm::Tag) -> (usize, Vec<u8>) {
            self.0.recv_any(tag)
        }
        fn try_recv_any(&self, tag: crate::comm::Tag) -> Option<(usize, Vec<u8>)> {
            if tag == tags::FARM_RECORDS {
                return None;
            }
            self.0.try_recv_any(tag)
        }
        fn abort(&self, code: i32, message: &str) -> ! {
            self.0.abort(code, message)
        }
        fn backend(&self) -> crate::comm::Backend {
            self.0.backend()
        }
    }

    #[test]
    fn records_that_arrive_after_their_rank_s_end_are_not_lost() {
        for size in [2, 3] {
            let out = inproc::run(size, |comm| {
                let late = LateRecords(comm);
                let pool = crate::farm::pool(2).unwrap();
                let tasks: Vec<u64> = (0..30).collect();
                let j = journal(usize::MAX);
                run_live(&late, &pool, &tasks, (0..30).collect(), &j, |_, t| {
                    std::thread::sleep(Duration::from_millis(1));
                    *t
                })
            });
            let run = out[0].as_ref().unwrap();
            let mut ids: Vec<usize> = run.records.iter().map(|r| r.id).collect();
            ids.sort();
            assert_eq!(ids, (0..30).collect::<Vec<_>>(), "P = {size}");
        }
    }

    struct Cancel {
        calls: AtomicUsize,
        cancel_now: AtomicBool,
    }

    impl Control<()> for Cancel {
        fn started(&self, _: usize, _: usize, _: usize) {
            self.cancel_now.store(true, Ordering::SeqCst);
        }
        fn stop(&self) -> bool {
            self.cancel_now.load(Ordering::SeqCst)
        }
        fn cancel(&self) -> bool {
            self.cancel_now.load(Ordering::SeqCst)
        }
        fn cancelled(&self) {
            self.calls.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_cancel_reaches_every_rank_once() {
        let out = inproc::run(3, |comm| {
            let pool = crate::farm::pool(1).unwrap();
            let c = Cancel {
                calls: AtomicUsize::new(0),
                cancel_now: AtomicBool::new(false),
            };
            // Rank 0 cancels as soon as the first task starts; tasks are long enough that every
            // rank is still running one.
            let tasks = vec![(); 6];
            let _ = run_live(comm, &pool, &tasks, (0..6).collect(), &c, |_, _| {
                std::thread::sleep(Duration::from_millis(30));
            });
            c.calls.load(Ordering::SeqCst)
        });
        assert_eq!(out, vec![1, 1, 1]);
    }
}
