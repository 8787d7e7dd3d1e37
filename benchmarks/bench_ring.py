"""Drain-and-decode rate of SAMPLE records through RingBuffer.read(), side by side with a
pure-Python drain (struct.unpack_from) over the same bytes.

    python3 benchmarks/bench_ring.py [--pages N ...] [--repeat R]

The ring is RingBuffer._testing(N) for each N given (default 16 and 256 data pages; one
read() drains the whole area, so N sets the batch size): a memfd laid out exactly like a
perf ring, filled by hand with SAMPLE records and drained by the same C code that drains
a kernel ring (the kernel cannot be made to write millions of records on demand). Each run rewinds
data_tail and drains the whole data area once; the best of R runs is reported.
Layouts: IP|TID|TIME|PERIOD (40-byte records) and the same with a 16-entry CALLCHAIN.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import perfsys  # noqa: E402
from perfsys import constants as C  # noqa: E402

HEAD = 1024  # offsetof(perf_event_mmap_page, data_head)
BASE = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_PERIOD
CHAIN = 16


def make_record(sample_type: int, i: int) -> bytes:
    body = struct.pack("<QIIQ", 0x400000 + 16 * i, 1000, 1001, 10**9 + i)
    body += struct.pack("<Q", 100_000)
    if sample_type & C.PERF_SAMPLE_CALLCHAIN:
        body = body[:-8] + struct.pack("<Q", 100_000)  # PERIOD comes before CALLCHAIN
        body += struct.pack(f"<Q{CHAIN}Q", CHAIN, *(0x400000 + 8 * k for k in range(CHAIN)))
    return struct.pack("<IHH", C.PERF_RECORD_SAMPLE, C.PERF_RECORD_MISC_USER, 8 + len(body)) + body


def python_drain(data: bytes, sample_type: int) -> list[tuple[object, ...]]:
    """What a pure-Python reader does: walk the headers, unpack each sample's fields."""
    hdr = struct.Struct("<IHH").unpack_from
    fixed = struct.Struct("<QIIQQ").unpack_from
    u64 = struct.Struct("<Q").unpack_from
    chain = sample_type & C.PERF_SAMPLE_CALLCHAIN
    out = []
    off, end = 0, len(data)
    while off + 8 <= end:
        rtype, misc, size = hdr(data, off)
        if size < 8 or off + size > end:
            raise ValueError("corrupt record")
        if rtype == C.PERF_RECORD_SAMPLE:
            ip, pid, tid, t, period = fixed(data, off + 8)
            callchain: tuple[int, ...] | None = None
            if chain:
                (nr,) = u64(data, off + 40)
                callchain = struct.unpack_from(f"<{nr}Q", data, off + 48)
            out.append((rtype, misc, ip, pid, tid, t, period, callchain))
        off += size
    return out


def fill(ring: perfsys.RingBuffer, sample_type: int) -> tuple[bytes, int]:
    page = ring.page_size
    rec = make_record(sample_type, 0)
    n = ring.data_size // len(rec)
    blob = b"".join(make_record(sample_type, i) for i in range(n))
    with memoryview(ring) as mv:
        mv[page : page + len(blob)] = blob
        mv[HEAD : HEAD + 8] = struct.pack("<Q", len(blob))
    return blob, n


def best_rate(run: Callable[[], int], repeat: int) -> float:
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        n = run()
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, nargs="+", default=[16, 256])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    print(f"{'pages':>5} {'layout':<20} {'path':<34} {'M records/s':>11} {'vs Python':>9}")
    layouts = (("IP|TID|TIME|PERIOD", BASE), ("+ CALLCHAIN[16]", BASE | C.PERF_SAMPLE_CALLCHAIN))
    for pages, (label, st) in ((p, lay) for p in args.pages for lay in layouts):
        decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=st))
        with perfsys.RingBuffer._testing(pages) as ring:
            blob, n = fill(ring, st)

            def rewind(ring: perfsys.RingBuffer = ring) -> None:
                ring.data_tail = 0

            def decoded(
                ring: perfsys.RingBuffer = ring, decoder: perfsys.Decoder = decoder, n: int = n
            ) -> int:
                rewind()
                got = ring.read(decoder=decoder)
                assert len(got) == n
                return len(got)

            def raw(ring: perfsys.RingBuffer = ring) -> int:
                rewind()
                return len(ring.read())

            def python(blob: bytes = blob, st: int = st) -> int:
                return len(python_drain(blob, st))

            def decode_all(blob: bytes = blob, decoder: perfsys.Decoder = decoder) -> int:
                return len(decoder.decode_all(blob))

            rates = {
                "RingBuffer.read(decoder=Decoder)": best_rate(decoded, args.repeat),
                "Decoder.decode_all(bytes), no ring": best_rate(decode_all, args.repeat),
                "RingBuffer.read() -> RawRecord": best_rate(raw, args.repeat),
                "pure Python struct.unpack_from": best_rate(python, args.repeat),
            }
        py = rates["pure Python struct.unpack_from"]
        for path, rate in rates.items():
            print(f"{pages:>5} {label:<20} {path:<34} {rate / 1e6:11.2f} {rate / py:8.1f}x")


if __name__ == "__main__":
    main()
