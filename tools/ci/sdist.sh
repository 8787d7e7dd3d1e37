#!/usr/bin/env bash
# The sdist: `twine check --strict` clean, and unpacked on its own it builds and passes
# the suite (including regeneration: it holds the generator and its inputs' pins).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}

"$PY" -m pip install -q --disable-pip-version-check build twine
WORK=$(mktemp -d /tmp/perfsys-sdist.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$PY" -m build --sdist -o "$WORK" .
"$PY" -m twine check --strict "$WORK"/*.tar.gz
tar -xzf "$WORK"/*.tar.gz -C "$WORK"
cd "$WORK"/perfsys-*/
"$PY" setup.py -q build_ext --inplace
PYTHONPATH=src "$PY" -m pytest -p no:cacheprovider -ra
