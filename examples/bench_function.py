"""Count a function's events over N runs, pyperf-style: mean and standard deviation.

    python3 examples/bench_function.py [RUNS]

Counts kernel mode too (root, or kernel.perf_event_paranoid <= 1); add exclude_kernel=1
to the Group to count user mode only.
"""

import statistics
import sys

from perfsys.group import Group


def work() -> None:
    sorted(str(i) for i in range(20_000))


runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
readings = []
with Group("task-clock,page-faults,context-switches") as group:
    work()                                      # warm-up, not counted
    group.enable()
    for _ in range(runs):
        before = group.read()
        work()
        readings.append(group.read() - before)  # the deltas of one run, scaled
for name in group.names:
    values = [r[name] for r in readings]
    print(f"{name:>18}: {statistics.mean(values):14.1f} +- {statistics.stdev(values):10.1f}"
          f"  ({runs} runs)")
