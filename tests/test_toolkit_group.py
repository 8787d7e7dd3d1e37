"""perfsys.group: counting groups on a thread, a process and CPUs; the two kernel traps."""

from __future__ import annotations

import mmap
import os
import subprocess
import sys
import time

import pytest
from support import ENV, FORKS, SPIN, THREADS_LATER, error_of_close_racing, spin, spin_cpu

import perfsys
from perfsys import constants as C
from perfsys import ioctls
from perfsys.group import Group, Reading, events_by_name, process_threads
from perfsys.launch import PausedCommand
from perfsys.sampler import online_cpus

RF = C.PERF_FORMAT_GROUP | C.PERF_FORMAT_TOTAL_TIME_ENABLED | C.PERF_FORMAT_TOTAL_TIME_RUNNING
TOGGLES = 200


def sw(config: int, disabled: int) -> perfsys.perf_event_attr:
    return perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=config,
                                   disabled=disabled, read_format=RF)


def toggle(enable: object, disable: object) -> None:
    """Count 1 ms of CPU time TOGGLES times, idle between (where a toggle lands)."""
    for _ in range(TOGGLES):
        enable()  # type: ignore[operator]
        spin_cpu(0.001)
        disable()  # type: ignore[operator]
        time.sleep(0.0002)


# -- the traps, shown with the raw API ----------------------------------------------------


def raw_group(leader: int, members: list[int]) -> list[int]:
    fds = [perfsys.perf_event_open(sw(leader, 1), 0, -1)]
    for m in members:
        fds.append(perfsys.perf_event_open(sw(m, 1), 0, -1, fds[0]))
    return fds


@pytest.mark.parametrize(("leader", "member"), [
    ("task-clock", "cpu-clock"),
    ("page-faults", "cpu-clock"),
    ("page-faults", "task-clock"),
])
def test_raw_group_flag_toggle_undercounts_members(leader: str, member: str) -> None:
    """The trap: ENABLE/DISABLE(leader, PERF_IOC_FLAG_GROUP) on a group opened all
    disabled: a clock member counts only a small part of the time the group ran."""
    cfg = {"task-clock": C.PERF_COUNT_SW_TASK_CLOCK, "cpu-clock": C.PERF_COUNT_SW_CPU_CLOCK,
           "page-faults": C.PERF_COUNT_SW_PAGE_FAULTS}
    fds = raw_group(cfg[leader], [cfg[member]])
    try:
        toggle(lambda: ioctls.ENABLE(fds[0], C.PERF_IOC_FLAG_GROUP),
               lambda: ioctls.DISABLE(fds[0], C.PERF_IOC_FLAG_GROUP))
        g = perfsys.read(fds[0], RF)
        assert isinstance(g, perfsys.GroupValues)
        assert g.time_running and g.time_running > TOGGLES * 500_000
        # a clock member should be close to time_running; the kernel gives it far less
        assert g.values[1].value < 0.5 * g.time_running, g
    finally:
        for fd in fds:
            os.close(fd)


@pytest.mark.parametrize("events", ["task-clock,cpu-clock", "page-faults,cpu-clock,task-clock"])
def test_group_toggle_counts_members_in_full(events: str) -> None:
    with Group(events) as g:
        toggle(g.enable, g.disable)
        r = g.read()
    assert r.time_running > TOGGLES * 500_000
    for name in ("cpu-clock", "task-clock"):
        if name in r.names:
            # a thread's clock while its group is enabled: all of time_running
            assert r.raw[name] == pytest.approx(r.time_running, rel=0.02), r


def test_raw_reset_leaves_times_running() -> None:
    """The trap: RESET zeroes the count, not time_enabled/time_running."""
    fd = perfsys.perf_event_open(perfsys.perf_event_attr(
        type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK, disabled=1,
        read_format=C.PERF_FORMAT_TOTAL_TIME_ENABLED | C.PERF_FORMAT_TOTAL_TIME_RUNNING), 0, -1)
    try:
        ioctls.ENABLE(fd)
        spin_cpu(0.03)
        ioctls.RESET(fd)
        spin_cpu(0.005)
        v = perfsys.read(fd, C.PERF_FORMAT_TOTAL_TIME_ENABLED | C.PERF_FORMAT_TOTAL_TIME_RUNNING)
        assert isinstance(v, perfsys.CounterValue) and v.time_enabled
        assert v.value < 0.5 * v.time_enabled, v  # the times kept the 30 ms before RESET
    finally:
        os.close(fd)


def test_group_reset_restarts_times_too() -> None:
    with Group("task-clock,cpu-clock") as g:
        g.enable()
        spin_cpu(0.03)
        before = g.read()
        g.reset()
        spin_cpu(0.005)
        r = g.read()
        assert r.time_enabled < before.time_enabled
        assert r.raw["task-clock"] == pytest.approx(r.time_running, rel=0.02), r
        assert r["task-clock"] == pytest.approx(r.time_running, rel=0.02)
        assert g.read_raw().time_enabled >= before.time_enabled


# -- values, deltas, names -----------------------------------------------------------------


def test_values_keyed_by_name_and_deltas() -> None:
    with Group({"pf": "page-faults", "clock": "task-clock"}) as g:
        assert g.names == ("pf", "clock")
        g.enable()
        r0 = g.read()
        maps = [mmap.mmap(-1, 64 * mmap.PAGESIZE) for _ in range(8)]
        for m in maps:  # a write to each fresh page: a page fault each
            for off in range(0, len(m), mmap.PAGESIZE):
                m[off] = 1
        r1 = g.read()
        g.disable()
    d = r1 - r0
    assert isinstance(d, Reading) and list(d) == ["pf", "clock"]
    assert d["pf"] >= 8 * 64 * 0.5, d
    assert d.raw["pf"] == r1.raw["pf"] - r0.raw["pf"]
    assert d.time_enabled == r1.time_enabled - r0.time_enabled > 0
    assert d.running_fraction == 1.0
    for m in maps:
        m.close()


def test_scaling_is_per_target() -> None:
    r = Reading(("a",), ((100, 50, (10,)), (100, 100, (7,)), (0, 0, (0,))))
    assert r["a"] == 27.0
    assert r.raw == {"a": 17}
    assert r.running_fraction == 150 / 200
    assert Reading(("a",), ((0, 0, (0,)),)).running_fraction is None


def test_attr_events_and_fields() -> None:
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK)
    with Group({"t": attr}, exclude_kernel=1) as g:
        (fds,) = g.fds()
        assert len(fds) == 1
        g.enable()
        spin(0.002)
        assert g.read()["t"] > 0
    assert attr.read_format == 0 and attr.exclude_kernel == 0  # the caller's attr is copied
    assert g.closed


# -- targets -------------------------------------------------------------------------------

@pytest.mark.thread_unsafe(reason=FORKS)
def test_process_counts_threads_started_while_counted() -> None:
    r, w = os.pipe()
    with PausedCommand([sys.executable, "-c", THREADS_LATER]) as cmd:
        os.close(r)
        with Group("task-clock,context-switches", process=cmd.pid, enable_on_exec=True) as g:
            assert g.read().raw["task-clock"] == 0  # enable_on_exec: nothing before exec
            cmd.start()
            assert cmd.wait() == 0
            value = g.read()
    os.close(w)
    assert value.raw["task-clock"] > 4 * SPIN * 1e9 * 0.9  # four threads of SPIN s each


def test_process_counts_threads_it_already_has() -> None:
    code = ("import threading, sys, time\n"
            "stop = threading.Event()\n"
            "def spin():\n"
            "    while not stop.is_set(): time.sleep(0.0005)\n"
            "ts = [threading.Thread(target=spin) for _ in range(2)]\n"
            "[t.start() for t in ts]\n"
            "print('ready', flush=True); sys.stdin.readline(); stop.set()\n"
            "[t.join() for t in ts]\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert p.stdout is not None and p.stdin is not None
        assert p.stdout.readline() == "ready\n"
        tids = process_threads(p.pid)
        assert len(tids) == 3
        with Group("context-switches,task-clock", process=p.pid) as g:
            assert len(g.fds()) == 3  # one group per thread
            g.enable()
            time.sleep(0.1)
            g.disable()
            r = g.read()
        per_thread = [counts[0] for _e, _r, counts in r.targets]
        # the two sleeping threads switch out every 0.5 ms; the main one waits on stdin
        assert sorted(per_thread)[1:] > [10, 10], per_thread
        p.stdin.write("\n")
        p.stdin.flush()
    finally:
        p.kill() if p.poll() is None else None
        p.wait()


def test_cpu_fan_out() -> None:
    cpus = online_cpus()
    try:
        g = Group("cpu-clock,task-clock", cpus=cpus)
    except PermissionError as err:
        pytest.skip(f"CPU-wide events are not allowed here: {err}")
    with g:
        assert len(g.fds()) == len(cpus)
        g.enable()
        t0 = time.monotonic()
        time.sleep(0.05)
        g.disable()
        elapsed = (time.monotonic() - t0) * 1e9
        r = g.read()
    assert len(r.targets) == len(cpus)
    for enabled, _running, (cpu_clock, _task_clock) in r.targets:
        # a CPU-wide cpu-clock counts all of the time it was enabled, idle included
        assert 0.8 * elapsed < enabled < 1.5 * elapsed + 20e6
        assert cpu_clock == pytest.approx(enabled, rel=0.05)


# -- bad input -----------------------------------------------------------------------------


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="without braces"):
        Group("{task-clock,cs}")
    with pytest.raises(ValueError, match="twice"):
        Group("task-clock,task-clock")
    with pytest.raises(ValueError, match="at least one"):
        Group([])
    with pytest.raises(TypeError):
        Group([42])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        Group({"x": 3.5})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        Group(17)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="set by the Group"):
        Group("task-clock", inherit_stat=0, disabled=0)
    with pytest.raises(ValueError, match="no field"):
        Group("task-clock", no_such_field=1)
    with pytest.raises(ValueError, match="not both"):
        Group("task-clock", pid=0, process=os.getpid())
    with pytest.raises(ValueError, match="cpus"):
        Group("task-clock", cpus=[-1])
    with pytest.raises(ValueError, match="unknown event"):
        Group("no-such-event-name")
    with pytest.raises(ProcessLookupError):
        Group("task-clock", process=2**22 + 12345)
    with pytest.raises(ValueError, match="different groups"):
        _ = Reading(("a",), ()) - Reading(("b",), ())
    g = Group("task-clock")
    g.close()
    g.close()
    with pytest.raises(ValueError, match="closed"):
        g.enable()
    with pytest.raises(ValueError, match="closed"):
        g.read()


def test_close_racing_reads() -> None:
    for _ in range(20):
        g = Group("task-clock,cpu-clock")
        g.enable()
        err = error_of_close_racing(lambda g=g: (g.read(), g.disable(), g.enable()), g.close)
        assert isinstance(err, ValueError) and "closed" in str(err), err


def test_open_error_names_the_event() -> None:
    with pytest.raises(OSError) as info:
        Group("task-clock", pid=2**22 + 12345)
    assert any("task-clock" in n for n in getattr(info.value, "__notes__", []))


def test_events_by_name_from_specs() -> None:
    from perfsys.events import parse_event

    named = events_by_name([parse_event("page-faults:u"), "cs"])
    assert list(named) == ["page-faults:u", "cs"] or list(named)[1] == "cs"
    assert named[next(iter(named))].exclude_kernel == 1
