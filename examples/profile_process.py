"""Profile every thread of a command (threads it starts later too): samples per thread,
and its hottest instruction addresses.

    python3 examples/profile_process.py -- COMMAND [ARG...]
"""

import collections
import sys

from perfsys.launch import PausedCommand
from perfsys.sampler import Sampler

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
threads: collections.Counter[int] = collections.Counter()
ips: collections.Counter[int] = collections.Counter()
with PausedCommand(argv) as cmd, Sampler("cpu-clock", process=cmd.pid, freq=1000,
                                         enable_on_exec=True) as sampler:
    cmd.start()
    for sample in sampler:                      # time-ordered, until the command exits
        threads[sample.tid] += 1
        ips[sample.ip] += 1
print(f"exit status {cmd.wait()}, {sum(threads.values())} samples, {sampler.lost} lost")
for tid, n in sorted(threads.items()):
    print(f"  thread {tid}: {n} samples")
for ip, n in ips.most_common(5):
    print(f"  {ip:#018x}  {n}")
