#!/usr/bin/env bash
# The C file compiled with clang, -Wall -Wextra -Werror: for this machine with the
# limited API (the abi3 wheel) and the full API (free-threaded and debug builds), and
# for aarch64 and i386 through `zig cc` (clang with its own libc headers for every
# target, so no sysroot is needed), each object then checked for calls into libatomic,
# which the extension does not link.
set -euo pipefail
cd "$(dirname "$0")/../.."

PY=${PYTHON:-python3}
command -v clang >/dev/null 2>&1 || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang llvm >/dev/null
}
"$PY" -c "import ziglang" 2>/dev/null || "$PY" -m pip install -q ziglang==0.17.0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
inc=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
flags=(-std=gnu11 -Wall -Wextra -Werror -O2 -fPIC -c)

# The Python headers for a 32-bit target: this interpreter's, with the sizes of ILP32.
cp -r "$inc" "$work/inc32"
sed -i -E \
    -e 's/^#define (SIZEOF_(LONG|SIZE_T|TIME_T|UINTPTR_T|VOID_P|PTHREAD_T)) 8$/#define \1 4/' \
    -e 's/^#define (ALIGNOF_(LONG|SIZE_T)) 8$/#define \1 4/' \
    -e 's/^#define SIZEOF_LONG_DOUBLE 16$/#define SIZEOF_LONG_DOUBLE 12/' \
    "$work/inc32/pyconfig.h"

build() {  # build NAME INCLUDE COMPILER...: compile both APIs, then look for libatomic calls
    local name=$1 include=$2
    shift 2
    local apis=(limited full)
    # a free-threaded interpreter's headers have no limited API
    [ "$("$PY" -c "import sysconfig; print(sysconfig.get_config_var('Py_GIL_DISABLED') or 0)")" = 1 ] &&
        apis=(full)
    for api in "${apis[@]}"; do
        local def=()
        [ "$api" = limited ] && def=(-DPy_LIMITED_API=0x030B0000)
        echo "--- $name, $api API: $*"
        "$@" "${flags[@]}" -I"$include" "${def[@]}" src/_perfsys.c -o "$work/$name-$api.o"
        if llvm-nm -u "$work/$name-$api.o" | grep -E '__atomic_|__sync_'; then
            echo "$name ($api API) calls libatomic, which the extension does not link" >&2
            exit 1
        fi
    done
}

build host "$inc" clang
build aarch64 "$inc" "$PY" -m ziglang cc --target=aarch64-linux-gnu
build i386 "$work/inc32" "$PY" -m ziglang cc --target=x86-linux-gnu
echo "clang: every build compiled without a warning"
