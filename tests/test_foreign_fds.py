"""Descriptors that are not perf events: refused before anything maps or reads them,
and a read never holds the interpreter while it blocks.

What could crash or freeze runs in a child interpreter, so a signal or a hang fails the
test instead of taking pytest with it.
"""

from __future__ import annotations

import os
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


def test_a_perf_event_still_reads() -> None:
    with opened(perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,
                                        config=C.PERF_COUNT_SW_TASK_CLOCK)) as fd:
        a = perfsys.read_value(fd)
        b = perfsys.read(fd).value
        buf = bytearray(8)
        assert perfsys.read_into(fd, buf) == 8
        assert a <= b <= int.from_bytes(buf, sys.byteorder)
