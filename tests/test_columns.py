"""RingBuffer.read_columns(): samples drained into columns, and counted with count_callchains
and count_values; checked against the records read() decodes from the same bytes."""

from __future__ import annotations

import gc
import os
import random
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from support import (
    ALL_BUT_READ,
    all_bits_body,
    getpid_n,
    open_getpid_tracepoint,
    padded_cstring,
    perf_event_open,
    record,
)

import perfsys
from perfsys import constants as C
from perfsys import ioctls

# Every bit read_columns() takes, in the order a sample lays them out, with the struct
# format of its word(s) and the columns they fill.
LAYOUT: list[tuple[int, str, tuple[str, ...]]] = [
    (C.PERF_SAMPLE_IDENTIFIER, "Q", ("identifier",)),
    (C.PERF_SAMPLE_IP, "Q", ("ip",)),
    (C.PERF_SAMPLE_TID, "ii", ("pid", "tid")),
    (C.PERF_SAMPLE_TIME, "Q", ("time",)),
    (C.PERF_SAMPLE_ADDR, "Q", ("addr",)),
    (C.PERF_SAMPLE_ID, "Q", ("id",)),
    (C.PERF_SAMPLE_STREAM_ID, "Q", ("stream_id",)),
    (C.PERF_SAMPLE_CPU, "II", ("cpu", "")),
    (C.PERF_SAMPLE_PERIOD, "Q", ("period",)),
    (C.PERF_SAMPLE_CALLCHAIN, "", ("callchain",)),
    (C.PERF_SAMPLE_WEIGHT | C.PERF_SAMPLE_WEIGHT_STRUCT, "Q", ("weight",)),
    (C.PERF_SAMPLE_DATA_SRC, "Q", ("data_src",)),
    (C.PERF_SAMPLE_TRANSACTION, "Q", ("transaction",)),
    (C.PERF_SAMPLE_PHYS_ADDR, "Q", ("phys_addr",)),
    (C.PERF_SAMPLE_CGROUP, "Q", ("cgroup",)),
    (C.PERF_SAMPLE_DATA_PAGE_SIZE, "Q", ("data_page_size",)),
    (C.PERF_SAMPLE_CODE_PAGE_SIZE, "Q", ("code_page_size",)),
]
ALL = 0
for _bit, _, _ in LAYOUT:
    ALL |= _bit
ALL &= ~C.PERF_SAMPLE_WEIGHT_STRUCT  # WEIGHT, not both
FIXED = ["identifier", "ip", "pid", "tid", "time", "addr", "id", "stream_id", "cpu", "period",
         "weight", "data_src", "transaction", "phys_addr", "cgroup", "data_page_size",
         "code_page_size"]
FORMATS = {"pid": "i", "tid": "i", "cpu": "I", "misc": "H"}


def sample(rng: random.Random, sample_type: int) -> bytes:
    body = b""
    for bit, fmt, _ in LAYOUT:
        if not sample_type & bit:
            continue
        if bit == C.PERF_SAMPLE_CALLCHAIN:
            nr = rng.choice([0, 1, 3, 16, 40])
            ips = [C.PERF_CONTEXT_USER] + [rng.choice([0x401000, 0x402000, rng.getrandbits(64)])
                                           for _ in range(nr - 1)] if nr else []
            body += struct.pack(f"=Q{len(ips)}Q", len(ips), *ips)
        elif fmt == "ii":
            body += struct.pack("=ii", rng.choice([-1, 1, 2**31 - 1]), rng.randrange(-1, 1000))
        elif fmt == "II":
            body += struct.pack("=II", rng.randrange(0, 4096), 0)
        else:
            body += struct.pack("=Q", rng.getrandbits(64))
    return record(C.PERF_RECORD_SAMPLE, body, misc=rng.choice([1, 2, 3]))


def comm(text: bytes) -> bytes:
    return record(C.PERF_RECORD_COMM, struct.pack("=ii", 5, 6) + padded_cstring(text))


class Ring:
    """A testing RingBuffer whose records the test writes, at any position (wrapping)."""

    def __init__(self, pages: int) -> None:
        self.ring = perfsys.RingBuffer._testing(pages)
        self.pos = 0

    def put(self, data: bytes, start: int | None = None) -> None:
        if start is not None:
            self.pos = start
        size = self.ring.data_size
        page = self.ring.page_size
        assert len(data) <= size
        mv = memoryview(self.ring)
        try:
            off = self.pos % size
            first = min(len(data), size - off)
            mv[page + off : page + off + first] = data[:first]
            mv[page : page + len(data) - first] = data[first:]
            header = perfsys.perf_event_mmap_page.from_buffer(self.ring)
            header.data_tail = self.pos
            header.data_head = self.pos + len(data)
            del header
        finally:
            mv.release()
        self.pos += len(data)

    def close(self) -> None:
        gc.collect()
        self.ring.close()


SHARED_RING = pytest.mark.thread_unsafe(
    reason="writes records into the one ring its fixture makes, which threads would share")


@pytest.fixture
def ring() -> Iterator[Ring]:
    r = Ring(16)
    yield r
    r.close()


def columns_as_records(cols: Any, sample_type: int) -> list[dict[str, Any]]:
    out = []
    for i in range(cols.samples):
        row: dict[str, Any] = {"misc": cols.misc[i]}
        for name in FIXED:
            column = getattr(cols, name)
            row[name] = None if column is None else column[i]
        if sample_type & C.PERF_SAMPLE_CALLCHAIN:
            o = cols.callchain_offsets
            row["callchain"] = tuple(cols.callchain[o[i] : o[i + 1]])
        else:
            row["callchain"] = None
        out.append(row)
    return out


def records_as_rows(records: list[Any]) -> list[dict[str, Any]]:
    return [{name: getattr(r, name) for name in ["misc", *FIXED, "callchain"]}
            for r in records if isinstance(r, perfsys.SampleRecord)]


@pytest.mark.parametrize("sample_type", [
    C.PERF_SAMPLE_IP,
    C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_PERIOD,
    C.PERF_SAMPLE_TID | C.PERF_SAMPLE_CALLCHAIN,
    ALL,
    ALL & ~C.PERF_SAMPLE_CALLCHAIN,
    (ALL & ~C.PERF_SAMPLE_WEIGHT) | C.PERF_SAMPLE_WEIGHT_STRUCT,
])
@SHARED_RING
def test_columns_equal_the_decoded_records(ring: Ring, sample_type: int) -> None:
    rng = random.Random(sample_type)
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=sample_type))
    parts = [sample(rng, sample_type) for _ in range(120)]
    parts.insert(7, comm(b"perfsys-one"))
    parts.insert(50, comm(b"perfsys-two"))
    data = b"".join(parts)
    start = ring.ring.data_size - 200  # the records wrap around the end
    ring.put(data, start)
    cols = ring.ring.read_columns(decoder=decoder)
    assert ring.ring.data_tail == start + len(data)
    ring.put(data, start)
    records = ring.ring.read(decoder=decoder)
    assert cols.samples == 120
    assert columns_as_records(cols, sample_type) == records_as_rows(records)
    assert cols.records == [r for r in records if not isinstance(r, perfsys.SampleRecord)]
    assert [r.comm for r in cols.records] == ["perfsys-one", "perfsys-two"]
    for name in ["misc", *FIXED]:
        column = getattr(cols, name)
        if column is None:
            continue
        assert column.format == FORMATS.get(name, "Q")
        assert len(column) == cols.samples
        assert column.itemsize == struct.calcsize(column.format)
    if sample_type & C.PERF_SAMPLE_CALLCHAIN:
        assert cols.callchain_offsets[0] == 0 and len(cols.callchain_offsets) == 121
        assert cols.callchain_offsets[-1] == len(cols.callchain)


@SHARED_RING
def test_memory_is_reused_only_when_nobody_holds_it(ring: Ring) -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=ALL))
    one = b"".join(sample(random.Random(1), ALL) for _ in range(100))
    two = b"".join(sample(random.Random(2), ALL) for _ in range(100))
    ring.put(one, 0)
    cols = ring.ring.read_columns(decoder=decoder)
    first_ip, first = list(cols.ip), id(cols.ip.obj)
    del cols  # dropped: its bytearrays may be filled again
    ring.put(two, 0)
    kept = ring.ring.read_columns(decoder=decoder)
    assert id(kept.ip.obj) == first
    snapshot = columns_as_records(kept, ALL)
    ring.put(one, 0)
    again = ring.ring.read_columns(decoder=decoder)  # kept is held: new memory
    assert id(again.ip.obj) != id(kept.ip.obj)
    assert columns_as_records(kept, ALL) == snapshot
    assert list(again.ip) == first_ip


@SHARED_RING
def test_columns_work_with_numpy(ring: Ring) -> None:
    np = pytest.importorskip("numpy", reason="numpy is not installed (no dependency of perfsys)")
    st = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_CALLCHAIN
    rng = random.Random(3)
    ring.put(b"".join(sample(rng, st) for _ in range(50)))
    cols = ring.ring.read_columns(decoder=perfsys.Decoder(perfsys.perf_event_attr(sample_type=st)))
    ip = np.asarray(cols.ip)
    assert ip.dtype == np.uint64 and ip.tolist() == list(cols.ip)
    assert np.frombuffer(cols.pid, dtype=np.int32).tolist() == list(cols.pid)
    offsets = np.asarray(cols.callchain_offsets)
    assert np.all(np.diff(offsets) >= 0) and offsets[-1] == len(cols.callchain)


@SHARED_RING
def test_empty_and_max_records(ring: Ring) -> None:
    st = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_CALLCHAIN
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st))
    cols = ring.ring.read_columns(decoder=decoder)
    assert cols.samples == 0 and len(cols.ip) == 0 and cols.records == []
    assert list(cols.callchain_offsets) == [0] and len(cols.callchain) == 0
    assert cols.pid is None and cols.time is None
    rng = random.Random(5)
    ring.put(b"".join(sample(rng, st) for _ in range(10)))
    first = ring.ring.read_columns(3, decoder)
    rest = ring.ring.read_columns(decoder=decoder)
    assert (first.samples, rest.samples) == (3, 7)
    assert ring.ring.read_columns(decoder=decoder).samples == 0


@SHARED_RING
def test_refused_calls_read_nothing(ring: Ring) -> None:
    st = C.PERF_SAMPLE_IP
    rng = random.Random(9)
    ring.put(sample(rng, st))
    mixed = perfsys.Decoder({
        1: perfsys.perf_event_attr(sample_type=st | C.PERF_SAMPLE_IDENTIFIER),
        2: perfsys.perf_event_attr(sample_type=st | C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_TID),
    })
    with pytest.raises(ValueError, match="samples of one layout"):
        ring.ring.read_columns(decoder=mixed)
    with pytest.raises(TypeError, match="needs decoder="):
        ring.ring.read_columns()
    with pytest.raises(TypeError):
        ring.ring.read_columns(decoder=object())  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="max_records"):
        ring.ring.read_columns(-2, perfsys.Decoder(perfsys.perf_event_attr(sample_type=st)))
    assert ring.ring.data_tail == 0  # nothing was taken
    assert ring.ring.read_columns(decoder=perfsys.Decoder(
        perfsys.perf_event_attr(sample_type=st))).samples == 1


@pytest.mark.parametrize("branch_flags", [0, C.PERF_SAMPLE_BRANCH_HW_INDEX
                                          | C.PERF_SAMPLE_BRANCH_COUNTERS])
@SHARED_RING
def test_every_sample_bit_its_fixed_fields_in_columns(ring: Ring, branch_flags: int) -> None:
    """Samples with every field (READ, RAW, BRANCH_STACK, REGS_*, STACK_USER, AUX too): those
    of a fixed size in columns, equal to what the decoder makes of the same bytes."""
    attr = perfsys.perf_event_attr(sample_type=ALL_BUT_READ, branch_sample_type=branch_flags,
                                   sample_regs_user=0b111, sample_regs_intr=0b11)
    decoder = perfsys.Decoder(attr)
    weight = struct.pack("=Q", 0x1234)
    one = record(C.PERF_RECORD_SAMPLE, all_bits_body(weight, 0x42, branch_flags), misc=2)
    empty_stack = one.replace(struct.pack("=Q", 16) + b"stackstackstack!" + struct.pack("=Q", 12),
                              struct.pack("=Q", 0))
    empty_stack = record(C.PERF_RECORD_SAMPLE, empty_stack[8:], misc=2)
    data = (one + empty_stack) * 20
    ring.put(data)
    cols = ring.ring.read_columns(decoder=decoder)
    ring.put(data)
    records = ring.ring.read(decoder=decoder)
    assert cols.samples == 40
    names = [n for n in cols.__match_args__ if n not in ("samples", "callchain_offsets",
                                                          "callchain", "records")]
    assert len(names) == 22
    for name in names:
        expect = [getattr(r, name) for r in records]
        if name == "stack_user_dyn_size":
            expect = [0 if v is None else v for v in expect]
        if name == "hw_idx" and not branch_flags:
            assert cols.hw_idx is None
            continue
        assert list(getattr(cols, name)) == expect, name
    o = cols.callchain_offsets
    assert [tuple(cols.callchain[o[i] : o[i + 1]]) for i in range(40)] == [
        r.callchain for r in records]


@SHARED_RING
def test_read_values_are_skipped(ring: Ring) -> None:
    st = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_READ | C.PERF_SAMPLE_PERIOD
    rf = C.PERF_FORMAT_GROUP | C.PERF_FORMAT_ID | C.PERF_FORMAT_TOTAL_TIME_ENABLED
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st, read_format=rf))
    body = struct.pack("=QQ", 0x401000, 1000)  # IP, PERIOD, then READ: nr, enabled, 2 x (value, id)
    body += struct.pack("=QQ", 2, 99) + struct.pack("=4Q", 5, 1, 6, 2)
    ring.put(record(C.PERF_RECORD_SAMPLE, body) * 3)
    cols = ring.ring.read_columns(decoder=decoder)
    assert list(cols.ip) == [0x401000] * 3 and list(cols.period) == [1000] * 3


@SHARED_RING
def test_bad_sample_after_good_ones(ring: Ring) -> None:
    st = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_CALLCHAIN
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st))
    rng = random.Random(11)
    good = b"".join(sample(rng, st) for _ in range(4))
    bad_nr = record(C.PERF_RECORD_SAMPLE, struct.pack("=QQQ", 1, 50, 2))  # nr past the end
    short = record(C.PERF_RECORD_SAMPLE, b"")
    extra = record(C.PERF_RECORD_SAMPLE, struct.pack("=QQQ", 1, 0, 0))  # a word left over
    for bad, message in ((bad_nr, "callchain nr 50"), (short, "truncated at ip"),
                         (extra, "8 bytes left over")):
        ring.put(good + bad)
        assert ring.ring.read_columns(decoder=decoder).samples == 4
        with pytest.raises(perfsys.RecordError, match=message):
            ring.ring.read_columns(decoder=decoder)
        ring.ring.discard()


@SHARED_RING
def test_lost_records_are_counted(ring: Ring) -> None:
    st = C.PERF_SAMPLE_IP
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st))
    lost = record(C.PERF_RECORD_LOST, struct.pack("=QQ", 7, 25))
    ring.put(sample(random.Random(1), st) + lost)
    cols = ring.ring.read_columns(decoder=decoder)
    assert cols.samples == 1 and ring.ring.lost == 25
    assert [type(r).__name__ for r in cols.records] == ["LostRecord"]


def test_kernel_samples_into_columns() -> None:
    st = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_CPU | \
        C.PERF_SAMPLE_PERIOD | C.PERF_SAMPLE_CALLCHAIN
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_CPU_CLOCK,
                                   sample_period=200_000, sample_type=st, disabled=1,
                                   exclude_kernel=1, exclude_hv=1, mmap=1, mmap2=1)
    decoder = perfsys.Decoder(attr)
    fd = perf_event_open(attr, 0, -1)
    try:
        with perfsys.RingBuffer(fd, 64) as ring:
            ioctls.ENABLE(fd)
            deadline = time.monotonic() + 0.2
            while time.monotonic() < deadline:
                sum(i * i for i in range(1000))
            ioctls.DISABLE(fd)
            cols = ring.read_columns(decoder=decoder)
    finally:
        os.close(fd)
    assert cols.samples >= 10
    assert set(cols.pid) == {os.getpid()} and set(cols.tid) == {threading.get_native_id()}
    times = list(cols.time)
    assert times == sorted(times)
    assert set(cols.period) == {200_000}
    assert all(0 <= c < (os.cpu_count() or 1) for c in cols.cpu)
    o = cols.callchain_offsets
    for i in range(cols.samples):
        chain = cols.callchain[o[i] : o[i + 1]]
        assert chain[0] == C.PERF_CONTEXT_USER and chain[1] == cols.ip[i]
    counts = perfsys.count_callchains(o, cols.callchain)
    assert sum(counts.values()) == cols.samples
    assert perfsys.count_values(cols.ip) == Counter(cols.ip)


def test_overwrite_mode_newest_first() -> None:
    st = C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st))
    fd = open_getpid_tracepoint(sample_type=st, write_backward=1)
    try:
        with perfsys.RingBuffer(fd, 1, overwrite=True) as ring:
            ioctls.ENABLE(fd)
            getpid_n(1000)
            ioctls.PAUSE_OUTPUT(fd, True)
            cols = ring.read_columns(decoder=decoder)
            assert cols.samples == ring.data_size // 24  # a page of the newest
            times = list(cols.time)
            assert times == sorted(times, reverse=True)
            assert set(cols.pid) == {os.getpid()}
            assert ring.read_columns(decoder=decoder).samples == 0  # nothing new since
            ioctls.PAUSE_OUTPUT(fd, False)
            getpid_n(7)
            ioctls.PAUSE_OUTPUT(fd, True)
            newer = ring.read_columns(decoder=decoder)
            assert newer.samples == 7 and newer.time[-1] > times[0]
            ioctls.DISABLE(fd)
    finally:
        os.close(fd)


# -- counting ---------------------------------------------------------------------------


def test_count_callchains_matches_counter() -> None:
    rng = random.Random(2)
    pool = [tuple(rng.getrandbits(64) for _ in range(rng.randrange(0, 20))) for _ in range(300)]
    chains = [rng.choice(pool) for _ in range(5000)]
    offsets = [0]
    for c in chains:
        offsets.append(offsets[-1] + len(c))
    flat = [x for c in chains for x in c]
    off_mv = memoryview(struct.pack(f"={len(offsets)}Q", *offsets)).cast("Q")
    flat_b = struct.pack(f"={len(flat)}Q", *flat)
    assert perfsys.count_callchains(off_mv, flat_b) == Counter(chains)
    # unaligned buffers, and bytes for the offsets too
    shifted = bytearray(b"\0" + flat_b)
    assert perfsys.count_callchains(bytes(off_mv), memoryview(shifted)[1:]) == Counter(chains)
    values = [rng.choice([1, 2, 3, 2**64 - 1]) for _ in range(1000)]
    assert perfsys.count_values(struct.pack(f"={len(values)}Q", *values)) == Counter(values)
    assert perfsys.count_callchains(b"", b"") == {}
    assert perfsys.count_callchains(struct.pack("=Q", 0), b"") == {}
    assert perfsys.count_values(b"") == {}


def test_count_rejects_bad_input() -> None:
    flat = struct.pack("=3Q", 1, 2, 3)
    with pytest.raises(ValueError, match="must not decrease"):
        perfsys.count_callchains(struct.pack("=3Q", 0, 2, 1), flat)
    with pytest.raises(ValueError, match="must not decrease"):
        perfsys.count_callchains(struct.pack("=2Q", 0, 4), flat)
    with pytest.raises(ValueError, match="past the callchain"):
        perfsys.count_callchains(struct.pack("=1Q", 9), flat)
    with pytest.raises(TypeError, match="8-byte integers"):
        perfsys.count_callchains(memoryview(struct.pack("=2I", 0, 1)).cast("I"), flat)
    with pytest.raises(TypeError, match="8-byte integers"):
        perfsys.count_values(b"1234567")
    with pytest.raises(TypeError, match="not items of format 'd'"):
        perfsys.count_values(memoryview(struct.pack("=d", 1.0)).cast("d"))
    assert perfsys.count_values(memoryview(struct.pack("=q", -1)).cast("q")) == {2**64 - 1: 1}
    with pytest.raises(TypeError):
        perfsys.count_values("not a buffer")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        perfsys.count_callchains(flat)  # type: ignore[call-arg]


@SHARED_RING
def test_no_leak(ring: Ring) -> None:
    st = ALL
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st))
    rng = random.Random(4)
    data = b"".join(sample(rng, st) for _ in range(40)) + comm(b"x")

    def once() -> None:
        ring.put(data, 0)
        cols = ring.ring.read_columns(decoder=decoder)
        perfsys.count_callchains(cols.callchain_offsets, cols.callchain)
        perfsys.count_values(cols.ip)

    for _ in range(20):
        once()
    gc.collect()
    before = sys.getallocatedblocks()
    for _ in range(1000):
        once()
    gc.collect()
    assert sys.getallocatedblocks() - before < 200  # a leak would be >= 1000 blocks
