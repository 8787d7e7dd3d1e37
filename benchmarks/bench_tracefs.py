"""Decoding tracepoint RAW payloads: perfsys.tracefs (pure Python) beside what surrounds it.

For two real formats of the running kernel, sched:sched_switch (fixed fields, two char
arrays) and sched:sched_process_exec (a __data_loc string), it builds SAMPLE records with
PERF_SAMPLE_RAW as the kernel lays them out and measures, per record:

  C Decoder + .raw   perfsys.Decoder.decode_all over the records, reading each one's raw
                     (what a reader pays before any tracepoint decoding)
  tracefs.decode     TracepointFormat.decode(raw) -> dict of every field
  named floor        a dict of the fixed integers alone (struct.unpack_from and zip): about
                     what any decoder returning a dict pays, in C too, before strings
  struct floor       the same unpack into a bare tuple: no names, no strings

tracefs / named floor is what the strings and arrays and the checks cost; C Decoder /
tracefs compares the payload decode with the drain that precedes it.

Run: python3 benchmarks/bench_tracefs.py [--seconds S]
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import perfsys
from perfsys import constants as C
from perfsys.tracefs import TracepointFormat

N = 1000


def payload(fmt: TracepointFormat) -> bytes:
    """A payload with every fixed field set, strings filled, data_loc strings placed."""
    data = bytearray(fmt.size)
    struct.pack_into("=H", data, 0, fmt.id)
    tail = bytearray()
    for f in fmt.fields:
        if f.data_loc:
            s = b"/usr/bin/some-program\0"
            struct.pack_into("=I", data, f.offset, len(s) << 16 | (fmt.size + len(tail)))
            tail += s
        elif f.array_len and f.is_string:
            data[f.offset:f.offset + f.size] = b"python3".ljust(f.size, b"\0")
    raw = bytes(data + tail)
    return raw + b"\0" * ((-(len(raw) + 4)) % 8)  # u32 size + raw, padded to 8 bytes


def sample_records(raw: bytes) -> bytes:
    body = struct.pack("=I", len(raw)) + raw
    rec = struct.pack("=IHH", C.PERF_RECORD_SAMPLE, 0, 8 + len(body)) + body
    return rec * N


def rate(fn: Callable[[], object], per_call: int, seconds: float) -> float:
    best = float("inf")
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return per_call / best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_TRACEPOINT, sample_type=C.PERF_SAMPLE_RAW)
    decoder = perfsys.Decoder(attr)
    print("| tracepoint | C Decoder + .raw | tracefs.decode | named floor | struct floor | "
          "tracefs / named floor | C Decoder / tracefs |")
    print("|---|---|---|---|---|---|---|")
    for name in ("sched:sched_switch", "sched:sched_process_exec"):
        fmt = TracepointFormat.load(name)
        raw = payload(fmt)
        buf = sample_records(raw)
        raws = [r.raw for r in decoder.decode_all(buf)]  # type: ignore[union-attr]
        assert raws[0] == raw and fmt.decode(raw)
        codes, pos, names = "=", 0, []
        for f in sorted(fmt.fields, key=lambda f: f.offset):
            if not f.data_loc and f.array_len is None and f.size in (1, 2, 4, 8):
                codes += f"{f.offset - pos}x" + {1: "B", 2: "H", 4: "I", 8: "Q"}[f.size]
                pos = f.offset + f.size
                names.append(f.name)
        c = rate(lambda b=buf: [r.raw for r in decoder.decode_all(b)],  # type: ignore
                 N, args.seconds)
        t = rate(lambda rs=raws, d=fmt.decode: [d(r) for r in rs], N, args.seconds)
        unpack = struct.Struct(codes).unpack_from
        nf = rate(lambda rs=raws, u=unpack, n=tuple(names):
                  [dict(zip(n, u(r), strict=True)) for r in rs],
                  N, args.seconds)
        f = rate(lambda rs=raws, u=unpack: [u(r) for r in rs], N, args.seconds)
        print(f"| {name} | {c / 1e6:.2f} M/s | {t / 1e6:.2f} M/s | {nf / 1e6:.2f} M/s | "
              f"{f / 1e6:.2f} M/s | {nf / t:.1f}x | {c / t:.1f}x |")


if __name__ == "__main__":
    main()
