"""Decoding, its errors and the record objects hold no references they should not."""

from __future__ import annotations

import contextlib
import gc
import struct
import sys

from support import CASES, TRAILER_BITS, all_bits_body, record, trailer

import perfsys
from perfsys import constants as C


def _blocks_after(fn: object, rounds: int = 300) -> int:
    assert callable(fn)
    for _ in range(20):  # warm up caches (interned strings, free lists)
        fn()
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(rounds):
        fn()
    gc.collect()
    return sys.getallocatedblocks() - before


def test_no_leak_decoding_every_record() -> None:
    attr = perfsys.perf_event_attr(
        sample_type=((C.PERF_SAMPLE_MAX - 1) & ~C.PERF_SAMPLE_READ) | TRAILER_BITS,
        sample_id_all=True,
        branch_sample_type=C.PERF_SAMPLE_BRANCH_HW_INDEX | C.PERF_SAMPLE_BRANCH_COUNTERS,
        sample_regs_user=0b1011,
        sample_regs_intr=(1 << 40) | 1,
    )
    decoder = perfsys.Decoder(attr)
    branch = C.PERF_SAMPLE_BRANCH_HW_INDEX | C.PERF_SAMPLE_BRANCH_COUNTERS
    sample = record(C.PERF_RECORD_SAMPLE, all_bits_body(b"\x01" * 8, 3, branch))
    t = trailer(attr.sample_type)
    data = sample + b"".join(record(c[0], c[2] + t, c[1]) for c in CASES)
    data += record(0x7777, b"12345678")

    def work() -> None:
        recs = decoder.decode_all(data)
        for r in recs:
            repr(r)
            tuple(r)
        hash(recs[0])
        recs[0]._asdict()

    assert _blocks_after(work) < 50


def test_no_leak_on_errors() -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP
                                                      | C.PERF_SAMPLE_CALLCHAIN
                                                      | C.PERF_SAMPLE_RAW))
    bad = [
        record(C.PERF_RECORD_SAMPLE, struct.pack("=QQ", 1, 2**40)),
        record(C.PERF_RECORD_SAMPLE, struct.pack("=QQQI4x", 1, 1, 5, 2**31)),
        record(C.PERF_RECORD_SAMPLE, struct.pack("=QQQI4x", 1, 1, 5, 4) + b"extra!!!"),
        record(C.PERF_RECORD_MMAP2, b"\0" * 16),
        b"\0" * 7,
    ]

    def work() -> None:
        for b in bad:
            with contextlib.suppress(perfsys.RecordError):
                decoder.decode(b)
            with contextlib.suppress(perfsys.RecordError):
                decoder.decode_all(b)
        with contextlib.suppress(ValueError):
            perfsys.Decoder({1: perfsys.perf_event_attr(sample_type=1),
                             2: perfsys.perf_event_attr(sample_type=2)})

    assert _blocks_after(work) < 50


def test_decoder_and_types_are_released() -> None:
    def work() -> None:
        d = perfsys.Decoder({5: perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IDENTIFIER)})
        d.add(6, perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_IP))
        d.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=QQ", 6, 1)))

    assert _blocks_after(work) < 50
    # (counted into locals: pytest's assertion rewriting keeps its operands alive)
    tp = perfsys.SampleRecord
    before = sys.getrefcount(tp)
    recs = [perfsys.Decoder(perfsys.perf_event_attr(sample_type=1)).decode(record(9, b"\0" * 8))
            for _ in range(100)]
    during = sys.getrefcount(tp)
    del recs
    after = sys.getrefcount(tp)
    assert (during - before, after - before) == (100, 0)  # each record holds its type
