"""Each of the twelve ioctls, observed to take effect in the kernel."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import time

import pytest
from support import opened, spin, touch_pages

import perfsys
from perfsys import constants as C
from perfsys import ioctls

GROUP_FLAG = ioctls.PERF_IOC_FLAG_GROUP


def test_request_numbers_are_the_compilers() -> None:
    # _IOC(dir, '$', nr, size): dir in the top bits, then size, type, nr
    assert C.PERF_EVENT_IOC_ENABLE == perfsys._perfsys.PERF_EVENT_IOC_ENABLE
    nrs = [C.PERF_EVENT_IOC_ENABLE, C.PERF_EVENT_IOC_DISABLE, C.PERF_EVENT_IOC_REFRESH,
           C.PERF_EVENT_IOC_RESET, C.PERF_EVENT_IOC_PERIOD, C.PERF_EVENT_IOC_SET_OUTPUT,
           C.PERF_EVENT_IOC_SET_FILTER, C.PERF_EVENT_IOC_ID, C.PERF_EVENT_IOC_SET_BPF,
           C.PERF_EVENT_IOC_PAUSE_OUTPUT, C.PERF_EVENT_IOC_QUERY_BPF,
           C.PERF_EVENT_IOC_MODIFY_ATTRIBUTES]
    assert [(n >> 8) & 0xFF for n in nrs] == [ord("$")] * 12
    assert [n & 0xFF for n in nrs] == list(range(12))
    if os.uname().machine in ("x86_64", "aarch64"):
        sizes = [(n >> 16) & 0x3FFF for n in nrs]
        ptr = ctypes.sizeof(ctypes.c_void_p)
        assert sizes == [0, 0, 0, 0, 8, 0, ptr, ptr, 4, 4, ptr, ptr]


def test_enable_disable() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK, disabled=1)) as fd:
        spin(0.002)
        assert perfsys.read_value(fd) == 0
        ioctls.ENABLE(fd)
        spin(0.002)
        ioctls.DISABLE(fd)
        stopped = perfsys.read_value(fd)
        assert stopped > 0
        spin(0.002)
        assert perfsys.read_value(fd) == stopped


def test_group_flag_enables_and_disables_the_whole_group() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_CONTEXT_SWITCHES,
                                        disabled=1)) as leader, \
            opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                           config=C.PERF_COUNT_SW_PAGE_FAULTS, disabled=1),
                   group_fd=leader) as member:
        ioctls.ENABLE(leader)  # the leader alone: the member stays off
        touch_pages(20)
        assert perfsys.read_value(member) == 0
        ioctls.ENABLE(leader, GROUP_FLAG)
        touch_pages(20)
        time.sleep(0.001)
        ioctls.DISABLE(leader, GROUP_FLAG)
        faults = perfsys.read_value(member)
        switches = perfsys.read_value(leader)
        assert faults >= 20 and switches >= 1
        touch_pages(20)
        time.sleep(0.001)
        assert (perfsys.read_value(member), perfsys.read_value(leader)) == (faults, switches)
        ioctls.RESET(leader, GROUP_FLAG)
        assert (perfsys.read_value(member), perfsys.read_value(leader)) == (0, 0)


def test_reset() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_PAGE_FAULTS)) as fd:
        touch_pages(30)
        assert perfsys.read_value(fd) >= 30
        ioctls.RESET(fd)
        assert perfsys.read_value(fd) < 30
        ioctls.DISABLE(fd)
        ioctls.RESET(fd, 0)
        assert perfsys.read_value(fd) == 0


@pytest.mark.parametrize("n", [1, 3, 7])
def test_refresh_stops_after_n_overflows(n: int) -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_PAGE_FAULTS, sample_period=1,
                                        disabled=1)) as fd:
        ioctls.REFRESH(fd, n)
        touch_pages(50)
        assert perfsys.read_value(fd) == n  # one fault per overflow, then disabled
        touch_pages(50)
        assert perfsys.read_value(fd) == n


def test_refresh_needs_a_sampling_event() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_PAGE_FAULTS, disabled=1)) as fd:
        with pytest.raises(OSError) as e:
            ioctls.REFRESH(fd, 1)
        assert e.value.errno == errno.EINVAL
        assert "PERF_EVENT_IOC_REFRESH" in str(e.value) and "sampling event" in str(e.value)


def test_period_changes_how_many_events_make_an_overflow() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_PAGE_FAULTS, sample_period=10,
                                        disabled=1)) as fd:
        ioctls.REFRESH(fd, 1)  # disable after one overflow = one period of faults
        touch_pages(100)
        assert perfsys.read_value(fd) == 10
        ioctls.PERIOD(fd, 40)
        ioctls.RESET(fd)
        ioctls.REFRESH(fd, 1)
        touch_pages(100)
        assert perfsys.read_value(fd) == 40
        with pytest.raises(OSError) as e:
            ioctls.PERIOD(fd, 0)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(OverflowError):
            ioctls.PERIOD(fd, 2**64)
        with pytest.raises(OverflowError):
            ioctls.PERIOD(fd, -1)


def test_id_is_the_read_format_id() -> None:
    rf = C.PERF_FORMAT_ID
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY,
                                        read_format=rf)) as a, \
            opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY,
                                           read_format=rf)) as b:
        ida, idb = ioctls.ID(a), ioctls.ID(b)
        assert ida != idb
        assert perfsys.read(a, rf).id == ida
        assert perfsys.read(b, rf).id == idb


def _samples_by_id(records: list[perfsys.RawRecord]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for type_, _misc, body in records:
        if type_ == C.PERF_RECORD_SAMPLE:
            (ident,) = struct.unpack_from("=Q", body)
            counts[ident] = counts.get(ident, 0) + 1
    return counts


def test_set_output_redirects_records_into_another_ring() -> None:
    sampling = {"sample_period": 1, "sample_type": C.PERF_SAMPLE_IDENTIFIER}
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY,
                                        **sampling)) as owner, \
            opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                           config=C.PERF_COUNT_SW_PAGE_FAULTS, disabled=1,
                                           **sampling)) as faults:
        ring = perfsys.RingBuffer(owner, 8)
        try:
            ioctls.SET_OUTPUT(faults, owner)
            ioctls.ENABLE(faults)
            touch_pages(40)
            counts = _samples_by_id(ring.read())
            assert counts.get(ioctls.ID(faults), 0) >= 40
            ioctls.SET_OUTPUT(faults, -1)  # stop: faults has no ring of its own now
            ring.read()  # what faulted while the last drain copied the ring
            touch_pages(40)
            assert _samples_by_id(ring.read()).get(ioctls.ID(faults), 0) == 0
        finally:
            ring.close()


def test_set_output_refuses_a_target_on_another_cpu() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY), pid=-1, cpu=0) as owner, \
            opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                           config=C.PERF_COUNT_SW_DUMMY)) as other:
        with pytest.raises(OSError) as e:
            ioctls.SET_OUTPUT(other, owner)
        assert e.value.errno == errno.EINVAL and "same cpu" in str(e.value)
        with pytest.raises(ValueError):
            ioctls.SET_OUTPUT(other, -2)


def test_pause_output_stops_records_and_counts_them_lost() -> None:
    rf = C.PERF_FORMAT_LOST
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_PAGE_FAULTS,
                                sample_period=1, read_format=rf, disabled=1,
                                sample_type=C.PERF_SAMPLE_IDENTIFIER)
    with opened(a) as fd:
        ring = perfsys.RingBuffer(fd, 8)
        try:
            ioctls.ENABLE(fd)
            touch_pages(30)
            assert len(ring.read()) >= 30
            ioctls.PAUSE_OUTPUT(fd, True)
            head = ring.data_head
            touch_pages(30)
            assert ring.data_head == head
            assert perfsys.read(fd, rf).lost >= 30
            ioctls.PAUSE_OUTPUT(fd, False)
            touch_pages(30)
            types = [r.type for r in ring.read()]
            assert types.count(C.PERF_RECORD_SAMPLE) >= 30
            assert C.PERF_RECORD_LOST in types
        finally:
            ring.close()


def test_pause_output_without_a_ring() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        with pytest.raises(OSError) as e:
            ioctls.PAUSE_OUTPUT(fd, True)
        assert e.value.errno == errno.EINVAL
        with pytest.raises(TypeError):
            ioctls.PAUSE_OUTPUT(fd, "yes")  # type: ignore[arg-type]


def _breakpoint(addr: int, **fields: int) -> perfsys.perf_event_attr:
    return perfsys.perf_event_attr(type=C.PERF_TYPE_BREAKPOINT, config=0,
                                   bp_type=C.HW_BREAKPOINT_W, bp_addr=addr,
                                   bp_len=C.HW_BREAKPOINT_LEN_8, exclude_kernel=1, exclude_hv=1,
                                   **fields)


def test_breakpoint_counts_writes_and_modify_attributes_moves_it() -> None:
    first, second = ctypes.c_uint64(0), ctypes.c_uint64(0)
    a = _breakpoint(ctypes.addressof(first))
    try:
        fd = perfsys.perf_event_open(a, 0, -1)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.ENODEV, errno.EOPNOTSUPP, errno.ENOSPC):
            raise
        pytest.skip(f"no hardware breakpoint available: {e}")
    try:
        for i in range(5):
            first.value = i
        assert perfsys.read_value(fd) == 5
        _ = first.value  # a read does not count
        second.value = 1
        assert perfsys.read_value(fd) == 5
        a.bp_addr = ctypes.addressof(second)
        ioctls.MODIFY_ATTRIBUTES(fd, a)
        first.value = 9
        for i in range(3):
            second.value = i
        assert perfsys.read_value(fd) == 8
        a.config = 1  # anything but bp_addr/bp_len/bp_type/disabled may not change
        with pytest.raises(OSError) as e:
            ioctls.MODIFY_ATTRIBUTES(fd, a)
        assert e.value.errno == errno.EINVAL
    finally:
        os.close(fd)


def test_modify_attributes_is_for_breakpoints_only() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY)
    with opened(a) as fd:
        with pytest.raises(OSError) as e:
            ioctls.MODIFY_ATTRIBUTES(fd, a)
        assert e.value.errno == errno.EOPNOTSUPP
        assert "only hardware breakpoints" in str(e.value)
        with pytest.raises(TypeError, match="read-only"):
            ioctls.MODIFY_ATTRIBUTES(fd, bytes(a))
        with pytest.raises(ValueError, match="fewer than PERF_ATTR_SIZE_VER0"):
            ioctls.MODIFY_ATTRIBUTES(fd, bytearray(8))


ALL = [
    (ioctls.ENABLE, ()), (ioctls.DISABLE, ()), (ioctls.RESET, ()), (ioctls.REFRESH, (1,)),
    (ioctls.PERIOD, (1,)), (ioctls.SET_OUTPUT, (-1,)), (ioctls.SET_FILTER, ("x",)),
    (ioctls.ID, ()), (ioctls.SET_BPF, (0,)), (ioctls.PAUSE_OUTPUT, (False,)),
    (ioctls.QUERY_BPF, ()), (ioctls.MODIFY_ATTRIBUTES, (perfsys.perf_event_attr(),)),
]


@pytest.mark.thread_unsafe(reason="needs the number of a descriptor it just closed to stay "
                                  "free, and another thread may take it")
@pytest.mark.parametrize(("func", "args"), ALL, ids=[f.__name__ for f, _ in ALL])
def test_bad_fds(func: object, args: tuple[object, ...]) -> None:
    name = func.__name__  # type: ignore[attr-defined]
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as closed:
        pass
    with pytest.raises(OSError) as e:
        func(closed, *args)  # type: ignore[operator]
    assert e.value.errno == errno.EBADF
    assert f"ioctl({closed}, PERF_EVENT_IOC_{name})" in str(e.value)
    with pytest.raises(ValueError, match="file descriptor"):
        func(-1, *args)  # type: ignore[operator]
    with pytest.raises(OverflowError):
        func(2**63, *args)  # type: ignore[operator]
    with pytest.raises(TypeError):
        func(1.5, *args)  # type: ignore[operator]
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as e:
            func(r, *args)  # type: ignore[operator]
        assert e.value.errno == errno.ENOTTY and "not a perf event" in str(e.value)
    finally:
        os.close(r)
        os.close(w)


def test_argument_checks() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        with pytest.raises(ValueError, match="flags=2 is out of range"):
            ioctls.ENABLE(fd, 2)
        with pytest.raises(TypeError):
            ioctls.ENABLE(fd, 0, 0)  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            ioctls.ENABLE()  # type: ignore[call-arg]
        with pytest.raises(OverflowError):
            ioctls.REFRESH(fd, 2**31)
        with pytest.raises(ValueError):
            ioctls.REFRESH(fd, -1)
        with pytest.raises(ValueError, match="NUL"):
            ioctls.SET_FILTER(fd, "a\0b")
        with pytest.raises(ValueError, match="NUL"):
            ioctls.SET_FILTER(fd, b"a\0b")
        with pytest.raises(TypeError, match="str or bytes"):
            ioctls.SET_FILTER(fd, 3)  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            ioctls.SET_BPF(fd, -1)
        with pytest.raises(ValueError):
            ioctls.QUERY_BPF(fd, -1)
        with pytest.raises(ValueError, match="room for 1 ids"):
            ioctls.QUERY_BPF(fd, bytearray(struct.pack("=II", 2, 0) + bytes(4)))
        with pytest.raises(TypeError):
            ioctls.QUERY_BPF(fd, "x")  # type: ignore[call-overload]
