"""perf_event_open and counter reads against the running kernel."""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from core_util import spin, touch_pages
from support import GROUP, ID, LOST, TE, TR, opened

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


def test_hardware_cycles_or_enoent() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_HARDWARE, config=C.PERF_COUNT_HW_INSTRUCTIONS,
                                exclude_kernel=1)
    try:
        fd = perfsys.perf_event_open(a, 0, -1)
    except FileNotFoundError as e:
        assert e.errno == errno.ENOENT
        assert "no hardware PMU" in str(e)
        pytest.skip("no hardware PMU: instructions -> ENOENT")
    try:
        spin()
        assert perfsys.read_value(fd) > 0
    finally:
        os.close(fd)


# -- groups and read_format ------------------------------------------------------


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
        time.sleep(0.001)
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
    words = struct.unpack(f"<{n // 8}Q", raw)
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
    block = struct.pack("<QQ", 5, 7)
    assert perfsys.decode_read(TE, block) == (5, 7, None, None, None)
    with pytest.raises(ValueError, match="needs 16 bytes"):
        perfsys.decode_read(TE, block[:15])
    with pytest.raises(ValueError, match="describes 8 bytes here, data holds 16"):
        perfsys.decode_read(0, block)
    with pytest.raises(ValueError, match="says 1000 members"):
        perfsys.decode_read(GROUP, struct.pack("<QQQ", 1000, 1, 2))
    with pytest.raises(TypeError):
        perfsys.decode_read(0, "not bytes")  # type: ignore[arg-type]


# -- pid / cpu / flags -------------------------------------------------------------


def test_cpu_wide_event() -> None:
    # pid=-1, cpu=0: everything on cpu 0 (root, or perf_event_paranoid <= 0)
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_CPU_CLOCK), pid=-1, cpu=0) as fd:
        time.sleep(0.01)
        assert perfsys.read_value(fd) > 0


def test_this_thread_on_one_cpu() -> None:
    cpu = os.sched_getaffinity(0)
    first = min(cpu)
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {first})
    try:
        with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                            config=C.PERF_COUNT_SW_TASK_CLOCK),
                    pid=0, cpu=first) as fd:
            spin(50_000)
            assert perfsys.read_value(fd) > 0
    finally:
        os.sched_setaffinity(0, old)


def test_child_process() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read(1);"
                              "[i * i for i in range(300000)]"], stdin=subprocess.PIPE)
    try:
        with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                            config=C.PERF_COUNT_SW_TASK_CLOCK, read_format=TE),
                    pid=child.pid) as fd:
            before = perfsys.read(fd, TE).value
            assert child.stdin is not None
            child.stdin.write(b"x")
            child.stdin.close()
            child.wait()
            after = perfsys.read(fd, TE).value
        assert after > before
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_pid_and_cpu_both_any_is_einval() -> None:
    with pytest.raises(OSError) as e:
        perfsys.perf_event_open(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                                        config=C.PERF_COUNT_SW_TASK_CLOCK), -1, -1)
    assert e.value.errno == errno.EINVAL
    assert "perf_event_open(type=1, config=0x1, pid=-1, cpu=-1" in str(e.value)
    assert "pid=-1 needs a cpu" in str(e.value)


def test_cloexec_flag() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY),
                flags=C.PERF_FLAG_FD_CLOEXEC) as fd:
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_DUMMY)) as fd:
        assert not fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC


def test_keywords() -> None:
    dummy = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY)
    fd = perfsys.perf_event_open(attr=dummy, pid=0, cpu=-1, group_fd=-1,
                                 flags=C.PERF_FLAG_FD_CLOEXEC)
    os.close(fd)
    with pytest.raises(TypeError, match="unexpected keyword argument 'gruop_fd'"):
        perfsys.perf_event_open(dummy, 0, -1, gruop_fd=-1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'pid'"):
        perfsys.perf_event_open(dummy, 0, -1, pid=0)  # type: ignore[misc]
    with pytest.raises(TypeError, match="missing required argument 'cpu'"):
        perfsys.perf_event_open(dummy, 0)  # type: ignore[call-arg]


# -- attr buffers and their size ---------------------------------------------------------


def test_attr_as_bytearray_with_size_zero_means_ver0() -> None:
    raw = bytearray(64)
    struct.pack_into("<IIQ", raw, 0, C.PERF_TYPE_SOFTWARE, 0, C.PERF_COUNT_SW_DUMMY)
    fd = perfsys.perf_event_open(raw, 0, -1)
    os.close(fd)


@pytest.mark.parametrize("size", [64, 72, 80, 96, 104, 112, 120, 128])
def test_every_older_attr_size_is_accepted(size: int) -> None:
    raw = bytearray(size)  # PERF_ATTR_SIZE_VER0..VER8: the kernel zero-fills the rest
    struct.pack_into("<IIQ", raw, 0, C.PERF_TYPE_SOFTWARE, size, C.PERF_COUNT_SW_PAGE_FAULTS)
    fd = perfsys.perf_event_open(raw, 0, -1)
    try:
        touch_pages(10)
        assert perfsys.read_value(fd) >= 10
    finally:
        os.close(fd)


def test_attr_too_short() -> None:
    with pytest.raises(ValueError, match="holds 63 bytes, fewer than PERF_ATTR_SIZE_VER0"):
        perfsys.perf_event_open(bytearray(63), 0, -1)
    raw = bytearray(100)
    struct.pack_into("<II", raw, 0, C.PERF_TYPE_SOFTWARE, 120)
    with pytest.raises(ValueError, match=r"attr\.size is 120 but the buffer holds only 100"):
        perfsys.perf_event_open(raw, 0, -1)


def test_attr_must_be_a_writable_buffer() -> None:
    with pytest.raises(TypeError, match="read-only"):
        perfsys.perf_event_open(bytes(128), 0, -1)
    with pytest.raises(TypeError, match="read-only"):
        perfsys.perf_event_open(memoryview(bytearray(128)).toreadonly(), 0, -1)
    with pytest.raises(TypeError, match="not dict"):
        perfsys.perf_event_open({}, 0, -1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not NoneType"):
        perfsys.perf_event_open(None, 0, -1)  # type: ignore[arg-type]


def test_e2big_reports_the_size_the_kernel_wrote_back() -> None:
    raw = bytearray(4096)
    struct.pack_into("<IIQ", raw, 0, C.PERF_TYPE_SOFTWARE, 4096, C.PERF_COUNT_SW_DUMMY)
    raw[4000] = 1  # a field no kernel has
    with pytest.raises(OSError) as e:
        perfsys.perf_event_open(raw, 0, -1)
    written = struct.unpack_from("<I", raw, 4)[0]
    assert e.value.errno == errno.E2BIG
    assert C.PERF_ATTR_SIZE_VER0 < written < 4096
    assert f"attr.size was 4096; this kernel's perf_event_attr is {written} bytes" in str(e.value)


def test_out_of_range_and_wrong_type_ints() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY)
    with pytest.raises(OverflowError):
        perfsys.perf_event_open(a, 2**31, -1)
    with pytest.raises(OverflowError):
        perfsys.perf_event_open(a, 0, -(2**40))
    with pytest.raises(ValueError, match="pid=-2 is out of range"):
        perfsys.perf_event_open(a, -2, 0)
    with pytest.raises(ValueError, match="cpu=-7"):
        perfsys.perf_event_open(a, 0, -7)
    with pytest.raises(ValueError, match="group_fd=-3"):
        perfsys.perf_event_open(a, 0, -1, -3)
    with pytest.raises(OverflowError):
        perfsys.perf_event_open(a, 0, -1, -1, -1)
    with pytest.raises(OverflowError):
        perfsys.perf_event_open(a, 0, -1, -1, 2**64)
    with pytest.raises(TypeError, match="pid must be an int, not float"):
        perfsys.perf_event_open(a, 0.0, -1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="cpu must be an int, not str"):
        perfsys.perf_event_open(a, 0, "0")  # type: ignore[arg-type]


def test_bad_group_fd() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY)
    with pytest.raises(OSError) as e:
        perfsys.perf_event_open(a, 0, -1, 1000)
    assert e.value.errno == errno.EBADF and "group_fd 1000" in str(e.value)
    r, w = os.pipe()
    try:
        with pytest.raises(OSError) as e:
            perfsys.perf_event_open(a, 0, -1, r)
        assert e.value.errno == errno.EBADF
    finally:
        os.close(r)
        os.close(w)


def test_no_such_process() -> None:
    with pytest.raises(ProcessLookupError, match="no process 2147483647"):
        perfsys.perf_event_open(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                                        config=C.PERF_COUNT_SW_DUMMY),
                                2**31 - 1, -1)


# -- reads of bad fds ---------------------------------------------------------------


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
    with open(os.devnull, "rb") as null, pytest.raises(OSError, match="returned 0 bytes"):
        perfsys.read_value(null.fileno())
    with pytest.raises(TypeError, match="buffer must be writable"):
        perfsys.read_into(0, b"12345678")


def test_read_short_for_a_pipe() -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"abc")
        with pytest.raises(ValueError, match="returned 3 bytes"):
            perfsys.read_value(r)
    finally:
        os.close(r)
        os.close(w)


def test_fileno_objects_are_accepted() -> None:
    class Holder:
        def __init__(self, fd: int) -> None:
            self.fd = fd

        def fileno(self) -> int:
            return self.fd

    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK)) as fd:
        assert perfsys.read_value(Holder(fd)) > 0  # type: ignore[arg-type]


# -- permission messages ---------------------------------------------------------------


def _paranoid() -> int:
    return int(Path("/proc/sys/kernel/perf_event_paranoid").read_text())


def test_permission_error_says_what_would_allow_it() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run a child as an unprivileged user")
    paranoid = _paranoid()
    if paranoid < 2:
        pytest.skip(f"perf_event_paranoid is {paranoid}: counting the kernel is allowed")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, try twice, report through the pipe
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            lines = []
            a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK)
            for exclude in (0, 1):
                a.exclude_kernel = a.exclude_hv = exclude
                try:
                    os.close(perfsys.perf_event_open(a, 0, -1))
                    lines.append("ALLOWED")
                except PermissionError as e:
                    lines.append(f"DENIED {e}")
            os.write(w, "\n".join(lines).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        out = f.read()
    os.waitpid(pid, 0)
    denied, *rest = out.split("\n")
    assert denied.startswith("DENIED [Errno 13] perf_event_open(type=1, config=0x1, pid=0, cpu=-1")
    assert f"kernel.perf_event_paranoid is {paranoid}" in denied
    assert "CAP_PERFMON" in denied
    if paranoid == 2:
        assert "set exclude_kernel=1" in denied
        assert rest == ["ALLOWED"]


# -- introspection and audit ---------------------------------------------------------


def test_signatures_and_docstrings() -> None:
    import inspect

    funcs = [perfsys.perf_event_open, perfsys.read_value, perfsys.read, perfsys.read_into,
             perfsys.decode_read, perfsys.SelfCounter.read, perfsys.SelfCounter.close]
    funcs += [getattr(perfsys.ioctls, n) for n in perfsys.ioctls.__all__
              if n != "PERF_IOC_FLAG_GROUP"]
    for f in funcs:
        assert inspect.signature(f).parameters is not None
        assert f.__doc__ and len(f.__doc__) > 40, f
    for n in perfsys.ioctls.__all__:
        if n != "PERF_IOC_FLAG_GROUP":
            f = getattr(perfsys.ioctls, n)
            assert (f.__name__, f.__module__) == (n, "perfsys.ioctls")
    assert list(inspect.signature(perfsys.perf_event_open).parameters) == [
        "attr", "pid", "cpu", "group_fd", "flags"]


AUDIT_SCRIPT = """
import os, sys, perfsys
seen = []
def hook(event, args):
    if event.startswith("perfsys."):
        seen.append((event, args[1:] if event == "perfsys.perf_event_open" else args))
        if event == "perfsys.ioctl" and args[1] == "RESET":
            raise RuntimeError("refused by the hook")
sys.addaudithook(hook)
a = perfsys.perf_event_attr(type=1, config=9)
fd = perfsys.perf_event_open(a, 0, -1)
perfsys.ioctls.ENABLE(fd)
try:
    perfsys.ioctls.RESET(fd)
except RuntimeError as e:
    print("blocked:", e)
perfsys.read_value(fd)
print(seen == [("perfsys.perf_event_open", (0, -1, -1, 0)),
               ("perfsys.ioctl", (fd, "ENABLE", None)),
               ("perfsys.ioctl", (fd, "RESET", None))], seen)
"""


def test_audit_events() -> None:
    src = str(Path(perfsys.__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", AUDIT_SCRIPT], env={"PYTHONPATH": src},
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "blocked: refused by the hook"
    assert out.splitlines()[1].startswith("True"), out
