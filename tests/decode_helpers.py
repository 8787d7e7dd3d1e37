"""Builders of perf records as the kernel lays them out, for the decoding tests."""

from __future__ import annotations

import struct

import perfsys
from perfsys import constants as C

TRAILER_BITS = (
    C.PERF_SAMPLE_TID
    | C.PERF_SAMPLE_TIME
    | C.PERF_SAMPLE_ID
    | C.PERF_SAMPLE_STREAM_ID
    | C.PERF_SAMPLE_CPU
    | C.PERF_SAMPLE_IDENTIFIER
)


def record(type_: int, body: bytes, misc: int = 0) -> bytes:
    """A whole record: the generated perf_event_header, then `body`."""
    header = perfsys.perf_event_header(type=type_, misc=misc, size=8 + len(body))
    return bytes(header) + body


def cstring(s: bytes) -> bytes:
    """A NUL-terminated string padded to a multiple of 8 bytes, as the kernel writes it."""
    s += b"\0"
    return s + b"\0" * (-len(s) % 8)


# Values the sample_id trailer tests use, by trailer field name.
TRAILER_VALUES = {
    "sample_pid": 4242,
    "sample_tid": 4243,
    "sample_time": 123456789012,
    "sample_id": 77,
    "sample_stream_id": 78,
    "sample_cpu": 1,
    "sample_identifier": 77,
}


def trailer(sample_type: int) -> bytes:
    """The sample_id trailer for `sample_type`, holding TRAILER_VALUES."""
    v = TRAILER_VALUES
    out = b""
    if sample_type & C.PERF_SAMPLE_TID:
        out += struct.pack("=ii", v["sample_pid"], v["sample_tid"])
    if sample_type & C.PERF_SAMPLE_TIME:
        out += struct.pack("=Q", v["sample_time"])
    if sample_type & C.PERF_SAMPLE_ID:
        out += struct.pack("=Q", v["sample_id"])
    if sample_type & C.PERF_SAMPLE_STREAM_ID:
        out += struct.pack("=Q", v["sample_stream_id"])
    if sample_type & C.PERF_SAMPLE_CPU:
        out += struct.pack("=II", v["sample_cpu"], 0)
    if sample_type & C.PERF_SAMPLE_IDENTIFIER:
        out += struct.pack("=Q", v["sample_identifier"])
    return out


def expected_trailer(sample_type: int, sample_id_all: bool) -> dict[str, int | None]:
    bits = {
        "sample_pid": C.PERF_SAMPLE_TID,
        "sample_tid": C.PERF_SAMPLE_TID,
        "sample_time": C.PERF_SAMPLE_TIME,
        "sample_id": C.PERF_SAMPLE_ID,
        "sample_stream_id": C.PERF_SAMPLE_STREAM_ID,
        "sample_cpu": C.PERF_SAMPLE_CPU,
        "sample_identifier": C.PERF_SAMPLE_IDENTIFIER,
    }
    return {
        name: (TRAILER_VALUES[name] if sample_id_all and sample_type & bit else None)
        for name, bit in bits.items()
    }


def simple_sample(ip: int, pid: int, tid: int, time: int, period: int) -> bytes:
    """A SAMPLE record for sample_type IP|TID|TIME|PERIOD."""
    return record(C.PERF_RECORD_SAMPLE, struct.pack("=QiiQQ", ip, pid, tid, time, period), misc=2)
