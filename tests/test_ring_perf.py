"""Cross-check with perf itself: the same program, sampled on the same tracepoint with the
same sample_type, gives the same samples through perfsys.RingBuffer as through
`perf record` + `perf script`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import (
    RECORD_SAMPLE,
    SAMPLE_CPU,
    SAMPLE_IP,
    SAMPLE_PERIOD,
    SAMPLE_RAW,
    SAMPLE_TID,
    SAMPLE_TIME,
    SYS_NR,
    Sample,
    open_getpid_tracepoint,
    parse_sample,
    require_tracepoint_id,
    tracepoint_fields,
)

import perfsys
from perfsys import ioctls

PERF = shutil.which("perf")
N = 300
PROGRAM = r"""
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1;
    for (long i = 0; i < n; i++)
        syscall(SYS_getpid);
    return 0;
}
"""

_BITS = {
    "IP": SAMPLE_IP,
    "TID": SAMPLE_TID,
    "TIME": SAMPLE_TIME,
    "CPU": SAMPLE_CPU,
    "PERIOD": SAMPLE_PERIOD,
    "RAW": SAMPLE_RAW,
    "ID": 1 << 6,
    "STREAM_ID": 1 << 9,
    "IDENTIFIER": 1 << 16,
}


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if PERF is None:
        pytest.skip("no perf binary on PATH (tools/bootstrap.sh installs linux-perf)")
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to build the workload")
    d = tmp_path_factory.mktemp("getpidn")
    (d / "getpidn.c").write_text(PROGRAM)
    exe = d / "getpidn"
    subprocess.run([cc, "-O1", "-o", str(exe), str(d / "getpidn.c")], check=True)
    return exe


def _perf_samples(program: Path, tmp: Path) -> tuple[int, list[Sample]]:
    """Record with perf, then read the samples back through `perf script -D`."""
    assert PERF is not None
    data = tmp / "perf.data"
    # (without LD_PRELOAD: a preloaded library, such as a sanitizer's runtime, may call
    # getpid itself)
    subprocess.run(
        [PERF, "record", "-q", "-e", "syscalls:sys_enter_getpid", "-c", "1", "-o", str(data),
         "--", str(program), str(N)],
        check=True, capture_output=True,
        env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},
    )  # fmt: skip
    evlist = subprocess.run(
        [PERF, "evlist", "-v", "-i", str(data)], check=True, capture_output=True, text=True
    ).stdout
    m = re.search(r"sample_type: ([A-Z_|]+)", evlist)
    assert m, evlist
    sample_type = 0
    for name in m.group(1).split("|"):
        sample_type |= _BITS[name]  # a bit this table lacks fails the test loudly
    dump = subprocess.run(
        [PERF, "script", "-D", "-i", str(data)], check=True, capture_output=True, text=True
    ).stdout
    samples = []
    # Each record's dump: ". raw event: size S bytes" then hex lines ".  0000:  09 00 ...".
    for block in re.split(r"\n\s*\n", dump):
        if "raw event" not in block:
            continue
        hexbytes = bytearray()
        for line in block.splitlines():
            hm = re.match(r"\.\s+[0-9a-f]{4}:\s+((?:[0-9a-f]{2} )+)", line)
            if hm:
                hexbytes += bytes.fromhex(hm.group(1))
        if len(hexbytes) >= 8 and int.from_bytes(hexbytes[0:4], sys.byteorder) == RECORD_SAMPLE:
            samples.append(parse_sample(bytes(hexbytes[8:]), sample_type))
    return sample_type, samples


def _perfsys_samples(program: Path, sample_type: int) -> tuple[int, list[Sample]]:
    """Run the program under a RingBuffer: the event is opened on the child before it
    execs the program, enabled by the exec itself."""
    r, w = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys; os.read(int(sys.argv[1]), 1); os.execv(sys.argv[2], sys.argv[2:])",
         str(r), str(program), str(N)],
        pass_fds=[r], env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"},
    )  # fmt: skip
    os.close(r)
    samples = []
    try:
        fd = open_getpid_tracepoint(pid=child.pid, sample_type=sample_type, enable_on_exec=1)
        try:
            with perfsys.RingBuffer(fd, 64) as ring:
                os.write(w, b"go")
                assert child.wait(30) == 0
                ioctls.DISABLE(fd)
                samples = [
                    parse_sample(x.data, sample_type)
                    for x in ring.read()
                    if x.type == RECORD_SAMPLE
                ]
                assert ring.lost == 0
        finally:
            os.close(fd)
    finally:
        os.close(w)
        child.wait(30)
    return child.pid, samples


def test_same_samples_as_perf(program: Path, tmp_path: Path) -> None:
    sample_type, perf_samples = _perf_samples(program, tmp_path)
    assert sample_type & SAMPLE_RAW and sample_type & SAMPLE_TID
    pid, ours = _perfsys_samples(program, sample_type)

    # The count: N getpid calls, each one sample, in both.
    assert len(perf_samples) == len(ours) == N

    fields = tracepoint_fields("syscalls:sys_enter_getpid")

    def field(raw: bytes | None, name: str) -> int:
        assert raw is not None
        off, size, signed = fields[name]
        return int.from_bytes(raw[off : off + size], sys.byteorder, signed=signed)

    def deterministic(s: Sample) -> tuple[object, ...]:
        # Fixed across runs: the tracepoint's common_type and syscall number, the
        # payload size, the period, and where in its page the sampled IP lies (the
        # libc syscall instruction; ASLR moves whole pages only).
        assert s.raw is not None
        return (
            field(s.raw, "common_type"),
            field(s.raw, "__syscall_nr"),
            len(s.raw),
            s.period,
            (s.ip or 0) & 0xFFF,
        )

    expected = (require_tracepoint_id("syscalls:sys_enter_getpid"), SYS_NR["getpid"])
    for tool, samples in (("perf", perf_samples), ("perfsys", ours)):
        pids = {(s.pid, s.tid) for s in samples}
        assert len(pids) == 1, (tool, pids)
        ((p, t),) = pids
        assert p == t, tool  # one thread
        assert all(field(s.raw, "common_pid") == s.tid for s in samples), tool
        assert {deterministic(s)[:2] for s in samples} == {expected}, tool
        times = [s.time for s in samples]
        assert times == sorted(times), tool
    assert ours[0].pid == pid
    assert {deterministic(s) for s in ours} == {deterministic(s) for s in perf_samples}
