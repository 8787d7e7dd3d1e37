"""Helpers shared by the core tests: attrs, workloads, a ring read with mmap."""

from __future__ import annotations

import ctypes
import mmap
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import perfsys
from perfsys import constants as C

PAGE = mmap.PAGESIZE
TRACEFS = Path("/sys/kernel/tracing")


def attr(type_: int, config: int, **fields: int) -> perfsys.perf_event_attr:
    """A perf_event_attr with size preset (by the generated struct) and fields set."""
    a = perfsys.perf_event_attr()
    a.type = type_
    a.config = config
    for name, value in fields.items():
        setattr(a, name, value)
    return a


def sw(config: int, **fields: int) -> perfsys.perf_event_attr:
    return attr(C.PERF_TYPE_SOFTWARE, config, **fields)


@contextmanager
def opened(a: perfsys.perf_event_attr, pid: int = 0, cpu: int = -1, group_fd: int = -1,
           flags: int = 0) -> Iterator[int]:
    fd = perfsys.perf_event_open(a, pid, cpu, group_fd, flags)
    try:
        yield fd
    finally:
        os.close(fd)


def touch_pages(n: int) -> None:
    """Map n fresh anonymous pages (no huge pages) and write one byte to each."""
    m = mmap.mmap(-1, n * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        m.madvise(mmap.MADV_NOHUGEPAGE)
        for i in range(n):
            m[i * PAGE] = 1
    finally:
        m.close()


def spin(n: int = 200_000) -> int:
    total = 0
    for i in range(n):
        total += i * i
    return total


def tracepoint_id(name: str) -> int:
    """The id of "group:event" from tracefs; mounts nothing (bootstrap does)."""
    group, event = name.split(":")
    return int((TRACEFS / "events" / group / event / "id").read_text())


class Ring:
    """The ring of one event mapped with Python's mmap: header page + 2^n data pages."""

    def __init__(self, fd: int, data_pages: int = 8) -> None:
        self.size = data_pages * PAGE
        self.map = mmap.mmap(fd, PAGE + self.size, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.tail = 0

    def head(self) -> int:
        off = perfsys.perf_event_mmap_page.data_head.offset
        return int.from_bytes(self.map[off:off + 8], "little")

    def records(self) -> list[tuple[int, bytes]]:
        """(type, body) of every record written since the last call."""
        head = self.head()
        out = []
        data = self.map[PAGE:PAGE + self.size]
        while self.tail < head:
            pos = self.tail % self.size
            hdr = (data + data)[pos:pos + 8]
            type_, _misc, size = struct.unpack("<IHH", hdr)
            body = (data + data)[pos + 8:pos + size]
            out.append((type_, body))
            self.tail += size
        off = perfsys.perf_event_mmap_page.data_tail.offset
        self.map[off:off + 8] = self.tail.to_bytes(8, "little")
        return out

    def close(self) -> None:
        self.map.close()


libc = ctypes.CDLL(None, use_errno=True)
