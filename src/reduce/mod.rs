//! Reproducible reductions of f64 arrays over ranks, for any ownership of the leaves: the
//! binomial tree (to rank 0, or to every rank), and the `linear` and `native` strategies kept
//! for comparison.
//!
//! Each rank inserts its values into [`Leaves`] by *global leaf index* — the index of the task
//! that produced it, whichever rank ran that task under whichever schedule. The combination
//! order is a fixed binary tree over that index, not over ranks: a node is formed only by
//! combining its two children, whichever rank holds them, so [`tree`] gives the same bits for
//! every rank count, thread count and schedule. Communication takes ⌈log2 P⌉ rounds of messages
//! over ranks. See `src/reduce/README.md` for the order and why it holds.
//!
//! The operation is a type parameter ([`Sum`] by default, [`Max`], [`Min`]): monomorphised, it
//! costs nothing. Element-wise combines of large arrays run on the pool given to
//! [`Leaves::new`], never on rayon's global pool; MPI is only called from the calling thread.

use crate::collective;
use crate::comm::{tags, Comm};
use ndarray::{Array, Array1, Dimension, Ix1};
use rayon::prelude::*;
use rayon::ThreadPool;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Values per work item of a parallel element-wise combine; smaller arrays combine inline.
const COMBINE_CHUNK: usize = 64 * 1024;

/// A value that can be a leaf of a reduction: a number, an array of numbers, or an `ndarray`
/// array of `f64` of any shape. [`Run::sum`](crate::farm::Run::sum) takes any of them.
pub trait Leaf: Sized {
    /// The shape of its array.
    type Dim: Dimension;
    /// The value as an array.
    fn into_leaf(self) -> Array<f64, Self::Dim>;
    /// The value back from an array of the same shape.
    fn from_leaf(array: Array<f64, Self::Dim>) -> Self;
}

impl Leaf for f64 {
    type Dim = ndarray::Ix1;
    fn into_leaf(self) -> Array<f64, ndarray::Ix1> {
        Array::from_elem(1, self)
    }
    fn from_leaf(array: Array<f64, ndarray::Ix1>) -> Self {
        array[0]
    }
}

impl<const N: usize> Leaf for [f64; N] {
    type Dim = ndarray::Ix1;
    fn into_leaf(self) -> Array<f64, ndarray::Ix1> {
        Array::from_vec(self.to_vec())
    }
    fn from_leaf(array: Array<f64, ndarray::Ix1>) -> Self {
        let mut out = [0.0; N];
        out.copy_from_slice(
            array
                .as_slice()
                .expect("a leaf comes back in standard layout"),
        );
        out
    }
}

impl<D: Dimension> Leaf for Array<f64, D> {
    type Dim = D;
    fn into_leaf(self) -> Self {
        self
    }
    fn from_leaf(array: Self) -> Self {
        array
    }
}

/// The sum of `values` (leaves 0, 1, 2, ... in that order) in the tree's order, on this thread:
/// the bits that [`tree`] and [`Run::sum`](crate::farm::Run::sum) give for the same values on
/// any number of ranks and threads, so the serial reference of a distributed sum. `None` for no
/// value.
///
/// ```
/// let values = [1e16, 1.0, -1e16, 1.0];
/// let sum = spmdkit::reduce::serial_sum(values).unwrap();
/// assert_eq!(sum, (1e16 + 1.0) + (-1e16 + 1.0)); // pairs first: 0, where a loop gives 1
/// assert_eq!(values.iter().sum::<f64>(), 1.0);
/// ```
pub fn serial_sum<L: Leaf>(values: impl IntoIterator<Item = L>) -> Option<L> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("a pool of one thread");
    let mut leaves = Leaves::new(&pool);
    for (i, v) in values.into_iter().enumerate() {
        leaves.insert(i, v.into_leaf());
    }
    leaves.into_array().map(L::from_leaf)
}

/// An element-wise operation that is commutative and whose result does not depend on how the
/// elements are split over threads (each element is combined on its own).
pub trait Op: Copy + Send + Sync + 'static {
    /// Combines `x` into `acc`.
    fn apply(acc: &mut f64, x: f64);

    /// The operation's name, for messages.
    const NAME: &'static str;
}

/// `acc + x`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sum;
/// `max(acc, x)` (NaN-propagating as `f64::max` is not: see [`f64::max`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Max;
/// `min(acc, x)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Min;

impl Op for Sum {
    fn apply(acc: &mut f64, x: f64) {
        *acc += x;
    }
    const NAME: &'static str = "sum";
}
impl Op for Max {
    fn apply(acc: &mut f64, x: f64) {
        *acc = acc.max(x);
    }
    const NAME: &'static str = "max";
}
impl Op for Min {
    fn apply(acc: &mut f64, x: f64) {
        *acc = acc.min(x);
    }
    const NAME: &'static str = "min";
}

/// `acc ⊕= x` element-wise: inline for small arrays, in parallel chunks on `pool` for large ones.
fn combine<O: Op>(pool: &ThreadPool, acc: &mut [f64], x: &[f64]) {
    combine_with(pool, acc, x, O::apply);
}

/// Two sibling nodes combined into the one held in `held`, always as `left ⊕ right`: the bits do
/// not depend on which of the two arrived first (not even for the sign of a zero from max/min).
fn combine_siblings<O: Op>(pool: &ThreadPool, held: &mut [f64], held_is_left: bool, other: &[f64]) {
    if held_is_left {
        combine_with(pool, held, other, O::apply);
    } else {
        combine_with(pool, held, other, |right, left| {
            let mut v = left;
            O::apply(&mut v, *right);
            *right = v;
        });
    }
}

fn combine_with(pool: &ThreadPool, acc: &mut [f64], x: &[f64], f: impl Fn(&mut f64, f64) + Sync) {
    assert_eq!(acc.len(), x.len(), "arrays of the same shape");
    let serial = |a: &mut [f64], b: &[f64]| {
        for (a, b) in a.iter_mut().zip(b) {
            f(a, *b);
        }
    };
    if acc.len() <= COMBINE_CHUNK {
        serial(acc, x);
    } else {
        pool.install(|| {
            acc.par_chunks_mut(COMBINE_CHUNK)
                .zip(x.par_chunks(COMBINE_CHUNK))
                .for_each(|(a, b)| serial(a, b));
        });
    }
}

/// How partial sums are combined across ranks (the `matrix` job's `--reduce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Strategy {
    /// Binomial tree over ranks in ⌈log2 P⌉ rounds, combining in a fixed tree over the leaf index:
    /// the same bits for any number of ranks and threads.
    Tree,
    /// Every rank sends its combined leaves to rank 0, which adds P − 1 times. Bits depend on P.
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

/// ⌈log2 p⌉ for p ≥ 1: the rounds of the tree on p ranks.
pub fn ceil_log2(p: usize) -> u32 {
    if p <= 1 {
        0
    } else {
        usize::BITS - (p - 1).leading_zeros()
    }
}

/// A complete subtree of the global tree: the combination of leaves `start..start + 2^level`.
#[derive(Debug)]
struct Node {
    level: u32,
    data: Vec<f64>,
}

/// Two inserts covered the same leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Overlap {
    start: usize,
    level: u32,
}

/// This rank's leaves of a reduction, combined as far as the fixed tree allows.
///
/// Insert values by their global leaf index, in any order; siblings of the tree are combined as
/// soon as both are present. Every leaf index must be inserted at most once over all ranks.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use spmdkit::comm::{inproc, Comm};
/// use spmdkit::reduce::{self, Leaves};
/// let out = inproc::run(3, |comm| {
///     let pool = spmdkit::pool(1).unwrap();
///     let mut leaves = Leaves::new(&pool);
///     // Any ownership: rank r holds the leaves k with k % 3 == r.
///     for k in (comm.rank()..10).step_by(3) {
///         leaves.insert(k, array![k as f64, 1.0]);
///     }
///     reduce::tree(comm, leaves)
/// });
/// assert_eq!(out[0], Some(array![45.0, 10.0]));
/// assert!(out[1].is_none());
/// ```
pub struct Leaves<'p, D: Dimension, O: Op = Sum> {
    pool: &'p ThreadPool,
    shape: Option<D>,
    nodes: BTreeMap<usize, Node>,
    spare: Vec<Vec<f64>>,
    _op: std::marker::PhantomData<O>,
}

impl<'p, D: Dimension> Leaves<'p, D, Sum> {
    /// No leaves yet; the values will be summed, their element-wise adds running on `pool`.
    pub fn new(pool: &'p ThreadPool) -> Self {
        Self::with_op(pool, Sum)
    }
}

impl<'p, D: Dimension, O: Op> Leaves<'p, D, O> {
    /// No leaves yet; the values will be combined with `op` on `pool`.
    pub fn with_op(pool: &'p ThreadPool, _op: O) -> Self {
        Leaves {
            pool,
            shape: None,
            nodes: BTreeMap::new(),
            spare: Vec::new(),
            _op: std::marker::PhantomData,
        }
    }

    /// Adds the value of leaf `index`. Any memory layout is accepted; a standard-layout array is
    /// taken without a copy.
    ///
    /// # Panics
    /// If `index` was inserted before (or is covered by a node already held), or the shape
    /// differs from the values inserted before.
    pub fn insert(&mut self, index: usize, value: Array<f64, D>) {
        self.check_shape(value.raw_dim());
        let value = if value.is_standard_layout() {
            value
        } else {
            value.as_standard_layout().into_owned()
        };
        let (data, offset) = value.into_raw_vec_and_offset();
        let data = match offset {
            Some(0) | None => data,
            Some(at) => data[at..].to_vec(),
        };
        if let Err(o) = self.insert_node(0, index, data) {
            panic!(
                "leaf {index} inserted twice (it is within the node of level {} at {})",
                o.level, o.start
            );
        }
    }

    /// The number of leaves combined into the nodes held.
    pub fn count(&self) -> usize {
        self.nodes.values().map(|n| 1usize << n.level).sum()
    }

    /// Whether no leaf is held.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    fn check_shape(&mut self, shape: D) {
        match &self.shape {
            Some(s) if *s != shape => panic!(
                "a leaf of shape {:?} among leaves of shape {:?}",
                shape.slice(),
                s.slice()
            ),
            Some(_) => {}
            None => self.shape = Some(shape),
        }
    }

    fn len(&self) -> usize {
        self.shape.as_ref().map_or(0, Dimension::size)
    }

    /// A buffer of `len` values with unspecified contents, for a leaf to be computed into: a
    /// spare one if there is one (its pages are mapped already), else a new one of zeros.
    pub fn buffer(&mut self, len: usize) -> Vec<f64> {
        match self.spare.pop() {
            Some(mut b) => {
                b.resize(len, 0.0);
                b
            }
            None => vec![0.0; len],
        }
    }

    /// Keeps `buffer` (memory whose pages are already mapped: a spent input, say) as a spare, for
    /// [`Self::buffer`] and for the nodes arriving from other ranks, which then land without page
    /// faults. At most two are kept.
    pub fn recycle(&mut self, buffer: Vec<f64>) {
        if self.spare.len() < 2 {
            self.spare.push(buffer);
        }
    }

    /// Checks that the node `(level, start)` overlaps nothing held, and returns its sibling's
    /// start if the sibling is held.
    fn place(&self, level: u32, start: usize) -> Result<Option<usize>, Overlap> {
        let block = 1usize
            .checked_shl(level)
            .filter(|b| start.checked_add(*b).is_some())
            .ok_or(Overlap { start, level })?;
        let overlaps_before = self
            .nodes
            .range(..=start)
            .next_back()
            .is_some_and(|(&s, n)| s + (1usize << n.level) > start);
        let overlaps_after = self
            .nodes
            .range(start..)
            .next()
            .is_some_and(|(&s, _)| s < start + block);
        if overlaps_before || overlaps_after {
            return Err(Overlap { start, level });
        }
        let sibling = if start.is_multiple_of(2 * block) {
            start.checked_add(block)
        } else {
            Some(start - block)
        };
        Ok(sibling.filter(|s| self.nodes.get(s).is_some_and(|n| n.level == level)))
    }

    /// Inserts a complete subtree and combines it with its sibling while the sibling is held.
    fn insert_node(
        &mut self,
        mut level: u32,
        mut start: usize,
        mut data: Vec<f64>,
    ) -> Result<(), Overlap> {
        loop {
            let Some(sibling) = self.place(level, start)? else {
                self.nodes.insert(start, Node { level, data });
                return Ok(());
            };
            let other = self.nodes.remove(&sibling).expect("the sibling is held");
            combine_siblings::<O>(self.pool, &mut data, start < sibling, &other.data);
            self.recycle(other.data);
            start = start.min(sibling);
            level += 1;
        }
    }

    /// The nodes' (level, start), in index order.
    fn shape_of_nodes(&self) -> Vec<(u32, u64)> {
        self.nodes
            .iter()
            .map(|(&s, n)| (n.level, s as u64))
            .collect()
    }

    /// Folds the nodes from the right, `B_0 ⊕ (B_1 ⊕ (… ⊕ B_m))`: on the complete range `[0, K)`
    /// this is the defined value of the reduction. `None` if empty.
    fn fold(self) -> Option<(D, Vec<f64>)> {
        let pool = self.pool;
        let shape = self.shape?;
        let mut nodes = self.nodes.into_values().rev();
        let mut acc = nodes.next()?.data;
        for node in nodes {
            combine::<O>(pool, &mut acc, &node.data);
        }
        Some((shape, acc))
    }

    /// The reduction of these leaves alone, on this rank: what [`tree`] returns when one rank
    /// holds every leaf, so the serial reference of a distributed reduction, bit for bit (`None`
    /// if there is no leaf).
    ///
    /// ```
    /// use ndarray::array;
    /// use spmdkit::comm::{inproc, Comm};
    /// use spmdkit::reduce::{self, Leaves};
    /// let pool = spmdkit::pool(1).unwrap();
    /// let values = [0.1, 0.2, 0.3, 1e16, -1e16];
    /// let mut serial = Leaves::new(&pool);
    /// for (i, v) in values.iter().enumerate() {
    ///     serial.insert(i, array![*v]);
    /// }
    /// let serial = serial.into_array().unwrap();
    /// let out = inproc::run(3, |comm| {
    ///     let pool = spmdkit::pool(1).unwrap();
    ///     let mut leaves = Leaves::new(&pool);
    ///     for (i, v) in values.iter().enumerate().skip(comm.rank()).step_by(3) {
    ///         leaves.insert(i, array![*v]);
    ///     }
    ///     reduce::tree(comm, leaves)
    /// });
    /// assert_eq!(out[0].as_ref().unwrap()[0].to_bits(), serial[0].to_bits());
    /// ```
    pub fn into_array(self) -> Option<Array<f64, D>> {
        let (shape, data) = self.fold()?;
        Some(Array::from_shape_vec(shape, data).expect("the data has the shape's length"))
    }
}

impl<O: Op> Leaves<'_, Ix1, O> {
    /// Adds the value of leaf `index` from a slice (copied into a reused buffer).
    ///
    /// # Panics
    /// As [`Leaves::insert`].
    pub fn insert_slice(&mut self, index: usize, values: &[f64]) {
        let mut data = self.buffer(values.len());
        data.copy_from_slice(values);
        self.insert(index, Array1::from(data));
    }
}

/// What a rank sends up the tree before its nodes: the shape (if it holds any leaf) and the nodes'
/// (level, start).
type Header = (Option<Vec<usize>>, Vec<(u32, u64)>);

fn send_leaves<C: Comm + ?Sized, D: Dimension, O: Op>(
    comm: &C,
    dest: usize,
    leaves: &Leaves<D, O>,
) {
    let header: Header = (
        leaves.shape.as_ref().map(|s| s.slice().to_vec()),
        leaves.shape_of_nodes(),
    );
    comm.send(dest, tags::TREE_HEADER, &collective::encode(&header));
    for node in leaves.nodes.values() {
        comm.send_f64_streamed(dest, tags::TREE_NODE, &node.data);
    }
}

fn recv_leaves<C: Comm + ?Sized, D: Dimension, O: Op>(
    comm: &C,
    src: usize,
    leaves: &mut Leaves<D, O>,
) {
    let (shape, nodes): Header = collective::decode_or_abort(
        comm,
        &comm.recv(src, tags::TREE_HEADER),
        "the nodes of a reduction",
    );
    let Some(shape) = shape else { return };
    let dim = D::from_dimension(&ndarray::IxDyn(&shape)).unwrap_or_else(|| {
        comm.abort(
            1,
            &format!("rank {src} reduces arrays of shape {shape:?}, of another dimension"),
        )
    });
    if leaves.shape.as_ref().is_some_and(|s| *s != dim) {
        comm.abort(
            1,
            &format!(
                "rank {src} reduces arrays of shape {shape:?}, this rank of shape {:?}",
                leaves.shape.as_ref().map(|s| s.slice().to_vec())
            ),
        );
    }
    leaves.shape = Some(dim);
    let len = leaves.len();
    for (level, start) in nodes {
        let start = start as usize;
        let overlap = |o: Overlap| -> ! {
            comm.abort(
                1,
                &format!(
                    "leaves {}..{} of the reduction were inserted on rank {src} and on this rank \
                     too: each leaf index must be inserted on one rank only",
                    o.start,
                    o.start + (1usize << o.level)
                ),
            )
        };
        let mut buffer = leaves.buffer(len);
        let node = match leaves.place(level, start) {
            Err(o) => overlap(o),
            // Combined as it arrives, straight into the sibling held.
            Ok(Some(sibling)) => {
                let mut held = leaves.nodes.remove(&sibling).expect("the sibling is held");
                let pool = leaves.pool;
                comm.recv_f64_streamed_combine(
                    src,
                    tags::TREE_NODE,
                    &mut held.data,
                    &mut buffer,
                    &mut |acc, part| combine_siblings::<O>(pool, acc, sibling < start, part),
                );
                leaves.recycle(buffer);
                (level + 1, start.min(sibling), held.data)
            }
            Ok(None) => {
                comm.recv_f64_streamed_into(src, tags::TREE_NODE, &mut buffer);
                (level, start, buffer)
            }
        };
        if let Err(o) = leaves.insert_node(node.0, node.1, node.2) {
            overlap(o);
        }
    }
}

/// Combines every rank's leaves at rank 0 with the binomial tree over ranks, in ⌈log2 P⌉
/// rounds; rank 0 returns the result (`None` if no rank held a leaf), the others `None`.
///
/// The result has the same bits whatever the number of ranks and threads and whichever rank
/// inserted which leaf: it depends only on the set of leaf indices and their values.
///
/// # Collective
/// Every rank must call it (with its leaves, possibly none).
///
/// # Panics
/// Aborts the job when two ranks inserted the same leaf index, or arrays of different shapes.
///
/// # Examples
/// See [`Leaves`].
#[track_caller]
pub fn tree<C, D, O>(comm: &C, mut leaves: Leaves<D, O>) -> Option<Array<f64, D>>
where
    C: Comm + ?Sized,
    D: Dimension,
    O: Op,
{
    crate::collective::enter(comm, crate::collective::Call::Tree);
    let (rank, size) = (comm.rank(), comm.size());
    if size > 1 {
        comm.prepare_streams();
    }
    for s in 0..ceil_log2(size) {
        let step = 1usize << s;
        if rank % (2 * step) == step {
            send_leaves(comm, rank - step, &leaves);
            return None;
        }
        if rank % (2 * step) == 0 && rank + step < size {
            recv_leaves(comm, rank + step, &mut leaves);
        }
    }
    leaves.into_array()
}

/// [`tree`], with the result on every rank (a broadcast from rank 0 after the tree). Every rank
/// returns the same bits, or `None` on every rank if no rank held a leaf.
///
/// # Collective
/// Every rank must call it.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use spmdkit::comm::{inproc, Comm};
/// use spmdkit::reduce::{self, Leaves, Max};
/// let out = inproc::run(4, |comm| {
///     let pool = spmdkit::pool(1).unwrap();
///     let mut leaves = Leaves::with_op(&pool, Max);
///     leaves.insert(comm.rank(), array![comm.rank() as f64]);
///     reduce::all_tree(comm, leaves)
/// });
/// assert!(out.iter().all(|m| m == &Some(array![3.0])));
/// ```
#[track_caller]
pub fn all_tree<C, D, O>(comm: &C, leaves: Leaves<D, O>) -> Option<Array<f64, D>>
where
    C: Comm + ?Sized,
    D: Dimension,
    O: Op,
{
    crate::collective::enter(comm, crate::collective::Call::AllTree);
    let at_root = tree(comm, leaves);
    let shape: Option<Vec<usize>> = collective::broadcast(
        comm,
        0,
        (comm.rank() == 0)
            .then(|| at_root.as_ref().map(|a| a.shape().to_vec()))
            .as_ref(),
    );
    let shape = shape?;
    let mut result = match at_root {
        Some(a) => a,
        None => {
            let dim = D::from_dimension(&ndarray::IxDyn(&shape))
                .unwrap_or_else(|| comm.abort(1, "rank 0's result has another dimension"));
            Array::zeros(dim)
        }
    };
    let data = result
        .as_slice_mut()
        .expect("the result is in standard layout");
    comm.broadcast_f64_into(0, data);
    Some(result)
}

/// Every rank folds its own leaves and sends them to rank 0, which combines them in rank order
/// (P − 1 combines). Rank 0 returns the result (`None` if no rank held a leaf). Its bits depend on
/// the number of ranks and on who held which leaf.
///
/// # Collective
/// Every rank must call it.
///
/// # Examples
/// ```
/// use ndarray::array;
/// use spmdkit::comm::{inproc, Comm};
/// use spmdkit::reduce::{self, Leaves};
/// let out = inproc::run(4, |comm| {
///     let pool = spmdkit::pool(1).unwrap();
///     let mut leaves = Leaves::new(&pool);
///     leaves.insert(comm.rank(), array![1.0, comm.rank() as f64]);
///     reduce::linear(comm, leaves)
/// });
/// assert_eq!(out[0], Some(array![4.0, 6.0]));
/// ```
#[track_caller]
pub fn linear<C, D, O>(comm: &C, leaves: Leaves<D, O>) -> Option<Array<f64, D>>
where
    C: Comm + ?Sized,
    D: Dimension,
    O: Op,
{
    crate::collective::enter(comm, crate::collective::Call::Linear);
    let pool = leaves.pool;
    let local = leaves.fold();
    if comm.rank() != 0 {
        let shape = local.as_ref().map(|(s, _)| s.slice().to_vec());
        comm.send(0, tags::LINEAR, &collective::encode(&shape));
        if let Some((_, data)) = &local {
            comm.send_f64(0, tags::LINEAR, data);
        }
        return None;
    }
    let mut acc = local;
    let mut theirs: Vec<f64> = Vec::new();
    for src in 1..comm.size() {
        let shape: Option<Vec<usize>> =
            collective::decode_or_abort(comm, &comm.recv(src, tags::LINEAR), "a shape");
        let Some(shape) = shape else { continue };
        let len = shape.iter().product();
        theirs.resize(len, 0.0);
        comm.recv_f64_into(src, tags::LINEAR, &mut theirs);
        match &mut acc {
            Some((_, data)) => combine::<O>(pool, data, &theirs),
            None => {
                let dim = D::from_dimension(&ndarray::IxDyn(&shape))
                    .unwrap_or_else(|| comm.abort(1, "arrays of another dimension"));
                acc = Some((dim, theirs.clone()));
            }
        }
    }
    let (shape, data) = acc?;
    Some(Array::from_shape_vec(shape, data).expect("the data has the shape's length"))
}

/// Every rank folds its own leaves (zeros if it has none); the MPI library's `MPI_Reduce` sums
/// them at rank 0, which returns the sum of arrays of `shape`. Its bits depend on the number of
/// ranks and on the library.
///
/// # Collective
/// Every rank must call it with the same `shape`.
///
/// # Examples
/// ```
/// use spmdkit::comm::{inproc, Comm};
/// use spmdkit::reduce::{self, Leaves};
/// let out = inproc::run(3, |comm| {
///     let pool = spmdkit::pool(1).unwrap();
///     reduce::native(comm, Leaves::new(&pool), ndarray::Ix1(2))
/// });
/// assert_eq!(out[0], Some(ndarray::array![0.0, 0.0])); // ranks without leaves contribute zeros
/// ```
#[track_caller]
pub fn native<C, D>(comm: &C, leaves: Leaves<D, Sum>, shape: D) -> Option<Array<f64, D>>
where
    C: Comm + ?Sized,
    D: Dimension,
{
    crate::collective::enter(comm, crate::collective::Call::Native);
    let mut local = leaves
        .into_array()
        .unwrap_or_else(|| Array::zeros(shape.clone()));
    if local.raw_dim() != shape {
        comm.abort(1, "native reduction: a rank's arrays have another shape");
    }
    comm.reduce_sum_f64_into(
        0,
        local
            .as_slice_mut()
            .expect("a folded array is in standard layout"),
    );
    (comm.rank() == 0).then_some(local)
}

/// Runs `strategy` for a sum of arrays of `shape`; rank 0 returns the result (zeros of `shape` if
/// no rank held a leaf) and the rounds used.
///
/// # Collective
/// Every rank must call it with the same strategy and shape.
#[track_caller]
pub fn reduce<C, D>(
    comm: &C,
    strategy: Strategy,
    leaves: Leaves<D, Sum>,
    shape: D,
) -> (Option<Array<f64, D>>, u32)
where
    C: Comm + ?Sized,
    D: Dimension,
{
    let rounds = strategy.rounds(comm.size());
    let zeros = || Array::zeros(shape.clone());
    let result = match strategy {
        Strategy::Tree => tree(comm, leaves).or_else(|| (comm.rank() == 0).then(zeros)),
        Strategy::Linear => linear(comm, leaves).or_else(|| (comm.rank() == 0).then(zeros)),
        Strategy::Native => native(comm, leaves, shape.clone()),
    };
    (result, rounds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::inproc;
    use ndarray::{Array2, Ix2};

    /// Values whose sums are sensitive to association: a single rank's order is the reference.
    fn leaf(k: usize, len: usize) -> Array1<f64> {
        (0..len)
            .map(|i| {
                let x = ((k * 7919 + i * 104_729) % 1000) as f64;
                (x - 500.0) * 10f64.powi(((k + i) % 23) as i32 - 11) / 3.0
            })
            .collect()
    }

    fn bits(v: &Array1<f64>) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn single_rank(count: usize, len: usize) -> Array1<f64> {
        let pool = crate::farm::pool(1).unwrap();
        let mut l = Leaves::new(&pool);
        for k in 0..count {
            l.insert(k, leaf(k, len));
        }
        l.into_array().unwrap()
    }

    /// A scattered ownership, as a dynamic schedule might leave it.
    fn owner(k: usize, size: usize) -> usize {
        (k * k + 3 * k) % size
    }

    #[test]
    fn the_tree_gives_single_rank_bits_for_any_size_and_ownership() {
        let len = 5;
        for count in [1, 2, 3, 7, 16, 33, 100] {
            let reference = bits(&single_rank(count, len));
            for size in 1..=64 {
                for scattered in [false, true] {
                    let out = inproc::run(size, |comm| {
                        let pool = crate::farm::pool(1).unwrap();
                        let mut mine = Leaves::new(&pool);
                        // Contiguous ranges, or a scattered ownership inserted in reverse.
                        let ks: Vec<usize> = if scattered {
                            (0..count)
                                .rev()
                                .filter(|&k| owner(k, size) == comm.rank())
                                .collect()
                        } else {
                            let (r, p) = (comm.rank(), comm.size());
                            (r * count / p..(r + 1) * count / p).collect()
                        };
                        for k in ks {
                            mine.insert(k, leaf(k, len));
                        }
                        tree(comm, mine)
                    });
                    assert_eq!(
                        bits(out[0].as_ref().unwrap()),
                        reference,
                        "count {count}, P = {size}, scattered {scattered}"
                    );
                    assert!(out[1..].iter().all(Option::is_none));
                }
            }
        }
    }

    #[test]
    fn the_tree_order_differs_from_a_naive_running_sum() {
        // Otherwise the test above could not tell orders apart.
        let (count, len) = (33, 5);
        let mut running = leaf(0, len);
        for k in 1..count {
            running += &leaf(k, len);
        }
        assert_ne!(bits(&running), bits(&single_rank(count, len)));
    }

    #[test]
    fn all_tree_leaves_the_same_bits_on_every_rank() {
        let reference = bits(&single_rank(20, 3));
        for size in [1, 2, 3, 5, 8] {
            let out = inproc::run(size, |comm| {
                let pool = crate::farm::pool(2).unwrap();
                let mut mine = Leaves::new(&pool);
                for k in (0..20).filter(|&k| owner(k, size) == comm.rank()) {
                    mine.insert_slice(k, leaf(k, 3).as_slice().unwrap());
                }
                all_tree(comm, mine)
            });
            for o in &out {
                assert_eq!(bits(o.as_ref().unwrap()), reference, "P = {size}");
            }
        }
        let none = inproc::run(3, |comm| {
            let pool = crate::farm::pool(1).unwrap();
            all_tree(comm, Leaves::<Ix1>::new(&pool))
        });
        assert!(none.iter().all(Option::is_none));
    }

    #[test]
    fn two_dimensional_arrays_keep_their_shape_and_large_ones_combine_on_the_pool() {
        let n = 300; // 90 000 values: above the inline limit
        let out = inproc::run(3, |comm| {
            let pool = crate::farm::pool(2).unwrap();
            let mut mine = Leaves::new(&pool);
            for k in (0..5).filter(|k| k % 3 == comm.rank()) {
                mine.insert(k, Array2::from_elem((n, n), k as f64));
            }
            tree(comm, mine)
        });
        let s = out[0].as_ref().unwrap();
        assert_eq!(s.raw_dim(), Ix2(n, n));
        assert!(s.iter().all(|&x| x == 10.0));
    }

    #[test]
    fn max_and_min_are_operations_too() {
        let out = inproc::run(3, |comm| {
            let pool = crate::farm::pool(1).unwrap();
            let mut hi = Leaves::with_op(&pool, Max);
            let mut lo = Leaves::with_op(&pool, Min);
            for k in (0..7).filter(|k| k % 3 == comm.rank()) {
                hi.insert(k, ndarray::array![k as f64, -(k as f64)]);
                lo.insert(k, ndarray::array![k as f64, -(k as f64)]);
            }
            (tree(comm, hi), tree(comm, lo))
        });
        assert_eq!(out[0].0, Some(ndarray::array![6.0, 0.0]));
        assert_eq!(out[0].1, Some(ndarray::array![0.0, -6.0]));
    }

    /// max(0.0, -0.0) and max(-0.0, 0.0) may differ in the sign bit: siblings are always combined
    /// as left ⊕ right, whichever arrived first, on one rank or coming from another.
    #[test]
    fn signed_zeros_under_max_and_min_do_not_depend_on_arrival_order() {
        fn leaf(k: usize) -> Array1<f64> {
            let z = if k.is_multiple_of(2) { 0.0 } else { -0.0 };
            let w = if k.is_multiple_of(3) { -0.0 } else { 0.0 };
            Array1::from(vec![z, -z, w, -w])
        }
        fn each<O: Op>(op: O, count: usize) {
            let pool = crate::farm::pool(1).unwrap();
            let in_order = |order: &mut dyn Iterator<Item = usize>| {
                let mut l = Leaves::with_op(&pool, op);
                for k in order {
                    l.insert(k, leaf(k));
                }
                bits(&l.into_array().unwrap())
            };
            let reference = in_order(&mut (0..count));
            assert_eq!(in_order(&mut (0..count).rev()), reference, "{}", O::NAME);
            for size in 1..=5 {
                let out = inproc::run(size, |comm| {
                    let pool = crate::farm::pool(1).unwrap();
                    let mut l = Leaves::with_op(&pool, op);
                    for k in (0..count).rev().filter(|&k| owner(k, size) == comm.rank()) {
                        l.insert(k, leaf(k));
                    }
                    tree(comm, l)
                });
                let got = bits(out[0].as_ref().unwrap());
                assert_eq!(got, reference, "{} on {size} ranks", O::NAME);
            }
        }
        each(Max, 16);
        each(Min, 16);
    }

    #[test]
    fn a_transposed_view_is_taken_in_its_logical_order() {
        let pool = crate::farm::pool(1).unwrap();
        let mut l = Leaves::new(&pool);
        let a = ndarray::array![[1.0, 2.0], [3.0, 4.0]];
        l.insert(0, a.t().to_owned());
        l.insert(1, a.clone().reversed_axes());
        assert_eq!(
            l.into_array().unwrap(),
            ndarray::array![[2.0, 6.0], [4.0, 8.0]]
        );
    }

    #[test]
    #[should_panic(expected = "inserted twice")]
    fn a_leaf_inserted_twice_is_refused() {
        let pool = crate::farm::pool(1).unwrap();
        let mut l = Leaves::new(&pool);
        l.insert(0, ndarray::array![1.0]);
        l.insert(1, ndarray::array![1.0]);
        l.insert(1, ndarray::array![1.0]);
    }

    #[test]
    fn siblings_only_combine_when_aligned() {
        let pool = crate::farm::pool(1).unwrap();
        let mut l = Leaves::new(&pool);
        l.insert(1, ndarray::array![1.0]);
        l.insert(2, ndarray::array![2.0]);
        // [1,2) and [2,3) are neighbours but not siblings.
        assert_eq!(l.shape_of_nodes(), vec![(0, 1), (0, 2)]);
        l.insert(3, ndarray::array![3.0]);
        assert_eq!(l.shape_of_nodes(), vec![(0, 1), (1, 2)]);
        assert_eq!(l.count(), 3);
    }

    #[test]
    fn linear_and_native_agree_with_the_tree_within_rounding() {
        let (count, len) = (13, 4);
        let reference = single_rank(count, len);
        for size in [1, 2, 3, 5, 8] {
            for strategy in [Strategy::Linear, Strategy::Native, Strategy::Tree] {
                let out = inproc::run(size, |comm| {
                    let pool = crate::farm::pool(1).unwrap();
                    let mut mine = Leaves::new(&pool);
                    for k in (0..count).filter(|&k| owner(k, size) == comm.rank()) {
                        mine.insert(k, leaf(k, len));
                    }
                    reduce(comm, strategy, mine, Ix1(len))
                });
                let (got, rounds) = &out[0];
                assert_eq!(*rounds, strategy.rounds(size));
                for (x, y) in got.as_ref().unwrap().iter().zip(&reference) {
                    assert!(
                        (x - y).abs() <= 1e-9 * (1.0 + y.abs()),
                        "{strategy} P={size}"
                    );
                }
            }
        }
    }

    #[test]
    fn rounds_and_names() {
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
        assert_eq!(Strategy::Linear.rounds(5), 1);
        assert_eq!("native".parse::<Strategy>().unwrap(), Strategy::Native);
        assert!("fast".parse::<Strategy>().is_err());
    }
}
