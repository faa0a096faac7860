#!/usr/bin/env bash
# Dispatch throughput of `spmdkit sleep --schedule dynamic`: 100 000 zero-length tasks on
# 2 ranks x 2 threads, tasks per second (wall, medians of RUNS runs). How well each policy packs
# tasks is `spmdkit-bench sleep` (run by benches/charts.sh).
# Usage: benches/sleep-schedules.sh [RUNS]   (build first: cargo build --release)
# With BASELINE=/path/to/another/spmdkit, runs alternate between the two binaries and the ratio
# of their medians is printed (current / baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
source benches/mpi-env.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 -c "print('0\n' * 100000, end='')" > "$WORK/zeros.txt"
BINARIES=("$BIN")
if [ -n "${BASELINE:-}" ]; then BINARIES+=("$BASELINE"); fi

for _ in $(seq 1 "$RUNS"); do
    for i in "${!BINARIES[@]}"; do
        mpirun -np 2 "${BINARIES[$i]}" sleep --threads 2 --quiet --schedule dynamic \
            --tasks-file "$WORK/zeros.txt" --json >> "$WORK/raw$i"
        echo >> "$WORK/raw$i"
    done
done

python3 - "$RUNS" "${BINARIES[@]}" <<PY
import json, statistics, sys
runs, binaries = sys.argv[1], sys.argv[2:]
rates = []
for i, binary in enumerate(binaries):
    results = [json.loads(l) for l in open(f"$WORK/raw{i}") if l.strip()]
    assert all(len(r["tasks"]) == 100000 and not r["failed"] for r in results), "every task must succeed"
    walls = [r["wall_s"] for r in results]
    rates.append(statistics.median(100000 / w for w in walls))
    print(f"{binary}: 100 000 zero-length tasks, dynamic, 2 ranks x 2 threads, medians of {runs} "
          f"runs: {rates[-1]:,.0f} tasks/s (wall {statistics.median(walls):.3f} s)")
if len(rates) == 2:
    print(f"current / baseline throughput: {rates[0] / rates[1]:.2f}")
PY
