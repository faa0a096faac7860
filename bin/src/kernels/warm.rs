//! Zero-filled buffers faulted in ahead of time, on a thread of their own, while the process
//! waits for something else (the `spmdkit` binary starts them before `MPI_Init`, about 35 ms of
//! mostly waiting for the launcher, for the `matrix` job's three matrices per rank).
//!
//! A fresh matrix is zero-filled by the kernel as it is first written: for a 1000² job about
//! 0.3 ms per 2 MB huge page, a fifth of the generation phase at 1 thread. Done here, the job's
//! first pair is drawn into memory that is already mapped. The buffers hold zeros (the kernel's,
//! touched by writing zeros), so taking one is the same as allocating `vec![0.0; len]`.
//!
//! They are a value ([`Prefaulted`]) that the program hands to the job: nothing else can take
//! them by asking for a buffer of the same length.

use std::thread::JoinHandle;

/// Zero-filled buffers of one length, being faulted in on a thread of their own.
#[derive(Debug, Default)]
pub struct Prefaulted {
    len: usize,
    making: Option<JoinHandle<Vec<Vec<f64>>>>,
    ready: Vec<Vec<f64>>,
}

impl Prefaulted {
    /// Starts making `count` zero-filled buffers of `len` values, every page touched, on a thread
    /// of its own (with [`super::LargePages`] as the allocator, on huge pages where allowed).
    /// Nothing is made when the thread cannot start.
    pub fn start(len: usize, count: usize) -> Self {
        if len == 0 || count == 0 {
            return Prefaulted::default();
        }
        super::pages::enabled();
        let making = std::thread::Builder::new()
            .name("spmdkit-warm".into())
            .spawn(move || {
                (0..count)
                    .map(|_| {
                        let mut buffer = vec![0.0f64; len];
                        for i in (0..len).step_by(4096 / std::mem::size_of::<f64>()) {
                            // SAFETY: `i < len`, inside the buffer; a volatile write so that the
                            // page is touched although the value does not change.
                            unsafe { std::ptr::write_volatile(buffer.as_mut_ptr().add(i), 0.0) };
                        }
                        buffer
                    })
                    .collect()
            })
            .ok();
        Prefaulted {
            len,
            making,
            ready: Vec::new(),
        }
    }

    /// One of the buffers if any is left and they have `len` values (waiting for the thread to
    /// finish them), else `None`.
    pub fn take(&mut self, len: usize) -> Option<Vec<f64>> {
        if self.len != len {
            return None;
        }
        if let Some(making) = self.making.take() {
            self.ready = making.join().unwrap_or_default();
        }
        self.ready.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefaulted_buffers_are_zeros_of_their_length_and_run_out() {
        let mut warm = Prefaulted::start(12_347, 2);
        assert_eq!(warm.take(10), None);
        for _ in 0..2 {
            let b = warm.take(12_347).expect("a prefaulted buffer");
            assert_eq!(b.len(), 12_347);
            assert!(b.iter().all(|&x| x.to_bits() == 0));
        }
        assert_eq!(warm.take(12_347), None);
        assert_eq!(Prefaulted::default().take(0), None);
    }
}
