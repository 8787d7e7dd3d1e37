"""Helpers of the core tests: workloads, a ring read with Python's mmap."""

from __future__ import annotations

import mmap
import struct

from support import PAGE

import perfsys


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


class Ring:
    """The ring of one event mapped with Python's mmap: header page + 2^n data pages."""

    def __init__(self, fd: int, data_pages: int = 8) -> None:
        self.size = data_pages * PAGE
        self.map = mmap.mmap(fd, PAGE + self.size, mmap.MAP_SHARED,
                             mmap.PROT_READ | mmap.PROT_WRITE)
        self.tail = 0
        self.page: perfsys.perf_event_mmap_page | None = (
            perfsys.perf_event_mmap_page.from_buffer(self.map))

    def head(self) -> int:
        assert self.page is not None
        return self.page.data_head

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
        assert self.page is not None
        self.page.data_tail = self.tail
        return out

    def close(self) -> None:
        self.page = None  # release the export before unmapping
        self.map.close()

