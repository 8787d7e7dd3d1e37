"""perfsys.tracefs: every tracepoint format of this kernel parses; payloads decode to what
the test caused."""

from __future__ import annotations

import ctypes
import os
import re
import struct
import threading
from pathlib import Path

import pytest
from support import FORKS, TRACEFS, require_tracefs, run_example

import perfsys
from perfsys import constants as C
from perfsys.launch import PausedCommand
from perfsys.sampler import Sampler
from perfsys.tracefs import FormatError, TracepointFormat, parse_format

FIELD = re.compile(r"field:(?P<decl>[^;]*);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);")


def formats() -> list[Path]:
    return sorted(TRACEFS.glob("events/*/*/format"))


def test_every_format_of_this_kernel_parses() -> None:
    require_tracefs()
    paths = formats()
    assert len(paths) > 100
    kinds = {"data_loc": 0, "array": 0, "flexible": 0}
    for path in paths:
        text = path.read_text()
        fmt = parse_format(text, path.parent.parent.name, str(path))
        assert fmt.name == path.parent.name
        ident = path.parent / "id"  # ftrace's own events have none: not perf events
        if ident.exists():
            assert fmt.id == int(ident.read_text())
        # the same fields, offsets, sizes and signedness as a plain scan of the file
        scanned = [(m["decl"].strip(), int(m[2]), int(m[3]), m[4] == "1")
                   for m in FIELD.finditer(text)]
        assert [(f.declaration, f.offset, f.size, f.signed) for f in fmt.fields] == scanned
        assert fmt.fields[0].name == "common_type" and fmt.fields[0].is_common
        for f in fmt.fields:
            assert f.name and f.name in f.declaration
            if f.data_loc:
                kinds["data_loc"] += 1
                assert f.size == 4
            elif f.array_len == 0:
                kinds["flexible"] += 1
            elif f.array_len:
                kinds["array"] += 1
                assert f.size == f.array_len * (f.element_size or 0)
    assert all(kinds.values()), kinds  # this kernel has each kind somewhere


def load(name: str) -> TracepointFormat:
    require_tracefs(*name.split(":"))
    return TracepointFormat.load(name)


def sample_raw(name: str, action: object) -> list[bytes]:
    """The RAW payloads of `name` while this thread runs action()."""
    fmt = load(name)
    attr = perfsys.perf_event_attr(type=C.PERF_TYPE_TRACEPOINT, config=fmt.id,
                                   sample_period=1, sample_type=C.PERF_SAMPLE_RAW, disabled=1)
    fd = perfsys.perf_event_open(attr, 0, -1, -1, C.PERF_FLAG_FD_CLOEXEC)
    try:
        with perfsys.RingBuffer(fd, 8) as ring:
            perfsys.ioctls.ENABLE(fd)
            action()  # type: ignore[operator]
            perfsys.ioctls.DISABLE(fd)
            return [r.raw for r in ring.read(decoder=perfsys.Decoder(attr))
                    if isinstance(r, perfsys.SampleRecord) and r.raw is not None]
    finally:
        os.close(fd)


def test_decode_syscall_arguments() -> None:
    r, w = os.pipe()
    try:
        payloads = sample_raw("syscalls:sys_enter_write",
                              lambda: [os.write(w, b"x" * n) for n in (3, 7)])
    finally:
        os.close(r)
        os.close(w)
    fmt = load("syscalls:sys_enter_write")
    ours = [v for v in map(fmt.decode, payloads) if v["fd"] == w]
    assert [v["count"] for v in ours] == [3, 7]
    assert all(v["common_pid"] == threading.get_native_id() for v in ours)
    assert all(v["common_type"] == fmt.id for v in ours)
    assert all(isinstance(v["buf"], int) and v["buf"] for v in ours)  # a pointer


def test_decode_char_arrays() -> None:
    names: list[dict[str, object]] = []

    def rename() -> None:  # in a thread of its own, so the test's name stays
        payloads = sample_raw("task:task_rename", lambda: _set_comm(b"perfsys-tp-42"))
        names.extend(load("task:task_rename").decode(p) for p in payloads)

    t = threading.Thread(target=rename)
    t.start()
    t.join()
    assert [n["newcomm"] for n in names] == ["perfsys-tp-42"]
    assert isinstance(names[0]["oldcomm"], str)
    assert names[0]["pid"] == names[0]["common_pid"]


def _set_comm(name: bytes) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    PR_SET_NAME = 15
    assert libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) == 0


@pytest.mark.thread_unsafe(reason=FORKS)
def test_decode_data_loc_string_from_the_sampler() -> None:
    fmt = load("sched:sched_process_exec")
    with PausedCommand(["/bin/sh", "-c", "/bin/true"]) as cmd, Sampler(
            "sched:sched_process_exec", process=cmd.pid, period=1, enable_on_exec=True,
            sample_type=C.PERF_SAMPLE_RAW | C.PERF_SAMPLE_TID) as s:
        cmd.start()
        execs = [fmt.decode(x.raw) for x in s if isinstance(x, perfsys.SampleRecord)]
        assert cmd.wait() == 0
    assert execs[0]["filename"] == "/bin/sh" and execs[0]["pid"] == cmd.pid
    assert [e["filename"] for e in execs] in (["/bin/sh", "/bin/true"], ["/bin/sh"])
    assert set(execs[0]) == {f.name for f in fmt.fields}


# -- synthetic payloads (every field kind, both signednesses) -------------------------------

SYNTHETIC = """name: perfsys_synthetic
ID: 4242
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:char comm[8];\toffset:8;\tsize:8;\tsigned:0;
\tfield:long delta;\toffset:16;\tsize:8;\tsigned:1;
\tfield:unsigned int args[2];\toffset:24;\tsize:8;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:32;\tsize:4;\tsigned:0;
\tfield:__rel_loc u8[] blob;\toffset:36;\tsize:4;\tsigned:0;
\tfield:s16 small;\toffset:40;\tsize:2;\tsigned:1;
\tfield:u8 mac[6];\toffset:42;\tsize:6;\tsigned:0;

print fmt: "comm=%s delta=%ld",
 REC->comm, REC->delta
"""


def synthetic_payload(common_type: int = 4242) -> bytes:
    head = struct.pack("=HBBi8sqII", common_type, 1, 2, -5, b"ab\0junk", -7, 1, 2**32 - 1)
    name, blob = b"hello\0", b"\x01\x02\x03"
    name_off = 48
    blob_off = name_off + len(name)
    rel = blob_off - (36 + 4)
    locs = struct.pack("=II", len(name) << 16 | name_off, len(blob) << 16 | rel)
    tail = struct.pack("=h6s", -300, b"\xaa\xbb\xcc\xdd\xee\xff")
    return head + locs + tail + name + blob + b"\0" * 3


def test_every_field_kind() -> None:
    fmt = parse_format(SYNTHETIC, "test")
    assert fmt.print_fmt.endswith("REC->delta")
    assert fmt["name"].data_loc == "__data_loc" and fmt["blob"].data_loc == "__rel_loc"
    assert fmt.size == 48
    v = fmt.decode(synthetic_payload())
    assert v == {"common_type": 4242, "common_flags": 1, "common_preempt_count": 2,
                 "common_pid": -5, "comm": "ab", "delta": -7, "args": (1, 2**32 - 1),
                 "name": "hello", "blob": b"\x01\x02\x03", "small": -300,
                 "mac": b"\xaa\xbb\xcc\xdd\xee\xff"}
    assert len(fmt.describe()) == len(fmt.fields)


def test_bad_payloads() -> None:
    fmt = parse_format(SYNTHETIC, "test")
    good = synthetic_payload()
    with pytest.raises(FormatError, match="shorter"):
        fmt.decode(good[:40])
    with pytest.raises(FormatError, match="common_type"):
        fmt.decode(synthetic_payload(common_type=7))
    bad = bytearray(good)
    bad[32:36] = struct.pack("=I", 100 << 16 | 48)  # 100 bytes at 48: past the end
    with pytest.raises(FormatError, match="runs past"):
        fmt.decode(bytes(bad))
    with pytest.raises(KeyError, match="no field"):
        fmt["nope"]


@pytest.mark.parametrize(("text", "match"), [
    ("", "no name"),
    ("name: x\nformat:\n", "no ID"),
    ("name: x\nID: y\n", "not a number"),
    ("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\n", "not a field line"),
    ("name: x\nID: 1\nformat:\n\tfield:int a[3];\toffset:0;\tsize:4;\tsigned:1;\n",
     "whole elements"),
    ("name: x\nID: 1\nformat:\n\tfield:int a[N];\toffset:0;\tsize:4;\tsigned:1;\n",
     "not a number"),
    ("name: x\nID: 1\nformat:\n\tfield:int a;\toffset:0;\tsize:4;\tsigned:1;\n"
     "\tfield:int a;\toffset:4;\tsize:4;\tsigned:1;\n", "twice"),
    ("hello\n", "unexpected line"),
])
def test_bad_formats(text: str, match: str) -> None:
    with pytest.raises(FormatError, match=match):
        parse_format(text)


def test_load_errors() -> None:
    require_tracefs()
    with pytest.raises(ValueError, match="SYSTEM:NAME"):
        TracepointFormat.load("sched_switch")
    with pytest.raises(FileNotFoundError, match="no tracepoint"):
        TracepointFormat.load("sched:no_such_tracepoint")
    assert TracepointFormat.load("sched/sched_switch").name == "sched_switch"


def test_cli_lists_fields() -> None:
    require_tracefs("sched", "sched_process_exec")
    from io import StringIO

    from perfsys.__main__ import cmd_list

    out = StringIO()
    assert cmd_list(["--fields", "sched_process_exec"], out) == 0
    text = out.getvalue()
    assert "sched:sched_process_exec" in text
    assert re.search(r"\s8\s+4\s+unsigned\s+__data_loc char\[\] filename", text), text


def test_trace_exec_example() -> None:
    require_tracefs("sched", "sched_process_exec")
    out = run_example("trace_exec.py", "--", "/bin/sh", "-c", "/bin/true; /bin/true")
    lines = [line.split(None, 2) for line in out.splitlines()]
    assert [(w[1], w[2]) for w in lines] == [("exec", "/bin/sh"), ("exec", "/bin/true"),
                                             ("exec", "/bin/true")], out
