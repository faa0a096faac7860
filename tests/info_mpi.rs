//! `spmdkit info` and launch detection.

mod common;

use common::{alone, mpirun};

#[test]
fn info_reports_every_rank_at_np_1_to_4() {
    for np in 1..=4 {
        let run = mpirun(np, &["info", "--json", "--threads", "3"], &[]);
        run.assert_code(0);
        let info = run.json();
        assert_eq!(info["command"], "info");
        assert_eq!(info["backend"], "mpi");
        assert_eq!(info["ranks"], np);
        assert_eq!(info["threads_per_rank"], 3);
        let per_rank = info["per_rank"].as_array().unwrap();
        assert_eq!(per_rank.len(), np);
        let pids: std::collections::BTreeSet<u64> = per_rank
            .iter()
            .map(|r| r["pid"].as_u64().unwrap())
            .collect();
        assert_eq!(pids.len(), np, "distinct processes");
        for (i, r) in per_rank.iter().enumerate() {
            assert_eq!(r["rank"], i);
            assert!(!r["host"].as_str().unwrap().is_empty());
        }
        let lib = info["mpi_library"].as_str().unwrap();
        assert!(
            lib.starts_with("Open MPI") && !lib.contains('\0'),
            "{lib:?}"
        );
        assert!(info["hdf5_version"].as_str().unwrap().starts_with("1."));
    }
}

#[test]
fn info_human_report_names_library_and_hosts() {
    let run = mpirun(2, &["info"], &[]);
    run.assert_code(0);
    for needle in [
        "MPI library    Open MPI",
        "ranks          2 on 1 host",
        "HDF5",
    ] {
        assert!(
            run.stdout.contains(needle),
            "missing '{needle}':\n{}",
            run.stdout
        );
    }
}

#[test]
fn without_a_launcher_spmdkit_is_one_rank_and_mpi_is_not_started() {
    let run = alone(&["info", "--json"], &[]);
    run.assert_code(0);
    let info = run.json();
    assert_eq!(info["backend"], "in-process");
    assert_eq!(info["ranks"], 1);
}

#[test]
fn threads_default_honours_slurm_and_rayon_variables() {
    let slurm = mpirun(2, &["info", "--json"], &[("SLURM_CPUS_PER_TASK", "5")]);
    slurm.assert_code(0);
    assert_eq!(slurm.json()["per_rank"][1]["threads"], 5);
    assert_eq!(
        slurm.json()["per_rank"][1]["threads_from"],
        "SLURM_CPUS_PER_TASK"
    );
    let rayon = alone(
        &["info", "--json"],
        &[("RAYON_NUM_THREADS", "7"), ("SLURM_CPUS_PER_TASK", "5")],
    );
    assert_eq!(rayon.json()["per_rank"][0]["threads"], 7);
}

#[test]
fn a_launcher_whose_processes_each_see_a_world_of_one_is_reported() {
    // What a plain `srun` without PMI does to an Open MPI build: every process is a singleton.
    for rank in ["0", "1"] {
        let run = alone(
            &["sleep", "--durations", "0.01"],
            &[
                ("SLURM_PROCID", rank),
                ("SLURM_STEP_ID", "0"),
                ("SLURM_STEP_NUM_TASKS", "3"),
            ],
        );
        run.assert_code(2);
        assert!(run.stdout.is_empty(), "nothing ran: {}", run.stdout);
        if rank == "0" {
            assert!(
                run.stderr.contains("Slurm srun started 3 processes"),
                "{}",
                run.stderr
            );
            assert!(run.stderr.contains("srun --mpi=pmix"), "{}", run.stderr);
        } else {
            assert!(
                !run.stderr.contains("launch mistake"),
                "only rank 0 reports: {}",
                run.stderr
            );
        }
    }
    // MPICH's Hydra starting an Open MPI build.
    let run = alone(&["info"], &[("PMI_SIZE", "2"), ("PMI_RANK", "0")]);
    run.assert_code(2);
    assert!(run.stderr.contains("started 2 processes"), "{}", run.stderr);
}

#[test]
fn help_and_version_print_once_and_succeed() {
    let help = mpirun(3, &["--help"], &[]);
    help.assert_code(0);
    assert_eq!(
        help.stdout.matches("Usage: spmdkit").count(),
        1,
        "{}",
        help.stdout
    );
    for sub in ["sleep", "info"] {
        let run = alone(&[sub, "--help"], &[]);
        run.assert_code(0);
        assert!(run.stdout.contains("--threads"), "{}", run.stdout);
    }
    let version = alone(&["--version"], &[]);
    version.assert_code(0);
    assert!(version.stdout.contains(env!("CARGO_PKG_VERSION")));
}
