"""The twelve perf event ioctls, named as the kernel names them.

``perfsys.ioctls.ENABLE(fd)`` is ``ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)``. Where
the kernel takes a pointer, these take or return plain values: ``PERIOD`` passes
a pointer to a u64, ``ID`` returns the id, ``SET_FILTER`` takes str or bytes,
``QUERY_BPF`` returns ``(prog_cnt, ids)``, ``MODIFY_ATTRIBUTES`` takes an attr
buffer. Each raises OSError naming the ioctl. The request numbers themselves
are ``perfsys.constants.PERF_EVENT_IOC_*``.
"""

from perfsys._perfsys import PERF_IOC_FLAG_GROUP
from perfsys._perfsys import ioctl_DISABLE as DISABLE
from perfsys._perfsys import ioctl_ENABLE as ENABLE
from perfsys._perfsys import ioctl_ID as ID
from perfsys._perfsys import ioctl_MODIFY_ATTRIBUTES as MODIFY_ATTRIBUTES
from perfsys._perfsys import ioctl_PAUSE_OUTPUT as PAUSE_OUTPUT
from perfsys._perfsys import ioctl_PERIOD as PERIOD
from perfsys._perfsys import ioctl_QUERY_BPF as QUERY_BPF
from perfsys._perfsys import ioctl_REFRESH as REFRESH
from perfsys._perfsys import ioctl_RESET as RESET
from perfsys._perfsys import ioctl_SET_BPF as SET_BPF
from perfsys._perfsys import ioctl_SET_FILTER as SET_FILTER
from perfsys._perfsys import ioctl_SET_OUTPUT as SET_OUTPUT

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
