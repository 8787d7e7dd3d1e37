"""Threads sharing rings, decoders and SelfCounters while others read, discard and close
them. Whatever the interleaving, nothing crashes, each record is handed out at most once,
and every error is one the API documents for the situation: ValueError once an object is
closed, RuntimeError for discard() or close() while a read() runs.

The rounds are few by default; ``PERFSYS_STRESS_ROUNDS`` sets more (the free-threaded CI
stage does). On a free-threaded build the threads really run at once."""

from __future__ import annotations

import os
import struct
import threading
import time
from collections.abc import Callable

from support import ip_sample_ring, opened

import perfsys
from perfsys import constants as C

ROUNDS = int(os.environ.get("PERFSYS_STRESS_ROUNDS", "3"))
THREADS = 4
REC = 16   # SAMPLE with PERF_SAMPLE_IP: header + ip
ALLOWED = (ValueError, RuntimeError, BufferError)


def _run(workers: list[Callable[[], None]]) -> list[BaseException]:
    """Start every worker at once; the unexpected exceptions they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def wrap(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            start.wait()
            try:
                work()
            except ALLOWED:
                pass
            except BaseException as e:
                errors.append(e)
        return run

    threads = [threading.Thread(target=wrap(w)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def _ring_round(decoder: perfsys.Decoder, busy: bytes) -> None:
    n = 500
    ring = ip_sample_ring(n, 2)
    seen: list[list[int]] = [[] for _ in range(THREADS)]

    def reader(k: int) -> Callable[[], None]:
        def work() -> None:
            while True:
                recs = ring.read(7, decoder if k % 2 else None)
                seen[k].extend(r.ip if k % 2 else struct.unpack("=Q", r.data)[0] for r in recs)
                if not recs and ring.available == 0:
                    return
        return work

    def decoder_user() -> None:
        for _ in range(50):
            decoder.decode_all(busy)

    def discarder() -> None:
        for _ in range(200):
            ring.discard()
            _ = ring.available, ring.data_head, ring.data_tail, ring.closed

    def closer() -> None:
        for _ in range(200):
            with memoryview(ring) as mv:
                _ = mv[1024]
        ring.close()

    workers = [reader(k) for k in range(THREADS)] + [decoder_user, discarder, closer]
    assert _run(workers) == []
    got = [ip for s in seen for ip in s]
    assert len(got) == len(set(got)), "a record was handed out twice"
    assert all(0 <= ip < n for ip in got)
    ring.close()
    assert ring.closed


def test_readers_discarders_and_a_closer_share_a_ring_and_a_decoder() -> None:
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP))
    busy = struct.pack("=IHHQ", C.PERF_RECORD_SAMPLE, 0, REC, 0) * 2000
    for _ in range(ROUNDS):
        _ring_round(decoder, busy)


def _wait_round(fd: int) -> None:
    ring = perfsys.RingBuffer(fd, 1)

    def waiter() -> None:
        while True:
            ring.wait(0.01)

    def closer() -> None:
        threading.Event().wait(0.05)
        ring.close()

    assert _run([waiter, waiter, waiter, closer]) == []
    assert ring.closed


def test_waiters_and_a_closer_share_a_real_ring() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_CPU_CLOCK,
                                sample_period=100_000, sample_type=C.PERF_SAMPLE_IP, disabled=1)
    with opened(a) as fd:
        for _ in range(ROUNDS):
            _wait_round(fd)


def _self_round(fd: int) -> None:
    counter = perfsys.SelfCounter(fd)
    values: list[int] = []

    def reader() -> None:
        while True:
            values.append(counter.read()[0])
            _ = counter.index, counter.capabilities, counter.fileno()

    def checker() -> None:
        while not counter.closed:
            assert counter.__enter__() is counter   # (its __exit__ would close it)

    def closer() -> None:
        end = time.monotonic() + 30
        while len(values) < 100 and time.monotonic() < end:   # the readers read a little
            perfsys.read_value(fd)
        counter.close()

    assert _run([reader, reader, checker, closer]) == []
    assert counter.closed and values and all(v >= 0 for v in values)


def test_self_counters_read_while_others_close_them() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK)
    with opened(a) as fd:
        for _ in range(ROUNDS):
            _self_round(fd)


def test_counter_reads_from_many_threads() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK)
    with opened(a) as fd:
        buf = [bytearray(8) for _ in range(THREADS)]

        def reader(k: int) -> Callable[[], None]:
            def work() -> None:
                for _ in range(2000 * ROUNDS):
                    perfsys.read_value(fd)
                    perfsys.read(fd)
                    perfsys.read_into(fd, buf[k])
            return work

        assert _run([reader(k) for k in range(THREADS)]) == []
