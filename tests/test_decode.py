"""Decoding of every record type and sample field, on records built byte by byte.

The records (support.CASES, support.all_bits_body) are built from the generated
ctypes layouts (perf_event_header, perf_branch_entry, perf_sample_weight,
perf_mem_data_src, perf_ns_link_info) where the headers define one, and with
struct.pack where they only describe the layout in a comment.
"""

from __future__ import annotations

import copy
import ctypes
import pickle
import struct
from typing import Any

import pytest
from support import (
    ALL_BUT_READ,
    CASES,
    TRAILER_BITS,
    all_bits_body,
    branch_entry,
    expected_trailer,
    record,
    simple_sample,
    trailer,
)

import perfsys
from perfsys import constants as C

TRAILERS = [
    pytest.param(False, TRAILER_BITS, id="no-sample_id_all"),
    pytest.param(True, TRAILER_BITS, id="full-trailer"),
    pytest.param(True, C.PERF_SAMPLE_TID | C.PERF_SAMPLE_CPU, id="tid-cpu-trailer"),
    pytest.param(True, C.PERF_SAMPLE_IP | C.PERF_SAMPLE_PERIOD, id="empty-trailer"),
]


def _case_id(case: tuple[int, int, bytes, type, dict[str, Any]]) -> str:
    return f"{case[3].__name__}-{case[1]:#x}"


def test_every_record_type_has_a_case() -> None:
    covered = {case[0] for case in CASES} | {C.PERF_RECORD_SAMPLE, C.PERF_RECORD_READ}
    expected = {
        value
        for name, value in vars(C).items()
        if name.startswith("PERF_RECORD_") and not name.startswith(("PERF_RECORD_MISC_",
                                                                    "PERF_RECORD_KSYMBOL_"))
        and name != "PERF_RECORD_MAX"
    }
    assert covered == expected


@pytest.mark.parametrize("case", CASES, ids=_case_id)
@pytest.mark.parametrize(("sample_id_all", "sample_type"), TRAILERS)
def test_record(case: tuple[int, int, bytes, type, dict[str, Any]], sample_id_all: bool,
                sample_type: int) -> None:
    type_, misc, body, cls, fields = case
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=sample_type,
                                                      sample_id_all=sample_id_all))
    data = record(type_, body + (trailer(sample_type) if sample_id_all else b""), misc)
    r = decoder.decode(data)
    assert type(r) is cls
    assert (r.type, r.misc) == (type_, misc)
    for name, value in fields.items():
        assert getattr(r, name) == value, name
    for name, value in expected_trailer(sample_type, sample_id_all).items():
        assert getattr(r, name) == value, name
    assert decoder.decode_all(data * 3) == [r, r, r]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_record_truncated(case: tuple[int, int, bytes, type, dict[str, Any]]) -> None:
    """Every record cut short by 8 bytes (or missing its trailer) is refused."""
    type_, misc, body, _, _ = case
    sample_type = TRAILER_BITS
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=sample_type, sample_id_all=True))
    full = body + trailer(sample_type)
    # shorter than the fixed fields plus the trailer, with a consistent header
    if len(body) >= 8 and type_ not in (C.PERF_RECORD_SWITCH,):
        fixed_only = record(type_, full[: len(full) - len(trailer(sample_type)) - 8], misc)
        # strings may legitimately be empty, so only records without one must fail
        if type_ not in (C.PERF_RECORD_COMM, C.PERF_RECORD_CGROUP, C.PERF_RECORD_KSYMBOL,
                         C.PERF_RECORD_MMAP, C.PERF_RECORD_MMAP2):
            with pytest.raises(perfsys.RecordError):
                decoder.decode(fixed_only)
    with pytest.raises(perfsys.RecordError, match=r"trailer|truncated"):
        decoder.decode(record(type_, body[:8] if len(body) > 8 else b"", misc)
                       if type_ != C.PERF_RECORD_SWITCH else record(type_, b"", misc))


def test_record_fields_follow_the_kernel_layout() -> None:
    assert perfsys.MmapRecord.__match_args__[:8] == (  # type: ignore[attr-defined]
        "type", "misc", "pid", "tid", "addr", "len", "pgoff", "filename")
    assert perfsys.SwitchRecord.__match_args__ == (  # type: ignore[attr-defined]
        "type", "misc", "sample_pid", "sample_tid", "sample_time", "sample_id",
        "sample_stream_id", "sample_cpu", "sample_identifier")


def test_unknown_type_is_raw() -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP))
    for type_ in (0, C.PERF_RECORD_MAX, 0x7000, 0xFFFFFFFF):
        data = record(type_, b"abcdefghijk", misc=3)
        r = decoder.decode(data)
        assert type(r) is perfsys.RawRecord
        assert r == (type_, 3, b"abcdefghijk")


# -- SAMPLE -------------------------------------------------------------------------


def test_sample_ip_tid_time_period() -> None:
    st = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_PERIOD
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st))
    r = decoder.decode(simple_sample(0xFFFFFFFFFFFFFFF0, 1234, -1, 2**63, 4000))
    assert type(r) is perfsys.SampleRecord
    assert (r.type, r.misc) == (C.PERF_RECORD_SAMPLE, 2)
    assert (r.ip, r.pid, r.tid, r.time, r.period) == (0xFFFFFFFFFFFFFFF0, 1234, -1, 2**63, 4000)
    present = {"type", "misc", "ip", "pid", "tid", "time", "period"}
    for name in perfsys.SampleRecord.__match_args__:  # type: ignore[attr-defined]
        if name not in present:
            assert getattr(r, name) is None, name


def _check_branch(got: perfsys.BranchEntry, e: perfsys.perf_branch_entry) -> None:
    assert got.from_ == getattr(e, "from")
    assert got.to == e.to
    for name in ("mispred", "predicted", "in_tx", "abort", "cycles", "type", "spec",
                 "new_type", "priv"):
        assert getattr(got, name) == getattr(e, name), name


@pytest.mark.parametrize("branch_flags", [
    0,
    C.PERF_SAMPLE_BRANCH_HW_INDEX,
    C.PERF_SAMPLE_BRANCH_COUNTERS,
    C.PERF_SAMPLE_BRANCH_HW_INDEX | C.PERF_SAMPLE_BRANCH_COUNTERS,
])
def test_sample_every_bit(branch_flags: int) -> None:
    w = perfsys.perf_sample_weight()
    w.var1_dw = 0x12345678
    w.var2_w = 0x9ABC
    w.var3_w = 0xDEF0
    src = perfsys.perf_mem_data_src()
    src.mem_op = C.PERF_MEM_OP_LOAD
    src.mem_lvl = C.PERF_MEM_LVL_HIT | C.PERF_MEM_LVL_L1
    src.mem_snoop = C.PERF_MEM_SNOOP_NONE
    src.mem_dtlb = C.PERF_MEM_TLB_HIT
    attr = perfsys.perf_event_attr(
        sample_type=ALL_BUT_READ,
        branch_sample_type=C.PERF_SAMPLE_BRANCH_ANY | branch_flags,
        sample_regs_user=0b1011,
        sample_regs_intr=(1 << 40) | 1,
    )
    decoder = perfsys.Decoder(attr)
    data = record(C.PERF_RECORD_SAMPLE, all_bits_body(bytes(w), src.val, branch_flags), misc=1)
    r = decoder.decode(data)
    assert r.identifier == r.id == 0xAAAA
    assert (r.ip, r.pid, r.tid, r.time, r.addr) == (0x401234, 50, 51, 10**12, 0xDEAD0000)
    assert (r.stream_id, r.cpu, r.period, r.read) == (0xBBBB, 1, 100003, None)
    assert r.callchain == (C.PERF_CONTEXT_USER, 0x401234, 0x400100)
    assert r.raw == b"rawpayload!!"
    hw = branch_flags & C.PERF_SAMPLE_BRANCH_HW_INDEX
    assert r.hw_idx == (0x1F if hw else None)
    assert len(r.branch_stack) == 2
    for i, got in enumerate(r.branch_stack):
        assert type(got) is perfsys.BranchEntry
        _check_branch(got, branch_entry(i))
    counters = branch_flags & C.PERF_SAMPLE_BRANCH_COUNTERS
    assert r.branch_counters == ((0x11, 0x22) if counters else None)
    assert (r.regs_user_abi, r.regs_user) == (C.PERF_SAMPLE_REGS_ABI_64, (1, 2, 3))
    assert (r.stack_user, r.stack_user_dyn_size) == (b"stackstackstack!", 12)
    assert r.weight == w.full
    assert r.weight_struct == (0x12345678, 0x9ABC, 0xDEF0)
    assert r.data_src == src.val
    assert perfsys.perf_mem_data_src(val=r.data_src).mem_lvl == src.mem_lvl
    assert r.transaction == 5
    assert (r.regs_intr_abi, r.regs_intr) == (C.PERF_SAMPLE_REGS_ABI_64, (7, 8))
    assert (r.phys_addr, r.cgroup) == (0x12345000, 0x99)
    assert (r.data_page_size, r.code_page_size) == (4096, 2 * 1024 * 1024)
    assert r.aux == b"auxdata!"
    # one byte less anywhere: refused
    short = bytearray(data[:-8])
    short[6:8] = struct.pack("=H", len(short))
    with pytest.raises(perfsys.RecordError):
        decoder.decode(bytes(short))


@pytest.mark.parametrize(
    "bit", [1 << i for i in range(25) if 1 << i not in (C.PERF_SAMPLE_READ, C.PERF_SAMPLE_PERIOD)]
)
def test_sample_single_bit(bit: int) -> None:
    """Each bit alone moves the decoder by exactly its field's size: with a
    PERIOD after it (or before, for the bits that come first) nothing is left over."""
    attr = perfsys.perf_event_attr(sample_type=bit | C.PERF_SAMPLE_PERIOD, sample_regs_user=0b11,
                                   sample_regs_intr=0b1)
    decoder = perfsys.Decoder(attr)
    fields = {
        C.PERF_SAMPLE_IDENTIFIER: struct.pack("=Q", 5),
        C.PERF_SAMPLE_IP: struct.pack("=Q", 6),
        C.PERF_SAMPLE_TID: struct.pack("=ii", 7, 8),
        C.PERF_SAMPLE_TIME: struct.pack("=Q", 9),
        C.PERF_SAMPLE_ADDR: struct.pack("=Q", 10),
        C.PERF_SAMPLE_ID: struct.pack("=Q", 11),
        C.PERF_SAMPLE_STREAM_ID: struct.pack("=Q", 12),
        C.PERF_SAMPLE_CPU: struct.pack("=II", 13, 0xFFFF),
        C.PERF_SAMPLE_CALLCHAIN: struct.pack("=QQ", 1, 14),
        C.PERF_SAMPLE_RAW: struct.pack("=I", 4) + b"\x0f\0\0\0",
        C.PERF_SAMPLE_BRANCH_STACK: struct.pack("=Q", 1) + bytes(branch_entry(3)),
        C.PERF_SAMPLE_REGS_USER: struct.pack("=QQQ", C.PERF_SAMPLE_REGS_ABI_64, 16, 17),
        C.PERF_SAMPLE_STACK_USER: struct.pack("=Q8sQ", 8, b"\x12" * 8, 4),
        C.PERF_SAMPLE_WEIGHT: struct.pack("=Q", 19),
        C.PERF_SAMPLE_DATA_SRC: struct.pack("=Q", 20),
        C.PERF_SAMPLE_TRANSACTION: struct.pack("=Q", 21),
        C.PERF_SAMPLE_REGS_INTR: struct.pack("=QQ", C.PERF_SAMPLE_REGS_ABI_32, 22),
        C.PERF_SAMPLE_PHYS_ADDR: struct.pack("=Q", 23),
        C.PERF_SAMPLE_AUX: struct.pack("=Q8s", 8, b"\x18" * 8),
        C.PERF_SAMPLE_CGROUP: struct.pack("=Q", 25),
        C.PERF_SAMPLE_DATA_PAGE_SIZE: struct.pack("=Q", 26),
        C.PERF_SAMPLE_CODE_PAGE_SIZE: struct.pack("=Q", 27),
        C.PERF_SAMPLE_WEIGHT_STRUCT: struct.pack("=IHH", 28, 29, 30),
    }
    period = struct.pack("=Q", 424242)
    first = bit in (C.PERF_SAMPLE_IDENTIFIER, C.PERF_SAMPLE_IP, C.PERF_SAMPLE_TID,
                    C.PERF_SAMPLE_TIME, C.PERF_SAMPLE_ADDR, C.PERF_SAMPLE_ID,
                    C.PERF_SAMPLE_STREAM_ID, C.PERF_SAMPLE_CPU)
    body = fields[bit] + period if first else period + fields[bit]
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, body))
    assert r.period == 424242
    set_fields = {name for name in r.__match_args__ if getattr(r, name) is not None}  # type: ignore[attr-defined]
    assert set_fields - {"type", "misc", "period"}, "the bit's field was decoded"
    # a record one u64 shorter than the fields is refused
    with pytest.raises(perfsys.RecordError):
        decoder.decode(record(C.PERF_RECORD_SAMPLE, body[:-8]))


def test_sample_regs_abi_none_has_no_registers() -> None:
    st = C.PERF_SAMPLE_REGS_USER | C.PERF_SAMPLE_REGS_INTR | C.PERF_SAMPLE_PHYS_ADDR
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st, sample_regs_user=0xFF,
                                                      sample_regs_intr=0xF))
    body = struct.pack("=QQ4QQ", C.PERF_SAMPLE_REGS_ABI_NONE,
                       C.PERF_SAMPLE_REGS_ABI_64, 1, 2, 3, 4, 0xF00D)
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, body))
    assert (r.regs_user_abi, r.regs_user) == (C.PERF_SAMPLE_REGS_ABI_NONE, ())
    assert (r.regs_intr_abi, r.regs_intr) == (C.PERF_SAMPLE_REGS_ABI_64, (1, 2, 3, 4))
    assert r.phys_addr == 0xF00D


def test_sample_stack_user_empty_has_no_dyn_size() -> None:
    st = C.PERF_SAMPLE_STACK_USER | C.PERF_SAMPLE_CGROUP
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st))
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=QQ", 0, 0xC6)))
    assert (r.stack_user, r.stack_user_dyn_size, r.cgroup) == (b"", None, 0xC6)


def test_sample_weight_without_struct() -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_WEIGHT))
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=Q", 2**40 + 5)))
    assert (r.weight, r.weight_struct) == (2**40 + 5, None)


def test_sample_raw_empty_and_padded() -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_RAW
                                                      | C.PERF_SAMPLE_PERIOD))
    # the kernel's "no raw data": size 4, four zero bytes
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=QI4x", 1, 4)))
    assert (r.period, r.raw) == (1, b"\0\0\0\0")
    # a size that leaves the field unaligned is padded to 8 bytes
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=QI3s1x", 1, 3, b"xyz")))
    assert r.raw == b"xyz"


# -- several events, one ring -------------------------------------------------------


def test_identifier_tells_events_apart() -> None:
    a = perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_IP
                                | C.PERF_SAMPLE_TID, sample_id_all=True)
    b = perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_TIME
                                | C.PERF_SAMPLE_CALLCHAIN, sample_id_all=True)
    decoder = perfsys.Decoder({101: a})
    decoder.add(7, b)
    assert decoder.ids == (7, 101)
    ra = record(C.PERF_RECORD_SAMPLE, struct.pack("=QQii", 101, 0x1000, 1, 2))
    rb = record(C.PERF_RECORD_SAMPLE, struct.pack("=QQQQ", 7, 555, 1, 0x2000))
    lost_a = record(C.PERF_RECORD_LOST, struct.pack("=QQ", 101, 3) + struct.pack("=iiQ", 1, 2, 101))
    lost_b = record(C.PERF_RECORD_LOST, struct.pack("=QQ", 7, 4) + struct.pack("=QQ", 999, 7))
    got = decoder.decode_all(ra + rb + lost_a + lost_b)
    assert (got[0].identifier, got[0].ip, got[0].pid, got[0].time) == (101, 0x1000, 1, None)
    assert (got[1].identifier, got[1].time, got[1].ip) == (7, 555, None)
    assert got[1].callchain == (0x2000,)
    assert (got[2].lost, got[2].sample_pid, got[2].sample_time) == (3, 1, None)
    assert (got[3].lost, got[3].sample_pid, got[3].sample_time) == (4, None, 999)
    with pytest.raises(perfsys.RecordError, match="id 8 is not one of"):
        decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=QQQQ", 8, 5, 1, 0)))


def test_same_layout_needs_no_identifier() -> None:
    st = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID
    decoder = perfsys.Decoder({1: perfsys.perf_event_attr(sample_type=st),
                               2: perfsys.perf_event_attr(sample_type=st)})
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=Qii", 9, 1, 2)))
    assert (r.ip, r.pid, r.tid) == (9, 1, 2)


def test_different_layouts_need_identifier() -> None:
    with pytest.raises(ValueError, match="PERF_SAMPLE_IDENTIFIER"):
        perfsys.Decoder({1: perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP),
                         2: perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_TIME)})
    decoder = perfsys.Decoder({1: perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP)})
    with pytest.raises(ValueError, match="PERF_SAMPLE_IDENTIFIER"):
        decoder.add(2, perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP
                                               | C.PERF_SAMPLE_IDENTIFIER))
    assert decoder.ids == (1,)  # unchanged by the refused add
    single = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP
                                                     | C.PERF_SAMPLE_IDENTIFIER))
    with pytest.raises(ValueError, match="need ids"):
        single.add(2, perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_TIME
                                              | C.PERF_SAMPLE_IDENTIFIER))
    ident = C.PERF_SAMPLE_IDENTIFIER
    with pytest.raises(ValueError, match="sample_id_all"):
        perfsys.Decoder({1: perfsys.perf_event_attr(sample_type=ident, sample_id_all=True),
                         2: perfsys.perf_event_attr(sample_type=ident | 1)})
    with pytest.raises(ValueError, match="already"):
        decoder.add(1, perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP))


# -- bad configurations -------------------------------------------------------------


def test_decoder_rejects_bad_attrs() -> None:
    with pytest.raises(TypeError):
        perfsys.Decoder(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="PERF_ATTR_SIZE_VER0"):
        perfsys.Decoder(bytes(63))
    with pytest.raises(ValueError, match="sample_type"):
        perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_MAX))
    with pytest.raises(ValueError, match="read_format"):
        perfsys.Decoder(perfsys.perf_event_attr(read_format=C.PERF_FORMAT_MAX))
    with pytest.raises(ValueError, match="at least one"):
        perfsys.Decoder({})
    with pytest.raises(TypeError):
        perfsys.Decoder({"x": perfsys.perf_event_attr()})  # type: ignore[dict-item]
    with pytest.raises(OverflowError):
        perfsys.Decoder({-1: perfsys.perf_event_attr()})
    with pytest.raises(TypeError):
        perfsys.Decoder()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        perfsys.Decoder(perfsys.perf_event_attr(), attrs=1)  # type: ignore[call-arg]


def test_attr_size_limits_what_is_read() -> None:
    """Fields past attr.size are zero to the kernel, and to the Decoder."""
    attr = perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_REGS_USER, sample_regs_user=0b111)
    attr.size = C.PERF_ATTR_SIZE_VER2  # sample_regs_user lies past it
    decoder = perfsys.Decoder(attr)
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=Q", C.PERF_SAMPLE_REGS_ABI_64)))
    assert r.regs_user == ()
    # a short buffer (an old attr) is fine too
    short = bytes(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP))[: C.PERF_ATTR_SIZE_VER0]
    assert perfsys.Decoder(short).decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=Q", 3))).ip == 3


def test_decoder_copies_the_attr() -> None:
    attr = perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP)
    decoder = perfsys.Decoder(attr)
    attr.sample_type = C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_IP
    assert decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=Q", 3))).ip == 3


# -- corrupt input ------------------------------------------------------------------


def _decoder() -> perfsys.Decoder:
    st = (C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_CALLCHAIN | C.PERF_SAMPLE_RAW
          | C.PERF_SAMPLE_BRANCH_STACK | C.PERF_SAMPLE_STACK_USER | C.PERF_SAMPLE_AUX)
    return perfsys.Decoder(perfsys.perf_event_attr(sample_type=st,
                                                   branch_sample_type=C.PERF_SAMPLE_BRANCH_ANY))


def _sample(*parts: bytes) -> bytes:
    return record(C.PERF_RECORD_SAMPLE, b"".join(parts))


GOOD_TAIL = struct.pack("=QI4xQQQ", 0, 4, 0, 0, 0)  # raw, branch nr, stack size, aux size
HEAD = struct.pack("=Qii", 0x1000, 1, 2)


@pytest.mark.parametrize(("data", "match"), [
    (b"", "too short for a perf_event_header"),
    (b"\x09\0\0\0\0\0", "too short"),
    (struct.pack("=IHH", 9, 0, 0), "less than its 8-byte header"),
    (struct.pack("=IHH", 9, 0, 7) + b"\0" * 8, "less than"),
    (struct.pack("=IHH", 9, 0, 24) + b"\0" * 8, "past the end"),
    (struct.pack("=IHH", 9, 0, 12) + b"\0" * 4, "multiple of 8"),
    (_sample(HEAD[:8]), "truncated at pid, tid"),
    (_sample(HEAD, struct.pack("=Q", 2**61)), "callchain nr 2305843009213693952"),
    (_sample(HEAD, struct.pack("=Q", 2**64 - 1)), "callchain nr"),
    (_sample(HEAD, struct.pack("=QQ", 2, 1)), "callchain nr 2"),
    (_sample(HEAD, struct.pack("=QI4x", 0, 0xFFFFFFFF)), "raw size 4294967295"),
    (_sample(HEAD, struct.pack("=QI4xQ", 0, 4, 2**62)), "branch stack nr"),
    (_sample(HEAD, struct.pack("=QI4xQQ", 0, 4, 1, 0)), "branch stack nr 1"),
    (_sample(HEAD, struct.pack("=QI4xQQ", 0, 4, 0, 2**64 - 8)), "stack_user size"),
    (_sample(HEAD, struct.pack("=QI4xQQ8s", 0, 4, 0, 8, b"x" * 8)), "at stack_user dyn_size"),
    (_sample(HEAD, struct.pack("=QI4xQQQ", 0, 4, 0, 0, 2**64 - 1)), "aux size"),
    (_sample(HEAD, GOOD_TAIL, b"\0" * 8), "8 bytes left over"),
])
def test_corrupt_sample(data: bytes, match: str) -> None:
    decoder = _decoder()
    assert decoder.decode(_sample(HEAD, GOOD_TAIL)).ip == 0x1000
    with pytest.raises(perfsys.RecordError, match=match):
        decoder.decode(data)
    if data:
        with pytest.raises(perfsys.RecordError):
            decoder.decode_all(_sample(HEAD, GOOD_TAIL) + data)
    assert issubclass(perfsys.RecordError, ValueError)


def test_decode_all_names_the_offset() -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP))
    good = record(C.PERF_RECORD_SAMPLE, struct.pack("=Q", 1))
    bad = record(C.PERF_RECORD_SAMPLE, b"")
    with pytest.raises(perfsys.RecordError, match="at offset 32"):
        decoder.decode_all(good * 2 + bad)
    with pytest.raises(perfsys.RecordError, match="offset 32"):
        decoder.decode_all(good * 2 + b"\x01\0\0")
    assert decoder.decode_all(b"") == []
    assert len(decoder.decode_all(memoryview(good * 5))) == 5
    assert len(decoder.decode_all(bytearray(good * 5))) == 5


def test_corrupt_other_records() -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=TRAILER_BITS, sample_id_all=True))
    t = trailer(TRAILER_BITS)
    with pytest.raises(perfsys.RecordError, match="nr_namespaces"):
        decoder.decode(record(C.PERF_RECORD_NAMESPACES, struct.pack("=iiQ", 1, 2, 2**60) + t))
    with pytest.raises(perfsys.RecordError, match="callchain nr"):
        decoder.decode(record(C.PERF_RECORD_CALLCHAIN_DEFERRED, struct.pack("=QQ", 1, 1) + t))
    with pytest.raises(perfsys.RecordError, match="build_id_size 21"):
        body = struct.pack("=iiQQQBBH20sII", 1, 2, 0, 0, 0, 21, 0, 0, b"", 0, 0)
        decoder.decode(record(C.PERF_RECORD_MMAP2, body + t, C.PERF_RECORD_MISC_MMAP_BUILD_ID))
    with pytest.raises(perfsys.RecordError, match="truncated at bytes"):
        body = struct.pack("=QHH4x", 0, 300, 300)
        decoder.decode(record(C.PERF_RECORD_TEXT_POKE, body + t))
    with pytest.raises(perfsys.RecordError, match="trailer"):
        decoder.decode(record(C.PERF_RECORD_SWITCH, t[:-8]))


def test_records_are_named_tuples() -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP
                                                      | C.PERF_SAMPLE_TID))
    r = decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=Qii", 5, 6, 7)))
    fields = perfsys.SampleRecord._fields  # type: ignore[attr-defined]
    assert fields == perfsys.SampleRecord.__match_args__
    assert len(r) == len(fields) == len(tuple(r))
    assert r[:6] == (C.PERF_RECORD_SAMPLE, 0, None, 5, 6, 7)
    assert (r[3], r[-1], r[-len(fields)]) == (5, None, C.PERF_RECORD_SAMPLE)
    with pytest.raises(IndexError):
        r[len(fields)]
    type_, misc, _, ip, pid, tid, *rest = r
    assert (type_, misc, ip, pid, tid) == (C.PERF_RECORD_SAMPLE, 0, 5, 6, 7)
    assert set(rest) == {None}
    as_tuple = tuple(r)
    assert r == as_tuple and as_tuple == r and hash(r) == hash(as_tuple)
    assert r != as_tuple[:-1] and r != 5
    assert r._asdict() == dict(zip(fields, as_tuple, strict=True))
    assert repr(r).startswith("perfsys.SampleRecord(type=9, misc=0, identifier=None, ip=5,")
    match r:
        case perfsys.SampleRecord(ip=ip, tid=tid):
            assert (ip, tid) == (5, 7)
    with pytest.raises(AttributeError):
        r.ip = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        perfsys.SampleRecord()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="33-sequence"):
        perfsys.SampleRecord((1, 2))
    assert perfsys.SampleRecord(as_tuple) == r
    again = pickle.loads(pickle.dumps(r))
    assert type(again) is perfsys.SampleRecord and again == r and again.tid == 7
    assert copy.copy(r) == r
    m = decoder.decode(record(C.PERF_RECORD_MMAP, struct.pack("=iiQQQ", 1, 2, 3, 4, 5) + b"x\0"
                              + b"\0" * 6))
    assert isinstance(m, tuple) and m.filename == "x"
    assert ctypes.sizeof(perfsys.perf_event_header) == 8


def test_callchain_addresses_come_out_whole() -> None:
    """Callchains of any length, low and high addresses, repeated or not, read back as
    written, each time they are read; so do a deferred callchain's ips."""
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_CALLCHAIN))
    addrs = [0x400000 + (k << 10) for k in range(64)] + [2**64 - 1 - k for k in range(64)]
    data = b"".join(
        record(C.PERF_RECORD_SAMPLE, struct.pack(f"=Q{len(chunk)}Q", len(chunk), *chunk))
        for chunk in (addrs, addrs[::-1], addrs[::3], [addrs[0]] * 5)
    )
    got = [r.callchain for r in decoder.decode_all(data) + decoder.decode_all(data)]
    assert got == [tuple(addrs), tuple(addrs[::-1]), tuple(addrs[::3]), (addrs[0],) * 5] * 2
    empty = decoder.decode(record(C.PERF_RECORD_SAMPLE, struct.pack("=Q", 0)))
    assert empty.callchain == () and empty[len(empty._fields) - 1] is None
    deferred = record(C.PERF_RECORD_CALLCHAIN_DEFERRED,
                      struct.pack("=QQ3Q", 1, 3, addrs[5], addrs[6], addrs[5] ^ 1))
    assert decoder.decode(deferred).ips == (addrs[5], addrs[6], addrs[5] ^ 1)


def test_sample_fields_are_made_when_read() -> None:
    """A SampleRecord keeps its fields as the kernel wrote them, copied out of the buffer,
    and makes the ints and tuples when they are read: each read gives equal values,
    signed where the kernel means -1, and the record references nothing the collector
    needs to see."""
    import gc

    t = (C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_CPU | C.PERF_SAMPLE_CALLCHAIN
         | C.PERF_SAMPLE_RAW | C.PERF_SAMPLE_REGS_USER | C.PERF_SAMPLE_STACK_USER
         | C.PERF_SAMPLE_WEIGHT_STRUCT)
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=t, sample_regs_user=0b101))
    body = (struct.pack("=QiiII", 2**64 - 1, -1, 7, 2**32 - 1, 0)
            + struct.pack("=4Q", 3, C.PERF_CONTEXT_USER, 0x401000, 2**63)
            + struct.pack("=I", 4) + b"abcd"
            + struct.pack("=3Q", C.PERF_SAMPLE_REGS_ABI_64, 11, 2**64 - 2)
            + struct.pack("=Q", 0)  # stack_user: nothing dumped
            + struct.pack("=Q", (3 << 48) | (2 << 32) | 1))
    buf = bytearray(record(C.PERF_RECORD_SAMPLE, body))
    r = decoder.decode(buf)
    buf[:] = bytes(len(buf))
    for _ in range(2):
        assert (r.ip, r.pid, r.tid, r.cpu) == (2**64 - 1, -1, 7, 2**32 - 1)
        assert r.callchain == (C.PERF_CONTEXT_USER, 0x401000, 2**63)
        assert (r.raw, r.regs_user_abi, r.regs_user) == (b"abcd", C.PERF_SAMPLE_REGS_ABI_64,
                                                         (11, 2**64 - 2))
        assert (r.stack_user, r.stack_user_dyn_size) == (b"", None)
        assert (r.weight, r.weight_struct) == ((3 << 48) | (2 << 32) | 1, (1, 2, 3))
    assert not gc.is_tracked(r)
    assert r == perfsys.SampleRecord(tuple(r)) == pickle.loads(pickle.dumps(r))
    assert hash(r) == hash(tuple(r)) == hash(copy.copy(r))


def test_finalizer_adding_events_during_decoding() -> None:
    """A garbage collection inside decode_all may run a finalizer that calls add() (which
    moves the Decoder's tables); the records decoded meanwhile stay right."""
    import gc

    ident = C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_CALLCHAIN | C.PERF_SAMPLE_REGS_USER
    decoder = perfsys.Decoder({1: perfsys.perf_event_attr(sample_type=ident, sample_regs_user=0b11),
                               2: perfsys.perf_event_attr(sample_type=ident | C.PERF_SAMPLE_IP)})
    added = []

    class Adder:
        def __init__(self) -> None:
            self.me = self  # a cycle, so only the collector frees it

        def __del__(self) -> None:
            n = 1000 + len(added)
            decoder.add(n, perfsys.perf_event_attr(sample_type=ident | C.PERF_SAMPLE_TIME))
            added.append(n)

    data = b"".join(
        record(C.PERF_RECORD_SAMPLE, struct.pack("=QQ2QQ2Q", 1, 2, 0x10 + i, 0x20 + i,
                                                 C.PERF_SAMPLE_REGS_ABI_64, i, 7))
        for i in range(300)
    )
    old = gc.get_threshold()
    gc.set_threshold(1)
    try:
        for _ in range(20):
            for _ in range(50):
                Adder()
            got = decoder.decode_all(data)
            assert [r.callchain for r in got] == [(0x10 + i, 0x20 + i) for i in range(300)]
            assert [r.regs_user for r in got] == [(i, 7) for i in range(300)]
    finally:
        gc.set_threshold(*old)
        gc.collect()
    assert added and len(decoder.ids) == 2 + len(added)


def test_bits_it_cannot_decode_are_named_in_hex() -> None:
    with pytest.raises(ValueError, match=r"sample_type 0x40000000 has bits"):
        perfsys.Decoder(perfsys.perf_event_attr(sample_type=1 << 30))
    with pytest.raises(ValueError, match=r"read_format 0x40 has bits"):
        perfsys.Decoder(perfsys.perf_event_attr(read_format=1 << 6))
