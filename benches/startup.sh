#!/usr/bin/env bash
# The start-up floor: a 2-rank `spmdkit info` under mpirun against a C program that only calls
# MPI_Init, a barrier and MPI_Finalize (benches/mpi_floor.c, built here with mpicc; with
# OMPI_MCA_pml=ob1, which spmdkit sets for itself on one node, and with Open MPI's default),
# the same C program linked with Debian's shared HDF5, and `mpirun /bin/true`; with OLD_BINARY
# (another build of spmdkit) also `OLD_BINARY info`. One run of RUNS rounds, each round in an
# order of its own. Prints medians (whole process, wall clock) and ratios to the C floor.
# Usage: benches/startup.sh [RUNS] [NP] [OLD_BINARY]   (build first: scripts/demo.sh, or
#   source scripts/static-hdf5.sh; cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-21}
NP=${2:-2}
OLD=${3:-}
source benches/mpi-env.sh
unset OMPI_MCA_mpi_yield_when_idle
FLOOR=target/release/mpi-floor
mpicc -O2 -o "$FLOOR" benches/mpi_floor.c
# The same program linked with Debian's shared HDF5, which pulls in curl, TLS and Kerberos
# libraries: about 30 more shared objects to load and relocate at every start.
FLOOR_H5=target/release/mpi-floor-h5
mpicc -O2 -o "$FLOOR_H5" benches/mpi_floor.c -L/usr/lib/x86_64-linux-gnu/hdf5/serial \
    -Wl,--no-as-needed -lhdf5
echo "# shared objects loaded: spmdkit $(ldd "$BIN" | wc -l), C floor $(ldd "$FLOOR" | wc -l), C with shared HDF5 $(ldd "$FLOOR_H5" | wc -l)${OLD:+, OLD $(ldd "$OLD" | wc -l)}"
# MPI_Init and MPI_Finalize alone, as the C program measures them.
FLOOR_TIMES=1 OMPI_MCA_pml=ob1 mpirun -x FLOOR_TIMES -np "$NP" "$FLOOR" 2>&1 | sed 's/^/# C floor, rank 0: /'
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT

LABELS=("mpirun /bin/true" "C: MPI_Init + barrier + MPI_Finalize"
        "C, Open MPI's default pml (UCX probed first)" "spmdkit info"
        "spmdkit info --hang-timeout 0" "C linked with Debian's shared HDF5")
COMMANDS=("mpirun -np $NP /bin/true" "env OMPI_MCA_pml=ob1 mpirun -np $NP $FLOOR"
          "mpirun -np $NP $FLOOR" "mpirun -np $NP $BIN info"
          "mpirun -np $NP $BIN info --hang-timeout 0" "env OMPI_MCA_pml=ob1 mpirun -np $NP $FLOOR_H5")
if [ -n "$OLD" ]; then
    LABELS+=("OLD: spmdkit info")
    COMMANDS+=("mpirun -np $NP $OLD info")
fi

for round in $(seq 1 "$RUNS"); do
    for i in $(seq 0 $((${#LABELS[@]} - 1)) | shuf --random-source=<(yes "$round")); do
        start=$(date +%s%N)
        # shellcheck disable=SC2086 # the commands are word lists
        ${COMMANDS[$i]} > /dev/null
        end=$(date +%s%N)
        echo "${LABELS[$i]},$(( end - start ))" >> "$RAW"
    done
done

/usr/bin/python3 - "$RAW" "$RUNS" "$NP" "${LABELS[@]}" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, ns = line.rstrip("\n").rsplit(",", 1)
    rows.setdefault(label, []).append(int(ns) / 1e9)
floor = statistics.median(rows["C: MPI_Init + barrier + MPI_Finalize"])
print(f"# benches/startup.sh {sys.argv[2]} {sys.argv[3]}: medians of {sys.argv[2]} rounds in shuffled order, mpirun -np {sys.argv[3]}")
print("| program | whole process s | / C floor |")
print("|---|---|---|")
for label in sys.argv[4:]:
    m = statistics.median(rows[label])
    print(f"| {label} | {m:.3f} | {m / floor:.3f} |")
PY
