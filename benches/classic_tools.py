"""The two classic jobs written with Python's parallel tools, for comparison with spmdkit.

    python classic_tools.py --tool futures|ray|dask --job sleep|matrix --workers W
    mpirun -np W python classic_tools.py --tool mpi4py --job sleep|matrix

sleep:  the 16 classic tasks (9.9 s of sleep in all); each returns "Sleep time <d>".
matrix: four 1000 x 1000 standard-normal matrices, the two pairwise products, their sum.

Each tool is written the way its documentation teaches: a process pool, remote functions, futures
on a local cluster, or SPMD ranks with a collective reduction. Every run starts its workers first
and then times the job itself (the "in program" time; spmdkit's is likewise taken after its
ranks and threads are up). One JSON line on stdout: the tool, the time in the program, the time
spent starting the workers, and what is needed to check the answer.
"""
import argparse
import json
import os
import sys
import time

DURATIONS = [0.1, 0.2, 0.1, 0.5, 0.7, 0.9, 0.5, 0.4, 1.5, 1.3, 1.0, 0.3, 0.7, 0.6, 0.3, 0.8]
COUNT, SIZE, SEED = 4, 1000, 1


def sleep_answer(duration):
    """What a sleep task returns: the same text as spmdkit's tasks."""
    return f"Sleep time {duration!r}"


def sleep_task(duration):
    time.sleep(duration)
    return sleep_answer(duration)


def make_matrix(index):
    import numpy as np

    return np.random.default_rng([SEED, index]).standard_normal((SIZE, SIZE))


def multiply(a, b):
    return a @ b


def warm_up(_=None):
    """Run once in every worker before the clock starts: the worker exists and has NumPy loaded,
    as spmdkit's ranks have their code loaded when its clock starts."""
    import numpy  # noqa: F401

    return os.getpid()


def check_matrix(total):
    import numpy as np

    return {"sum": float(total.sum()), "frobenius": float(np.linalg.norm(total))}


def run_futures(job, workers):
    from concurrent.futures import ProcessPoolExecutor

    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        # Start every worker process before the clock: one no-op per worker, all at once.
        list(pool.map(warm_up, range(workers)))
        ready = time.perf_counter()
        if job == "sleep":
            results = list(pool.map(sleep_task, DURATIONS))
            check = {"results": results}
        else:
            matrices = list(pool.map(make_matrix, range(COUNT)))
            products = pool.map(multiply, matrices[0::2], matrices[1::2])
            total = sum(products)
            check = check_matrix(total)
        done = time.perf_counter()
    return ready - started, done - ready, check


def run_ray(job, workers):
    import ray

    started = time.perf_counter()
    ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    remote_warm_up = ray.remote(warm_up)
    ray.get([remote_warm_up.remote(i) for i in range(workers)])
    ready = time.perf_counter()
    if job == "sleep":
        task = ray.remote(sleep_task)
        results = ray.get([task.remote(d) for d in DURATIONS])
        check = {"results": results}
    else:
        make, mul = ray.remote(make_matrix), ray.remote(multiply)
        matrices = [make.remote(i) for i in range(COUNT)]
        products = [mul.remote(matrices[2 * k], matrices[2 * k + 1]) for k in range(COUNT // 2)]
        total = sum(ray.get(products))
        check = check_matrix(total)
    done = time.perf_counter()
    ray.shutdown()
    return ready - started, done - ready, check


def run_dask(job, workers):
    from dask.distributed import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        client.run(warm_up)
        ready = time.perf_counter()
        if job == "sleep":
            futures = client.map(sleep_task, DURATIONS, pure=False)
            results = client.gather(futures)
            check = {"results": results}
        else:
            matrices = client.map(make_matrix, range(COUNT), pure=False)
            products = [client.submit(multiply, matrices[2 * k], matrices[2 * k + 1], pure=False)
                        for k in range(COUNT // 2)]
            total = sum(client.gather(products))
            check = check_matrix(total)
        done = time.perf_counter()
    return ready - started, done - ready, check


def run_mpi4py(job):
    from mpi4py import MPI
    import numpy as np

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    comm.Barrier()
    ready = time.perf_counter()
    if job == "sleep":
        # Rank 0 deals the task ids round-robin, as the mpi4py tutorial scatters a list.
        chunks = [list(range(r, len(DURATIONS), size)) for r in range(size)] if rank == 0 else None
        mine = comm.scatter(chunks, root=0)
        results = [(i, sleep_task(DURATIONS[i])) for i in mine]
        gathered = comm.gather(results, root=0)
        check = None
        if rank == 0:
            ordered = sorted(r for part in gathered for r in part)
            check = {"results": [text for _, text in ordered]}
    else:
        total = np.zeros((SIZE, SIZE))
        for k in range(rank, COUNT // 2, size):
            total += multiply(make_matrix(2 * k), make_matrix(2 * k + 1))
        result = np.empty_like(total) if rank == 0 else None
        comm.Reduce(total, result, op=MPI.SUM, root=0)
        check = check_matrix(result) if rank == 0 else None
    done = time.perf_counter()
    if rank != 0:
        sys.exit(0)
    # The launcher's and MPI's start-up are outside this process's view: not reported here.
    return None, done - ready, check


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tool", required=True, choices=["futures", "ray", "dask", "mpi4py"])
    parser.add_argument("--job", required=True, choices=["sleep", "matrix"])
    parser.add_argument("--workers", type=int, default=2, help="W (not for mpi4py: its ranks)")
    args = parser.parse_args()
    if args.tool == "mpi4py":
        start_s, in_program_s, check = run_mpi4py(args.job)
        workers = None
    else:
        runner = {"futures": run_futures, "ray": run_ray, "dask": run_dask}[args.tool]
        start_s, in_program_s, check = runner(args.job, args.workers)
        workers = args.workers
    print(json.dumps({"tool": args.tool, "job": args.job, "workers": workers,
                      "start_s": start_s, "in_program_s": in_program_s, **check}))


if __name__ == "__main__":
    main()
