"""The C file builds warning-free with clang, for this machine and for aarch64 and i386."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from support import source_tree


@pytest.mark.thread_unsafe(reason="compiles the C file six times: one run is the check")
def test_clang_builds_every_target_without_warnings() -> None:
    root = source_tree("compiling the C file")
    if shutil.which("clang") is None or shutil.which("llvm-nm") is None:
        pytest.skip("no clang/llvm-nm on this machine")
    pytest.importorskip("ziglang", reason="no ziglang (the regen extra) for the cross builds")
    r = subprocess.run(["bash", str(root / "tools" / "ci" / "clang.sh")], capture_output=True,
                       text=True, timeout=600, env={**os.environ, "PYTHON": sys.executable})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "every build compiled without a warning" in r.stdout
