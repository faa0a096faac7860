//! Recognising how this process was launched.
//!
//! A binary started by the wrong launcher (Open MPI's `mpirun` for an MPICH build, MPICH's
//! `mpiexec` for an Open MPI build, or `srun` without the PMI plugin its MPI needs) does not fail:
//! each process initialises MPI as a singleton, sees a world of one, and the job silently runs
//! P independent copies. The launchers leave their own variables in the environment, so comparing
//! what the launcher says with what MPI says catches the mistake.

/// What the environment says about the launcher of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launch {
    /// Which launcher, in words a user recognises.
    pub(crate) launcher: &'static str,
    /// How many processes the launcher started, when it says so.
    pub(crate) size: Option<usize>,
    /// This process's index among them, when the launcher says so.
    pub(crate) rank: Option<usize>,
}

/// Reads the launcher variables through `var` (a stand-in for `std::env::var` in tests).
///
/// Returns `None` when no launcher variable is present: the process was started by hand.
pub(crate) fn detect_from(var: impl Fn(&str) -> Option<String>) -> Option<Launch> {
    let number = |k: &str| var(k).and_then(|v| v.trim().parse::<usize>().ok());
    // Most specific first: under `mpirun` inside a Slurm allocation the SLURM_* variables describe
    // the daemons' step, not the ranks, so Open MPI's own variables must win.
    if var("OMPI_COMM_WORLD_SIZE").is_some() {
        return Some(Launch {
            launcher: "Open MPI mpirun",
            size: number("OMPI_COMM_WORLD_SIZE"),
            rank: number("OMPI_COMM_WORLD_RANK"),
        });
    }
    if var("PMI_SIZE").is_some() || var("PMI_RANK").is_some() {
        let launcher = if var("SLURM_PROCID").is_some() {
            "Slurm srun with PMI-2"
        } else {
            "a PMI launcher (MPICH mpiexec/Hydra)"
        };
        return Some(Launch {
            launcher,
            size: number("PMI_SIZE"),
            rank: number("PMI_RANK"),
        });
    }
    if var("SLURM_PROCID").is_some() && var("SLURM_STEP_ID").is_some() {
        return Some(Launch {
            launcher: "Slurm srun",
            size: number("SLURM_STEP_NUM_TASKS").or_else(|| number("SLURM_NTASKS")),
            rank: number("SLURM_PROCID"),
        });
    }
    if var("PMIX_RANK").is_some() {
        return Some(Launch {
            launcher: "a PMIx launcher",
            size: None,
            rank: number("PMIX_RANK"),
        });
    }
    None
}

/// Whether every rank of the job runs on this node, from the launcher's variables: Open MPI's
/// local size equal to its world size, or a Slurm job step on one node.
pub(crate) fn single_node(var: impl Fn(&str) -> Option<String>) -> bool {
    let number = |k: &str| var(k).and_then(|v| v.trim().parse::<usize>().ok());
    match (
        number("OMPI_COMM_WORLD_SIZE"),
        number("OMPI_COMM_WORLD_LOCAL_SIZE"),
    ) {
        (Some(world), Some(local)) => world == local,
        _ => var("SLURM_STEP_ID").is_some() && number("SLURM_STEP_NUM_NODES") == Some(1),
    }
}

/// The Open MPI settings spmdkit makes for this launch, as (variable, value): none that the
/// user made already.
///
/// * One node (the launcher says local size = world size): `OMPI_MCA_pml=ob1`. At `MPI_Init`,
///   Open MPI first tries its UCX messaging layer, whose device probing costs about 0.2 s per
///   start on a machine without InfiniBand, before falling back to `ob1` with shared memory;
///   on one node UCX has nothing to offer that shared memory does not. Multi-node jobs keep
///   their interconnect.
/// * Several nodes: the direct modex (`OMPI_MCA_pmix_base_async_modex=1`,
///   `OMPI_MCA_pmix_base_collect_data=0`): each rank fetches a peer's connection data when it
///   first connects to it, instead of a fence that collects everybody's. With the collecting
///   fence, Open MPI 4.1 under `srun` (Slurm 22.05's PMIx) lets a rank leave `MPI_Init` while
///   another is still in that fence, before its `ob1` layer has registered its receive
///   handlers: the first message that reaches it over TCP is handed to a null function pointer
///   (`mca_btl_tcp` calling the handler of tag 65, `MATCH`) and it dies of SIGSEGV, about one
///   launch in a hundred of a farm on three nodes. The direct modex leaves one fence in
///   `MPI_Init`, the last one, which every rank reaches after registering its handlers.
pub(crate) fn open_mpi_settings(
    var: impl Fn(&str) -> Option<String>,
) -> Vec<(&'static str, &'static str)> {
    let mut settings = Vec::new();
    if single_node(&var) {
        if var("OMPI_MCA_pml").is_none() {
            settings.push(("OMPI_MCA_pml", "ob1"));
        }
    } else if var("OMPI_MCA_pmix_base_async_modex").is_none()
        && var("OMPI_MCA_pmix_base_collect_data").is_none()
    {
        settings.push(("OMPI_MCA_pmix_base_async_modex", "1"));
        settings.push(("OMPI_MCA_pmix_base_collect_data", "0"));
    }
    settings
}

/// Makes [`open_mpi_settings`] in this process's environment, when its MPI is Open MPI.
///
/// Must be called before MPI is initialised, while no other thread reads the environment (the
/// `matrix` warm-up thread, which may run, reads none).
pub(crate) fn apply_open_mpi_settings(var: impl Fn(&str) -> Option<String>) {
    if !super::mpi_backend::library_version().starts_with("Open MPI") {
        return;
    }
    let settings = open_mpi_settings(var);
    let mut set_here = SET_HERE.lock().unwrap_or_else(|e| e.into_inner());
    for (name, value) in settings {
        std::env::set_var(name, value);
        set_here.push(name);
    }
}

/// The variables [`apply_open_mpi_settings`] set (the user did not): the processes a rank
/// starts do not inherit them.
static SET_HERE: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

/// Whether `name` is a variable that the launcher (or MPI, or spmdkit itself at start) set to
/// make this process a rank of its job: a program started from a rank (a command of the farm,
/// the farm's guardian) must not see it, or an MPI program among them would take itself for a
/// rank of this job (connect to its PMIx server, find a world of the wrong size). The user's own
/// settings (`OMPI_MCA_*` they exported, `OMPI_ALLOW_RUN_AS_ROOT`, the Slurm job's variables)
/// stay.
pub fn set_by_launcher(name: &str) -> bool {
    const PREFIXES: [&str; 10] = [
        "PMIX_", // PMIx: the server, the namespace, this process's rank
        "PMI_",  // PMI-1/2 (MPICH's Hydra, srun --mpi=pmi2)
        "OMPI_COMM_WORLD_",
        "OMPI_MCA_orte_", // mpirun's daemon, job family, session directory
        "OMPI_MCA_ess",   // how the process finds its job (ess, ess_base_jobid, _vpid)
        "OMPI_MCA_pmix",
        "HYDI_",
        "SLURM_PMIX", // srun's PMIx plugin (SLURM_PMIXP_ABORT_AGENT_PORT, ..._MAPPING_SERV)
        "MPIR_CVAR_CH3_INTERFACE_HOSTNAME",
        "OMPI_MCA_initial_wdir",
    ];
    const NAMES: [&str; 14] = [
        "OMPI_UNIVERSE_SIZE",
        "OMPI_FIRST_RANKS",
        "OMPI_APP_CTX_NUM_PROCS",
        "OMPI_NUM_APP_CTX",
        "OMPI_FILE_LOCATION",
        "OMPI_COMMAND",
        "OMPI_ARGV",
        "OMPI_MCA_shmem_RUNTIME_QUERY_hint",
        "MPI_LOCALNRANKS",
        "MPI_LOCALRANKID",
        // srun's per-task variables: which task of the step this process is.
        "SLURM_PROCID",
        "SLURM_LOCALID",
        "SLURM_GTIDS",
        "SLURM_TASK_PID",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p))
        || NAMES.contains(&name)
        || SET_HERE
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&name)
}

/// [`detect_from`] on this process's environment.
pub(crate) fn detect() -> Option<Launch> {
    detect_from(|k| std::env::var(k).ok())
}

/// The cores this process may run on (its CPU affinity, as the launcher bound it), at least 1.
pub(crate) fn cores_here() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// For tests: a stand-in for `std::env::var` that knows only `pairs`.
#[cfg(test)]
pub(crate) fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_mpi_variables_win_over_slurm_ones() {
        let l = detect_from(env(&[
            ("OMPI_COMM_WORLD_SIZE", "8"),
            ("OMPI_COMM_WORLD_RANK", "3"),
            ("SLURM_PROCID", "0"),
            ("SLURM_STEP_ID", "0"),
            ("SLURM_STEP_NUM_TASKS", "1"),
        ]))
        .unwrap();
        assert_eq!((l.size, l.rank), (Some(8), Some(3)));
        assert_eq!(l.launcher, "Open MPI mpirun");
    }

    #[test]
    fn hydra_and_srun_are_recognised() {
        let hydra = detect_from(env(&[("PMI_SIZE", "2"), ("PMI_RANK", "1")])).unwrap();
        assert_eq!((hydra.size, hydra.rank), (Some(2), Some(1)));
        let srun = detect_from(env(&[
            ("SLURM_PROCID", "2"),
            ("SLURM_STEP_ID", "0"),
            ("SLURM_STEP_NUM_TASKS", "4"),
        ]))
        .unwrap();
        assert_eq!((srun.size, srun.rank), (Some(4), Some(2)));
        assert_eq!(srun.launcher, "Slurm srun");
    }

    #[test]
    fn single_node_is_recognised_from_local_size() {
        let one = env(&[
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_SIZE", "4"),
        ]);
        assert!(single_node(one));
        let two = env(&[
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_SIZE", "2"),
        ]);
        assert!(!single_node(two));
        assert!(!single_node(env(&[("PMI_SIZE", "2")])));
        let step = env(&[("SLURM_STEP_ID", "0"), ("SLURM_STEP_NUM_NODES", "1")]);
        assert!(single_node(step));
        let wide = env(&[("SLURM_STEP_ID", "0"), ("SLURM_STEP_NUM_NODES", "3")]);
        assert!(!single_node(wide));
    }

    #[test]
    fn the_launchers_variables_are_told_from_the_users() {
        for set in [
            "PMIX_RANK",
            "PMIX_SERVER_URI41",
            "PMI_FD",
            "PMI_RANK",
            "OMPI_COMM_WORLD_SIZE",
            "OMPI_MCA_orte_hnp_uri",
            "OMPI_MCA_ess_base_vpid",
            "OMPI_MCA_ess",
            "OMPI_MCA_pmix",
            "OMPI_UNIVERSE_SIZE",
            "SLURM_PROCID",
            "SLURM_PMIXP_ABORT_AGENT_PORT",
            "HYDI_CONTROL_FD",
            "MPI_LOCALRANKID",
        ] {
            assert!(set_by_launcher(set), "{set}");
        }
        for kept in [
            "OMPI_ALLOW_RUN_AS_ROOT",
            "OMPI_MCA_mpi_yield_when_idle",
            "OMPI_MCA_btl",
            "SLURM_JOB_ID",
            "SLURM_CPUS_PER_TASK",
            "SLURM_STEP_ID",
            "PATH",
            "HOME",
        ] {
            assert!(!set_by_launcher(kept), "{kept}");
        }
    }

    #[test]
    fn open_mpi_is_told_what_fits_the_launch_unless_the_user_said() {
        let one_node = [
            ("OMPI_COMM_WORLD_SIZE", "4"),
            ("OMPI_COMM_WORLD_LOCAL_SIZE", "4"),
        ];
        assert_eq!(
            open_mpi_settings(env(&one_node)),
            vec![("OMPI_MCA_pml", "ob1")]
        );
        let user_pml = [&one_node[..], &[("OMPI_MCA_pml", "ucx")]].concat();
        assert!(open_mpi_settings(env(&user_pml)).is_empty());
        let nodes = [
            ("SLURM_STEP_ID", "0"),
            ("SLURM_STEP_NUM_NODES", "3"),
            ("SLURM_PROCID", "1"),
        ];
        assert_eq!(
            open_mpi_settings(env(&nodes)),
            vec![
                ("OMPI_MCA_pmix_base_async_modex", "1"),
                ("OMPI_MCA_pmix_base_collect_data", "0")
            ]
        );
        let user_modex = [&nodes[..], &[("OMPI_MCA_pmix_base_collect_data", "1")]].concat();
        assert!(open_mpi_settings(env(&user_modex)).is_empty());
    }

    #[test]
    fn a_batch_script_alone_is_not_a_launch() {
        // Inside `sbatch` but outside `srun`: SLURM_NTASKS describes the allocation, not us.
        assert!(detect_from(env(&[("SLURM_NTASKS", "4"), ("SLURM_JOB_ID", "7")])).is_none());
    }
}
