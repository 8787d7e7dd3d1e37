"""The extension uses multi-phase init and module state: it can be loaded again."""

import importlib.util
import sys

import perfsys._perfsys as ext


def _load_fresh_copy() -> object:
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
    assert other.RawRecord.__name__ == ext.RawRecord.__name__ == "RawRecord"
    assert sys.modules["perfsys._perfsys"] is ext


def test_subinterpreter_import() -> None:
    interpreters = pytest_importorskip_interpreters()
    interp = interpreters.create()
    try:
        interp.exec("import perfsys._perfsys")
    finally:
        interp.close()


def pytest_importorskip_interpreters():  # type: ignore[no-untyped-def]
    import pytest

    try:
        from concurrent import interpreters  # type: ignore[attr-defined]
    except ImportError:
        pytest.skip("this Python has no concurrent.interpreters (3.14+)")
    return interpreters
