"""Count the kernel's software events for a workload, like `perf stat`.

    python3 examples/count_software.py                 # a built-in Python workload
    python3 examples/count_software.py -- sleep 0.1    # a command

For a command, the counters are opened on a forked child before it execs
(enable_on_exec, inherit), so they count the command and its children only.
Kernel-mode activity is included when perf_event_paranoid allows it (root, or
paranoid <= 1); otherwise the counters fall back to user mode only
(exclude_kernel=1), and events that happen in the kernel (context-switches,
cpu-migrations) read 0.
"""

from __future__ import annotations

import mmap
import os
import sys
import time

from _run import run_counted

import perfsys
from perfsys import constants as C

EVENTS = [
    ("task-clock", C.PERF_COUNT_SW_TASK_CLOCK),
    ("context-switches", C.PERF_COUNT_SW_CONTEXT_SWITCHES),
    ("cpu-migrations", C.PERF_COUNT_SW_CPU_MIGRATIONS),
    ("page-faults", C.PERF_COUNT_SW_PAGE_FAULTS),
    ("minor-faults", C.PERF_COUNT_SW_PAGE_FAULTS_MIN),
    ("major-faults", C.PERF_COUNT_SW_PAGE_FAULTS_MAJ),
    ("alignment-faults", C.PERF_COUNT_SW_ALIGNMENT_FAULTS),
    ("emulation-faults", C.PERF_COUNT_SW_EMULATION_FAULTS),
]
READ_FORMAT = C.PERF_FORMAT_TOTAL_TIME_ENABLED | C.PERF_FORMAT_TOTAL_TIME_RUNNING


def attr(config: int, exclude_kernel: int, for_exec: bool) -> perfsys.perf_event_attr:
    a = perfsys.perf_event_attr()
    a.type = C.PERF_TYPE_SOFTWARE
    a.config = config
    a.read_format = READ_FORMAT
    a.disabled = 1
    a.exclude_kernel = exclude_kernel
    a.exclude_hv = 1
    a.inherit = int(for_exec)
    a.enable_on_exec = int(for_exec)
    return a


def open_all(pid: int, for_exec: bool) -> tuple[list[int], bool]:
    """One fd per event; tries kernel mode first, then user mode only."""
    for exclude_kernel in (0, 1):
        fds: list[int] = []
        try:
            for _, config in EVENTS:
                a = attr(config, exclude_kernel, for_exec)
                fds.append(perfsys.perf_event_open(a, pid, -1, flags=C.PERF_FLAG_FD_CLOEXEC))
            return fds, bool(exclude_kernel)
        except PermissionError as e:
            for fd in fds:
                os.close(fd)
            if exclude_kernel:
                raise
            print(f"# {e}\n# counting user mode only", file=sys.stderr)
    raise AssertionError("unreachable")


def workload() -> None:
    """Some CPU work, a few MiB of fresh memory, and a few sleeps."""
    sorted(range(300_000), key=lambda i: (i * 7919) % 1000)
    with mmap.mmap(-1, 8 << 20) as m:
        for off in range(0, len(m), mmap.PAGESIZE):
            m[off] = 1
    for _ in range(5):
        time.sleep(0.002)


def run_command(argv: list[str]) -> tuple[list[int], bool, float]:
    user_only, t0 = False, 0.0

    def open_counters(pid: int) -> list[int]:
        nonlocal user_only, t0
        fds, user_only = open_all(pid, for_exec=True)
        t0 = time.perf_counter()  # the command starts when run_counted lets it go
        return fds

    fds = run_counted(argv, open_counters)
    return fds, user_only, time.perf_counter() - t0


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if argv:
        fds, user_only, elapsed = run_command(argv)
        what = " ".join(argv)
    else:
        fds, user_only = open_all(0, for_exec=False)
        for fd in fds:
            perfsys.ioctls.ENABLE(fd)
        t0 = time.perf_counter()
        workload()
        elapsed = time.perf_counter() - t0
        for fd in fds:
            perfsys.ioctls.DISABLE(fd)
        what = "the built-in workload"
    print(f"\n Software event counts for {what}"
          f"{' (user mode only)' if user_only else ''}:\n")
    for (name, _), fd in zip(EVENTS, fds, strict=True):
        v = perfsys.read(fd, READ_FORMAT)
        os.close(fd)
        scaled = v.value
        if v.time_running and v.time_running < v.time_enabled:
            scaled = v.value * v.time_enabled // v.time_running  # multiplexed
        if name == "task-clock":
            print(f"{scaled / 1e6:18.2f} msec {name}")
        else:
            print(f"{scaled:18,}      {name}")
    print(f"\n{elapsed:18.6f} seconds time elapsed\n")


if __name__ == "__main__":
    main()
