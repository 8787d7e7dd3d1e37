"""Threads and signal handlers acting on the objects another thread is using."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
from support import opened

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
