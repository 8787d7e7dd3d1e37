"""Descriptors that are not perf events: refused before anything maps or reads them,
and a read never holds the interpreter while it blocks.

What could crash or freeze runs in a child interpreter, so a signal or a hang fails the
test instead of taking pytest with it.
"""

from __future__ import annotations

import fcntl
import os
import resource
import subprocess
import sys
import tempfile
import textwrap

import pytest
from support import ENV, opened

import perfsys
from perfsys import constants as C


def run_child(code: str, timeout: float = 20) -> str:
    """Run code in a fresh interpreter; its stdout, or a failure saying how it ended."""
    try:
        r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=ENV,
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the child hung for {timeout} s")
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def test_self_counter_refuses_a_crafted_page_in_a_memfd() -> None:
    # A page that says "rdpmc, counter 0x7fff" would run rdpmc with that index.
    out = run_child("""
        import os, struct, perfsys
        fd = os.memfd_create("not-perf")
        page = bytearray(os.sysconf("SC_PAGE_SIZE"))
        struct.pack_into("=IIq", page, 8, 0, 0x8000, 0)              # lock, index, offset
        struct.pack_into("=Q", page, 40, 1 << 2)                     # cap_user_rdpmc
        struct.pack_into("=H", page, 48, 48)                         # pmc_width
        os.write(fd, page)
        try:
            perfsys.SelfCounter(fd).read()
        except ValueError as e:
            print("refused:", e)
    """)
    assert "refused:" in out and "not a perf event" in out


@pytest.mark.parametrize("kind", ["file", "memfd"])
def test_self_counter_refuses_other_files(kind: str) -> None:
    with tempfile.TemporaryFile() as f:
        fd = f.fileno() if kind == "file" else os.memfd_create("not-perf")
        os.ftruncate(fd, 4096)
        try:
            with pytest.raises(ValueError, match="not a perf event"):
                perfsys.SelfCounter(fd)
        finally:
            if kind == "memfd":
                os.close(fd)


@pytest.mark.parametrize("call", ["read_value(r)", "read(r)", "read_into(r, bytearray(8))"])
def test_reads_of_a_pipe_are_refused_and_never_block(call: str) -> None:
    out = run_child(f"""
        import os, perfsys
        from perfsys import read_value, read, read_into
        r, w = os.pipe()
        try:
            {call}
        except ValueError as e:
            print("refused:", e)
    """)
    assert "refused:" in out and "not a perf event" in out


def test_reads_of_a_regular_file_are_refused() -> None:
    # perfsys checks a descriptor number the first time it reads it: this one (high, so
    # that no counter of an earlier test had it, and under the descriptor limit, 1024
    # where nothing raised it) is new to it.
    high = min(4000, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 8)
    with tempfile.TemporaryFile() as f:
        f.write((12345).to_bytes(8, sys.byteorder))
        f.flush()
        fd = fcntl.fcntl(f.fileno(), fcntl.F_DUPFD_CLOEXEC, high)
        try:
            for call in (perfsys.read_value, perfsys.read,
                         lambda fd: perfsys.read_into(fd, bytearray(8))):
                os.lseek(fd, 0, os.SEEK_SET)
                with pytest.raises(ValueError, match="not a perf event"):
                    call(fd)
        finally:
            os.close(fd)


def test_a_read_that_blocks_holds_up_its_own_thread_only() -> None:
    # A counter's descriptor number, closed and taken by a pipe after perfsys checked it:
    # the read blocks its thread, and the others run on until data arrives.
    out = run_child("""
        import os, threading, time, sys, perfsys
        from perfsys import constants as C
        a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY)
        fd = perfsys.perf_event_open(a, 0, -1)
        perfsys.read_value(fd)
        r, w = os.pipe()
        os.dup2(r, fd)
        got = []
        t = threading.Thread(target=lambda: got.append(perfsys.read_value(fd)))
        t.start()
        n, end = 0, time.monotonic() + 0.5
        while time.monotonic() < end:
            n += 1
        print("main ran", n > 1000, "reader done", bool(got))
        os.write(w, (7).to_bytes(8, sys.byteorder))
        t.join(30)
        print("reader got", got)
    """)
    assert "main ran True reader done False" in out
    assert "reader got [7]" in out


def test_a_perf_event_still_reads() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK)) as fd:
        a = perfsys.read_value(fd)
        b = perfsys.read(fd).value
        buf = bytearray(8)
        assert perfsys.read_into(fd, buf) == 8
        assert a <= b <= int.from_bytes(buf, sys.byteorder)
