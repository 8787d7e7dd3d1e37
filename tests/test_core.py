"""The core API as a whole: signatures, docstrings and audit events."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import perfsys

# -- introspection and audit ---------------------------------------------------------


def test_signatures_and_docstrings() -> None:
    import inspect

    funcs = [perfsys.perf_event_open, perfsys.read_value, perfsys.read, perfsys.read_into,
             perfsys.decode_read, perfsys.SelfCounter.read, perfsys.SelfCounter.close]
    funcs += [getattr(perfsys.ioctls, n) for n in perfsys.ioctls.__all__
              if n != "PERF_IOC_FLAG_GROUP"]
    for f in funcs:
        # the signature comes from the docstring's first line, and names the arguments
        assert f.__text_signature__ is not None, f
        params = list(inspect.signature(f).parameters)
        assert params and params[0] in ("attr", "fd", "read_format", "self"), (f, params)
        assert f.__doc__ and len(f.__doc__) > 40, f
    for n in perfsys.ioctls.__all__:
        if n != "PERF_IOC_FLAG_GROUP":
            f = getattr(perfsys.ioctls, n)
            assert (f.__name__, f.__module__) == (n, "perfsys.ioctls")
    assert list(inspect.signature(perfsys.perf_event_open).parameters) == [
        "attr", "pid", "cpu", "group_fd", "flags"]


AUDIT_SCRIPT = """
import os, sys, perfsys
seen = []
def hook(event, args):
    if event.startswith("perfsys."):
        seen.append((event, args[1:] if event == "perfsys.perf_event_open" else args))
        if event == "perfsys.ioctl" and args[1] == "RESET":
            raise RuntimeError("refused by the hook")
sys.addaudithook(hook)
a = perfsys.perf_event_attr(type=1, config=9)
fd = perfsys.perf_event_open(a, 0, -1)
perfsys.ioctls.ENABLE(fd)
try:
    perfsys.ioctls.RESET(fd)
except RuntimeError as e:
    print("blocked:", e)
perfsys.read_value(fd)
print(seen == [("perfsys.perf_event_open", (0, -1, -1, 0)),
               ("perfsys.ioctl", (fd, "ENABLE", None)),
               ("perfsys.ioctl", (fd, "RESET", None))], seen)
"""


def test_audit_events() -> None:
    src = str(Path(perfsys.__file__).resolve().parent.parent)
    out = subprocess.run([sys.executable, "-c", AUDIT_SCRIPT],
                         env={**os.environ, "PYTHONPATH": src},
                         capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[0] == "blocked: refused by the hook"
    assert out.splitlines()[1].startswith("True"), out
