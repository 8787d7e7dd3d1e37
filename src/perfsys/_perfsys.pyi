"""Stubs for perfsys._perfsys, the C extension."""

from collections.abc import Callable
from typing import Any, Final, Literal, NamedTuple, Self

from _typeshed import FileDescriptorLike
from typing_extensions import Buffer

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
PERF_IOC_FLAG_GROUP: Final[int]
HAVE_RDPMC: Final[int]
_abi_bits: Final[dict[str, int]]

def perf_event_open(
    attr: Buffer, pid: int, cpu: int, group_fd: int = -1, flags: int = 0
) -> int: ...

class CounterValue(NamedTuple):
    """One counter read without PERF_FORMAT_GROUP; absent fields are None."""

    value: int
    time_enabled: int | None
    time_running: int | None
    id: int | None
    lost: int | None

class GroupMember(NamedTuple):
    """One event of a group read, leader first."""

    value: int
    id: int | None
    lost: int | None

class GroupValues(NamedTuple):
    """A group read with PERF_FORMAT_GROUP."""

    time_enabled: int | None
    time_running: int | None
    values: tuple[GroupMember, ...]

def read_value(fd: FileDescriptorLike, /) -> int: ...
def read(fd: FileDescriptorLike, read_format: int = 0, /) -> CounterValue | GroupValues: ...
def read_into(fd: FileDescriptorLike, buffer: Buffer, /) -> int: ...
def decode_read(read_format: int, data: Buffer, /) -> CounterValue | GroupValues: ...

class SelfCounter:
    """Self-monitoring read through the event's mmap'ed header page."""

    def __init__(self, fd: FileDescriptorLike, read_format: int = 0) -> None: ...
    def read(self) -> tuple[int, int | None, int | None, Literal["rdpmc", "read"]]: ...
    def close(self) -> None: ...
    def fileno(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *args: object) -> None: ...
    @property
    def closed(self) -> bool: ...
    @property
    def capabilities(self) -> int: ...
    @property
    def index(self) -> int: ...

# the functions of perfsys.ioctls, by name (typed in ioctls.pyi)
_ioctls: Final[dict[str, Callable[..., Any]]]

# -- decode --

# -- ring --
