"""Fuzz the ring buffer's reader: arbitrary data pages, head, tail, mode and decoder.

    tools/fuzz/run.sh ring [libFuzzer options, e.g. -max_total_time=60 -runs=N]

Two rings over memfds laid out like a perf ring (``RingBuffer._testing``), one normal
and one in overwrite mode, are made once. Each input fills the data area of one of them
with records (raw bytes, or well-formed headers over arbitrary bodies), sets data_head
and data_tail (any values, or ones near each other where the records are), and reads
twice with or without a decoder and a record limit (with a decoder, into records or into
columns, whose callchains are then counted), then reads ``available``, moves the tail
and discards.
Only the errors in ``common.EXPECTED`` may come out.
"""

from __future__ import annotations

import contextlib
import struct
import sys
from typing import Any

import atheris
from common import EXPECTED, decoder, load, records

PAGES = 2
RINGS: list[Any] = []
HEAD, TAIL = 1024, 1032   # offsetof(perf_event_mmap_page, data_head / data_tail)


def test_one(data: bytes) -> None:
    if not RINGS:
        perfsys = load()
        RINGS.extend([perfsys.RingBuffer._testing(PAGES),
                      perfsys.RingBuffer._testing(PAGES, overwrite=True)])
    fdp = atheris.FuzzedDataProvider(data)
    ring = RINGS[fdp.ConsumeIntInRange(0, 1)]
    d = decoder(fdp) if fdp.ConsumeBool() else None
    limit = fdp.ConsumeIntInRange(-1, 8)
    page, size = ring.page_size, ring.data_size
    if fdp.ConsumeBool():
        # positions a reader can make sense of: 8-aligned, tail at most a data area (and
        # a little) behind head, and the records where the reader starts (overwrite
        # mode reads from head, normal mode from tail)
        head = 8 * fdp.ConsumeIntInRange(0, 2**61 - 1)
        tail = (head - 8 * fdp.ConsumeIntInRange(0, size // 8 + 8)) % 2**64
        start = (head if ring.overwrite else tail) % size
    else:
        head, tail = fdp.ConsumeIntInRange(0, 2**64 - 1), fdp.ConsumeIntInRange(0, 2**64 - 1)
        start = 8 * fdp.ConsumeIntInRange(0, size // 8 - 1)
    area = records(fdp, size)
    mv = memoryview(ring)
    try:
        for i in range(0, len(area), 8):   # from `start`, wrapping at the end
            chunk = area[i : i + 8]
            at = page + (start + i) % size
            mv[at : at + len(chunk)] = chunk
        mv[HEAD : HEAD + 8] = struct.pack("=Q", head)
        mv[TAIL : TAIL + 8] = struct.pack("=Q", tail)
    finally:
        mv.release()
    for _ in range(2):   # the second read starts where the first stopped (or raised)
        with contextlib.suppress(*EXPECTED):
            if d is not None and fdp.ConsumeBool():   # the samples into columns
                cols = ring.read_columns(limit, d)
                repr(cols)
                if cols.callchain is not None:
                    repr(load().count_callchains(cols.callchain_offsets, cols.callchain))
            else:
                repr(ring.read(limit, d))
    _ = ring.available, ring.data_head, ring.data_tail
    with contextlib.suppress(*EXPECTED):
        ring.data_tail = fdp.ConsumeIntInRange(0, 2**64 - 1)
    ring.discard()


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()
