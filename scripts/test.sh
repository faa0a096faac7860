#!/usr/bin/env bash
# The whole test suite: installs what is missing, then formatting, lints, docs, unit tests and
# the integration tests that launch the real binary under mpirun (1-16 ranks), MPICH's mpiexec,
# across simulated hosts (network namespaces) and as Slurm batch jobs on a test cluster that the
# tests start and stop themselves. Run it as root (the namespaces and Slurm daemons need it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step() { echo; echo "==> $*"; }
step "cargo fmt --check";                  cargo fmt --check
step "cargo clippy -D warnings";           cargo clippy --all-targets -- -D warnings
step "cargo doc (warnings are errors)";    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
step "spmdkit built against MPICH (target-mpich/)"
MPICC=mpicc.mpich HDF5_DIR=/usr/lib/x86_64-linux-gnu/hdf5/serial CARGO_TARGET_DIR=target-mpich \
    cargo build --release --bins
export SPMDKIT_MPICH_BIN=$PWD/target-mpich/release/spmdkit
step "cargo test (unit tests; mpirun, MPICH, multi-host and Slurm tests)"
cargo test --release
step "products with the system BLAS (--features blas)"
cargo test --release --features blas --lib matrix::
step "benchmarks build";                   cargo bench --no-run
echo; echo "all checks passed"
