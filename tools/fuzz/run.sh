#!/usr/bin/env bash
# Fuzz one target with atheris: tools/fuzz/run.sh decoder|ring [libFuzzer options...]
# e.g. `tools/fuzz/run.sh ring -max_total_time=60`. The extension is rebuilt under
# build/fuzz with clang's coverage instrumentation (-fsanitize=fuzzer-no-link), so the
# fuzzer is guided by the C code's branches, and with undefined behaviour trapping;
# the Python side is instrumented by atheris. A crash leaves its input in build/fuzz/.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${1:?usage: tools/fuzz/run.sh decoder|ring [libFuzzer options...]}
shift
PY=${PYTHON:-python3}
out=$root/build/fuzz
lib=$out/lib

"$PY" -c "import atheris" 2>/dev/null || "$PY" -m pip install -q atheris
if [ ! -e "$lib/.built" ] || [ "$root/src/_perfsys.c" -nt "$lib/.built" ]; then
    rm -rf "$lib" "$out/tmp"
    (cd "$root" && CC=clang \
        CFLAGS="-g -O1 -fsanitize=fuzzer-no-link,undefined -fsanitize-trap=undefined" \
        "$PY" setup.py -q build_ext --build-lib "$lib" --build-temp "$out/tmp")
    cp "$root"/src/perfsys/*.py "$lib/perfsys/"
    touch "$lib/.built"
fi
mkdir -p "$out/corpus-$target"
cd "$out"
PYTHONPATH="$lib:$root/tools/fuzz" exec "$PY" "$root/tools/fuzz/fuzz_$target.py" \
    -artifact_prefix="$out/$target-" "$@" "$out/corpus-$target"
