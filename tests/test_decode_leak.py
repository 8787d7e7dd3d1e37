"""Decoding, its errors and the record objects hold no references they should not."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import struct
import sys
import weakref

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


def _records_of_a_fresh_instance() -> tuple[list[object], weakref.ref[type], weakref.ref[object]]:
    """100 records decoded by a second instance of the extension module (its own state
    and types), and weak references to the record type and the module."""
    spec = importlib.util.spec_from_file_location("perfsys._perfsys", perfsys._perfsys.__file__)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    d = mod.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP))
    recs = [d.decode(record(C.PERF_RECORD_SAMPLE, b"\0" * 8)) for _ in range(100)]
    return recs, weakref.ref(type(recs[0])), weakref.ref(mod)


def test_records_hold_their_type_and_the_module_until_they_go() -> None:
    # (weak references, not refcounts: a free-threaded build counts a type's
    # references per thread)
    recs, tp, mod = _records_of_a_fresh_instance()
    gc.collect()
    assert tp() is not None and mod() is not None
    del recs
    gc.collect()
    assert tp() is None and mod() is None
