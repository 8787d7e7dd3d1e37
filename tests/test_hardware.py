"""Hardware counters: counting, groups and every read_format, SelfCounter's user-space
read on a hardware counter, hardware cache events. They skip, saying why, on a machine
without a PMU; `tools/vmtest.sh hw` runs them in an emulated arm64 machine that has one.
Counts there are virtual (QEMU's), so the tests assert mechanics, not magnitudes."""

from __future__ import annotations

import errno
import itertools
import os
import platform

import pytest
from support import (
    GROUP,
    HARDWARE,
    ID,
    LOST,
    TE,
    TR,
    header_page,
    open_hardware,
    perf_event_open,
    pmu_with_terms,
    spin,
    sysctl,
    term_fields,
)

import perfsys
from perfsys import constants as C
from perfsys.events import cache_events

pytestmark = pytest.mark.hardware

EVENTS = list(HARDWARE)
FORMATS = [sum(bits) for n in range(5) for bits in itertools.combinations((TE, TR, ID, LOST), n)]


@pytest.mark.parametrize("event", EVENTS)
def test_counts_grow_and_reset(event: str) -> None:
    fd = open_hardware(event, disabled=1)
    try:
        spin()
        assert perfsys.read_value(fd) == 0  # disabled: nothing counted
        perfsys.ioctls.ENABLE(fd)
        spin()
        first = perfsys.read_value(fd)
        spin()
        second = perfsys.read_value(fd)
        assert second > first > 0
        perfsys.ioctls.DISABLE(fd)
        stopped = perfsys.read_value(fd)
        spin()
        assert perfsys.read_value(fd) == stopped
        perfsys.ioctls.RESET(fd)
        assert perfsys.read_value(fd) == 0
    finally:
        os.close(fd)


@pytest.mark.parametrize("read_format", FORMATS)
@pytest.mark.parametrize("event", EVENTS)
def test_every_read_format(event: str, read_format: int) -> None:
    fd = open_hardware(event, read_format=read_format)
    try:
        spin()
        v = perfsys.read(fd, read_format)
        assert isinstance(v, perfsys.CounterValue)
        assert v.value > 0
        if read_format & TE:
            assert v.time_enabled is not None and v.time_enabled > 0
        else:
            assert v.time_enabled is None
        if read_format & TR:
            assert v.time_running is not None and v.time_running > 0
            assert v.time_enabled is None or v.time_enabled >= v.time_running
        else:
            assert v.time_running is None
        assert v.id == (perfsys.ioctls.ID(fd) if read_format & ID else None)
        assert v.lost == (0 if read_format & LOST else None)
        # the same through SelfCounter, which takes the event's read_format too
        with perfsys.SelfCounter(fd, read_format) as counter:
            value, enabled, running, _ = counter.read()
            assert value >= v.value
            assert (enabled is None) == (not read_format & TE)
            assert (running is None) == (not read_format & TR)
    finally:
        os.close(fd)


@pytest.mark.parametrize("read_format", FORMATS)
def test_group_of_hardware_events(read_format: int) -> None:
    """A leader and one member of each hardware event the machine counts, read at once."""
    rf = GROUP | read_format
    leader = open_hardware("cycles", read_format=rf, disabled=1)
    fds = [leader]
    try:
        for name in EVENTS:
            try:
                fds.append(perf_event_open(perfsys.perf_event_attr(
                    type=C.PERF_TYPE_HARDWARE, config=HARDWARE[name], read_format=rf), 0, -1,
                    leader))
            except FileNotFoundError:
                continue  # a PMU without this event (QEMU's counts instructions only under icount)
        perfsys.ioctls.ENABLE(leader, perfsys.ioctls.PERF_IOC_FLAG_GROUP)
        spin()
        perfsys.ioctls.DISABLE(leader, perfsys.ioctls.PERF_IOC_FLAG_GROUP)
        g = perfsys.read(leader, rf)
        assert isinstance(g, perfsys.GroupValues)
        assert len(g.values) == len(fds)
        assert all(m.value > 0 for m in g.values)
        assert (g.time_enabled is None) == (not read_format & TE)
        assert (g.time_running is None) == (not read_format & TR)
        if read_format & TE and read_format & TR:
            assert g.time_enabled is not None and g.time_running is not None
            assert g.time_enabled >= g.time_running > 0
        ids = [perfsys.ioctls.ID(fd) for fd in fds]
        assert [m.id for m in g.values] == (ids if read_format & ID else [None] * len(fds))
        assert [m.lost for m in g.values] == [0 if read_format & LOST else None] * len(fds)
        assert perfsys.read(leader, rf) == g  # disabled: nothing moves
    finally:
        for fd in reversed(fds):
            os.close(fd)


# -- SelfCounter's user-space read (arm64: kernel.perf_user_access, the rdpmc term) ----


@pytest.mark.thread_unsafe(reason="sets kernel.perf_user_access, which the whole machine shares")
@pytest.mark.parametrize("terms", ["", "rdpmc", "rdpmc,long"])
@pytest.mark.parametrize("user_access", [0, 1])
@pytest.mark.parametrize("event", EVENTS)
def test_self_counter_user_read_agrees_with_read(event: str, user_access: int,
                                                 terms: str) -> None:
    """With kernel.perf_user_access=1 and the PMU's rdpmc term the counter is read from
    user space (path "rdpmc") and lies between two read(2)s; otherwise read(2) runs."""
    if platform.machine() != "aarch64":
        pytest.skip("user-space counter access through kernel.perf_user_access is arm64's")
    _, formats = pmu_with_terms("rdpmc", "long")
    set_terms = [t for t in terms.split(",") if t]
    rf = TE | TR
    with sysctl("perf_user_access", user_access):
        fields = term_fields(formats, *set_terms)
        if "long" in set_terms:  # with rdpmc
            os.close(open_hardware(event))  # skips where nothing counts the event at all
            try:
                fd = perf_event_open(perfsys.perf_event_attr(
                    type=C.PERF_TYPE_HARDWARE, config=HARDWARE[event], read_format=rf,
                    **fields), 0, -1)
            except OSError as e:
                if e.errno != errno.EOPNOTSUPP:
                    raise
                # the kernel refuses user access to a 64-bit event made of two chained
                # 32-bit counters (Documentation/arch/arm64/perf.rst)
                pytest.skip("a 64-bit counter user space may read needs PMUv3p5's 64-bit "
                            "event counters (EOPNOTSUPP)")
        else:
            fd = open_hardware(event, read_format=rf, **fields)
        try:
            page = header_page(fd)
            user = user_access == 1 and "rdpmc" in set_terms
            assert page["cap_user_rdpmc"] == ("rdpmc" in set_terms)
            assert (page["index"] != 0) == user
            if user:
                assert page["pmc_width"] == (64 if "long" in set_terms else 32)
            with perfsys.SelfCounter(fd, rf) as counter:
                assert counter.index == page["index"]
                before = perfsys.read(fd, rf)
                value, enabled, running, path = counter.read()
                after = perfsys.read(fd, rf)
                assert path == ("rdpmc" if user and perfsys._perfsys.HAVE_RDPMC else "read")
                assert isinstance(before, perfsys.CounterValue)
                assert isinstance(after, perfsys.CounterValue)
                assert 0 < before.value <= value <= after.value
                assert enabled is not None and running is not None
                assert before.time_enabled is not None and after.time_enabled is not None
                assert before.time_running is not None and after.time_running is not None
                # the page's times are advanced by the CPU's counter scaled as the kernel
                # scales it: allow the rounding of two conversions of one clock (ns)
                assert before.time_enabled - 2 <= enabled <= after.time_enabled + 2
                assert before.time_running - 2 <= running <= after.time_running + 2
                spin()
                value2, enabled2, running2, path2 = counter.read()
                assert path2 == path
                assert value2 > value
                assert enabled2 is not None and running2 is not None
                assert enabled2 > enabled and running2 > running
        finally:
            os.close(fd)


@pytest.mark.thread_unsafe(reason="sets kernel.perf_user_access, which the whole machine shares")
def test_self_counter_reads_each_counter_it_is_given() -> None:
    """Several events at once sit on different counters (the cycle counter and event
    counters 0, 1, ...): each reads from its own, agreeing with read(2)."""
    if platform.machine() != "aarch64":
        pytest.skip("user-space counter access through kernel.perf_user_access is arm64's")
    _, formats = pmu_with_terms("rdpmc")
    fields = term_fields(formats, "rdpmc")
    fds: list[int] = []
    with sysctl("perf_user_access", 1):
        try:
            fds.append(open_hardware("cycles", **fields))
            for name in ["instructions", "cycles"] * 2:
                try:
                    fds.append(open_hardware(name, **fields))
                except pytest.skip.Exception:
                    continue  # QEMU's PMU counts instructions only under -icount
            spin()
            indexes: list[int] = []
            for fd in fds:
                with perfsys.SelfCounter(fd) as counter:
                    before = perfsys.read_value(fd)
                    value, _, _, path = counter.read()
                    assert before <= value <= perfsys.read_value(fd)
                    if counter.index != 0:  # scheduled on a counter now
                        assert path == "rdpmc"
                        indexes.append(counter.index)
            assert len(set(indexes)) == len(indexes) >= 2
        finally:
            for fd in fds:
                os.close(fd)


@pytest.mark.thread_unsafe(reason="sets kernel.perf_user_access, which the whole machine shares")
def test_self_counter_user_read_by_perf_syntax() -> None:
    """The same through perf's syntax: the PMU's cycle event with the rdpmc term."""
    if platform.machine() != "aarch64":
        pytest.skip("user-space counter access through kernel.perf_user_access is arm64's")
    pmu, _ = pmu_with_terms("rdpmc")
    if "cpu_cycles" not in pmu.aliases:
        pytest.skip(f"PMU {pmu.name} has no cpu_cycles event")
    with sysctl("perf_user_access", 1):
        a = perfsys.events.parse_event(f"{pmu.name}/cpu_cycles,rdpmc/u").attr()
        try:
            fd = perf_event_open(a, 0, -1)
        except FileNotFoundError:
            pytest.skip(f"PMU {pmu.name} does not count cpu_cycles here")
        try:
            with perfsys.SelfCounter(fd) as counter:
                before = perfsys.read_value(fd)
                value, _, _, path = counter.read()
                assert path == "rdpmc"
                assert before <= value <= perfsys.read_value(fd)
        finally:
            os.close(fd)


# -- hardware cache events --------------------------------------------------------------


def test_cache_events_where_the_pmu_maps_them() -> None:
    """Every generic cache event either opens and counts, or fails as unmapped (ENOENT,
    EOPNOTSUPP, EINVAL: the PMU has no such event) with a message that says so."""
    open_hardware("cycles")  # skips without a hardware PMU
    mapped = []
    for ev in cache_events():
        a = perfsys.perf_event_attr(type=ev.type, config=ev.config, read_format=TE | TR)
        try:
            fd = perf_event_open(a, 0, -1)
        except OSError as e:
            assert e.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.EINVAL), (ev.names, e)
            assert str(e)
            continue
        try:
            spin()
            v = perfsys.read(fd, TE | TR)
            assert isinstance(v, perfsys.CounterValue)
            assert v.value >= 0
            assert v.time_enabled is not None and v.time_enabled > 0
            mapped.append(ev.names[0])
        finally:
            os.close(fd)
    if not mapped:
        pytest.skip("the hardware PMU maps no generic cache event")
