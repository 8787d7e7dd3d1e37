"""The twelve perf event ioctls, named as the kernel names them.

``perfsys.ioctls.ENABLE(fd)`` is ``ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)``. Where
the kernel takes a pointer, these take or return plain values: ``PERIOD`` passes
a pointer to a u64, ``ID`` returns the id, ``SET_FILTER`` takes str or bytes,
``QUERY_BPF`` returns ``(prog_cnt, ids)``, ``MODIFY_ATTRIBUTES`` takes an attr
buffer. Each raises OSError naming the ioctl. The request numbers themselves
are ``perfsys.constants.PERF_EVENT_IOC_*``.

The functions come from the C module (its ``_ioctls``, by name); their
signatures are in ioctls.pyi.
"""

from perfsys._perfsys import PERF_IOC_FLAG_GROUP as PERF_IOC_FLAG_GROUP
from perfsys._perfsys import _ioctls

globals().update(_ioctls)

__all__ = sorted([*_ioctls, "PERF_IOC_FLAG_GROUP"])

del _ioctls
