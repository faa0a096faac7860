#!/usr/bin/env bash
# The MPI benchmarks behind the README's charts, on this machine, and the charts themselves:
#   reduce  tree/linear/native, 8 B to 64 MiB per rank, at 2, 3 and 4 ranks;
#   matrix  strong scaling of one job (16 x 2000^2) at 1, 2 and 4 ranks x 1 and 2 threads;
#   sleep   every policy on the classic 16 tasks (2 x 1 and 2 x 8 workers) and on 200 random
#           tasks of 0-100 ms (2 x 4);
# then `spmdkit-bench model` and `spmdkit-bench plot`. CSVs, the model's text and the SVG charts
# go to benches/results/ (or $SPMDKIT_CHARTS_OUT). Ranks above the core count share cores
# (--oversubscribe): what that costs is part of what is measured. The scaling runs use
# --bind-to none: Open MPI otherwise binds each rank to one core, and its threads would share it.
# Usage: benches/charts.sh [REPEATS]   (default 3; about 10 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-3}
OUT=${SPMDKIT_CHARTS_OUT:-benches/results}
source scripts/setup.sh
cargo build --release --bins -q
BENCH=target/release/spmdkit-bench
mkdir -p "$OUT"
run() { echo "+ $*" >&2; "$@"; }

for np in 2 3 4; do
    run mpirun --oversubscribe -np "$np" "$BENCH" reduce --csv "$OUT/reduce-np$np.csv"
done
for np in 1 2 4; do
    run mpirun --oversubscribe --bind-to none -np "$np" "$BENCH" matrix --count 16 --size 2000 --threads 1,2 \
        --repeats "$REPEATS" --csv "$OUT/matrix-np$np.csv"
done
run mpirun -np 2 "$BENCH" sleep --threads 1 --repeats "$REPEATS" --csv "$OUT/sleep-classic-2x1.csv"
run mpirun -np 2 "$BENCH" sleep --threads 8 --repeats "$REPEATS" --csv "$OUT/sleep-classic-2x8.csv"
run mpirun -np 2 "$BENCH" sleep --threads 4 --tasks random --count 200 --longest 0.1 \
    --repeats "$REPEATS" --csv "$OUT/sleep-random-2x4.csv"

"$BENCH" model --csv "$OUT/reduce-np2.csv" --csv "$OUT/reduce-np3.csv" --csv "$OUT/reduce-np4.csv" \
    | tee "$OUT/model.txt"
"$BENCH" plot --out "$OUT" \
    --reduce "$OUT/reduce-np2.csv" --reduce "$OUT/reduce-np3.csv" --reduce "$OUT/reduce-np4.csv" \
    --matrix "$OUT/matrix-np1.csv" --matrix "$OUT/matrix-np2.csv" --matrix "$OUT/matrix-np4.csv" \
    --sleep "$OUT/sleep-classic-2x1.csv" --sleep "$OUT/sleep-classic-2x8.csv" \
    --sleep "$OUT/sleep-random-2x4.csv"
python3 benches/summary.py "$OUT" > /dev/null
echo "tables: $OUT/summary.md" >&2
