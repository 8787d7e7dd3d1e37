"""Helpers of the RingBuffer tests: opening the getpid tracepoint, parsing records.

Records are parsed here with ``struct``, independently of the C decoder, so the tests
check the ring against the kernel's layout rather than against the decoder.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import perf_event_open, require_tracepoint_id

import perfsys
from perfsys import constants as C

# -- kernel ABI numbers, from the generated tables ------------------------------------

PERF_TYPE_SOFTWARE = C.PERF_TYPE_SOFTWARE
PERF_TYPE_TRACEPOINT = C.PERF_TYPE_TRACEPOINT
PERF_COUNT_SW_CPU_CLOCK = C.PERF_COUNT_SW_CPU_CLOCK
PERF_COUNT_SW_TASK_CLOCK = C.PERF_COUNT_SW_TASK_CLOCK
PERF_COUNT_SW_DUMMY = C.PERF_COUNT_SW_DUMMY

SAMPLE_IP = C.PERF_SAMPLE_IP
SAMPLE_TID = C.PERF_SAMPLE_TID
SAMPLE_TIME = C.PERF_SAMPLE_TIME
SAMPLE_ADDR = C.PERF_SAMPLE_ADDR
SAMPLE_READ = C.PERF_SAMPLE_READ
SAMPLE_CALLCHAIN = C.PERF_SAMPLE_CALLCHAIN
SAMPLE_ID = C.PERF_SAMPLE_ID
SAMPLE_CPU = C.PERF_SAMPLE_CPU
SAMPLE_PERIOD = C.PERF_SAMPLE_PERIOD
SAMPLE_STREAM_ID = C.PERF_SAMPLE_STREAM_ID
SAMPLE_RAW = C.PERF_SAMPLE_RAW
SAMPLE_IDENTIFIER = C.PERF_SAMPLE_IDENTIFIER

RECORD_MMAP = C.PERF_RECORD_MMAP
RECORD_LOST = C.PERF_RECORD_LOST
RECORD_COMM = C.PERF_RECORD_COMM
RECORD_EXIT = C.PERF_RECORD_EXIT
RECORD_FORK = C.PERF_RECORD_FORK
RECORD_SAMPLE = C.PERF_RECORD_SAMPLE
RECORD_MMAP2 = C.PERF_RECORD_MMAP2
RECORD_SWITCH = C.PERF_RECORD_SWITCH

MISC_SWITCH_OUT = C.PERF_RECORD_MISC_SWITCH_OUT
MISC_COMM_EXEC = C.PERF_RECORD_MISC_COMM_EXEC
MISC_CPUMODE_MASK = C.PERF_RECORD_MISC_CPUMODE_MASK
MISC_USER = C.PERF_RECORD_MISC_USER

CONTEXT_MAX = C.PERF_CONTEXT_MAX
CONTEXT_KERNEL = C.PERF_CONTEXT_KERNEL
CONTEXT_USER = C.PERF_CONTEXT_USER

# -- the getpid tracepoint -------------------------------------------------------------


def open_getpid_tracepoint(pid: int = 0, cpu: int = -1, **fields: int) -> int:
    attr = perfsys.perf_event_attr(
        type=PERF_TYPE_TRACEPOINT,
        config=require_tracepoint_id("syscalls:sys_enter_getpid"),
        sample_period=1,
        disabled=1,
        **fields,
    )
    try:
        return perf_event_open(attr, pid, cpu)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
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
