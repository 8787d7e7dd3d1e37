"""Print each program a command runs (itself, its children's and their children's),
from the RAW payload of the sched:sched_process_exec tracepoint (needs root, or
kernel.perf_event_paranoid -1).

    python3 examples/trace_exec.py -- sh -c 'ls; date'
"""

import sys

from perfsys import constants as C
from perfsys.launch import PausedCommand
from perfsys.sampler import Sampler
from perfsys.tracefs import TracepointFormat

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
exec_format = TracepointFormat.load("sched:sched_process_exec")
with PausedCommand(argv) as cmd, Sampler(
        "sched:sched_process_exec", process=cmd.pid, period=1, enable_on_exec=True,
        sample_type=C.PERF_SAMPLE_RAW | C.PERF_SAMPLE_TID) as sampler:
    cmd.start()
    for sample in sampler:
        fields = exec_format.decode(sample.raw)
        print(f"{fields['pid']:>8} exec {fields['filename']}", flush=True)
sys.exit(cmd.wait())
