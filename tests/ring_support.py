"""Helpers shared by the RingBuffer tests: opening events, ioctls, parsing records.

Events are opened with ``perfsys.perf_event_open`` and ``perfsys.perf_event_attr`` where
the package has them, else with a ctypes stand-in over the same kernel ABI. Records are
parsed here with ``struct``, independently of the C decoder, so the tests check the ring
against the kernel's layout rather than against the decoder.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import perfsys

# -- kernel ABI numbers (perf_event.h) ----------------------------------------------

PERF_TYPE_SOFTWARE = 1
PERF_TYPE_TRACEPOINT = 2
PERF_COUNT_SW_CPU_CLOCK = 0
PERF_COUNT_SW_TASK_CLOCK = 1
PERF_COUNT_SW_DUMMY = 9

SAMPLE_IP = 1 << 0
SAMPLE_TID = 1 << 1
SAMPLE_TIME = 1 << 2
SAMPLE_ADDR = 1 << 3
SAMPLE_READ = 1 << 4
SAMPLE_CALLCHAIN = 1 << 5
SAMPLE_ID = 1 << 6
SAMPLE_CPU = 1 << 7
SAMPLE_PERIOD = 1 << 8
SAMPLE_STREAM_ID = 1 << 9
SAMPLE_RAW = 1 << 10
SAMPLE_IDENTIFIER = 1 << 16

RECORD_MMAP = 1
RECORD_LOST = 2
RECORD_COMM = 3
RECORD_EXIT = 4
RECORD_FORK = 7
RECORD_SAMPLE = 9
RECORD_MMAP2 = 10
RECORD_SWITCH = 14

MISC_SWITCH_OUT = 1 << 13
MISC_COMM_EXEC = 1 << 13

CONTEXT_MAX = 2**64 - 4095  # PERF_CONTEXT_* markers are the top 4095 values
CONTEXT_KERNEL = 2**64 - 128
CONTEXT_USER = 2**64 - 512

IOC_ENABLE = 0x2400
IOC_DISABLE = 0x2401
IOC_RESET = 0x2403
IOC_SET_OUTPUT = 0x2405
IOC_ID = 0x80082407
IOC_PAUSE_OUTPUT = 0x40042409

FLAG_FD_CLOEXEC = 1 << 3

_SYS = {
    "x86_64": {"perf_event_open": 298, "getpid": 39, "getppid": 110},
    "aarch64": {"perf_event_open": 241, "getpid": 172, "getppid": 173},
}[platform.machine()]

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


# -- attr and perf_event_open ---------------------------------------------------------

_FLAG_BITS = [
    "disabled", "inherit", "pinned", "exclusive", "exclude_user", "exclude_kernel",
    "exclude_hv", "exclude_idle", "mmap", "comm", "freq", "inherit_stat", "enable_on_exec",
    "task", "watermark", "precise_ip", "mmap_data", "sample_id_all", "exclude_host",
    "exclude_guest", "exclude_callchain_kernel", "exclude_callchain_user", "mmap2",
    "comm_exec", "use_clockid", "context_switch", "write_backward", "namespaces",
]  # fmt: skip
_FLAG_WIDTH = {"precise_ip": 2}


class _Attr(ctypes.Structure):
    """A stand-in for perfsys.perf_event_attr (PERF_ATTR_SIZE_VER8 bytes)."""

    _fields_ = [
        ("type", ctypes.c_uint32),
        ("size", ctypes.c_uint32),
        ("config", ctypes.c_uint64),
        ("sample_period", ctypes.c_uint64),
        ("sample_type", ctypes.c_uint64),
        ("read_format", ctypes.c_uint64),
        *[(n, ctypes.c_uint64, _FLAG_WIDTH.get(n, 1)) for n in _FLAG_BITS],
        ("_rest_flags", ctypes.c_uint64, 64 - sum(_FLAG_WIDTH.get(n, 1) for n in _FLAG_BITS)),
        ("wakeup_events", ctypes.c_uint32),
        ("bp_type", ctypes.c_uint32),
        ("config1", ctypes.c_uint64),
        ("config2", ctypes.c_uint64),
        ("branch_sample_type", ctypes.c_uint64),
        ("sample_regs_user", ctypes.c_uint64),
        ("sample_stack_user", ctypes.c_uint32),
        ("clockid", ctypes.c_int32),
        ("sample_regs_intr", ctypes.c_uint64),
        ("aux_watermark", ctypes.c_uint32),
        ("sample_max_stack", ctypes.c_uint16),
        ("_reserved_2", ctypes.c_uint16),
        ("aux_sample_size", ctypes.c_uint32),
        ("_reserved_3", ctypes.c_uint32),
        ("sig_data", ctypes.c_uint64),
        ("config3", ctypes.c_uint64),
    ]


def make_attr(**fields: int) -> Any:
    """A zeroed perf_event_attr with `size` preset and the given fields set."""
    cls = getattr(perfsys, "perf_event_attr", None) or _Attr
    attr = cls()
    if not attr.size:
        attr.size = ctypes.sizeof(attr)
    for name, value in fields.items():
        setattr(attr, name, value)
    return attr


def perf_event_open(attr: Any, pid: int, cpu: int, group_fd: int = -1, flags: int = 0) -> int:
    """perf_event_open(2) with FD_CLOEXEC added; OSError on failure."""
    flags |= FLAG_FD_CLOEXEC
    real = getattr(perfsys, "perf_event_open", None)
    if real is not None:
        return int(real(attr, pid, cpu, group_fd, flags))
    fd = _libc.syscall(
        _SYS["perf_event_open"], ctypes.byref(attr), pid, cpu, group_fd, ctypes.c_ulong(flags)
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"perf_event_open: {os.strerror(err)}")
    return int(fd)


def ioctl(fd: int, request: int, arg: int = 0) -> int:
    return fcntl.ioctl(fd, request, arg)


def event_id(fd: int) -> int:
    buf = bytearray(8)
    fcntl.ioctl(fd, IOC_ID, buf)
    return int(struct.unpack("<Q", buf)[0])


def syscall(name: str) -> int:
    return int(_libc.syscall(_SYS[name]))


def getpid_n(n: int) -> None:
    """Make n real getpid system calls (no libc caching)."""
    call = _libc.syscall
    nr = _SYS["getpid"]
    for _ in range(n):
        call(nr)


# -- tracefs --------------------------------------------------------------------------

TRACEFS = Path("/sys/kernel/tracing")


def tracepoint_dir(category: str, name: str) -> Path:
    d = TRACEFS / "events" / category / name
    if not d.is_dir():
        import pytest

        pytest.skip(f"no tracefs tracepoint {category}:{name} (tracefs not mounted?)")
    return d


def tracepoint_id(category: str, name: str) -> int:
    return int((tracepoint_dir(category, name) / "id").read_text())


def tracepoint_fields(category: str, name: str) -> dict[str, tuple[int, int, bool]]:
    """field name -> (offset, size, signed) from the tracepoint's format file."""
    text = (tracepoint_dir(category, name) / "format").read_text()
    out = {}
    for m in re.finditer(
        r"field:[^;]*?(\w+)(?:\[\d*\])?;\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);", text
    ):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)), m.group(4) == "1")
    return out


def open_getpid_tracepoint(pid: int = 0, cpu: int = -1, **fields: int) -> int:
    attr = make_attr(
        type=PERF_TYPE_TRACEPOINT,
        config=tracepoint_id("syscalls", "sys_enter_getpid"),
        sample_period=1,
        disabled=1,
        **fields,
    )
    try:
        return perf_event_open(attr, pid, cpu)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            import pytest

            pytest.skip(f"tracepoint sampling not permitted here: {e}")
        raise


# -- records --------------------------------------------------------------------------


@dataclass
class Sample:
    identifier: int | None = None
    ip: int | None = None
    pid: int | None = None
    tid: int | None = None
    time: int | None = None
    id: int | None = None
    stream_id: int | None = None
    cpu: int | None = None
    period: int | None = None
    read_value: int | None = None
    callchain: list[int] = field(default_factory=list)
    raw: bytes | None = None


def parse_sample(data: bytes, sample_type: int) -> Sample:
    """The body of a PERF_RECORD_SAMPLE (read_format 0), in the kernel's order."""
    s = Sample()
    off = 0

    def u64() -> int:
        nonlocal off
        (v,) = struct.unpack_from("<Q", data, off)
        off += 8
        return int(v)

    if sample_type & SAMPLE_IDENTIFIER:
        s.identifier = u64()
    if sample_type & SAMPLE_IP:
        s.ip = u64()
    if sample_type & SAMPLE_TID:
        s.pid, s.tid = struct.unpack_from("<II", data, off)
        off += 8
    if sample_type & SAMPLE_TIME:
        s.time = u64()
    if sample_type & SAMPLE_ADDR:
        u64()
    if sample_type & SAMPLE_ID:
        s.id = u64()
    if sample_type & SAMPLE_STREAM_ID:
        s.stream_id = u64()
    if sample_type & SAMPLE_CPU:
        s.cpu, _res = struct.unpack_from("<II", data, off)
        off += 8
    if sample_type & SAMPLE_PERIOD:
        s.period = u64()
    if sample_type & SAMPLE_READ:
        s.read_value = u64()
    if sample_type & SAMPLE_CALLCHAIN:
        nr = u64()
        assert off + 8 * nr <= len(data), "callchain runs past the record"
        s.callchain = list(struct.unpack_from(f"<{nr}Q", data, off))
        off += 8 * nr
    if sample_type & SAMPLE_RAW:
        (size,) = struct.unpack_from("<I", data, off)
        off += 4
        assert off + size <= len(data), "raw data runs past the record"
        s.raw = data[off : off + size]
        off += size
    return s


def parse_sample_id(data: bytes, sample_type: int) -> dict[str, int]:
    """The sample_id trailer (sample_id_all) at the end of a non-sample record."""
    names: list[str] = []
    fmt = "<"
    if sample_type & SAMPLE_TID:
        names += ["pid", "tid"]
        fmt += "II"
    if sample_type & SAMPLE_TIME:
        names.append("time")
        fmt += "Q"
    if sample_type & SAMPLE_ID:
        names.append("id")
        fmt += "Q"
    if sample_type & SAMPLE_STREAM_ID:
        names.append("stream_id")
        fmt += "Q"
    if sample_type & SAMPLE_CPU:
        names += ["cpu", "res"]
        fmt += "II"
    if sample_type & SAMPLE_IDENTIFIER:
        names.append("identifier")
        fmt += "Q"
    size = struct.calcsize(fmt)
    return dict(zip(names, struct.unpack_from(fmt, data, len(data) - size), strict=True))


def cstring(data: bytes, off: int) -> str:
    end = data.index(b"\0", off)
    return data[off:end].decode()


@dataclass
class Mapping:
    start: int
    end: int
    perms: str
    path: str


def self_maps() -> list[Mapping]:
    out = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        out.append(Mapping(lo, hi, parts[1], parts[5] if len(parts) > 5 else ""))
    return out


def find_mapping(maps: list[Mapping], addr: int) -> Mapping | None:
    for m in maps:
        if m.start <= addr < m.end:
            return m
    return None


def online_cpus() -> list[int]:
    text = Path("/sys/devices/system/cpu/online").read_text().strip()
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def records_of(ring: Any, rtype: int) -> Iterator[Any]:
    for r in ring.read():
        if r.type == rtype:
            yield r
