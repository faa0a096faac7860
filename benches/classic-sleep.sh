#!/usr/bin/env bash
# Measures the classic sleep job (16 tasks, 2 ranks x 8 threads, ideal 1.5 s) RUNS times:
# the makespan inside the program and the whole process, mpirun included, both against the ideal.
# Usage: benches/classic-sleep.sh [RUNS]   (build first: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
source benches/mpi-env.sh
echo "run,makespan_minus_ideal_ms,whole_process_minus_ideal_ms"
for i in $(seq 1 "$RUNS"); do
    start=$(date +%s%N)
    json=$(mpirun -np 2 "$BIN" sleep --threads 8 --json)
    end=$(date +%s%N)
    python3 - "$i" "$start" "$end" "$json" <<'PY'
import json, sys
run, start, end, report = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
ideal = report["ideal_s"]
print(f"{run},{(report['makespan_s'] - ideal) * 1e3:.2f},{((end - start) / 1e9 - ideal) * 1e3:.1f}")
PY
done
