//! Zero-filled buffers faulted in ahead of time, on a thread of their own, while the process
//! waits for something else (the `spmdkit` binary starts it before `MPI_Init`, about 35 ms of
//! mostly waiting for the launcher, for the `matrix` job's three matrices per rank).
//!
//! A fresh matrix is zero-filled by the kernel as it is first written: for a 1000² job about
//! 0.3 ms per 2 MB huge page, a fifth of the generation phase at 1 thread. Done here, the job's
//! first pair is drawn into memory that is already mapped. The buffers hold zeros (the kernel's,
//! touched by writing zeros), so taking one is the same as allocating `vec![0.0; len]`.

use std::sync::Mutex;
use std::thread::JoinHandle;

/// The warmed buffers of this process: all of one length.
struct Warm {
    len: usize,
    making: Option<JoinHandle<Vec<Vec<f64>>>>,
    ready: Vec<Vec<f64>>,
}

static WARM: Mutex<Option<Warm>> = Mutex::new(None);

/// Starts making `count` zero-filled buffers of `len` values, every page touched, on a thread of
/// its own. Once per process: later calls do nothing.
pub fn warm_up(len: usize, count: usize) {
    let mut warm = WARM.lock().unwrap_or_else(|e| e.into_inner());
    if warm.is_some() || len == 0 || count == 0 {
        return;
    }
    // The thread must not read the environment while MPI starts beside it (MPI_Init sets
    // variables; a getenv racing a setenv may read a freed array): the allocator's one lookup
    // (SPMDKIT_HUGE_PAGES) is made here, on the calling thread, and remembered.
    super::pages::enabled();
    let making = std::thread::Builder::new()
        .name("spmdkit-warm".into())
        .spawn(move || {
            (0..count)
                .map(|_| {
                    let mut buffer = vec![0.0f64; len];
                    // One write per 4 KB page faults it in. Volatile: the allocator's zeros are
                    // known to the compiler, which would drop a plain store of zero.
                    for i in (0..len).step_by(4096 / std::mem::size_of::<f64>()) {
                        // SAFETY: i < len, within the buffer.
                        unsafe { std::ptr::write_volatile(buffer.as_mut_ptr().add(i), 0.0) };
                    }
                    buffer
                })
                .collect()
        })
        .ok();
    *warm = Some(Warm {
        len,
        making,
        ready: Vec::new(),
    });
}

/// A buffer of `len` zeros from [`warm_up`] (waiting for it to finish), or `None` when none of
/// that length is left.
pub fn take_zeroed(len: usize) -> Option<Vec<f64>> {
    let mut slot = WARM.lock().unwrap_or_else(|e| e.into_inner());
    let warm = slot.as_mut().filter(|w| w.len == len)?;
    if let Some(making) = warm.making.take() {
        warm.ready = making.join().unwrap_or_default();
    }
    warm.ready.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The length is one no other test of this process uses (the warm buffers are the process's).
    #[test]
    fn warmed_buffers_are_zeros_of_their_length_and_run_out() {
        warm_up(12_347, 2);
        // Once per process: a second request changes nothing.
        warm_up(10, 5);
        assert_eq!(take_zeroed(10), None);
        for _ in 0..2 {
            let b = take_zeroed(12_347).expect("a warmed buffer");
            assert_eq!(b.len(), 12_347);
            assert!(b.iter().all(|&x| x.to_bits() == 0));
        }
        assert_eq!(take_zeroed(12_347), None);
    }
}
