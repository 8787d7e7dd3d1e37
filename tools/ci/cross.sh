#!/usr/bin/env bash
# src/_perfsys.c cross-compiled with zig cc (-Wall -Wextra -Werror) for x86_64, i686,
# aarch64, armv7, ppc64le, ppc64, s390x, riscv64 and loongarch64, glibc and musl, each
# with its ioctl request numbers and syscall number checked against the target's
# kernel headers at compile time (tools/cross_check.py, tools/cross_check.c).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec "${PYTHON:-python3}" tools/cross_check.py
