"""Shared by the examples: run a command with counters opened on it before exec."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable


def run_counted(argv: list[str], open_counters: Callable[[int], list[int]]) -> list[int]:
    """Fork, let open_counters(child_pid) open the fds (attr.enable_on_exec=1),
    then exec argv in the child and wait for it. Returns the fds."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    os.close(r)
    try:
        fds = open_counters(pid)
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    os.write(w, b"x")
    os.close(w)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) == 127:
        sys.exit(f"could not run {argv[0]!r}")
    return fds
