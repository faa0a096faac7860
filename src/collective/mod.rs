//! Typed collectives over any [`Comm`]: scatter, gather and broadcast of serde types, agreement
//! on errors, the common clock, the same-command check and the placement of ranks on cores
//! ([`placement`]).
//!
//! Values travel in postcard's compact binary format (varints, no field names): any type with
//! `#[derive(Serialize, Deserialize)]` — structs, tuples, `Option`, `Vec`, `String`, enums — crosses
//! ranks without a hand-written encoder. Bulk `f64` data does not go through serde: it has its own
//! zero-copy path ([`Comm::send_f64`], [`Comm::recv_f64_into`], used by the reductions).
//!
//! Decoding happens after the collective has completed on this rank, while other ranks may already
//! be in the next one; a message that does not decode (two different builds in one job) therefore
//! aborts the job with a message naming the rank rather than returning an error that would leave
//! the others waiting.

mod agree;
mod calls;
mod clock;
mod command;
pub mod placement;

pub use agree::agree;
pub(crate) use calls::{enter, Call};
pub(crate) use clock::clock_offsets;
pub(crate) use command::same_command;

use crate::comm::Comm;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Encodes a value in the wire format. Serialising into a `Vec` cannot fail for the types spmdkit
/// sends (the format has no limits a value could exceed), so a failure is a bug in a `Serialize`
/// impl and panics with its message.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap_or_else(|e| panic!("cannot encode a message: {e}"))
}

/// Decodes one value that must take all of `bytes`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    let (value, rest) = postcard::take_from_bytes(bytes)?;
    if rest.is_empty() {
        Ok(value)
    } else {
        Err(postcard::Error::DeserializeBadEncoding)
    }
}

/// Decodes a message or aborts the job, naming `what` and this rank.
pub(crate) fn decode_or_abort<C: Comm + ?Sized, T: DeserializeOwned>(
    comm: &C,
    bytes: &[u8],
    what: &str,
) -> T {
    decode(bytes).unwrap_or_else(|e| {
        comm.abort(
            1,
            &format!("cannot decode {what} ({e}); are all ranks running the same build?"),
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
/// use spmdkit::collective::scatter;
/// use spmdkit::comm::{inproc, Comm};
/// let got = inproc::run(3, |comm| {
///     let parts = (comm.rank() == 0).then(|| vec![vec![0.5], vec![], vec![1.0, 2.0]]);
///     scatter(comm, 0, parts)
/// });
/// assert_eq!(got, vec![vec![0.5], vec![], vec![1.0, 2.0]]);
/// ```
#[track_caller]
pub fn scatter<C, T>(comm: &C, root: usize, parts: Option<Vec<T>>) -> T
where
    C: Comm + ?Sized,
    T: Serialize + DeserializeOwned,
{
    scatter_as(comm, root, parts)
}

/// [`scatter`] where the root sends one type and every rank receives another with the same
/// encoding (the root sends references, `(usize, &T)`, the ranks receive `(usize, T)`), so the
/// root need not clone what it sends.
#[track_caller]
pub(crate) fn scatter_as<C, S, D>(comm: &C, root: usize, parts: Option<Vec<S>>) -> D
where
    C: Comm + ?Sized,
    S: Serialize,
    D: DeserializeOwned,
{
    enter(comm, Call::Scatter);
    let encoded = parts.map(|ps| ps.iter().map(|p| encode(p)).collect());
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
/// use spmdkit::collective::gather;
/// use spmdkit::comm::{inproc, Comm};
/// let got = inproc::run(4, |comm| gather(comm, 0, &(comm.rank() as u32 * 2, "hi".to_string())));
/// assert_eq!(got[0].as_ref().unwrap()[3], (6, "hi".to_string()));
/// assert_eq!(got[3], None);
/// ```
#[track_caller]
pub fn gather<C, T>(comm: &C, root: usize, value: &T) -> Option<Vec<T>>
where
    C: Comm + ?Sized,
    T: Serialize + DeserializeOwned,
{
    gather_as(comm, root, value)
}

/// [`gather`] with a sent type and a received type of the same encoding.
#[track_caller]
pub(crate) fn gather_as<C, S, D>(comm: &C, root: usize, value: &S) -> Option<Vec<D>>
where
    C: Comm + ?Sized,
    S: Serialize + ?Sized,
    D: DeserializeOwned,
{
    enter(comm, Call::Gather);
    let parts = comm.gather_bytes(root, &encode(value))?;
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
/// use spmdkit::collective::broadcast;
/// use spmdkit::comm::{inproc, Comm};
/// let got = inproc::run(3, |comm| {
///     let words = vec!["tree".to_string(), "linear".to_string()];
///     broadcast(comm, 1, (comm.rank() == 1).then_some(&words))
/// });
/// assert!(got.iter().all(|w| w == &["tree", "linear"]));
/// ```
#[track_caller]
pub fn broadcast<C, T>(comm: &C, root: usize, value: Option<&T>) -> T
where
    C: Comm + ?Sized,
    T: Serialize + DeserializeOwned,
{
    enter(comm, Call::Broadcast);
    let bytes = if comm.rank() == root {
        encode(value.expect("broadcast: the root must supply the value"))
    } else {
        Vec::new()
    };
    let bytes = comm.broadcast_bytes(root, bytes);
    decode_or_abort(comm, &bytes, "a broadcast value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Task {
        seed: u64,
        n: u64,
        label: Option<String>,
        pair: (i32, f64),
    }

    #[test]
    fn a_derived_struct_round_trips_exactly() {
        let t = Task {
            seed: u64::MAX,
            n: 7,
            label: Some("x".into()),
            pair: (-3, f64::MIN_POSITIVE),
        };
        let back: Task = decode(&encode(&t)).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.pair.1.to_bits(), t.pair.1.to_bits());
        // Compact: varints, no field names.
        assert!(encode(&(1u64, 2u64)).len() == 2);
    }

    #[test]
    fn truncated_or_trailing_bytes_do_not_decode() {
        let bytes = encode(&"hello".to_string());
        assert!(decode::<String>(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode::<String>(&longer).is_err());
        // A corrupt length cannot make the decoder allocate wildly.
        assert!(decode::<Vec<u32>>(&encode(&(u64::MAX / 2))).is_err());
    }

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
            let v = Task {
                seed: comm.rank() as u64,
                n: 1,
                label: None,
                pair: (0, 0.5),
            };
            broadcast(comm, 3, (comm.rank() == 3).then_some(&v))
        });
        assert!(out.iter().all(|t| t.seed == 3 && t.label.is_none()));
    }
}
