#!/usr/bin/env bash
# The tree reduction's step between two ranks of one node, through shared memory (the default)
# against MPI's own message (SPMDKIT_SHARED_MEMORY=0: Open MPI's single copy, CMA), and both
# against one rank's copy and add of the same array. One run of RUNS rounds, alternating the
# two settings; each round is one `spmdkit-bench reduce` per setting. Prints medians (µs, the
# average over ranks of `avg_us`) and the ratios.
# Usage: benches/reduce-shm.sh [RUNS] [NP] [SIZES]   (defaults 9, 2, 1M,8M; build first:
#   source scripts/static-hdf5.sh; cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-9}
NP=${2:-2}
SIZES=${3:-1M,8M}
source benches/mpi-env.sh
BENCH=target/release/spmdkit-bench
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT
for round in $(seq 1 "$RUNS"); do
    for shm in 1 0; do
        SPMDKIT_SHARED_MEMORY=$shm timeout 120 mpirun -x SPMDKIT_SHARED_MEMORY -np "$NP" \
            "$BENCH" reduce --strategies tree --sizes "$SIZES" --iterations 20 |
            sed "s/^/$shm /" >> "$RAW"
    done
done
/usr/bin/python3 - "$RAW" "$RUNS" "$NP" "$SIZES" <<'PY'
import re, statistics, sys
tree, copy, add, streamed = {}, {}, {}, {}
for line in open(sys.argv[1]):
    shm, rest = line.split(" ", 1)
    f = rest.split()
    if f and f[0] == "tree":
        tree.setdefault((shm, int(f[1])), []).append(float(f[5]))
    m = re.match(r"# one rank alone, (\d+) bytes: copy ([\d.]+) us, add ([\d.]+) us", rest)
    if m:
        copy.setdefault(int(m[1]), []).append(float(m[2]))
        add.setdefault(int(m[1]), []).append(float(m[3]))
    m = re.match(r"# arrays rank 0 received through node shared memory: (\d+)", rest)
    if m:
        streamed.setdefault(shm, set()).add(int(m[1]) > 0)
med = statistics.median
print(f"# benches/reduce-shm.sh {sys.argv[2]} {sys.argv[3]} {sys.argv[4]}: medians of {sys.argv[2]} alternating rounds, mpirun -np {sys.argv[3]}")
print(f"# shared memory used: with the default {sorted(streamed.get('1', []))}, with SPMDKIT_SHARED_MEMORY=0 {sorted(streamed.get('0', []))}")
print("| bytes | tree, shared memory µs | tree, MPI message µs | shared / message | one rank's copy µs | its add µs | shared / (copy) |")
print("|---|---|---|---|---|---|---|")
for size in sorted({s for _, s in tree}):
    a, b = med(tree[("1", size)]), med(tree[("0", size)])
    c, d = med(copy[size]), med(add[size])
    print(f"| {size} | {a:.0f} | {b:.0f} | {a / b:.2f} | {c:.0f} | {d:.0f} | {a / c:.2f} |")
PY
