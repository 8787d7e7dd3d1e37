"""Counter reads: every read_format, groups, and reads of what is no counter."""

from __future__ import annotations

import errno
import os
import struct
import time

import pytest
from support import GROUP, ID, LOST, TE, TR, opened, touch_pages

import perfsys
from perfsys import constants as C

# -- groups and read_format ------------------------------------------------------


def sleep_until_switched(leader: int, read_format: int, member: int) -> None:
    """Sleep until the group's context-switch counter (values[member]) has counted one. A
    short sleep need not switch: on a slow (emulated) machine its timer can expire before
    the task blocks."""
    for i in range(20):
        time.sleep(0.001 * 2 ** min(i, 8))
        g = perfsys.read(leader, read_format)
        assert isinstance(g, perfsys.GroupValues)
        if g.values[member].value > 0:
            return


def test_group_read_with_ids() -> None:
    rf = GROUP | ID | TE | TR | LOST
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK, read_format=rf,
                                        disabled=1)) as leader, \
            opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                           config=C.PERF_COUNT_SW_PAGE_FAULTS, read_format=rf),
                   group_fd=leader) as pf, \
            opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                           config=C.PERF_COUNT_SW_CONTEXT_SWITCHES, read_format=rf),
                   group_fd=leader) as cs:
        perfsys.ioctls.ENABLE(leader, perfsys.ioctls.PERF_IOC_FLAG_GROUP)
        touch_pages(100)
        sleep_until_switched(leader, rf, 2)
        perfsys.ioctls.DISABLE(leader, perfsys.ioctls.PERF_IOC_FLAG_GROUP)
        g = perfsys.read(leader, rf)
        ids = [perfsys.ioctls.ID(x) for x in (leader, pf, cs)]
    assert isinstance(g, perfsys.GroupValues)
    assert [m.id for m in g.values] == ids
    assert len(set(ids)) == 3
    clock, faults, switches = (m.value for m in g.values)
    assert 0 < clock <= g.time_enabled + 1_000_000
    assert faults >= 100
    assert switches >= 1
    assert all(m.lost == 0 for m in g.values)


def test_group_without_times() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK,
                                        read_format=GROUP)) as leader, \
            opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY,
                                           read_format=GROUP), group_fd=leader):
        g = perfsys.read(leader, GROUP)
    assert g.time_enabled is None and g.time_running is None
    assert len(g.values) == 2
    assert g.values[0].value > 0 and g.values[1] == (0, None, None)


def test_large_group_outgrows_the_stack_buffer() -> None:
    rf = GROUP | ID | LOST
    fds: list[int] = []
    try:
        leader = perfsys.perf_event_open(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                                                 config=C.PERF_COUNT_SW_TASK_CLOCK,
                                                                 read_format=rf), 0, -1)
        fds.append(leader)
        for _ in range(199):
            fds.append(perfsys.perf_event_open(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                                                       config=C.PERF_COUNT_SW_DUMMY,
                                                                       read_format=rf), 0,
                                               -1, leader))
        g = perfsys.read(leader, rf)
        assert len(g.values) == 200  # 24 + 200 * 24 bytes: more than 4096
        assert [m.id for m in g.values] == [perfsys.ioctls.ID(fd) for fd in fds]
        small = bytearray(4096)
        with pytest.raises(OSError) as e:
            perfsys.read_into(leader, small)
        assert e.value.errno == errno.ENOSPC
        assert "smaller than the event's read size" in str(e.value)
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.parametrize("rf", range(32))
def test_every_read_format(rf: int) -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK, read_format=rf)) as fd:
        got = perfsys.read(fd, rf)
        buf = bytearray(256)
        n = perfsys.read_into(fd, buf)
        raw = bytes(buf[:n])
        again = perfsys.decode_read(rf, raw)
    assert type(got) is type(again)
    words = struct.unpack(f"={n // 8}Q", raw)
    te, tr, has_id, lost = (bool(rf & b) for b in (TE, TR, ID, LOST))
    if rf & GROUP:
        assert words[0] == 1 == len(again.values)
        assert (again.time_enabled is None) != te and (again.time_running is None) != tr
        member = again.values[0]
        assert (member.id is None) != has_id and (member.lost is None) != lost
        assert member.value == words[1 + te + tr] > 0
    else:
        assert again.value == words[0] > 0
        fields = [again.time_enabled, again.time_running, again.id, again.lost]
        assert [f is not None for f in fields] == [te, tr, has_id, lost]
        assert [f for f in fields if f is not None] == list(words[1:])


def test_read_format_mismatch_is_valueerror() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK,
                                        read_format=TE | ID)) as fd:
        with pytest.raises(ValueError, match="returned 24 bytes, but read_format 0x1 describes 16"):
            perfsys.read(fd, TE)
        with pytest.raises(OSError) as e:
            perfsys.read_value(fd)
        assert e.value.errno == errno.ENOSPC and "perfsys.read(fd, read_format)" in str(e.value)
        with pytest.raises(ValueError, match="no PERF_FORMAT"):
            perfsys.read(fd, 1 << 7)


def test_decode_read_rejects_short_and_long_data() -> None:
    block = struct.pack("=QQ", 5, 7)
    assert perfsys.decode_read(TE, block) == (5, 7, None, None, None)
    with pytest.raises(ValueError, match="needs 16 bytes"):
        perfsys.decode_read(TE, block[:15])
    with pytest.raises(ValueError, match="describes 8 bytes here, data holds 16"):
        perfsys.decode_read(0, block)
    with pytest.raises(ValueError, match="says 1000 members"):
        perfsys.decode_read(GROUP, struct.pack("=QQQ", 1000, 1, 2))
    with pytest.raises(TypeError):
        perfsys.decode_read(0, "not bytes")  # type: ignore[arg-type]


# -- reads of bad fds ---------------------------------------------------------------


@pytest.mark.thread_unsafe(reason="needs the number of a descriptor it just closed to stay "
                                  "free, and another thread may take it")
def test_reads_of_bad_fds() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        pass
    for f in (perfsys.read_value, perfsys.read):
        with pytest.raises(OSError) as e:
            f(fd)
        assert e.value.errno == errno.EBADF and f"read({fd})" in str(e.value)
        with pytest.raises(ValueError, match="file descriptor"):
            f(-1)
        with pytest.raises(OverflowError):
            f(2**40)
        with pytest.raises(TypeError):
            f("3")  # type: ignore[arg-type]
    with open(os.devnull, "rb") as null, pytest.raises(ValueError, match="not a perf event"):
        perfsys.read_value(null.fileno())
    with pytest.raises(TypeError, match="buffer must be writable"):
        perfsys.read_into(0, b"12345678")


def test_read_of_fewer_bytes_than_read_format_describes() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        with pytest.raises(ValueError, match="returned 8 bytes"):
            perfsys.read(fd, C.PERF_FORMAT_TOTAL_TIME_ENABLED)
        assert perfsys.read_value(fd) == 0   # the error forgot nothing it needs


def test_fileno_objects_are_accepted() -> None:
    class Holder:
        def __init__(self, fd: int) -> None:
            self.fd = fd

        def fileno(self) -> int:
            return self.fd

    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK)) as fd:
        assert perfsys.read_value(Holder(fd)) > 0  # type: ignore[arg-type]
