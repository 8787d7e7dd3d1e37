"""Count calls of a function in a binary or library with a uprobe.

    python3 examples/count_uprobe.py /lib/x86_64-linux-gnu/libc.so.6 malloc -- ls /
    python3 examples/count_uprobe.py --ret ./a.out my_function -- ./a.out

The uprobe PMU's type comes from /sys/bus/event_source/devices/uprobe/type;
config1 points at the path, config2 is the function's offset in the file (found
by perfsys.events.elf_symbol_offset in .symtab, else .dynsym); bit 0 of config (the
PMU's "retprobe" format) probes returns instead. Needs root (or CAP_PERFMON).
"""

from __future__ import annotations

import argparse
import ctypes
import os
from pathlib import Path

from _run import run_counted

import perfsys
from perfsys.events import elf_symbol_offset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ret", action="store_true", help="probe returns (retprobe)")
    ap.add_argument("binary", type=Path)
    ap.add_argument("function")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    pmu = int(Path("/sys/bus/event_source/devices/uprobe/type").read_text())
    path = ctypes.create_string_buffer(str(args.binary.resolve()).encode())
    try:
        offset = elf_symbol_offset(args.binary, args.function)
    except ValueError as err:
        raise SystemExit(str(err)) from None

    def open_counter(pid: int) -> list[int]:
        a = perfsys.perf_event_attr()
        a.type = pmu
        a.config = 1 if args.ret else 0
        a.config1 = ctypes.addressof(path)  # the kernel copies the string at open
        a.config2 = offset
        a.disabled = 1
        a.enable_on_exec = 1
        a.inherit = 1
        return [perfsys.perf_event_open(a, pid, -1)]

    (fd,) = run_counted(args.command, open_counter)
    print(f"{perfsys.read_value(fd):,} {'returns from' if args.ret else 'calls of'} "
          f"{args.function} in {args.binary}")
    os.close(fd)


if __name__ == "__main__":
    main()
