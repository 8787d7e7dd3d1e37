"""RingBuffer: mapping, arguments, the buffer protocol, close, and the drain loop on
records written by hand into a real (disabled) event's ring."""

from __future__ import annotations

import ctypes
import gc
import os
import select
import signal
import struct
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import (
    PERF_COUNT_SW_DUMMY,
    PERF_TYPE_SOFTWARE,
    RECORD_LOST,
    perf_event_open,
)

import perfsys

PAGE = os.sysconf("SC_PAGESIZE")
HEAD = 1024  # offsetof(perf_event_mmap_page, data_head)
TAIL = 1032


class _MmapPageStandIn(ctypes.Structure):
    """The header page's fields the tests touch (perfsys.perf_event_mmap_page where present)."""

    _fields_ = [
        ("version", ctypes.c_uint32),
        ("compat_version", ctypes.c_uint32),
        ("_pad", ctypes.c_uint8 * (1024 - 8)),
        ("data_head", ctypes.c_uint64),
        ("data_tail", ctypes.c_uint64),
        ("data_offset", ctypes.c_uint64),
        ("data_size", ctypes.c_uint64),
        ("aux_head", ctypes.c_uint64),
        ("aux_tail", ctypes.c_uint64),
        ("aux_offset", ctypes.c_uint64),
        ("aux_size", ctypes.c_uint64),
    ]


MmapPage = getattr(perfsys, "perf_event_mmap_page", _MmapPageStandIn)


def _dummy_fd() -> int:
    """A software event that is never enabled: the kernel writes nothing into its ring."""
    attr = perfsys.perf_event_attr(type=PERF_TYPE_SOFTWARE, config=PERF_COUNT_SW_DUMMY, disabled=1)
    return perf_event_open(attr, 0, -1)


@pytest.fixture
def fd() -> Iterator[int]:
    f = _dummy_fd()
    yield f
    os.close(f)


@pytest.fixture
def perf_ring(fd: int) -> Iterator[perfsys.RingBuffer]:
    """The ring of a real event that stays disabled: it never has data."""
    with perfsys.RingBuffer(fd, 1) as r:
        yield r


@pytest.fixture
def ring() -> Iterator[perfsys.RingBuffer]:
    """A memfd laid out like a ring: tests write records and data_head by hand."""
    r = perfsys.RingBuffer._testing(1)
    yield r
    gc.collect()
    r.close()


def _put(ring: perfsys.RingBuffer, pos: int, data: bytes) -> None:
    """Write bytes at ring position `pos`, wrapping at the end of the data area."""
    mv = memoryview(ring)
    try:
        size = ring.data_size
        for i, b in enumerate(data):
            mv[PAGE + (pos + i) % size] = b
    finally:
        mv.release()


def _set_u64(ring: perfsys.RingBuffer, offset: int, value: int) -> None:
    mv = memoryview(ring)
    try:
        mv[offset : offset + 8] = struct.pack("=Q", value)
    finally:
        mv.release()


def _record(rtype: int, body: bytes, misc: int = 0) -> bytes:
    assert len(body) % 8 == 0
    return struct.pack("=IHH", rtype, misc, 8 + len(body)) + body


# -- construction ---------------------------------------------------------------------


@pytest.mark.thread_unsafe(reason="maps rings of three sizes on the fixture's event, which "
                                  "the threads share and which has one ring size at a time")
def test_maps_one_plus_data_pages(fd: int) -> None:
    for pages in (1, 2, 8):
        with perfsys.RingBuffer(fd, pages) as ring:
            assert ring.size == (1 + pages) * PAGE
            assert ring.data_size == pages * PAGE
            assert ring.page_size == PAGE
            with memoryview(ring) as mv:
                # The header page; the data pages are the kernel's (stores there SIGBUS).
                assert mv.nbytes == PAGE
                assert not mv.readonly
            header = MmapPage.from_buffer_copy(ring)
            assert header.data_offset == PAGE
            assert header.data_size == pages * PAGE
            assert ring.data_head == ring.data_tail == 0
            assert ring.available == 0
            assert ring.read() == []


@pytest.mark.parametrize("pages", [0, 3, 6, -1, -2, 12])
def test_data_pages_not_a_power_of_two(fd: int, pages: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        perfsys.RingBuffer(fd, pages)


def test_data_pages_overflow(fd: int) -> None:
    with pytest.raises(ValueError, match="too large"):
        perfsys.RingBuffer(fd, 2**62)
    with pytest.raises(OverflowError):
        perfsys.RingBuffer(fd, 2**70)
    # A power of two that fits size_t but not the machine: the kernel says no.
    with pytest.raises(OSError):
        perfsys.RingBuffer(fd, 2**40)


@pytest.mark.thread_unsafe(reason="needs the number of a descriptor it just closed to stay "
                                  "free, and another thread may take it")
def test_bad_fds() -> None:
    with pytest.raises(ValueError):
        perfsys.RingBuffer(-1, 1)
    with pytest.raises(TypeError):
        perfsys.RingBuffer("3", 1)  # type: ignore[arg-type]
    r, w = os.pipe()
    os.close(w)
    try:
        with pytest.raises(ValueError, match="not a perf event"):
            perfsys.RingBuffer(r, 1)
    finally:
        os.close(r)
    with pytest.raises(OSError) as exc:
        perfsys.RingBuffer(r, 1)  # closed now
    assert not isinstance(exc.value, ValueError)


def test_bad_keyword_arguments(fd: int) -> None:
    with pytest.raises(TypeError):
        perfsys.RingBuffer(fd, 1, 0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        perfsys.RingBuffer(fd, 1, bogus=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="aux_pages"):
        perfsys.RingBuffer(fd, 1, aux_pages=3)
    with pytest.raises(ValueError, match="overwrite"):
        perfsys.RingBuffer(fd, 1, aux_pages=1, overwrite=True)


@pytest.mark.thread_unsafe(reason="counts the process's open descriptors")
def test_aux_area_needs_a_pmu_that_has_one(fd: int) -> None:
    # The software PMU has no AUX area: the second mmap fails, nothing leaks.
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(OSError):
        perfsys.RingBuffer(fd, 1, aux_pages=1)
    assert len(os.listdir("/proc/self/fd")) == before
    with perfsys.RingBuffer(fd, 1) as ring:
        assert ring.aux_size == 0
        assert ring.aux_head == ring.aux_tail == 0
        with pytest.raises(ValueError, match="no AUX area"):
            ring.read_aux()
        with pytest.raises(ValueError, match="no AUX area"):
            ring.aux_tail = 0


def test_accepts_objects_with_fileno(fd: int) -> None:
    class Holder:
        def fileno(self) -> int:
            return fd

    with perfsys.RingBuffer(Holder(), 1) as ring:
        assert ring.size == 2 * PAGE


@pytest.mark.thread_unsafe(reason="needs the number of a descriptor it just closed to stay "
                                  "free, and another thread may take it")
def test_owns_a_duplicate_of_the_fd() -> None:
    fd = _dummy_fd()
    ring = perfsys.RingBuffer(fd, 1)
    dup = ring.fileno()
    assert dup != fd
    assert os.readlink(f"/proc/self/fd/{dup}") == "anon_inode:[perf_event]"
    os.close(fd)  # the caller's copy may go at any time
    assert ring.data_head == 0
    p = select.poll()
    p.register(ring, select.POLLIN)
    assert p.poll(0) == []
    ring.close()
    with pytest.raises(OSError):
        os.fstat(dup)


def test_audit_event(fd: int) -> None:
    seen: list[tuple[object, ...]] = []

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "perfsys.RingBuffer":
            seen.append(args)

    import sys

    sys.addaudithook(hook)
    with perfsys.RingBuffer(fd, 2):
        pass
    assert (fd, 2, 0, False) in seen


# -- buffer protocol, close -----------------------------------------------------------


def test_header_page_live_view_of_a_perf_ring(fd: int) -> None:
    ring = perfsys.RingBuffer(fd, 2)
    header = MmapPage.from_buffer(ring)
    assert header.data_size == ring.data_size == 2 * PAGE
    assert header.data_offset == PAGE
    header.data_tail = 0
    assert ring.data_tail == 0
    with pytest.raises(BufferError):
        ring.close()
    del header
    gc.collect()
    ring.close()


@pytest.mark.thread_unsafe(reason="sets and checks the head and tail of the fixture's ring, which "
                                  "the threads share")
def test_header_page_live_view(ring: perfsys.RingBuffer) -> None:
    header = MmapPage.from_buffer(ring)
    assert header.data_size == ring.data_size
    ring.data_tail = 0
    header.data_head = 64  # only the kernel writes it, but the view is live
    assert ring.data_head == 64
    ring.data_tail = 8
    assert header.data_tail == 8
    with pytest.raises(BufferError):
        ring.close()
    del header
    gc.collect()
    ring.close()
    assert ring.closed


def test_close_while_exported(fd: int) -> None:
    ring = perfsys.RingBuffer(fd, 1)
    mv = memoryview(ring)
    mv2 = memoryview(ring)
    with pytest.raises(BufferError):
        ring.close()
    mv.release()
    with pytest.raises(BufferError):
        ring.close()
    with pytest.raises(BufferError):
        ring.__exit__(None, None, None)
    assert not ring.closed
    mv2.release()
    ring.close()
    ring.close()  # idempotent
    assert ring.closed


def test_use_after_close(fd: int) -> None:
    ring = perfsys.RingBuffer(fd, 1)
    ring.close()
    for call in (
        lambda: ring.data_head,
        lambda: ring.data_tail,
        lambda: ring.aux_head,
        lambda: ring.available,
        ring.fileno,
        ring.read,
        ring.discard,
        ring.wait,
        ring.read_aux,
        lambda: memoryview(ring),
        lambda: ring.__enter__(),
    ):
        with pytest.raises(ValueError, match="closed"):
            call()
    with pytest.raises(ValueError, match="closed"):
        ring.data_tail = 0
    assert "closed" in repr(ring)
    assert ring.lost == 0 and ring.data_size == PAGE  # facts survive close


def test_context_manager_closes(fd: int) -> None:
    with perfsys.RingBuffer(fd, 1) as ring:
        assert not ring.closed
        assert f"fd={ring.fileno()}" in repr(ring)
    assert ring.closed


@pytest.mark.thread_unsafe(reason="counts the process's perf mappings, and needs the number "
                                  "of a descriptor it just closed to stay free")
def test_dealloc_unmaps_and_closes() -> None:
    fd = _dummy_fd()
    try:
        ring = perfsys.RingBuffer(fd, 4)
        dup = ring.fileno()
        maps_before = Path("/proc/self/maps").read_text().count("perf_event")
        del ring
        gc.collect()
        assert Path("/proc/self/maps").read_text().count("perf_event") == maps_before - 1
        with pytest.raises(OSError):
            os.fstat(dup)
    finally:
        os.close(fd)


@pytest.mark.thread_unsafe(reason="sets and checks the head and tail of the fixture's ring, which "
                                  "the threads share")
def test_data_tail_bounds(ring: perfsys.RingBuffer) -> None:
    _set_u64(ring, HEAD, 3 * PAGE)
    with pytest.raises(ValueError, match="outside"):
        ring.data_tail = 0  # more than one data area behind the head
    with pytest.raises(ValueError, match="outside"):
        ring.data_tail = 3 * PAGE + 8  # ahead of the head
    with pytest.raises(OverflowError):
        ring.data_tail = -1
    ring.data_tail = 2 * PAGE
    assert ring.available == PAGE
    with pytest.raises(AttributeError):
        del ring.data_tail


# -- the drain loop on hand-written records ---------------------------------------------


@pytest.mark.thread_unsafe(reason="reads the fixture's ring, which the threads share: one "
                                  "thread gets the records the test expects")
def test_reads_records_and_advances_tail(ring: perfsys.RingBuffer) -> None:
    recs = [_record(100 + i, bytes([i]) * (8 * (i % 4))) for i in range(10)]
    blob = b"".join(recs)
    _put(ring, 0, blob)
    _set_u64(ring, HEAD, len(blob))
    got = ring.read(max_records=3)
    assert [(r.type, r.misc, r.data) for r in got] == [
        (100 + i, 0, bytes([i]) * (8 * (i % 4))) for i in range(3)
    ]
    assert ring.data_tail == sum(len(r) for r in recs[:3])
    rest = ring.read()
    assert [r.type for r in rest] == list(range(103, 110))
    assert ring.data_tail == ring.data_head == len(blob)
    assert ring.records_read == 10
    assert ring.read() == []
    assert ring.read(max_records=0) == []
    with pytest.raises(ValueError):
        ring.read(max_records=-2)
    with pytest.raises(TypeError):
        ring.read(decoder=object())
    with pytest.raises(TypeError):
        ring.read(1, None, 3)  # type: ignore[call-arg]


@pytest.mark.thread_unsafe(reason="reads the fixture's ring, which the threads share: one "
                                  "thread gets the records the test expects")
@pytest.mark.parametrize("split", [1, 4, 6, 7, 8, 12, 20])
def test_record_wrapping_past_the_end(ring: perfsys.RingBuffer, split: int) -> None:
    """A record whose bytes (its header too, at `split` < 8) run past the data area's end."""
    size = ring.data_size
    body = bytes(range(1, 25))
    rec = _record(77, body, misc=5)
    start = 10 * size + size - split  # positions are free-running byte counts
    _put(ring, start, rec)
    _set_u64(ring, HEAD, start + len(rec))
    ring.data_tail = start
    (got,) = ring.read()
    assert (got.type, got.misc, got.data) == (77, 5, body)
    assert ring.data_tail == start + len(rec)


@pytest.mark.thread_unsafe(reason="reads the fixture's ring, which the threads share: one "
                                  "thread gets the records the test expects")
@pytest.mark.parametrize(
    ("size", "why"),
    [(0, "size 0"), (12, "size 12"), (8 * 1024 + 8, "past data_head"), (40, "past data_head")],
)
def test_corrupt_record_sizes(ring: perfsys.RingBuffer, size: int, why: str) -> None:
    good = _record(1, b"\0" * 8)
    bad = struct.pack("=IHH", 9, 0, size % 65536) + b"\0" * 24
    _put(ring, 0, good + bad)
    _set_u64(ring, HEAD, len(good) + len(bad))
    # The good record comes out; the ring stops before the bad one.
    assert [r.type for r in ring.read()] == [1]
    assert ring.data_tail == len(good)
    for _ in range(2):  # and stays there, raising each time
        with pytest.raises(ValueError, match=why.split()[0]):
            ring.read()
        assert ring.data_tail == len(good)
    assert ring.discard() == len(bad)
    assert ring.read() == []


@pytest.mark.thread_unsafe(reason="reads the fixture's ring, which the threads share: one "
                                  "thread gets the records the test expects")
def test_record_larger_than_data_area(ring: perfsys.RingBuffer) -> None:
    bad = struct.pack("=IHH", 9, 0, 65528)
    _put(ring, 0, bad)
    _set_u64(ring, HEAD, ring.data_size)
    with pytest.raises(ValueError, match="past data_head"):
        ring.read()
    assert ring.data_tail == 0


@pytest.mark.thread_unsafe(reason="reads the fixture's ring, which the threads share: one "
                                  "thread gets the records the test expects")
def test_partial_header_before_head(ring: perfsys.RingBuffer) -> None:
    _put(ring, 0, _record(1, b""))
    _set_u64(ring, HEAD, 12)
    assert [r.type for r in ring.read(max_records=5)] == [1]
    assert ring.data_tail == 8
    with pytest.raises(ValueError, match="partial record header"):
        ring.read()
    assert ring.data_tail == 8


@pytest.mark.thread_unsafe(reason="reads the fixture's ring, which the threads share: one "
                                  "thread gets the records the test expects")
def test_head_too_far_ahead(ring: perfsys.RingBuffer) -> None:
    _set_u64(ring, HEAD, ring.data_size + 8)
    with pytest.raises(ValueError, match="exceeds the data area"):
        ring.read()
    assert ring.data_tail == 0
    ring.discard()
    assert ring.data_tail == ring.data_size + 8


@pytest.mark.thread_unsafe(reason="reads the fixture's ring, which the threads share: one "
                                  "thread gets the records the test expects")
def test_lost_accounting(ring: perfsys.RingBuffer) -> None:
    blob = (
        _record(RECORD_LOST, struct.pack("=QQ", 7, 30))
        + _record(9, b"")
        + _record(RECORD_LOST, struct.pack("=QQ", 7, 12))
        + _record(13, struct.pack("=Q", 5))  # PERF_RECORD_LOST_SAMPLES
    )
    _put(ring, 0, blob)
    _set_u64(ring, HEAD, len(blob))
    got = ring.read()
    assert [r.type for r in got] == [RECORD_LOST, 9, RECORD_LOST, 13]
    assert ring.lost == 42
    assert ring.lost_records == 2
    assert ring.lost_samples == 5


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.binary(min_size=0, max_size=PAGE),
    head=st.integers(min_value=0, max_value=2**64 - 1),
    tail_back=st.integers(min_value=0, max_value=PAGE + 64),
    max_records=st.integers(min_value=-1, max_value=50),
)
def test_fuzz_never_crashes(
    ring: perfsys.RingBuffer, data: bytes, head: int, tail_back: int, max_records: int
) -> None:
    with memoryview(ring) as mv:
        mv[PAGE : PAGE + len(data)] = data
        mv[HEAD : HEAD + 8] = struct.pack("=Q", head)
        mv[TAIL : TAIL + 8] = struct.pack("=Q", (head - tail_back) % 2**64)
    for _ in range(3):
        try:
            recs = ring.read(max_records=max_records)
        except ValueError:
            break
        for r in recs:
            assert 0 <= len(r.data) <= ring.data_size - 8
            assert len(r.data) % 8 == 0
        if not recs:
            break
    ring.discard()


# -- wait -----------------------------------------------------------------------------


def test_wait_times_out(perf_ring: perfsys.RingBuffer) -> None:
    assert perf_ring.wait(0) == 0
    assert perf_ring.wait(timeout=0.01) == 0
    with pytest.raises(ValueError):
        perf_ring.wait(-1)
    with pytest.raises(TypeError):
        perf_ring.wait("1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        perf_ring.wait(1, 2)  # type: ignore[call-arg]


def test_wait_returns_at_once_with_unread_records(ring: perfsys.RingBuffer) -> None:
    _put(ring, 0, _record(1, b""))
    _set_u64(ring, HEAD, 8)
    assert ring.wait(None) == select.POLLIN


@pytest.mark.thread_unsafe(reason="sets signal handlers and a process-wide timer")
def test_wait_retries_after_signals(perf_ring: perfsys.RingBuffer) -> None:
    hits = []
    old = signal.signal(signal.SIGALRM, lambda *a: hits.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
        t0 = time.monotonic()
        assert perf_ring.wait(0.2) == 0
        elapsed = time.monotonic() - t0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(hits) >= 2  # interrupted several times, and kept waiting
    assert elapsed >= 0.2


@pytest.mark.thread_unsafe(reason="sets signal handlers and a process-wide timer")
def test_wait_propagates_handler_exceptions(perf_ring: perfsys.RingBuffer) -> None:
    def boom(*args: object) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, boom)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        with pytest.raises(KeyboardInterrupt):
            perf_ring.wait(5)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# -- leaks ----------------------------------------------------------------------------


@pytest.mark.thread_unsafe(reason="counts the process's descriptors and mappings")
def test_no_leaks_across_many_rings_and_reads(fd: int) -> None:
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    def maps() -> int:
        return Path("/proc/self/maps").read_text().count("\n")

    for _ in range(5):  # warm up caches
        perfsys.RingBuffer(fd, 2).close()
    gc.collect()
    fd_before, maps_before = fds(), maps()
    for i in range(100):
        ring = perfsys.RingBuffer(fd, 2)
        if i % 2:
            ring.close()
        del ring
    gc.collect()
    assert fds() == fd_before
    assert maps() == maps_before

    ring = perfsys.RingBuffer._testing(1)
    blob = _record(9, b"\1" * 24) * 50
    import sys

    def fill_and_read() -> None:
        with memoryview(ring) as mv:
            mv[PAGE : PAGE + len(blob)] = blob
            mv[HEAD : HEAD + 16] = struct.pack("=QQ", len(blob), 0)
        assert len(ring.read()) == 50

    for _ in range(50):
        fill_and_read()
    gc.collect()
    blocks = sys.getallocatedblocks()
    for _ in range(500):
        fill_and_read()
    gc.collect()
    assert sys.getallocatedblocks() - blocks < 100  # 25,000 records later
    ring.close()


@pytest.mark.skipif(
    sys.version_info >= (3, 12),
    reason="this Python runs the garbage collector only between bytecodes (3.12+), "
    "so no finalizer can run inside read()",
)
def test_finalizer_during_read_cannot_close_or_reenter(ring: perfsys.RingBuffer) -> None:
    """The garbage collector may run finalizers inside read() (up to 3.11, it collects
    when an allocation crosses the threshold): they see [] from read() and RuntimeError
    from close(), never a half-drained or unmapped ring."""
    blob = _record(9, b"\2" * 16) * 80
    _put(ring, 0, blob)
    _set_u64(ring, HEAD, len(blob))
    seen: list[object] = []

    class Finalized:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

        def __del__(self) -> None:
            seen.append(ring.read())
            try:
                ring.close()
            except RuntimeError as e:
                seen.append(e)

    old = gc.get_threshold()
    gc.collect()
    gc.set_threshold(1)
    try:
        Finalized()
        got = ring.read()
    finally:
        gc.set_threshold(*old)
    assert len(got) == 80
    assert seen and seen[0] == [] and isinstance(seen[1], RuntimeError), seen
    assert not ring.closed
