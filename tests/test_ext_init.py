"""The extension uses multi-phase init and module state: it can be loaded again."""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest
from support import source_tree

import perfsys._perfsys as ext


def _load_fresh_copy() -> ModuleType:
    spec = importlib.util.find_spec("perfsys._perfsys")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_second_instance_is_independent() -> None:
    other = _load_fresh_copy()
    assert other is not ext
    # Each instance holds its own heap types in its own state.
    assert other.RawRecord is not ext.RawRecord
    assert other.RingBuffer is not ext.RingBuffer
    assert other.Decoder is not ext.Decoder
    assert other.RawRecord.__name__ == ext.RawRecord.__name__ == "RawRecord"
    assert sys.modules["perfsys._perfsys"] is ext
    # and the copy works: its own types, its own results
    fd = other.perf_event_open(_task_clock_attr(), 0, -1)
    try:
        assert isinstance(other.read(fd), other.CounterValue)
        assert not isinstance(other.read(fd), ext.CounterValue)
    finally:
        os.close(fd)


def _task_clock_attr() -> bytearray:
    import perfsys
    from perfsys import constants as C

    return bytearray(
        perfsys.perf_event_attr(
            type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK, exclude_kernel=1
        )
    )


SUBINTERPRETER_SCRIPT = """
import os, sys
sys.path[:0] = {path!r}
import perfsys
from perfsys import constants as C
attr = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_TASK_CLOCK,
                               exclude_kernel=1)
fd = perfsys.perf_event_open(attr, 0, -1)
sum(range(100_000))
value = perfsys.read_value(fd)
os.close(fd)
assert value > 0, value
"""


def test_subinterpreter_with_its_own_gil() -> None:
    try:
        from concurrent import interpreters  # type: ignore[attr-defined, unused-ignore]
    except ImportError:
        pytest.skip("this Python has no concurrent.interpreters (3.14+)")
    interp = interpreters.create()  # isolated: its own GIL and its own module state
    try:
        interp.exec(SUBINTERPRETER_SCRIPT.format(path=[p for p in sys.path if p]))
    finally:
        interp.close()


def test_full_api_build(tmp_path: Path) -> None:
    """The build without the limited API (the free-threaded wheel's) compiles warning-free
    and imports on this interpreter; its module slots are the ones this version knows."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler on PATH")
    root = source_tree("the full-API build")
    pkg = tmp_path / "perfsys"
    shutil.copytree(root / "src" / "perfsys", pkg, ignore=shutil.ignore_patterns("*.so"))
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    subprocess.run(
        [cc, "-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O1", "-fPIC", "-shared",
         "-I", sysconfig.get_paths()["include"], str(root / "src" / "_perfsys.c"),
         "-o", str(pkg / f"_perfsys{suffix}")],
        check=True,
    )
    script = (
        "import os, perfsys, perfsys._perfsys as m\n"
        f"assert m.__file__.endswith({suffix!r}), m.__file__\n"
        "from perfsys import constants as C\n"
        "a = perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE,"
        " config=C.PERF_COUNT_SW_TASK_CLOCK, exclude_kernel=1)\n"
        "fd = perfsys.perf_event_open(a, 0, -1)\n"
        "sum(range(100000))\n"
        "assert perfsys.read_value(fd) > 0\n"
        "os.close(fd)\n"
    )
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True,
                   env={**os.environ, "PYTHONPATH": str(tmp_path)})
