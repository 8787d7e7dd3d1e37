"""examples/hot_addresses.py runs and attributes its samples to this process's files."""

from __future__ import annotations

import re

from support import run_example


def test_hot_addresses_example() -> None:
    out = run_example("hot_addresses.py", "0.3", timeout=60)
    m = re.match(r"(\d+) samples \((\d+) lost\)", out)
    assert m and int(m.group(1)) > 0, out
    rows = [line for line in out.splitlines() if line.strip().startswith("0x")]
    assert rows
    # Every hot address lies in an executable mapping: a file (the interpreter, libc)
    # or the vDSO that time.monotonic() runs in.
    assert all(re.search(r"\s(/\S+|\[vdso\])\+0x[0-9a-f]+$", line) for line in rows), out
