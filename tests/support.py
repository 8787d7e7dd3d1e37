"""Helpers every test area shares: opening events, tracefs lookups, raw system calls.

Attrs are built with ``perfsys.perf_event_attr(type=..., config=..., **fields)`` directly:
its keyword init takes every field by its kernel name, bitfields and union members too.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import perfsys
from perfsys import constants as C

PAGE = mmap.PAGESIZE
TRACEFS = Path("/sys/kernel/tracing")
DEVICES = Path("/sys/bus/event_source/devices")
ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
"""The environment of a child Python that imports this checkout's perfsys."""

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


def spin_for(seconds: float) -> int:
    """Busy-loop in Python for `seconds` of wall time; returns the iterations made."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
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
    return subprocess.run([sys.executable, str(ROOT / "examples" / script), *args], env=ENV,
                          capture_output=True, text=True, check=True, timeout=timeout).stdout
