"""Self-monitoring reads through the event's header page (SelfCounter)."""

from __future__ import annotations

import errno
import mmap
import os
import struct

import pytest
from support import HARDWARE, PAGE, opened, spin

import perfsys
from perfsys import constants as C

TE_TR = C.PERF_FORMAT_TOTAL_TIME_ENABLED | C.PERF_FORMAT_TOTAL_TIME_RUNNING
CAPS = perfsys.perf_event_mmap_page.capabilities.offset
INDEX = perfsys.perf_event_mmap_page.index.offset
RDPMC_BIT = perfsys._perfsys._abi_bits["perf_event_mmap_page.cap_user_rdpmc"]


def _page_says_rdpmc(fd: int) -> bool:
    """What the header page says, read through a mapping of our own."""
    with mmap.mmap(fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ) as m:
        caps, index = struct.unpack_from("=Q", m, CAPS)[0], struct.unpack_from("=I", m, INDEX)[0]
    return bool(caps >> RDPMC_BIT & 1) and index != 0


def test_software_counter_takes_the_read_path_and_says_so() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK,
                                        read_format=TE_TR)) as fd, \
            perfsys.SelfCounter(fd, TE_TR) as counter:
        before = perfsys.read(fd, TE_TR).value
        value, enabled, running, path = counter.read()
        after = perfsys.read(fd, TE_TR).value
        assert before <= value <= after
        assert enabled is not None and running is not None and enabled >= running > 0
        # a software event is on no hardware counter: index is 0, no rdpmc
        assert counter.index == 0
        assert not _page_says_rdpmc(fd)
        assert path == "read"
        spin(0.002)
        assert counter.read()[0] > value


def test_times_are_none_without_them_in_read_format() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_PAGE_FAULTS)) as fd, \
            perfsys.SelfCounter(fd) as counter:
        before = perfsys.read_value(fd)
        value, enabled, running, path = counter.read()
        assert (enabled, running, path) == (None, None, "read")
        assert before <= value <= perfsys.read_value(fd)  # page faults go on meanwhile


@pytest.mark.hardware
@pytest.mark.parametrize("event", list(HARDWARE))
def test_hardware_counter_path_matches_the_page(event: str) -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_HARDWARE, config=HARDWARE[event],
                                exclude_kernel=1, exclude_hv=1)
    try:
        fd = perfsys.perf_event_open(a, 0, -1)
    except FileNotFoundError:
        pytest.skip(f"no hardware PMU counts {event} here (ENOENT)")
    try:
        with perfsys.SelfCounter(fd) as counter:
            value, _, _, path = counter.read()
            rdpmc = perfsys._perfsys.HAVE_RDPMC and _page_says_rdpmc(fd)
            assert path == ("rdpmc" if rdpmc else "read")
            spin(0.002)
            assert counter.read()[0] > value > 0
    finally:
        os.close(fd)


def test_close_and_context_manager() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        counter = perfsys.SelfCounter(fd)
        assert not counter.closed and counter.fileno() == fd
        with counter:
            pass
        assert counter.closed
        counter.close()  # twice is fine
        for call in (counter.read, counter.fileno, counter.__enter__):
            with pytest.raises(ValueError, match="closed SelfCounter"):
                call()
        assert perfsys.read_value(fd) == 0  # the fd is still the caller's, and open


def test_bad_arguments() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        with pytest.raises(ValueError, match="PERF_FORMAT_GROUP"):
            perfsys.SelfCounter(fd, C.PERF_FORMAT_GROUP)
        with pytest.raises(ValueError, match="no PERF_FORMAT"):
            perfsys.SelfCounter(fd, 1 << 20)
        with perfsys.SelfCounter(fd, C.PERF_FORMAT_ID) as counter, \
                pytest.raises(ValueError, match="returned 8 bytes"):
            counter.read()
    with pytest.raises(ValueError):
        perfsys.SelfCounter(-1)
    with pytest.raises(TypeError):
        perfsys.SelfCounter("3")  # type: ignore[arg-type]
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match="not a perf event"):
            perfsys.SelfCounter(r)
    finally:
        os.close(r)
        os.close(w)


def test_an_fd_with_a_ring_of_another_size() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        ring = perfsys.RingBuffer(fd, 2)
        try:
            with pytest.raises(OSError) as e:
                perfsys.SelfCounter(fd)
            assert e.value.errno == errno.EINVAL and "ring buffer" in str(e.value)
        finally:
            ring.close()


SELF_AUDIT_SCRIPT = """
import sys, perfsys
seen = []
sys.addaudithook(lambda event, args: seen.append(args) if event == "perfsys.SelfCounter" else None)
fd = perfsys.perf_event_open(perfsys.perf_event_attr(type=1, config=1), 0, -1)
with perfsys.SelfCounter(fd, 3):
    pass
print(seen == [(fd, 3)], seen)
"""


def test_audit_event() -> None:
    import subprocess
    import sys
    from pathlib import Path

    src = str(Path(perfsys.__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", SELF_AUDIT_SCRIPT],
                         env={**os.environ, "PYTHONPATH": src},
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("True"), out
