#!/usr/bin/env bash
# The classic comparison against Python's tools, on this machine:
#   sleep  (the 16 classic tasks) at W = 2, 4, 16 workers and
#   matrix (4 x 1000^2, two products, their sum) at W = 2,
# each with concurrent.futures, Ray, Dask, mpi4py (benches/classic_tools.py) and spmdkit
# (mpirun -np 2, W/2 threads per rank; the same with --schedule dynamic as "spmdkit-dynamic";
# W ranks of 1 thread as "spmdkit-ranks"; one rank of W threads without a launcher as
# "spmdkit-alone"), the tools
# alternating run by run. Every answer is checked. Prints and writes medians of the whole
# process and of the time inside the program, with ratios to spmdkit:
#   benches/results/compare.csv, compare.md and compare.svg (the chart).
# Installs what it needs (as the README's commands do, then Debian's python3-venv and python3-dev
# for mpi4py's build), then a virtual environment (target/python-venv, or $SPMDKIT_PY_VENV) with
# the pinned versions of benches/requirements-compare.txt from the package index.
# Usage: benches/compare-python.sh [RUNS]   (default 5; about 1.5 minutes a run on 2 cores, and
# a few minutes more the first time, for the virtual environment)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
VENV=${SPMDKIT_PY_VENV:-target/python-venv}
OUT=${SPMDKIT_COMPARE_OUT:-benches/results}

# spmdkit's own packages, cargo and the MPI variables (as the README's commands), then what the
# Python side needs to build mpi4py and make a virtual environment.
source scripts/setup.sh
install_missing_packages python3-venv python3-dev
cargo build --release --bins -q
if ! "$VENV/bin/python" -c "import ray, dask.distributed, mpi4py, numpy" 2>/dev/null; then
    echo "compare: creating $VENV (Ray, Dask, mpi4py, NumPy from the package index)" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r benches/requirements-compare.txt
fi
# Ray's token notice and usage statistics prompt are noise here; nothing leaves the machine.
export RAY_USAGE_STATS_ENABLED=0
"$VENV/bin/python" benches/compare.py --runs "$RUNS" --python "$VENV/bin/python" --out "$OUT"
target/release/spmdkit-bench plot --compare "$OUT/compare.csv" --out "$OUT"
