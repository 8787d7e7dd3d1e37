#!/usr/bin/env bash
# The hardware-counter and kprobe tests in an emulated arm64 machine (tools/vmtest.sh):
# the only place CI has a PMU and the kprobe PMU. Twice: on QEMU's `max` CPU (PMUv3p5,
# 64-bit event counters) and on a Cortex-A57 (PMUv3, 32-bit event counters, so user-space
# reads must sign-extend). From an empty cache the first run builds the guest's root
# filesystem (most of the stage's time); later runs reuse it.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PERFSYS_VMTEST_TIMEOUT=${PERFSYS_VMTEST_TIMEOUT:-900}
PERFSYS_VMTEST_CPU=max bash tools/vmtest.sh hw,kprobe
PERFSYS_VMTEST_CPU=cortex-a57 PERFSYS_VMTEST_OUT=build/vmtest-a57 bash tools/vmtest.sh hw
