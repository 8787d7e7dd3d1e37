"""Smoke test for a built wheel (cibuildwheel's test-command).

Imports perfsys, checks that the constants and the compiled request numbers
agree, and opens and reads one software counter. Containers often forbid
perf_event_open (seccomp: EPERM or ENOSYS; perf_event_paranoid: EACCES): that
is reported and tolerated, as it says nothing about the wheel.
"""

from __future__ import annotations

import errno
import os
import sys

import perfsys
from perfsys import _perfsys
from perfsys import constants as C


def main() -> int:
    assert C.PERF_ATTR_SIZE_VER0 == 64
    assert _perfsys._abi["PERF_ATTR_SIZE_VER0"] == 64
    assert perfsys.perf_event_attr().size >= C.PERF_ATTR_SIZE_VER0
    for name in ("ENABLE", "DISABLE", "ID", "PERIOD", "QUERY_BPF", "MODIFY_ATTRIBUTES"):
        value = getattr(_perfsys, f"PERF_EVENT_IOC_{name}")
        assert value == getattr(C, f"PERF_EVENT_IOC_{name}")
        assert (value >> 8) & 0xFF == ord("$"), name
    print(f"perfsys {perfsys.__version__}, headers {perfsys.HEADERS_VERSION}, "
          f"Python {sys.version.split()[0]}")

    a = perfsys.perf_event_attr()
    a.type = C.PERF_TYPE_SOFTWARE
    a.config = C.PERF_COUNT_SW_TASK_CLOCK
    a.exclude_kernel = 1
    a.exclude_hv = 1
    try:
        fd = perfsys.perf_event_open(a, 0, -1, flags=C.PERF_FLAG_FD_CLOEXEC)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.ENOSYS):
            print(f"perf_event_open is not allowed here, skipping the counter: {e}")
            return 0
        raise
    try:
        sum(range(100_000))
        value = perfsys.read_value(fd)
        assert value > 0, value
        print(f"task-clock: {value} ns")
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
