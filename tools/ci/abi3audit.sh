#!/usr/bin/env bash
# The abi3 wheel uses nothing past the stable ABI of its baseline (3.11): build it
# and let abi3audit --strict read the symbols the extension imports.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
"$PY" -m pip install -q --disable-pip-version-check abi3audit
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$PY" -m pip wheel -q --disable-pip-version-check --no-deps . -w "$out"
"$PY" -m abi3audit --strict --verbose "$out"/*-abi3-*.whl
