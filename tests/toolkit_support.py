"""A workload shared by the tests of perfsys.group, perfsys.sampler and the examples."""

from __future__ import annotations

import time

SPIN = 0.1
"""Seconds of CPU time each thread of THREADS_LATER spends."""

THREADS_LATER = f"""
import sys, threading, time
def spin():
    end = time.thread_time() + {SPIN}
    while time.thread_time() < end:
        pass
ts = [threading.Thread(target=spin) for _ in range(3)]
[t.start() for t in ts]
spin()
[t.join() for t in ts]
if len(sys.argv) > 1:
    with open(sys.argv[1], "w") as f:
        f.write(" ".join(str(t.native_id) for t in ts))
"""
"""A Python program whose main thread starts three threads once it runs; each of the four
spends SPIN seconds of CPU time; the started threads' ids go to the file argv[1] names."""


def spin_cpu(seconds: float) -> None:
    """Busy-loop until this thread has run `seconds` on a CPU (however loaded the machine)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
