"""The Decoder on records the running kernel wrote: samples of this process with every
field this machine can produce, task and context-switch records with their sample_id
trailer, and two differently laid out events sharing one ring."""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
import threading
import time
from collections import Counter

from support import (
    find_mapping,
    getpid_n,
    libc,
    open_getpid_tracepoint,
    perf_event_open,
    record,
    require_tracepoint_id,
    self_maps,
    spin,
    syscall,
    tracepoint_fields,
)

import perfsys
from perfsys import constants as C
from perfsys import ioctls

SAMPLE_BITS = (
    C.PERF_SAMPLE_IDENTIFIER
    | C.PERF_SAMPLE_IP
    | C.PERF_SAMPLE_TID
    | C.PERF_SAMPLE_TIME
    | C.PERF_SAMPLE_ID
    | C.PERF_SAMPLE_STREAM_ID
    | C.PERF_SAMPLE_CPU
    | C.PERF_SAMPLE_PERIOD
    | C.PERF_SAMPLE_READ
    | C.PERF_SAMPLE_CALLCHAIN
)
READ_FORMAT = (
    C.PERF_FORMAT_TOTAL_TIME_ENABLED | C.PERF_FORMAT_TOTAL_TIME_RUNNING | C.PERF_FORMAT_ID
)
PERIOD = 200_000  # ns of cpu-clock


def _whole(raw: perfsys.RawRecord) -> bytes:
    """The record's bytes again, header included, from what the ring handed out."""
    return record(raw.type, raw.data, misc=raw.misc)


def test_cpu_clock_samples_and_task_records() -> None:
    attr = perfsys.perf_event_attr(
        type=C.PERF_TYPE_SOFTWARE,
        config=C.PERF_COUNT_SW_CPU_CLOCK,
        sample_period=PERIOD,
        sample_type=SAMPLE_BITS,
        read_format=READ_FORMAT,
        sample_id_all=1,
        mmap=1,
        mmap2=1,
        comm=1,
        task=1,
        context_switch=1,
        disabled=1,
    )
    decoder = perfsys.Decoder(attr)
    fd = perf_event_open(attr, 0, -1)
    path = sys.executable
    size = os.path.getsize(path) & ~(mmap.PAGESIZE - 1) or mmap.PAGESIZE
    old_name = ctypes.create_string_buffer(16)
    assert libc.prctl(16, old_name) == 0  # PR_GET_NAME
    try:
        ident = ioctls.ID(fd)
        # read once at the end: room for every record of the window (~500 samples with
        # their callchains)
        with perfsys.RingBuffer(fd, 64) as ring, open(path, "rb") as f:
            ioctls.ENABLE(fd)
            spin(0.05)
            # an executable file mapping: PERF_RECORD_MMAP2
            m = mmap.mmap(f.fileno(), size, mmap.MAP_PRIVATE,
                          mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
            addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
            # a new name for this thread: PERF_RECORD_COMM
            assert libc.prctl(15, b"perfsys-decode") == 0  # PR_SET_NAME
            time.sleep(0.01)  # context switches: PERF_RECORD_SWITCH
            spin(0.05)
            ioctls.DISABLE(fd)
            raws = ring.read()
            assert ring.lost == 0
            st = os.fstat(f.fileno())
    finally:
        libc.prctl(15, old_name)
        os.close(fd)
    recs = [decoder.decode(_whole(r)) for r in raws]
    assert decoder.decode_all(b"".join(_whole(r) for r in raws)) == recs
    kinds = Counter(type(r).__name__ for r in recs)
    assert kinds["SampleRecord"] >= 10, kinds
    assert kinds["SwitchRecord"] >= 2, kinds

    pid, tid = os.getpid(), threading.get_native_id()
    maps = self_maps()
    ncpu = os.cpu_count() or 1
    times = []
    for r in recs:
        if isinstance(r, perfsys.SampleRecord):
            assert (r.pid, r.tid) == (pid, tid)
            assert r.identifier == r.id == r.stream_id == ident
            assert r.cpu is not None and 0 <= r.cpu < ncpu
            assert r.period == PERIOD
            assert r.read.id == ident
            assert r.read.time_enabled >= r.read.time_running > 0
            assert r.callchain[0] in (C.PERF_CONTEXT_KERNEL, C.PERF_CONTEXT_USER)
            assert r.callchain[1] == r.ip
            if C.PERF_CONTEXT_USER in r.callchain:
                user = r.callchain[r.callchain.index(C.PERF_CONTEXT_USER) + 1]
                mapping = find_mapping(maps, user)
                assert mapping is not None and "x" in mapping.perms, hex(user)
            for name in ("addr", "raw", "branch_stack", "regs_user", "stack_user", "weight",
                         "data_src", "transaction", "regs_intr", "phys_addr", "cgroup", "aux"):
                assert getattr(r, name) is None
        else:
            # the sample_id trailer of every other record
            assert (r.sample_pid, r.sample_tid) == (pid, tid), r
            assert r.sample_id == r.sample_stream_id == r.sample_identifier == ident
            assert r.sample_cpu is not None and 0 <= r.sample_cpu < ncpu
        times.append(r.time if isinstance(r, perfsys.SampleRecord) else r.sample_time)
    assert times == sorted(times)

    switches = [r for r in recs if isinstance(r, perfsys.SwitchRecord)]
    outs = [bool(r.misc & C.PERF_RECORD_MISC_SWITCH_OUT) for r in switches]
    assert True in outs and False in outs

    comms = [r for r in recs if isinstance(r, perfsys.CommRecord)]
    assert [(r.pid, r.tid, r.comm) for r in comms] == [(pid, tid, "perfsys-decode")]

    mine = [r for r in recs if isinstance(r, perfsys.Mmap2Record) and r.addr == addr]
    assert len(mine) == 1, [r for r in recs if isinstance(r, perfsys.Mmap2Record)]
    r = mine[0]
    assert (r.pid, r.tid, r.len, r.pgoff) == (pid, tid, size, 0)
    assert os.path.realpath(r.filename) == os.path.realpath(path)
    assert (r.maj, r.min, r.ino) == (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    assert r.build_id is None
    assert r.prot == mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
    assert r.flags & mmap.MAP_PRIVATE
    m.close()


def test_identifier_routes_differently_laid_out_events() -> None:
    """getpid samples carry RAW, getppid samples a callchain; one ring, one Decoder."""
    st1 = C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_RAW
    st2 = C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_CALLCHAIN
    fd1 = open_getpid_tracepoint(sample_type=st1, sample_id_all=1)
    attr1 = perfsys.perf_event_attr(type=C.PERF_TYPE_TRACEPOINT, sample_type=st1, sample_id_all=1)
    attr2 = perfsys.perf_event_attr(
        type=C.PERF_TYPE_TRACEPOINT,
        config=require_tracepoint_id("syscalls:sys_enter_getppid"),
        sample_period=1,
        sample_type=st2,
        sample_id_all=1,
        disabled=1,
    )
    fd2 = perf_event_open(attr2, 0, -1)
    try:
        id1, id2 = ioctls.ID(fd1), ioctls.ID(fd2)
        decoder = perfsys.Decoder({id1: attr1, id2: attr2})
        with perfsys.RingBuffer(fd1, 4) as ring:
            ioctls.SET_OUTPUT(fd2, fd1)
            for fd in (fd1, fd2):
                ioctls.ENABLE(fd)
            getpid_n(10)
            for _ in range(7):
                syscall("getppid")
            for fd in (fd1, fd2):
                ioctls.DISABLE(fd)
            recs = ring.read(decoder=decoder)
    finally:
        os.close(fd2)
        os.close(fd1)
    samples = [r for r in recs if isinstance(r, perfsys.SampleRecord)]
    assert Counter(r.identifier for r in samples) == {id1: 10, id2: 7}
    off, size, _ = tracepoint_fields("syscalls:sys_enter_getpid")["common_pid"]
    for r in samples:
        if r.identifier == id1:
            assert r.pid == os.getpid() and r.time is None and r.callchain is None
            assert r.raw is not None
            # common_pid is the kernel's pid of the task: this thread's id
            assert int.from_bytes(r.raw[off:off + size], sys.byteorder) == \
                threading.get_native_id()
        else:
            assert r.pid is None and r.raw is None and r.time is not None
            assert r.callchain[0] in (C.PERF_CONTEXT_KERNEL, C.PERF_CONTEXT_USER)


def test_lost_records_decode_with_their_trailer() -> None:
    st = C.PERF_SAMPLE_IDENTIFIER | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_RAW
    fd = open_getpid_tracepoint(sample_type=st, sample_id_all=1)
    decoder = perfsys.Decoder(perfsys.perf_event_attr(type=C.PERF_TYPE_TRACEPOINT, sample_type=st,
                                                      sample_id_all=1))
    try:
        ident = ioctls.ID(fd)
        with perfsys.RingBuffer(fd, 1) as ring:
            ioctls.ENABLE(fd)
            getpid_n(1000)  # far more than one page holds
            recs = ring.read(decoder=decoder)
            getpid_n(10)  # room again: the kernel first reports what it dropped
            ioctls.DISABLE(fd)
            recs += ring.read(decoder=decoder)
            lost_total = ring.lost
    finally:
        os.close(fd)
    lost = [r for r in recs if isinstance(r, perfsys.LostRecord)]
    samples = [r for r in recs if isinstance(r, perfsys.SampleRecord)]
    assert lost and all(r.id == r.sample_identifier == ident for r in lost)
    assert all((r.sample_pid, r.sample_tid) == (os.getpid(), threading.get_native_id())
               for r in lost)
    assert sum(r.lost for r in lost) == lost_total
    assert len(samples) + lost_total == 1010
    assert all(r.identifier == ident and len(r.raw) > 0 for r in samples)
