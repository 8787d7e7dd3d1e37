"""Start-up cost of `import perfsys`, side by side with the bare interpreter.

Each case runs in a fresh interpreter, interleaved with the others, many times; the
table gives the median of two measures:

  wall      the whole process, `python3 -c CODE`, start to exit
  import    what `-X importtime` reports for the top-level imports the code makes
            (cumulative microseconds), the figure the bare interpreter does not pay

Cases: the bare interpreter (`pass`); `import perfsys` using only the raw calls; the same
plus the first use of a generated name (`perfsys.perf_event_attr`: ctypes and the tables);
that again with no bytecode cache for perfsys (the tables compiled on every start); and
the kernel's own binding (`import perf`) where it is importable.

Run: python3 benchmarks/bench_import.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")

ATTR = "import perfsys; perfsys.perf_event_attr"
CASES = {
    "bare interpreter": ("pass", ()),
    "import perfsys": ("import perfsys", ("perfsys",)),
    "+ perf_event_attr": (ATTR, ("perfsys", "perfsys.constants")),
    "+ attr, no bytecode cache": (ATTR, ("perfsys", "perfsys.constants")),
    "import perf (kernel's)": ("import perf", ("perf",)),
}


KERNEL_BINDING: list[str] = []  # --kernel-binding DIR: where the kernel's perf*.so is


def run_once(code: str, modules: tuple[str, ...], nocache: str | None) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, *KERNEL_BINDING])}
    if nocache:  # a copy of the package with no __pycache__, and none written
        env["PYTHONPATH"] = nocache
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], env=env,
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    imported = 0.0
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in modules and not parts[2].startswith("  "):
            imported += int(parts[1])
    # -X importtime indents by nesting depth: a top-level import's name has one space before it
    return wall * 1e3, imported / 1e3


def importable(name: str) -> bool:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, *KERNEL_BINDING])}
    return subprocess.run([sys.executable, "-c", f"import {name}"], env=env,
                          capture_output=True, check=False).returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--kernel-binding", metavar="DIR", action="append", default=[],
                        help="a directory holding the kernel's perf binding (perf*.so)")
    args = parser.parse_args()
    KERNEL_BINDING[:] = args.kernel_binding
    cases = dict(CASES)
    if not importable("perf"):
        print("import perf (the kernel's binding): skipped, not importable here (pass "
              "--kernel-binding DIR; the README says how it is built)")
        del cases["import perf (kernel's)"]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as copy:
        shutil.copytree(Path(SRC) / "perfsys", Path(copy) / "perfsys",
                        ignore=shutil.ignore_patterns("__pycache__"))
        for _ in range(args.runs):
            for name, (code, modules) in cases.items():
                nocache = copy if "no bytecode" in name else None
                results[name].append(run_once(code, modules, nocache))
    bare = statistics.median(w for w, _ in results["bare interpreter"])
    print(f"{'case':28} {'wall ms':>9} {'- bare':>8} {'import ms':>10}")
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        imp = statistics.median(i for _, i in runs)
        print(f"{name:28} {wall:9.2f} {wall - bare:8.2f} {imp:10.2f}")


if __name__ == "__main__":
    main()
