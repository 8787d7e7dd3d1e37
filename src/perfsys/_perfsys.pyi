"""Stubs for perfsys._perfsys, the C extension."""

from typing import Final, NamedTuple

# -- decode (shared) --

class RawRecord(NamedTuple):
    """A record as the kernel wrote it."""

    type: int
    misc: int
    data: bytes

_abi: Final[dict[str, int]]

# -- core --

# ioctl request numbers, computed by the C compiler for this architecture
PERF_EVENT_IOC_ENABLE: Final[int]
PERF_EVENT_IOC_DISABLE: Final[int]
PERF_EVENT_IOC_REFRESH: Final[int]
PERF_EVENT_IOC_RESET: Final[int]
PERF_EVENT_IOC_PERIOD: Final[int]
PERF_EVENT_IOC_SET_OUTPUT: Final[int]
PERF_EVENT_IOC_SET_FILTER: Final[int]
PERF_EVENT_IOC_ID: Final[int]
PERF_EVENT_IOC_SET_BPF: Final[int]
PERF_EVENT_IOC_PAUSE_OUTPUT: Final[int]
PERF_EVENT_IOC_QUERY_BPF: Final[int]
PERF_EVENT_IOC_MODIFY_ATTRIBUTES: Final[int]

# -- decode --

# -- ring --
