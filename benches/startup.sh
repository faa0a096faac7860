#!/usr/bin/env bash
# The start-up floor: a 2-rank `spmdkit info` under mpirun against a C program that only calls
# MPI_Init, a barrier and MPI_Finalize (benches/mpi_floor.c, built here with mpicc; with
# OMPI_MCA_pml=ob1, which spmdkit sets for itself on one node, and with Open MPI's default),
# the same C program linked with HDF5 as spmdkit is, and `mpirun /bin/true`, one alternating run
# of RUNS rounds. Prints medians (whole process, wall clock) and ratios to the C floor.
# Usage: benches/startup.sh [RUNS] [NP]   (build first: cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-21}
NP=${2:-2}
source benches/mpi-env.sh
unset OMPI_MCA_mpi_yield_when_idle
FLOOR=target/release/mpi-floor
mpicc -O2 -o "$FLOOR" benches/mpi_floor.c
# The same program, also linked with the HDF5 spmdkit uses (Debian's pulls in curl, TLS and
# Kerberos libraries: about 30 more shared objects to load and relocate at every start).
FLOOR_H5=target/release/mpi-floor-h5
mpicc -O2 -o "$FLOOR_H5" benches/mpi_floor.c -L/usr/lib/x86_64-linux-gnu/hdf5/openmpi \
    -Wl,--no-as-needed -lhdf5
# MPI_Init and MPI_Finalize alone, as the C program measures them.
FLOOR_TIMES=1 OMPI_MCA_pml=ob1 mpirun -x FLOOR_TIMES -np "$NP" "$FLOOR" 2>&1 | sed 's/^/# C floor, rank 0: /' 
RAW=$(mktemp)
trap 'rm -f "$RAW"' EXIT

timed() { # label, command...
    local label=$1; shift
    local start end
    start=$(date +%s%N)
    "$@" > /dev/null
    end=$(date +%s%N)
    echo "$label,$(( end - start ))" >> "$RAW"
}

for _ in $(seq 1 "$RUNS"); do
    timed "mpirun /bin/true" mpirun -np "$NP" /bin/true
    timed "C: MPI_Init + barrier + MPI_Finalize" env OMPI_MCA_pml=ob1 mpirun -np "$NP" "$FLOOR"
    timed "C, Open MPI's default pml (UCX probed first)" mpirun -np "$NP" "$FLOOR"
    timed "spmdkit info" mpirun -np "$NP" "$BIN" info
    timed "spmdkit info --hang-timeout 0" mpirun -np "$NP" "$BIN" info --hang-timeout 0
    timed "C linked with HDF5 (as spmdkit is)" env OMPI_MCA_pml=ob1 mpirun -np "$NP" "$FLOOR_H5"
done

/usr/bin/python3 - "$RAW" "$RUNS" "$NP" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, ns = line.rstrip("\n").rsplit(",", 1)
    rows.setdefault(label, []).append(int(ns) / 1e9)
floor = statistics.median(rows["C: MPI_Init + barrier + MPI_Finalize"])
print(f"# benches/startup.sh {sys.argv[2]} {sys.argv[3]}: medians of {sys.argv[2]} alternating runs, mpirun -np {sys.argv[3]}")
print("| program | whole process s | / C floor |")
print("|---|---|---|")
for label, t in rows.items():
    m = statistics.median(t)
    print(f"| {label} | {m:.3f} | {m / floor:.3f} |")
PY
