#!/usr/bin/env bash
# Sets a fresh Debian machine up to build, run and test perfsys from this checkout:
# the system packages the tests use (perf, a C compiler), tracefs mounted, the Python
# test and regeneration requirements, and the extension built in place under src/.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    need=()
    command -v perf >/dev/null 2>&1 || need+=(linux-perf)
    command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
    if [ ${#need[@]} -gt 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
fi

# Tracepoints live in tracefs; mount it where the kernel documents it.
if [ ! -d /sys/kernel/tracing/events ] && [ "$(id -u)" = 0 ]; then
    mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi

"$PY" -m pip install -q --disable-pip-version-check --upgrade "setuptools>=77" wheel
"$PY" -m pip install -q --disable-pip-version-check -e '.[test,regen,lint]'
# The editable install builds the extension and makes `import perfsys` (so the test
# suite, from any directory) find the sources; this puts the extension beside them
# too, so the tree also works as PYTHONPATH=src, without the install.
"$PY" setup.py -q build_ext --inplace
