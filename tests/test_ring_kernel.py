"""RingBuffer against the running kernel: samples, tracepoints, task records, context
switches, wrapping, lost records, overwrite mode and SET_OUTPUT."""

from __future__ import annotations

import ctypes
import os
import select
import struct
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from support import (
    CONTEXT_KERNEL,
    CONTEXT_MAX,
    CONTEXT_USER,
    MISC_COMM_EXEC,
    MISC_CPUMODE_MASK,
    MISC_SWITCH_OUT,
    MISC_USER,
    PAGE,
    PERF_COUNT_SW_CPU_CLOCK,
    PERF_COUNT_SW_DUMMY,
    PERF_COUNT_SW_TASK_CLOCK,
    PERF_TYPE_SOFTWARE,
    PERF_TYPE_TRACEPOINT,
    RECORD_COMM,
    RECORD_EXIT,
    RECORD_FORK,
    RECORD_LOST,
    RECORD_MMAP2,
    RECORD_SAMPLE,
    RECORD_SWITCH,
    SAMPLE_CALLCHAIN,
    SAMPLE_CPU,
    SAMPLE_ID,
    SAMPLE_IDENTIFIER,
    SAMPLE_IP,
    SAMPLE_PERIOD,
    SAMPLE_RAW,
    SAMPLE_READ,
    SAMPLE_STREAM_ID,
    SAMPLE_TID,
    SAMPLE_TIME,
    SYS_NR,
    find_mapping,
    getpid_n,
    online_cpus,
    open_getpid_tracepoint,
    parse_sample,
    parse_sample_id,
    perf_event_open,
    read_cstring,
    require_tracepoint_id,
    self_maps,
    spin,
    syscall,
    tracepoint_fields,
)

import perfsys
from perfsys import ioctls

ALL_BITS = (
    SAMPLE_IP
    | SAMPLE_TID
    | SAMPLE_TIME
    | SAMPLE_CPU
    | SAMPLE_PERIOD
    | SAMPLE_CALLCHAIN
    | SAMPLE_ID
    | SAMPLE_STREAM_ID
    | SAMPLE_READ
)


@pytest.mark.parametrize("config", [PERF_COUNT_SW_CPU_CLOCK, PERF_COUNT_SW_TASK_CLOCK])
def test_sampling_this_process(config: int) -> None:
    period = 200_000  # ns
    attr = perfsys.perf_event_attr(
        type=PERF_TYPE_SOFTWARE,
        config=config,
        sample_period=period,
        sample_type=ALL_BITS,
        disabled=1,
    )
    fd = perf_event_open(attr, 0, -1)
    try:
        # room for what arrives while a slow (emulated) machine copies out the last batch
        ring = perfsys.RingBuffer(fd, 64)
        with ring:
            ioctls.ENABLE(fd)
            recs = []
            for _ in range(10):
                spin(0.01)
                recs += ring.read()
            ioctls.DISABLE(fd)
            recs += ring.read()
            assert ring.data_tail == ring.data_head
            assert ring.lost == 0
        samples = [parse_sample(r.data, ALL_BITS) for r in recs if r.type == RECORD_SAMPLE]
        assert len(samples) >= 10
        maps = self_maps()
        ident = ioctls.ID(fd)
        ncpu = os.cpu_count() or 1
        times = []
        reads = []
        for r, s in zip((r for r in recs if r.type == RECORD_SAMPLE), samples, strict=True):
            assert s.pid == os.getpid()
            assert s.tid == threading.get_native_id()
            assert s.id == s.stream_id == ident
            assert s.cpu is not None and 0 <= s.cpu < ncpu
            assert s.period == period
            times.append(s.time)
            reads.append(s.read_value)
            chain = s.callchain
            assert chain and chain[0] in (CONTEXT_KERNEL, CONTEXT_USER)
            assert chain[1] == s.ip  # the first frame is the sampled instruction
            user = chain[chain.index(CONTEXT_USER) + 1 :] if CONTEXT_USER in chain else []
            user = [a for a in user if a < CONTEXT_MAX]
            if r.misc & MISC_CPUMODE_MASK == MISC_USER:  # sampled in user mode
                assert chain[0] == CONTEXT_USER
                m = find_mapping(maps, s.ip or 0)
                assert m is not None and "x" in m.perms, hex(s.ip or 0)
            if user:
                m = find_mapping(maps, user[0])
                assert m is not None and "x" in m.perms
        assert times == sorted(times) and len(set(times)) == len(times)
        assert reads == sorted(reads)  # the counter's value at each sample only grows
    finally:
        os.close(fd)


def test_tracepoint_raw_payload_matches_format() -> None:
    fields = tracepoint_fields("syscalls:sys_enter_getpid")
    tp_id = require_tracepoint_id("syscalls:sys_enter_getpid")
    st = SAMPLE_TID | SAMPLE_RAW
    fd = open_getpid_tracepoint(sample_type=st)
    try:
        with perfsys.RingBuffer(fd, 4) as ring:
            ioctls.ENABLE(fd)
            getpid_n(5)
            ioctls.DISABLE(fd)
            recs = ring.read()
    finally:
        os.close(fd)
    samples = [parse_sample(r.data, st) for r in recs if r.type == RECORD_SAMPLE]
    assert len(samples) == 5

    def field(raw: bytes, name: str) -> int:
        off, size, signed = fields[name]
        return int.from_bytes(raw[off : off + size], sys.byteorder, signed=signed)

    for s in samples:
        assert s.raw is not None
        assert field(s.raw, "common_type") == tp_id
        assert field(s.raw, "common_pid") == s.tid == threading.get_native_id()
        assert field(s.raw, "__syscall_nr") == SYS_NR["getpid"]
        assert s.pid == os.getpid()


def test_wraps_many_times_nothing_lost_or_duplicated() -> None:
    """A one-page ring of 40-byte samples, drained as it goes: exactly N samples."""
    st = SAMPLE_TID | SAMPLE_TIME | SAMPLE_RAW
    fd = open_getpid_tracepoint(sample_type=st)
    n_batches, batch = 400, 50
    try:
        with perfsys.RingBuffer(fd, 1) as ring:
            ioctls.ENABLE(fd)
            sizes = set()
            times = []
            for _ in range(n_batches):
                getpid_n(batch)
                for r in ring.read():
                    assert r.type == RECORD_SAMPLE
                    sizes.add(len(r.data) + 8)
                    times.append(parse_sample(r.data, st).time)
            ioctls.DISABLE(fd)
            for r in ring.read():
                times.append(parse_sample(r.data, st).time)
            assert ring.lost == 0
            assert ring.data_head == ring.data_tail
            wraps = ring.data_head // ring.data_size
    finally:
        os.close(fd)
    assert len(times) == n_batches * batch
    assert len(set(times)) == len(times)  # no sample twice
    assert times == sorted(times)  # and in order
    assert wraps >= 100
    assert len(sizes) == 1 and PAGE % sizes.pop() != 0  # records straddle the end


def test_lost_records_when_the_reader_falls_behind() -> None:
    st = SAMPLE_TID | SAMPLE_RAW
    fd = open_getpid_tracepoint(sample_type=st)
    try:
        with perfsys.RingBuffer(fd, 1) as ring:
            ioctls.ENABLE(fd)
            getpid_n(1000)  # far more than one page holds
            first = ring.read()
            getpid_n(10)  # space again: the kernel reports what it dropped first
            ioctls.DISABLE(fd)
            second = ring.read()
            recs = first + second
            samples = sum(r.type == RECORD_SAMPLE for r in recs)
            lost_recs = [r for r in recs if r.type == RECORD_LOST]
            assert lost_recs
            ident, lost = struct.unpack_from("=QQ", lost_recs[0].data)
            assert ident == ioctls.ID(fd)
            assert lost > 0
            assert ring.lost_records == len(lost_recs)
            assert ring.lost == sum(struct.unpack_from("=QQ", r.data)[1] for r in lost_recs)
            assert samples + ring.lost == 1010
            assert samples < 1010
    finally:
        os.close(fd)


def test_overwrite_mode_reads_newest_first() -> None:
    st = SAMPLE_TID | SAMPLE_TIME | SAMPLE_RAW
    fd = open_getpid_tracepoint(sample_type=st, write_backward=1)
    try:
        with perfsys.RingBuffer(fd, 1, overwrite=True) as ring:
            assert ring.overwrite
            with memoryview(ring) as mv:
                assert mv.readonly
            # A read-only mapping: ctypes from_buffer needs a writable buffer, and
            # from_buffer_copy takes a snapshot of the header page instead.
            with pytest.raises(TypeError):
                (ctypes.c_uint64 * 2).from_buffer(ring, 1024)
            head_tail = (ctypes.c_uint64 * 2).from_buffer_copy(ring, 1024)
            assert tuple(head_tail) == (0, 0)
            with pytest.raises(ValueError, match="read-only"):
                ring.data_tail = 0
            ioctls.ENABLE(fd)
            getpid_n(1000)
            ioctls.PAUSE_OUTPUT(fd, True)
            recs = ring.read()
            size = len(recs[0].data) + 8
            assert len(recs) == ring.data_size // size  # a page of the newest
            times = [parse_sample(r.data, st).time for r in recs]
            assert times == sorted(times, reverse=True)
            assert ring.read() == []  # nothing new since
            ioctls.PAUSE_OUTPUT(fd, False)
            getpid_n(7)
            ioctls.PAUSE_OUTPUT(fd, True)
            newer = ring.read()
            assert len(newer) == 7
            newer_times = [parse_sample(r.data, st).time for r in newer]
            assert newer_times == sorted(newer_times, reverse=True)
            assert newer_times[-1] > times[0]
            assert ring.read(max_records=3) == []
            ioctls.DISABLE(fd)
    finally:
        os.close(fd)


def test_overwrite_mode_refuses_forward_events() -> None:
    fd = open_getpid_tracepoint(sample_type=SAMPLE_TID)
    try:
        with perfsys.RingBuffer(fd, 1, overwrite=True) as ring:
            ioctls.ENABLE(fd)
            getpid_n(3)
            ioctls.DISABLE(fd)
            with pytest.raises(ValueError, match="write_backward"):
                ring.read()
    finally:
        os.close(fd)


def test_two_events_share_one_ring_through_set_output() -> None:
    """Two tracepoints with different sample layouts write into one ring; the records
    are told apart by PERF_SAMPLE_IDENTIFIER, by hand and by a Decoder keyed by id."""
    st1 = SAMPLE_IDENTIFIER | SAMPLE_TID
    st2 = SAMPLE_IDENTIFIER | SAMPLE_TID | SAMPLE_TIME
    attr1 = perfsys.perf_event_attr(
        type=PERF_TYPE_TRACEPOINT,
        config=require_tracepoint_id("syscalls:sys_enter_getpid"),
        sample_period=1,
        sample_type=st1,
        disabled=1,
    )
    attr2 = perfsys.perf_event_attr(
        type=PERF_TYPE_TRACEPOINT,
        config=require_tracepoint_id("syscalls:sys_enter_getppid"),
        sample_period=1,
        sample_type=st2,
        disabled=1,
    )
    fd1 = perf_event_open(attr1, 0, -1)
    fd2 = perf_event_open(attr2, 0, -1)
    id1, id2 = ioctls.ID(fd1), ioctls.ID(fd2)
    decoder = perfsys.Decoder({id1: attr1, id2: attr2})

    def burst() -> None:
        for fd in (fd1, fd2):
            ioctls.ENABLE(fd)
        getpid_n(10)
        for _ in range(7):
            syscall("getppid")
        for fd in (fd1, fd2):
            ioctls.DISABLE(fd)

    try:
        with perfsys.RingBuffer(fd1, 2) as ring:
            ioctls.SET_OUTPUT(fd2, fd1)
            burst()
            raw = ring.read()
            burst()
            decoded = ring.read(decoder=decoder)
    finally:
        os.close(fd2)
        os.close(fd1)
    by_id = Counter(struct.unpack_from("=Q", r.data)[0] for r in raw)
    assert by_id == {id1: 10, id2: 7}
    for r in raw:
        s = parse_sample(r.data, st1 if struct.unpack_from("=Q", r.data)[0] == id1 else st2)
        assert s.tid == threading.get_native_id()
    assert Counter(r.identifier for r in decoded) == {id1: 10, id2: 7}
    for r in decoded:
        assert r.tid == threading.get_native_id()
        assert (r.time is None) == (r.identifier == id1)


def test_task_records_of_an_inherited_child() -> None:
    """FORK, COMM (exec), MMAP2 and EXIT of a child, from per-CPU inherited events."""
    st = SAMPLE_TID | SAMPLE_TIME
    rings = []
    fds = []
    try:
        for cpu in online_cpus():
            attr = perfsys.perf_event_attr(
                type=PERF_TYPE_SOFTWARE,
                config=PERF_COUNT_SW_DUMMY,
                sample_type=st,
                disabled=1,
                inherit=1,
                mmap=1,
                mmap2=1,
                comm=1,
                comm_exec=1,
                task=1,
                sample_id_all=1,
            )
            fd = perf_event_open(attr, 0, cpu)  # inherited rings must be per-CPU
            fds.append(fd)
            rings.append(perfsys.RingBuffer(fd, 8))
        for fd in fds:
            ioctls.ENABLE(fd)
        child = subprocess.run(["/bin/true"], check=True)
        assert child.returncode == 0
        for fd in fds:
            ioctls.DISABLE(fd)
        recs = [r for ring in rings for r in ring.read()]
    finally:
        for ring in rings:
            ring.close()
        for fd in fds:
            os.close(fd)
    me = os.getpid()
    forks = [struct.unpack_from("=IIIIQ", r.data) for r in recs if r.type == RECORD_FORK]
    child_pids = {pid for pid, ppid, tid, ptid, _t in forks if ppid == me and pid == tid}
    assert child_pids, forks
    (pid,) = child_pids if len(child_pids) == 1 else (max(child_pids),)
    comms = [
        (r, read_cstring(r.data, 8))
        for r in recs
        if r.type == RECORD_COMM and struct.unpack_from("=I", r.data)[0] == pid
    ]
    assert any(name == "true" and r.misc & MISC_COMM_EXEC for r, name in comms), comms
    mmaps = []
    for r in recs:
        if r.type != RECORD_MMAP2:
            continue
        mpid, mtid, addr, length, _pgoff = struct.unpack_from("=IIQQQ", r.data)
        if mpid == pid:
            assert mtid == pid
            mmaps.append((addr, length, read_cstring(r.data, 64)))
            trailer = parse_sample_id(r.data, st)
            assert trailer["pid"] == pid
    true_path = os.path.realpath("/bin/true")
    assert any(os.path.realpath(name) == true_path for _a, _l, name in mmaps), mmaps
    assert all(length > 0 for _a, length, _n in mmaps)
    exits = [struct.unpack_from("=IIIIQ", r.data) for r in recs if r.type == RECORD_EXIT]
    assert any(e[0] == pid and e[1] == me for e in exits), exits
    fork_time = next(t for p, _pp, _t2, _pt, t in forks if p == pid)
    exit_time = next(e[4] for e in exits if e[0] == pid)
    assert fork_time < exit_time


def test_context_switch_records() -> None:
    st = SAMPLE_TID | SAMPLE_TIME
    attr = perfsys.perf_event_attr(
        type=PERF_TYPE_SOFTWARE,
        config=PERF_COUNT_SW_DUMMY,
        sample_type=st,
        disabled=1,
        context_switch=1,
        sample_id_all=1,
    )
    fd = perf_event_open(attr, 0, -1)
    try:
        with perfsys.RingBuffer(fd, 4) as ring:
            ioctls.ENABLE(fd)
            for _ in range(5):
                time.sleep(0.002)
            ioctls.DISABLE(fd)
            recs = [r for r in ring.read() if r.type == RECORD_SWITCH]
    finally:
        os.close(fd)
    outs = [r for r in recs if r.misc & MISC_SWITCH_OUT]
    ins = [r for r in recs if not r.misc & MISC_SWITCH_OUT]
    assert len(outs) >= 5 and len(ins) >= 5
    for r in recs:
        trailer = parse_sample_id(r.data, st)
        assert trailer["pid"] == os.getpid()
        assert trailer["tid"] == threading.get_native_id()


def test_wait_wakes_for_data_and_reports_hangup() -> None:
    """wait() returns POLLIN when the kernel wakes the reader, POLLHUP once the task exits.

    The child makes its system calls, then blocks on the pipe again until the first
    wait() has returned: a task that has exited makes the kernel's poll report POLLHUP
    alone, so a child that could exit before the reader is scheduled would race it."""
    r, w = os.pipe()
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, ctypes, sys; os.read(int(sys.argv[1]), 1);"
            "[ctypes.CDLL(None).syscall(int(sys.argv[2])) for _ in range(3)];"
            "os.read(int(sys.argv[1]), 1)",
            str(r),
            str(SYS_NR["getpid"]),
        ],
        pass_fds=[r],
    )
    os.close(r)
    try:
        fd = open_getpid_tracepoint(pid=child.pid, sample_type=SAMPLE_TID, wakeup_events=1)
        try:
            with perfsys.RingBuffer(fd, 2) as ring:
                assert ring.wait(0) == 0
                ioctls.ENABLE(fd)
                os.write(w, b"x")
                assert ring.wait(60) == select.POLLIN  # the child waits for the second byte
                seen = ring.read()
                os.write(w, b"x")
                assert child.wait(60) == 0
                while True:
                    ev = ring.wait(60)
                    if ev & select.POLLHUP:
                        break
                    assert ev == select.POLLIN
                    seen += ring.read()
                seen += ring.read()
                assert ring.wait(0) & select.POLLHUP
                samples = [parse_sample(x.data, SAMPLE_TID) for x in seen]
                assert len(samples) >= 3
                assert all(s.pid == child.pid for s in samples)
        finally:
            os.close(fd)
    finally:
        os.close(w)
        child.wait(60)


def test_read_with_a_decoder() -> None:
    st = SAMPLE_IDENTIFIER | SAMPLE_IP | SAMPLE_TID | SAMPLE_TIME | SAMPLE_RAW
    fd = open_getpid_tracepoint(sample_type=st)
    attr = perfsys.perf_event_attr(type=PERF_TYPE_TRACEPOINT, sample_type=st, sample_period=1)
    decoder = perfsys.Decoder(attr)
    ident = ioctls.ID(fd)
    try:
        with perfsys.RingBuffer(fd, 1) as ring:
            ioctls.ENABLE(fd)
            got = []
            for _ in range(20):
                getpid_n(30)  # 20 * 30 samples through a one-page ring
                got += ring.read(decoder=decoder)
            ioctls.DISABLE(fd)
            got += ring.read(None, decoder)
            assert ring.lost == 0
    finally:
        os.close(fd)
    assert len(got) == 600
    for rec in got:
        assert isinstance(rec, perfsys.SampleRecord)
        assert rec.type == RECORD_SAMPLE
        assert rec.identifier == ident
        assert rec.pid == os.getpid() and rec.tid == threading.get_native_id()
        assert rec.raw is not None and len(rec.raw) == 20
    times = [rec.time for rec in got]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_decoder_errors_stop_the_ring_at_the_record() -> None:
    """A decoder that expects more than the records hold raises for the first record;
    data_tail stays before it, and the records can still be taken raw."""
    st = SAMPLE_TID
    fd = open_getpid_tracepoint(sample_type=st)
    wrong = perfsys.Decoder(
        perfsys.perf_event_attr(
            type=PERF_TYPE_TRACEPOINT, sample_type=st | SAMPLE_TIME | SAMPLE_RAW
        )
    )
    try:
        with perfsys.RingBuffer(fd, 1) as ring:
            ioctls.ENABLE(fd)
            getpid_n(4)
            ioctls.DISABLE(fd)
            tail = ring.data_tail
            with pytest.raises(ValueError):
                ring.read(decoder=wrong)
            assert ring.data_tail == tail
            assert ring.records_read == 0
            raw = ring.read()
            assert len(raw) == 4
            assert ring.data_tail == ring.data_head
    finally:
        os.close(fd)


@pytest.mark.thread_unsafe(reason="counts every sample of 6000 system calls: copies sampling at "
                                  "once reach the kernel's sample-rate limit, which drops samples")
def test_concurrent_readers_hand_out_each_record_once() -> None:
    """Two threads read one ring while this one makes 6000 sampled system calls: each
    sample is handed out once, and every one either reaches a reader or is lost.

    Readers that are not scheduled in time let the ring fill, and the kernel drops
    samples. It reports them in a LOST record written before the next record that fits,
    so the ones dropped last are in no record at all: the event's own count of lost
    samples (PERF_FORMAT_LOST) is the one to add."""
    st = SAMPLE_TID | SAMPLE_TIME
    fd = open_getpid_tracepoint(sample_type=st, read_format=perfsys.constants.PERF_FORMAT_LOST)
    n = 6000
    got: list[list[int]] = [[], []]
    done = threading.Event()
    try:
        with perfsys.RingBuffer(fd, 2) as ring:

            def samples(recs: list[perfsys.RawRecord]) -> list[int]:
                # LOST records are counted by ring.lost, not here
                return [parse_sample(r.data, st).time or 0 for r in recs
                        if r.type == RECORD_SAMPLE]

            def reader(k: int) -> None:
                while not done.is_set():
                    ring.wait(0.005)
                    got[k] += samples(ring.read(64))
                got[k] += samples(ring.read())

            threads = [threading.Thread(target=reader, args=(k,)) for k in range(2)]
            for t in threads:
                t.start()
            ioctls.ENABLE(fd)  # counts this thread's getpid calls only
            for _ in range(n // 100):
                getpid_n(100)
                time.sleep(0)
            ioctls.DISABLE(fd)
            done.set()
            for t in threads:
                t.join(60)
                assert not t.is_alive()
            reported = ring.lost
            lost = perfsys.read(fd, perfsys.constants.PERF_FORMAT_LOST).lost
    finally:
        os.close(fd)
    times = got[0] + got[1]
    assert lost is not None and reported <= lost
    assert len(times) + lost == n
    assert len(set(times)) == len(times) and 0 not in times
