"""perf_event_open: whom and where it counts, its flags, attr buffers, its errors."""

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
from support import TE, opened, spin, touch_pages

import perfsys
from perfsys import constants as C

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
            spin(0.005)
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
    struct.pack_into("=IIQ", raw, 0, C.PERF_TYPE_SOFTWARE, 0, C.PERF_COUNT_SW_DUMMY)
    fd = perfsys.perf_event_open(raw, 0, -1)
    os.close(fd)


@pytest.mark.parametrize("size", [64, 72, 80, 96, 104, 112, 120, 128])
def test_every_older_attr_size_is_accepted(size: int) -> None:
    raw = bytearray(size)  # PERF_ATTR_SIZE_VER0..VER8: the kernel zero-fills the rest
    struct.pack_into("=IIQ", raw, 0, C.PERF_TYPE_SOFTWARE, size, C.PERF_COUNT_SW_PAGE_FAULTS)
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
    struct.pack_into("=II", raw, 0, C.PERF_TYPE_SOFTWARE, 120)
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
    struct.pack_into("=IIQ", raw, 0, C.PERF_TYPE_SOFTWARE, 4096, C.PERF_COUNT_SW_DUMMY)
    raw[4000] = 1  # a field no kernel has
    with pytest.raises(OSError) as e:
        perfsys.perf_event_open(raw, 0, -1)
    written = struct.unpack_from("=I", raw, 4)[0]
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
    with pytest.raises(ValueError, match="group_fd must be a file descriptor"):
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


# -- permission messages ---------------------------------------------------------------


def _paranoid() -> int:
    return int(Path("/proc/sys/kernel/perf_event_paranoid").read_text())


@pytest.mark.thread_unsafe(reason="forks, and a child forked beside other running threads "
                                  "may find a lock one of them held")
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
