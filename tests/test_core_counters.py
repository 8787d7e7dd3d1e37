"""Counting: software and hardware counters of this thread, read back."""

from __future__ import annotations

import errno
import os
import time

import pytest
from support import HARDWARE, TE, TR, opened, spin, touch_pages

import perfsys
from perfsys import constants as C

# -- software counters ---------------------------------------------------------


def test_task_clock_grows_with_work() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK,
                                        read_format=TE | TR)) as fd:
        first = perfsys.read(fd, TE | TR)
        spin()
        second = perfsys.read(fd, TE | TR)
        assert isinstance(first, perfsys.CounterValue)
        assert isinstance(second, perfsys.CounterValue)
        assert second.value > first.value > 0
        # task-clock counts ns on a CPU, so it cannot exceed the ns it was enabled
        # (the two clocks are read a few instructions apart: allow 1 ms)
        assert second.value <= second.time_enabled + 1_000_000
        assert second.time_running == second.time_enabled  # software: never multiplexed
        assert (second.id, second.lost) == (None, None)


def test_read_value_matches_read() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK, disabled=1)) as fd:
        assert perfsys.read_value(fd) == 0
        assert perfsys.read(fd) == (0, None, None, None, None)


@pytest.mark.parametrize("pages", [64, 300])
def test_page_faults_count_the_pages_touched(pages: int) -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_PAGE_FAULTS, disabled=1)) as fd:
        touch_pages(1)  # warm the code path outside the counted window
        perfsys.ioctls.ENABLE(fd)
        touch_pages(pages)
        perfsys.ioctls.DISABLE(fd)
        count = perfsys.read_value(fd)
    assert pages <= count <= pages + 32


def test_context_switches_count_sleeps() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_CONTEXT_SWITCHES)) as fd:
        for _ in range(10):
            time.sleep(0.001)
        count = perfsys.read_value(fd)
    assert count >= 10


@pytest.mark.hardware
@pytest.mark.parametrize("event", list(HARDWARE))
def test_hardware_counts_or_enoent(event: str) -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_HARDWARE, config=HARDWARE[event],
                                exclude_kernel=1)
    try:
        fd = perfsys.perf_event_open(a, 0, -1)
    except FileNotFoundError as e:
        assert e.errno == errno.ENOENT
        assert "no hardware PMU" in str(e)
        pytest.skip(f"no hardware PMU counts {event} here (ENOENT)")
    try:
        spin()
        assert perfsys.read_value(fd) > 0
    finally:
        os.close(fd)
