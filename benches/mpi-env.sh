# Sourced by the benchmark scripts: the release binary must exist, and mpirun gets the variables
# it needs here (root's permission; ranks that yield the CPU while waiting on 2 shared cores).
BIN=target/release/spmdkit
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
export OMPI_MCA_mpi_yield_when_idle=1
# Cargo commands of the benchmarks link HDF5 as the scripts' builds do (statically where
# Debian's archive is installed), so that they do not rebuild the crate against the shared one.
source scripts/static-hdf5.sh
