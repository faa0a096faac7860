//! Typed scatter, gather and broadcast of task descriptors and records.
//!
//! These wrap the byte collectives of [`Comm`] with the [`wire`] encoding. Decoding
//! happens after the collective has completed on this rank, while other ranks may already be in
//! the next one; a message that does not decode (two different spmdkit builds in one job) therefore
//! aborts the job with a message naming the rank rather than returning an error that would leave
//! the others waiting.

use crate::wire::{self, Wire};
use crate::world::Comm;

fn decode_or_abort<C: Comm + ?Sized, T: Wire>(comm: &C, bytes: &[u8], what: &str) -> T {
    wire::decode(bytes).unwrap_or_else(|e| {
        comm.abort(
            1,
            &format!("cannot decode {what} ({e}); are all ranks running the same spmdkit build?"),
        )
    })
}

/// Sends `parts[r]` from `root` to every rank `r`; each rank returns its own part.
/// `root` passes `Some(parts)` with exactly `comm.size()` parts, the others pass `None`.
///
/// # Collective
/// Every rank must call it with the same `root`.
///
/// # Panics
/// On `root`, if `parts` is `None` or has the wrong length.
///
/// # Examples
/// ```
/// use spmdkit::{scatter, world::{inproc, Comm}};
/// let got = inproc::run(3, |comm| {
///     let parts = (comm.rank() == 0).then(|| vec![vec![0.5], vec![], vec![1.0, 2.0]]);
///     scatter::scatter(comm, 0, parts)
/// });
/// assert_eq!(got, vec![vec![0.5], vec![], vec![1.0, 2.0]]);
/// ```
pub fn scatter<C: Comm + ?Sized, T: Wire>(comm: &C, root: usize, parts: Option<Vec<T>>) -> T {
    let encoded = parts.map(|ps| ps.iter().map(wire::encode).collect());
    let mine = comm.scatter_bytes(root, encoded);
    decode_or_abort(comm, &mine, "a scattered part")
}

/// Collects one value from every rank at `root`, ordered by rank; other ranks get `None`.
///
/// # Collective
/// Every rank must call it with the same `root`.
///
/// # Examples
/// ```
/// use spmdkit::{scatter, world::{inproc, Comm}};
/// let got = inproc::run(4, |comm| scatter::gather(comm, 0, &(comm.rank() as u32 * 2)));
/// assert_eq!(got[0], Some(vec![0, 2, 4, 6]));
/// assert_eq!(got[3], None);
/// ```
pub fn gather<C: Comm + ?Sized, T: Wire>(comm: &C, root: usize, value: &T) -> Option<Vec<T>> {
    let parts = comm.gather_bytes(root, &wire::encode(value))?;
    Some(
        parts
            .iter()
            .map(|p| decode_or_abort(comm, p, "a gathered value"))
            .collect(),
    )
}

/// Sends `root`'s value to every rank. `root` passes `Some`, the others `None`.
///
/// # Collective
/// Every rank must call it with the same `root`.
///
/// # Panics
/// On `root`, if `value` is `None`.
///
/// # Examples
/// ```
/// use spmdkit::{scatter, world::{inproc, Comm}};
/// let got = inproc::run(3, |comm| {
///     let words = vec!["tree".to_string(), "linear".to_string()];
///     scatter::broadcast(comm, 1, (comm.rank() == 1).then_some(&words))
/// });
/// assert!(got.iter().all(|w| w == &["tree", "linear"]));
/// ```
pub fn broadcast<C: Comm + ?Sized, T: Wire>(comm: &C, root: usize, value: Option<&T>) -> T {
    let bytes = if comm.rank() == root {
        wire::encode(value.expect("broadcast: the root must supply the value"))
    } else {
        Vec::new()
    };
    let bytes = comm.broadcast_bytes(root, bytes);
    decode_or_abort(comm, &bytes, "a broadcast value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::inproc;

    #[test]
    fn scatter_then_gather_returns_every_part_to_the_root() {
        for size in 1..=64 {
            let out = inproc::run(size, |comm| {
                let parts = (comm.rank() == 0).then(|| {
                    (0..comm.size())
                        .map(|r| (0..r % 5).map(|i| format!("{r}:{i}")).collect::<Vec<_>>())
                        .collect()
                });
                let mine: Vec<String> = scatter(comm, 0, parts);
                gather(comm, 0, &mine)
            });
            let want: Vec<Vec<String>> = (0..size)
                .map(|r| (0..r % 5).map(|i| format!("{r}:{i}")).collect())
                .collect();
            assert_eq!(out[0].as_ref(), Some(&want), "size {size}");
        }
    }

    #[test]
    fn broadcast_reaches_every_rank_from_any_root() {
        let out = inproc::run(5, |comm| {
            let v = format!("from {}", comm.rank());
            broadcast(comm, 3, (comm.rank() == 3).then_some(&v))
        });
        assert!(out.iter().all(|s| s == "from 3"));
    }
}
