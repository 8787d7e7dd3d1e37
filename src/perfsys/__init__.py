"""perfsys: direct, unsafe Python bindings to Linux's perf_event_open(2).

One Python call is one kernel call. The caller deals in raw file descriptors and
raw ``perf_event_attr`` structs and must know the kernel's rules; see
``perf_event_open(2)``.
"""

from perfsys import _perfsys
from perfsys._perfsys import RawRecord

# -- generated tables: structs and HEADERS_VERSION (issue 2) --

# -- core: perf_event_open, ioctls, counter reads (issue 3) --

# -- decode: record decoding (issue 4) --

# -- ring: RingBuffer (issue 4) --
# isort: split
from perfsys._perfsys import RingBuffer

__version__ = "0.1.0"

__all__ = [
    "RawRecord",
    # ring
    "RingBuffer",
    "__version__",
    "_perfsys",
]
