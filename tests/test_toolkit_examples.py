"""The examples built on perfsys.group, perfsys.sampler and perfsys.launch run and print
what they should (trace_exec.py is in test_toolkit_tracefs.py)."""

from __future__ import annotations

import re
import sys

from support import THREADS_LATER, run_example, source_tree


def test_examples_are_short() -> None:
    examples = source_tree("the examples' length") / "examples"
    for name in ("bench_function.py", "profile_process.py", "trace_exec.py"):
        code = [line for line in (examples / name).read_text().split('"""', 2)[2]
                .splitlines() if line.strip() and not line.lstrip().startswith("#")]
        assert len(code) <= 25, (name, len(code))


def test_bench_function() -> None:
    out = run_example("bench_function.py", "5")
    rows = {m[1]: (float(m[2]), float(m[3]))
            for m in re.finditer(r"^\s*([\w-]+): +([\d.]+) \+- +([\d.]+)  \(5 runs\)$", out, re.M)}
    assert set(rows) == {"task-clock", "page-faults", "context-switches"}, out
    assert rows["task-clock"][0] > 0


def test_profile_process() -> None:
    out = run_example("profile_process.py", "--", sys.executable, "-c", THREADS_LATER)
    assert out.startswith("exit status 0, ")
    threads = re.findall(r"^  thread (\d+): (\d+) samples$", out, re.M)
    assert len(threads) == 4, out        # all four, three started after the sampling began
    assert len(re.findall(r"^  0x[0-9a-f]{16}  \d+$", out, re.M)) == 5
