#!/usr/bin/env bash
# The whole test suite: installs what is missing, then formatting, lints, docs, unit tests and
# the integration tests that launch the real binary under mpirun.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step() { echo; echo "==> $*"; }
step "cargo fmt --check";                  cargo fmt --check
step "cargo clippy -D warnings";           cargo clippy --all-targets -- -D warnings
step "cargo doc (warnings are errors)";    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps
step "cargo test (unit + mpirun tests)";   cargo test --release
step "products with the system BLAS (--features blas)"
cargo test --release --features blas --lib matrix::
step "benchmarks build";                   cargo bench --no-run
echo; echo "all checks passed"
