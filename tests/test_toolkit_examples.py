"""The examples built on perfsys.group, perfsys.sampler and perfsys.launch run and print
what they should (trace_exec.py is in test_toolkit_tracefs.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from support import ROOT, run_example


def test_examples_are_short() -> None:
    for name in ("bench_function.py", "profile_process.py", "trace_exec.py"):
        code = [line for line in (ROOT / "examples" / name).read_text().split('"""', 2)[2]
                .splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(code) <= 25, (name, len(code))


def test_bench_function() -> None:
    out = run_example("bench_function.py", "5")
    rows = {m[1]: (float(m[2]), float(m[3]))
            for m in re.finditer(r"^\s*([\w-]+): +([\d.]+) \+- +([\d.]+)  \(5 runs\)$", out, re.M)}
    assert set(rows) == {"task-clock", "page-faults", "context-switches"}, out
    assert rows["task-clock"][0] > 0


THREADS = """
import threading, time
def spin():
    end = time.thread_time() + 0.1
    while time.thread_time() < end:
        pass
ts = [threading.Thread(target=spin) for _ in range(2)]
[t.start() for t in ts]
[t.join() for t in ts]
"""


def test_profile_process(tmp_path: Path) -> None:
    out = run_example("profile_process.py", "--", sys.executable, "-c", THREADS)
    assert out.startswith("exit status 0, ")
    threads = re.findall(r"^  thread (\d+): (\d+) samples$", out, re.M)
    assert len(threads) >= 2, out        # both threads, started after the sampling began
    assert len(re.findall(r"^  0x[0-9a-f]{16}  \d+$", out, re.M)) == 5
