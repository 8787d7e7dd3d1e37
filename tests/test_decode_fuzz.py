"""Property tests: random samples round-trip, random and mutated bytes only raise."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import record

import perfsys
from perfsys import constants as C

SAMPLE_BITS = [1 << i for i in range(25)]
BRANCH_FLAGS = [0, C.PERF_SAMPLE_BRANCH_HW_INDEX, C.PERF_SAMPLE_BRANCH_COUNTERS,
                C.PERF_SAMPLE_BRANCH_HW_INDEX | C.PERF_SAMPLE_BRANCH_COUNTERS]

u64 = st.integers(0, 2**64 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    bits = draw(st.lists(st.sampled_from(SAMPLE_BITS), unique=True))
    return dict(
        sample_type=sum(bits),
        read_format=draw(st.integers(0, C.PERF_FORMAT_MAX - 1)),
        sample_id_all=draw(st.booleans()),
        branch_sample_type=draw(st.sampled_from(BRANCH_FLAGS)),
        sample_regs_user=draw(st.integers(0, 2**64 - 1).filter(lambda m: bin(m).count("1") <= 6)),
        sample_regs_intr=draw(st.integers(0, 255)),
    )


@st.composite
def samples(draw: st.DrawFn, cfg: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """A SAMPLE body laid out for `cfg`, and the fields it should decode to."""
    t = cfg["sample_type"]
    body = b""
    want: dict[str, Any] = {}

    def u64_field(bit: int, name: str) -> None:
        nonlocal body
        if t & bit:
            v = draw(u64)
            body += struct.pack("=Q", v)
            want[name] = v

    u64_field(C.PERF_SAMPLE_IDENTIFIER, "identifier")
    u64_field(C.PERF_SAMPLE_IP, "ip")
    if t & C.PERF_SAMPLE_TID:
        want["pid"], want["tid"] = draw(i32), draw(i32)
        body += struct.pack("=ii", want["pid"], want["tid"])
    u64_field(C.PERF_SAMPLE_TIME, "time")
    u64_field(C.PERF_SAMPLE_ADDR, "addr")
    u64_field(C.PERF_SAMPLE_ID, "id")
    u64_field(C.PERF_SAMPLE_STREAM_ID, "stream_id")
    if t & C.PERF_SAMPLE_CPU:
        want["cpu"] = draw(st.integers(0, 2**32 - 1))
        body += struct.pack("=II", want["cpu"], draw(st.integers(0, 2**32 - 1)))
    u64_field(C.PERF_SAMPLE_PERIOD, "period")
    if t & C.PERF_SAMPLE_READ:
        rf = cfg["read_format"]
        group = rf & C.PERF_FORMAT_GROUP
        nr = draw(st.integers(0, 3)) if group else 1
        head = bin(rf & (C.PERF_FORMAT_TOTAL_TIME_ENABLED | C.PERF_FORMAT_TOTAL_TIME_RUNNING))
        per = 1 + bin(rf & (C.PERF_FORMAT_ID | C.PERF_FORMAT_LOST)).count("1")
        n = (1 if group else 0) + head.count("1") + nr * per
        vals = [draw(u64) for _ in range(n)]
        if group:
            vals[0] = nr
        block = struct.pack(f"={n}Q", *vals)
        want["read"] = perfsys._perfsys.decode_read(rf, block)
        body += block
    if t & C.PERF_SAMPLE_CALLCHAIN:
        ips = draw(st.lists(u64, max_size=8))
        want["callchain"] = tuple(ips)
        body += struct.pack(f"=Q{len(ips)}Q", len(ips), *ips)
    if t & C.PERF_SAMPLE_RAW:
        raw = draw(st.binary(max_size=40))
        pad = -(4 + len(raw)) % 8
        want["raw"] = raw
        body += struct.pack("=I", len(raw)) + raw + b"\0" * pad
    if t & C.PERF_SAMPLE_BRANCH_STACK:
        flags = cfg["branch_sample_type"]
        n = draw(st.integers(0, 4))
        entries = [draw(st.tuples(u64, u64, u64)) for _ in range(n)]
        body += struct.pack("=Q", n)
        if flags & C.PERF_SAMPLE_BRANCH_HW_INDEX:
            want["hw_idx"] = draw(u64)
            body += struct.pack("=Q", want["hw_idx"])
        for e in entries:
            body += struct.pack("=3Q", *e)
        want["branch_stack"] = [(e[0], e[1]) for e in entries]
        if flags & C.PERF_SAMPLE_BRANCH_COUNTERS:
            cnt = [draw(u64) for _ in range(n)]
            want["branch_counters"] = tuple(cnt)
            body += struct.pack(f"={n}Q", *cnt)

    def regs(mask: int, name: str) -> None:
        nonlocal body
        abi = draw(st.sampled_from([C.PERF_SAMPLE_REGS_ABI_NONE, C.PERF_SAMPLE_REGS_ABI_32,
                                    C.PERF_SAMPLE_REGS_ABI_64]))
        n = 0 if abi == C.PERF_SAMPLE_REGS_ABI_NONE else bin(mask).count("1")
        vals = [draw(u64) for _ in range(n)]
        want[name + "_abi"], want[name] = abi, tuple(vals)
        body += struct.pack(f"=Q{n}Q", abi, *vals)

    if t & C.PERF_SAMPLE_REGS_USER:
        regs(cfg["sample_regs_user"], "regs_user")
    if t & C.PERF_SAMPLE_STACK_USER:
        stack = draw(st.binary(max_size=32).map(lambda b: b + b"\0" * (-len(b) % 8)))
        want["stack_user"] = stack
        body += struct.pack("=Q", len(stack)) + stack
        if stack:
            want["stack_user_dyn_size"] = draw(u64)
            body += struct.pack("=Q", want["stack_user_dyn_size"])
    if t & (C.PERF_SAMPLE_WEIGHT | C.PERF_SAMPLE_WEIGHT_STRUCT):
        want["weight"] = draw(u64)
        body += struct.pack("=Q", want["weight"])
    u64_field(C.PERF_SAMPLE_DATA_SRC, "data_src")
    u64_field(C.PERF_SAMPLE_TRANSACTION, "transaction")
    if t & C.PERF_SAMPLE_REGS_INTR:
        regs(cfg["sample_regs_intr"], "regs_intr")
    u64_field(C.PERF_SAMPLE_PHYS_ADDR, "phys_addr")
    u64_field(C.PERF_SAMPLE_CGROUP, "cgroup")
    u64_field(C.PERF_SAMPLE_DATA_PAGE_SIZE, "data_page_size")
    u64_field(C.PERF_SAMPLE_CODE_PAGE_SIZE, "code_page_size")
    if t & C.PERF_SAMPLE_AUX:
        aux = draw(st.binary(max_size=24))
        want["aux"] = aux
        body += struct.pack("=Q", len(aux)) + aux
    return body, want


def _check(r: Any, want: dict[str, Any]) -> None:
    for name in r.__match_args__:
        if name in ("type", "misc", "weight_struct"):
            continue
        if name == "branch_stack" and name in want:
            assert [(e.from_, e.to) for e in r.branch_stack] == want[name]
        elif name in want:
            assert getattr(r, name) == want[name], name
        else:
            assert getattr(r, name) is None, name


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_random_samples_round_trip(data: st.DataObject) -> None:
    cfg = data.draw(configs())
    body, want = data.draw(samples(cfg))
    decoder = perfsys.Decoder(perfsys.perf_event_attr(**cfg))
    if len(body) % 8:
        # the kernel pads every record to 8 bytes; only unpadded AUX data can leave it short
        try:
            decoder.decode(record(C.PERF_RECORD_SAMPLE, body))
        except perfsys.RecordError:
            return
        raise AssertionError("a record whose size is not a multiple of 8 was accepted")
    buf = bytearray(record(C.PERF_RECORD_SAMPLE, body))
    r = decoder.decode(buf)
    buf[:] = bytes(len(buf))  # the record holds copies, not views of the buffer
    _check(r, want)
    if "weight" in want:
        w = want["weight"]
        want_ws = ((w & 0xFFFFFFFF, (w >> 32) & 0xFFFF, w >> 48)
                   if cfg["sample_type"] & C.PERF_SAMPLE_WEIGHT_STRUCT else None)
        assert r.weight_struct == want_ws
    # every way of reading it agrees with its fields, and a rebuilt record equals it
    fields = tuple(getattr(r, name) for name in r.__match_args__)
    assert tuple(r) == fields == tuple(r[i] for i in range(len(r))) == r[:]
    assert r._asdict() == dict(zip(r.__match_args__, fields, strict=True))
    again = perfsys.SampleRecord(fields)
    assert again == r and r == fields and hash(again) == hash(r) == hash(fields)
    assert repr(again) == repr(r)


def _try(decoder: perfsys.Decoder, data: bytes) -> None:
    for call in (decoder.decode, decoder.decode_all):
        with contextlib.suppress(perfsys.RecordError):
            call(data)


@settings(max_examples=400, deadline=None)
@given(configs(), st.binary(max_size=512))
def test_random_bytes_only_raise(cfg: dict[str, Any], data: bytes) -> None:
    _try(perfsys.Decoder(perfsys.perf_event_attr(**cfg)), data)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_mutated_records_only_raise(data: st.DataObject) -> None:
    cfg = data.draw(configs())
    body, _ = data.draw(samples(cfg))
    type_ = data.draw(st.integers(1, C.PERF_RECORD_MAX))
    rec = bytearray(record(type_, body + b"\0" * (-len(body) % 8)))
    for _ in range(data.draw(st.integers(1, 6))):
        how = data.draw(st.sampled_from(["byte", "u64", "size", "cut"]))
        if how == "byte" and rec:
            i = data.draw(st.integers(0, len(rec) - 1))
            rec[i] = data.draw(st.integers(0, 255))
        elif how == "u64" and len(rec) >= 16:
            i = data.draw(st.integers(1, len(rec) // 8 - 1)) * 8
            rec[i:i + 8] = struct.pack("=Q", data.draw(st.sampled_from(
                [0, 1, 2**31, 2**32 - 1, 2**61, 2**63, 2**64 - 1, len(rec)])))
        elif how == "size" and len(rec) >= 8:
            rec[6:8] = struct.pack("=H", data.draw(st.integers(0, 0xFFFF)))
        elif how == "cut":
            del rec[data.draw(st.integers(0, len(rec))):]
    _try(perfsys.Decoder(perfsys.perf_event_attr(**cfg)), bytes(rec))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_several_events_route_and_only_raise(data: st.DataObject) -> None:
    """Events laid out differently, told apart by IDENTIFIER: each sample decodes with its
    own event's layout, and mutated records only raise."""
    sample_id_all = data.draw(st.booleans())
    cfgs = {}
    for ident in data.draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=4,
                                    unique=True)):
        cfg = data.draw(configs())
        cfg["sample_type"] |= C.PERF_SAMPLE_IDENTIFIER
        cfg["sample_id_all"] = sample_id_all
        cfgs[ident] = cfg
    decoder = perfsys.Decoder({i: perfsys.perf_event_attr(**cfg) for i, cfg in cfgs.items()})
    assert decoder.ids == tuple(sorted(cfgs))
    ident = data.draw(st.sampled_from(sorted(cfgs)))
    body, want = data.draw(samples(cfgs[ident]))
    body = struct.pack("=Q", ident) + body[8:]
    want["identifier"] = ident
    if len(body) % 8 == 0:
        _check(decoder.decode(record(C.PERF_RECORD_SAMPLE, body)), want)
    rec = bytearray(record(data.draw(st.integers(1, C.PERF_RECORD_MAX)),
                           body + b"\0" * (-len(body) % 8)))
    for _ in range(data.draw(st.integers(0, 4))):
        i = data.draw(st.integers(0, len(rec) - 1))
        rec[i] = data.draw(st.integers(0, 255))
    _try(decoder, bytes(rec))
