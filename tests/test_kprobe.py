"""kprobes and kretprobes through the kprobe PMU (perf_event_open of type kprobe), by
perf's syntax and by a raw attr, counting calls of a kernel function the test makes.
They skip where the kernel has no kprobe PMU; `tools/vmtest.sh kprobe` runs them in an
emulated arm64 machine whose Debian kernel has one."""

from __future__ import annotations

import ctypes
import errno
import os
import re
from pathlib import Path

import pytest
from support import DEVICES, SYS_NR, perf_event_open, syscall

import perfsys
from perfsys.events import FormatField, parse_event

pytestmark = pytest.mark.kprobe

CALLS = 25


def _kprobe_pmu() -> tuple[int, FormatField]:
    """The kprobe PMU's type and its retprobe format term."""
    d = DEVICES / "kprobe"
    if not (d / "type").exists():
        pytest.skip(f"no kprobe PMU ({d})")
    return int((d / "type").read_text()), FormatField.parse(
        "retprobe", (d / "format" / "retprobe").read_text())


def _getppid_function() -> str:
    """The kernel function behind getppid(2) on this machine (its syscall wrapper)."""
    if "getppid" not in SYS_NR:
        pytest.skip("no system call numbers for this machine in tests/support.py")
    try:
        text = Path("/proc/kallsyms").read_text()
    except OSError as e:
        pytest.skip(f"/proc/kallsyms unreadable: {e.strerror}")
    m = re.search(r"^\S+ [Tt] (__\w+_sys_getppid)$", text, re.M)
    if m is None:
        pytest.skip("no __<arch>_sys_getppid in /proc/kallsyms")
    return m.group(1)


def _count_calls(fd: int, calls: int) -> int:
    """Enable fd, make `calls` getppid(2) calls, disable it; the count it read."""
    syscall("getppid")  # the first call outside the window
    perfsys.ioctls.RESET(fd)
    perfsys.ioctls.ENABLE(fd)
    for _ in range(calls):
        syscall("getppid")
    perfsys.ioctls.DISABLE(fd)
    return perfsys.read_value(fd)


def _check_counts(fd: int) -> None:
    try:
        # the event is this thread's: the calls it makes, and no other process's
        assert _count_calls(fd, CALLS) == CALLS
        assert _count_calls(fd, 2 * CALLS) == 2 * CALLS
    finally:
        os.close(fd)


@pytest.mark.parametrize("kind", ["kprobe", "kretprobe"])
def test_probe_by_perf_syntax(kind: str) -> None:
    _kprobe_pmu()
    func = _getppid_function()
    spec = parse_event(f"{kind}:{func}")
    assert spec.pmu == "kprobe"
    _check_counts(perf_event_open(spec.attr(disabled=1), 0, -1))


@pytest.mark.parametrize("retprobe", [0, 1])
def test_probe_by_raw_attr(retprobe: int) -> None:
    kprobe_type, retprobe_term = _kprobe_pmu()
    func = ctypes.create_string_buffer(_getppid_function().encode())
    a = perfsys.perf_event_attr(type=kprobe_type, disabled=1,
                                config=retprobe_term.insert(0, retprobe),
                                kprobe_func=ctypes.addressof(func), probe_offset=0)
    _check_counts(perf_event_open(a, 0, -1))


def test_probe_of_a_missing_function() -> None:
    kprobe_type, _ = _kprobe_pmu()
    func = ctypes.create_string_buffer(b"perfsys_no_such_kernel_function")
    a = perfsys.perf_event_attr(type=kprobe_type, kprobe_func=ctypes.addressof(func))
    with pytest.raises(OSError) as e:
        perf_event_open(a, 0, -1)
    assert e.value.errno in (errno.ENOENT, errno.EINVAL)
