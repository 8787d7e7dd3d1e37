#!/usr/bin/env python3
"""Generate src/perfsys/constants.py and src/_perfsys_abi.h from the Linux UAPI perf headers.

Reads ``linux/perf_event.h`` and ``linux/hw_breakpoint.h`` from the ``ziglang``
wheel (which ships the kernel's UAPI headers under
``ziglang/lib/libc/include/any-linux-any``) and parses them with libclang, once
for a little-endian target (x86_64) and once for a big-endian one (s390x), so
that records the headers declare differently per byte order get both layouts.

Output is a pure function of the headers and this script: names are emitted in
declaration order, with no paths, dates or host details, so the result is byte
for byte reproducible. Run it through tools/regenerate.sh, which pins the inputs.

The same numbers reach C as src/_perfsys_abi.h: every constant, every enum
member, the ioctl requests, and each record's sizeof, member offsets and
bitfield positions, under names of their own (see the header's comment), and
the lists from which the module builds `_abi` and `_abi_bits` for
tests/test_abi.py.

    python3 tools/gen_constants.py [--output FILE] [--doc-from FILE]
                                   [--abi-output FILE] [--check]
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import keyword
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import clang.cindex as ci

ROOT = Path(__file__).resolve().parent.parent
TARGET_FILE = ROOT / "src" / "perfsys" / "constants.py"
ABI_FILE = ROOT / "src" / "_perfsys_abi.h"
HEADERS = ("linux/perf_event.h", "linux/hw_breakpoint.h")
COMMAND = "tools/regenerate.sh"
MARKER = "# --- generated below this line by tools/gen_constants.py; edit that, not this ---"

# Clang target triple and the wheel's per-architecture include folder (its asm/).
TARGETS = {
    "little": ("x86_64-linux-gnu", "x86-linux-any"),
    "big": ("s390x-linux-gnu", "s390x-linux-any"),
}

# Macros built with _IO/_IOR/_IOW/_IOWR depend on the architecture: their
# numbers come from the compiled module, which the C compiler computes.
IOCTL_BUILDERS = {"_IO", "_IOR", "_IOW", "_IOWR"}

# Names for the headers' anonymous enums, keyed by their first member. An
# anonymous enum missing here gets a name derived from its members' common
# prefix (and the generator says so on stderr).
ANON_ENUM_NAMES = {
    "PERF_BR_UNKNOWN": "perf_br_type",
    "PERF_BR_SPEC_NA": "perf_br_spec",
    "PERF_BR_NEW_FAULT_ALGN": "perf_br_new_type",
    "PERF_BR_PRIV_UNKNOWN": "perf_br_priv",
    "PERF_TXN_ELISION": "perf_txn",
    "NET_NS_INDEX": "perf_ns_index",
    "HW_BREAKPOINT_LEN_1": "hw_breakpoint_len",
    "HW_BREAKPOINT_EMPTY": "hw_breakpoint_type",
}

# Records whose constructor presets a `size` member to the record's full size.
SIZE_PRESET = {"perf_event_attr"}

DEFAULT_DOC = '''"""The kernel's perf_event ABI: constants, enum tables, ctypes layouts."""
'''


def fail(msg: str) -> NoReturn:
    sys.exit(f"gen_constants: {msg}")


def zig_include_dir() -> Path:
    try:
        import ziglang
    except ImportError:
        fail("the `ziglang` package is not installed (pip install '.[regen]')")
    return Path(ziglang.__file__).resolve().parent / "lib" / "libc" / "include"


def package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


# --------------------------------------------------------------------------
# parsing


def parse(source: str, byteorder: str) -> ci.TranslationUnit:
    triple, archdir = TARGETS[byteorder]
    inc = zig_include_dir()
    args = [
        "-x", "c", "-std=gnu11", "-target", triple, "-nostdinc",
        "-I", str(inc / archdir), "-I", str(inc / "any-linux-any"),
        "-Wno-everything",
    ]
    index = ci.Index.create()
    tu = index.parse(
        "perfsys_gen.c", args=args, unsaved_files=[("perfsys_gen.c", source)],
        options=ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD
        | ci.TranslationUnit.PARSE_SKIP_FUNCTION_BODIES,
    )
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        fail("libclang: " + "; ".join(str(d) for d in errors))
    return tu


def header_of(cursor: ci.Cursor) -> str | None:
    """Which of HEADERS (or linux/version.h) declares `cursor`, if any."""
    f = cursor.location.file
    if f is None:
        return None
    name = f.name.replace(os.sep, "/")
    for h in (*HEADERS, "linux/version.h"):
        if name.endswith("/any-linux-any/" + h):
            return h
    return None


@dataclasses.dataclass
class Macro:
    name: str
    header: str
    line: int
    body: list[str]
    value: int | None = None


@dataclasses.dataclass
class Enum:
    name: str  # the table's name
    c_name: str | None  # None for an anonymous enum
    header: str
    line: int
    members: list[tuple[str, int, str]]  # (name, value, source spelling)


@dataclasses.dataclass
class Field:
    name: str
    ctype: str  # a ctypes expression, or a helper class's name
    bits: int | None = None
    record: Record | None = None  # for anonymous members


@dataclasses.dataclass
class Record:
    kind: str  # "struct" | "union"
    name: str  # class name
    fields: list[Field]
    size: int
    align: int
    header: str = ""
    line: int = 0
    # every member's offset in bits, as the compiler lays it out (top level only)
    bit_offsets: dict[str, int] = dataclasses.field(default_factory=dict)

    def shape(self) -> tuple[object, ...]:
        return (
            self.kind,
            tuple((f.name, f.ctype, f.bits, f.record.shape() if f.record else None)
                  for f in self.fields),
        )


INT_TYPES = {
    (1, False): "c_uint8", (2, False): "c_uint16", (4, False): "c_uint32", (8, False): "c_uint64",
    (1, True): "c_int8", (2, True): "c_int16", (4, True): "c_int32", (8, True): "c_int64",
}
UNSIGNED_KINDS = {
    ci.TypeKind.UCHAR, ci.TypeKind.USHORT, ci.TypeKind.UINT, ci.TypeKind.ULONG,
    ci.TypeKind.ULONGLONG, ci.TypeKind.BOOL,
}
SIGNED_KINDS = {
    ci.TypeKind.SCHAR, ci.TypeKind.SHORT, ci.TypeKind.INT, ci.TypeKind.LONG,
    ci.TypeKind.LONGLONG,
}


def ctype_of(t: ci.Type) -> str:
    t = t.get_canonical()
    if t.kind == ci.TypeKind.CHAR_S or t.kind == ci.TypeKind.CHAR_U:
        return "c_char"
    if t.kind in UNSIGNED_KINDS or t.kind in SIGNED_KINDS:
        return INT_TYPES[(t.get_size(), t.kind in SIGNED_KINDS)]
    if t.kind == ci.TypeKind.CONSTANTARRAY:
        return f"{ctype_of(t.element_type)} * {t.element_count}"
    if t.kind == ci.TypeKind.INCOMPLETEARRAY:
        return f"{ctype_of(t.element_type)} * 0"
    if t.kind == ci.TypeKind.POINTER:
        return "c_void_p"
    if t.kind == ci.TypeKind.RECORD:
        return t.get_declaration().spelling
    fail(f"unsupported type {t.spelling} ({t.kind})")


def read_record(cursor: ci.Cursor, name: str) -> Record:
    kind = "union" if cursor.kind == ci.CursorKind.UNION_DECL else "struct"
    fields: list[Field] = []
    anon = 0
    children = list(cursor.get_children())
    unnamed_types: dict[str, str] = {}  # an unnamed record's USR -> its helper class
    for i, child in enumerate(children):
        if child.kind in (ci.CursorKind.STRUCT_DECL, ci.CursorKind.UNION_DECL) and \
                child.is_definition() and child.is_anonymous():
            sub = read_record(child, f"{name}_anon{anon}")
            nxt = children[i + 1] if i + 1 < len(children) else None
            if nxt is not None and nxt.kind == ci.CursorKind.FIELD_DECL and \
                    nxt.type.get_canonical().get_declaration() == child:
                # `struct { ... } member;`: a named member of an unnamed type
                fail(f"{name}: named member of an unnamed type ({nxt.spelling}) is not supported")
            fields.append(Field(f"_anon{anon}", f"{name}_anon{anon}", record=sub))
            unnamed_types[child.get_usr()] = sub.name
            anon += 1
        elif child.kind == ci.CursorKind.FIELD_DECL:
            bits = child.get_bitfield_width() if child.is_bitfield() else None
            fields.append(Field(child.spelling, ctype_of(child.type), bits))
    t = cursor.type
    return Record(kind, name, fields, t.get_size(), t.get_align())


def scan(tu: ci.TranslationUnit) -> tuple[list[Macro], list[Enum], list[Record], dict[str, int]]:
    macros: list[Macro] = []
    enums: list[Enum] = []
    records: list[Record] = []
    version: dict[str, int] = {}
    for cur in tu.cursor.get_children():
        h = header_of(cur)
        if h is None:
            continue
        if cur.kind == ci.CursorKind.MACRO_DEFINITION:
            toks = list(cur.get_tokens())
            if len(toks) >= 2 and toks[1].spelling == "(" and \
                    toks[1].extent.start.offset == toks[0].extent.end.offset:
                continue  # function-like
            body = [t.spelling for t in toks[1:]]
            if not body:
                continue  # include guard
            if h == "linux/version.h":
                if cur.spelling.startswith("LINUX_VERSION_") and len(body) == 1:
                    version[cur.spelling] = int(body[0], 0)
                continue
            macros.append(Macro(cur.spelling, h, cur.location.line, body))
        elif cur.kind == ci.CursorKind.ENUM_DECL and cur.is_definition() and h in HEADERS:
            members = []
            for m in cur.get_children():
                if m.kind == ci.CursorKind.ENUM_CONSTANT_DECL:
                    src = " ".join(t.spelling for t in m.get_tokens())
                    members.append((m.spelling, m.enum_value, src))
            if cur.is_anonymous():
                first = members[0][0]
                name = ANON_ENUM_NAMES.get(first) or derived_enum_name(members)
                c_name = None
            else:
                name = c_name = cur.spelling
            enums.append(Enum(name, c_name, h, cur.location.line, members))
        elif cur.kind in (ci.CursorKind.STRUCT_DECL, ci.CursorKind.UNION_DECL) and \
                cur.is_definition() and h in HEADERS and not cur.is_anonymous():
            rec = read_record(cur, cur.spelling)
            rec.header, rec.line = h, cur.location.line
            for f in flat_fields(rec):
                offset = cur.type.get_offset(f.name)
                if offset < 0:
                    fail(f"libclang gives no offset for {rec.name}.{f.name}")
                rec.bit_offsets[f.name] = offset
            records.append(rec)
    return macros, enums, records, version


def derived_enum_name(members: list[tuple[str, int, str]]) -> str:
    names = [m[0] for m in members]
    words = [n.split("_") for n in names]
    common = []
    for parts in zip(*words, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    prefix = "_".join(common).lower()
    name = prefix or names[0].lower()
    print(f"gen_constants: note: anonymous enum starting {names[0]} named {name!r}; "
          "add it to ANON_ENUM_NAMES", file=sys.stderr)
    return name


def includes() -> str:
    return "".join(f"#include <{h}>\n" for h in (*HEADERS, "linux/version.h"))


def evaluate_macros(macros: list[Macro], byteorder: str) -> None:
    """Evaluate each macro as an enumerator initialiser in a generated TU."""
    lines = [includes()]
    for m in macros:
        if m.value is None and not IOCTL_BUILDERS & set(m.body):
            lines.append(f"enum {{ perfsys_gen__{m.name} = ({m.name}) }};\n")
    tu = parse("".join(lines), byteorder)
    values: dict[str, int] = {}
    for cur in tu.cursor.get_children():
        if cur.kind == ci.CursorKind.ENUM_DECL and cur.location.file is not None \
                and cur.location.file.name == "perfsys_gen.c":
            for m in cur.get_children():
                if m.spelling.startswith("perfsys_gen__"):
                    values[m.spelling[len("perfsys_gen__"):]] = m.enum_value
    for m in macros:
        if not IOCTL_BUILDERS & set(m.body):
            if m.name not in values:
                fail(f"macro {m.name} is not an integer constant")
            m.value = values[m.name]


Headers = tuple[list[Macro], list[Enum], list[Record], dict[str, Record], tuple[int, int, int]]


def read_headers() -> Headers:
    src = includes()
    macros, enums, records, version = scan(parse(src, "little"))
    evaluate_macros(macros, "little")
    # The big-endian parse: records' declarations may differ; numbers may not.
    be_macros, be_enums, be_records, _ = scan(parse(src, "big"))
    evaluate_macros(be_macros, "big")
    if [(m.name, m.value) for m in macros] != [(m.name, m.value) for m in be_macros]:
        fail("a macro's value differs between byte orders")
    if [(e.name, e.members) for e in enums] != [(e.name, e.members) for e in be_enums]:
        fail("an enum differs between byte orders")
    if [r.name for r in records] != [r.name for r in be_records]:
        fail("the records differ between byte orders")
    be = {r.name: r for r in be_records}
    ver = (version["LINUX_VERSION_MAJOR"], version["LINUX_VERSION_PATCHLEVEL"],
           version["LINUX_VERSION_SUBLEVEL"])
    return macros, enums, records, be, ver


# --------------------------------------------------------------------------
# asm/perf_regs.h of every architecture: the register numbers of
# sample_regs_user/sample_regs_intr. Each header declares one enum and a few
# masks; their numbers do not depend on the target, so one host parse of each
# architecture's folder serves.

# The kernel's name for each architecture -> the wheel's include folder, and the
# macros that select the variant the kernel builds (csky: ABI v2, its current one).
REGS_ARCHS = {
    "arm": ("arm-linux-any", []),
    "arm64": ("aarch64-linux-any", []),
    "csky": ("csky-linux-any", ["-D__CSKYABIV2__"]),
    "loongarch": ("loongarch-linux-any", []),
    "mips": ("mips-linux-any", []),
    "powerpc": ("powerpc-linux-any", []),
    "riscv": ("riscv-linux-any", []),
    "s390": ("s390x-linux-any", []),
    "x86": ("x86-linux-any", []),
}


@dataclasses.dataclass
class RegsHeader:
    arch: str
    enum: str  # the enum's C name
    members: list[tuple[str, int, str]]  # (name, value, source spelling)
    macros: list[tuple[str, int]]


def parse_regs(source: str, arch: str) -> ci.TranslationUnit:
    folder, defines = REGS_ARCHS[arch]
    args = ["-x", "c", "-std=gnu11", "-target", TARGETS["little"][0], "-nostdinc",
            "-I", str(zig_include_dir() / folder), *defines, "-Wno-everything"]
    tu = ci.Index.create().parse(
        "perfsys_regs.c", args=args, unsaved_files=[("perfsys_regs.c", source)],
        options=ci.TranslationUnit.PARSE_DETAILED_PROCESSING_RECORD)
    errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        fail(f"libclang ({arch} perf_regs.h): " + "; ".join(str(d) for d in errors))
    return tu


def read_perf_regs() -> list[RegsHeader]:
    out = []
    for arch, (folder, _defines) in REGS_ARCHS.items():
        src = "#include <asm/perf_regs.h>\n"
        enums: list[tuple[str, list[tuple[str, int, str]]]] = []
        names: list[str] = []
        for cur in parse_regs(src, arch).cursor.get_children():
            f = cur.location.file
            if f is None or not f.name.replace(os.sep, "/").endswith(
                    f"/{folder}/asm/perf_regs.h"):
                continue
            if cur.kind == ci.CursorKind.MACRO_DEFINITION:
                toks = list(cur.get_tokens())
                function_like = len(toks) >= 2 and toks[1].spelling == "(" and \
                    toks[1].extent.start.offset == toks[0].extent.end.offset
                if len(toks) >= 2 and not function_like:  # not an include guard
                    names.append(cur.spelling)
            elif cur.kind == ci.CursorKind.ENUM_DECL and cur.is_definition():
                enums.append((cur.spelling, [
                    (m.spelling, m.enum_value, " ".join(t.spelling for t in m.get_tokens()))
                    for m in cur.get_children() if m.kind == ci.CursorKind.ENUM_CONSTANT_DECL]))
        if len(enums) != 1:
            fail(f"{folder}/asm/perf_regs.h declares {len(enums)} enums, not one")
        values: dict[str, int] = {}
        probe = src + "".join(f"enum {{ perfsys_gen__{n} = ({n}) }};\n" for n in names)
        for cur in parse_regs(probe, arch).cursor.get_children():
            if cur.kind == ci.CursorKind.ENUM_DECL and cur.location.file is not None \
                    and cur.location.file.name == "perfsys_regs.c":
                for m in cur.get_children():
                    values[m.spelling[len("perfsys_gen__"):]] = m.enum_value
        for n in names:
            if n not in values:
                fail(f"macro {n} of {folder}/asm/perf_regs.h is not an integer constant")
        # masks are unsigned long long: keep them as the u64 the kernel compares with
        macros = [(n, values[n] & (1 << 64) - 1) for n in names]
        out.append(RegsHeader(arch, enums[0][0], enums[0][1], macros))
    return out


def render_perf_regs() -> tuple[list[str], list[str]]:
    """The lines of the perf_regs section and the public names they define."""
    regs = read_perf_regs()
    lines = ["", "",
             "# ---- <asm/perf_regs.h> of each architecture: register numbers, the bits of",
             "# sample_regs_user and sample_regs_intr (csky: its ABI v2)", ""]
    public = []
    for h in regs:
        lines.append(f"# {h.arch}: enum {h.enum}")
        for name, value, spelling in h.members:
            lines.append(f"{name}: Final = {literal(value, spelling)}")
            public.append(name)
        lines.append("")
    lines.append("PERF_REGS: Final = _ro({")
    for h in regs:
        lines.append(f'    "{h.arch}": _ro({{')
        lines += [f'        "{n}": {n},' for n, _v, _s in h.members]
        lines.append("    }),")
    lines.append("})")
    lines.append('"""Each architecture\'s perf_regs.h enum, by the kernel\'s name for the '
                 'architecture."""')
    lines.append("")
    lines.append("PERF_REGS_MASKS: Final = _ro({")
    for h in regs:
        body = ", ".join(f'"{n}": {hex(v)}' for n, v in h.macros)
        lines.append(f'    "{h.arch}": _ro({{{body}}}),')
    lines.append("})")
    lines.append('"""The masks each perf_regs.h defines (the same name differs by '
                 'architecture)."""')
    lines.append("")
    public += ["PERF_REGS", "PERF_REGS_MASKS"]
    return lines, public



# --------------------------------------------------------------------------
# output


def literal(value: int, spelling: str) -> str:
    if value < 0:
        return str(value)
    if any(t in spelling.lower() for t in ("0x", "<<", "|")) or value >= 1 << 16:
        return hex(value)
    return str(value)


def walk_classes(rec: Record) -> Iterator[Record]:
    """Helper records first (innermost first), then the record itself."""
    for f in rec.fields:
        if f.record is not None:
            yield from walk_classes(f.record)
    yield rec


def field_lines(rec: Record, indent: str) -> list[str]:
    out = []
    for f in rec.fields:
        ctype = f"_{f.ctype}" if f.record is not None else f.ctype
        if f.bits is not None:
            out.append(f'{indent}("{f.name}", {ctype}, {f.bits}),')
        else:
            out.append(f'{indent}("{f.name}", {ctype}),')
    return out


def py_type(ctype: str) -> str:
    """The Python type a ctypes member reads as, for type checkers."""
    parts = ctype.split(" * ")
    if len(parts) > 1:
        inner = parts[0]
        for _ in parts[1:]:
            inner = f"Array[{inner}]"
        return inner
    return {"c_char": "bytes", "c_void_p": "int | None"}.get(ctype, "int" if
                                                           ctype.startswith("c_") else ctype)


def flat_fields(rec: Record) -> Iterator[Field]:
    for f in rec.fields:
        if f.record is not None:
            yield from flat_fields(f.record)
        else:
            yield f


def class_name(rec: Record, top: str) -> str:
    return rec.name if rec.name == top else f"_{rec.name}"


def emit_record(rec: Record, be: Record) -> list[str]:
    out: list[str] = []
    le_classes = list(walk_classes(rec))
    be_classes = {r.name: r for r in walk_classes(be)}
    if [r.name for r in le_classes] != list(be_classes):
        fail(f"{rec.name}: anonymous members differ between byte orders")
    for cls in le_classes:
        other = be_classes[cls.name]
        name = class_name(cls, rec.name)
        base = "Union" if cls.kind == "union" else "Structure"
        own = dataclasses.replace(cls, fields=[dataclasses.replace(f, record=None)
                                               for f in cls.fields])
        own_be = dataclasses.replace(other, fields=[dataclasses.replace(f, record=None)
                                                    for f in other.fields])
        dual = own.shape() != own_be.shape()
        if dual:
            out.append(f"# {name}: the headers lay its members out per byte order.")
            out.append(f"{name}_fields_le = [")
            out += field_lines(cls, "    ")
            out.append("]")
            out.append(f"{name}_fields_be = [")
            out += field_lines(other, "    ")
            out.append("]")
            out.append("")
            out.append("")
        out.append(f"class {name}({base}):")
        if cls.name == rec.name:
            out.append(f'    """{"union" if cls.kind == "union" else "struct"} {rec.name} '
                       f'({cls.size} bytes) of <{rec.header}>."""')
            out.append("")
        if cls.name == rec.name:
            # what each member reads as, for type checkers (ctypes ignores these)
            for f in flat_fields(cls):
                if not keyword.iskeyword(f.name):
                    out.append(f"    {f.name}: {py_type(f.ctype)}")
            out.append("")
        anon = [f.name for f in cls.fields if f.record is not None]
        if anon:
            names = ", ".join(f'"{a}"' for a in anon)
            out.append(f"    _anonymous_ = ({names},)")
        if dual:
            out.append(f"    _fields_ = {name}_fields_le if _LITTLE else {name}_fields_be")
        else:
            out.append("    _fields_ = [")
            out += field_lines(cls, "        ")
            out.append("    ]")
        if cls.name == rec.name and rec.name in SIZE_PRESET:
            out += [
                "",
                "    def __init__(self, *args: Any, **kwargs: Any) -> None:",
                f'        """Zero-filled, with `size` preset to {cls.size} unless given."""',
                "        super().__init__(*args, **kwargs)",
                '        if len(args) < 2 and "size" not in kwargs:',
                f"            self.size = {cls.size}",
            ]
        out.append("")
        out.append("")
    return out


def build_ctypes(rec: Record, byteorder: str, cache: dict[str, type]) -> type:
    """A ctypes class for `rec` laid out in `byteorder`, whatever the host's."""
    import ctypes

    fields: list[tuple[object, ...]] = []
    for f in rec.fields:
        if f.record is not None:
            fields.append((f.name, build_ctypes(f.record, byteorder, cache)))
            continue
        parts = f.ctype.split(" * ")
        t = cache[parts[0]] if parts[0] in cache else getattr(ctypes, parts[0])
        for n in parts[1:]:
            t = t * int(n)
        fields.append((f.name, t) if f.bits is None else (f.name, t, f.bits))
    prefix = "LittleEndian" if byteorder == "little" else "BigEndian"
    base = getattr(ctypes, prefix + ("Union" if rec.kind == "union" else "Structure"))
    anon = tuple(f.name for f in rec.fields if f.record is not None)
    cls = type(rec.name, (base,), {"_anonymous_": anon, "_fields_": fields})
    # Already in `byteorder`: an enclosing record of that byte order takes it as it is.
    cls.__ctype_be__ = cls.__ctype_le__ = cls  # type: ignore[attr-defined]
    cache[rec.name] = cls
    return cls


def verify(rec: Record, byteorder: str) -> None:
    """Check the ctypes layout of `rec` against the compiler's, bit for bit:
    size, alignment, and where each member's first bit lies and how many it has."""
    import ctypes

    cls = build_ctypes(rec, byteorder, {})
    where = f"{rec.name} ({byteorder}-endian)"
    if (ctypes.sizeof(cls), ctypes.alignment(cls)) != (rec.size, rec.align):
        fail(f"{where}: ctypes lays it out in {ctypes.sizeof(cls)} bytes aligned to "
             f"{ctypes.alignment(cls)}, the compiler in {rec.size} aligned to {rec.align}")
    for f in flat_fields(rec):
        if f.bits is None:
            got = getattr(cls, f.name).offset * 8
        else:
            obj = cls()
            setattr(obj, f.name, (1 << f.bits) - 1)
            image = bytes(obj)
            # bit k of the record: byte k // 8, counted from its LSB on little-endian
            # machines and from its MSB on big-endian ones, as compilers allocate
            set_bits = [8 * i + (j if byteorder == "little" else 7 - j)
                        for i, b in enumerate(image) for j in range(8) if b >> j & 1]
            if len(set_bits) != f.bits:
                fail(f"{where}: ctypes gives {f.name} {len(set_bits)} bits, not {f.bits}")
            got = min(set_bits)
        if got != rec.bit_offsets[f.name]:
            fail(f"{where}: ctypes puts {f.name} at bit {got}, "
                 f"the compiler at bit {rec.bit_offsets[f.name]}")


def in_header_order(macros: list[Macro], enums: list[Enum]) -> list[tuple[int, Macro | Enum]]:
    """(index in HEADERS, the item) for each macro and enum, as the headers declare them."""
    items: list[tuple[int, int, Macro | Enum]] = [
        *((HEADERS.index(m.header), m.line, m) for m in macros),
        *((HEADERS.index(e.header), e.line, e) for e in enums),
    ]
    items.sort(key=lambda i: (i[0], i[1]))
    return [(hidx, item) for hidx, _line, item in items]


def enum_label(e: Enum) -> str:
    return f"enum {e.c_name}" if e.c_name else f"anonymous enum ({e.name})"


def c_literal(value: int, spelling: str, wide: bool) -> str:
    """`value` as an unsigned C constant: 64 bits wide where the header's is."""
    if value < 0:
        fail(f"negative constant {value} ({spelling}) has no unsigned spelling")
    return literal(value, spelling) + ("ull" if wide or value >= 1 << 32 else "u")


def render_abi_header(headers: Headers) -> str:
    macros, enums, records, be, version = headers
    zig = package_version("ziglang")
    ver = ".".join(str(v) for v in (version[0], version[1]))
    out = [
        f"/* Code generated by `{COMMAND}` from linux/perf_event.h and linux/hw_breakpoint.h",
        f"   of Linux {ver} (ziglang {zig}); DO NOT EDIT. */",
        "",
        "/* The kernel's perf_event ABI as C numbers, for src/_perfsys.c, which never",
        "   includes <linux/perf_event.h> (a build machine's copy may be years older).",
        "",
        "     PERF_*, HW_BREAKPOINT_*          the headers' constants and enum members",
        "     PERF_EVENT_IOC_*                 the ioctl requests, built by <linux/ioctl.h>",
        "     PERFSYS_SIZEOF(s)                sizeof(struct s)",
        "     PERFSYS_OFFSETOF(s, m)           offsetof(struct s, m); of a bitfield, the",
        "                                      offset of its storage unit",
        "     PERFSYS_BITFIELD(v, s, m)        bitfield m of s, from its storage unit v",
        "                                      read as a native integer",
        "     PERFSYS_BITSHIFT(s, m)           where that bitfield's lowest bit lies in v",
        "     PERFSYS_ABI_NUMBERS(X)           X(\"name\", value) for each number above",
        "     PERFSYS_ABI_IOCTLS(X)            X(PERF_EVENT_IOC_...) for each ioctl request",
        "     PERFSYS_ABI_BITFIELDS(X)         X(s, m) for each bitfield",
        "",
        "   Records whose members the headers lay out per byte order (perf_mem_data_src,",
        "   perf_sample_weight) have their size here, not their members. */",
        "",
        "#ifndef PERFSYS_ABI_H",
        "#define PERFSYS_ABI_H",
        "",
        "#if defined(_UAPI_LINUX_PERF_EVENT_H) || defined(_LINUX_PERF_EVENT_H)",
        "#  error \"_perfsys_abi.h replaces <linux/perf_event.h>; include only one\"",
        "#endif",
        "",
        "#include <linux/ioctl.h>",
        "#include <linux/types.h>",
        "",
        "/* named by the ioctl requests, never defined */",
        "struct perf_event_attr;",
        "struct perf_event_query_bpf;",
        "",
    ]
    numbers: list[str] = []
    ioctls: list[str] = []
    current = None
    for hidx, item in in_header_order(macros, enums):
        if current != hidx:
            current = hidx
            out.append(f"/* ---- <{HEADERS[hidx]}>: constants */")
            out.append("")
        if isinstance(item, Macro):
            if item.value is None:
                out.append(f"#define {item.name} {c_tokens(item.body)}")
                ioctls.append(item.name)
            else:
                out.append(f"#define {item.name} "
                           f"{c_literal(item.value, ' '.join(item.body), False)}")
                numbers.append(item.name)
        else:
            assert isinstance(item, Enum)
            wide = any(v >= 1 << 31 for _n, v, _s in item.members)
            out.append("")
            out.append(f"/* {enum_label(item)} */")
            for name, value, spelling in item.members:
                out.append(f"#define {name} {c_literal(value, spelling, wide)}")
                numbers.append(name)
            out.append("")
    out.append("")
    out.append("/* ---- records: sizes, offsets, bitfields */")
    out.append("")
    out.append("#define PERFSYS_SIZEOF(s) PERFSYS_SIZEOF_##s")
    out.append("#define PERFSYS_OFFSETOF(s, m) PERFSYS_OFFSETOF_##s##__##m")
    out.append("#define PERFSYS_BITLO(s, m) PERFSYS_BITLO_##s##__##m")
    out.append("#define PERFSYS_BITWIDTH(s, m) PERFSYS_BITWIDTH_##s##__##m")
    out.append("#define PERFSYS_BITUNIT(s, m) PERFSYS_BITUNIT_##s##__##m")
    out.append("/* A bitfield's bits are allocated from the storage unit's least significant")
    out.append("   bit on little-endian targets, from its most significant on big-endian ones. */")
    out.append("#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__")
    out.append("#  define PERFSYS_BITSHIFT(s, m) \\")
    out.append("    (PERFSYS_BITUNIT(s, m) - PERFSYS_BITLO(s, m) - PERFSYS_BITWIDTH(s, m))")
    out.append("#else")
    out.append("#  define PERFSYS_BITSHIFT(s, m) PERFSYS_BITLO(s, m)")
    out.append("#endif")
    out.append("#define PERFSYS_BITFIELD(v, s, m) \\")
    out.append("    (((v) >> PERFSYS_BITSHIFT(s, m)) & ((1ull << PERFSYS_BITWIDTH(s, m)) - 1))")
    bitfields: list[str] = []
    for rec in records:
        out.append("")
        out.append(f"/* {rec.kind} {rec.name} of <{rec.header}> */")
        out.append(f"#define PERFSYS_SIZEOF_{rec.name} {rec.size}u")
        numbers.append(f"sizeof({rec.name})")
        same = [c.shape() for c in walk_classes(rec)] == \
            [c.shape() for c in walk_classes(be[rec.name])]
        if not same:
            continue
        for f in flat_fields(rec):
            if f.name.startswith("__"):
                continue  # reserved
            bit = rec.bit_offsets[f.name]
            key = f"{rec.name}__{f.name}"
            if f.bits is None:
                out.append(f"#define PERFSYS_OFFSETOF_{key} {bit // 8}u")
            else:
                unit = 8 * int(ctype_size(f.ctype))
                out.append(f"#define PERFSYS_OFFSETOF_{key} {bit // unit * unit // 8}u")
                out.append(f"#define PERFSYS_BITLO_{key} {bit % unit}u")
                out.append(f"#define PERFSYS_BITWIDTH_{key} {f.bits}u")
                out.append(f"#define PERFSYS_BITUNIT_{key} {unit}u")
                bitfields.append(f"X({rec.name}, {f.name})")
            numbers.append(f"offsetof({rec.name}, {f.name})")
    out.append("")
    out.append("")
    out.append("/* ---- every number above, for the module's `_abi` and `_abi_bits` */")
    out.append("")
    out.append("#define PERFSYS_ABI_NUMBERS(X) \\")
    for n in numbers:
        if n.startswith("sizeof("):
            expr = f"PERFSYS_SIZEOF({n[7:-1]})"
        elif n.startswith("offsetof("):
            expr = f"PERFSYS_OFFSETOF({n[9:-1]})"
        else:
            expr = n
        out.append(f'    X("{n}", {expr}) \\')
    out.append("    /* end */")
    out.append("")
    out.append("#define PERFSYS_ABI_IOCTLS(X) \\")
    out += [f"    X({n}) \\" for n in ioctls]
    out.append("    /* end */")
    out.append("")
    out.append("#define PERFSYS_ABI_BITFIELDS(X) \\")
    out += [f"    {b} \\" for b in bitfields]
    out.append("    /* end */")
    out.append("")
    out.append("#endif /* PERFSYS_ABI_H */")
    return "\n".join(out) + "\n"


def c_tokens(tokens: list[str]) -> str:
    """A macro body's tokens as C is usually spelled: `_IOW('$', 4, __u64)`."""
    text = ""
    for t in tokens:
        if text and t not in "()," and not text.endswith("("):
            text += " "
        text += t
    return text


def ctype_size(ctype: str) -> int:
    import ctypes

    size: int = ctypes.sizeof(getattr(ctypes, ctype))
    return size


def render(doc: str, headers: Headers) -> str:
    macros, enums, records, be, version = headers
    for rec in records:
        verify(rec, "little")
        verify(be[rec.name], "big")
    zig = package_version("ziglang")
    ver = ".".join(str(v) for v in (version[0], version[1]))
    out: list[str] = []
    out.append(
        f"# Code generated by `{COMMAND}` from linux/perf_event.h, linux/hw_breakpoint.h "
        f"and asm/perf_regs.h of Linux {ver} (ziglang {zig}); DO NOT EDIT."
    )
    out.append(doc.rstrip("\n"))
    out.append(MARKER)
    out.append("")
    out.append("from __future__ import annotations")
    out.append("")
    out.append("import sys as _sys")
    used: set[str] = set()
    for rec in [*records, *be.values()]:
        for cls in walk_classes(rec):
            used.add("Union" if cls.kind == "union" else "Structure")
            used.update(f.ctype.split(" * ")[0] for f in cls.fields if f.record is None)
    names = sorted(used - {r.name for r in records})  # records are classes of our own
    out.append(f"from ctypes import {', '.join(names)}")
    out.append("from types import MappingProxyType as _ro")
    out.append("")
    out.append("# typing is for type checkers only: importing it would double the import time.")
    out.append("TYPE_CHECKING = False")
    out.append("if TYPE_CHECKING:")
    out.append("    from ctypes import Array")
    out.append("    from typing import Any, Final")
    out.append("")
    ioctls = [m.name for m in macros if m.value is None]
    if ioctls:
        out.append("# Request numbers of the ioctls depend on the architecture: the C compiler")
        out.append("# computes them in perfsys._perfsys.")
        out.append("from perfsys._perfsys import (")
        out += [f"    {n}," for n in ioctls]
        out.append(")")
        out.append("")
    out.append("_LITTLE = _sys.byteorder == \"little\"")
    out.append("")
    out.append(f"HEADERS_VERSION: Final = {version!r}")
    out.append('"""The (major, minor, patch) of the Linux UAPI headers these tables come from."""')
    out.append("")

    public: list[str] = ["HEADERS_VERSION", "ENUMS", *ioctls]
    # constants and enum tables, header by header, in declaration order
    current = None
    tables: list[str] = []
    numbers = [m for m in macros if m.value is not None]  # ioctls come from the C module
    for hidx, item in in_header_order(numbers, enums):
        if current != hidx:
            current = hidx
            out.append("")
            out.append(f"# ---- <{HEADERS[hidx]}>: constants")
            out.append("")
        if isinstance(item, Macro):
            assert item.value is not None
            out.append(f"{item.name}: Final = {literal(item.value, ' '.join(item.body))}")
            public.append(item.name)
        else:
            assert isinstance(item, Enum)
            out.append("")
            out.append(f"# {enum_label(item)}")
            for name, value, spelling in item.members:
                out.append(f"{name}: Final = {literal(value, spelling)}")
                public.append(name)
            out.append(f"{item.name}: Final = _ro({{")
            for name, _v, _s in item.members:
                out.append(f'    "{name}": {name},')
            out.append("})")
            out.append("")
            public.append(item.name)
            tables.append(item.name)
    out.append("")
    out.append("ENUMS: Final = _ro({")
    for t in tables:
        out.append(f'    "{t}": {t},')
    out.append("})")
    out.append('"""Every enum table by its name (anonymous enums get a name of our own)."""')
    out.append("")
    out.append("")
    out.append("# ---- records")
    out.append("")
    out.append("")
    for rec in records:
        out += emit_record(rec, be[rec.name])
        public.append(rec.name)
    regs_lines, regs_public = render_perf_regs()
    out += regs_lines
    public += regs_public
    seen = set()
    for n in public:
        if n in seen:
            fail(f"{n} is defined twice")
        seen.add(n)
    out.append("__all__ = [")
    out += [f'    "{n}",' for n in public]
    out.append("]")
    return "\n".join(out) + "\n"


def existing_doc(path: Path) -> str:
    """The hand-written part of `path`: from line 2 down to the marker."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return DEFAULT_DOC
    lines = text.splitlines(keepends=True)
    try:
        end = next(i for i, line in enumerate(lines) if line.rstrip("\n") == MARKER)
    except StopIteration:
        return DEFAULT_DOC
    return "".join(lines[1:end]) or DEFAULT_DOC


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", type=Path, default=TARGET_FILE,
                    help="where to write (default: src/perfsys/constants.py)")
    ap.add_argument("--doc-from", type=Path, default=TARGET_FILE,
                    help="file whose hand-written docs (above the marker) are kept")
    ap.add_argument("--abi-output", type=Path, default=ABI_FILE,
                    help="where to write the C header (default: src/_perfsys_abi.h)")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 with a diff if an output is out of date")
    args = ap.parse_args()
    headers = read_headers()
    outputs = {
        args.output: render(existing_doc(args.doc_from), headers),
        args.abi_output: render_abi_header(headers),
    }
    stale = False
    for path, text in outputs.items():
        if args.check:
            old = path.read_text() if path.exists() else ""
            if old != text:
                sys.stdout.writelines(difflib.unified_diff(
                    old.splitlines(keepends=True), text.splitlines(keepends=True),
                    str(path), "regenerated"))
                stale = True
        else:
            path.write_text(text)
    if stale:
        sys.exit(1)


if __name__ == "__main__":
    main()
