#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the two classic workloads (sleep and
# matrix) under mpirun on this machine with readable reports.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --quiet
BIN=target/release/spmdkit

echo "== The classic sleep job: 16 uneven tasks (9.9 s of sleep) on 2 ranks x 8 threads"
echo "   mpirun -np 2 $BIN sleep --threads 8"
echo
mpirun --oversubscribe -np 2 "$BIN" sleep --threads 8

echo
echo "== The classic matrix job: four 1000 x 1000 standard-normal matrices, two products, one sum,"
echo "   on 2 ranks; the partial sums meet in a binomial tree at rank 0"
echo "   mpirun -np 2 $BIN matrix"
echo
mpirun -np 2 "$BIN" matrix
