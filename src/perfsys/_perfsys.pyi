"""Stubs for perfsys._perfsys, the C extension."""

from collections.abc import Callable, Iterable, Iterator
from typing import (
    Any,
    ClassVar,
    Final,
    Literal,
    NamedTuple,
    Self,
    SupportsIndex,
    TypeAlias,
    overload,
)

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

class RecordError(ValueError):
    """A record is corrupt or truncated, or does not fit the Decoder's attrs."""

class BranchEntry(NamedTuple):
    """One perf_branch_entry, its bitfields decoded."""

    from_: int
    to: int
    mispred: int
    predicted: int
    in_tx: int
    abort: int
    cycles: int
    type: int
    spec: int
    new_type: int
    priv: int

class MmapRecord(NamedTuple):
    """PERF_RECORD_MMAP."""

    type: int
    misc: int
    pid: int
    tid: int
    addr: int
    len: int
    pgoff: int
    filename: str
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class LostRecord(NamedTuple):
    """PERF_RECORD_LOST."""

    type: int
    misc: int
    id: int
    lost: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class CommRecord(NamedTuple):
    """PERF_RECORD_COMM."""

    type: int
    misc: int
    pid: int
    tid: int
    comm: str
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class ExitRecord(NamedTuple):
    """PERF_RECORD_EXIT."""

    type: int
    misc: int
    pid: int
    ppid: int
    tid: int
    ptid: int
    time: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class ThrottleRecord(NamedTuple):
    """PERF_RECORD_THROTTLE."""

    type: int
    misc: int
    time: int
    id: int
    stream_id: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class UnthrottleRecord(NamedTuple):
    """PERF_RECORD_UNTHROTTLE."""

    type: int
    misc: int
    time: int
    id: int
    stream_id: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class ForkRecord(NamedTuple):
    """PERF_RECORD_FORK."""

    type: int
    misc: int
    pid: int
    ppid: int
    tid: int
    ptid: int
    time: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class ReadRecord(NamedTuple):
    """PERF_RECORD_READ."""

    type: int
    misc: int
    pid: int
    tid: int
    values: CounterValue | GroupValues
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class SampleRecord:
    """PERF_RECORD_SAMPLE: every PERF_SAMPLE_* field in the kernel's order, None where
    sample_type lacks its bit. Behaves as a named tuple of these fields (len, indexing,
    slicing, iteration, unpacking, ==/hash as that tuple) without being a tuple."""

    _fields: ClassVar[tuple[str, ...]]
    __match_args__: ClassVar[tuple[str, ...]]
    type: int
    misc: int
    identifier: int | None
    ip: int | None
    pid: int | None
    tid: int | None
    time: int | None
    addr: int | None
    id: int | None
    stream_id: int | None
    cpu: int | None
    period: int | None
    read: CounterValue | GroupValues | None
    callchain: tuple[int, ...] | None
    raw: bytes | None
    hw_idx: int | None
    branch_stack: tuple[BranchEntry, ...] | None
    branch_counters: tuple[int, ...] | None
    regs_user_abi: int | None
    regs_user: tuple[int, ...] | None
    stack_user: bytes | None
    stack_user_dyn_size: int | None
    weight: int | None
    weight_struct: tuple[int, int, int] | None
    data_src: int | None
    transaction: int | None
    regs_intr_abi: int | None
    regs_intr: tuple[int, ...] | None
    phys_addr: int | None
    cgroup: int | None
    data_page_size: int | None
    code_page_size: int | None
    aux: bytes | None
    def __new__(cls, iterable: Iterable[Any], /) -> Self: ...
    def __len__(self) -> int: ...
    @overload
    def __getitem__(self, index: SupportsIndex, /) -> Any: ...
    @overload
    def __getitem__(self, index: slice, /) -> tuple[Any, ...]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __hash__(self) -> int: ...
    def _asdict(self) -> dict[str, Any]: ...

class Mmap2Record(NamedTuple):
    """PERF_RECORD_MMAP2."""

    type: int
    misc: int
    pid: int
    tid: int
    addr: int
    len: int
    pgoff: int
    maj: int | None
    min: int | None
    ino: int | None
    ino_generation: int | None
    build_id: bytes | None
    prot: int
    flags: int
    filename: str
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class AuxRecord(NamedTuple):
    """PERF_RECORD_AUX."""

    type: int
    misc: int
    aux_offset: int
    aux_size: int
    flags: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class ItraceStartRecord(NamedTuple):
    """PERF_RECORD_ITRACE_START."""

    type: int
    misc: int
    pid: int
    tid: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class LostSamplesRecord(NamedTuple):
    """PERF_RECORD_LOST_SAMPLES."""

    type: int
    misc: int
    lost: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class SwitchRecord(NamedTuple):
    """PERF_RECORD_SWITCH."""

    type: int
    misc: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class SwitchCpuWideRecord(NamedTuple):
    """PERF_RECORD_SWITCH_CPU_WIDE."""

    type: int
    misc: int
    next_prev_pid: int
    next_prev_tid: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class NamespacesRecord(NamedTuple):
    """PERF_RECORD_NAMESPACES."""

    type: int
    misc: int
    pid: int
    tid: int
    namespaces: tuple[tuple[int, int], ...]
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class KsymbolRecord(NamedTuple):
    """PERF_RECORD_KSYMBOL."""

    type: int
    misc: int
    addr: int
    len: int
    ksym_type: int
    flags: int
    name: str
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class BpfEventRecord(NamedTuple):
    """PERF_RECORD_BPF_EVENT."""

    type: int
    misc: int
    bpf_type: int
    flags: int
    id: int
    tag: bytes
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class CgroupRecord(NamedTuple):
    """PERF_RECORD_CGROUP."""

    type: int
    misc: int
    id: int
    path: str
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class TextPokeRecord(NamedTuple):
    """PERF_RECORD_TEXT_POKE."""

    type: int
    misc: int
    addr: int
    old_len: int
    new_len: int
    bytes: bytes
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class AuxOutputHwIdRecord(NamedTuple):
    """PERF_RECORD_AUX_OUTPUT_HW_ID."""

    type: int
    misc: int
    hw_id: int
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

class CallchainDeferredRecord(NamedTuple):
    """PERF_RECORD_CALLCHAIN_DEFERRED."""

    type: int
    misc: int
    cookie: int
    ips: tuple[int, ...]
    sample_pid: int | None
    sample_tid: int | None
    sample_time: int | None
    sample_id: int | None
    sample_stream_id: int | None
    sample_cpu: int | None
    sample_identifier: int | None

Record: TypeAlias = (
    MmapRecord
    | LostRecord
    | CommRecord
    | ExitRecord
    | ThrottleRecord
    | UnthrottleRecord
    | ForkRecord
    | ReadRecord
    | SampleRecord
    | Mmap2Record
    | AuxRecord
    | ItraceStartRecord
    | LostSamplesRecord
    | SwitchRecord
    | SwitchCpuWideRecord
    | NamespacesRecord
    | KsymbolRecord
    | BpfEventRecord
    | CgroupRecord
    | TextPokeRecord
    | AuxOutputHwIdRecord
    | CallchainDeferredRecord
    | RawRecord
)

class Decoder:
    """Decodes the records that events write into a ring buffer."""

    def __new__(cls, attrs: Buffer | dict[int, Buffer], /) -> Self: ...
    def add(self, id: int, attr: Buffer, /) -> None: ...
    def decode(self, buffer: Buffer, /) -> Record: ...
    def decode_all(self, buffer: Buffer, /) -> list[Record]: ...
    @property
    def ids(self) -> tuple[int, ...]: ...

# -- ring --

class RingBuffer:
    """The mmap'ed ring buffer of one perf event (header page + 2^n data pages)."""

    def __new__(
        cls,
        fd: FileDescriptorLike,
        data_pages: int,
        *,
        aux_pages: int = 0,
        overwrite: bool = False,
    ) -> Self: ...
    @classmethod
    def _testing(cls, data_pages: int, overwrite: bool = False) -> Self: ...
    def __buffer__(self, flags: int, /) -> memoryview: ...
    def __release_buffer__(self, buffer: memoryview, /) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *args: object) -> Literal[False]: ...
    def close(self) -> None: ...
    def fileno(self) -> int: ...
    @overload
    def read(self, max_records: int | None = -1, decoder: None = None) -> list[RawRecord]: ...
    @overload
    def read(self, max_records: int | None = -1, *, decoder: Decoder) -> list[Record]: ...
    @overload
    def read(self, max_records: int | None, decoder: Decoder) -> list[Record]: ...
    def discard(self) -> int: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def read_aux(self) -> bytes: ...
    @property
    def data_head(self) -> int: ...
    @property
    def data_tail(self) -> int: ...
    @data_tail.setter
    def data_tail(self, value: int) -> None: ...
    @property
    def aux_head(self) -> int: ...
    @property
    def aux_tail(self) -> int: ...
    @aux_tail.setter
    def aux_tail(self, value: int) -> None: ...
    @property
    def available(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    @property
    def overwrite(self) -> bool: ...
    @property
    def lost(self) -> int: ...
    @property
    def lost_records(self) -> int: ...
    @property
    def lost_samples(self) -> int: ...
    @property
    def records_read(self) -> int: ...
    @property
    def data_size(self) -> int: ...
    @property
    def page_size(self) -> int: ...
    @property
    def aux_size(self) -> int: ...
    @property
    def aux_offset(self) -> int: ...
    @property
    def size(self) -> int: ...
