#!/usr/bin/env bash
# The classic matrix job (4 x 1000^2, two products, one sum) with spmdkit on 2 ranks against a
# sequential NumPy script, alternating the tools run by run; then a compute-heavy run (32 x 2000^2)
# (2 ranks x 1 thread and 1 rank x 2 threads) against the local kernel's own rate, alternating. Prints medians and ratios.
# Usage: benches/matrix-classic.sh [RUNS]   (build first: cargo build --release)
# With BASELINE=/path/to/another/spmdkit, that binary's classic job runs right after this one's in
# every round, and the ratios of their medians are printed (current / baseline).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
PY=/usr/bin/python3
source benches/mpi-env.sh
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT

timed() { # label, command...: prints "label,whole_s,<stdout json>"
    local label=$1; shift
    local start end out
    start=$(date +%s%N); out=$("$@"); end=$(date +%s%N)
    echo "$label|$(( end - start ))|${out//$'\n'/;}" >> "$RAW"
}

for _ in $(seq 1 "$RUNS"); do
    timed spmdkit mpirun -np 2 "$BIN" matrix --json
    if [ -n "${BASELINE:-}" ]; then timed baseline mpirun -np 2 "$BASELINE" matrix --json; fi
    timed numpy "$PY" benches/classic_numpy.py
    # OpenBLAS's Skylake-X kernels need AVX-512: an AMD EPYC without it dies of SIGILL.
    if grep -qw avx512f /proc/cpuinfo; then
        timed numpy-skylakex env OPENBLAS_CORETYPE=SkylakeX "$PY" benches/classic_numpy.py
    fi
    timed heavy mpirun -np 2 "$BIN" matrix --count 32 --size 2000 --threads 1 --json
    timed heavy1x2 "$BIN" matrix --count 32 --size 2000 --threads 2 --json
    timed kernel cargo bench -q --bench kernels -- --gemm-only 2000
done

"$PY" - "$RAW" "$RUNS" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, whole_ns, out = line.rstrip("\n").split("|", 2)
    rows.setdefault(label, []).append((int(whole_ns) / 1e9, out))
med = statistics.median
def inprog(label):
    vals = []
    for _, out in rows[label]:
        d = json.loads(out)
        vals.append(d["timings_s"]["total"] if "timings_s" in d else d["in_program_s"])
    return med(vals)
print(f"classic matrix job, {sys.argv[2]} runs each, alternating; medians")
print(f"{'tool':<34} {'in program':>11} {'whole process':>14}")
numpys = [l for l in ["numpy", "numpy-skylakex"] if l in rows]
for label, name in [("spmdkit", "spmdkit, mpirun -np 2"), ("numpy", "NumPy + OpenBLAS as shipped"),
                    ("numpy-skylakex", "NumPy + OpenBLAS, CORETYPE=SkylakeX")]:
    if label in rows:
        print(f"{name:<34} {inprog(label):>10.3f}s {med(w for w, _ in rows[label]):>13.3f}s")
s_in, s_whole = inprog("spmdkit"), med(w for w, _ in rows["spmdkit"])
for label in numpys:
    print(f"spmdkit / {label}: in program {s_in / inprog(label):.2f}, whole process "
          f"{s_whole / med(w for w, _ in rows[label]):.2f}")
if "baseline" in rows:
    b_in, b_whole = inprog("baseline"), med(w for w, _ in rows["baseline"])
    print(f"{'the baseline binary, mpirun -np 2':<34} {b_in:>10.3f}s {b_whole:>13.3f}s")
    print(f"spmdkit / baseline: in program {s_in / b_in:.2f}, whole process {s_whole / b_whole:.2f}")
heavy = med(json.loads(o)["multiply_gflops"] for _, o in rows["heavy"])
heavy12 = med(json.loads(o)["multiply_gflops"] for _, o in rows["heavy1x2"])
kernel = []
for _, out in rows["kernel"]:
    for l in out.split(";"):
        f = l.split(",")
        if f[0] == "gemm" and f[1] == "2000" and f[2] == "2":
            kernel.append(float(f[4]))
k = med(kernel)
print(f"\ncompute-heavy run, 32 x 2000^2; the kernel alone at n = 2000 on 2 threads: {k:.1f} GFLOP/s")
print(f"  2 ranks x 1 thread: products at {heavy:.1f} GFLOP/s, ratio to the kernel {heavy / k:.2f}")
print(f"  1 rank x 2 threads: products at {heavy12:.1f} GFLOP/s, ratio to the kernel {heavy12 / k:.2f}")
PY
