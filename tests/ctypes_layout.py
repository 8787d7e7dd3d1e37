"""Walks the generated ctypes layouts: every member, by its kernel name, with its place."""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from perfsys import constants

Record = type[ctypes.Structure] | type[ctypes.Union]


@dataclass(frozen=True)
class Member:
    name: str
    offset: int  # of the member, or of a bitfield's storage unit
    size: int  # sizeof the member, or of a bitfield's storage unit
    bits: int | None  # a bitfield's width
    ctype: type  # the member's ctypes type

    @property
    def flexible(self) -> bool:
        """Is it a flexible array member (`u32 ids[]`, a ctypes array of 0)?"""
        return issubclass(self.ctype, ctypes.Array) and self.ctype._length_ == 0


def records() -> dict[str, Record]:
    """Every struct and union that constants.py exports, by its C name."""
    out: dict[str, Record] = {}
    for name in constants.__all__:
        obj = getattr(constants, name)
        if isinstance(obj, type) and issubclass(obj, ctypes.Structure | ctypes.Union):
            out[name] = obj
    return out


def c_keyword(cls: Record) -> str:
    return "union" if issubclass(cls, ctypes.Union) else "struct"


def members(cls: Record, base: int = 0) -> Iterator[Member]:
    """Every named member, flattening anonymous structs and unions as C does."""
    anonymous = set(getattr(cls, "_anonymous_", ()))
    for entry in cls._fields_:
        name, ctype = entry[0], entry[1]
        offset = base + getattr(cls, name).offset
        if name in anonymous:
            yield from members(ctype, offset)
        else:
            bits = entry[2] if len(entry) > 2 else None
            yield Member(name, offset, ctypes.sizeof(ctype), bits, ctype)


def member(cls: Record, name: str) -> Member:
    for m in members(cls):
        if m.name == name:
            return m
    raise KeyError(f"{cls.__name__} has no member {name!r}")


def zeroed(cls: Record) -> ctypes.Structure | ctypes.Union:
    """An all-zero instance (bypassing any constructor that presets fields)."""
    return cls.from_buffer(bytearray(ctypes.sizeof(cls)))


def ones_image(cls: Record, m: Member) -> bytes:
    """The bytes of a zeroed `cls` whose bitfield `m` is set to all ones."""
    assert m.bits is not None
    obj = zeroed(cls)
    setattr(obj, m.name, (1 << m.bits) - 1)
    return bytes(obj)


def bit_number(record: str, name: str) -> int:
    """A bitfield's lowest bit, numbered within its storage unit as the C file's
    masks number it (1 << n of the unit read as a native integer)."""
    cls = records()[record]
    m = member(cls, name)
    assert m.bits is not None, f"{record}.{name} is not a bitfield"
    unit = ones_image(cls, m)[m.offset:m.offset + m.size]
    value = int.from_bytes(unit, sys.byteorder)
    return (value & -value).bit_length() - 1
