"""Drain-and-decode rate of SAMPLE records: perfsys's C Decoder against pure Python.

Both sides drain the same ring (a RingBuffer over a memfd, filled once with records
laid out as the kernel writes them) and decode every record; each round hands the
whole data area out again by moving data_head one lap forward. The pure-Python side
reads the ring through its buffer with struct.unpack_from, in two flavours:

  python-named  a decoder that returns the same named records (every SampleRecord field,
                absent ones None), as a pure-Python binding would
  python-bare   the least Python can do: one struct.unpack_from tuple per record

More C columns place the cost: `C+read` also reads every field the records carry (ip,
pid, tid, time, period and the callchain), which a SampleRecord turns into Python objects
only when they are read; `decode_all` decodes a bytes copy of the same records with no
ring at all, and `raw` drains the ring into RawRecords with no decoding.

Each figure is measured in a fresh interpreter, so that no column inherits the heap that
another left behind.

Run: python3 benchmarks/bench_decode.py [--seconds S]
"""

from __future__ import annotations

import argparse
import gc
import struct
import subprocess
import sys
import time
from collections import namedtuple
from collections.abc import Callable
from pathlib import Path
from typing import Any

# This checkout's build (python3 setup.py build_ext --inplace), as bench_read does.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import perfsys
from perfsys import constants as C

SIMPLE = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_PERIOD
CHAIN = SIMPLE | C.PERF_SAMPLE_CALLCHAIN
CHAIN_DEPTH = 16

SampleNT = namedtuple("SampleNT", perfsys.SampleRecord.__match_args__)  # type: ignore[misc]
NFIELDS = len(SampleNT._fields)
IDX = {name: i for i, name in enumerate(SampleNT._fields)}


def make_records(sample_type: int, n: int) -> bytes:
    out = []
    for i in range(n):
        body = struct.pack("=QiiQQ", 0x401000 + 16 * i, 1000, 1001, 10**12 + i, 100_000)
        if sample_type & C.PERF_SAMPLE_CALLCHAIN:
            frames = [0x7F0000000000 + 64 * (i + k) for k in range(CHAIN_DEPTH - 1)]
            ips = [C.PERF_CONTEXT_USER, *frames]
            body += struct.pack(f"={len(ips) + 1}Q", len(ips), *ips)
        header = perfsys.perf_event_header(type=C.PERF_RECORD_SAMPLE, misc=2, size=8 + len(body))
        out.append(bytes(header) + body)
    return b"".join(out)


# -- the pure-Python decoders -----------------------------------------------------------

HEADER = struct.Struct("=IHH")
PREFIX = struct.Struct("=QiiQQ")  # IP, TID, TIME, PERIOD
NR = struct.Struct("=Q")
_new = tuple.__new__


def python_named(buf: Any, off: int, end: int, sample_type: int) -> list[Any]:
    """A general decoder restricted to the bits benchmarked: named records, all fields."""
    out = []
    append = out.append
    unpack_header = HEADER.unpack_from
    unpack_prefix = PREFIX.unpack_from
    chain = sample_type & C.PERF_SAMPLE_CALLCHAIN
    none_tail = [None] * (NFIELDS - IDX["period"] - 1)
    icc = IDX["callchain"] - IDX["period"] - 1
    while off < end:
        type_, misc, size = unpack_header(buf, off)
        if size < 8 or off + size > end:
            raise ValueError("bad record size")
        if type_ != C.PERF_RECORD_SAMPLE:
            off += size
            continue
        ip, pid, tid, t, period = unpack_prefix(buf, off + 8)
        tail = none_tail.copy()
        if chain:
            p = off + 8 + PREFIX.size
            (nr,) = NR.unpack_from(buf, p)
            if p + 8 + 8 * nr > off + size:
                raise ValueError("callchain past the record")
            tail[icc] = struct.unpack_from(f"={nr}Q", buf, p + 8)
        append(_new(SampleNT, (type_, misc, None, ip, pid, tid, t, None, None, None, None,
                               period, *tail)))
        off += size
    return out


def python_bare(buf: Any, off: int, end: int, sample_type: int) -> list[Any]:
    out = []
    append = out.append
    unpack_header = HEADER.unpack_from
    unpack_prefix = PREFIX.unpack_from
    chain = sample_type & C.PERF_SAMPLE_CALLCHAIN
    while off < end:
        size = unpack_header(buf, off)[2]
        rec = unpack_prefix(buf, off + 8)
        if chain:
            p = off + 8 + PREFIX.size
            (nr,) = NR.unpack_from(buf, p)
            rec = (*rec, struct.unpack_from(f"={nr}Q", buf, p + 8))
        append(rec)
        off += size
    return out


# -- the rings ------------------------------------------------------------------------


class Lap:
    """A testing RingBuffer filled with records; each lap() hands them all out again."""

    def __init__(self, sample_type: int, data_pages: int) -> None:
        self.ring = perfsys.RingBuffer._testing(data_pages)
        self.page = self.ring.page_size
        self.size = self.ring.data_size
        one = len(make_records(sample_type, 1))
        self.n = self.size // one
        data = make_records(sample_type, self.n)
        self.used = len(data)
        view = memoryview(self.ring)
        view[self.page : self.page + self.used] = data
        view.release()
        self.header = perfsys.perf_event_mmap_page.from_buffer(self.ring)
        self.pos = 0

    def lap(self) -> None:
        # the records fill [0, used) of the data area; skip the unused rest of the lap
        self.pos += self.size
        self.header.data_tail = self.pos - self.size
        self.header.data_head = self.pos - self.size + self.used


def bench(fn: Callable[[], int], seconds: float) -> float:
    """Records per second of fn (which returns the number it decoded), best of 5."""
    best = 0.0
    for _ in range(5):
        n = 0
        t0 = time.perf_counter()
        deadline = t0 + seconds / 5
        while True:
            n += fn()
            t = time.perf_counter()
            if t >= deadline:
                break
        best = max(best, n / (t - t0))
    return best


COLUMNS = ("c", "c_read", "decode_all", "raw", "named", "bare")


def read_every_field(recs: list[Any], chain: int) -> int:
    """Read every field the benchmark's samples carry, of every record; returns how many."""
    if chain:
        for r in recs:
            r.ip, r.pid, r.tid, r.time, r.period, r.callchain  # noqa: B018
    else:
        for r in recs:
            r.ip, r.pid, r.tid, r.time, r.period  # noqa: B018
    return len(recs)


def measure(sample_type: int, data_pages: int, column: str, seconds: float) -> float:
    """Records per second of one column, in this (fresh) process."""
    lap = Lap(sample_type, data_pages)
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=sample_type))
    view = memoryview(lap.ring)

    def c_drain() -> int:
        lap.lap()
        return len(lap.ring.read(decoder=decoder))

    chain = sample_type & C.PERF_SAMPLE_CALLCHAIN

    def c_read_drain() -> int:
        lap.lap()
        return read_every_field(lap.ring.read(decoder=decoder), chain)

    def raw_drain() -> int:
        lap.lap()
        return len(lap.ring.read())

    data = bytes(view[lap.page : lap.page + lap.used])  # the same records, as bytes

    def no_ring() -> int:
        return len(decoder.decode_all(data))

    def py_drain(decode: Callable[[Any, int, int, int], list[Any]]) -> Callable[[], int]:
        def drain() -> int:
            lap.lap()
            tail = lap.header.data_tail
            head = lap.header.data_head
            start = lap.page + tail % lap.size
            recs = decode(view, start, start + (head - tail), sample_type)
            lap.header.data_tail = head
            return len(recs)
        return drain

    fns = {"c": c_drain, "c_read": c_read_drain, "decode_all": no_ring, "raw": raw_drain,
           "named": py_drain(python_named), "bare": py_drain(python_bare)}
    rate = bench(fns[column], seconds)
    view.release()
    del lap.header
    lap.ring.close()
    return rate


def check(sample_type: int, data_pages: int) -> int:
    """The C Decoder and the named pure-Python decoder give the same records; returns
    how many records one drain holds."""
    lap = Lap(sample_type, data_pages)
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=sample_type))
    view = memoryview(lap.ring)
    lap.lap()
    tail, head = lap.header.data_tail, lap.header.data_head
    mine = python_named(view, lap.page, lap.page + head - tail, sample_type)
    theirs = lap.ring.read(decoder=decoder)
    assert [tuple(r) for r in theirs] == [tuple(r) for r in mine]
    view.release()
    del lap.header
    lap.ring.close()
    return lap.n


def in_fresh_process(sample_type: int, data_pages: int, column: str, seconds: float) -> float:
    """measure() in a new interpreter: every column starts from the same clean heap.
    (A heap churned by millions of short-lived objects scatters new ones across memory,
    which was seen to halve the C decoder's rate, and would make the order of the
    columns decide the result.)"""
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(sample_type), str(data_pages), column,
         "--seconds", str(seconds)],
        check=True, capture_output=True, text=True,
    ).stdout
    return float(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    ap.add_argument("--one", nargs=3, metavar=("SAMPLE_TYPE", "PAGES", "COLUMN"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        st, pages, column = int(args.one[0]), int(args.one[1]), args.one[2]
        print(measure(st, pages, column, args.seconds))
        return
    print(f"perfsys {perfsys.__version__}, gc enabled: {gc.isenabled()}, "
          "each figure measured in a fresh interpreter")
    print("records per second (M/s): C = RingBuffer.read(decoder=Decoder)")
    print(f"{'sample_type':<28} {'ring':>7} {'records':>8} {'C':>7} {'C+read':>7} "
          f"{'decode_all':>10} {'raw':>7} {'py-named':>9} {'py-bare':>8} {'C/named':>8} "
          f"{'C/bare':>7}")
    for name, st in (("IP|TID|TIME|PERIOD", SIMPLE),
                     (f"+CALLCHAIN ({CHAIN_DEPTH} frames)", CHAIN)):
        for pages in (8, 64):
            n = check(st, pages)
            r = {col: in_fresh_process(st, pages, col, args.seconds) for col in COLUMNS}
            print(f"{name:<28} {pages * 4:>5}KiB {n:>8} {r['c'] / 1e6:>7.2f} "
                  f"{r['c_read'] / 1e6:>7.2f} {r['decode_all'] / 1e6:>10.2f} "
                  f"{r['raw'] / 1e6:>7.2f} "
                  f"{r['named'] / 1e6:>9.2f} {r['bare'] / 1e6:>8.2f} "
                  f"{r['c'] / r['named']:>7.1f}x {r['c'] / r['bare']:>6.1f}x", flush=True)


if __name__ == "__main__":
    main()
