"""Tracepoint formats from tracefs, and a sample's RAW payload decoded into named values.

::

    from perfsys.tracefs import TracepointFormat

    fmt = TracepointFormat.load("sched:sched_process_exec")
    fmt.id                          # the config of a PERF_TYPE_TRACEPOINT event
    [f.name for f in fmt.fields]    # ['common_type', ..., 'filename', 'pid', 'old_pid']
    fmt.decode(sample.raw)          # {..., 'filename': '/bin/ls', 'pid': 4242, ...}

A tracepoint's ``format`` file (``/sys/kernel/tracing/events/SYSTEM/NAME/format``)
lists each field of the record the kernel writes, which is what a sample's
``PERF_SAMPLE_RAW`` payload holds: its C declaration, offset, size and signedness.
:func:`parse_format` reads that text into a :class:`TracepointFormat`;
:meth:`TracepointFormat.decode` turns a payload into a dict:

* integers of 1, 2, 4 or 8 bytes (``int``, ``pid_t``, ``unsigned long``, pointers,
  ``bool``, enums) are ints, signed where the file says ``signed:1``, in the machine's
  byte order (the kernel writes its own);
* fixed arrays (``char comm[16]``, ``unsigned long args[6]``): ``char`` arrays are
  strings ending at the first NUL (decoded like ``os.fsdecode``), ``u8`` arrays bytes,
  other arrays tuples of ints;
* ``__data_loc TYPE[] name``: a u32 whose low 16 bits are the data's offset in the
  record and high 16 bits its length (``__rel_loc``: the offset counts from the end of
  the field itself); ``char`` data is a string, other data as for fixed arrays;
* a trailing flexible array (``char buf[]``, size 0) runs to the end of the payload;
* anything else (structs, odd sizes) is the raw bytes.

Fields are decoded with one precompiled ``struct.Struct`` for all fixed-size scalars,
so a decode costs a few microseconds (``benchmarks/bench_tracefs.py``).
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

__all__ = ["FormatError", "TracepointField", "TracepointFormat", "parse_format",
           "tracefs_root"]

Value: TypeAlias = int | str | bytes | tuple[int, ...]

_FIELD = re.compile(
    r"^\s*field:(?P<decl>[^;]*);\s*offset:(?P<offset>\d+);\s*size:(?P<size>\d+);"
    r"\s*signed:(?P<signed>[01]);\s*$")
_DECL = re.compile(r"^(?P<type>.*?)\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*"
                   r"(?:\[(?P<len>[^\]]*)\])?$")
_LONG = struct.calcsize("l")
# element sizes of the C types that arrays are made of; pointers and longs are the machine's
_ELEMENT_SIZES = {
    "char": 1, "signed char": 1, "unsigned char": 1, "bool": 1, "_Bool": 1,
    "u8": 1, "s8": 1, "__u8": 1, "__s8": 1, "uint8_t": 1, "int8_t": 1,
    "short": 2, "unsigned short": 2, "u16": 2, "s16": 2, "__u16": 2, "__s16": 2,
    "uint16_t": 2, "int16_t": 2, "__be16": 2, "__le16": 2,
    "int": 4, "unsigned int": 4, "unsigned": 4, "u32": 4, "s32": 4, "__u32": 4,
    "__s32": 4, "uint32_t": 4, "int32_t": 4, "pid_t": 4, "__be32": 4, "__le32": 4,
    "long": _LONG, "unsigned long": _LONG,
    "long long": 8, "unsigned long long": 8, "u64": 8, "s64": 8, "__u64": 8, "__s64": 8,
    "uint64_t": 8, "int64_t": 8,
}
_INT_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}


class FormatError(ValueError):
    """A format file, or a payload, that cannot be read as a tracepoint's."""


def tracefs_root() -> Path:
    """Where tracefs is mounted: ``/sys/kernel/tracing``, else the debugfs path.

    Raises ``perfsys.events.TracefsNotMounted`` (a FileNotFoundError) when neither is.
    """
    from perfsys.events import EventCatalog

    return EventCatalog().tracefs


@dataclass(frozen=True)
class TracepointField:
    """One field of a tracepoint record, as its format file describes it.

    ``type`` is the C type without the array part (``char``, ``unsigned long``,
    ``pid_t``); ``array_len`` the declared element count (``None`` for a scalar, 0 for
    ``[]``); ``data_loc`` is ``"__data_loc"`` or ``"__rel_loc"`` for dynamic fields
    (whose ``size`` is that of the u32 locator) and ``None`` otherwise.
    """

    name: str
    type: str
    offset: int
    size: int
    signed: bool
    array_len: int | None = None
    data_loc: str | None = None
    declaration: str = ""

    @property
    def is_common(self) -> bool:
        """One of the ``common_*`` fields every tracepoint record starts with."""
        return self.name.startswith("common_")

    @property
    def element_size(self) -> int | None:
        """The size of one element of an array (or of dynamic data); ``None`` if unknown."""
        if self.array_len:
            return self.size // self.array_len
        base = self.type.replace("const ", "").replace("volatile ", "").strip()
        if base.endswith("*"):
            return _LONG
        return _ELEMENT_SIZES.get(base)

    @property
    def is_string(self) -> bool:
        return self.type.replace("const ", "").strip() in ("char", "signed char")

    def describe(self) -> str:
        """One line: offset, size, signedness and declaration."""
        sign = "signed" if self.signed else "unsigned"
        return f"{self.offset:4d} {self.size:4d}  {sign:8s}  {self.declaration}"


def _parse_field(line: str, where: str) -> TracepointField:
    m = _FIELD.match(line)
    if m is None:
        raise FormatError(f"{where}: not a field line: {line.strip()!r}")
    decl = m["decl"].strip()
    data_loc = None
    for kw in ("__data_loc", "__rel_loc"):
        if decl.startswith(kw + " "):
            data_loc = kw
            decl_rest = decl[len(kw):].strip()
            # "__data_loc char[] name": the brackets belong to the type
            dm = re.match(r"^(?P<type>.*?)\s*\[\s*\]\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)$",
                          decl_rest)
            if dm is None:
                dm = _DECL.match(decl_rest)
            if dm is None:
                raise FormatError(f"{where}: cannot read the declaration {decl!r}")
            return TracepointField(dm["name"], dm["type"].strip(), int(m["offset"]),
                                   int(m["size"]), m["signed"] == "1", None, data_loc, decl)
    dm = _DECL.match(decl)
    if dm is None:
        raise FormatError(f"{where}: cannot read the declaration {decl!r}")
    array_len: int | None = None
    if dm["len"] is not None:
        text = dm["len"].strip()
        if text == "":
            array_len = 0
        else:
            try:
                array_len = int(text, 0)
            except ValueError:
                raise FormatError(f"{where}: array length {text!r} of {dm['name']} is not a "
                                  "number") from None
            if array_len <= 0 or int(m["size"]) % array_len:
                raise FormatError(f"{where}: {dm['name']}: size {m['size']} is not "
                                  f"{array_len} whole elements")
    return TracepointField(dm["name"], dm["type"].strip(), int(m["offset"]), int(m["size"]),
                           m["signed"] == "1", array_len, None, decl)


@dataclass
class TracepointFormat:
    """A tracepoint's format: its name, id, fields in order, and print format."""

    system: str
    name: str
    id: int
    fields: tuple[TracepointField, ...]
    print_fmt: str = ""
    _plan: tuple[struct.Struct, tuple[TracepointField, ...], tuple[TracepointField, ...],
                 int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, event: str, tracefs: str | os.PathLike[str] | None = None) -> TracepointFormat:
        """Read ``SYSTEM:NAME``'s format file (``SYSTEM/NAME`` works too)."""
        system, sep, name = event.replace("/", ":").partition(":")
        if not sep or not system or not name or ":" in name:
            raise ValueError(f"{event!r}: a tracepoint is named SYSTEM:NAME "
                             "(e.g. sched:sched_switch)")
        root = Path(tracefs) if tracefs is not None else tracefs_root()
        path = root / "events" / system / name / "format"
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise FileNotFoundError(
                2, f"no tracepoint {system}:{name} in {root} "
                   f"(`python -m perfsys list {name}` lists those there are)",
                str(path)) from None
        return parse_format(text, system=system, where=str(path))

    def __iter__(self) -> Iterator[TracepointField]:
        return iter(self.fields)

    def __getitem__(self, name: str) -> TracepointField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.system}:{self.name} has no field {name!r}; it has "
                       f"{', '.join(f.name for f in self.fields)}")

    @property
    def size(self) -> int:
        """The fixed part of the record: the end of the last field."""
        return max((f.offset + f.size for f in self.fields), default=0)

    def _compile(self) -> tuple[struct.Struct, tuple[TracepointField, ...],
                                tuple[TracepointField, ...], int]:
        if self._plan is None:
            codes, scalars, rest = ["="], [], []
            pos = 0
            for f in sorted(self.fields, key=lambda f: f.offset):
                if f.data_loc is None and f.array_len is None and f.size in _INT_CODES:
                    if f.offset < pos:   # overlapping (a union): decode on its own
                        rest.append(f)
                        continue
                    if f.offset > pos:
                        codes.append(f"{f.offset - pos}x")
                    code = _INT_CODES[f.size]
                    codes.append(code if f.signed else code.upper())
                    scalars.append(f)
                    pos = f.offset + f.size
                else:
                    rest.append(f)
            self._plan = (struct.Struct("".join(codes)), tuple(scalars), tuple(rest), pos)
        return self._plan

    def decode(self, raw: bytes | bytearray | memoryview) -> dict[str, Value]:
        """The payload's fields by name, in the format file's order.

        ``raw`` is the record as the kernel wrote it (a sample's ``raw``, padding and
        all). A payload shorter than the fixed part, a ``common_type`` that is not this
        tracepoint's id, or dynamic data reaching past the payload is a FormatError.
        """
        data = bytes(raw)
        st, scalars, rest, _end = self._compile()
        if len(data) < self.size:
            raise FormatError(f"{self.system}:{self.name}: payload of {len(data)} bytes is "
                              f"shorter than the record's {self.size}")
        out: dict[str, Value] = dict(zip((f.name for f in scalars), st.unpack_from(data),
                                         strict=True))
        common = out.get("common_type")
        if isinstance(common, int) and common != self.id & 0xFFFF:
            raise FormatError(f"{self.system}:{self.name}: the payload's common_type is "
                              f"{common}, not this tracepoint's id {self.id}")
        if rest:
            for f in rest:
                out[f.name] = self._value(f, data)
            out = {f.name: out[f.name] for f in self.fields}
        return out

    def _value(self, f: TracepointField, data: bytes) -> Value:
        if f.data_loc is not None:
            (loc,) = struct.unpack_from("=I", data, f.offset)
            start, length = loc & 0xFFFF, loc >> 16
            if f.data_loc == "__rel_loc":
                start += f.offset + f.size
            if start + length > len(data):
                raise FormatError(f"{self.system}:{self.name}: {f.name}'s data "
                                  f"({length} bytes at {start}) runs past the payload "
                                  f"({len(data)} bytes)")
            return self._array(f, data[start:start + length])
        if f.array_len == 0:   # a flexible array: the rest of the payload
            return self._array(f, data[f.offset:])
        chunk = data[f.offset:f.offset + f.size]
        if f.array_len is None:
            if f.size in _INT_CODES:   # a scalar that overlaps another field
                code = _INT_CODES[f.size]
                (v,) = struct.unpack("=" + (code if f.signed else code.upper()), chunk)
                return int(v)
            return chunk
        return self._array(f, chunk)

    def _array(self, f: TracepointField, chunk: bytes) -> Value:
        if f.is_string:
            return os.fsdecode(chunk.split(b"\0", 1)[0])
        size = f.element_size
        if size == 1 or size not in _INT_CODES or len(chunk) % size:
            return chunk
        code = _INT_CODES[size]
        return struct.unpack(f"={len(chunk) // size}{code if f.signed else code.upper()}",
                             chunk)

    def describe(self) -> list[str]:
        """Lines listing the fields: offset, size, signedness, declaration."""
        return [f.describe() for f in self.fields]


def parse_format(text: str, system: str = "", where: str = "format") -> TracepointFormat:
    """Parse the text of a tracefs ``format`` file.

    Lines it does not understand are a FormatError naming ``where`` and the line.
    """
    name: str | None = None
    ident: int | None = None
    fields: list[TracepointField] = []
    print_fmt = ""
    in_format = False
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("print fmt:"):   # the last item; it may span lines
            print_fmt = "\n".join([line[len("print fmt:"):].strip(), *lines[i + 1:]]).strip()
            break
        if line.startswith("name:"):
            name = line[5:].strip()
        elif line.startswith("ID:"):
            try:
                ident = int(line[3:].strip())
            except ValueError:
                raise FormatError(f"{where}: ID {line[3:].strip()!r} is not a number") from None
        elif line.startswith("format:"):
            in_format = True
        elif in_format and line.strip():
            fields.append(_parse_field(line, where))
        elif line.strip() and not in_format:
            raise FormatError(f"{where}: unexpected line {line.strip()!r}")
    if name is None or ident is None:
        raise FormatError(f"{where}: no {'name' if name is None else 'ID'} line; is this a "
                          "tracefs format file?")
    seen: set[str] = set()
    for f in fields:
        if f.name in seen:
            raise FormatError(f"{where}: field {f.name!r} appears twice")
        seen.add(f.name)
    return TracepointFormat(system, name, ident, tuple(fields), print_fmt)
