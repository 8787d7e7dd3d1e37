"""perfsys.sampler and perfsys.launch: whole-process sampling over many rings; paused commands."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support import ENV, FORKS, THREADS_LATER, error_of_close_racing, spin, spin_cpu

import perfsys
from perfsys import constants as C
from perfsys.launch import ExecFailed, PausedCommand
from perfsys.sampler import Sampler, online_cpus, record_time

SAMPLE = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_CPU


@pytest.mark.thread_unsafe(reason=FORKS)
def test_threads_started_while_sampled_merged_in_time_order(tmp_path: Path) -> None:
    out = tmp_path / "tids"
    with PausedCommand([sys.executable, "-c", THREADS_LATER, str(out)]) as cmd, \
            Sampler("cpu-clock", process=cmd.pid, period=1_000_000, sample_type=SAMPLE,
                    enable_on_exec=True, mmap=1, comm=1, task=1) as s:
        cmd.start()
        records = list(s)
        assert s.exited
        assert cmd.wait() == 0
        assert len(s.rings) == len(online_cpus())  # one ring per CPU; the rest SET_OUTPUT
        assert s.lost == 0
    later = {int(t) for t in out.read_text().split()}
    samples = [x for x in records if isinstance(x, perfsys.SampleRecord)]
    tids = {x.tid for x in samples}
    assert later <= tids, (later, tids)        # each thread started after the open
    assert {x.pid for x in samples} == {cmd.pid}
    times = [record_time(x) for x in records]  # samples and COMM/MMAP/FORK/EXIT records
    assert times == sorted(times)
    assert 0 not in times
    assert sum(isinstance(x, perfsys.ForkRecord) for x in records) >= 3  # the threads
    assert {x.cpu for x in samples} <= set(online_cpus())


EXISTING = """
import sys, threading, time
stop = False
def spin():
    while not stop:
        pass
ts = [threading.Thread(target=spin) for _ in range(2)]
[t.start() for t in ts]
print(*[t.native_id for t in ts], flush=True)
sys.stdin.readline()
stop = True
[t.join() for t in ts]
"""


@pytest.mark.parametrize("per_thread", [False, True])
def test_threads_the_process_already_has(per_thread: bool) -> None:
    p = subprocess.Popen([sys.executable, "-c", EXISTING], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert p.stdout is not None and p.stdin is not None
        spinning = {int(t) for t in p.stdout.readline().split()}
        with Sampler("cpu-clock", process=p.pid, period=1_000_000, per_thread=per_thread,
                     sample_type=SAMPLE) as s:
            assert len(s.rings) == (3 if per_thread else len(online_cpus()))
            s.start()
            got: list[object] = []
            while len({getattr(x, "tid", 0) for x in got} & spinning) < 2 and len(got) < 5000:
                got += s.poll(0.05)
            got += s.stop()
            assert not s.exited
        assert {getattr(x, "tid", 0) for x in got} >= spinning
        p.stdin.write("\n")
        p.stdin.flush()
    finally:
        p.kill() if p.poll() is None else None
        p.wait()


def test_stop_drains_what_is_left() -> None:
    with Sampler("task-clock", process=os.getpid(), period=200_000, sample_type=SAMPLE,
                 latency=10.0) as s:
        s.start()
        spin_cpu(0.05)
        rest = s.stop()
        assert all(r.available == 0 for r in s.rings)
        assert len(rest) > 20          # 50 ms of task-clock, a sample per 0.2 ms
        assert s.poll(0) == []         # disabled: nothing more
        assert {x.pid for x in rest if isinstance(x, perfsys.SampleRecord)} == {os.getpid()}
    assert repr(s).endswith("closed>")


def test_cpu_fan_out() -> None:
    cpus = online_cpus()
    try:
        s = Sampler("cpu-clock", cpus=cpus, period=1_000_000, sample_type=SAMPLE)
    except PermissionError as err:
        pytest.skip(f"CPU-wide events are not allowed here: {err}")
    def busy_on(cpu: int) -> None:
        os.sched_setaffinity(0, {cpu})  # this thread only
        spin(0.05)

    # cpu-clock does not tick on an idle CPU (the tick stops there): a thread pinned
    # to each CPU gives each one something to sample.
    workers = [threading.Thread(target=busy_on, args=(cpu,)) for cpu in cpus]
    with s:
        assert len(s.rings) == len(cpus)
        s.start()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        got = s.stop()
    samples = [x for x in got if isinstance(x, perfsys.SampleRecord)]
    assert {x.cpu for x in samples} == set(cpus)
    assert [x.time for x in samples] == sorted(x.time for x in samples)


def test_wakeup_is_set_for_latency() -> None:
    with Sampler("task-clock", process=os.getpid(), period=1_000_000, pages=16,
                 latency=0.5) as s:
        assert s.attr.watermark == 1
        assert s.attr.wakeup_watermark == 16 * os.sysconf("SC_PAGE_SIZE") // 2
        assert s.attr.sample_id_all == 1 and s.attr.sample_type & C.PERF_SAMPLE_TIME
        assert s.attr.inherit == 1 and s.attr.disabled == 1


def test_ring_refuses_inherit_per_task_and_says_why() -> None:
    fd = perfsys.perf_event_open(perfsys.perf_event_attr(
        type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK, sample_period=100_000,
        inherit=1, disabled=1), 0, -1)
    try:
        with pytest.raises(OSError) as info:
            perfsys.RingBuffer(fd, 8)
        assert info.value.errno == errno.EINVAL
        assert "inherit" in str(info.value) and "cpu >= 0" in str(info.value)
    finally:
        os.close(fd)


def test_sampler_bad_input() -> None:
    pid = os.getpid()
    with pytest.raises(ValueError, match="process=PID"):
        Sampler("cpu-clock", period=1)
    with pytest.raises(ValueError, match="per_thread"):
        Sampler("cpu-clock", cpus=[0], per_thread=True, period=1)
    with pytest.raises(ValueError, match="power of two"):
        Sampler("cpu-clock", process=pid, period=1, pages=3)
    with pytest.raises(ValueError, match="latency"):
        Sampler("cpu-clock", process=pid, period=1, latency=0)
    with pytest.raises(ValueError, match="period= or freq="):
        Sampler("cpu-clock", process=pid)
    with pytest.raises(ValueError, match="not both"):
        Sampler("cpu-clock", process=pid, period=1, freq=1)
    with pytest.raises(ValueError, match="positive int"):
        Sampler("cpu-clock", process=pid, period=-1)
    with pytest.raises(ValueError, match="positive int"):
        Sampler("cpu-clock", process=pid, freq=0)
    with pytest.raises(ValueError, match="cpus"):
        Sampler("cpu-clock", cpus=[], period=1)
    with pytest.raises(ValueError, match="cpus"):
        Sampler("cpu-clock", cpus=[-1], period=1)
    with pytest.raises(ValueError, match="set by the Sampler"):
        Sampler("cpu-clock", process=pid, period=1, inherit=0)
    with pytest.raises(ValueError, match="no field"):
        Sampler("cpu-clock", process=pid, period=1, bogus=1)
    with pytest.raises(TypeError):
        Sampler(3, process=pid, period=1)  # type: ignore[arg-type]
    with pytest.raises(ProcessLookupError):
        Sampler("cpu-clock", process=2**22 + 12345, period=1)
    s = Sampler("cpu-clock", process=pid, period=10**9)
    s.close()
    s.close()
    with pytest.raises(ValueError, match="closed"):
        s.poll(0)
    with pytest.raises(ValueError, match="closed"):
        s.start()


@pytest.mark.thread_unsafe(reason="needs the numbers of the descriptors it closed to stay "
                                  "free, which other threads' opens would take")
def test_close_racing_a_reader() -> None:
    """close() from another thread while rounds run: the reader sees ValueError, nothing
    else, and every descriptor is closed once."""
    for _ in range(20):
        s = Sampler("task-clock", process=os.getpid(), period=100_000, latency=0.002)
        fds = s.fds
        s.start()
        err = error_of_close_racing(s.poll, s.close)
        assert isinstance(err, ValueError), err
        for fd in fds:
            with pytest.raises(OSError):
                os.fstat(fd)


def test_sampler_from_an_attr_keeps_it() -> None:
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK,
                                   sample_period=500_000)
    with Sampler(attr, process=os.getpid(), per_thread=True) as s:
        assert s.attr.sample_period == 500_000
    assert attr.disabled == 0 and attr.sample_type == 0  # copied, not changed


# -- launch ------------------------------------------------------------------------------


@pytest.mark.thread_unsafe(reason=FORKS)
def test_exit_status_and_signal() -> None:
    with PausedCommand(["sh", "-c", "exit 3"]) as cmd:
        assert cmd.pid > 0 and "paused" in repr(cmd)
        cmd.start()
        assert cmd.wait() == 3 and cmd.returncode == 3
    with PausedCommand(["sh", "-c", "kill -9 $$"]) as cmd:
        cmd.start()
        assert cmd.wait() == -9


@pytest.mark.thread_unsafe(reason=FORKS)
def test_counters_start_at_exec() -> None:
    from perfsys.group import Group

    with PausedCommand([sys.executable, "-c", "pass"]) as cmd, \
            Group("task-clock", pid=cmd.pid, enable_on_exec=True) as g:
        spin(0.01)
        assert g.read().raw["task-clock"] == 0  # paused: nothing counted yet
        cmd.start()
        assert cmd.wait() == 0
        assert g.read().raw["task-clock"] > 0


@pytest.mark.thread_unsafe(reason=FORKS)
def test_exec_failures(tmp_path: Path) -> None:
    with PausedCommand(["/nonexistent/program"]) as cmd, pytest.raises(ExecFailed) as info:
        cmd.start()
    assert info.value.errno == errno.ENOENT and info.value.exit_status == 127
    assert info.value.filename == "/nonexistent/program"
    assert cmd.returncode == 127
    path = os.path.join(str(tmp_path), "not-executable")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(path, 0o644)  # no x bit: not even root may execute it
    with PausedCommand([path]) as cmd, pytest.raises(ExecFailed) as info:
        cmd.start()
    assert info.value.errno == errno.EACCES and info.value.exit_status == 126


@pytest.mark.thread_unsafe(reason=FORKS)
def test_close_kills_an_unstarted_child() -> None:
    cmd = PausedCommand(["sleep", "10"])
    pid = cmd.pid
    cmd.close()
    assert cmd.returncode is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, 0)
    cmd.close()


@pytest.mark.thread_unsafe(reason=FORKS)
def test_launch_bad_input() -> None:
    with pytest.raises(ValueError):
        PausedCommand([])
    with pytest.raises(ValueError):
        PausedCommand("ls")
    with pytest.raises(ValueError, match="NUL"):
        PausedCommand(["ls", "a\0b"])
    with PausedCommand(["true"]) as cmd:
        with pytest.raises(RuntimeError):
            cmd.wait()
        cmd.start()
        with pytest.raises(RuntimeError):
            cmd.start()
        assert cmd.wait() == 0


@pytest.mark.thread_unsafe(reason=FORKS)
@pytest.mark.filterwarnings("ignore:This process.*is multi-threaded:DeprecationWarning")
def test_launch_from_a_thread() -> None:
    result: list[int] = []

    def run() -> None:
        with PausedCommand(["sh", "-c", "exit 5"]) as cmd:
            cmd.start()
            result.append(cmd.wait())

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert result == [5]
