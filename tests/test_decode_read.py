"""PERF_SAMPLE_READ and PERF_RECORD_READ, in every read_format."""

from __future__ import annotations

import struct

import pytest
from support import GROUP, ID, LOST, TE, TR, TRAILER_BITS, expected_trailer, record, trailer

import perfsys
from perfsys import constants as C

READ_FORMATS = list(range(C.PERF_FORMAT_MAX))


def read_block(rf: int, nr: int = 3) -> bytes:
    """A read_format block with distinct values."""
    flags = [(TE, 1000), (TR, 900)]
    if not rf & GROUP:
        out = struct.pack("=Q", 42)
        for bit, v in [*flags, (ID, 7), (LOST, 1)]:
            if rf & bit:
                out += struct.pack("=Q", v)
        return out
    out = struct.pack("=Q", nr)
    for bit, v in flags:
        if rf & bit:
            out += struct.pack("=Q", v)
    for i in range(nr):
        out += struct.pack("=Q", 100 + i)
        if rf & ID:
            out += struct.pack("=Q", 200 + i)
        if rf & LOST:
            out += struct.pack("=Q", i)
    return out


@pytest.mark.parametrize("rf", READ_FORMATS)
def test_sample_read(rf: int) -> None:
    st = C.PERF_SAMPLE_TID | C.PERF_SAMPLE_READ | C.PERF_SAMPLE_CALLCHAIN
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st, read_format=rf))
    block = read_block(rf)
    body = struct.pack("=ii", 1, 2) + block + struct.pack("=QQ", 1, 0x4000)
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, body))
    assert r.read == perfsys._perfsys.decode_read(rf, block)
    assert r.callchain == (0x4000,)
    if rf & GROUP:
        assert [m.value for m in r.read.values] == [100, 101, 102]
    else:
        assert r.read.value == 42
    # the group's nr or the values cut short: a RecordError, as for any record
    if rf & GROUP:
        bad = struct.pack("=ii", 1, 2) + struct.pack("=Q", 2**62) + block[8:]
    else:
        bad = struct.pack("=ii", 1, 2) + block[:-8]
    with pytest.raises(perfsys.RecordError):
        decoder.decode(record(C.PERF_RECORD_SAMPLE, bad))


@pytest.mark.parametrize("rf", READ_FORMATS)
@pytest.mark.parametrize("sample_id_all", [False, True])
def test_read_record(rf: int, sample_id_all: bool) -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=TRAILER_BITS, read_format=rf,
                                                      sample_id_all=sample_id_all))
    block = read_block(rf, nr=2)
    body = struct.pack("=ii", 55, 56) + block + (trailer(TRAILER_BITS) if sample_id_all else b"")
    r = decoder.decode(record(C.PERF_RECORD_READ, body))
    assert type(r) is perfsys.ReadRecord
    assert (r.pid, r.tid) == (55, 56)
    assert r.values == perfsys._perfsys.decode_read(rf, block)
    for name, value in expected_trailer(TRAILER_BITS, sample_id_all).items():
        assert getattr(r, name) == value
    with pytest.raises(perfsys.RecordError):
        decoder.decode(record(C.PERF_RECORD_READ, struct.pack("=ii", 55, 56)))


def test_read_record_needs_sample_id_all_to_tell_formats_apart() -> None:
    ident = C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_TID
    decoder = perfsys.Decoder({1: perfsys.perf_event_attr(sample_type=ident, read_format=TE),
                               2: perfsys.perf_event_attr(sample_type=ident)})
    with pytest.raises(perfsys.RecordError, match="cannot tell"):
        decoder.decode(record(C.PERF_RECORD_READ, struct.pack("=iiQQ", 1, 2, 3, 4)))
