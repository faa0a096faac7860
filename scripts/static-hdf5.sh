# Sourced by setup.sh and install.sh: links Debian/Ubuntu's static serial HDF5 into spmdkit's
# binaries instead of the shared library. The shared one pulls in curl, TLS, Kerberos and LDAP
# libraries (about 30 shared objects) that every rank loads and relocates at every start, for
# HDF5 drivers spmdkit never uses; the static archive brings only the code spmdkit calls.
#
# How: HDF5_DIR (read by the hdf5 crate's build script) is set to target/hdf5-static, made here:
#   include/         -> the serial HDF5 headers
#   lib/libhdf5.so   a linker script: the static archive and the libraries its build names
#                    (libhdf5.settings); the linker keeps only those used (--as-needed)
#   bin/libhdf5.so   -> the shared library, which the build script loads only to check that
#                    its version matches the headers
# Nothing is changed when HDF5_DIR is already set (a cluster's module, your own build) or when
# the static archive is not installed (libhdf5-dev ships it): the shared library is then used,
# as with a plain `cargo build`.
static_hdf5() {
    [ -z "${HDF5_DIR:-}" ] || return 0
    local arch serial inc dir libs
    arch=$(gcc -print-multiarch 2>/dev/null || true)
    serial=/usr/lib/${arch:-x86_64-linux-gnu}/hdf5/serial
    inc=/usr/include/hdf5/serial
    [ -f "$serial/libhdf5.a" ] && [ -f "$serial/libhdf5.so" ] && [ -f "$inc/H5pubconf.h" ] || return 0
    libs=$(sed -n 's/^ *Extra libraries: *//p' "$serial/libhdf5.settings" 2>/dev/null || true)
    dir=$PWD/target/hdf5-static
    mkdir -p "$dir/lib" "$dir/bin"
    ln -sfn "$inc" "$dir/include"
    ln -sfn "$serial/libhdf5.so" "$dir/bin/libhdf5.so"
    printf '/* made by scripts/static-hdf5.sh: link HDF5 statically */\nINPUT ( %s %s )\n' \
        "$serial/libhdf5.a" "${libs:--lsz -lz -ldl -lm}" > "$dir/lib/libhdf5.so.new"
    mv -f "$dir/lib/libhdf5.so.new" "$dir/lib/libhdf5.so"
    export HDF5_DIR=$dir
}
static_hdf5
