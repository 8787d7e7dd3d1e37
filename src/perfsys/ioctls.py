"""The twelve perf event ioctls, named as the kernel names them.

``perfsys.ioctls.ENABLE(fd)`` is ``ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)``. Where
the kernel takes a pointer, these take or return plain values: ``PERIOD`` passes
a pointer to a u64, ``ID`` returns the id, ``SET_FILTER`` takes str or bytes,
``QUERY_BPF`` returns ``(prog_cnt, ids)``, ``MODIFY_ATTRIBUTES`` takes an attr
buffer. Each raises OSError naming the ioctl. The request numbers themselves
are ``perfsys.constants.PERF_EVENT_IOC_*``.
"""

from perfsys._perfsys import PERF_IOC_FLAG_GROUP, _ioctls

ENABLE = _ioctls["ENABLE"]
DISABLE = _ioctls["DISABLE"]
REFRESH = _ioctls["REFRESH"]
RESET = _ioctls["RESET"]
PERIOD = _ioctls["PERIOD"]
SET_OUTPUT = _ioctls["SET_OUTPUT"]
SET_FILTER = _ioctls["SET_FILTER"]
ID = _ioctls["ID"]
SET_BPF = _ioctls["SET_BPF"]
PAUSE_OUTPUT = _ioctls["PAUSE_OUTPUT"]
QUERY_BPF = _ioctls["QUERY_BPF"]
MODIFY_ATTRIBUTES = _ioctls["MODIFY_ATTRIBUTES"]

__all__ = [
    "DISABLE",
    "ENABLE",
    "ID",
    "MODIFY_ATTRIBUTES",
    "PAUSE_OUTPUT",
    "PERF_IOC_FLAG_GROUP",
    "PERIOD",
    "QUERY_BPF",
    "REFRESH",
    "RESET",
    "SET_BPF",
    "SET_FILTER",
    "SET_OUTPUT",
]
