//! Hang detection: heartbeats between rank 0 and every other rank, and how a waiting main thread
//! pauses between polls.
//!
//! MPI reacts to a process that exits, never to one that stops (`SIGSTOP`, a deadlock outside
//! MPI, a node stalled on a filesystem): the other ranks wait for it forever. So, once a job
//! turns watching on ([`Comm::watch_for_hangs`](super::Comm::watch_for_hangs)), the main thread
//! of every rank sends a heartbeat while it waits (in every MPI wait of the backend, and in
//! [`Comm::pulse`](super::Comm::pulse), which the engine calls while its workers compute): other
//! ranks to rank 0, rank 0 to every other rank, once per interval. A rank silent for longer than
//! the timeout ends the job: rank 0 names any silent rank, the other ranks name rank 0. The
//! bookkeeping is here, free of MPI; the MPI backend sends and receives the beats.

use std::time::{Duration, Instant};

/// The shortest interval between two heartbeats.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// The longest: a beat a second costs nothing measurable and keeps detection within a second.
const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// One rank's view of the heartbeats it expects.
#[derive(Debug)]
pub(crate) struct Watch {
    timeout: Duration,
    interval: Duration,
    next_beat: Instant,
    /// When each peer was last heard from; `None` for ranks this rank does not watch.
    heard: Vec<Option<Instant>>,
    /// How to name each rank in a message ("host h, pid p"); empty for unknown ones.
    names: Vec<String>,
    /// Peers whose last beat arrived: they are shutting down and send no more.
    ended: Vec<bool>,
}

impl Watch {
    /// Rank `rank` of `size` starts watching at `now`: rank 0 watches every rank, the others
    /// watch rank 0. `names` has one description per rank (or only rank 0's, elsewhere empty).
    pub(crate) fn new(
        rank: usize,
        size: usize,
        timeout: Duration,
        names: Vec<String>,
        now: Instant,
    ) -> Self {
        let heard = (0..size)
            .map(|r| {
                let watched = if rank == 0 { r != 0 } else { r == 0 };
                watched.then_some(now)
            })
            .collect();
        let interval = (timeout / 8).clamp(MIN_INTERVAL, MAX_INTERVAL);
        Watch {
            timeout,
            interval,
            next_beat: now,
            heard,
            names,
            ended: vec![false; size],
        }
    }

    /// The timeout this watch enforces.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether it is time to send beats and check on the peers; if so, the next time is set.
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if now < self.next_beat {
            return false;
        }
        self.next_beat = now + self.interval;
        true
    }

    /// The ranks this rank sends its beats to (the same it watches).
    pub(crate) fn peers(&self) -> impl Iterator<Item = usize> + '_ {
        self.heard
            .iter()
            .enumerate()
            .filter(|(_, h)| h.is_some())
            .map(|(r, _)| r)
    }

    /// A beat (or any sign of life) from `rank` arrived at `now`.
    pub(crate) fn heard_from(&mut self, rank: usize, now: Instant) {
        if let Some(Some(at)) = self.heard.get_mut(rank) {
            *at = now;
        }
    }

    /// The last beat of `rank` arrived: it is shutting down (and no longer watched).
    pub(crate) fn last_beat_from(&mut self, rank: usize) {
        if let Some(e) = self.ended.get_mut(rank) {
            *e = true;
        }
    }

    /// The peers whose last beat has not arrived yet.
    pub(crate) fn awaiting_last_beat(&self) -> Vec<usize> {
        self.peers().filter(|&r| !self.ended[r]).collect()
    }

    /// The watched rank silent the longest, with for how long, if that exceeds the timeout.
    pub(crate) fn silent(&self, now: Instant) -> Option<(usize, Duration)> {
        self.heard
            .iter()
            .enumerate()
            .filter(|(r, _)| !self.ended[*r])
            .filter_map(|(r, h)| h.map(|at| (r, now.saturating_duration_since(at))))
            .filter(|(_, quiet)| *quiet > self.timeout)
            .max_by_key(|(_, quiet)| *quiet)
    }

    /// The message that ends the job because `rank` was silent for `quiet`.
    pub(crate) fn message(&self, rank: usize, quiet: Duration) -> String {
        let who = match self.names.get(rank).filter(|n| !n.is_empty()) {
            Some(name) => format!("rank {rank} ({name})"),
            None => format!("rank {rank}"),
        };
        format!(
            "{who} has not been heard from for {:.1} s (--hang-timeout {}): it is stopped, \
             deadlocked outside MPI, or its node is stalled; ending the job",
            quiet.as_secs_f64(),
            seconds(self.timeout)
        )
    }
}

/// `d` in seconds without needless digits: `3`, `0.5`.
pub(crate) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// How a main thread waits between polls: yields for the first 100 µs (a message between ranks
/// on one node arrives in a few µs), then sleeps for 1/64 of the time waited so far, between
/// 10 µs and 250 µs (the engine's own backoff's longest sleep). Waiting adds at most about
/// 1.6 % to a short wait and 250 µs to a long one, and a rank that waits long uses about 1 % of
/// a core (MPI's own blocking calls poll a core at 100 %).
#[derive(Debug)]
pub(crate) struct Pause {
    start: Instant,
}

impl Pause {
    const SPIN: Duration = Duration::from_micros(100);
    /// The longest pause.
    const LONGEST: Duration = Duration::from_micros(250);

    pub(crate) fn new() -> Self {
        Pause {
            start: Instant::now(),
        }
    }

    /// How long the next pause is, after waiting `waited` so far (`None`: only yield).
    fn length(waited: Duration) -> Option<Duration> {
        (waited >= Self::SPIN)
            .then(|| (waited / 64).clamp(Duration::from_micros(10), Self::LONGEST))
    }

    /// Pauses once.
    pub(crate) fn wait(&self) {
        match Self::length(self.start.elapsed()) {
            None => std::thread::yield_now(),
            Some(d) => std::thread::sleep(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n)
            .map(|r| format!("host h{r}, pid {}", 100 + r))
            .collect()
    }

    #[test]
    fn rank_zero_watches_everyone_and_the_others_watch_rank_zero() {
        let t0 = Instant::now();
        let root = Watch::new(0, 4, Duration::from_secs(2), names(4), t0);
        assert_eq!(root.peers().collect::<Vec<_>>(), vec![1, 2, 3]);
        let other = Watch::new(2, 4, Duration::from_secs(2), names(4), t0);
        assert_eq!(other.peers().collect::<Vec<_>>(), vec![0]);
        let solo = Watch::new(0, 1, Duration::from_secs(2), names(1), t0);
        assert_eq!(solo.peers().count(), 0);
        assert_eq!(solo.silent(t0 + Duration::from_secs(60)), None);
    }

    #[test]
    fn a_rank_is_silent_only_beyond_the_timeout_and_the_longest_is_named() {
        let t0 = Instant::now();
        let mut w = Watch::new(0, 3, Duration::from_secs(2), names(3), t0);
        let at = |s: f64| t0 + Duration::from_secs_f64(s);
        assert_eq!(w.silent(at(1.9)), None);
        w.heard_from(1, at(1.5));
        let (rank, quiet) = w.silent(at(2.5)).expect("rank 2 is silent");
        assert_eq!(rank, 2);
        assert!((quiet.as_secs_f64() - 2.5).abs() < 1e-9);
        w.heard_from(2, at(2.5));
        assert_eq!(w.silent(at(3.0)), None);
        // Rank 1, last heard at 1.5 s, and rank 2, at 2.5 s: rank 1 is the longest silent.
        assert_eq!(w.silent(at(5.0)).map(|s| s.0), Some(1));
        // A rank that sent its last beat is shutting down, not silent.
        assert_eq!(w.awaiting_last_beat(), vec![1, 2]);
        w.last_beat_from(1);
        assert_eq!(w.silent(at(5.0)).map(|s| s.0), Some(2));
        assert_eq!(w.awaiting_last_beat(), vec![2]);
        // A beat from a rank that is not watched changes nothing.
        w.heard_from(0, at(5.0));
        w.heard_from(7, at(5.0));
        let msg = w.message(1, Duration::from_secs_f64(3.5));
        assert!(msg.contains("rank 1 (host h1, pid 101)"), "{msg}");
        assert!(msg.contains("3.5 s"), "{msg}");
        assert!(msg.contains("--hang-timeout 2"), "{msg}");
    }

    #[test]
    fn beats_are_due_once_per_interval() {
        let t0 = Instant::now();
        let mut w = Watch::new(1, 2, Duration::from_secs(2), Vec::new(), t0);
        assert!(w.due(t0));
        assert!(!w.due(t0 + Duration::from_millis(249)));
        assert!(w.due(t0 + Duration::from_millis(250)));
        // Short timeouts beat at least every 10 ms, long ones at most every second.
        let fast = Watch::new(1, 2, Duration::from_millis(40), Vec::new(), t0);
        assert_eq!(fast.interval, MIN_INTERVAL);
        let slow = Watch::new(1, 2, Duration::from_secs(600), Vec::new(), t0);
        assert_eq!(slow.interval, MAX_INTERVAL);
        // Without names, a rank is named by its number only.
        assert!(slow
            .message(0, Duration::from_secs(700))
            .starts_with("rank 0 has"));
    }

    #[test]
    fn pauses_spin_briefly_then_grow_to_a_millisecond() {
        assert_eq!(Pause::length(Duration::from_micros(50)), None);
        assert_eq!(
            Pause::length(Duration::from_micros(200)),
            Some(Duration::from_micros(10))
        );
        assert_eq!(
            Pause::length(Duration::from_millis(8)),
            Some(Duration::from_micros(125))
        );
        assert_eq!(
            Pause::length(Duration::from_secs(100)),
            Some(Duration::from_micros(250))
        );
        assert_eq!(seconds(Duration::from_millis(500)), "0.5");
        assert_eq!(seconds(Duration::from_secs(300)), "300");
    }
}
