//! The same-command check: every rank must run the same build with the same arguments.

use crate::comm::Comm;
use crate::error::Error;

/// Checks that every rank runs the same spmdkit version with the same arguments (the program
/// path aside, which may differ between nodes). A rank started differently (an MPMD launch, a
/// stale binary on one node) would otherwise take other branches and wait forever in another
/// collective.
///
/// # Collective
/// Every rank must call it.
///
/// # Errors
/// The first rank whose command differs from rank 0's, with both commands, as bad input (exit
/// code 2); every rank gets it.
pub(crate) fn same_command<C: Comm + ?Sized>(comm: &C, args: &[String]) -> Result<(), Error> {
    let mut mine = vec![env!("CARGO_PKG_VERSION").to_string()];
    mine.extend(args.iter().cloned());
    let root = super::broadcast(comm, 0, (comm.rank() == 0).then_some(&mine));
    let local = if root == mine {
        Ok(())
    } else {
        Err(Error::bad_input(format!(
            "this rank was started differently from rank 0: spmdkit {} with {:?}, rank 0 runs \
             spmdkit {} with {:?}; every rank must run the same build with the same arguments",
            mine[0],
            &mine[1..],
            root.first().map(String::as_str).unwrap_or("?"),
            root.get(1..).unwrap_or(&[])
        )))
    };
    super::agree(comm, local)
}

#[cfg(test)]
mod tests {
    use crate::comm::{inproc, Comm};

    #[test]
    fn the_first_rank_started_differently_is_named_everywhere() {
        let out = inproc::run(3, |comm| {
            let args = vec![if comm.rank() == 2 { "b" } else { "a" }.to_string()];
            super::same_command(comm, &args).map_err(|e| e.from_rank())
        });
        assert!(out.iter().all(|o| o == &Err(Some(2))));
    }
}
