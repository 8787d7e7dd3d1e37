"""Profile a Python script by sampling its main thread, and write its stacks collapsed
("root;caller;callee COUNT" lines, as flamegraph.pl, speedscope and inferno read them),
with Python functions named.

    python3.12 examples/profile_python.py [-o OUT] [--hz N] [--python-only] SCRIPT [ARG...]

CPython 3.12 and newer, after ``sys.activate_stack_trampoline("perf")``, call every Python
function through a small piece of machine code of its own and list those pieces in
``/tmp/perf-PID.map`` as ``py::FUNCTION:FILE``. A cpu-clock event samples the thread with
its user-space callchain (the kernel walks the frame pointers), RingBuffer.read_columns()
and perfsys.count_callchains() count the distinct chains in C, perfsys.symbols names each
address (the JIT map for trampolines, ELF symbols for the interpreter and libraries).
How deep the stacks are depends on the interpreter:
see the README ("Python stacks"), a build without frame pointers loses frames.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import threading
from collections import Counter

import perfsys
from perfsys import constants as C
from perfsys import ioctls
from perfsys.symbols import CONTEXT_MARKERS, Symbolizer


def open_sampler(hz: int) -> tuple[int, perfsys.Decoder]:
    attr = perfsys.perf_event_attr(
        type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_CPU_CLOCK, freq=1, sample_freq=hz,
        sample_type=C.PERF_SAMPLE_CALLCHAIN,
        exclude_kernel=1, exclude_hv=1, exclude_callchain_kernel=1, disabled=1,
        mmap=1, mmap2=1, task=1, sample_id_all=1, wakeup_events=32,
    )
    return perfsys.perf_event_open(attr, 0, -1, -1, C.PERF_FLAG_FD_CLOEXEC), perfsys.Decoder(attr)


def frame_name(symbolizer: Symbolizer, pid: int, ip: int) -> str:
    sym = symbolizer.lookup(pid, ip)
    return "[unknown]" if sym is None else sym.name


def collapse(chains: Counter[tuple[int, ...]], symbolizer: Symbolizer, pid: int,
             python_only: bool) -> Counter[str]:
    """Each distinct callchain (leaf first) as "root;...;leaf", counts summed."""
    stacks: Counter[str] = Counter()
    for chain, count in chains.items():
        names = [frame_name(symbolizer, pid, ip) for ip in reversed(chain) if ip < CONTEXT_MARKERS]
        if python_only:
            names = [n for n in names if n.startswith("py::")]
        if names:
            stacks[";".join(names)] += count
    return stacks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default="-", help="collapsed stacks (default: stdout)")
    parser.add_argument("--hz", type=int, default=999, help="samples per second of CPU time")
    parser.add_argument("--python-only", action="store_true", help="keep only py:: frames")
    parser.add_argument("script")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args(argv)
    if not hasattr(sys, "activate_stack_trampoline"):
        print(f"Python {sys.version.split()[0]} has no perf trampoline: CPython 3.12 or newer "
              "on Linux is needed", file=sys.stderr)
        return 2
    sys.activate_stack_trampoline("perf")
    pid = os.getpid()
    symbolizer = Symbolizer([pid], kernel=False)
    chains: Counter[tuple[int, ...]] = Counter()
    fd, decoder = open_sampler(opts.hz)
    done = threading.Event()

    def drain(ring: perfsys.RingBuffer) -> None:
        cols = ring.read_columns(decoder=decoder)  # samples into columns, in C
        assert cols.callchain_offsets is not None and cols.callchain is not None
        chains.update(perfsys.count_callchains(cols.callchain_offsets, cols.callchain))
        for r in cols.records:  # MMAP2 and the like
            symbolizer.feed(r)

    def drainer(ring: perfsys.RingBuffer) -> None:
        while not done.wait(0.05):
            drain(ring)

    sys.argv = [opts.script, *opts.args]
    try:
        with perfsys.RingBuffer(fd, 256) as ring:
            thread = threading.Thread(target=drainer, args=(ring,), daemon=True)
            thread.start()
            ioctls.ENABLE(fd)
            try:
                runpy.run_path(opts.script, run_name="__main__")
            finally:
                ioctls.DISABLE(fd)
                done.set()
                thread.join()
                drain(ring)
                lost = ring.lost
    finally:
        os.close(fd)
    stacks = collapse(chains, symbolizer, pid, opts.python_only)
    lines = "".join(f"{stack} {count}\n" for stack, count in sorted(stacks.items()))
    if opts.output == "-":
        sys.stdout.write(lines)
    else:
        with open(opts.output, "w") as f:
            f.write(lines)
    print(f"{sum(chains.values())} samples, {len(chains)} distinct stacks, {lost} lost",
          file=sys.stderr)
    sys.deactivate_stack_trampoline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
