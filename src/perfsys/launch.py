"""Start a command paused before its exec, so that counters opened on it start at the exec.

::

    from perfsys.launch import PausedCommand

    with PausedCommand(["make", "-j2"]) as cmd:
        fd = perfsys.perf_event_open(attr, cmd.pid, -1)   # attr.enable_on_exec = 1
        cmd.start()                                        # exec; counting begins
        status = cmd.wait()

The child is forked at once and blocks on a pipe before it calls ``execvp``; events
opened on its pid with ``enable_on_exec=1`` (and ``inherit=1`` to follow its threads and
children) start counting exactly at the exec, so none of this process's Python runs
into the counts. A second, close-on-exec pipe tells the parent whether the exec worked:
:meth:`PausedCommand.start` raises :class:`ExecFailed` (an ``OSError`` with the exec's
errno) when it did not.

The child is made by ``os.fork()`` and runs only system calls until its exec. Python
3.12 and newer warn (DeprecationWarning) when a process that runs other threads forks.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import Mapping, Sequence
from types import TracebackType

__all__ = ["ExecFailed", "PausedCommand"]


class ExecFailed(OSError):
    """The command could not be executed; ``errno`` says why, ``filename`` is the program."""

    @property
    def exit_status(self) -> int:
        """The status a shell gives for it: 127 when the program is not found, else 126."""
        return 127 if self.errno == 2 else 126


class PausedCommand:
    """A forked child waiting to ``execvp(argv[0], argv)`` until :meth:`start` is called.

    ``pid`` is valid from construction on. ``env`` replaces the environment and ``cwd``
    the working directory of the command. Leaving the ``with`` block (or :meth:`close`)
    kills and reaps a child that was never started or is still running, so an error
    while opening counters leaves no stray process behind.
    """

    def __init__(self, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: str | os.PathLike[str] | None = None) -> None:
        if isinstance(argv, (str, bytes)) or not argv:
            raise ValueError("argv must be a non-empty sequence of strings (the command and "
                             "its arguments)")
        args = [os.fspath(a) for a in argv]
        if any("\0" in a for a in args):
            raise ValueError("an argument of the command contains a NUL character")
        self.argv: list[str] = args
        envp = dict(os.environ if env is None else env)
        self._go_r, self._go_w = os.pipe()
        self._err_r, err_w = os.pipe()  # close-on-exec: a successful exec closes err_w
        self.returncode: int | None = None
        """The exit status once :meth:`wait` has reaped it: ``-N`` when signal N ended it."""
        self.rusage: resource.struct_rusage | None = None
        """The resources the command and its reaped children used, once :meth:`wait` has
        reaped it (``os.wait4``)."""
        self._started = False
        pid = os.fork()
        if pid == 0:  # the child: only system calls, then exec or _exit, never Python cleanup
            try:
                os.close(self._go_w)
                os.close(self._err_r)
                if cwd is not None:
                    os.chdir(cwd)
                if os.read(self._go_r, 1) == b"g":
                    os.execvpe(args[0], args, envp)
            except OSError as err:
                os.write(err_w, str(err.errno or 0).encode())
            finally:
                os._exit(127)
        self.pid: int = pid
        os.close(self._go_r)
        os.close(err_w)

    def start(self) -> None:
        """Let the child exec. Raises :class:`ExecFailed` if the exec failed (the child
        has then exited with status 127, and is reaped)."""
        if self._started:
            raise RuntimeError("the command was already started")
        self._started = True
        os.write(self._go_w, b"g")
        os.close(self._go_w)
        with os.fdopen(self._err_r, "rb") as f:
            failed = f.read()
        if failed:
            self.wait()
            err = int(failed)
            raise ExecFailed(err, os.strerror(err), self.argv[0])

    def wait(self) -> int:
        """Wait for the command to end; its exit status, or ``-N`` when signal N ended it
        (as ``subprocess`` reports it). Only after :meth:`start`."""
        if not self._started:
            raise RuntimeError("start() the command before waiting for it")
        if self.returncode is None:
            _, status, self.rusage = os.wait4(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def close(self) -> None:
        """Kill and reap the child unless it has been reaped already."""
        if not self._started:
            self._started = True
            os.close(self._go_w)  # the child reads EOF and exits without exec
            os.close(self._err_r)
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)

    def __enter__(self) -> PausedCommand:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "paused" if not self._started else (
            "running" if self.returncode is None else f"exited {self.returncode}")
        return f"<PausedCommand pid={self.pid} {state} {self.argv!r}>"
