//! Reductions of n × n f64 partial sums over ranks: the reproducible binomial tree, and the
//! `linear` and `native` strategies kept for comparison.
//!
//! The summation order of `tree` is a fixed binary tree over the pair index, not over ranks, so
//! its result has the same bits for every rank count; see `src/reduce/README.md`. Communication
//! takes ⌈log2 P⌉ rounds. Element-wise adds run on the current rayon pool; MPI is only called from
//! the calling (main) thread.

use crate::matrix;
use crate::world::{Comm, Tag};
use std::fmt;
use std::str::FromStr;

const TAG_NODE: Tag = 101;
const TAG_LINEAR: Tag = 102;

/// How partial sums are combined across ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// Binomial tree over ranks in ⌈log2 P⌉ rounds, summing in a fixed tree over the pair index:
    /// the same bits for any number of ranks and threads.
    Tree,
    /// Every rank sends its sum to rank 0, which adds P − 1 times. Bits depend on P.
    Linear,
    /// The MPI library's own `MPI_Reduce`. Bits depend on P and on the library.
    Native,
}

impl Strategy {
    /// Every strategy with its command-line name.
    pub const ALL: [(Strategy, &'static str); 3] = [
        (Strategy::Tree, "tree"),
        (Strategy::Linear, "linear"),
        (Strategy::Native, "native"),
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        crate::names::name_of(&Self::ALL, self)
    }

    /// The number of communication rounds on `ranks` ranks: ⌈log2 P⌉ for `tree`, 1 otherwise
    /// (0 on one rank).
    pub fn rounds(self, ranks: usize) -> u32 {
        if ranks <= 1 {
            return 0;
        }
        match self {
            Strategy::Tree => ceil_log2(ranks),
            Strategy::Linear | Strategy::Native => 1,
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given is not a strategy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reduction '{0}' (expected one of: {names})", names = crate::names::listed(&Strategy::ALL))]
pub struct UnknownStrategy(pub String);

impl FromStr for Strategy {
    type Err = UnknownStrategy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::by_name(&Self::ALL, s).ok_or_else(|| UnknownStrategy(s.to_string()))
    }
}

/// ⌈log2 p⌉ for p ≥ 1.
pub fn ceil_log2(p: usize) -> u32 {
    if p <= 1 {
        0
    } else {
        usize::BITS - (p - 1).leading_zeros()
    }
}

/// A complete subtree of the global summation tree: the sum of products `start..start + 2^level`.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// log2 of the number of products summed.
    pub level: u32,
    /// The first pair index; a multiple of `2^level`.
    pub start: usize,
    /// The sum, n² values.
    pub data: Vec<f64>,
}

impl Node {
    fn end(&self) -> usize {
        self.start + (1usize << self.level)
    }
}

/// A contiguous run of complete subtrees, in pair-index order, with every sibling pair merged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Partial {
    nodes: Vec<Node>,
    // Buffers freed by merges, handed out again by `buffer` so that a rank computing many
    // products does not pay the kernel's page faults for a fresh allocation each time.
    spare: Vec<Vec<f64>>,
}

impl Partial {
    /// No products yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A buffer of `len` values with unspecified contents: one freed by an earlier merge if there
    /// is one, else a new one.
    pub fn buffer(&mut self, len: usize) -> Vec<f64> {
        match self.spare.pop() {
            Some(mut b) => {
                b.resize(len, 0.0);
                b
            }
            None => vec![0.0; len],
        }
    }

    /// The nodes, in pair-index order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Whether no product has been pushed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds product `k`, which must directly follow the products already held.
    ///
    /// # Panics
    /// If `k` does not continue the range held.
    pub fn push_product(&mut self, k: usize, product: Vec<f64>) {
        self.push(Node {
            level: 0,
            start: k,
            data: product,
        });
    }

    /// Appends a node that directly follows the range held, then merges siblings at the top.
    ///
    /// # Panics
    /// If the node is not aligned or does not continue the range held.
    pub fn push(&mut self, node: Node) {
        assert_eq!(node.start % (1usize << node.level), 0, "nodes are aligned");
        if let Some(last) = self.nodes.last() {
            assert_eq!(last.end(), node.start, "nodes are contiguous");
        }
        self.nodes.push(node);
        while let [.., left, right] = &self.nodes[..] {
            let siblings =
                left.level == right.level && left.start % (1usize << (left.level + 1)) == 0;
            if !siblings {
                break;
            }
            let right = self.nodes.pop().expect("two nodes");
            let left = self.nodes.last_mut().expect("two nodes");
            matrix::add_into(&mut left.data, &right.data);
            left.level += 1;
            if self.spare.len() < 2 {
                self.spare.push(right.data);
            }
        }
    }

    /// Folds the nodes from the right, `B_0 + (B_1 + (… + B_m))`: on the complete range
    /// `[0, K)` this is the defined value of S. `None` if empty.
    pub fn fold(mut self) -> Option<Vec<f64>> {
        self.spare.clear();
        let mut nodes = self.nodes.into_iter().rev();
        let mut acc = nodes.next()?.data;
        for node in nodes {
            // node + acc has the same bits as acc + node: addition is commutative.
            matrix::add_into(&mut acc, &node.data);
        }
        Some(acc)
    }
}

/// The nodes (level, start) that pushing products `lo..hi` in order leaves in a [`Partial`].
///
/// The shape of a rank's list depends only on its range, so a receiver knows what its neighbour
/// will send without a header message: one message per node, usually just one.
pub fn shape(lo: usize, hi: usize) -> Vec<(u32, usize)> {
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for k in lo..hi {
        stack.push((0, k));
        while let [.., (l1, s1), (l2, _)] = stack[..] {
            if l1 != l2 || s1 % (1usize << (l1 + 1)) != 0 {
                break;
            }
            stack.pop();
            stack.last_mut().expect("two nodes").0 += 1;
        }
    }
    stack
}

fn send_partial<C: Comm + ?Sized>(comm: &C, dest: usize, partial: &Partial, range: (usize, usize)) {
    let have: Vec<(u32, usize)> = partial.nodes.iter().map(|n| (n.level, n.start)).collect();
    if have != shape(range.0, range.1) {
        comm.abort(
            1,
            &format!("reduction bug: partial sums {have:?} do not cover {range:?}"),
        );
    }
    for node in &partial.nodes {
        comm.send_f64(dest, TAG_NODE, &node.data);
    }
}

/// Receives `src`'s nodes for `range` and appends them to `mine`, each into a buffer that an
/// earlier merge freed where there is one (its pages are mapped already).
fn recv_partial<C: Comm + ?Sized>(
    comm: &C,
    src: usize,
    len: usize,
    range: (usize, usize),
    mine: &mut Partial,
) {
    for (level, start) in shape(range.0, range.1) {
        let mut data = mine.buffer(len);
        comm.recv_f64_into(src, TAG_NODE, &mut data);
        // Pushing (not just storing) re-checks alignment and contiguity.
        mine.push(Node { level, start, data });
    }
}

/// Combines every rank's [`Partial`] into S at rank 0, with the binomial tree; returns S on rank
/// 0 (`None` elsewhere, or if no rank held a product) and the number of rounds, ⌈log2 P⌉.
///
/// `ranges[r]` is the range of pair indices rank r pushed into its partial sum; the ranges must be
/// contiguous and in rank order (empty ones allowed), as [`ranges`] makes them. `len` is n².
///
/// # Collective
/// Every rank must call it.
///
/// # Examples
/// ```
/// use spmdkit::reduce::{tree, Partial};
/// use spmdkit::world::{inproc, Comm};
/// let out = inproc::run(3, |comm| {
///     let mut mine = Partial::new();
///     let k = comm.rank();
///     mine.push_product(k, vec![k as f64 + 1.0]);
///     tree(comm, mine, 1, &[(0, 1), (1, 2), (2, 3)])
/// });
/// assert_eq!(out[0], (Some(vec![6.0]), 2));
/// ```
pub fn tree<C: Comm + ?Sized>(
    comm: &C,
    mut mine: Partial,
    len: usize,
    ranges: &[(usize, usize)],
) -> (Option<Vec<f64>>, u32) {
    let (rank, size) = (comm.rank(), comm.size());
    assert_eq!(ranges.len(), size, "one range per rank");
    // The pair indices covered by the ranks first..last (inclusive).
    let span = |first: usize, last: usize| (ranges[first].0, ranges[last].1);
    let rounds = ceil_log2(size);
    for s in 0..rounds {
        let step = 1usize << s;
        if rank % (2 * step) == step {
            let last = (rank + step).min(size) - 1;
            send_partial(comm, rank - step, &mine, span(rank, last));
            return (None, rounds);
        }
        if rank % (2 * step) == 0 && rank + step < size {
            let src = rank + step;
            let last = (src + step).min(size) - 1;
            recv_partial(comm, src, len, span(src, last), &mut mine);
        }
    }
    (mine.fold(), rounds)
}

/// Every rank folds its partial sum and sends it to rank 0, which adds them in rank order
/// (P − 1 additions). Returns S on rank 0.
///
/// # Collective
/// Every rank must call it.
///
/// # Examples
/// ```
/// use spmdkit::reduce::{linear, Partial};
/// use spmdkit::world::{inproc, Comm};
/// let out = inproc::run(4, |comm| {
///     let mut mine = Partial::new();
///     mine.push_product(comm.rank(), vec![1.0, comm.rank() as f64]);
///     linear(comm, mine, 2)
/// });
/// assert_eq!(out[0], Some(vec![4.0, 6.0]));
/// ```
pub fn linear<C: Comm + ?Sized>(comm: &C, mine: Partial, len: usize) -> Option<Vec<f64>> {
    let local = mine.fold().unwrap_or_else(|| vec![0.0; len]);
    if comm.rank() != 0 {
        comm.send_f64(0, TAG_LINEAR, &local);
        return None;
    }
    let mut acc = local;
    let mut theirs = vec![0.0; len];
    for src in 1..comm.size() {
        comm.recv_f64_into(src, TAG_LINEAR, &mut theirs);
        matrix::add_into(&mut acc, &theirs);
    }
    Some(acc)
}

/// Every rank folds its partial sum; the MPI library's reduction adds them at rank 0.
///
/// # Collective
/// Every rank must call it.
///
/// # Examples
/// ```
/// use spmdkit::reduce::{native, Partial};
/// use spmdkit::world::{inproc, Comm};
/// let out = inproc::run(3, |comm| native(comm, Partial::new(), 2));
/// assert_eq!(out[0], Some(vec![0.0, 0.0])); // ranks without products contribute zeros
/// ```
pub fn native<C: Comm + ?Sized>(comm: &C, mine: Partial, len: usize) -> Option<Vec<f64>> {
    let mut local = mine.fold().unwrap_or_else(|| vec![0.0; len]);
    comm.reduce_sum_f64_into(0, &mut local);
    (comm.rank() == 0).then_some(local)
}

/// Runs `strategy`; returns S on rank 0 and the rounds used. `ranges` as for [`tree`].
///
/// # Collective
/// Every rank must call it with the same strategy.
///
/// # Examples
/// ```
/// use spmdkit::reduce::{ranges, reduce, Partial, Strategy};
/// use spmdkit::world::{inproc, Comm};
/// let out = inproc::run(3, |comm| {
///     let all = ranges(5, comm.size());
///     let mut mine = Partial::new();
///     for k in all[comm.rank()].0..all[comm.rank()].1 {
///         mine.push_product(k, vec![k as f64]);
///     }
///     reduce(comm, Strategy::Tree, mine, 1, &all)
/// });
/// assert_eq!(out[0], (Some(vec![10.0]), 2));
/// ```
pub fn reduce<C: Comm + ?Sized>(
    comm: &C,
    strategy: Strategy,
    mine: Partial,
    len: usize,
    ranges: &[(usize, usize)],
) -> (Option<Vec<f64>>, u32) {
    match strategy {
        Strategy::Tree => tree(comm, mine, len, ranges),
        Strategy::Linear => (linear(comm, mine, len), strategy.rounds(comm.size())),
        Strategy::Native => (native(comm, mine, len), strategy.rounds(comm.size())),
    }
}

/// Splits pair indices `0..pairs` into `ranks` contiguous ranges, sizes differing by at most one.
pub fn ranges(pairs: usize, ranks: usize) -> Vec<(usize, usize)> {
    (0..ranks)
        .map(|r| (r * pairs / ranks, (r + 1) * pairs / ranks))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::inproc;

    /// Values whose sums are sensitive to association: a single rank's order is the reference.
    fn product(k: usize, len: usize) -> Vec<f64> {
        (0..len)
            .map(|i| {
                let x = ((k * 7919 + i * 104_729) % 1000) as f64;
                (x - 500.0) * 10f64.powi(((k + i) % 23) as i32 - 11) / 3.0
            })
            .collect()
    }

    fn single_rank(pairs: usize, len: usize) -> Vec<f64> {
        let mut p = Partial::new();
        for k in 0..pairs {
            p.push_product(k, product(k, len));
        }
        p.fold().unwrap()
    }

    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    #[test]
    fn the_tree_gives_single_rank_bits_at_every_size_up_to_64() {
        let len = 5;
        for pairs in [1, 2, 3, 7, 16, 33, 100] {
            let reference = bits(&single_rank(pairs, len));
            for size in 1..=64 {
                let out = inproc::run(size, |comm| {
                    let (lo, hi) = ranges(pairs, comm.size())[comm.rank()];
                    let mut mine = Partial::new();
                    for k in lo..hi {
                        mine.push_product(k, product(k, len));
                    }
                    tree(comm, mine, len, &ranges(pairs, size))
                });
                let (result, rounds) = &out[0];
                assert_eq!(*rounds, ceil_log2(size), "rounds at P = {size}");
                assert_eq!(
                    bits(result.as_ref().unwrap()),
                    reference,
                    "pairs {pairs}, P = {size}"
                );
                assert!(out[1..].iter().all(|(r, _)| r.is_none()));
            }
        }
    }

    #[test]
    fn the_tree_order_differs_from_a_naive_running_sum() {
        // Otherwise the test above could not tell orders apart.
        let (pairs, len) = (33, 5);
        let mut running = product(0, len);
        for k in 1..pairs {
            matrix::add_into(&mut running, &product(k, len));
        }
        assert_ne!(bits(&running), bits(&single_rank(pairs, len)));
    }

    #[test]
    fn linear_and_native_agree_with_the_tree_within_rounding() {
        let (pairs, len) = (13, 4);
        let reference = single_rank(pairs, len);
        for size in [1, 2, 3, 5, 8] {
            for strategy in [Strategy::Linear, Strategy::Native] {
                let out = inproc::run(size, |comm| {
                    let (lo, hi) = ranges(pairs, comm.size())[comm.rank()];
                    let mut mine = Partial::new();
                    for k in lo..hi {
                        mine.push_product(k, product(k, len));
                    }
                    reduce(comm, strategy, mine, len, &ranges(pairs, size))
                });
                let got = out[0].0.as_ref().unwrap();
                for (x, y) in got.iter().zip(&reference) {
                    assert!(
                        (x - y).abs() <= 1e-9 * (1.0 + y.abs()),
                        "{strategy} P={size}"
                    );
                }
            }
        }
    }

    #[test]
    fn siblings_only_merge_when_aligned() {
        let mut p = Partial::new();
        p.push_product(1, vec![1.0]);
        p.push_product(2, vec![2.0]);
        // [1,2) and [2,3) are neighbours but not siblings.
        assert_eq!(p.nodes().len(), 2);
        p.push_product(3, vec![3.0]);
        let shape: Vec<(u32, usize)> = p.nodes().iter().map(|n| (n.level, n.start)).collect();
        assert_eq!(shape, vec![(0, 1), (1, 2)]);
    }

    #[test]
    fn shape_matches_what_pushing_leaves() {
        for lo in 0..20 {
            for hi in lo..40 {
                let mut p = Partial::new();
                for k in lo..hi {
                    p.push_product(k, vec![0.0]);
                }
                let got: Vec<(u32, usize)> = p.nodes().iter().map(|n| (n.level, n.start)).collect();
                assert_eq!(got, shape(lo, hi), "{lo}..{hi}");
            }
        }
        assert_eq!(shape(0, 6), vec![(2, 0), (1, 4)]);
    }

    #[test]
    fn rounds_and_ranges() {
        assert_eq!(
            (
                ceil_log2(1),
                ceil_log2(2),
                ceil_log2(3),
                ceil_log2(64),
                ceil_log2(65)
            ),
            (0, 1, 2, 6, 7)
        );
        assert_eq!(ranges(2, 3), vec![(0, 0), (0, 1), (1, 2)]);
        assert_eq!(ranges(5, 2), vec![(0, 2), (2, 5)]);
        assert_eq!(Strategy::Linear.rounds(5), 1);
        assert_eq!("native".parse::<Strategy>().unwrap(), Strategy::Native);
        assert!("fast".parse::<Strategy>().is_err());
    }
}
