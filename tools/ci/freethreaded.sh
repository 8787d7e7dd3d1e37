#!/usr/bin/env bash
# The free-threaded interpreter: CPython 3.14t from ../shared/python314t (its README
# says where it comes from), unpacked once into a cache folder, with a venv of the test
# requirements. Builds the full-API extension in place, checks that importing perfsys
# leaves the GIL disabled, runs the whole suite, the thread stress tests with more
# rounds, and the suite again under pytest-run-parallel with 4 threads per test.
set -euo pipefail
cd "$(dirname "$0")/../.."

cache=${PERFSYS_CACHE:-$HOME/.cache/perfsys}
tarball=$(ls "${PERFSYS_SHARED:-../shared}"/python314t/py314t-*.tar.zst | head -n 1)
stamp=$(basename "$tarball")
py=$cache/py314t/bin/python3.14t
venv=$cache/venv314t

if [ ! -x "$py" ] || [ "$(cat "$cache/py314t/.from" 2>/dev/null)" != "$stamp" ]; then
    command -v zstd >/dev/null 2>&1 || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zstd >/dev/null
    }
    rm -rf "$cache/py314t" "$venv"
    mkdir -p "$cache/py314t"
    zstd -dc "$tarball" | tar -x -C "$cache/py314t" --strip-components=3
    echo "$stamp" > "$cache/py314t/.from"
fi
"$py" -c "import sys; assert not sys._is_gil_enabled(), 'not a free-threaded build'"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check "setuptools>=77" wheel \
    "pytest>=8" "hypothesis>=6.100" pytest-run-parallel ziglang==0.17.0 libclang==18.1.1
PY=$venv/bin/python

"$PY" setup.py -q build_ext --inplace
export PYTHONPATH=$PWD/src   # the suite tests the perfsys it imports: this build
# A module that needs the GIL makes the interpreter turn it on at import (with a
# RuntimeWarning): error on the warning, and check the switch itself.
"$PY" -W error::RuntimeWarning -c "
import sys, perfsys, perfsys._perfsys
assert not sys._is_gil_enabled(), 'importing perfsys enabled the GIL'
print('perfsys', perfsys.__version__, 'on', sys.version.split()[0], '- GIL disabled')"

echo "--- the whole suite"
"$PY" -m pytest -q -p no:cacheprovider
echo "--- the thread stress tests, more rounds"
PERFSYS_STRESS_ROUNDS=${PERFSYS_STRESS_ROUNDS:-20} "$PY" -m pytest -q -p no:cacheprovider tests/test_stress.py
echo "--- the suite under pytest-run-parallel, 4 threads per test"
"$PY" -m pytest -q -p no:cacheprovider --parallel-threads=4 tests
