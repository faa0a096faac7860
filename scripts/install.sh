#!/usr/bin/env bash
# Installs spmdkit into a prefix, the way software is installed on a cluster's shared filesystem:
#
#   scripts/install.sh --prefix /apps/spmdkit          then: module use /apps/spmdkit/modulefiles
#                                                             module load spmdkit
#
# PREFIX/bin                              spmdkit, spmdkit-bench
# PREFIX/share/man/man1                   spmdkit.1, spmdkit-<command>.1, spmdkit-bench*.1
# PREFIX/share/bash-completion/completions, share/zsh/site-functions, share/fish/vendor_completions.d
# PREFIX/share/spmdkit/slurm              the batch templates, set to run PREFIX/bin's binaries
# PREFIX/modulefiles/spmdkit/<version>    a Tcl modulefile (read by Lmod and Environment Modules):
#                                         PATH, MANPATH, XDG_DATA_DIRS (bash completion),
#                                         SPMDKIT_SLURM_TEMPLATES
#
# It builds the release binaries first (cargo build --release --locked; the build needs the MPI
# and HDF5 development files, which scripts/setup.sh installs on Debian/Ubuntu), unless --from DIR
# names a directory that already holds them. Running it again upgrades in place: every file is
# replaced whole (a running job keeps its old binary), and modulefiles of other versions are
# removed, since they would point at the new binaries.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; echo "usage: $0 --prefix PREFIX [--from DIR]"; }
prefix=""; from=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
        --prefix=*) prefix=${1#--prefix=}; shift ;;
        --from) from=${2:?--from needs a directory}; shift 2 ;;
        --from=*) from=${1#--from=}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
[ -n "$prefix" ] || { echo "install.sh: --prefix PREFIX is required" >&2; usage >&2; exit 2; }
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

if [ -z "$from" ]; then
    source scripts/static-hdf5.sh
    cargo build --release --locked --bins
    from=target/release
fi
for b in spmdkit spmdkit-bench; do
    [ -x "$from/$b" ] || { echo "install.sh: '$from/$b' is not an executable" >&2; exit 2; }
done
version=$("$from/spmdkit" --version | awk '{print $2}')

# Each file is written next to its place and renamed over it: never a half-written file, and a
# binary that is running is not modified under it.
put() { # put MODE SOURCE DEST
    local tmp
    tmp=$(mktemp "$(dirname "$3")/.install.XXXXXX")
    cat "$2" > "$tmp"
    chmod "$1" "$tmp"
    mv -f "$tmp" "$3"
}
gen() { # gen BINARY KIND DEST
    local tmp
    tmp=$(mktemp "$(dirname "$3")/.install.XXXXXX")
    "$from/$1" --generate "$2" > "$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$3"
}

man1=$prefix/share/man/man1
bash_dir=$prefix/share/bash-completion/completions
zsh_dir=$prefix/share/zsh/site-functions
fish_dir=$prefix/share/fish/vendor_completions.d
slurm_dir=$prefix/share/spmdkit/slurm
module_dir=$prefix/modulefiles/spmdkit
mkdir -p "$prefix/bin" "$man1" "$bash_dir" "$zsh_dir" "$fish_dir" "$slurm_dir" "$module_dir"

for b in spmdkit spmdkit-bench; do
    put 755 "$from/$b" "$prefix/bin/$b"
    gen "$b" man "$man1/$b.1"
    for sub in $("$from/$b" --generate subcommands); do
        gen "$b" "man:$sub" "$man1/$b-$sub.1"
    done
    gen "$b" complete-bash "$bash_dir/$b"
    gen "$b" complete-zsh "$zsh_dir/_$b"
    gen "$b" complete-fish "$fish_dir/$b.fish"
done

# The templates run `spmdkit` from PATH unless SPMDKIT / SPMDKIT_BENCH say otherwise; installed,
# they default to this prefix's binaries (Slurm runs a copy of the script, so the path is absolute).
for t in slurm/*.sbatch; do
    tmp=$(mktemp "$slurm_dir/.install.XXXXXX")
    sed -e "s|\${SPMDKIT:-spmdkit}|\${SPMDKIT:-$prefix/bin/spmdkit}|g" \
        -e "s|\${SPMDKIT_BENCH:-spmdkit-bench}|\${SPMDKIT_BENCH:-$prefix/bin/spmdkit-bench}|g" \
        "$t" > "$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$slurm_dir/$(basename "$t")"
done

for old in "$module_dir"/*; do
    [ "$old" = "$module_dir/$version" ] || rm -f "$old"
done
tmp=$(mktemp "$module_dir/.install.XXXXXX")
cat > "$tmp" <<MODULE
#%Module1.0
## spmdkit $version, installed by scripts/install.sh
proc ModulesHelp { } {
    puts stderr "spmdkit $version: SPMD compute on MPI (sleep, matrix, run, info; spmdkit-bench)."
    puts stderr "man spmdkit; batch templates in \$::env(SPMDKIT_SLURM_TEMPLATES)"
}
module-whatis "spmdkit $version: SPMD compute on MPI, with a task farm and HDF5 output"
set root $prefix
prepend-path PATH \$root/bin
prepend-path MANPATH \$root/share/man
# An empty element keeps man's default pages (without it, a MANPATH that was unset would hide them).
if { ![info exists ::env(MANPATH)] || \$::env(MANPATH) eq "\$root/share/man" } {
    append-path MANPATH ""
}
# Unset, XDG_DATA_DIRS means /usr/local/share:/usr/share: keep them.
if { ![info exists ::env(XDG_DATA_DIRS)] } {
    append-path XDG_DATA_DIRS /usr/local/share:/usr/share
}
prepend-path XDG_DATA_DIRS \$root/share
setenv SPMDKIT_SLURM_TEMPLATES \$root/share/spmdkit/slurm
MODULE
chmod 644 "$tmp"
mv -f "$tmp" "$module_dir/$version"

echo "installed spmdkit $version into $prefix"
echo "  module use $prefix/modulefiles && module load spmdkit"
