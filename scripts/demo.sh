#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the classic workloads under mpirun on
# this machine with a readable report.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --quiet
BIN=target/release/spmdkit

echo "== The classic sleep job: 16 uneven tasks (9.9 s of sleep) on 2 ranks x 8 threads"
echo "   mpirun -np 2 $BIN sleep --threads 8"
echo
mpirun --oversubscribe -np 2 "$BIN" sleep --threads 8
