"""Symbol lookups per second: perfsys.symbols against a pure-Python binary search and addr2line.

The addresses are random instruction addresses inside libc's functions as this process
maps them. Side by side, in one run:

  Symbolizer.lookup   mapping, then the file's cached table, by bisect (the whole path
                      from a sample's address to a Symbol)
  SymbolTable.lookup  the file's table alone, given the file's own address
  python bisect       the same table searched by a binary search written in Python
  addr2line -f        binutils' addr2line, all addresses in one process (file addresses)

and the one-time cost of reading libc's symbols (ElfSymbols.from_path).

Run: python3 benchmarks/bench_symbols.py [--lookups N]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from perfsys.symbols import ElfSymbols, Symbolizer, SymbolTable


def python_bisect(table: SymbolTable, addr: int) -> tuple[str, int, int] | None:
    starts, ends = table.starts, table.ends
    lo, hi = 0, len(starts)
    while lo < hi:
        mid = (lo + hi) // 2
        if starts[mid] <= addr:
            lo = mid + 1
        else:
            hi = mid
    i = lo - 1
    if i < 0 or addr >= ends[i]:
        return None
    return table.names[i], starts[i], ends[i] - starts[i]


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds / 1e6:8.3f} M/s"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lookups", type=int, default=200_000)
    args = parser.parse_args()
    ctypes.CDLL(None)
    pid = os.getpid()
    symbolizer = Symbolizer([pid], kernel=False)
    space = symbolizer.spaces[pid]
    libc = next(m for m in space.mappings if "/libc.so" in m.path and m.pgoff == 0).path
    t0 = time.perf_counter()
    elf = ElfSymbols.from_path(libc)
    parse_s = time.perf_counter() - t0
    texts = [m for m in space.mappings if m.path == libc and m.end - m.start > 0]
    rng = random.Random(1)
    runtime: list[int] = []
    while len(runtime) < args.lookups:  # addresses inside libc's functions, as mapped here
        m = rng.choice(texts)
        addr = rng.randrange(m.start, m.end)
        if symbolizer.lookup(pid, addr) is not None:
            runtime.append(addr)
    m_of = [space.find(a) for a in runtime]
    file_addrs = [elf.address(a - m.start + m.pgoff) for a, m in zip(runtime, m_of, strict=True)
                  if m is not None]
    vaddrs = [a for a in file_addrs if a is not None]
    table = elf.table

    rows = []
    t0 = time.perf_counter()
    for a in runtime:
        symbolizer.lookup(pid, a)
    rows.append(("Symbolizer.lookup (address -> Symbol)", len(runtime), time.perf_counter() - t0))
    t0 = time.perf_counter()
    for a in vaddrs:
        table.lookup(a)
    rows.append(("SymbolTable.lookup (bisect)", len(vaddrs), time.perf_counter() - t0))
    t0 = time.perf_counter()
    for a in vaddrs:
        python_bisect(table, a)
    rows.append(("python bisect", len(vaddrs), time.perf_counter() - t0))
    assert all(python_bisect(table, a) == table.lookup(a) for a in vaddrs[:1000])
    tool = shutil.which("addr2line")
    if tool is None:
        print("addr2line: skipped, not installed (binutils)")
    else:
        few = vaddrs[:20_000]
        t0 = time.perf_counter()
        out = subprocess.run([tool, "-f", "-e", libc], input="\n".join(map(hex, few)),
                             capture_output=True, text=True, check=True).stdout
        rows.append(("addr2line -f (one process)", len(few), time.perf_counter() - t0))
        named = sum(n != "??" for n in out.splitlines()[0::2])
        print(f"addr2line named {named} of {len(few)} addresses (from DWARF where debug info "
              "is installed, so often by another alias, e.g. __GI_abort for abort)")
    print(f"libc: {len(table)} functions ({', '.join(elf.sources)}), parsed in "
          f"{parse_s * 1e3:.1f} ms")
    base = rows[0][1] / rows[0][2]
    print(f"{'path':40} {'lookups':>9} {'rate':>12} {'/ Symbolizer':>13}")
    for name, n, secs in rows:
        print(f"{name:40} {n:9d} {rate(n, secs):>12} {n / secs / base:12.2f}x")


if __name__ == "__main__":
    main()
