"""Runs the classic comparison: the two classic jobs with concurrent.futures, Ray, Dask, mpi4py
and spmdkit at the same worker counts, alternating the tools run by run; checks every answer;
writes medians to CSV and Markdown. Started by benches/compare-python.sh, which prepares the
virtual environment and draws the chart.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib import metadata

from classic_tools import COUNT, DURATIONS, SIZE, sleep_answer

EXPECTED = [sleep_answer(d) for d in DURATIONS]
SLEEP_WORKERS = [2, 4, 16]
MATRIX_WORKERS = 2
# A product of two n x n standard-normal matrices has E|AB|_F^2 = n^3; the sum of K of them, K n^3.
FROBENIUS = (COUNT // 2 * SIZE**3) ** 0.5
LIMIT_S = 600
NAMES = {"futures": "concurrent.futures"}
HERE = os.path.dirname(os.path.abspath(__file__))
SPMDKIT = os.path.join(HERE, "..", "target", "release", "spmdkit")


def mpirun(np_, *args):
    return ["mpirun", "--oversubscribe", "-np", str(np_), *args]


def cases(python):
    """(job, W, tool, command, extra environment) in the order of one round."""
    tools = os.path.join(HERE, "classic_tools.py")
    one_blas_thread = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = []
    for w in SLEEP_WORKERS:
        for tool in ["futures", "ray", "dask"]:
            out.append(("sleep", w, NAMES.get(tool, tool),
                        [python, tools, "--tool", tool, "--job", "sleep", "--workers", str(w)], {}))
        out.append(("sleep", w, "mpi4py",
                    mpirun(w, python, tools, "--tool", "mpi4py", "--job", "sleep"), {}))
        out.append(("sleep", w, "spmdkit",
                    mpirun(2, SPMDKIT, "sleep", "--threads", str(w // 2), "--quiet", "--json"), {}))
        # The same without knowing the durations: tasks handed out as ranks ask, as the pools do.
        out.append(("sleep", w, "spmdkit-dynamic",
                    mpirun(2, SPMDKIT, "sleep", "--threads", str(w // 2), "--schedule", "dynamic",
                           "--quiet", "--json"), {}))
        if w > 2:
            out.append(("sleep", w, "spmdkit-ranks",
                        mpirun(w, SPMDKIT, "sleep", "--threads", "1", "--quiet", "--json"), {}))
        # What a laptop or login-node user compares with a process pool: no launcher, one rank.
        out.append(("sleep", w, "spmdkit-alone",
                    [SPMDKIT, "sleep", "--threads", str(w), "--quiet", "--json"], {}))
    w = MATRIX_WORKERS
    for tool in ["futures", "ray", "dask"]:
        out.append(("matrix", w, NAMES.get(tool, tool),
                    [python, tools, "--tool", tool, "--job", "matrix", "--workers", str(w)],
                    one_blas_thread))
    out.append(("matrix", w, "mpi4py",
                mpirun(w, python, tools, "--tool", "mpi4py", "--job", "matrix"), one_blas_thread))
    out.append(("matrix", w, "spmdkit", mpirun(w, SPMDKIT, "matrix", "--json"), {}))
    out.append(("matrix", w, "spmdkit-alone",
                [SPMDKIT, "matrix", "--threads", str(w), "--json"], {}))
    return out


class Failed(Exception):
    pass


def check(job, tool, out, digests):
    """The time inside the program, after checking the answer; raises Failed otherwise."""
    if tool.startswith("spmdkit"):
        if job == "sleep":
            if out["failed"] or [t["result"] for t in out["tasks"]] != EXPECTED:
                raise Failed("wrong or failed tasks")
            return out["wall_s"]
        digests.setdefault("spmdkit", out["result"]["digest"])
        if out["result"]["digest"] != digests["spmdkit"]:
            raise Failed("spmdkit gave other bits than in its first run")
        frobenius = out["result"]["frobenius"]
        in_program = out["timings_s"]["total"]
    else:
        if job == "sleep":
            if out["results"] != EXPECTED:
                raise Failed(f"wrong results {out['results']}")
            return out["in_program_s"]
        frobenius = out["frobenius"]
        # All Python tools draw the same matrices (NumPy's generator): they must agree.
        first = digests.setdefault("python", frobenius)
        if abs(frobenius / first - 1) > 1e-9:
            raise Failed(f"Frobenius norm {frobenius} differs from {first}")
        in_program = out["in_program_s"]
    if abs(frobenius / FROBENIUS - 1) > 0.02:
        raise Failed(f"Frobenius norm {frobenius} is not near {FROBENIUS:.0f}")
    return in_program


def run_once(job, w, tool, command, extra, digests):
    env = dict(os.environ, **extra)
    start = time.perf_counter()
    try:
        p = subprocess.run(command, capture_output=True, text=True, env=env, timeout=LIMIT_S,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise Failed(f"no answer within {LIMIT_S} s")
    whole = time.perf_counter() - start
    if p.returncode != 0:
        raise Failed(f"exit code {p.returncode}\n{p.stderr[-2000:]}")
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if not lines:
        raise Failed(f"no JSON line on stdout\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return whole, check(job, tool, json.loads(lines[-1]), digests)


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ["numpy", "ray", "dask", "distributed", "mpi4py"]:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    mpi = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
    spmdkit = subprocess.run([SPMDKIT, "--version"], capture_output=True, text=True).stdout
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "mpi": (mpi.splitlines() or ["unknown"])[0],
        "spmdkit": spmdkit.strip(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--out", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs: use at least 1")
    plan = cases(args.python)
    info = machine()
    times = {}
    digests = {}
    total = args.runs * len(plan)
    done = 0
    for run in range(args.runs):
        # Each round runs every tool once; the order rotates so no tool always goes first.
        shift = run % len(plan)
        for job, w, tool, command, extra in plan[shift:] + plan[:shift]:
            done += 1
            try:
                whole, inside = run_once(job, w, tool, command, extra, digests)
            except Failed as e:
                print(f"compare: {job} W={w} {tool} failed: {e}\n  command: {' '.join(command)}",
                      file=sys.stderr)
                sys.exit(1)
            times.setdefault((job, w, tool), []).append((whole, inside))
            print(f"compare: {done}/{total} {job} W={w} {tool}: whole {whole:.3f} s, "
                  f"in program {inside:.3f} s", file=sys.stderr, flush=True)

    rows = []
    for (job, w, tool), runs in times.items():
        rows.append({"job": job, "workers": w, "tool": tool, "runs": len(runs),
                     "whole_s": statistics.median(r[0] for r in runs),
                     "in_program_s": statistics.median(r[1] for r in runs)})
    base = {(r["job"], r["workers"]): r for r in rows if r["tool"] == "spmdkit"}
    for r in rows:
        b = base[(r["job"], r["workers"])]
        r["whole_ratio"] = r["whole_s"] / b["whole_s"]
        r["in_program_ratio"] = r["in_program_s"] / b["in_program_s"]

    os.makedirs(args.out, exist_ok=True)
    header = ["job", "workers", "tool", "runs", "whole_s", "in_program_s", "whole_ratio",
              "in_program_ratio"]
    with open(os.path.join(args.out, "compare.csv"), "w") as f:
        f.write("# benches/compare-python.sh: medians of alternating runs; ratios to spmdkit\n")
        for k, v in info.items():
            f.write(f"# {k}: {v}\n")
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(f"{r[h]:.4f}" if isinstance(r[h], float) else str(r[h])
                             for h in header) + "\n")
    table = [
        f"Medians of {args.runs} alternating runs on {info['cpu']} ({info['cores']} cores), "
        f"{info['date']}; {info['mpi']}; Python {info['python']} with {info['packages']}; "
        f"{info['spmdkit']}.",
        "",
        "| job | W | tool | whole process | in program | whole / spmdkit | in program / spmdkit |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        table.append(f"| {r['job']} | {r['workers']} | {r['tool']} | {r['whole_s']:.3f} s | "
                     f"{r['in_program_s']:.3f} s | {r['whole_ratio']:.2f} | "
                     f"{r['in_program_ratio']:.2f} |")
    text = "\n".join(table) + "\n"
    with open(os.path.join(args.out, "compare.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
