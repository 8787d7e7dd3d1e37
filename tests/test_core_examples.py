"""The examples/ scripts run and print what they should."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from support import DEVICES, TRACEFS, run_example


def count(out: str, name: str) -> int:
    m = re.search(rf"([\d,.]+)\s+(?:msec )?{re.escape(name)}\b", out)
    assert m, (name, out)
    return int(float(m.group(1).replace(",", "")))


def test_count_software_builtin_workload() -> None:
    out = run_example("count_software.py")
    assert count(out, "page-faults") >= 2048  # it touches 8 MiB of fresh pages
    assert count(out, "task-clock") > 0


def test_count_software_command() -> None:
    out = run_example("count_software.py", "--", sys.executable, "-c",
                      "import time; [time.sleep(0.001) for _ in range(20)]")
    assert count(out, "task-clock") > 0
    if "user mode only" not in out:
        assert count(out, "context-switches") >= 20


def test_watch_variable() -> None:
    out = run_example("watch_variable.py")
    assert out.splitlines() == [
        "10 writes to first (10 made)",
        "13 writes in all after moving it to second (3 more)",
    ]


def test_count_tracepoint() -> None:
    if not (TRACEFS / "events/syscalls/sys_enter_write/id").exists():
        pytest.skip("no syscalls:sys_enter_write tracepoint in tracefs")
    out = run_example("count_tracepoint.py", "syscalls:sys_enter_write",
                      "--filter", "fd == 7", "--", sys.executable, "-c",
                      "import os; fd = os.open(os.devnull, os.O_WRONLY); os.dup2(fd, 7);"
                      "[os.write(7, b'x') for _ in range(13)]")
    assert out.strip() == "13 syscalls:sys_enter_write [fd == 7]"


def test_count_uprobe_on_libc() -> None:
    libc = next((line.split()[-1] for line in Path("/proc/self/maps").read_text().splitlines()
                 if re.search(r"/libc[.-][^/]*so", line)), None)
    if libc is None or not (DEVICES / "uprobe").exists():
        pytest.skip("no uprobe PMU or no libc mapped")
    out = run_example("count_uprobe.py", libc, "getpid", "--",
                      sys.executable, "-c", "import os; [os.getpid() for _ in range(25)]")
    n = int(out.split()[0].replace(",", ""))
    assert n >= 25, out
