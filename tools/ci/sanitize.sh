#!/usr/bin/env bash
# The whole suite against the extension built with AddressSanitizer and
# UndefinedBehaviorSanitizer (gcc): any out-of-bounds access, use after free or
# undefined behaviour aborts the test run. The interpreter is not instrumented, so
# libasan is preloaded, Python's allocator is plain malloc (so objects are guarded
# too), and leak detection is off (CPython keeps memory until exit by design). The
# sanitized build replaces the in-place one while the suite runs and is rebuilt after.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}

asan=$(gcc -print-file-name=libasan.so)
if [ ! -e "$asan" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libasan8 libubsan1 >/dev/null
    asan=$(gcc -print-file-name=libasan.so)
fi
restore() { rm -rf build/sanitize; "$PY" setup.py -q build_ext --inplace --force; }
trap restore EXIT

CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1" \
    "$PY" setup.py -q build_ext --inplace --force --build-temp build/sanitize
export LD_PRELOAD=$asan
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export PYTHONMALLOC=malloc
export PYTHONPATH=$PWD/src   # the suite tests the perfsys it imports: this build
"$PY" -c "import perfsys._perfsys as m; print('sanitized build:', m.__file__)"
"$PY" -m pytest -q -p no:cacheprovider
