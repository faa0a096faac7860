//! Which cores each rank runs on: placement that follows the threads.
//!
//! Launchers bind ranks without knowing how many threads each will start. Open MPI's `mpirun`
//! binds each of up to 2 ranks to one core (and more ranks to a socket), so a rank that runs 2
//! threads gets 1 core and its threads take turns; with `--bind-to none` two ranks of 2 threads
//! each share 2 cores. [`place`] looks at every rank of the job (its host, its CPU affinity, the
//! cores the job may use on that host from its cgroup cpuset, the threads it will run) and gives
//! each rank of a host a block of cores of its own, in rank order, when the host has that many:
//!
//! * under Open MPI's default binding the rank's affinity is set to its block (widened from one
//!   core, or narrowed from a socket shared with other ranks);
//! * a binding the user chose (`--bind-to`, `--map-by ...:PE=N`, `--cpu-set`, a rankfile: Open
//!   MPI passes them on as `OMPI_MCA_*` variables), Slurm's own (`srun`, whose task/affinity
//!   plugin binds `--cpus-per-task` cores when the site enables it), and MPICH's are kept, as is
//!   any affinity of a process started by hand (`taskset`, `numactl`);
//! * when the ranks' threads do not fit the host's cores, the binding is kept too;
//!
//! and whenever a rank ends up with fewer cores than threads, rank 0 says so once, with the
//! numbers. A rank whose thread count is not given (`--threads`, `RAYON_NUM_THREADS`,
//! `SLURM_CPUS_PER_TASK`) runs one thread per core of its share: the host's cores divided by its
//! ranks (or its own cores when started by hand).
//!
//! The decision alone (`plan`) is, a pure function of what the ranks saw, tested without MPI.

use crate::collective;
use crate::comm::{self, Comm};
use serde::{Deserialize, Serialize};

/// A set of CPUs (logical processors), ascending, as the kernel numbers them.
pub(crate) type Cpus = Vec<usize>;

/// Who decided this process's CPU affinity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Binder {
    /// Started by hand: the affinity is the user's (`taskset`, `numactl`, a batch shell's).
    Alone,
    /// Open MPI's `mpirun` with its default binding policy.
    OpenMpiDefault,
    /// A binding the user or the site chose, in words (`--bind-to core`, `srun`, ...).
    Chosen(String),
}

impl Binder {
    /// The binder of this process, from its launcher's variables (`var` stands in for
    /// `std::env::var`); `launched` is whether it runs under a launcher at all.
    pub(crate) fn from_env(var: impl Fn(&str) -> Option<String>, launched: bool) -> Binder {
        if !launched {
            return Binder::Alone;
        }
        if var("OMPI_COMM_WORLD_SIZE").is_none() {
            // srun binds when the site's task/affinity plugin does (it knows the allocation);
            // MPICH's Hydra only with -bind-to. Either way not spmdkit's to change.
            let who = if var("SLURM_STEP_ID").is_some() {
                "Slurm srun"
            } else {
                "the launcher"
            };
            return Binder::Chosen(format!("{who} (spmdkit changes only Open MPI's default)"));
        }
        let given = [
            ("OMPI_MCA_hwloc_base_binding_policy", "--bind-to"),
            ("OMPI_MCA_hwloc_base_cpu_set", "--cpu-set"),
            ("OMPI_MCA_hwloc_base_cpu_list", "--cpu-list"),
            ("OMPI_MCA_rmaps_rank_file_path", "a rankfile"),
            ("OMPI_MCA_rmaps_base_cpus_per_rank", "--cpus-per-rank"),
        ];
        for (variable, option) in given {
            if let Some(v) = var(variable).filter(|v| !v.trim().is_empty()) {
                return Binder::Chosen(format!("{option} {}", v.trim()));
            }
        }
        match var("OMPI_MCA_rmaps_base_mapping_policy") {
            Some(m) if m.to_ascii_uppercase().contains("PE=") => {
                Binder::Chosen(format!("--map-by {}", m.trim()))
            }
            _ => Binder::OpenMpiDefault,
        }
    }
}

/// What one rank saw of itself, the input of [`plan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Seen {
    /// Its host name.
    pub host: String,
    /// Its CPU affinity.
    pub affinity: Cpus,
    /// The CPUs the job may use on its host (the cgroup's cpuset, else the online CPUs).
    pub allowed: Cpus,
    /// `allowed` in the order blocks are cut from: one hardware thread of every core first.
    pub order: Cpus,
    /// Who set the affinity.
    pub binder: Binder,
    /// The threads it was asked for (`--threads`, `RAYON_NUM_THREADS`, `SLURM_CPUS_PER_TASK`),
    /// `None` for the default.
    pub requested: Option<usize>,
}

/// What [`plan`] decided for one rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Assignment {
    /// The threads it runs (the requested ones, else one per core of its share).
    pub threads: usize,
    /// The cores it runs on.
    pub cores: Cpus,
    /// Whether `cores` differs from its affinity (spmdkit sets it).
    pub changed: bool,
    /// How it came about, in words (`info` shows it).
    pub how: String,
}

/// The decision for every rank, and rank 0's note (at most one) when some rank has fewer cores
/// than threads.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Plan {
    /// One per rank, in rank order.
    pub ranks: Vec<Assignment>,
    /// What rank 0 prints, if anything.
    pub note: Option<String>,
}

/// Decides every rank's threads and cores from what the ranks saw (in rank order).
///
/// Ranks are grouped by host; the ranks of a host, in rank order, get consecutive blocks of its
/// allowed cores (cut in `order`), each as large as its threads, when they all fit and every
/// rank of the host runs under Open MPI's default binding. Otherwise every affinity is kept.
pub(crate) fn plan(seen: &[Seen]) -> Plan {
    let mut ranks: Vec<Option<Assignment>> = vec![None; seen.len()];
    let mut short: Vec<String> = Vec::new();
    let mut hosts: Vec<&str> = Vec::new();
    for s in seen {
        if !hosts.contains(&s.host.as_str()) {
            hosts.push(&s.host);
        }
    }
    for host in hosts {
        let members: Vec<usize> = (0..seen.len()).filter(|&r| seen[r].host == host).collect();
        let first = &seen[members[0]];
        let cores = first.allowed.len().max(1);
        let share = (cores / members.len()).max(1);
        let threads: Vec<usize> = members
            .iter()
            .map(|&r| {
                let s = &seen[r];
                s.requested.unwrap_or(match s.binder {
                    Binder::Alone => s.affinity.len().max(1),
                    Binder::OpenMpiDefault => share,
                    Binder::Chosen(_) => s.affinity.len().clamp(1, share),
                })
            })
            .collect();
        let need: usize = threads.iter().sum();
        let all_default = members
            .iter()
            .all(|&r| seen[r].binder == Binder::OpenMpiDefault);
        if all_default && need <= first.order.len() {
            let mut at = 0;
            for (&r, &t) in members.iter().zip(&threads) {
                let mut block: Cpus = first.order[at..at + t].to_vec();
                block.sort_unstable();
                at += t;
                let changed = block != seen[r].affinity;
                let how = if !changed {
                    "the launcher's binding: its own cores".to_string()
                } else if block.len() > seen[r].affinity.len() {
                    format!(
                        "widened from the launcher's {} core(s) to {t} of its own",
                        seen[r].affinity.len()
                    )
                } else {
                    format!(
                        "narrowed from {} shared core(s) to {t} of its own",
                        seen[r].affinity.len()
                    )
                };
                ranks[r] = Some(Assignment {
                    threads: t,
                    cores: block,
                    changed,
                    how,
                });
            }
            continue;
        }
        let why = match (&first.binder, all_default) {
            (_, true) => format!(
                "kept: {} rank(s) x threads = {need} > the {} core(s) the job may use on {host}",
                members.len(),
                first.order.len()
            ),
            (Binder::Alone, _) => "kept: started by hand (its affinity is the user's)".into(),
            (Binder::Chosen(who), _) => format!("kept: chosen by {who}"),
            (Binder::OpenMpiDefault, false) => "kept: the ranks of the host differ".into(),
        };
        for (&r, &t) in members.iter().zip(&threads) {
            let s = &seen[r];
            if t > s.affinity.len() && short.len() < 3 {
                short.push(format!(
                    "rank {r} on {host} runs {t} threads on {} core(s) ({why})",
                    s.affinity.len()
                ));
            }
            ranks[r] = Some(Assignment {
                threads: t,
                cores: s.affinity.clone(),
                changed: false,
                how: why.clone(),
            });
        }
    }
    let note = (!short.is_empty()).then(|| {
        format!(
            "note: threads will take turns on cores: {}; give fewer threads, or ranks x threads \
             within each host's cores (under Open MPI --map-by slot:PE=N, under Slurm \
             --cpus-per-task=N)",
            short.join("; ")
        )
    });
    Plan {
        ranks: ranks
            .into_iter()
            .map(|a| a.expect("every rank has a host"))
            .collect(),
        note,
    }
}

/// Where [`place`] left this rank.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// Its threads (requested, else one per core of its share).
    pub threads: usize,
    /// Its cores.
    pub cores: Cpus,
    /// How it came about.
    pub how: String,
    /// Rank 0: the note for the user, if some rank has fewer cores than threads.
    pub note: Option<String>,
}

/// Places every rank of the job (see the module's documentation): gathers what each rank sees,
/// decides on rank 0, sets each rank's affinity where the plan changes it (every
/// thread of the process, MPI's own included), and makes its default thread count the plan's.
/// `requested` is the thread count the rank was asked for, `None` for the default.
///
/// On the in-process backend the ranks share one process: the plan is computed, nothing is set.
///
/// # Collective
/// Every rank must call it, before it starts its worker threads.
pub fn place<C: Comm + ?Sized>(comm: &C, requested: Option<usize>) -> Placement {
    let launched = comm.backend() == crate::comm::Backend::Mpi;
    let affinity = affinity();
    let allowed = allowed_cpus(&affinity);
    let seen = Seen {
        host: comm::host_name(),
        order: topology_order(&allowed),
        allowed,
        affinity,
        binder: Binder::from_env(|k| std::env::var(k).ok(), launched),
        requested,
    };
    let all = collective::gather(comm, 0, &seen);
    let plan = all.as_deref().map(plan);
    let assignments = plan.as_ref().map(|p| p.ranks.clone());
    let mine: Assignment = collective::scatter(comm, 0, assignments);
    let mut how = mine.how.clone();
    if mine.changed && launched {
        if let Err(e) = set_affinity(&mine.cores) {
            how = format!("kept: setting the affinity failed ({e})");
        }
    }
    if launched {
        comm::set_placed_threads(mine.threads);
    }
    Placement {
        threads: mine.threads,
        cores: if launched {
            self::affinity()
        } else {
            mine.cores
        },
        how,
        note: plan.and_then(|p| p.note),
    }
}

/// This thread's CPU affinity (ascending); every CPU when it cannot be read.
pub fn affinity() -> Cpus {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; sched_getaffinity writes at most
    // size_of::<cpu_set_t>() bytes into it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return online_cpus();
        }
        (0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect()
    }
}

/// Sets the affinity of every thread of this process to `cpus`.
fn set_affinity(cpus: &[usize]) -> std::io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET only writes inside it.
    let set = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus.iter().filter(|&&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(c, &mut set);
        }
        set
    };
    let mut tids: Vec<libc::pid_t> = std::fs::read_dir("/proc/self/task")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    if tids.is_empty() {
        tids.push(0);
    }
    for tid in tids {
        // SAFETY: set is a valid cpu_set_t of the size passed; a thread that ended meanwhile
        // gives ESRCH, which is ignored.
        let rc =
            unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// Parses the kernel's CPU list format (`0-3,8,10-11`).
pub fn parse_cpu_list(text: &str) -> Option<Cpus> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.trim().is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let c: usize = part.trim().parse().ok()?;
                (c, c)
            }
        };
        if b < a || b - a > 65_536 {
            return None;
        }
        cpus.extend(a..=b);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Formats CPUs in the kernel's list format (`0-3,8`).
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        parts.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    parts.join(",")
}

fn online_cpus() -> Cpus {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .ok()
        .and_then(|t| parse_cpu_list(&t))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| (0..comm::cores_here()).collect())
}

/// The CPUs the job may use on this host: its cgroup's cpuset (v2, else v1), else the online
/// CPUs; never less than the current `affinity`.
fn allowed_cpus(affinity: &[usize]) -> Cpus {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut candidates = Vec::new();
    for line in cgroups.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (fields.next(), fields.next(), fields.next());
        let (Some(controllers), Some(path)) = (controllers, path) else {
            continue;
        };
        if controllers.is_empty() {
            candidates.push(format!("/sys/fs/cgroup{path}/cpuset.cpus.effective"));
        } else if controllers.split(',').any(|c| c == "cpuset") {
            candidates.push(format!("/sys/fs/cgroup/cpuset{path}/cpuset.effective_cpus"));
            candidates.push(format!("/sys/fs/cgroup/cpuset{path}/cpuset.cpus"));
        }
    }
    let online = online_cpus();
    let from_cgroup = candidates
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| parse_cpu_list(&t))
        .find(|c| !c.is_empty());
    let mut cpus: Cpus = from_cgroup
        .unwrap_or_else(|| online.clone())
        .into_iter()
        .filter(|c| online.contains(c))
        .collect();
    for c in affinity {
        if !cpus.contains(c) {
            cpus.push(*c);
        }
    }
    cpus.sort_unstable();
    cpus
}

/// `cpus` in the order blocks are cut from: the first hardware thread of every core (by
/// package and core), then the second of each, and so on, so that a block gets whole cores
/// before it gets a core's siblings.
fn topology_order(cpus: &[usize]) -> Cpus {
    let read = |cpu: usize, what: &str| -> Option<usize> {
        std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu{cpu}/topology/{what}"))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let mut seen_cores: std::collections::HashMap<(usize, usize), usize> = Default::default();
    let mut keyed: Vec<(usize, usize, usize, usize)> = cpus
        .iter()
        .map(|&c| {
            let core = (
                read(c, "physical_package_id").unwrap_or(0),
                read(c, "core_id").unwrap_or(c),
            );
            let sibling = seen_cores.entry(core).or_insert(0);
            let index = *sibling;
            *sibling += 1;
            (index, core.0, core.1, c)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|k| k.3).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(host: &str, affinity: &[usize], allowed: usize, binder: Binder) -> Seen {
        Seen {
            host: host.into(),
            affinity: affinity.to_vec(),
            allowed: (0..allowed).collect(),
            order: (0..allowed).collect(),
            binder,
            requested: None,
        }
    }

    fn threads(mut s: Seen, t: usize) -> Seen {
        s.requested = Some(t);
        s
    }

    fn cores(p: &Plan) -> Vec<Cpus> {
        p.ranks.iter().map(|a| a.cores.clone()).collect()
    }

    #[test]
    fn the_default_binding_is_widened_to_a_block_of_its_own() {
        // mpirun -np 1 --threads 2 on 2 cores: bound to core 0, widened to 0-1.
        let p = plan(&[threads(rank("a", &[0], 2, Binder::OpenMpiDefault), 2)]);
        assert_eq!(cores(&p), vec![vec![0, 1]]);
        assert!(p.ranks[0].changed && p.ranks[0].how.starts_with("widened"));
        assert_eq!(p.note, None);
        // mpirun -np 1, no --threads: the whole host is its share.
        let p = plan(&[rank("a", &[0], 2, Binder::OpenMpiDefault)]);
        assert_eq!((p.ranks[0].threads, cores(&p)), (2, vec![vec![0, 1]]));
        // 2 ranks on 8 cores, 4 threads each: disjoint blocks in rank order.
        let p = plan(&[
            threads(rank("a", &[0], 8, Binder::OpenMpiDefault), 4),
            threads(rank("a", &[1], 8, Binder::OpenMpiDefault), 4),
        ]);
        assert_eq!(cores(&p), vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
    }

    #[test]
    fn a_socket_shared_by_ranks_is_cut_into_blocks_and_defaults_follow_the_share() {
        // mpirun -np 4 on 8 cores binds each rank to the socket 0-7: 2 cores each.
        let seen: Vec<Seen> = (0..4)
            .map(|_| rank("a", &(0..8).collect::<Vec<_>>(), 8, Binder::OpenMpiDefault))
            .collect();
        let p = plan(&seen);
        assert_eq!(
            cores(&p),
            vec![vec![0, 1], vec![2, 3], vec![4, 5], vec![6, 7]]
        );
        assert!(p
            .ranks
            .iter()
            .all(|a| a.threads == 2 && a.how.starts_with("narrowed")));
        // The binding already right: nothing changes.
        let p = plan(&[
            rank("a", &[0], 2, Binder::OpenMpiDefault),
            rank("a", &[1], 2, Binder::OpenMpiDefault),
        ]);
        assert_eq!(cores(&p), vec![vec![0], vec![1]]);
        assert!(p.ranks.iter().all(|a| !a.changed && a.threads == 1));
    }

    #[test]
    fn ranks_on_other_hosts_are_placed_on_their_own_host() {
        let p = plan(&[
            threads(rank("a", &[0], 4, Binder::OpenMpiDefault), 2),
            threads(rank("b", &[0], 4, Binder::OpenMpiDefault), 2),
            threads(rank("a", &[1], 4, Binder::OpenMpiDefault), 2),
            threads(rank("b", &[1], 4, Binder::OpenMpiDefault), 2),
        ]);
        assert_eq!(
            cores(&p),
            vec![vec![0, 1], vec![0, 1], vec![2, 3], vec![2, 3]]
        );
    }

    #[test]
    fn blocks_take_whole_cores_before_siblings() {
        // 2 cores with 2 hardware threads each: CPUs 0,1 on core 0, CPUs 2,3 on core 1 would be
        // numbered that way by some kernels; the order puts one thread of each core first.
        let mut s = threads(rank("a", &[0], 4, Binder::OpenMpiDefault), 2);
        s.order = vec![0, 2, 1, 3];
        let p = plan(&[s]);
        assert_eq!(cores(&p), vec![vec![0, 2]]);
    }

    #[test]
    fn no_room_keeps_the_binding_and_says_so_once_with_the_numbers() {
        // mpirun -np 3 on 2 cores (bound to the socket), 1 thread each: 3 > 2.
        let seen: Vec<Seen> = (0..3)
            .map(|_| rank("a", &[0, 1], 2, Binder::OpenMpiDefault))
            .collect();
        let p = plan(&seen);
        assert_eq!(cores(&p), vec![vec![0, 1]; 3]);
        assert!(p.ranks.iter().all(|a| !a.changed && a.threads == 1));
        assert!(
            p.ranks[0].how.contains("3 > the 2 core(s)"),
            "{:?}",
            p.ranks[0]
        );
        assert_eq!(
            p.note, None,
            "1 thread on 2 cores each: nothing takes turns"
        );
        // 2 ranks x 2 threads on 2 cores, bound to one core each: kept, and said.
        let p = plan(&[
            threads(rank("a", &[0], 2, Binder::OpenMpiDefault), 2),
            threads(rank("a", &[1], 2, Binder::OpenMpiDefault), 2),
        ]);
        assert_eq!(cores(&p), vec![vec![0], vec![1]]);
        let note = p.note.expect("a note");
        assert!(
            note.contains("rank 0 on a runs 2 threads on 1 core(s)")
                && note.contains("4 > the 2 core(s)"),
            "{note}"
        );
    }

    #[test]
    fn a_binding_the_user_chose_is_never_changed() {
        let chosen = Binder::Chosen("--bind-to core".into());
        let p = plan(&[threads(rank("a", &[0], 2, chosen.clone()), 2)]);
        assert_eq!(cores(&p), vec![vec![0]]);
        assert!(!p.ranks[0].changed);
        assert!(p.note.expect("a note").contains("chosen by --bind-to core"));
        // --bind-to none, 2 ranks, no --threads: each keeps both cores, runs its share (1).
        let none = Binder::Chosen("--bind-to none".into());
        let p = plan(&[
            rank("a", &[0, 1], 2, none.clone()),
            rank("a", &[0, 1], 2, none),
        ]);
        assert_eq!(cores(&p), vec![vec![0, 1]; 2]);
        assert!(p.ranks.iter().all(|a| a.threads == 1 && !a.changed));
        // --map-by slot:PE=2 on 4 cores: 2 cores each, 2 threads each by default.
        let pe = Binder::Chosen("--map-by slot:PE=2".into());
        let p = plan(&[rank("a", &[0, 1], 4, pe.clone()), rank("a", &[2, 3], 4, pe)]);
        assert!(p.ranks.iter().all(|a| a.threads == 2 && !a.changed));
        assert_eq!(p.note, None);
        // Started by hand under taskset -c 1: its one core, one thread by default.
        let p = plan(&[rank("a", &[1], 2, Binder::Alone)]);
        assert_eq!((p.ranks[0].threads, cores(&p)), (1, vec![vec![1]]));
    }

    #[test]
    fn the_binder_is_read_from_open_mpi_s_variables() {
        use crate::comm::launch::env;
        type Vars = &'static [(&'static str, &'static str)];
        let chosen = |w: &str| Binder::Chosen(w.into());
        let cases: [(Vars, bool, Binder); 6] = [
            (
                &[("OMPI_COMM_WORLD_SIZE", "2")],
                true,
                Binder::OpenMpiDefault,
            ),
            (&[("OMPI_COMM_WORLD_SIZE", "2")], false, Binder::Alone),
            (
                &[
                    ("OMPI_COMM_WORLD_SIZE", "2"),
                    ("OMPI_MCA_hwloc_base_binding_policy", "none"),
                ],
                true,
                chosen("--bind-to none"),
            ),
            (
                &[
                    ("OMPI_COMM_WORLD_SIZE", "2"),
                    ("OMPI_MCA_rmaps_base_mapping_policy", "slot:PE=2"),
                ],
                true,
                chosen("--map-by slot:PE=2"),
            ),
            (
                &[
                    ("OMPI_COMM_WORLD_SIZE", "2"),
                    ("OMPI_MCA_rmaps_base_mapping_policy", "node"),
                ],
                true,
                Binder::OpenMpiDefault,
            ),
            (
                &[("SLURM_STEP_ID", "0"), ("SLURM_PROCID", "1")],
                true,
                chosen("Slurm srun (spmdkit changes only Open MPI's default)"),
            ),
        ];
        for (pairs, launched, binder) in cases {
            assert_eq!(Binder::from_env(env(pairs), launched), binder, "{pairs:?}");
        }
    }

    #[test]
    fn cpu_lists_read_and_write_the_kernel_format() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(format_cpu_list(&[5]), "5");
        let here = affinity();
        assert!(!here.is_empty());
        assert!(here.iter().all(|c| allowed_cpus(&here).contains(c)));
        assert_eq!(topology_order(&here).len(), here.len());
    }

    #[test]
    fn placing_in_process_ranks_computes_the_plan_and_sets_nothing() {
        let before = affinity();
        let placed = crate::comm::inproc::run(3, |comm| place(comm, Some(1)));
        assert!(placed.iter().all(|p| p.threads == 1));
        assert!(placed[1..].iter().all(|p| p.note.is_none()));
        assert_eq!(affinity(), before);
        assert_eq!(crate::comm::placed_threads(), None);
    }

    #[test]
    fn an_affinity_the_kernel_refuses_is_an_error_and_changes_nothing() {
        let before = affinity();
        // No CPU at all, and only a CPU this machine does not have: the kernel says EINVAL
        // for the first thread, and set_affinity stops there.
        for cpus in [vec![], vec![libc::CPU_SETSIZE as usize - 1]] {
            let e = set_affinity(&cpus).expect_err("an affinity without an online CPU");
            assert_eq!(e.raw_os_error(), Some(libc::EINVAL), "{cpus:?}: {e}");
            assert_eq!(affinity(), before);
        }
    }
}
