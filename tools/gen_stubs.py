#!/usr/bin/env python3
"""Generate the record classes of src/perfsys/_perfsys.pyi from src/_perfsys_records.h.

The C header describes each record type once (its class, doc and members, each
with a KIND); this writes, between two marker lines of the stubs, one class per
record type and the `Record` alias. Everything else in the stubs is hand-written.

    python3 tools/gen_stubs.py [--stubs FILE] [--check]
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS_H = ROOT / "src" / "_perfsys_records.h"
STUBS = ROOT / "src" / "perfsys" / "_perfsys.pyi"
BEGIN = "# --- generated below this line by tools/gen_stubs.py from src/_perfsys_records.h ---"
END = "# --- generated above this line ---"

# What a member of each KIND reads as (the KINDs are listed in _perfsys_records.h).
KIND_TYPES = {
    "PID": "int",
    "U16": "int",
    "U32": "int",
    "U64": "int",
    "LEN16": "int",
    "LEN_BYTES": "bytes",
    "TAG": "bytes",
    "CSTR": "str",
    "READ": "CounterValue | GroupValues",
    "NS": "tuple[tuple[int, int], ...]",
    "CALLCHAIN": "tuple[int, ...]",
    "INODE_U32": "int | None",
    "INODE_U64": "int | None",
    "BUILD_ID": "bytes | None",
}
HEADER = [("type", "int"), ("misc", "int")]
TRAILER = ["sample_pid", "sample_tid", "sample_time", "sample_id", "sample_stream_id",
           "sample_cpu", "sample_identifier"]

ROW = re.compile(r'R\(\s*(\w+),\s*(\w+),\s*((?:"(?:[^"\\]|\\.)*"\s*)+),\s*(\w+)\s*\)')
MEMBER = re.compile(r'F\(\s*(\w+),\s*(\w+),\s*"((?:[^"\\]|\\.)*)"\s*\)')


def fail(msg: str) -> None:
    sys.exit(f"gen_stubs: {msg}")


def macro_body(text: str, name: str) -> str:
    """The replacement text of `#define name(...)`, continuation lines joined."""
    m = re.search(rf"^#define {re.escape(name)}\([A-Z]\)(.*?)(?<!\\)$", text, re.M | re.S)
    if m is None:
        fail(f"{RECORDS_H.name} defines no {name}")
        raise AssertionError
    return m.group(1).replace("\\\n", " ")


def read_records(text: str) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """(TYPE, class, doc, [(member, KIND)]) for each row of PERFSYS_RECORDS."""
    rows = []
    for m in ROW.finditer(macro_body(text, "PERFSYS_RECORDS")):
        type_, cls, doc_parts, body = m.groups()
        doc = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', doc_parts))
        members = []
        for f in MEMBER.finditer(macro_body(text, f"PERFSYS_BODY_{body}")):
            name, kind, _doc = f.groups()
            if kind not in KIND_TYPES:
                fail(f"PERFSYS_BODY_{body}: {name} has an unknown KIND {kind}")
            members.append((name, KIND_TYPES[kind]))
        rows.append((type_, cls, doc, members))
    if not rows:
        fail("PERFSYS_RECORDS has no rows")
    return rows


def render_class(cls: str, doc: str, members: list[tuple[str, str]]) -> list[str]:
    own = HEADER + members
    items = [t for _n, t in own] + ["int | None"] * len(TRAILER)
    out = ["@final", f"class {cls}(", "    _SampleIdTrailer,", "    structseq[Any],",
           "    tuple["]
    out += [f"        {t}," for t in items]
    out += ["    ],", "):", f'    """{doc}"""', "", "    __match_args__: Final = ("]
    out += [f'        "{n}",' for n in [n for n, _t in own] + TRAILER]
    out.append("    )")
    for n, t in own:
        out += ["    @property", f"    def {n}(self) -> {t}: ..."]
    out.append("")
    return out


def render(text: str) -> list[str]:
    rows = read_records(text)
    out: list[str] = []
    for _type, cls, doc, members in rows:
        out += render_class(cls, doc, members)
    out.append("Record: TypeAlias = (")
    names = [cls for _t, cls, _d, _m in rows] + ["SampleRecord", "RawRecord"]
    out.append(f"    {names[0]}")
    out += [f"    | {n}" for n in names[1:]]
    out.append(")")
    return out


def rewrite(stubs: str, generated: list[str]) -> str:
    lines = stubs.splitlines()
    try:
        begin, end = lines.index(BEGIN), lines.index(END)
    except ValueError:
        fail(f"{STUBS.name} lacks the marker lines {BEGIN!r} and {END!r}")
        raise
    return "\n".join([*lines[:begin + 1], "", *generated, "", *lines[end:]]) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--stubs", type=Path, default=STUBS,
                    help="the stubs to rewrite (default: src/perfsys/_perfsys.pyi)")
    ap.add_argument("--output", type=Path, help="write there instead of over --stubs")
    ap.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 with a diff if the stubs are out of date")
    args = ap.parse_args()
    old = args.stubs.read_text()
    new = rewrite(old, render(RECORDS_H.read_text()))
    if args.check:
        if old != new:
            sys.stdout.writelines(difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True),
                str(args.stubs), "regenerated"))
            sys.exit(1)
        return
    (args.output or args.stubs).write_text(new)


if __name__ == "__main__":
    main()
