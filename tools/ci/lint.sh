#!/usr/bin/env bash
# ruff, mypy --strict, and the C module's stubs against the module itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m ruff check .
python3 -m mypy
PYTHONPATH=src python3 -m mypy.stubtest perfsys._perfsys perfsys.ioctls \
    --allowlist tools/stubtest-allowlist.txt
