"""Time one counter read through perfsys, os.read + int.from_bytes, and a C loop.

    python3 benchmarks/bench_read.py [--iterations N] [--repeat R] [--no-variants]

Opens one task-clock counter on this thread and reads it N times per run (best
of R runs) through each path, side by side in one run; the C floor opens the
same counter on its own thread and reads it in a loop compiled here with cc. With variants (the
default, needs cc and the Python headers), the extension is also compiled with
the full API and with the GIL held around read(2) (what the reads did before they
released it), and each is loaded as a
separate module instance and timed the same way.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import perfsys  # noqa: E402
from perfsys import constants as C  # noqa: E402


def best_ns(loop: Callable[[int], None], n: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        loop(n)
        best = min(best, (time.perf_counter_ns() - t0) / n)
    return best


def loops(mod: ModuleType, fd: int) -> dict[str, Callable[[int], None]]:
    read_value, read, read_into = mod.read_value, mod.read, mod.read_into
    te_tr = C.PERF_FORMAT_TOTAL_TIME_ENABLED | C.PERF_FORMAT_TOTAL_TIME_RUNNING
    buf = bytearray(8)

    def v(n: int) -> None:
        for _ in range(n):
            read_value(fd)

    def r(n: int) -> None:
        for _ in range(n):
            read(fd)

    def into(n: int) -> None:
        for _ in range(n):
            read_into(fd, buf)

    out = {"read_value(fd)": v, "read(fd) -> CounterValue": r, "read_into(fd, buf)": into}
    if mod is perfsys._perfsys:
        fd2 = perfsys.perf_event_open(task_clock(te_tr), 0, -1)

        def r3(n: int) -> None:
            for _ in range(n):
                read(fd2, te_tr)

        out["read(fd, ENABLED|RUNNING)"] = r3
    return out


def task_clock(read_format: int = 0) -> perfsys.perf_event_attr:
    a = perfsys.perf_event_attr()
    a.type = C.PERF_TYPE_SOFTWARE
    a.config = C.PERF_COUNT_SW_TASK_CLOCK
    a.read_format = read_format
    a.exclude_kernel = 1
    a.exclude_hv = 1
    return a


def build_variant(tmp: Path, name: str, defines: list[str]) -> ModuleType | None:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    inc = sysconfig.get_paths()["include"]
    if cc is None or not (Path(inc) / "Python.h").exists():
        return None
    so = tmp / f"_perfsys_{name}.so"
    cmd = [cc, "-shared", "-fPIC", "-O3", "-std=gnu11", f"-I{inc}", *defines,
           str(ROOT / "src" / "_perfsys.c"), "-o", str(so)]
    if subprocess.run(cmd, capture_output=True).returncode != 0:
        return None
    loader = importlib.machinery.ExtensionFileLoader("perfsys._perfsys", str(so))
    spec = importlib.util.spec_from_file_location("perfsys._perfsys", so, loader=loader)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def c_floor(tmp: Path, n: int, repeat: int) -> float | None:
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        return None
    exe = tmp / "floor_read"
    subprocess.run([cc, "-O2", "-o", str(exe), str(ROOT / "benchmarks" / "floor_read.c")],
                   check=True)
    best = float("inf")
    for _ in range(repeat):
        # the same counter, on the C program's own thread
        args = [str(exe), str(C.PERF_TYPE_SOFTWARE), str(C.PERF_COUNT_SW_TASK_CLOCK), str(n)]
        out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        best = min(best, float(out.split()[0]))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-variants", action="store_true")
    args = ap.parse_args()
    n, rep = args.iterations, args.repeat

    fd = perfsys.perf_event_open(task_clock(), 0, -1)
    rows: list[tuple[str, float]] = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        floor = c_floor(tmp, n, rep)
        if floor is not None:
            rows.append(("C loop: read(2) (the floor)", floor))

        def empty(k: int) -> None:
            for _ in range(k):
                pass

        rows.append(("Python loop alone (no read)", best_ns(empty, n, rep)))
        os_read, from_bytes = os.read, int.from_bytes

        def osr(k: int) -> None:
            for _ in range(k):
                from_bytes(os_read(fd, 8), "little")

        rows.append(("os.read(fd, 8) + int.from_bytes", best_ns(osr, n, rep)))
        for label, loop in loops(perfsys._perfsys, fd).items():
            rows.append((f"perfsys.{label}", best_ns(loop, n, rep)))
        with perfsys.SelfCounter(fd) as counter:
            sread = counter.read

            def self_read(k: int) -> None:
                for _ in range(k):
                    sread()

            path = counter.read()[3]
            rows.append((f"perfsys.SelfCounter.read() [{path}]", best_ns(self_read, n, rep)))
        if not args.no_variants:
            limited = ["-DPy_LIMITED_API=0x030B0000"]
            for name, defines in [
                ("full API build", []),
                ("limited API, GIL held", [*limited, "-DPERFSYS_READ_RELEASES_GIL=0"]),
            ]:
                mod = build_variant(tmp, name.replace(" ", "_").replace(",", ""), defines)
                if mod is None:
                    continue
                loop = loops(mod, fd)["read_value(fd)"]
                rows.append((f"perfsys.read_value(fd) [{name}]", best_ns(loop, n, rep)))
    os.close(fd)

    osread = next(ns for label, ns in rows if label.startswith("os.read"))
    print(f"{n} reads of one task-clock counter, best of {rep} runs, "
          f"Python {sys.version.split()[0]}, {os.uname().machine}, Linux {os.uname().release}")
    print()
    print(f"| {'path':<52} | {'ns/read':>8} | {'- C floor':>9} | {'/ os.read':>9} |")
    print(f"|{'-' * 54}|{'-' * 10}:|{'-' * 10}:|{'-' * 10}:|")
    for label, ns in rows:
        over = f"{ns - floor:+.1f}" if floor is not None else "n/a"
        print(f"| {label:<52} | {ns:8.1f} | {over:>9} | {ns / osread:9.2f} |")


if __name__ == "__main__":
    main()
