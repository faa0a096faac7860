//! Agreement on failure: every rank takes the same exit.

use crate::comm::Comm;
use crate::error::Error;

/// Makes every rank take the same exit when some ranks failed locally.
///
/// Each rank passes its local outcome. If every rank succeeded, each gets its own value back.
/// Otherwise every rank gets the error of the lowest failing rank (its kind, its message, and the
/// rank, see [`Error::from_rank`]), so all of them can stop together, and only rank 0 need print
/// it, instead of some of them waiting forever in the next collective. Call it before any
/// collective that follows a step which can fail on one rank alone (reading a file, allocating,
/// starting threads).
///
/// # Collective
/// Every rank must call it.
///
/// # Examples
/// ```
/// use spmdkit::comm::{inproc, Comm};
/// use spmdkit::{agree, Error};
/// let outcomes = inproc::run(3, |comm| {
///     let local = if comm.rank() == 2 { Err(Error::bad_input("bad file")) } else { Ok(()) };
///     agree(comm, local).map_err(|e| (e.from_rank(), e.to_string(), e.exit_code()))
/// });
/// assert!(outcomes.iter().all(|o| o == &Err((Some(2), "rank 2: bad file".to_string(), 2))));
/// ```
#[track_caller]
pub fn agree<C, T, E>(comm: &C, local: Result<T, E>) -> Result<T, Error>
where
    C: Comm + ?Sized,
    E: Into<Error>,
{
    super::enter(comm, super::Call::Agree);
    let size = comm.size() as u64;
    let local = local.map_err(Into::into);
    let mine = if local.is_err() {
        comm.rank() as u64
    } else {
        size
    };
    let first = comm.all_reduce_min_u64(mine);
    if first == size {
        return Ok(local.unwrap_or_else(|_| unreachable!("no rank failed")));
    }
    let first = first as usize;
    let payload = match (&local, comm.rank() == first) {
        (Err(e), true) => super::encode(e),
        _ => Vec::new(),
    };
    let bytes = comm.broadcast_bytes(first, payload);
    let error: Error =
        super::decode_or_abort(comm, &bytes, &format!("the failure of rank {first}"));
    // An error agreed on before keeps the rank that saw it first.
    Err(match error.from_rank() {
        Some(_) => error,
        None => error.shared_from(first),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;
    use crate::error::Kind;

    #[test]
    fn values_pass_through_when_nobody_fails() {
        for size in 1..=9 {
            let out = inproc::run(size, |comm| agree(comm, Ok::<_, Error>(comm.rank())));
            assert_eq!(out, (0..size).map(Ok).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_lowest_failing_rank_is_reported_everywhere_with_its_kind() {
        for size in 2..=17 {
            let out = inproc::run(size, |comm| {
                let r = comm.rank();
                let local = if r % 3 == 1 {
                    let kind = if r % 2 == 1 {
                        Kind::Failed
                    } else {
                        Kind::BadInput
                    };
                    Err(Error::new(kind, format!("problem on {r}")))
                } else {
                    Ok(())
                };
                agree(comm, local)
            });
            for o in out {
                let e = o.unwrap_err();
                assert_eq!(e.from_rank(), Some(1));
                assert_eq!(e.message(), "problem on 1");
                assert_eq!(e.kind(), Kind::Failed);
                assert_eq!(e.to_string(), "rank 1: problem on 1");
                assert!(e.is_shared());
            }
        }
    }
}
