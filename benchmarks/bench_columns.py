"""Samples into columns against samples into records, side by side in one run.

The rings are bench_decode's (a RingBuffer over a memfd, filled once with SAMPLE records
laid out as the kernel writes them; each lap hands them all out again). Rates are samples
per second, best of 5, each figure in a fresh interpreter.

Table 0, real cpu-clock samples of this thread (IP|TID|TIME|PERIOD; one event, enabled with
a 10 us period until its 256 KiB ring is full, then disabled, the ring drained and every
field read; five times, the best):
columns, records+read (below), and the kernel's own binding (evlist.read_on_cpu), where
it is importable (--kernel-binding DIR adds a directory holding its perf*.so).

Table 1, decode and read every field (ip, pid, tid, time, period, and the callchain):
  columns        ring.read_columns(decoder=...): every field is then in a column
  columns+numpy  the same, then every column summed by numpy (where numpy is installed)
  records+read   ring.read(decoder=...), then every field of every SampleRecord read in a
                 Python loop
  kernel perf    the kernel's own binding (tools/perf/python), where it is importable

Table 2, callchain aggregation (16 frames; the chains drawn from 64 distinct stacks, weighted
1/k as a profile's hot paths are), samples counted per distinct callchain:
  count_callchains   read_columns() + perfsys.count_callchains()
  Counter(records)   read() + collections.Counter(r.callchain for r in records)

Table 3, a large backlog (a 4 MiB ring, about 100,000 short samples) drained at once
against 4,096 records per read().

Run: python3 benchmarks/bench_columns.py [--seconds S]
"""

from __future__ import annotations

import argparse
import random
import struct
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_decode import CHAIN, CHAIN_DEPTH, SIMPLE, Lap, bench, read_every_field

import perfsys
from perfsys import constants as C

POOL = 64  # distinct callchains in the aggregation rings


class PoolLap(Lap):
    """A Lap whose samples' callchains come from POOL distinct 16-frame stacks, drawn with
    weights 1/k as a profile's hot paths are, instead of every chain being new."""

    def __init__(self, sample_type: int, data_pages: int) -> None:
        rng = random.Random(1)
        frames = [0x7F0000000000 + 64 * k for k in range(4 * POOL)]
        stacks = [[C.PERF_CONTEXT_USER, *rng.sample(frames, CHAIN_DEPTH - 1)] for _ in range(POOL)]
        weights = [1 / (k + 1) for k in range(POOL)]
        self.ring = perfsys.RingBuffer._testing(data_pages)
        self.page = self.ring.page_size
        self.size = self.ring.data_size
        out = []
        used = 0
        while True:
            ips = rng.choices(stacks, weights)[0]
            body = struct.pack("=QiiQQ", ips[1], 1000, 1001, 10**12 + len(out), 100_000)
            body += struct.pack(f"={len(ips) + 1}Q", len(ips), *ips)
            rec = bytes(perfsys.perf_event_header(type=C.PERF_RECORD_SAMPLE, misc=2,
                                                  size=8 + len(body))) + body
            if used + len(rec) > self.size:
                break
            out.append(rec)
            used += len(rec)
        self.n = len(out)
        self.used = used
        view = memoryview(self.ring)
        view[self.page : self.page + used] = b"".join(out)
        view.release()
        self.header = perfsys.perf_event_mmap_page.from_buffer(self.ring)
        self.pos = 0


def measure(sample_type: int, pages: int, column: str, seconds: float) -> float:
    if pages == 0:
        return measure_real(column)
    lap = (PoolLap if column in AGGREGATION else Lap)(sample_type, pages)
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=sample_type))
    chain = bool(sample_type & perfsys.constants.PERF_SAMPLE_CALLCHAIN)
    ring = lap.ring

    def columns() -> int:
        lap.lap()
        cols = ring.read_columns(decoder=decoder)
        return int(cols.samples)

    def columns_numpy() -> int:
        import numpy as np

        lap.lap()
        cols = ring.read_columns(decoder=decoder)
        names = ["ip", "pid", "tid", "time", "period"] + (["callchain"] if chain else [])
        for name in names:
            np.asarray(getattr(cols, name)).sum()
        return int(cols.samples)

    def records_read() -> int:
        lap.lap()
        return read_every_field(ring.read(decoder=decoder), chain)

    def count_columns() -> int:
        lap.lap()
        cols = ring.read_columns(decoder=decoder)
        perfsys.count_callchains(cols.callchain_offsets, cols.callchain)
        return int(cols.samples)

    def count_records() -> int:
        lap.lap()
        recs = ring.read(decoder=decoder)
        Counter(r.callchain for r in recs)
        return len(recs)

    def read_all() -> int:
        lap.lap()
        return len(ring.read(decoder=decoder))

    def read_chunks() -> int:
        lap.lap()
        n = 0
        while True:
            got = len(ring.read(4096, decoder))
            if not got:
                return n
            n += got

    fns = {"columns": columns, "columns+numpy": columns_numpy, "records+read": records_read,
           "count_callchains": count_columns, "Counter(records)": count_records,
           "read() all": read_all, "read(4096) chunks": read_chunks}
    rate = bench(fns[column], seconds)
    del lap.header
    ring.close()
    return rate


AGGREGATION = ("count_callchains", "Counter(records)")


KERNEL_BINDING: list[str] = []  # --kernel-binding DIR: where the kernel's perf*.so is


def measure_real(column: str, rounds: int = 5) -> float:
    """Real cpu-clock samples (IP|TID|TIME|PERIOD) of this thread: one event and its
    256 KiB ring, enabled with a 10 us period until the ring is full, disabled, and the
    ring drained with every field read (what a drain left behind dropped before the next);
    best of `rounds` fills."""
    import os
    import threading

    sys.path[:0] = KERNEL_BINDING
    best = 0.0
    if column == "kernel perf":
        import perf  # the kernel's binding

        cpus = perf.cpu_map()
        threads = perf.thread_map(-1, threading.get_native_id())
        evsel = perf.evsel(type=perf.TYPE_SOFTWARE, config=perf.COUNT_SW_CPU_CLOCK,
                           sample_period=10_000, sample_type=SIMPLE, wakeup_events=1 << 20,
                           exclude_kernel=1, freq=0, disabled=1)
        evsel.open(cpus=cpus, threads=threads)
        evlist = perf.evlist(cpus, threads)
        evlist.add(evsel)
        evlist.mmap(pages=64)
        fds = [f.fileno() for f in evlist.get_pollfd()]
        kernel_sample = perf.sample_event
        for _ in range(rounds):
            for fd in fds:
                perfsys.ioctls.ENABLE(fd)
            spin(0.3)
            for fd in fds:
                perfsys.ioctls.DISABLE(fd)
            t0 = time.perf_counter()
            n = 0
            for cpu in cpus:
                while (ev := evlist.read_on_cpu(cpu)) is not None:
                    if type(ev) is kernel_sample:  # a full ring also holds LOST records
                        ev.sample_ip, ev.sample_pid, ev.sample_tid, ev.sample_time, ev.sample_period  # noqa: B018
                        n += 1
            best = max(best, n / (time.perf_counter() - t0))
        return best
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_CPU_CLOCK,
                                   sample_period=10_000, sample_type=SIMPLE, exclude_kernel=1,
                                   wakeup_events=1 << 20, disabled=1)
    decoder = perfsys.Decoder(attr)
    Sample = perfsys.SampleRecord
    fd = perfsys.perf_event_open(attr, 0, -1, -1, C.PERF_FLAG_FD_CLOEXEC)
    with perfsys.RingBuffer(fd, 64) as ring:
        for _ in range(rounds):
            perfsys.ioctls.ENABLE(fd)
            spin(0.3)
            perfsys.ioctls.DISABLE(fd)
            t0 = time.perf_counter()
            if column == "columns":
                cols = ring.read_columns(decoder=decoder)
                cols.ip, cols.pid, cols.tid, cols.time, cols.period  # noqa: B018
                n = cols.samples
                del cols
            else:
                recs = ring.read(decoder=decoder)
                n = 0
                for r in recs:
                    if type(r) is Sample:  # a full ring also holds LOST records
                        r.ip, r.pid, r.tid, r.time, r.period  # noqa: B018
                        n += 1
                del recs
            best = max(best, n / (time.perf_counter() - t0))
    os.close(fd)
    return best


def spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def fresh(sample_type: int, pages: int, column: str, seconds: float) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--one", str(sample_type), str(pages), column,
         "--seconds", str(seconds), *(f"--kernel-binding={d}" for d in KERNEL_BINDING)],
        check=True, capture_output=True, text=True).stdout
    return float(out)


def importable(name: str) -> bool:
    code = f"import sys; sys.path[:0] = {KERNEL_BINDING!r}; import {name}"
    return subprocess.run([sys.executable, "-c", code], capture_output=True,
                          check=False).returncode == 0


def table(title: str, rows: list[tuple[str, int, int]], columns: list[str],
          seconds: float) -> None:
    print(f"\n{title}")
    print(f"{'sample_type':<24} {'ring':>8} {'records':>8} " +
          " ".join(f"{c:>18}" for c in columns) + f" {'ratio':>8}")
    for name, st, pages in rows:
        n = 0
        if pages:
            lap = (PoolLap if columns[0] in AGGREGATION else Lap)(st, pages)
            n = lap.n
            del lap.header
            lap.ring.close()
        r = [fresh(st, pages, c, seconds) for c in columns]
        print(f"{name:<24} {(pages or 64) * 4:>6}KiB {n or '-':>8} " +
              " ".join(f"{x / 1e6:>14.2f} M/s" for x in r) + f" {r[0] / r[-1]:>7.1f}x",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--kernel-binding", metavar="DIR", action="append", default=[],
                    help="a directory holding the kernel's perf binding (perf*.so)")
    args = ap.parse_args()
    KERNEL_BINDING[:] = args.kernel_binding
    if args.one:
        print(measure(int(args.one[0]), int(args.one[1]), args.one[2], args.seconds))
        return
    rows = [("IP|TID|TIME|PERIOD", SIMPLE, 8), ("IP|TID|TIME|PERIOD", SIMPLE, 64),
            ("+CALLCHAIN (16 frames)", CHAIN, 8), ("+CALLCHAIN (16 frames)", CHAIN, 64)]
    first = ["columns"]
    if importable("numpy"):
        first.append("columns+numpy")
    else:
        print("columns+numpy: skipped, numpy is not installed")
    real = ["columns", "records+read"]
    if importable("perf"):
        real.append("kernel perf")
    else:
        print("kernel perf binding: skipped, `import perf` fails here (build it from the "
              "kernel's tools/perf with flex, bison, libelf-dev and libtraceevent-dev, and "
              "pass --kernel-binding DIR; see the README)")
    table("real cpu-clock samples, 256 KiB ring, every field read (ratio: columns / last)",
          [("IP|TID|TIME|PERIOD", SIMPLE, 0)], real, args.seconds)
    table("decode + read every field (ratio: columns / records+read)", rows,
          [*first, "records+read"], args.seconds)
    table(f"callchain aggregation, {POOL} distinct chains (ratio: count_callchains / Counter)",
          rows[2:],
          ["count_callchains", "Counter(records)"], args.seconds)
    table("a large backlog (ratio: all at once / chunks)", [("IP|TID|TIME|PERIOD", SIMPLE, 1024)],
          ["read() all", "read(4096) chunks"], args.seconds)
    table("the same backlog into columns (ratio: columns / read() all)",
          [("IP|TID|TIME|PERIOD", SIMPLE, 1024)], ["columns", "read() all"], args.seconds)


if __name__ == "__main__":
    main()
