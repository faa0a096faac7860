#!/usr/bin/env bash
# Installs what spmdkit needs on Debian/Ubuntu when it is missing, and makes cargo available.
# Sourced by demo.sh and test.sh. Uses sudo for apt only when not run as root.
set -euo pipefail

SPMDKIT_PACKAGES=(build-essential pkg-config libclang-dev libopenmpi-dev openmpi-bin
                  libhdf5-dev libhdf5-openmpi-dev hdf5-tools libopenblas-dev python3 python3-h5py python3-numpy
                  iproute2 util-linux bsdutils slurm-wlm munge mpich libmpich-dev
                  lmod man-db python3-pandas curl ca-certificates)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_missing_packages() {
    local missing=()
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing ${missing[*]}" >&2
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
    fi
}

ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        echo "setup: installing the Rust toolchain with rustup" >&2
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt,clippy >&2
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if command -v rustup >/dev/null 2>&1; then
        cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt >&2
        cargo clippy --version >/dev/null 2>&1 || rustup component add clippy >&2
    fi
}

# Open MPI refuses to run as root unless told twice; oversubscribed ranks must yield the CPU.
mpi_environment() {
    if [ "$(id -u)" -eq 0 ]; then
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    fi
    export OMPI_MCA_mpi_yield_when_idle=1
}

install_missing_packages "${SPMDKIT_PACKAGES[@]}"
ensure_cargo
mpi_environment
source scripts/static-hdf5.sh
