"""Stubs for perfsys._perfsys, the C extension."""

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import (
    Any,
    ClassVar,
    Final,
    Literal,
    Self,
    SupportsIndex,
    TypeAlias,
    final,
    overload,
)

from _typeshed import FileDescriptorLike, structseq
from typing_extensions import Buffer

# -- decode (shared) --

@final
class RawRecord(structseq[Any], tuple[int, int, bytes]):
    """A record as the kernel wrote it."""

    __match_args__: Final = ("type", "misc", "data")
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def data(self) -> bytes: ...

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
    attr: Buffer, pid: int, cpu: int, group_fd: FileDescriptorLike = -1, flags: int = 0
) -> int: ...

@final
class CounterValue(structseq[Any], tuple[int, int | None, int | None, int | None, int | None]):
    """One counter read without PERF_FORMAT_GROUP; absent fields are None."""

    __match_args__: Final = ("value", "time_enabled", "time_running", "id", "lost")
    @property
    def value(self) -> int: ...
    @property
    def time_enabled(self) -> int | None: ...
    @property
    def time_running(self) -> int | None: ...
    @property
    def id(self) -> int | None: ...
    @property
    def lost(self) -> int | None: ...

@final
class GroupMember(structseq[Any], tuple[int, int | None, int | None]):
    """One event of a group read, leader first."""

    __match_args__: Final = ("value", "id", "lost")
    @property
    def value(self) -> int: ...
    @property
    def id(self) -> int | None: ...
    @property
    def lost(self) -> int | None: ...

@final
class GroupValues(structseq[Any], tuple[int | None, int | None, tuple[GroupMember, ...]]):
    """A group read with PERF_FORMAT_GROUP."""

    __match_args__: Final = ("time_enabled", "time_running", "values")
    @property
    def time_enabled(self) -> int | None: ...
    @property
    def time_running(self) -> int | None: ...
    @property
    def values(self) -> tuple[GroupMember, ...]: ...

def read_value(fd: FileDescriptorLike, /) -> int: ...
def read(fd: FileDescriptorLike, read_format: int = 0, /) -> CounterValue | GroupValues: ...
def read_into(fd: FileDescriptorLike, buffer: Buffer, /) -> int: ...
def decode_read(read_format: int, data: Buffer, /) -> CounterValue | GroupValues: ...

@final
class SelfCounter:
    """Self-monitoring read through the event's mmap'ed header page."""

    def __new__(cls, fd: FileDescriptorLike, read_format: int = 0) -> Self: ...
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

class _SampleIdTrailer:
    """Type-checking only: the sample_id trailer that every record but a SAMPLE ends
    with (None where sample_id_all is off or sample_type lacks the bit)."""

    @property
    def sample_pid(self) -> int | None: ...
    @property
    def sample_tid(self) -> int | None: ...
    @property
    def sample_time(self) -> int | None: ...
    @property
    def sample_id(self) -> int | None: ...
    @property
    def sample_stream_id(self) -> int | None: ...
    @property
    def sample_cpu(self) -> int | None: ...
    @property
    def sample_identifier(self) -> int | None: ...

class RecordError(ValueError):
    """A record is corrupt or truncated, or does not fit the Decoder's attrs."""

@final
class BranchEntry(structseq[Any], tuple[int, int, int, int, int, int, int, int, int, int, int]):
    """One perf_branch_entry, its bitfields decoded."""

    __match_args__: Final = (
        "from_",
        "to",
        "mispred",
        "predicted",
        "in_tx",
        "abort",
        "cycles",
        "type",
        "spec",
        "new_type",
        "priv",
    )
    @property
    def from_(self) -> int: ...
    @property
    def to(self) -> int: ...
    @property
    def mispred(self) -> int: ...
    @property
    def predicted(self) -> int: ...
    @property
    def in_tx(self) -> int: ...
    @property
    def abort(self) -> int: ...
    @property
    def cycles(self) -> int: ...
    @property
    def type(self) -> int: ...
    @property
    def spec(self) -> int: ...
    @property
    def new_type(self) -> int: ...
    @property
    def priv(self) -> int: ...

@final
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

# --- generated below this line by tools/gen_stubs.py from src/_perfsys_records.h ---

@final
class MmapRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        int,
        int,
        str,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_MMAP: a new executable mapping."""

    __match_args__: Final = (
        "type",
        "misc",
        "pid",
        "tid",
        "addr",
        "len",
        "pgoff",
        "filename",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def addr(self) -> int: ...
    @property
    def len(self) -> int: ...
    @property
    def pgoff(self) -> int: ...
    @property
    def filename(self) -> str: ...

@final
class LostRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_LOST: records the ring had no room for."""

    __match_args__: Final = (
        "type",
        "misc",
        "id",
        "lost",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def id(self) -> int: ...
    @property
    def lost(self) -> int: ...

@final
class CommRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        str,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_COMM: a process changed its name."""

    __match_args__: Final = (
        "type",
        "misc",
        "pid",
        "tid",
        "comm",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def comm(self) -> str: ...

@final
class ExitRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_EXIT: a process or thread exited."""

    __match_args__: Final = (
        "type",
        "misc",
        "pid",
        "ppid",
        "tid",
        "ptid",
        "time",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def ppid(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def ptid(self) -> int: ...
    @property
    def time(self) -> int: ...

@final
class ThrottleRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_THROTTLE: sampling was throttled."""

    __match_args__: Final = (
        "type",
        "misc",
        "time",
        "id",
        "stream_id",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def time(self) -> int: ...
    @property
    def id(self) -> int: ...
    @property
    def stream_id(self) -> int: ...

@final
class UnthrottleRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_UNTHROTTLE: sampling resumed."""

    __match_args__: Final = (
        "type",
        "misc",
        "time",
        "id",
        "stream_id",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def time(self) -> int: ...
    @property
    def id(self) -> int: ...
    @property
    def stream_id(self) -> int: ...

@final
class ForkRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_FORK: a process or thread was created."""

    __match_args__: Final = (
        "type",
        "misc",
        "pid",
        "ppid",
        "tid",
        "ptid",
        "time",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def ppid(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def ptid(self) -> int: ...
    @property
    def time(self) -> int: ...

@final
class ReadRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        CounterValue | GroupValues,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_READ: counter values (inherit_stat)."""

    __match_args__: Final = (
        "type",
        "misc",
        "pid",
        "tid",
        "values",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def values(self) -> CounterValue | GroupValues: ...

@final
class Mmap2Record(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        bytes | None,
        int,
        int,
        str,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_MMAP2: a new mapping, with inode or build id."""

    __match_args__: Final = (
        "type",
        "misc",
        "pid",
        "tid",
        "addr",
        "len",
        "pgoff",
        "maj",
        "min",
        "ino",
        "ino_generation",
        "build_id",
        "prot",
        "flags",
        "filename",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def addr(self) -> int: ...
    @property
    def len(self) -> int: ...
    @property
    def pgoff(self) -> int: ...
    @property
    def maj(self) -> int | None: ...
    @property
    def min(self) -> int | None: ...
    @property
    def ino(self) -> int | None: ...
    @property
    def ino_generation(self) -> int | None: ...
    @property
    def build_id(self) -> bytes | None: ...
    @property
    def prot(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def filename(self) -> str: ...

@final
class AuxRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_AUX: new data in the AUX area."""

    __match_args__: Final = (
        "type",
        "misc",
        "aux_offset",
        "aux_size",
        "flags",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def aux_offset(self) -> int: ...
    @property
    def aux_size(self) -> int: ...
    @property
    def flags(self) -> int: ...

@final
class ItraceStartRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_ITRACE_START: instruction tracing started."""

    __match_args__: Final = (
        "type",
        "misc",
        "pid",
        "tid",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def tid(self) -> int: ...

@final
class LostSamplesRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_LOST_SAMPLES: samples dropped."""

    __match_args__: Final = (
        "type",
        "misc",
        "lost",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def lost(self) -> int: ...

@final
class SwitchRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_SWITCH: a context switch of the monitored task."""

    __match_args__: Final = (
        "type",
        "misc",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...

@final
class SwitchCpuWideRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_SWITCH_CPU_WIDE: a context switch on a cpu."""

    __match_args__: Final = (
        "type",
        "misc",
        "next_prev_pid",
        "next_prev_tid",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def next_prev_pid(self) -> int: ...
    @property
    def next_prev_tid(self) -> int: ...

@final
class NamespacesRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        tuple[tuple[int, int], ...],
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_NAMESPACES: a task's namespaces."""

    __match_args__: Final = (
        "type",
        "misc",
        "pid",
        "tid",
        "namespaces",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def pid(self) -> int: ...
    @property
    def tid(self) -> int: ...
    @property
    def namespaces(self) -> tuple[tuple[int, int], ...]: ...

@final
class KsymbolRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        int,
        str,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_KSYMBOL: a kernel symbol registered or unregistered."""

    __match_args__: Final = (
        "type",
        "misc",
        "addr",
        "len",
        "ksym_type",
        "flags",
        "name",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def addr(self) -> int: ...
    @property
    def len(self) -> int: ...
    @property
    def ksym_type(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def name(self) -> str: ...

@final
class BpfEventRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        bytes,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_BPF_EVENT: a BPF program loaded or unloaded."""

    __match_args__: Final = (
        "type",
        "misc",
        "bpf_type",
        "flags",
        "id",
        "tag",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def bpf_type(self) -> int: ...
    @property
    def flags(self) -> int: ...
    @property
    def id(self) -> int: ...
    @property
    def tag(self) -> bytes: ...

@final
class CgroupRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        str,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_CGROUP: a cgroup was created."""

    __match_args__: Final = (
        "type",
        "misc",
        "id",
        "path",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def id(self) -> int: ...
    @property
    def path(self) -> str: ...

@final
class TextPokeRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int,
        int,
        bytes,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_TEXT_POKE: kernel text changed."""

    __match_args__: Final = (
        "type",
        "misc",
        "addr",
        "old_len",
        "new_len",
        "bytes",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def addr(self) -> int: ...
    @property
    def old_len(self) -> int: ...
    @property
    def new_len(self) -> int: ...
    @property
    def bytes(self) -> bytes: ...

@final
class AuxOutputHwIdRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_AUX_OUTPUT_HW_ID: hardware id of AUX output."""

    __match_args__: Final = (
        "type",
        "misc",
        "hw_id",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def hw_id(self) -> int: ...

@final
class CallchainDeferredRecord(
    _SampleIdTrailer,
    structseq[Any],
    tuple[
        int,
        int,
        int,
        tuple[int, ...],
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
        int | None,
    ],
):
    """PERF_RECORD_CALLCHAIN_DEFERRED: a deferred user callchain."""

    __match_args__: Final = (
        "type",
        "misc",
        "cookie",
        "ips",
        "sample_pid",
        "sample_tid",
        "sample_time",
        "sample_id",
        "sample_stream_id",
        "sample_cpu",
        "sample_identifier",
    )
    @property
    def type(self) -> int: ...
    @property
    def misc(self) -> int: ...
    @property
    def cookie(self) -> int: ...
    @property
    def ips(self) -> tuple[int, ...]: ...

Record: TypeAlias = (
    MmapRecord
    | LostRecord
    | CommRecord
    | ExitRecord
    | ThrottleRecord
    | UnthrottleRecord
    | ForkRecord
    | ReadRecord
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
    | SampleRecord
    | RawRecord
)

# --- generated above this line ---

@final
class Decoder:
    """Decodes the records that events write into a ring buffer."""

    def __new__(cls, attrs: Buffer | dict[int, Buffer], /) -> Self: ...
    def add(self, id: int, attr: Buffer, /) -> None: ...
    def decode(self, buffer: Buffer, /) -> Record: ...
    def decode_all(self, buffer: Buffer, /) -> list[Record]: ...
    @property
    def ids(self) -> tuple[int, ...]: ...

# -- columns (decode) --

@final
class SampleColumns(
    structseq[Any],
    tuple[
        int,
        memoryview,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        memoryview | None,
        list[Record],
    ],
):
    """The samples of one RingBuffer.read_columns(), a column per fixed-size field."""

    __match_args__: Final = (
        "samples",
        "misc",
        "identifier",
        "ip",
        "pid",
        "tid",
        "time",
        "addr",
        "id",
        "stream_id",
        "cpu",
        "period",
        "hw_idx",
        "regs_user_abi",
        "stack_user_dyn_size",
        "weight",
        "data_src",
        "transaction",
        "regs_intr_abi",
        "phys_addr",
        "cgroup",
        "data_page_size",
        "code_page_size",
        "callchain_offsets",
        "callchain",
        "records",
    )
    @property
    def samples(self) -> int: ...
    @property
    def misc(self) -> memoryview: ...
    @property
    def identifier(self) -> memoryview | None: ...
    @property
    def ip(self) -> memoryview | None: ...
    @property
    def pid(self) -> memoryview | None: ...
    @property
    def tid(self) -> memoryview | None: ...
    @property
    def time(self) -> memoryview | None: ...
    @property
    def addr(self) -> memoryview | None: ...
    @property
    def id(self) -> memoryview | None: ...
    @property
    def stream_id(self) -> memoryview | None: ...
    @property
    def cpu(self) -> memoryview | None: ...
    @property
    def period(self) -> memoryview | None: ...
    @property
    def hw_idx(self) -> memoryview | None: ...
    @property
    def regs_user_abi(self) -> memoryview | None: ...
    @property
    def stack_user_dyn_size(self) -> memoryview | None: ...
    @property
    def weight(self) -> memoryview | None: ...
    @property
    def data_src(self) -> memoryview | None: ...
    @property
    def transaction(self) -> memoryview | None: ...
    @property
    def regs_intr_abi(self) -> memoryview | None: ...
    @property
    def phys_addr(self) -> memoryview | None: ...
    @property
    def cgroup(self) -> memoryview | None: ...
    @property
    def data_page_size(self) -> memoryview | None: ...
    @property
    def code_page_size(self) -> memoryview | None: ...
    @property
    def callchain_offsets(self) -> memoryview | None: ...
    @property
    def callchain(self) -> memoryview | None: ...
    @property
    def records(self) -> list[Record]: ...

def count_callchains(offsets: Buffer, callchain: Buffer, /) -> dict[tuple[int, ...], int]: ...
def count_values(column: Buffer, /) -> dict[int, int]: ...

# -- ring --

@final
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
    if sys.version_info >= (3, 12):
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
    @overload
    def read_columns(self, max_records: int | None = -1, *, decoder: Decoder) -> SampleColumns: ...
    @overload
    def read_columns(self, max_records: int | None, decoder: Decoder) -> SampleColumns: ...
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
