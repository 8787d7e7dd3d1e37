"""examples/hot_addresses.py runs and attributes its samples to this process's files."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_hot_addresses_example() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "hot_addresses.py"), "0.3"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    ).stdout
    m = re.match(r"(\d+) samples \((\d+) lost\)", out)
    assert m and int(m.group(1)) > 0, out
    rows = [line for line in out.splitlines() if line.strip().startswith("0x")]
    assert rows
    # Every hot address lies in an executable mapping: a file (the interpreter, libc)
    # or the vDSO that time.monotonic() runs in.
    assert all(re.search(r"\s(/\S+|\[vdso\])\+0x[0-9a-f]+$", line) for line in rows), out
