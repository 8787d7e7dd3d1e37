"""perfsys: direct, unsafe Python bindings to Linux's perf_event_open(2).

One Python call is one kernel call. The caller deals in raw file descriptors and
raw ``perf_event_attr`` structs and must know the kernel's rules; see
``perf_event_open(2)``.
"""

from perfsys import _perfsys
from perfsys._perfsys import RawRecord

# -- generated tables: structs and HEADERS_VERSION --
# isort: split
from perfsys import constants
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

# -- core: perf_event_open, ioctls, counter reads --
# isort: split
from perfsys import ioctls
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
    SampleRecord,
    SwitchCpuWideRecord,
    SwitchRecord,
    TextPokeRecord,
    ThrottleRecord,
    UnthrottleRecord,
)

# -- ring: RingBuffer --
# isort: split
from perfsys._perfsys import RingBuffer

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
    "SampleRecord",
    "SwitchCpuWideRecord",
    "SwitchRecord",
    "TextPokeRecord",
    "ThrottleRecord",
    "UnthrottleRecord",
]
