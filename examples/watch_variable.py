"""Count writes to a variable with a hardware breakpoint, then move the breakpoint.

    python3 examples/watch_variable.py

A PERF_TYPE_BREAKPOINT event watches 8 bytes at an address (HW_BREAKPOINT_W:
writes). PERF_EVENT_IOC_MODIFY_ATTRIBUTES moves it to another address without
closing it.
"""

from __future__ import annotations

import ctypes
import os

import perfsys
from perfsys import constants as C


def main() -> None:
    first, second = ctypes.c_uint64(), ctypes.c_uint64()
    a = perfsys.perf_event_attr()
    a.type = C.PERF_TYPE_BREAKPOINT
    a.bp_type = C.HW_BREAKPOINT_W
    a.bp_addr = ctypes.addressof(first)
    a.bp_len = C.HW_BREAKPOINT_LEN_8
    a.exclude_kernel = 1
    a.exclude_hv = 1
    fd = perfsys.perf_event_open(a, 0, -1)
    try:
        for i in range(10):
            first.value = i
        print(f"{perfsys.read_value(fd)} writes to first (10 made)")
        a.bp_addr = ctypes.addressof(second)
        perfsys.ioctls.MODIFY_ATTRIBUTES(fd, a)
        first.value = 99
        for i in range(3):
            second.value = i
        print(f"{perfsys.read_value(fd)} writes in all after moving it to second (3 more)")
    finally:
        os.close(fd)


if __name__ == "__main__":
    main()
