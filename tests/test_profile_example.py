"""examples/profile_python.py on a CPython 3.12+ names Python functions in its stacks."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from support import python312, source_tree

WORKLOAD = """
def perfsys_hot(n):
    if n:
        return perfsys_hot(n - 1)
    total = 0
    for i in range(100_000):
        total += i
    return total

for _ in range(30):
    perfsys_hot(8)
"""


def build_for(python: str, root: Path, dest: Path) -> None:
    """The source tree's perfsys, its extension compiled for ``python``, into ``dest``."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("no C compiler (gcc) to build the extension for the other interpreter")
    include, suffix = subprocess.run(
        [python, "-c", "import sysconfig as s; print(s.get_path('include')); "
         "print(s.get_config_var('EXT_SUFFIX'))"],
        check=True, capture_output=True, text=True).stdout.split()
    shutil.copytree(root / "src/perfsys", dest / "perfsys",
                    ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
                    f"-I{include}", str(root / "src/_perfsys.c"), "-o",
                    str(dest / "perfsys" / f"_perfsys{suffix}")], check=True)


def test_profile_python_names_python_functions(tmp_path: Path) -> None:
    python = python312()
    root = source_tree("the profiler example, built for another interpreter")
    build_for(python, root, tmp_path)
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    out = tmp_path / "out.folded"
    proc = subprocess.run(
        [python, str(root / "examples/profile_python.py"), "-o", str(out), str(script)],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "lost" in proc.stderr
    lines = out.read_text().splitlines()
    assert lines
    counts = {}
    for line in lines:
        stack, count = line.rsplit(" ", 1)
        counts[stack] = int(count)
        assert stack and int(count) > 0
    named = sum(c for s, c in counts.items() if "py::perfsys_hot:" in s)
    assert named > 0, lines[:20]
    # the trampoline frame sits under the interpreter's own frames, named from its ELF symbols
    leaves = {s.split(";")[-1] for s in counts if "py::perfsys_hot:" in s}
    assert any(leaf != "[unknown]" and not leaf.startswith("py::") for leaf in leaves), leaves
