#!/usr/bin/env bash
# Regenerates every generated file:
#   src/perfsys/constants.py, src/_perfsys_abi.h   from the Linux UAPI headers that the
#       pinned `ziglang` wheel ships, parsed with the pinned `libclang` wheel
#       (tools/gen_constants.py);
#   the record classes of src/perfsys/_perfsys.pyi  from src/_perfsys_records.h
#       (tools/gen_stubs.py, which needs nothing but Python).
#
#   tools/regenerate.sh            rewrite them in place
#   tools/regenerate.sh --check    write nothing; exit 1 with a diff if one is stale
#
# The pins live in one place, the `regen` extra of pyproject.toml. When the
# interpreter ($PYTHON, default python3) already has both at exactly those
# versions (CI pip-installs '.[regen]'), it is used as is; otherwise the pins
# are installed into a throw-away virtual environment, .regen/venv (or, where
# Python has no venv module, into .regen/site). Delete .regen/ at will.
# Set PERFSYS_REGEN_VENV=1 to ignore the interpreter's own packages.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}

"$PY" tools/gen_stubs.py "$@"

# The pinned requirements, e.g. "ziglang==0.17.0 libclang==18.1.1".
mapfile -t PINS < <("$PY" - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    extras = tomllib.load(f)["project"]["optional-dependencies"]
for req in extras["regen"]:
    print(req)
EOF
)

have_pins() {
    "$1" - "${PINS[@]}" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
for req in sys.argv[1:]:
    name, _, want = req.partition("==")
    try:
        if version(name) != want:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
EOF
}

if [ "${PERFSYS_REGEN_VENV:-0}" != 1 ] && have_pins "$PY"; then
    exec "$PY" tools/gen_constants.py "$@"
fi

if [ -d .regen/site ] && PYTHONPATH=.regen/site have_pins "$PY"; then
    PYTHONPATH=.regen/site exec "$PY" tools/gen_constants.py "$@"
fi
VENV=.regen/venv
if [ ! -x "$VENV/bin/python" ] || ! have_pins "$VENV/bin/python"; then
    rm -rf "$VENV"
    if "$PY" -m venv "$VENV" 2>/dev/null; then
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${PINS[@]}"
    else
        # No venv module (Debian without python3-venv): install the pins into a
        # folder of their own and put it on the path of this interpreter.
        rm -rf "$VENV" .regen/site
        "$PY" -m pip install -q --disable-pip-version-check --target .regen/site "${PINS[@]}"
        PYTHONPATH=.regen/site exec "$PY" tools/gen_constants.py "$@"
    fi
fi
exec "$VENV/bin/python" tools/gen_constants.py "$@"
