"""perfsys: direct, unsafe Python bindings to Linux's perf_event_open(2).

One Python call is one kernel call. The caller deals in raw file descriptors and
raw ``perf_event_attr`` structs and must know the kernel's rules; see
``perf_event_open(2)``.

``import perfsys`` loads only the extension: the generated tables (``perfsys.constants``,
the ctypes structs and ``HEADERS_VERSION``) and ctypes with them, and ``perfsys.ioctls``,
are imported on first use of any of their names, through the module's ``__getattr__``.
"""

from perfsys import _perfsys
from perfsys._perfsys import RawRecord

# -- core: perf_event_open, counter reads (perfsys.ioctls: loaded on first use) --
# isort: split
from perfsys._perfsys import (
    CounterValue,
    GroupMember,
    GroupValues,
    SelfCounter,
    decode_read,
    perf_event_open,
    read,
    read_into,
    read_value,
)

# -- decode: record decoding --
# isort: split
from perfsys._perfsys import (
    AuxOutputHwIdRecord,
    AuxRecord,
    BpfEventRecord,
    BranchEntry,
    CallchainDeferredRecord,
    CgroupRecord,
    CommRecord,
    Decoder,
    ExitRecord,
    ForkRecord,
    ItraceStartRecord,
    KsymbolRecord,
    LostRecord,
    LostSamplesRecord,
    Mmap2Record,
    MmapRecord,
    NamespacesRecord,
    ReadRecord,
    RecordError,
    SampleColumns,
    SampleRecord,
    SwitchCpuWideRecord,
    SwitchRecord,
    TextPokeRecord,
    ThrottleRecord,
    UnthrottleRecord,
    count_callchains,
    count_values,
)

# -- ring: RingBuffer --
# isort: split
from perfsys._perfsys import RingBuffer

# -- generated tables: structs and HEADERS_VERSION, loaded on first use --
# isort: split
TYPE_CHECKING = False  # not typing's: importing typing would double the cost of import perfsys
if TYPE_CHECKING:
    from perfsys import constants, ioctls
    from perfsys.constants import (
        HEADERS_VERSION,
        perf_branch_entry,
        perf_event_attr,
        perf_event_header,
        perf_event_mmap_page,
        perf_event_query_bpf,
        perf_mem_data_src,
        perf_ns_link_info,
        perf_sample_weight,
    )

_FROM_CONSTANTS = frozenset({
    "HEADERS_VERSION",
    "perf_branch_entry",
    "perf_event_attr",
    "perf_event_header",
    "perf_event_mmap_page",
    "perf_event_query_bpf",
    "perf_mem_data_src",
    "perf_ns_link_info",
    "perf_sample_weight",
})


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all

    def __getattr__(name: str) -> object:
        """The generated tables' names, imported (with ctypes) on first use; the ioctls."""
        if name == "ioctls":
            import perfsys.ioctls as module  # sets perfsys.ioctls

            return module
        if name == "constants" or name in _FROM_CONSTANTS:
            import perfsys.constants as tables  # sets perfsys.constants; `from` would recurse

            value = tables if name == "constants" else getattr(tables, name)
            globals()[name] = value
            return value
        raise AttributeError(f"module 'perfsys' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "HEADERS_VERSION",
    "CounterValue",
    "GroupMember",
    "GroupValues",
    "RawRecord",
    "RingBuffer",
    "SelfCounter",
    "__version__",
    "_perfsys",
    "constants",
    "decode_read",
    "ioctls",
    "perf_branch_entry",
    "perf_event_attr",
    "perf_event_header",
    "perf_event_mmap_page",
    "perf_event_open",
    "perf_event_query_bpf",
    "perf_mem_data_src",
    "perf_ns_link_info",
    "perf_sample_weight",
    "read",
    "read_into",
    "read_value",
]

# decode
__all__ += [
    "AuxOutputHwIdRecord",
    "AuxRecord",
    "BpfEventRecord",
    "BranchEntry",
    "CallchainDeferredRecord",
    "CgroupRecord",
    "CommRecord",
    "Decoder",
    "ExitRecord",
    "ForkRecord",
    "ItraceStartRecord",
    "KsymbolRecord",
    "LostRecord",
    "LostSamplesRecord",
    "Mmap2Record",
    "MmapRecord",
    "NamespacesRecord",
    "ReadRecord",
    "RecordError",
    "SampleColumns",
    "SampleRecord",
    "SwitchCpuWideRecord",
    "SwitchRecord",
    "TextPokeRecord",
    "ThrottleRecord",
    "UnthrottleRecord",
    "count_callchains",
    "count_values",
]
