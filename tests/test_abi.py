"""The C file's ABI numbers (`_perfsys._abi`) agree with the generated tables.

Each entry is named "PERF_X" (a constant), "sizeof(S)" or "offsetof(S, m)"
(m may be a member of an anonymous union or struct, or a dotted path into a
named member), and is compared with perfsys.constants.
"""

from __future__ import annotations

import ctypes
import re

import pytest
from ctypes_layout import member, records

from perfsys import _perfsys, constants


def expected(name: str) -> int:
    if m := re.fullmatch(r"sizeof\((\w+)\)", name):
        return ctypes.sizeof(records()[m.group(1)])
    if m := re.fullmatch(r"offsetof\((\w+),\s*([\w.]+)\)", name):
        cls: type = records()[m.group(1)]
        offset = 0
        path = m.group(2).split(".")
        for i, part in enumerate(path):
            found = member(cls, part)  # type: ignore[arg-type]
            offset += found.offset
            if i + 1 < len(path):
                cls = found.ctype
        return offset
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
        value = getattr(constants, name)
        assert isinstance(value, int)
        return value
    raise AssertionError(f"_abi entry {name!r} has no known form")


def test_abi_table_is_not_empty() -> None:
    assert _perfsys._abi
    assert all(isinstance(v, int) for v in _perfsys._abi.values())


@pytest.mark.parametrize("name", sorted(_perfsys._abi))
def test_abi_entry(name: str) -> None:
    assert _perfsys._abi[name] == expected(name)


def test_the_checker_reads_every_form() -> None:
    assert expected("sizeof(perf_event_attr)") == 144
    assert expected("offsetof(perf_event_attr, size)") == 4
    assert expected("offsetof(perf_event_attr, sample_freq)") == 16
    assert expected("offsetof(perf_event_attr, config2)") == 64
    assert expected("offsetof(perf_event_attr, aux_action)") == 116
    assert expected("offsetof(perf_event_mmap_page, data_head)") == 1024
    assert expected("offsetof(perf_event_mmap_page, capabilities)") == 40
    assert expected("PERF_ATTR_SIZE_VER0") == 64
    with pytest.raises(AssertionError):
        expected("alignof(perf_event_attr)")
