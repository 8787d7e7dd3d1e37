"""decode_read on arbitrary bytes and read_formats; no growth over many calls."""

from __future__ import annotations

import errno
import struct
import tracemalloc

from hypothesis import given
from hypothesis import strategies as st
from support import opened

import perfsys
from perfsys import constants as C

KNOWN = 0b11111


@given(st.integers(min_value=0, max_value=2**64 - 1), st.binary(max_size=200))
def test_decode_read_never_reads_past_the_data(read_format: int, data: bytes) -> None:
    try:
        r = perfsys.decode_read(read_format, data)
    except ValueError:
        return
    assert read_format & ~KNOWN == 0
    words = struct.unpack(f"={len(data) // 8}Q", data)
    if read_format & C.PERF_FORMAT_GROUP:
        assert isinstance(r, perfsys.GroupValues)
        assert len(r.values) == words[0]
    else:
        assert isinstance(r, perfsys.CounterValue)
        assert r.value == words[0]
        assert [x for x in r[1:] if x is not None] == list(words[1:])


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
                          st.integers(0, 2**64 - 1)), max_size=20),
       st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1), st.integers(0, KNOWN))
def test_group_blocks_round_trip(members: list[tuple[int, int, int]], enabled: int,
                                 running: int, bits: int) -> None:
    rf = bits | C.PERF_FORMAT_GROUP
    te, tr = rf & C.PERF_FORMAT_TOTAL_TIME_ENABLED, rf & C.PERF_FORMAT_TOTAL_TIME_RUNNING
    has_id, lost = rf & C.PERF_FORMAT_ID, rf & C.PERF_FORMAT_LOST
    words = [len(members)] + ([enabled] if te else []) + ([running] if tr else [])
    for value, ident, n in members:
        words += [value] + ([ident] if has_id else []) + ([n] if lost else [])
    g = perfsys.decode_read(rf, struct.pack(f"={len(words)}Q", *words))
    assert g.time_enabled == (enabled if te else None)
    assert g.time_running == (running if tr else None)
    assert g.values == tuple((v, i if has_id else None, n if lost else None)
                             for v, i, n in members)


def test_no_memory_growth_over_many_calls() -> None:
    rf = C.PERF_FORMAT_GROUP | C.PERF_FORMAT_ID | C.PERF_FORMAT_TOTAL_TIME_ENABLED
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK, read_format=rf)) as fd, \
            opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY,
                                           read_format=rf), group_fd=fd):

        def once() -> None:
            perfsys.read(fd, rf)
            perfsys.ioctls.ID(fd)
            perfsys.decode_read(0, bytes(8))
            for bad in (lambda: perfsys.read(fd, 0), lambda: perfsys.read_value(fd),
                        lambda: perfsys.ioctls.ENABLE(fd, 5),
                        lambda: perfsys.perf_event_open(bytes(64), 0, -1),
                        lambda: perfsys.perf_event_open(bytearray(64), 0, -1, 99999)):
                try:
                    bad()
                except (OSError, ValueError, TypeError) as e:
                    assert not isinstance(e, OSError) or e.errno in (errno.ENOSPC, errno.EBADF)

        for _ in range(200):
            once()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(2000):
                once()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert grown < 64 * 1024, grown
