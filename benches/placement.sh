#!/usr/bin/env bash
# Placement and phase rates of the classic matrix job (4 x 1000^2) against the local kernels, one
# alternating run: every launch variant below and the kernel benchmark once per round, RUNS rounds.
# Prints, per variant, the medians of the total in program and of each phase (generation in
# Mvalues/s, products in GFLOP/s, the reduction in ms), and the ratios the placement work is
# judged by: default launch / best explicit placement at np 2, and products of
# `mpirun -np 1 ... --threads 2` / the kernel's 2-thread GEMM rate. Each phase is compared with
# the kernels at the job's number of workers (ranks x threads): generation per rank with the
# normal kernel's rate (warm buffer) at that many threads divided by the ranks. The kernels'
# rate for a pair drawn into fresh memory, as a job draws its first, is printed with them.
# Usage: benches/placement.sh [RUNS] [BEFORE]   (build first: cargo build --release)
#   BEFORE: an older spmdkit build, also run (its rows marked "before:") in the same rounds
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
source benches/mpi-env.sh
BEFORE=${2:-}
PY=/usr/bin/python3
# Not oversubscribed here: the ranks may spin while they wait, as on a real node.
unset OMPI_MCA_mpi_yield_when_idle
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT
KERNELS=$(cargo bench --no-run --bench kernels 2>&1 | grep -o 'target/release/deps/kernels-[0-9a-f]*' | tail -1)
[ -x "$KERNELS" ] || { echo "cannot find the kernels benchmark binary" >&2; exit 2; }

run() { # label, command...
    local label=$1; shift
    local out
    out=$("$@" 2>/dev/null)
    echo "$label|${out//$'\n'/;}" >> "$RAW"
}

# Each round runs every variant once, in an order of its own (shuffled with a fixed seed): no
# variant always follows the same one (a run after the kernels' 2-thread burst is slower).
VARIANTS=(
    "np2 default|mpirun -np 2 $BIN matrix --json"
    "np2 --bind-to none|mpirun --bind-to none -np 2 $BIN matrix --json"
    "np2 --bind-to core|mpirun --bind-to core -np 2 $BIN matrix --json"
    "np2 --map-by slot:PE=1|mpirun --map-by slot:PE=1 -np 2 $BIN matrix --json"
    "np1 --threads 2 default|mpirun -np 1 $BIN matrix --threads 2 --json"
    "np1 --threads 2 --bind-to none|mpirun --bind-to none -np 1 $BIN matrix --threads 2 --json"
    "no launcher, 2 threads|$BIN matrix --threads 2 --json"
    "kernels|$KERNELS --quick"
)
if [ -n "$BEFORE" ]; then
    VARIANTS+=(
        "before: np2 default|mpirun -np 2 $BEFORE matrix --json"
        "before: np2 --bind-to none|mpirun --bind-to none -np 2 $BEFORE matrix --json"
        "before: np1 --threads 2 default|mpirun -np 1 $BEFORE matrix --threads 2 --json"
        "before: no launcher, 2 threads|$BEFORE matrix --threads 2 --json"
    )
fi
for round in $(seq 1 "$RUNS"); do
    for i in $(seq 0 $((${#VARIANTS[@]} - 1)) | shuf --random-source=<(yes "$round")); do
        v=${VARIANTS[$i]}
        # shellcheck disable=SC2086
        run "${v%%|*}" ${v#*|}
    done
done

"$PY" - "$RAW" "$RUNS" <<'PY'
import json, statistics, sys
med = statistics.median
rows = {}
for line in open(sys.argv[1]):
    label, out = line.rstrip("\n").split("|", 1)
    rows.setdefault(label, []).append(out)
rates = {}
for out in rows.pop("kernels"):
    for line in out.split(";"):
        f = line.strip().split(",")
        if len(f) == 6 and f[0] in ("gemm", "normal", "normal-fresh", "add", "copy"):
            rates.setdefault((f[0], int(f[1]), int(f[2])), []).append(float(f[4]))
k = {key: med(v) for key, v in rates.items()}
gemm = {t: k[("gemm", 1000, t)] for t in (1, 2) if ("gemm", 1000, t) in k}
normal = {t: v for (name, _, t), v in k.items() if name == "normal"}
fresh = {t: v for (name, _, t), v in k.items() if name == "normal-fresh"}
copy = [v for (name, _, _), v in k.items() if name == "copy"]
print(f"# benches/placement.sh {sys.argv[2]}: classic matrix (4 x 1000^2), medians of {sys.argv[2]} alternating runs")
print(f"# kernels: GEMM n=1000 {gemm.get(1, 0):.1f} GFLOP/s on 1 thread, {gemm.get(2, 0):.1f} on 2; "
      f"normals {normal.get(1, 0):.1f} / {normal.get(2, 0):.1f} Mvalues/s (a pair into fresh memory "
      f"{fresh.get(1, 0):.1f} / {fresh.get(2, 0):.1f}); 8 MB copy {copy[0] if copy else 0:.1f} GB/s")
print()
print("| launch | total in program s | generation Mvalues/s per rank (x kernel) | products GFLOP/s (x kernel, same workers) | reduction ms |")
print("|---|---|---|---|---|")
totals = {}
products = {}
ORDER = ["np2 default", "np2 --bind-to none", "np2 --bind-to core", "np2 --map-by slot:PE=1",
         "np1 --threads 2 default", "np1 --threads 2 --bind-to none", "no launcher, 2 threads"]
def place(label):
    base = label.removeprefix("before: ")
    return (label != base, ORDER.index(base) if base in ORDER else len(ORDER), label)
for label, outs in sorted(rows.items(), key=lambda kv: place(kv[0])):
    d = [json.loads(o) for o in outs]
    ranks, threads = d[0]["ranks"], d[0]["threads_per_rank"]
    n, count = d[0]["size"], d[0]["count"]
    total = med(x["timings_s"]["total"] for x in d)
    gen_rate = med(count / ranks * n * n / x["timings_s"]["generate"] / 1e6 for x in d)
    gf = med(x["multiply_gflops"] for x in d)
    red = med(x["timings_s"]["reduce"] for x in d) * 1e3
    workers = ranks * threads
    kg = gemm.get(min(workers, 2), 0)
    # The kernels at the job's number of workers, per rank (both ranks of np 2 draw at once).
    kn = normal.get(min(workers, 2), 0) / ranks
    totals[label], products[label] = total, gf
    print(f"| `{label}` ({ranks} x {threads}) | {total:.4f} | {gen_rate:.1f} ({gen_rate / kn if kn else 0:.2f}) "
          f"| {gf:.1f} ({gf / kg if kg else 0:.2f}) | {red:.1f} |")
explicit = [l for l in totals if l.startswith("np2 --")]
best = min(explicit, key=lambda l: totals[l])
print()
print(f"default launch / best explicit placement at np 2 ({best}): {totals['np2 default'] / totals[best]:.3f}")
one = products.get("np1 --threads 2 default", 0)
print(f"products of mpirun -np 1 --threads 2 / kernel 2-thread GEMM: {one / gemm[2] if gemm.get(2) else 0:.3f}")
PY
