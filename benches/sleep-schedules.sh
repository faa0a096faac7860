#!/usr/bin/env bash
# Scheduling policies of `spmdkit sleep`, alternating the policies run by run (medians):
#  1. 200 tasks of uniform random length 0-100 ms (seed 42), 2 ranks x 4 threads: makespan over
#     the lower bound max(longest, total / W) for dynamic, block, cyclic and lpt;
#  2. the classic 16 tasks, 2 ranks x 8 threads: dynamic against lpt;
#  3. 100 000 zero-length tasks with dynamic at 2 ranks x 2 threads: tasks per second (wall).
# Usage: benches/sleep-schedules.sh [RUNS]   (build first: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
source benches/mpi-env.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 -c "
import random
r = random.Random(42)
print('\n'.join('%.4f' % r.uniform(0, 0.1) for _ in range(200)))" > "$WORK/random200.txt"
python3 -c "print('0\n' * 100000, end='')" > "$WORK/zeros.txt"

for _ in $(seq 1 "$RUNS"); do
    for s in dynamic block cyclic lpt; do
        echo "random $s $(mpirun -np 2 "$BIN" sleep --threads 4 --quiet --schedule $s --tasks-file "$WORK/random200.txt" --json)" >> "$WORK/raw"
    done
    for s in dynamic lpt; do
        echo "classic $s $(mpirun -np 2 "$BIN" sleep --threads 8 --quiet --schedule $s --json)" >> "$WORK/raw"
    done
    echo "zeros dynamic $(mpirun -np 2 "$BIN" sleep --threads 2 --quiet --schedule dynamic --tasks-file "$WORK/zeros.txt" --json)" >> "$WORK/raw"
done

python3 - "$WORK/raw" "$RUNS" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    case, schedule, report = line.split(" ", 2)
    runs.setdefault((case, schedule), []).append(json.loads(report))
med = statistics.median
print(f"medians of {sys.argv[2]} alternating runs")
print("\n200 random tasks (0-100 ms), 2 ranks x 4 threads: makespan / lower bound")
for s in ["dynamic", "block", "cyclic", "lpt"]:
    rs = runs[("random", s)]
    print(f"  {s:<8} {med(r['makespan_s'] / r['ideal_s'] for r in rs):.4f}   (makespan {med(r['makespan_s'] for r in rs):.4f} s, bound {rs[0]['ideal_s']:.4f} s)")
d = med(r["makespan_s"] for r in runs[("classic", "dynamic")])
l = med(r["makespan_s"] for r in runs[("classic", "lpt")])
print(f"\nclassic 16 tasks, 2 ranks x 8 threads: dynamic {d:.4f} s, lpt {l:.4f} s, difference {(d - l) * 1e3:+.2f} ms")
z = runs[("zeros", "dynamic")]
print(f"\n100 000 zero-length tasks, dynamic, 2 ranks x 2 threads: {med(100000 / r['wall_s'] for r in z):,.0f} tasks/s "
      f"(wall {med(r['wall_s'] for r in z):.3f} s)")
PY
