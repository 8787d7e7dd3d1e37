"""Helpers every test area shares: opening events (hardware ones too), tracefs lookups,
raw system calls, sysctls, workloads, records built as the kernel lays them out, and a
struct-based record parser.

Attrs are built with ``perfsys.perf_event_attr(type=..., config=..., **fields)`` directly:
its keyword init takes every field by its kernel name, bitfields and union members too.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import platform
import re
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import perfsys
from perfsys import constants as C
from perfsys.events import PMU, EventCatalog, FormatField

PAGE = mmap.PAGESIZE
TRACEFS = Path("/sys/kernel/tracing")
DEVICES = Path("/sys/bus/event_source/devices")
DATA = Path(__file__).resolve().parent / "data"
"""Inputs of the tests (C workloads), beside them."""
ENV = {**os.environ, "PYTHONPATH": str(Path(perfsys.__file__).resolve().parent.parent)}
"""The environment of a child Python that imports the perfsys under test (installed, or
the one built in a source tree), whatever the working directory."""


def source_tree(need: str) -> Path:
    """The source tree these tests came with (a checkout or an unpacked sdist: the
    folder above tests/ with pyproject.toml, src/, tools/ and examples/), or a skip
    saying that `need` needs it: run from an installed wheel, they may have none."""
    root = Path(__file__).resolve().parent.parent
    if not all((root / p).exists() for p in ("pyproject.toml", "src/_perfsys.c", "tools")):
        pytest.skip(f"{need} needs the source tree (pyproject.toml, src/, tools/, examples/ "
                    f"beside tests/), and {root} is none: these tests run against an "
                    f"installed perfsys", allow_module_level=True)
    return root


# read_format bits, short
TE = C.PERF_FORMAT_TOTAL_TIME_ENABLED
TR = C.PERF_FORMAT_TOTAL_TIME_RUNNING
ID = C.PERF_FORMAT_ID
LOST = C.PERF_FORMAT_LOST
GROUP = C.PERF_FORMAT_GROUP

# -- events -----------------------------------------------------------------------------


def perf_event_open(attr: Any, pid: int, cpu: int, group_fd: int = -1, flags: int = 0) -> int:
    """perfsys.perf_event_open with PERF_FLAG_FD_CLOEXEC added."""
    return perfsys.perf_event_open(attr, pid, cpu, group_fd, flags | C.PERF_FLAG_FD_CLOEXEC)


@contextmanager
def opened(a: perfsys.perf_event_attr, pid: int = 0, cpu: int = -1, group_fd: int = -1,
           flags: int = 0) -> Iterator[int]:
    """The fd of perfsys.perf_event_open(a, ...), closed on leaving the block."""
    fd = perfsys.perf_event_open(a, pid, cpu, group_fd, flags)
    try:
        yield fd
    finally:
        os.close(fd)


def spin(seconds: float = 0.01) -> int:
    """Busy-loop in Python until this thread has run `seconds` on a CPU; returns the
    iterations made. CPU time, not wall time: on a loaded machine the thread may wait
    for a CPU most of the time, and the tests count what it did while it ran (its
    task-clock, cpu-clock samples)."""
    end = time.thread_time() + seconds
    n = 0
    while time.thread_time() < end:
        n += 1
    return n


# -- raw system calls -------------------------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

SYS_NR: dict[str, int] = {
    "x86_64": {"getpid": 39, "getppid": 110, "bpf": 321},
    "aarch64": {"getpid": 172, "getppid": 173, "bpf": 280},
}.get(platform.machine(), {})
"""System call numbers of this machine, by name (empty where the table lacks the machine)."""


def syscall(name: str) -> int:
    """The argument-less system call `name`, made directly (no libc caching)."""
    return int(libc.syscall(SYS_NR[name]))


def getpid_n(n: int) -> None:
    """Make n real getpid system calls (no libc caching)."""
    call = libc.syscall
    nr = SYS_NR["getpid"]
    for _ in range(n):
        call(nr)


# -- tracefs ----------------------------------------------------------------------------


def write_file(root: Path, rel: str, text: str) -> None:
    """Write ``text`` and a newline to ``root/rel``, making its folders (fake sysfs trees)."""
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text + "\n")


def require_tracefs(*under: str) -> None:
    """Skip the test unless tracefs is mounted (with events/<under...> in it)."""
    if not TRACEFS.joinpath("events", *under).is_dir():
        pytest.skip(f"tracefs is not mounted at {TRACEFS}")


def tracepoint_id(name: str) -> int:
    """The id of "group:event" from tracefs; FileNotFoundError where it is missing.

    Mounts nothing (tools/bootstrap.sh does)."""
    group, event = name.split(":")
    return int((TRACEFS / "events" / group / event / "id").read_text())


def tracepoint_dir(name: str) -> Path:
    """The tracefs directory of "group:event"; skips the test where it is missing."""
    group, event = name.split(":")
    d = TRACEFS / "events" / group / event
    if not d.is_dir():
        pytest.skip(f"no tracefs tracepoint {name} (tracefs not mounted?)")
    return d


def require_tracepoint_id(name: str) -> int:
    """tracepoint_id, skipping the test where the tracepoint is missing."""
    return int((tracepoint_dir(name) / "id").read_text())


def tracepoint_fields(name: str) -> dict[str, tuple[int, int, bool]]:
    """field name -> (offset, size, signed) from the format file of "group:event"."""
    text = (tracepoint_dir(name) / "format").read_text()
    out = {}
    for m in re.finditer(
        r"field:[^;]*?(\w+)(?:\[\d*\])?;\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);", text
    ):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)), m.group(4) == "1")
    return out


# -- examples ---------------------------------------------------------------------------


def run_example(script: str, *args: str, timeout: float = 120) -> str:
    """The standard output of examples/<script> run with args; it must exit 0."""
    path = source_tree(f"examples/{script}") / "examples" / script
    return subprocess.run([sys.executable, str(path), *args], env=ENV,
                          capture_output=True, text=True, check=True, timeout=timeout).stdout


# -- workloads --------------------------------------------------------------------------


def touch_pages(n: int) -> None:
    """Map n fresh anonymous pages (no huge pages) and write one byte to each."""
    m = mmap.mmap(-1, n * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        m.madvise(mmap.MADV_NOHUGEPAGE)
        for i in range(n):
            m[i * PAGE] = 1
    finally:
        m.close()


# -- hardware PMUs, their format terms, kernel sysctls -----------------------------------

HARDWARE = {
    "instructions": C.PERF_COUNT_HW_INSTRUCTIONS,
    "cycles": C.PERF_COUNT_HW_CPU_CYCLES,
}
"""The generic hardware events every hardware test tries, by perf's name."""

SYSCTL = Path("/proc/sys/kernel")


def open_hardware(name: str, group_fd: int = -1, **fields: Any) -> int:
    """A PERF_TYPE_HARDWARE event of this thread (HARDWARE[name]); skips the test where the
    machine has no PMU that counts it."""
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_HARDWARE, config=HARDWARE[name], **fields)
    try:
        return perf_event_open(a, 0, -1, group_fd)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
            pytest.skip(f"no hardware PMU counts {name} here ({errno.errorcode[e.errno]})")
        raise


def pmu_with_terms(*terms: str) -> tuple[PMU, dict[str, FormatField]]:
    """The first PMU whose sysfs format has all of `terms`; skips the test where none has."""
    for pmu in EventCatalog().pmus.values():
        if all(t in pmu.formats for t in terms):
            return pmu, {t: pmu.formats[t] for t in terms}
    pytest.skip(f"no PMU with the format terms {', '.join(terms)} in sysfs")


def term_fields(formats: dict[str, FormatField], *set_terms: str) -> dict[str, int]:
    """The attr's config fields with each of `set_terms` (one-bit flags) set to 1."""
    out: dict[str, int] = {}
    for t in set_terms:
        f = formats[t]
        out[f.config] = f.insert(out.get(f.config, 0), 1)
    return out


@contextmanager
def sysctl(name: str, value: int) -> Iterator[None]:
    """kernel.<name> set to value for the block, then put back; skips the test where the
    sysctl is missing or not writable here."""
    path = SYSCTL / name
    if not path.exists():
        pytest.skip(f"no kernel.{name} sysctl here")
    old = path.read_text()
    try:
        path.write_text(f"{value}\n")
    except OSError as e:
        pytest.skip(f"cannot set kernel.{name}: {e.strerror}")
    try:
        yield
    finally:
        path.write_text(old)


PAGE_FIELDS = {
    name: getattr(perfsys.perf_event_mmap_page, name).offset
    for name in ("capabilities", "index", "pmc_width")
}
CAP_USER_RDPMC = perfsys._perfsys._abi_bits["perf_event_mmap_page.cap_user_rdpmc"]


def header_page(fd: int) -> dict[str, int]:
    """The header page's capabilities, index and pmc_width, read through a mapping of
    our own (native byte order, as the kernel writes them)."""
    with mmap.mmap(fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ) as m:
        caps = struct.unpack_from("=Q", m, PAGE_FIELDS["capabilities"])[0]
        return {
            "cap_user_rdpmc": caps >> CAP_USER_RDPMC & 1,
            "index": struct.unpack_from("=I", m, PAGE_FIELDS["index"])[0],
            "pmc_width": struct.unpack_from("=H", m, PAGE_FIELDS["pmc_width"])[0],
        }


# -- records as the kernel lays them out (decoding tests) -------------------------------

TRAILER_BITS = (
    C.PERF_SAMPLE_TID
    | C.PERF_SAMPLE_TIME
    | C.PERF_SAMPLE_ID
    | C.PERF_SAMPLE_STREAM_ID
    | C.PERF_SAMPLE_CPU
    | C.PERF_SAMPLE_IDENTIFIER
)


def ip_sample_ring(n: int, pages: int = 1) -> perfsys.RingBuffer:
    """A memfd ring (RingBuffer._testing) holding n unread SAMPLE records of
    PERF_SAMPLE_IP alone (16 bytes each), with ip = 0..n-1."""
    ring = perfsys.RingBuffer._testing(pages)
    with memoryview(ring) as mv:
        page = ring.page_size
        for i in range(n):
            mv[page + 16 * i: page + 16 * (i + 1)] = struct.pack(
                "=IHHQ", C.PERF_RECORD_SAMPLE, 0, 16, i)
        mv[1024:1032] = struct.pack("=Q", 16 * n)   # data_head
    return ring


def record(type_: int, body: bytes, misc: int = 0) -> bytes:
    """A whole record: the generated perf_event_header, then `body`."""
    header = perfsys.perf_event_header(type=type_, misc=misc, size=8 + len(body))
    return bytes(header) + body


def padded_cstring(s: bytes) -> bytes:
    """A NUL-terminated string padded to a multiple of 8 bytes, as the kernel writes it."""
    s += b"\0"
    return s + b"\0" * (-len(s) % 8)


# Values the sample_id trailer tests use, by trailer field name.
TRAILER_VALUES = {
    "sample_pid": 4242,
    "sample_tid": 4243,
    "sample_time": 123456789012,
    "sample_id": 77,
    "sample_stream_id": 78,
    "sample_cpu": 1,
    "sample_identifier": 77,
}


def trailer(sample_type: int) -> bytes:
    """The sample_id trailer for `sample_type`, holding TRAILER_VALUES."""
    v = TRAILER_VALUES
    out = b""
    if sample_type & C.PERF_SAMPLE_TID:
        out += struct.pack("=ii", v["sample_pid"], v["sample_tid"])
    if sample_type & C.PERF_SAMPLE_TIME:
        out += struct.pack("=Q", v["sample_time"])
    if sample_type & C.PERF_SAMPLE_ID:
        out += struct.pack("=Q", v["sample_id"])
    if sample_type & C.PERF_SAMPLE_STREAM_ID:
        out += struct.pack("=Q", v["sample_stream_id"])
    if sample_type & C.PERF_SAMPLE_CPU:
        out += struct.pack("=II", v["sample_cpu"], 0)
    if sample_type & C.PERF_SAMPLE_IDENTIFIER:
        out += struct.pack("=Q", v["sample_identifier"])
    return out


def expected_trailer(sample_type: int, sample_id_all: bool) -> dict[str, int | None]:
    bits = {
        "sample_pid": C.PERF_SAMPLE_TID,
        "sample_tid": C.PERF_SAMPLE_TID,
        "sample_time": C.PERF_SAMPLE_TIME,
        "sample_id": C.PERF_SAMPLE_ID,
        "sample_stream_id": C.PERF_SAMPLE_STREAM_ID,
        "sample_cpu": C.PERF_SAMPLE_CPU,
        "sample_identifier": C.PERF_SAMPLE_IDENTIFIER,
    }
    return {
        name: (TRAILER_VALUES[name] if sample_id_all and sample_type & bit else None)
        for name, bit in bits.items()
    }


def simple_sample(ip: int, pid: int, tid: int, time: int, period: int) -> bytes:
    """A SAMPLE record for sample_type IP|TID|TIME|PERIOD."""
    return record(C.PERF_RECORD_SAMPLE, struct.pack("=QiiQQ", ip, pid, tid, time, period), misc=2)


# -- records other than SAMPLE ------------------------------------------------------

NS = [(0x10 + i, 0xF0000000 + i) for i in range(7)]


def namespaces_body() -> bytes:
    links = b"".join(bytes(perfsys.perf_ns_link_info(dev=d, ino=i)) for d, i in NS)
    return struct.pack("=iiQ", 300, 301, len(NS)) + links


# (record type, misc, body without trailer, the record class, the expected fields)
CASES: list[tuple[int, int, bytes, type, dict[str, Any]]] = [
    (
        C.PERF_RECORD_MMAP, C.PERF_RECORD_MISC_USER,
        struct.pack("=iiQQQ", 100, 101, 0x400000, 0x2000, 0x1000)
        + padded_cstring(b"/usr/bin/python3"),
        perfsys.MmapRecord,
        dict(pid=100, tid=101, addr=0x400000, len=0x2000, pgoff=0x1000,
             filename="/usr/bin/python3"),
    ),
    (
        C.PERF_RECORD_MMAP, C.PERF_RECORD_MISC_KERNEL,
        struct.pack("=iiQQQ", -1, 0, 0xFFFFFFFF81000000, 0x100000, 0)
        + padded_cstring(b"[kernel.kallsyms]"),
        perfsys.MmapRecord,
        dict(pid=-1, tid=0, addr=0xFFFFFFFF81000000, filename="[kernel.kallsyms]"),
    ),
    (
        C.PERF_RECORD_LOST, 0, struct.pack("=QQ", 5, 9), perfsys.LostRecord, dict(id=5, lost=9),
    ),
    (
        C.PERF_RECORD_COMM, C.PERF_RECORD_MISC_COMM_EXEC,
        struct.pack("=ii", 7, 8) + padded_cstring(b"worker"),
        perfsys.CommRecord, dict(pid=7, tid=8, comm="worker"),
    ),
    (
        C.PERF_RECORD_COMM, 0,
        # not UTF-8: decoded like os.fsdecode
        struct.pack("=ii", 7, 8) + padded_cstring(b"caf\xe9"),
        perfsys.CommRecord, dict(comm="caf\udce9"),
    ),
    (
        C.PERF_RECORD_EXIT, 0, struct.pack("=iiiiQ", 10, 1, 11, 2, 999),
        perfsys.ExitRecord, dict(pid=10, ppid=1, tid=11, ptid=2, time=999),
    ),
    (
        C.PERF_RECORD_FORK, 0, struct.pack("=iiiiQ", 12, 10, 13, 11, 1000),
        perfsys.ForkRecord, dict(pid=12, ppid=10, tid=13, ptid=11, time=1000),
    ),
    (
        C.PERF_RECORD_THROTTLE, 0, struct.pack("=QQQ", 5000, 3, 4),
        perfsys.ThrottleRecord, dict(time=5000, id=3, stream_id=4),
    ),
    (
        C.PERF_RECORD_UNTHROTTLE, 0, struct.pack("=QQQ", 6000, 3, 4),
        perfsys.UnthrottleRecord, dict(time=6000, id=3, stream_id=4),
    ),
    (
        C.PERF_RECORD_MMAP2, C.PERF_RECORD_MISC_USER,
        struct.pack("=iiQQQIIQQII", 20, 21, 0x7F0000000000, 0x3000, 0x2000, 8, 1, 123456, 7,
                    5, 0x2) + padded_cstring(b"/lib/libc.so.6"),
        perfsys.Mmap2Record,
        dict(pid=20, tid=21, addr=0x7F0000000000, len=0x3000, pgoff=0x2000, maj=8, min=1,
             ino=123456, ino_generation=7, build_id=None, prot=5, flags=2,
             filename="/lib/libc.so.6"),
    ),
    (
        C.PERF_RECORD_MMAP2, C.PERF_RECORD_MISC_USER | C.PERF_RECORD_MISC_MMAP_BUILD_ID,
        struct.pack("=iiQQQBBH20sII", 20, 21, 0x1000, 0x3000, 0, 20, 0, 0, bytes(range(1, 21)),
                    5, 2) + padded_cstring(b"/lib/ld.so"),
        perfsys.Mmap2Record,
        dict(maj=None, min=None, ino=None, ino_generation=None, build_id=bytes(range(1, 21)),
             prot=5, flags=2, filename="/lib/ld.so"),
    ),
    (
        C.PERF_RECORD_MMAP2, C.PERF_RECORD_MISC_MMAP_BUILD_ID,
        struct.pack("=iiQQQBBH20sII", 20, 21, 0x1000, 0x3000, 0, 16, 0, 0, b"\xab" * 20,
                    5, 2) + padded_cstring(b""),
        perfsys.Mmap2Record, dict(build_id=b"\xab" * 16, filename=""),
    ),
    (
        C.PERF_RECORD_AUX, 0, struct.pack("=QQQ", 4096, 512, C.PERF_AUX_FLAG_TRUNCATED),
        perfsys.AuxRecord, dict(aux_offset=4096, aux_size=512, flags=C.PERF_AUX_FLAG_TRUNCATED),
    ),
    (
        C.PERF_RECORD_ITRACE_START, 0, struct.pack("=ii", 30, 31),
        perfsys.ItraceStartRecord, dict(pid=30, tid=31),
    ),
    (
        C.PERF_RECORD_LOST_SAMPLES, 0, struct.pack("=Q", 17),
        perfsys.LostSamplesRecord, dict(lost=17),
    ),
    (
        C.PERF_RECORD_SWITCH, C.PERF_RECORD_MISC_SWITCH_OUT, b"", perfsys.SwitchRecord, {},
    ),
    (
        C.PERF_RECORD_SWITCH_CPU_WIDE, C.PERF_RECORD_MISC_SWITCH_OUT_PREEMPT,
        struct.pack("=ii", 40, 41),
        perfsys.SwitchCpuWideRecord, dict(next_prev_pid=40, next_prev_tid=41),
    ),
    (
        C.PERF_RECORD_NAMESPACES, 0, namespaces_body(),
        perfsys.NamespacesRecord, dict(pid=300, tid=301, namespaces=tuple(NS)),
    ),
    (
        C.PERF_RECORD_KSYMBOL, 0,
        struct.pack("=QIHH", 0xFFFFFFFFA0000000, 0x80, C.PERF_RECORD_KSYMBOL_TYPE_BPF,
                    C.PERF_RECORD_KSYMBOL_FLAGS_UNREGISTER) + padded_cstring(b"bpf_prog_1234_f"),
        perfsys.KsymbolRecord,
        dict(addr=0xFFFFFFFFA0000000, len=0x80, ksym_type=C.PERF_RECORD_KSYMBOL_TYPE_BPF,
             flags=C.PERF_RECORD_KSYMBOL_FLAGS_UNREGISTER, name="bpf_prog_1234_f"),
    ),
    (
        C.PERF_RECORD_BPF_EVENT, 0,
        struct.pack("=HHI8s", C.PERF_BPF_EVENT_PROG_LOAD, 0, 42, bytes(range(1, 9))),
        perfsys.BpfEventRecord,
        dict(bpf_type=C.PERF_BPF_EVENT_PROG_LOAD, flags=0, id=42,
             tag=bytes(range(1, 9))),
    ),
    (
        C.PERF_RECORD_CGROUP, 0,
        struct.pack("=Q", 0x1234) + padded_cstring(b"/system.slice/x.service"),
        perfsys.CgroupRecord, dict(id=0x1234, path="/system.slice/x.service"),
    ),
    (
        C.PERF_RECORD_TEXT_POKE, 0,
        struct.pack("=QHH", 0xFFFFFFFF81234567, 2, 3) + b"\x90\x90\xe8\x01\x02" + b"\0" * 7,
        perfsys.TextPokeRecord,
        dict(addr=0xFFFFFFFF81234567, old_len=2, new_len=3, bytes=b"\x90\x90\xe8\x01\x02"),
    ),
    (
        C.PERF_RECORD_AUX_OUTPUT_HW_ID, 0, struct.pack("=Q", 0xABC),
        perfsys.AuxOutputHwIdRecord, dict(hw_id=0xABC),
    ),
    (
        C.PERF_RECORD_CALLCHAIN_DEFERRED, 0,
        struct.pack("=QQ3Q", 0xC00C1E, 3, C.PERF_CONTEXT_USER, 0x401000, 0x402000),
        perfsys.CallchainDeferredRecord,
        dict(cookie=0xC00C1E, ips=(C.PERF_CONTEXT_USER, 0x401000, 0x402000)),
    ),
]


def branch_entry(i: int) -> perfsys.perf_branch_entry:
    e = perfsys.perf_branch_entry()
    setattr(e, "from", 0x401000 + 16 * i)
    e.to = 0x402000 + 16 * i
    e.mispred = i & 1
    e.predicted = (i + 1) & 1
    e.in_tx = 1
    e.abort = 0
    e.cycles = 1000 + i
    e.type = 5
    e.spec = 2
    e.new_type = 3
    e.priv = 7
    e.reserved = 0x7FFFFFFF  # bits the decoder must ignore
    return e


# Every sample bit but READ (tested with the read_format decoder), in the kernel's order.
ALL_BUT_READ = (C.PERF_SAMPLE_MAX - 1) & ~C.PERF_SAMPLE_READ


def all_bits_body(weight: bytes, data_src: int, branch_flags: int) -> bytes:
    b = struct.pack("=Q", 0xAAAA)                       # IDENTIFIER
    b += struct.pack("=Q", 0x401234)                    # IP
    b += struct.pack("=ii", 50, 51)                     # TID
    b += struct.pack("=Q", 10**12)                      # TIME
    b += struct.pack("=Q", 0xDEAD0000)                  # ADDR
    b += struct.pack("=Q", 0xAAAA)                      # ID
    b += struct.pack("=Q", 0xBBBB)                      # STREAM_ID
    b += struct.pack("=II", 1, 0)                       # CPU
    b += struct.pack("=Q", 100003)                      # PERIOD
    b += struct.pack("=Q3Q", 3, C.PERF_CONTEXT_USER, 0x401234, 0x400100)  # CALLCHAIN
    b += struct.pack("=I", 12) + b"rawpayload!!"        # RAW: 4 + 12 = 16 bytes
    entries = [branch_entry(i) for i in range(2)]
    b += struct.pack("=Q", 2)                           # BRANCH_STACK nr
    if branch_flags & C.PERF_SAMPLE_BRANCH_HW_INDEX:
        b += struct.pack("=Q", 0x1F)
    b += b"".join(bytes(e) for e in entries)
    if branch_flags & C.PERF_SAMPLE_BRANCH_COUNTERS:
        b += struct.pack("=2Q", 0x11, 0x22)
    b += struct.pack("=Q3Q", C.PERF_SAMPLE_REGS_ABI_64, 1, 2, 3)  # REGS_USER, 3 regs
    b += struct.pack("=Q", 16) + b"stackstackstack!" + struct.pack("=Q", 12)  # STACK_USER
    b += weight                                         # WEIGHT / WEIGHT_STRUCT
    b += struct.pack("=Q", data_src)                    # DATA_SRC
    b += struct.pack("=Q", 0x5)                         # TRANSACTION
    b += struct.pack("=Q2Q", C.PERF_SAMPLE_REGS_ABI_64, 7, 8)  # REGS_INTR, 2 regs
    b += struct.pack("=Q", 0x12345000)                  # PHYS_ADDR
    b += struct.pack("=Q", 0x99)                        # CGROUP
    b += struct.pack("=Q", 4096)                        # DATA_PAGE_SIZE
    b += struct.pack("=Q", 2 * 1024 * 1024)             # CODE_PAGE_SIZE
    b += struct.pack("=Q", 8) + b"auxdata!"             # AUX
    return b


# -- the ring: opening the getpid tracepoint, parsing records with struct ---------------
# Records are parsed here with ``struct``, independently of the C decoder, so the tests
# check the ring against the kernel's layout rather than against the decoder.

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
        (v,) = struct.unpack_from("=Q", data, off)
        off += 8
        return int(v)

    if sample_type & SAMPLE_IDENTIFIER:
        s.identifier = u64()
    if sample_type & SAMPLE_IP:
        s.ip = u64()
    if sample_type & SAMPLE_TID:
        s.pid, s.tid = struct.unpack_from("=II", data, off)
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
        s.cpu, _res = struct.unpack_from("=II", data, off)
        off += 8
    if sample_type & SAMPLE_PERIOD:
        s.period = u64()
    if sample_type & SAMPLE_READ:
        s.read_value = u64()
    if sample_type & SAMPLE_CALLCHAIN:
        nr = u64()
        assert off + 8 * nr <= len(data), "callchain runs past the record"
        s.callchain = list(struct.unpack_from(f"={nr}Q", data, off))
        off += 8 * nr
    if sample_type & SAMPLE_RAW:
        (size,) = struct.unpack_from("=I", data, off)
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


def read_cstring(data: bytes, off: int) -> str:
    """The NUL-terminated string at data[off:], decoded."""
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


# -- a threaded workload (perfsys.group, perfsys.sampler, the examples) -----------------

FORKS = ("forks through perfsys.launch.PausedCommand, and a child forked beside other "
         "running threads may find a lock one of them held")
"""The reason of the thread_unsafe mark of a test that starts a PausedCommand."""

SPIN = 0.1
"""Seconds of CPU time each thread of THREADS_LATER spends."""

THREADS_LATER = f"""
import sys, threading, time
def spin():
    end = time.thread_time() + {SPIN}
    while time.thread_time() < end:
        pass
ts = [threading.Thread(target=spin) for _ in range(3)]
[t.start() for t in ts]
spin()
[t.join() for t in ts]
if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        f.write(" ".join(str(t.native_id) for t in ts))
"""
"""A Python program whose main thread starts three threads once it runs; each of the four
spends SPIN seconds of CPU time; the started threads' ids go to the file argv[1] names."""


def spin_cpu(seconds: float) -> None:
    """Busy-loop until this thread has run `seconds` on a CPU (however loaded the machine)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def error_of_close_racing(work: Any, close: Any, after: float = 0.002) -> BaseException:
    """Run work() over and over in a thread, call close() from this one `after` seconds
    in, and return the one exception that ended the thread."""
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            while True:
                work()
        except BaseException as err:
            errors.append(err)

    t = threading.Thread(target=loop)
    t.start()
    spin(after)
    close()
    t.join()
    assert len(errors) == 1, errors
    return errors[0]


def python312() -> str:
    """A CPython 3.12 or newer (which writes perf maps): this one, or $PERFSYS_PYTHON312."""
    if sys.version_info >= (3, 12):
        return sys.executable
    other = os.environ.get("PERFSYS_PYTHON312", "")
    if not other or not os.access(other, os.X_OK):
        pytest.skip(f"Python {sys.version_info.major}.{sys.version_info.minor} has no perf "
                    "trampoline: set PERFSYS_PYTHON312 to a CPython 3.12+ (CI runs these "
                    "under the free-threaded 3.14 of ../shared/python314t)")
    return other
