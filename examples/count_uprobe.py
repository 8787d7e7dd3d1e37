"""Count calls of a function in a binary or library with a uprobe.

    python3 examples/count_uprobe.py /lib/x86_64-linux-gnu/libc.so.6 malloc -- ls /
    python3 examples/count_uprobe.py --ret ./a.out my_function -- ./a.out

The uprobe PMU's type comes from /sys/bus/event_source/devices/uprobe/type;
config1 points at the path, config2 is the function's offset in the file (read
here from the ELF symbol tables: .symtab, else .dynsym); bit 0 of config (the
PMU's "retprobe" format) probes returns instead. Needs root (or CAP_PERFMON).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import struct
from pathlib import Path

from _run import run_counted

import perfsys


def file_offset(path: Path, symbol: str) -> int:
    """The file offset of a function, from an ELF64 little-endian file."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise SystemExit(f"{path}: not a 64-bit little-endian ELF file")
    e_phoff, e_shoff = struct.unpack_from("<QQ", data, 0x20)
    e_phentsize, e_phnum, e_shentsize, e_shnum = struct.unpack_from("<HHHH", data, 0x36)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, e_shoff + i * e_shentsize)
                for i in range(e_shnum)]
    want = symbol.encode()
    for table in (2, 11):  # SHT_SYMTAB, then SHT_DYNSYM
        for sh in sections:
            if sh[1] != table:
                continue
            strtab = sections[sh[6]][4]
            for off in range(sh[4], sh[4] + sh[5], sh[9]):
                name, info, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", data, off)
                end = data.index(b"\0", strtab + name)
                if data[strtab + name:end] == want and shndx != 0 and info & 0xF == 2:
                    for i in range(e_phnum):
                        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
                            "<IIQQQQ", data, e_phoff + i * e_phentsize)
                        if p_type == 1 and p_vaddr <= value < p_vaddr + p_filesz:
                            return value - p_vaddr + p_offset
    raise SystemExit(f"{path}: no function {symbol!r} in its symbol tables")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ret", action="store_true", help="probe returns (retprobe)")
    ap.add_argument("binary", type=Path)
    ap.add_argument("function")
    ap.add_argument("command", nargs="+")
    args = ap.parse_args()
    pmu = int(Path("/sys/bus/event_source/devices/uprobe/type").read_text())
    path = ctypes.create_string_buffer(str(args.binary.resolve()).encode())

    def open_counter(pid: int) -> list[int]:
        a = perfsys.perf_event_attr()
        a.type = pmu
        a.config = 1 if args.ret else 0
        a.config1 = ctypes.addressof(path)  # the kernel copies the string at open
        a.config2 = file_offset(args.binary, args.function)
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
