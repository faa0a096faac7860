#!/usr/bin/env bash
# Dispatch throughput of `spmdkit sleep --schedule dynamic`: 100 000 zero-length tasks on
# 2 ranks x 2 threads, tasks per second (wall, medians of RUNS runs). How well each policy packs
# tasks is `spmdkit-bench sleep` (run by benches/charts.sh).
# Usage: benches/sleep-schedules.sh [RUNS]   (build first: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
source benches/mpi-env.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 -c "print('0\n' * 100000, end='')" > "$WORK/zeros.txt"

for _ in $(seq 1 "$RUNS"); do
    mpirun -np 2 "$BIN" sleep --threads 2 --quiet --schedule dynamic --tasks-file "$WORK/zeros.txt" --json >> "$WORK/raw"
    echo >> "$WORK/raw"
done

python3 - "$WORK/raw" "$RUNS" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert all(len(r["tasks"]) == 100000 and not r["failed"] for r in runs), "every task must succeed"
walls = [r["wall_s"] for r in runs]
print(f"100 000 zero-length tasks, dynamic, 2 ranks x 2 threads, medians of {sys.argv[2]} runs: "
      f"{statistics.median(100000 / w for w in walls):,.0f} tasks/s (wall {statistics.median(walls):.3f} s)")
PY
