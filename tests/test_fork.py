"""fork() with live RingBuffers and SelfCounters: perf mappings are not copied into a
child (VM_DONTCOPY), so the child gets a clear ValueError for every use, never a signal,
and the parent's objects keep working."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable

import pytest
from support import opened

import perfsys
from perfsys import constants as C

pytestmark = pytest.mark.thread_unsafe(reason="fork() copies only the calling thread")


def in_child(body: Callable[[], None]) -> None:
    """Run body in a forked child; fail with what it printed or the signal that killed it."""
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        code = 0
        try:
            os.close(r)
            body()
        except BaseException:
            os.write(w, traceback.format_exc().encode())
            code = 1
        os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        said = f.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        pytest.fail(f"the child was killed by {signal.Signals(os.WTERMSIG(status)).name}")
    assert os.WEXITSTATUS(status) == 0, said


def refused(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="fork"):
        call()


def _sampling_attr() -> perfsys.perf_event_attr:
    return perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_CPU_CLOCK,
                                   sample_period=100_000, sample_type=C.PERF_SAMPLE_IP,
                                   disabled=1)


def test_ring_buffer_in_a_child_refuses_and_the_parent_keeps_it() -> None:
    with opened(_sampling_attr()) as fd, perfsys.RingBuffer(fd, 1) as ring:
        view = memoryview(ring)   # exported before the fork
        head = ring.data_head

        def child() -> None:
            for call in (lambda: ring.data_head, lambda: ring.data_tail, ring.read,
                         lambda: ring.wait(0), lambda: ring.available, ring.discard,
                         lambda: memoryview(ring), ring.fileno, ring.__enter__):
                refused(call)
            with pytest.raises(ValueError, match="fork"):
                ring.data_tail = 0
            assert bytes(view[:8]) == bytes(8)   # zero pages stand in for the mapping
            view.release()
            ring.close()
            assert ring.closed
            # a new ring of the same event works in the child
            with perfsys.RingBuffer(fd, 1) as again:
                assert again.data_head == head

        in_child(child)
        view.release()
        assert ring.data_head == head and ring.read() == [] and ring.wait(0) == 0
        with memoryview(ring) as mv:
            assert len(mv) == ring.page_size


def test_self_counter_in_a_child_refuses_and_the_parent_keeps_it() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK)
    with opened(a) as fd, perfsys.SelfCounter(fd) as counter:
        def child() -> None:
            for call in (counter.read, lambda: counter.index, lambda: counter.capabilities,
                         counter.fileno):
                refused(call)

        in_child(child)
        assert counter.read()[3] == "read" and counter.index == 0


def test_dealloc_in_a_child_leaves_the_childs_memory_alone() -> None:
    a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK)
    with opened(a) as fd:
        holder = [perfsys.SelfCounter(fd)]

        def child() -> None:
            # memory the child maps itself, possibly where the page was
            import mmap
            maps = [mmap.mmap(-1, 4096) for _ in range(64)]
            for m in maps:
                m[:4] = b"live"
            holder.clear()   # the SelfCounter goes: the child's mappings stay
            assert all(m[:4] == b"live" for m in maps)

        in_child(child)
        holder[0].close()
