#!/usr/bin/env bash
# Every generated file (constants.py, _perfsys_abi.h) is what the generator makes
# of the pinned headers: exit 1 with a diff otherwise.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash tools/regenerate.sh --check
