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
  strings ending at the first NUL (decoded as ``os.fsdecode`` does), ``u8`` arrays bytes,
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
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

__all__ = ["FormatError", "TracepointField", "TracepointFormat", "parse_format",
           "tracefs_root"]

Value: TypeAlias = int | str | bytes | tuple[int, ...]
# the compiled decoder: the struct of the fixed integers, their names, a reader for each
# other field, and whether common_type is checked
_Plan: TypeAlias = tuple[struct.Struct, tuple[str, ...],
                         tuple[tuple[str, Callable[[bytes], Value]], ...], bool]
_U32 = struct.Struct("=I")

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
    _plan: _Plan | None = field(default=None, repr=False, compare=False)

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

    def _compile(self) -> _Plan:
        if self._plan is None:
            codes, names, rest = ["="], [], []
            pos = 0
            for f in sorted(self.fields, key=lambda f: f.offset):
                if f.data_loc is None and f.array_len is None and f.size in _INT_CODES \
                        and f.offset >= pos:
                    if f.offset > pos:
                        codes.append(f"{f.offset - pos}x")
                    code = _INT_CODES[f.size]
                    codes.append(code if f.signed else code.upper())
                    names.append(f.name)
                    pos = f.offset + f.size
                else:   # arrays, strings, odd sizes, and scalars overlapping another field
                    rest.append((f.name, self._reader(f)))
            check = names[0] == "common_type" and self.fields[0].offset == 0 if names else False
            self._plan = (struct.Struct("".join(codes)), tuple(names), tuple(rest), check)
        return self._plan

    def decode(self, raw: bytes | bytearray | memoryview) -> dict[str, Value]:
        """The payload's fields by name (the fixed-size integers first).

        ``raw`` is the record as the kernel wrote it (a sample's ``raw``, padding and
        all). A payload shorter than the fixed part, a ``common_type`` that is not this
        tracepoint's id, or dynamic data reaching past the payload is a FormatError.
        """
        data = raw if isinstance(raw, bytes) else bytes(raw)
        st, names, rest, check = self._compile()
        if len(data) < self.size:
            raise FormatError(f"{self.system}:{self.name}: payload of {len(data)} bytes is "
                              f"shorter than the record's {self.size}")
        values = st.unpack_from(data)
        if check and values[0] != self.id & 0xFFFF:
            raise FormatError(f"{self.system}:{self.name}: the payload's common_type is "
                              f"{values[0]}, not this tracepoint's id {self.id}")
        out: dict[str, Value] = dict(zip(names, values))  # noqa: B905 (equal by construction)
        for name, read in rest:
            out[name] = read(data)
        return out

    def _reader(self, f: TracepointField) -> Callable[[bytes], Value]:
        """A function that reads field f from a payload."""
        array = self._array_reader(f)
        if f.data_loc is not None:
            rel = f.offset + f.size if f.data_loc == "__rel_loc" else 0
            where = f"{self.system}:{self.name}: {f.name}'s data"

            def dynamic(data: bytes) -> Value:
                (loc,) = _U32.unpack_from(data, f.offset)
                start = (loc & 0xFFFF) + rel
                end = start + (loc >> 16)
                if end > len(data):
                    raise FormatError(f"{where} ({loc >> 16} bytes at {start}) runs past the "
                                      f"payload ({len(data)} bytes)")
                return array(data[start:end])
            return dynamic
        if f.array_len == 0:   # a flexible array: the rest of the payload
            return lambda data: array(data[f.offset:])
        lo, hi = f.offset, f.offset + f.size
        if f.array_len is None:
            if f.size in _INT_CODES:   # a scalar that overlaps another field
                code = _INT_CODES[f.size]
                one = struct.Struct("=" + (code if f.signed else code.upper()))
                return lambda data: int(one.unpack_from(data, lo)[0])
            return lambda data: data[lo:hi]
        if f.is_string:   # the common case, in one step
            enc = sys.getfilesystemencoding()
            return lambda data: data[lo:hi].split(b"\0", 1)[0].decode(enc, "surrogateescape")
        return lambda data: array(data[lo:hi])

    @staticmethod
    def _array_reader(f: TracepointField) -> Callable[[bytes], Value]:
        if f.is_string:
            enc = sys.getfilesystemencoding()
            return lambda chunk: chunk.split(b"\0", 1)[0].decode(enc, "surrogateescape")
        size = f.element_size
        if size is None or size == 1 or size not in _INT_CODES:
            return lambda chunk: chunk
        code = _INT_CODES[size]
        code = code if f.signed else code.upper()

        def ints(chunk: bytes) -> Value:
            if len(chunk) % size:
                return chunk
            return struct.unpack(f"={len(chunk) // size}{code}", chunk)
        return ints

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
