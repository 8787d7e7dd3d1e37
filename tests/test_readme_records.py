"""The README's table of record classes names each class's fields as the module does."""

from __future__ import annotations

import re

from support import source_tree

import perfsys

TRAILER = ("sample_pid", "sample_tid", "sample_time", "sample_id", "sample_stream_id",
           "sample_cpu", "sample_identifier")


def readme_rows() -> list[tuple[list[str], list[str], list[str]]]:
    """(types, classes, fields) of each row of the README's record table."""
    text = (source_tree("the README's record table") / "README.md").read_text()
    start = text.index("| `type` | class | fields after `type, misc` |")
    rows = []
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        types, classes, fields = (c.strip() for c in line.strip("|").split("|"))
        rows.append((
            [t.strip() for t in types.split(",")],
            re.findall(r"`(\w+)`", classes),
            [] if fields == "(none)" else [f.strip() for f in fields.split(",")],
        ))
    return rows


def test_readme_lists_every_record_class_with_its_fields() -> None:
    seen = set()
    for types, classes, fields in readme_rows():
        for type_name, cls_name in zip(types, classes, strict=False):
            cls = getattr(perfsys, cls_name)
            seen.add(cls_name)
            if cls_name == "RawRecord":
                continue
            names = tuple(cls._fields if cls_name == "SampleRecord" else cls.__match_args__)
            assert getattr(perfsys.constants, f"PERF_RECORD_{type_name}") > 0
            own = names[2:] if cls_name == "SampleRecord" else names[2:-len(TRAILER)]
            assert list(own) == fields, cls_name
            if cls_name != "SampleRecord":
                assert names[-len(TRAILER):] == TRAILER
    classes = {n for n in dir(perfsys) if n.endswith("Record") and n != "RawRecord"}
    assert classes <= seen
