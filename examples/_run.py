"""Shared by the examples: run a command with counters opened on it before exec."""

from __future__ import annotations

import sys
from collections.abc import Callable

from perfsys.launch import ExecFailed, PausedCommand


def run_counted(argv: list[str], open_counters: Callable[[int], list[int]]) -> list[int]:
    """Start argv paused, let open_counters(child_pid) open the fds (attr.enable_on_exec=1),
    then let it exec and wait for it. Returns the fds."""
    with PausedCommand(argv) as cmd:
        fds = open_counters(cmd.pid)
        try:
            cmd.start()
        except ExecFailed as err:
            sys.exit(f"could not run {argv[0]!r}: {err.strerror}")
        cmd.wait()
    return fds
