#!/usr/bin/env bash
# The whole test suite: installs what is missing, then formatting, lints, docs, unit tests and
# the integration tests that launch the real binary under mpirun (1-16 ranks), MPICH's mpiexec,
# across simulated hosts (network namespaces) and as Slurm batch jobs on a single-node and a
# three-node test cluster that the tests start and stop themselves. Run it as root (the
# namespaces and Slurm daemons need it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The tests stop what they start, also when they fail; this is for a test run that was killed.
cleanup() {
    if [ "$(id -u)" -eq 0 ]; then
        slurm/testcluster-nodes.sh down >/dev/null 2>&1 || true
        tests/multihost/testhosts.sh down >/dev/null 2>&1 || true
    fi
}
trap cleanup EXIT

step() { echo; echo "==> $*"; }
step "cargo fmt --check";                  cargo fmt --all --check
step "cargo clippy -D warnings (every crate; the engine also without features)"
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p spmdkit --all-targets --no-default-features -- -D warnings
step "cargo doc (warnings are errors; the engine also without features)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps
RUSTDOCFLAGS="-D warnings" cargo doc -p spmdkit --no-deps --no-default-features
step "spmdkit built against MPICH (target-mpich/)"
MPICC=mpicc.mpich HDF5_DIR=${HDF5_DIR:-/usr/lib/x86_64-linux-gnu/hdf5/serial} CARGO_TARGET_DIR=target-mpich \
    cargo build --release --bins
export SPMDKIT_MPICH_BIN=$PWD/target-mpich/release/spmdkit
step "HDF5 linked statically (scripts/static-hdf5.sh): no shared HDF5 loaded at start"
cargo build --release --bins
if [ "${HDF5_DIR:-}" = "$PWD/target/hdf5-static" ]; then
    for bin in target/release/spmdkit target/release/spmdkit-bench "$SPMDKIT_MPICH_BIN"; do
        loaded=$(ldd "$bin" | grep -E 'libhdf5|libcurl|libgnutls|libkrb5' || true)
        if [ -n "$loaded" ]; then echo "$bin loads: $loaded"; exit 1; fi
        echo "$bin: $(ldd "$bin" | wc -l) shared objects, none of HDF5's"
    done
elif [ "${CI:-}" = true ]; then
    echo "HDF5_DIR=${HDF5_DIR:-} is not the static HDF5 of scripts/static-hdf5.sh"; exit 1
else
    echo "skipped: HDF5 is linked as found (HDF5_DIR=${HDF5_DIR:-unset})"
fi
step "cargo test (unit tests; mpirun, MPICH, multi-host and Slurm tests)"
cargo test --release --workspace
step "products with the system BLAS (--features blas)"
cargo test --release -p spmdkit-apps --features blas --lib matrix::
step "the engine crate: no clap, plotters, indicatif or anyhow (no HDF5 either without its feature)"
for features in "" "--features hdf5"; do
    # shellcheck disable=SC2086
    forbidden=$(cargo tree -p spmdkit $features -e normal --prefix none \
        | grep -E '^(clap|plotters|indicatif|anyhow|spmdkit-apps|spmdkit-bench) ' || true)
    if [ -n "$forbidden" ]; then echo "spmdkit $features pulls in: $forbidden"; exit 1; fi
done
if cargo tree -p spmdkit -e normal --prefix none | grep -q '^hdf5'; then
    echo "spmdkit without features pulls in HDF5"; exit 1
fi
# The same target directory: cargo keeps each feature set's artifacts apart and reuses the rest.
cargo build --release -p spmdkit --examples
cp Cargo.lock tests/user-crate/Cargo.lock
CARGO_TARGET_DIR=$PWD/target cargo build --release --manifest-path tests/user-crate/Cargo.toml
for np in 1 3; do
    out=$(timeout 60 mpirun --oversubscribe --bind-to none -np $np target/release/spmdkit-user)
    echo "$out"
    [ "$out" = "sum of squares 328350 on $np ranks" ] || { echo "unexpected output"; exit 1; }
done
step "benchmarks build";                   cargo bench --no-run
echo; echo "all checks passed"
