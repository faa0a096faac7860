//! The common clock: how far each rank's clock is from rank 0's.

use crate::comm::{tags, Comm};

/// Estimates how far each rank's clock is ahead of rank 0's, in seconds, where every rank's clock
/// reads `epoch.elapsed()` on its own `epoch` (taken when it left a common barrier, so they differ
/// by the barrier's exit skew, which can reach milliseconds on a loaded machine).
///
/// Rank 0 pings each rank three times; a rank answers with its clock, and rank 0 takes the answer
/// of the fastest round trip, placed at the round trip's midpoint (Cristian's method): the error is
/// at most half that round trip, microseconds on one node. Subtracting a rank's offset from its
/// times puts them on rank 0's clock. Rank 0 returns one offset per rank (0 for itself); the
/// others return `None`.
///
/// # Collective
/// Every rank must call it.
pub(crate) fn clock_offsets<C: Comm + ?Sized>(
    comm: &C,
    epoch: std::time::Instant,
) -> Option<Vec<f64>> {
    const PINGS: usize = 3;
    if comm.rank() != 0 {
        for _ in 0..PINGS {
            let _ = comm.recv(0, tags::CLOCK);
            comm.send(0, tags::CLOCK, &epoch.elapsed().as_secs_f64().to_le_bytes());
        }
        return None;
    }
    let mut offsets = vec![0.0; comm.size()];
    for (rank, offset) in offsets.iter_mut().enumerate().skip(1) {
        let mut best = (f64::INFINITY, 0.0);
        for _ in 0..PINGS {
            let sent = epoch.elapsed().as_secs_f64();
            comm.send(rank, tags::CLOCK, &[]);
            let reply = comm.recv(rank, tags::CLOCK);
            let back = epoch.elapsed().as_secs_f64();
            let theirs = reply
                .get(..8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .unwrap_or_else(|| comm.abort(1, &format!("bad clock reply from rank {rank}")));
            if back - sent < best.0 {
                best = (back - sent, theirs - (sent + back) / 2.0);
            }
        }
        *offset = best.1;
    }
    Some(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;

    #[test]
    fn clock_offsets_find_a_rank_that_started_late() {
        let base = std::time::Instant::now();
        let out = inproc::run(3, |comm| {
            // Rank 2 starts its clock 50 ms after the others: its clock is 50 ms behind.
            let epoch = if comm.rank() == 2 {
                base + std::time::Duration::from_millis(50)
            } else {
                base
            };
            comm.barrier();
            std::thread::sleep(std::time::Duration::from_millis(60));
            clock_offsets(comm, epoch)
        });
        let offsets = out[0].as_ref().unwrap();
        assert_eq!(offsets[0], 0.0);
        assert!(offsets[1].abs() < 0.005, "{offsets:?}");
        assert!((offsets[2] + 0.050).abs() < 0.005, "{offsets:?}");
        assert!(out[1].is_none() && out[2].is_none());
    }
}
