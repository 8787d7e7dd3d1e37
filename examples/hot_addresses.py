"""Sample this Python process on cpu-clock and print its hottest instruction addresses,
each with the mapped file it falls in (from /proc/self/maps) and its offset there.

    python3 examples/hot_addresses.py [seconds]
"""

from __future__ import annotations

import bisect
import os
import sys
import time
from collections import Counter
from pathlib import Path

import perfsys
from perfsys import constants as C
from perfsys import ioctls

PERIOD_NS = 100_000  # one sample per 100 us of CPU time


def workload(seconds: float) -> int:
    """Something for the profiler to find: a bit of arithmetic, a bit of string work."""
    end = time.monotonic() + seconds
    total = 0
    while time.monotonic() < end:
        total += sum(i * i for i in range(500))
        total += len(",".join(str(i) for i in range(100)))
    return total


def load_maps() -> tuple[list[int], list[tuple[int, int, int, str]]]:
    """Executable mappings of this process: (start, end, file offset, path), sorted."""
    rows = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        parts = line.split(maxsplit=5)
        lo, hi = (int(x, 16) for x in parts[0].split("-"))
        if "x" in parts[1]:
            rows.append((lo, hi, int(parts[2], 16), parts[5] if len(parts) > 5 else "[anon]"))
    rows.sort()
    return [r[0] for r in rows], rows


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    attr = perfsys.perf_event_attr()
    attr.type = C.PERF_TYPE_SOFTWARE
    attr.config = C.PERF_COUNT_SW_CPU_CLOCK
    attr.sample_period = PERIOD_NS
    attr.sample_type = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID
    attr.disabled = 1
    attr.exclude_kernel = 1  # user-space addresses only
    attr.wakeup_events = 64
    fd = perfsys.perf_event_open(attr, 0, -1, -1, C.PERF_FLAG_FD_CLOEXEC)
    decoder = perfsys.Decoder(attr)
    hits: Counter[int] = Counter()
    with perfsys.RingBuffer(fd, 64) as ring:
        ioctls.ENABLE(fd)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            workload(0.05)
            for rec in ring.read(decoder=decoder):
                if rec.type == C.PERF_RECORD_SAMPLE:
                    hits[rec.ip] += 1
        ioctls.DISABLE(fd)
        for rec in ring.read(decoder=decoder):
            if rec.type == C.PERF_RECORD_SAMPLE:
                hits[rec.ip] += 1
        lost = ring.lost
    os.close(fd)

    starts, rows = load_maps()
    total = sum(hits.values())
    print(f"{total} samples ({lost} lost), {len(hits)} distinct addresses; hottest:")
    print(f"{'address':>18}  {'samples':>7}  {'share':>6}  file+offset")
    for ip, n in hits.most_common(15):
        i = bisect.bisect_right(starts, ip) - 1
        if i >= 0 and ip < rows[i][1]:
            lo, _hi, off, path = rows[i]
            where = f"{path}+{ip - lo + off:#x}"
        else:
            where = "(not in an executable mapping)"
        print(f"{ip:#18x}  {n:7d}  {100 * n / total:5.1f}%  {where}")


if __name__ == "__main__":
    main()
