"""Threads and signal handlers acting on the objects another thread is using."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from support import ip_sample_ring, opened

import perfsys
from perfsys import constants as C


@pytest.fixture
def ring() -> Iterator[perfsys.RingBuffer]:
    """The ring of an event that stays disabled: it never has data, so wait() blocks."""
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_CPU_CLOCK,
                                sample_period=100_000, sample_type=C.PERF_SAMPLE_IP, disabled=1)
    with opened(a) as fd, perfsys.RingBuffer(fd, 1) as r:
        yield r


def test_wait_ends_with_closed_when_another_thread_closes_the_ring(
        ring: perfsys.RingBuffer) -> None:
    got: list[object] = []

    def waiter() -> None:
        try:
            got.append(ring.wait(None))
        except ValueError as e:
            got.append(e)

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    time.sleep(0.2)   # let it reach poll(); if it has not, it sees the ring closed anyway
    ring.close()
    t.join(10)
    assert not t.is_alive(), "wait() still blocks after close()"
    assert len(got) == 1 and isinstance(got[0], ValueError) and "closed" in str(got[0])


def test_wait_never_answers_for_a_file_that_took_the_rings_number(
        ring: perfsys.RingBuffer) -> None:
    # Once close() gave the number back, a new file may get it; the waiter must not
    # report that file's readiness.
    got: list[object] = []
    number = ring.fileno()

    def waiter() -> None:
        try:
            got.append(ring.wait(5))
        except ValueError as e:
            got.append(e)

    t = threading.Thread(target=waiter, daemon=True)
    t.start()
    time.sleep(0.2)
    ring.close()
    r, w = os.pipe()
    os.write(w, b"x")   # readable, and maybe at the ring's old number
    try:
        t.join(10)
        assert not t.is_alive()
        assert len(got) == 1 and isinstance(got[0], ValueError), (number, r, got)
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.thread_unsafe(reason="installs a process-wide signal handler")
def test_a_signal_handler_that_closes_the_ring_ends_the_wait(ring: perfsys.RingBuffer) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")

    def handler(signum: int, frame: object) -> None:
        ring.close()

    old = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(ValueError, match="closed"):
            ring.wait(10)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert ring.closed


def test_many_waiters_all_end_on_close(ring: perfsys.RingBuffer) -> None:
    got: list[object] = []
    lock = threading.Lock()

    def waiter() -> None:
        try:
            r: object = ring.wait(None)
        except ValueError as e:
            r = e
        with lock:
            got.append(r)

    threads = [threading.Thread(target=waiter, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    ring.close()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(got) == 4 and all(isinstance(g, ValueError) for g in got)


# -- a discard() or data_tail store that lands inside a read() -----------------------

REC = 16   # a SAMPLE record of PERF_SAMPLE_IP alone: header + ip


def _check_each_record_once(ring: perfsys.RingBuffer, got: list[int], dropped: int,
                            n: int) -> None:
    assert len(got) == len(set(got)), "a record was handed out twice"
    assert dropped % REC == 0 and len(got) + dropped // REC == n, (len(got), dropped)
    assert ring.data_tail == ring.data_head == n * REC


def _drain(ring: perfsys.RingBuffer, decoder: perfsys.Decoder, got: list[int]) -> None:
    while True:
        recs = ring.read(3, decoder)
        if not recs and ring.available == 0:
            return
        got.extend(r.ip for r in recs)


@pytest.mark.thread_unsafe(reason="sets the collector's threshold, which is process-wide")
def test_a_discard_run_by_a_finalizer_inside_read_hands_no_record_out_twice() -> None:
    # With a GIL, the collector runs finalizers inside read() when a record it makes
    # triggers a collection (up to 3.11, at the allocation itself): each threshold below
    # lets the collection, and a finalizer that discards, land at another allocation.
    n = 30
    old = gc.get_threshold()
    try:
        for threshold in range(1, 12):
            ring = ip_sample_ring(n)
            decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP))
            outcomes: list[object] = []

            class Discarder:
                def __init__(self) -> None:
                    self.me = self

                def __del__(self) -> None:
                    try:
                        outcomes.append(ring.discard())   # noqa: B023 - this round's ring
                    except RuntimeError as e:
                        outcomes.append(e)   # noqa: B023

            got: list[int] = []
            gc.disable()
            gc.collect()
            Discarder()
            gc.set_threshold(threshold)
            gc.enable()
            _drain(ring, decoder, got)
            gc.set_threshold(*old)
            gc.collect()
            dropped = sum(o for o in outcomes if isinstance(o, int))
            _check_each_record_once(ring, got, dropped, n)
            ring.close()
    finally:
        gc.set_threshold(*old)
        gc.enable()


def _race_round(n: int) -> None:
    ring = ip_sample_ring(n)
    decoder = perfsys.Decoder(perfsys.perf_event_attr(sample_type=C.PERF_SAMPLE_IP))
    busy = struct.pack("=IHHQ", C.PERF_RECORD_SAMPLE, 0, REC, 0) * 20_000
    stop = threading.Event()
    dropped = [0]
    got: list[int] = []

    def hold_decoder() -> None:
        while not stop.is_set():
            decoder.decode_all(busy)

    def discard() -> None:
        while not stop.is_set():
            with contextlib.suppress(RuntimeError):
                dropped[0] += ring.discard()

    others = [threading.Thread(target=hold_decoder), threading.Thread(target=discard)]
    for t in others:
        t.start()
    try:
        _drain(ring, decoder, got)
    finally:
        stop.set()
        for t in others:
            t.join()
    _check_each_record_once(ring, got, dropped[0], n)
    ring.close()


def test_discards_from_other_threads_hand_no_record_out_twice() -> None:
    # Free-threaded: read(decoder=d) waits while another thread holds d (decode_all on
    # it), and a discard() from a third thread must not land then.
    for _ in range(20):
        _race_round(200)
