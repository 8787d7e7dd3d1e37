"""Count a tracepoint's hits in a command, optionally through a filter.

    python3 examples/count_tracepoint.py syscalls:sys_enter_openat -- ls /
    python3 examples/count_tracepoint.py sched:sched_switch --filter 'prev_state == 1' -- sleep 0.1

The tracepoint's id comes from tracefs (/sys/kernel/tracing/events/GROUP/NAME/id,
readable by root). A tracepoint counts kernel activity, so the event needs
perf_event_paranoid <= 1 or CAP_PERFMON as well.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from _run import run_counted

import perfsys
from perfsys import constants as C


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tracepoint", help="GROUP:NAME, e.g. syscalls:sys_enter_openat")
    ap.add_argument("--filter", help="a tracepoint filter, e.g. 'common_pid != 0'")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    group, name = args.tracepoint.split(":")
    tp_id = int(Path(f"/sys/kernel/tracing/events/{group}/{name}/id").read_text())

    def open_counter(pid: int) -> list[int]:
        a = perfsys.perf_event_attr()
        a.type = C.PERF_TYPE_TRACEPOINT
        a.config = tp_id
        a.disabled = 1
        a.enable_on_exec = 1
        a.inherit = 1
        fd = perfsys.perf_event_open(a, pid, -1, flags=C.PERF_FLAG_FD_CLOEXEC)
        if args.filter:
            perfsys.ioctls.SET_FILTER(fd, args.filter)
        return [fd]

    (fd,) = run_counted(args.command, open_counter)
    print(f"{perfsys.read_value(fd):,} {args.tracepoint}"
          f"{f' [{args.filter}]' if args.filter else ''}")
    os.close(fd)


if __name__ == "__main__":
    main()
