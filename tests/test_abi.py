"""The C file's ABI numbers (`_perfsys._abi`, `_perfsys._abi_bits`), which come
from the generated src/_perfsys_abi.h, agree with the generated tables.

Each `_abi` entry is named "PERF_X" (a constant), "sizeof(S)" or "offsetof(S, m)"
(m may be a member of an anonymous union or struct, or a dotted path into a
named member), and is compared with perfsys.constants.
"""

from __future__ import annotations

import ctypes
import re
import sys

import pytest
from ctypes_layout import bit_number, member, records

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


def test_abi_covers_what_the_module_uses() -> None:
    for name in ("PERF_RECORD_LOST", "PERF_SAMPLE_IP", "PERF_FORMAT_LOST",
                 "sizeof(perf_event_header)", "sizeof(perf_branch_entry)",
                 "offsetof(perf_event_attr, disabled)",
                 "offsetof(perf_event_mmap_page, data_head)",
                 "offsetof(perf_branch_entry, to)"):
        assert name in _perfsys._abi, name


def test_abi_bits_cover_what_the_module_uses() -> None:
    bits = _perfsys._abi_bits
    for name in ("perf_event_attr.exclude_kernel", "perf_event_attr.sample_id_all",
                 "perf_event_mmap_page.cap_user_rdpmc", "perf_event_mmap_page.cap_user_time",
                 "perf_event_mmap_page.cap_user_time_short",
                 *(f"perf_branch_entry.{m}" for m in (
                     "mispred", "predicted", "in_tx", "abort", "cycles", "type", "spec",
                     "new_type", "priv"))):
        assert name in bits, name


@pytest.mark.parametrize("name", sorted(_perfsys._abi_bits))
def test_abi_bit(name: str) -> None:
    record, member_name = name.split(".")
    assert _perfsys._abi_bits[name] == bit_number(record, member_name)


def test_bit_number_reads_the_layout() -> None:
    def native(declared: int, width: int) -> int:
        """The lowest bit, in a u64 read natively, of a bitfield declared `declared`
        bits into it: C allocates bitfields from the low end on little-endian
        machines, from the high end on big-endian ones."""
        return declared if sys.byteorder == "little" else 64 - declared - width

    assert bit_number("perf_event_attr", "disabled") == native(0, 1)
    assert bit_number("perf_event_attr", "exclude_kernel") == native(5, 1)
    assert bit_number("perf_event_attr", "precise_ip") == native(15, 2)
    assert bit_number("perf_event_mmap_page", "cap_user_rdpmc") == native(2, 1)
    # declared once per byte order in the header, so as to be bit 33 on either
    assert bit_number("perf_mem_data_src", "mem_lvl_num") == 33
