//! Task assignment policies: which worker runs which task.
//!
//! A *worker* is one thread of one rank, a *lane* is a worker's index inside its rank
//! (`0..threads`), and W, the number of workers, is the sum of every rank's threads. Rank 0 plans
//! for all W workers at once, so that a rank with more tasks than threads is never the unintended
//! result of balancing per rank: with the classic 16 tasks on 2 ranks × 8 threads every worker
//! gets exactly one task and the makespan is the longest task.
//!
//! Two orders of the workers are used:
//! * rank-major, `(0,0), (0,1), …, (1,0), …`: `block` gives each worker a contiguous range of task
//!   ids, so each rank gets a contiguous range too;
//! * interleaved, `(0,0), (1,0), …, (P−1,0), (0,1), …`: `cyclic` deals task ids round-robin over
//!   ranks first, and `lpt` breaks ties between equally loaded workers in this order, spreading
//!   long tasks over ranks before doubling up inside one.
//!
//! A lane runs its tasks in the order listed: ascending id for `block` and `cyclic`, longest first
//! for `lpt`. Planning is deterministic: the same input always gives the same plan.
//!
//! `dynamic` is the other way to assign tasks: self-scheduling, where ranks ask rank 0 for
//! chunks of tasks as they run out, without using the costs (see the engine in [`crate::farm`]).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

/// How tasks are assigned to workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// Longest processing time first: each task, longest first, goes to the least-loaded worker.
    /// Makespan at most 4/3 of the optimum.
    Lpt,
    /// Contiguous ranges of task ids, as equal in count as possible.
    Block,
    /// Task `i` to the `i mod W`-th worker, dealing over ranks first.
    Cyclic,
    /// Self-scheduling: idle ranks ask rank 0 for chunks of tasks in id order (guided chunk
    /// sizes). Durations are not used to plan.
    Dynamic,
}

impl Policy {
    /// Every policy, with its name on the command line.
    pub const ALL: [(Policy, &'static str); 4] = [
        (Policy::Lpt, "lpt"),
        (Policy::Block, "block"),
        (Policy::Cyclic, "cyclic"),
        (Policy::Dynamic, "dynamic"),
    ];

    /// Whether the plan is made before any task runs (every policy but `dynamic`).
    pub fn is_static(self) -> bool {
        self != Policy::Dynamic
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        crate::names::name_of(&Self::ALL, self)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The name given is not a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown schedule '{0}' (expected one of: {names})", names = crate::names::listed(&Policy::ALL))]
pub struct UnknownPolicy(pub String);

impl FromStr for Policy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        crate::names::by_name(&Self::ALL, s).ok_or_else(|| UnknownPolicy(s.to_string()))
    }
}

/// One task placed on a lane of a rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Assigned {
    /// The task's index in the input list.
    pub id: usize,
    /// The lane (thread index) of the rank that runs it.
    pub lane: usize,
}

/// Assigns every task to one worker. `lanes[r]` is the number of threads of rank `r`.
/// Returns, for each rank, its tasks in the order each lane should run them.
///
/// # Panics
/// If `lanes` is empty or any rank has zero lanes, or for [`Policy::Dynamic`], which has no
/// plan made in advance.
pub(crate) fn assign(durations: &[f64], policy: Policy, lanes: &[usize]) -> Vec<Vec<Assigned>> {
    assert!(!lanes.is_empty(), "at least one rank");
    assert!(lanes.iter().all(|&l| l > 0), "every rank has a lane");
    let mut plan: Vec<Vec<Assigned>> = vec![Vec::new(); lanes.len()];
    let mut put = |(rank, lane): (usize, usize), id: usize| plan[rank].push(Assigned { id, lane });
    let n = durations.len();
    match policy {
        Policy::Dynamic => panic!("the dynamic schedule is not planned in advance"),
        Policy::Block => {
            let workers = rank_major(lanes);
            let w = workers.len();
            for (k, &worker) in workers.iter().enumerate() {
                for id in k * n / w..(k + 1) * n / w {
                    put(worker, id);
                }
            }
        }
        Policy::Cyclic => {
            let workers = interleaved(lanes);
            for id in 0..n {
                put(workers[id % workers.len()], id);
            }
        }
        Policy::Lpt => {
            let workers = interleaved(lanes);
            let mut order: Vec<usize> = (0..n).collect();
            // Longest first; equal durations by id, so the plan is deterministic.
            order.sort_by(|&a, &b| durations[b].total_cmp(&durations[a]).then(a.cmp(&b)));
            let mut heap: BinaryHeap<Reverse<(Load, usize)>> = (0..workers.len())
                .map(|k| Reverse((Load(0.0), k)))
                .collect();
            for id in order {
                let Reverse((Load(load), k)) = heap.pop().expect("at least one worker");
                put(workers[k], id);
                heap.push(Reverse((Load(load + durations[id]), k)));
            }
        }
    }
    plan
}

/// The lower bound of any schedule's makespan on `workers` workers:
/// max(longest task, total / workers).
pub fn ideal_makespan(durations: &[f64], workers: usize) -> f64 {
    let longest = durations.iter().copied().fold(0.0, f64::max);
    let total: f64 = durations.iter().sum();
    longest.max(total / workers.max(1) as f64)
}

/// The makespan the plan would have if every task took exactly its duration.
#[cfg(test)]
pub(crate) fn planned_makespan(durations: &[f64], plan: &[Vec<Assigned>]) -> f64 {
    plan.iter()
        .flat_map(|rank| {
            let lanes = rank.iter().map(|a| a.lane + 1).max().unwrap_or(0);
            let mut load = vec![0.0; lanes];
            for a in rank {
                load[a.lane] += durations[a.id];
            }
            load
        })
        .fold(0.0, f64::max)
}

fn rank_major(lanes: &[usize]) -> Vec<(usize, usize)> {
    lanes
        .iter()
        .enumerate()
        .flat_map(|(r, &l)| (0..l).map(move |lane| (r, lane)))
        .collect()
}

fn interleaved(lanes: &[usize]) -> Vec<(usize, usize)> {
    let max = lanes.iter().copied().max().unwrap_or(0);
    (0..max)
        .flat_map(|lane| {
            lanes
                .iter()
                .enumerate()
                .filter(move |(_, &l)| lane < l)
                .map(move |(r, _)| (r, lane))
        })
        .collect()
}

/// A load, ordered totally (durations are validated finite before planning).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Load(f64);
impl Eq for Load {}
impl PartialOrd for Load {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Load {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_gives_each_rank_a_run_of_ids() {
        let plan = assign(&[0.3, 0.1, 0.2, 0.4], Policy::Block, &[1, 1]);
        let ids: Vec<Vec<usize>> = plan
            .iter()
            .map(|r| r.iter().map(|a| a.id).collect())
            .collect();
        assert_eq!(ids, vec![vec![0, 1], vec![2, 3]]);
    }

    const CLASSIC: [f64; 16] = [
        0.1, 0.2, 0.1, 0.5, 0.7, 0.9, 0.5, 0.4, 1.5, 1.3, 1.0, 0.3, 0.7, 0.6, 0.3, 0.8,
    ];

    fn pseudo_random(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    fn check_complete(n: usize, lanes: &[usize], plan: &[Vec<Assigned>]) {
        let mut seen = vec![0; n];
        for (r, tasks) in plan.iter().enumerate() {
            for a in tasks {
                assert!(
                    a.lane < lanes[r],
                    "lane {} out of range on rank {r}",
                    a.lane
                );
                seen[a.id] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "every task exactly once");
    }

    #[test]
    fn every_policy_assigns_every_task_once() {
        for (policy, _) in Policy::ALL.into_iter().filter(|(p, _)| p.is_static()) {
            for n in [0, 1, 5, 16, 100] {
                for lanes in [vec![1], vec![2, 2], vec![3, 1, 2], vec![8; 7], vec![1; 64]] {
                    let d = pseudo_random(n, n as u64 + 1);
                    check_complete(n, &lanes, &assign(&d, policy, &lanes));
                }
            }
        }
    }

    #[test]
    fn lpt_gives_the_classic_ideal_on_sixteen_workers() {
        for lanes in [vec![8, 8], vec![4; 4], vec![16], vec![1; 16]] {
            let plan = assign(&CLASSIC, Policy::Lpt, &lanes);
            assert_eq!(planned_makespan(&CLASSIC, &plan), 1.5);
            assert_eq!(ideal_makespan(&CLASSIC, 16), 1.5);
        }
    }

    #[test]
    fn lpt_stays_within_the_list_scheduling_bound() {
        for seed in 1..50 {
            let d = pseudo_random(37, seed);
            let lanes = [1 + (seed as usize % 3), 2, 1];
            let w: usize = lanes.iter().sum();
            let plan = assign(&d, Policy::Lpt, &lanes);
            let total: f64 = d.iter().sum();
            let longest = d.iter().copied().fold(0.0, f64::max);
            assert!(planned_makespan(&d, &plan) <= total / w as f64 + longest + 1e-12);
            assert!(planned_makespan(&d, &plan) >= ideal_makespan(&d, w) - 1e-12);
        }
    }

    #[test]
    fn block_gives_each_rank_a_contiguous_range() {
        let d = vec![1.0; 10];
        let plan = assign(&d, Policy::Block, &[2, 1, 2]);
        let ids: Vec<Vec<usize>> = plan
            .iter()
            .map(|r| r.iter().map(|a| a.id).collect())
            .collect();
        assert_eq!(ids, vec![vec![0, 1, 2, 3], vec![4, 5], vec![6, 7, 8, 9]]);
    }

    #[test]
    fn cyclic_deals_over_ranks_first() {
        let d = vec![1.0; 6];
        let plan = assign(&d, Policy::Cyclic, &[2, 2]);
        let got: Vec<Vec<(usize, usize)>> = plan
            .iter()
            .map(|r| r.iter().map(|a| (a.id, a.lane)).collect())
            .collect();
        assert_eq!(
            got,
            vec![vec![(0, 0), (2, 1), (4, 0)], vec![(1, 0), (3, 1), (5, 0)]]
        );
    }

    #[test]
    fn more_ranks_than_tasks_leaves_ranks_idle() {
        let plan = assign(&[0.5, 0.2], Policy::Lpt, &[1; 5]);
        assert_eq!(plan.iter().filter(|r| !r.is_empty()).count(), 2);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for (p, name) in Policy::ALL {
            assert_eq!(name.parse::<Policy>().unwrap(), p);
            assert_eq!(p.to_string(), name);
        }
        let e = "fastest".parse::<Policy>().unwrap_err();
        assert!(e.to_string().contains("'fastest'"));
    }
}
