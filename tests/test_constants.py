"""Proves the generated tables against the C compiler.

A probe is compiled at test time against the same headers that constants.py
was generated from (the pinned `ziglang` wheel's Linux UAPI headers) when that
package is installed, else against the machine's /usr/include for the members
those headers have. It prints every constant's value, every record's sizeof and
alignof, every member's offsetof and sizeof, and the bytes of a zeroed record
whose bitfield was set to all ones (how golang/sys learns bitfield positions);
each of them is compared with perfsys.constants.

PERFSYS_PROBE_HEADERS=system forces the machine's headers.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ctypes_layout import Member, bit_number, c_keyword, members, ones_image, records
from probe_headers import headers

import perfsys
from perfsys import constants

HEADERS = ("linux/perf_event.h", "linux/hw_breakpoint.h")

# Names whose value the kernel is free to change from one version to the next
# (the non-ABI *_MAX counters and reserved padding): older headers may differ.
GROWS = re.compile(r"(_MAX|_MAX_SHIFT|^NR_NAMESPACES|reserved|_res|_rsvd)$|^__reserved")


# --------------------------------------------------------------------------
# the probe


@dataclass
class ProbeResult:
    values: dict[str, str]
    missing: set[str] = field(default_factory=set)  # item keys the headers lack


def scalar(m: Member) -> type | None:
    """The integer type of a member, or of an array member's elements."""
    t = m.ctype
    while issubclass(t, ctypes.Array):
        t = t._type_  # type: ignore[attr-defined]
    simple = issubclass(t, ctypes._SimpleCData) and t not in (ctypes.c_void_p, ctypes.c_char)
    return t if simple else None


def array_depth(m: Member) -> int:
    t, depth = m.ctype, 0
    while issubclass(t, ctypes.Array):
        t, depth = t._type_, depth + 1  # type: ignore[attr-defined]
    return depth


def is_signed(m: Member) -> int:
    t = scalar(m)
    assert t is not None
    return int(t(-1).value < 0)


def c_record(cls: type) -> str:
    return f"{c_keyword(cls)} {cls.__name__}"  # type: ignore[arg-type]


# every architecture's perf_regs.h members: test_toolkit_regs.py proves them per architecture
PERF_REGS = frozenset(n for table in constants.PERF_REGS.values() for n in table)


def probe_items() -> list[tuple[str, str]]:
    """(key, one line of C that prints `key value`)."""
    items: list[tuple[str, str]] = [
        ("LINUX_VERSION_MAJOR", 'PV("LINUX_VERSION_MAJOR", LINUX_VERSION_MAJOR);'),
        ("LINUX_VERSION_PATCHLEVEL", 'PV("LINUX_VERSION_PATCHLEVEL", LINUX_VERSION_PATCHLEVEL);'),
    ]
    for name in constants.__all__:
        value = getattr(constants, name)
        if isinstance(value, int) and name != "HEADERS_VERSION" and name not in PERF_REGS:
            items.append((f"const {name}", f'PV("const {name}", {name});'))
    for cname, cls in records().items():
        t = c_record(cls)
        items.append((f"sizeof {cname}", f'PU("sizeof {cname}", sizeof({t}));'))
        items.append((f"alignof {cname}", f'PU("alignof {cname}", _Alignof({t}));'))
        for m in members(cls):
            key = f"{cname}.{m.name}"
            if m.bits is None:
                items.append((f"offsetof {key}", f'PU("offsetof {key}", offsetof({t}, {m.name}));'))
                # a flexible array member has no size: probe its element's
                of = f"(({t} *)0)->{m.name}" + ("[0]" if m.flexible else "")
                items.append((f"msize {key}", f'PU("msize {key}", sizeof({of}));'))
                if scalar(m) is not None:
                    elem = f"(({t} *)0)->{m.name}" + "[0]" * array_depth(m)
                    items.append((f"signed {key}",
                                  f'PU("signed {key}", (__typeof__({elem}))-1 < 0);'))
            else:
                items.append(
                    (
                        f"bits {key}",
                        f"{{ {t} s; memset(&s, 0, sizeof s); s.{m.name} = 0; s.{m.name}--; "
                        f'PB("bits {key}", &s, sizeof s); PU("signed {key}", s.{m.name} < 0); }}',
                    )
                )
    return items


PRELUDE = """\
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <linux/perf_event.h>
#include <linux/hw_breakpoint.h>
#include <linux/version.h>
#define PV(k, v) printf("%s %s%llu\\n", k, (v) < 0 ? "-" : "", \\
    (v) < 0 ? -(unsigned long long)(v) : (unsigned long long)(v))
#define PU(k, v) printf("%s %llu\\n", k, (unsigned long long)(v))
static void PB(const char *k, const void *p, size_t n)
{
    const unsigned char *b = p;
    printf("%s ", k);
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
    printf("\\n");
}
int main(void)
{
"""


@functools.cache
def probe(tmp: str) -> ProbeResult:
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (gcc) on this machine to build the layout probe")
    items = probe_items()
    lines = [line for _, line in items]
    first = PRELUDE.count("\n") + 1  # the source line of items[0]
    dropped: set[int] = set()
    src = Path(tmp) / "probe.c"
    exe = Path(tmp) / "probe"
    for _attempt in range(8):
        body = "".join(
            ("/* absent */\n" if i in dropped else line + "\n") for i, line in enumerate(lines)
        )
        src.write_text(PRELUDE + body + "return 0;\n}\n")
        cmd = [cc, "-std=gnu11", "-w", *headers().include_args, "-o", str(exe), str(src)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode == 0:
            break
        bad = {int(n) - first for n in re.findall(r"probe\.c:(\d+):\d+: error", done.stderr)}
        if headers().pinned or not bad or not bad <= set(range(len(lines))):
            pytest.fail(f"the layout probe does not compile with {headers().label}:\n"
                        + done.stderr[-4000:])
        dropped |= bad
    else:
        pytest.fail("the layout probe still does not compile after dropping absent members")
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    values = dict(line.rsplit(" ", 1) for line in out.splitlines())
    return ProbeResult(values, {items[i][0] for i in dropped})


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> ProbeResult:
    return probe(str(tmp_path_factory.mktemp("probe")))


def describe(value: int | bytes) -> str:
    """A number, or which bits of a record's image are set (bit n = byte n//8, 1 << n%8)."""
    if isinstance(value, int):
        return str(value)
    bits = [i for i in range(8 * len(value)) if value[i // 8] >> (i % 8) & 1]
    if not bits:
        return f"no bits of {len(value)} bytes"
    return f"bits {bits[0]}..{bits[-1]} ({len(bits)} set) of {len(value)} bytes"


def tolerated(name: str) -> bool:
    """With older headers, may this item's value differ from Linux 7.2's?"""
    return not headers().pinned and bool(GROWS.search(name))


# --------------------------------------------------------------------------
# the tests


def test_constants_match_the_compiler(result: ProbeResult) -> None:
    wrong = []
    checked = 0
    for name in constants.__all__:
        value = getattr(constants, name)
        key = f"const {name}"
        if not isinstance(value, int) or name == "HEADERS_VERSION" or name in PERF_REGS \
                or key in result.missing:
            continue
        checked += 1
        got = int(result.values[key])
        if got != value and not tolerated(name):
            wrong.append(f"{name}: constants.py {value:#x}, C {got:#x}")
    assert not wrong, f"with {headers().label}:\n" + "\n".join(wrong)
    assert checked >= 100, f"only {checked} constants checked with {headers().label}"
    if headers().pinned:
        assert not result.missing


def test_headers_version(result: ProbeResult) -> None:
    if not headers().pinned:
        pytest.skip(f"the probe used {headers().label}, not the headers of constants.py")
    major, minor, _ = constants.HEADERS_VERSION
    assert int(result.values["LINUX_VERSION_MAJOR"]) == major
    assert int(result.values["LINUX_VERSION_PATCHLEVEL"]) == minor
    assert perfsys.HEADERS_VERSION == constants.HEADERS_VERSION == (7, 2, 0)


@pytest.mark.parametrize("name", sorted(records()))
def test_record_layout(result: ProbeResult, name: str) -> None:
    cls = records()[name]
    where = f"{name} with {headers().label}"
    problems: list[str] = []
    absent = [m.name for m in members(cls)
              if f"offsetof {name}.{m.name}" in result.missing
              or f"bits {name}.{m.name}" in result.missing]
    if f"sizeof {name}" in result.missing:
        pytest.skip(f"{headers().label} have no {c_record(cls)}")

    def check(key: str, ours: int | bytes, what: str) -> None:
        if key in result.missing:
            return
        if key not in result.values:
            if headers().pinned:
                problems.append(f"{what}: the probe printed nothing")
            return
        got = result.values[key]
        theirs: int | bytes = bytes.fromhex(got) if isinstance(ours, bytes) else int(got)
        if isinstance(ours, bytes) and isinstance(theirs, bytes) and not headers().pinned \
                and len(theirs) < len(ours) and not any(ours[len(theirs):]):
            ours = ours[: len(theirs)]  # older headers: the record has grown since
        if theirs != ours and not tolerated(key.split(".")[-1]):
            problems.append(f"{what}: ctypes {describe(ours)}, C {describe(theirs)}")

    if not absent:
        check(f"sizeof {name}", ctypes.sizeof(cls), "sizeof")
    check(f"alignof {name}", ctypes.alignment(cls), "alignof")
    m: Member
    for m in members(cls):
        key = f"{name}.{m.name}"
        if m.bits is None:
            check(f"offsetof {key}", m.offset, f"offsetof({m.name})")
            size = ctypes.sizeof(m.ctype._type_) if m.flexible else m.size  # type: ignore[attr-defined]
            check(f"msize {key}", size, f"sizeof({m.name})")
        else:
            check(f"bits {key}", ones_image(cls, m), f"bitfield {m.name}")
        if scalar(m) is not None:
            check(f"signed {key}", is_signed(m), f"signedness of {m.name}")
    assert not problems, f"{where}:\n" + "\n".join(problems)
    if headers().pinned:
        assert not absent, f"{where}: the headers lack {absent}"
    elif absent:
        # Older headers: what they have is right; say what they lack.
        print(f"{where}: members newer than these headers: {', '.join(absent)}")


# --------------------------------------------------------------------------
# completeness, read from the headers by the preprocessor


def preprocess(*args: str, source: str) -> str:
    cc = shutil.which(os.environ.get("CC", "gcc")) or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (gcc) on this machine")
    cmd = [cc, "-std=gnu11", *headers().include_args, *args, "-x", "c", "-"]
    return subprocess.run(cmd, input=source, capture_output=True, text=True, check=True).stdout


def header_text() -> str:
    """The preprocessed text that comes from the two headers themselves."""
    src = "".join(f"#include <{h}>\n" for h in HEADERS)
    keep, out = False, []
    for line in preprocess("-E", source=src).splitlines():
        mark = re.match(r'# \d+ "([^"]+)"', line)
        if mark:
            keep = mark.group(1).endswith(HEADERS)
        elif keep:
            out.append(line)
    return "\n".join(out)


def pinned_only() -> None:
    if not headers().pinned:
        pytest.skip(f"completeness is checked against the headers of constants.py; "
                    f"this run has {headers().label}")


def test_every_macro_is_generated() -> None:
    pinned_only()
    before = "#include <linux/types.h>\n#include <linux/ioctl.h>\n#include <asm/byteorder.h>\n"
    after = before + "".join(f"#include <{h}>\n" for h in HEADERS)
    defined = set(preprocess("-E", "-dM", source=before).splitlines())
    macros = []
    for line in preprocess("-E", "-dM", source=after).splitlines():
        m = re.match(r"#define (\w+)(\(?)\s*(.*)", line)
        if line in defined or m is None or m.group(2) or not m.group(3):
            continue  # already there, function-like, or an include guard
        macros.append(m.group(1))
    assert len(macros) > 100
    missing = [n for n in macros if not isinstance(getattr(constants, n, None), int)]
    assert not missing


def test_every_enum_member_is_generated() -> None:
    pinned_only()
    text = header_text()
    bodies = re.findall(r"\benum\s*(\w*)\s*\{([^}]*)\}", text)
    assert len(bodies) > 20
    names = []
    for _tag, body in bodies:
        for part in body.split(","):
            m = re.match(r"\s*([A-Za-z_]\w*)", part)
            if m:
                names.append(m.group(1))
    missing = [n for n in names if not isinstance(getattr(constants, n, None), int)]
    assert not missing
    # each enum's members are in one table
    tables = {tuple(t) for t in constants.ENUMS.values()}
    for _tag, body in bodies:
        member_names = tuple(
            m.group(1) for p in body.split(",") if (m := re.match(r"\s*([A-Za-z_]\w*)", p))
        )
        assert member_names in tables
    for tag, _body in bodies:
        if tag:
            assert tag in constants.ENUMS


def test_every_record_and_member_is_generated() -> None:
    pinned_only()
    text = header_text()
    seen = {}
    for m in re.finditer(r"\b(struct|union)\s+(\w+)\s*\{", text):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        body = text[m.end():i - 1]
        # a member's name is the identifier before ; , : or [
        seen[m.group(2)] = (m.group(1), re.findall(r"([A-Za-z_]\w*)\s*(?=[;,:\[])", body))
    assert set(seen) == set(records())
    for name, (keyword, names) in seen.items():
        cls = records()[name]
        assert c_keyword(cls) == keyword
        assert [m.name for m in members(cls)] == names, name


# --------------------------------------------------------------------------
# the facts the rest of perfsys relies on


def test_perf_event_attr_is_the_linux_7_2_one() -> None:
    assert ctypes.sizeof(perfsys.perf_event_attr) == 144
    assert constants.PERF_ATTR_SIZE_VER9 == 144
    attr = perfsys.perf_event_attr()
    assert attr.size == 144
    assert bytes(attr)[:4] == bytes(4) and bytes(attr)[8:] == bytes(136)


def test_perf_event_attr_constructor() -> None:
    attr = perfsys.perf_event_attr(type=constants.PERF_TYPE_SOFTWARE, sample_freq=4000,
                                   freq=1, disabled=1, config1=7)
    assert attr.size == 144
    assert (attr.type, attr.sample_period, attr.freq, attr.disabled) == (1, 4000, 1, 1)
    assert (attr.bp_addr, attr.kprobe_func, attr.uprobe_path) == (7, 7, 7)
    assert perfsys.perf_event_attr(size=64).size == 64
    assert perfsys.perf_event_attr(2, 96).size == 96
    # a view of existing memory is not reset
    buf = bytearray(144)
    assert perfsys.perf_event_attr.from_buffer(buf).size == 0


def test_anonymous_members_alias() -> None:
    attr = perfsys.perf_event_attr()
    attr.aux_pause = 1
    assert attr.aux_action == 1 << bit_number("perf_event_attr", "aux_pause")
    attr.wakeup_watermark = 4096
    assert attr.wakeup_events == 4096
    attr.probe_offset = 5
    assert (attr.bp_len, attr.kprobe_addr, attr.config2) == (5, 5, 5)
    page = perfsys.perf_event_mmap_page()
    page.capabilities = 1 << bit_number("perf_event_mmap_page", "cap_user_rdpmc")
    assert (page.cap_user_rdpmc, page.cap_bit0, page.cap_user_time) == (1, 0, 0)
    src = perfsys.perf_mem_data_src(val=constants.PERF_MEM_OP_LOAD << constants.PERF_MEM_OP_SHIFT)
    assert src.mem_op == constants.PERF_MEM_OP_LOAD


def byte_order_variants() -> list[str]:
    return sorted(n[: -len("_fields_le")] for n in vars(constants) if n.endswith("_fields_le"))


@pytest.mark.parametrize("name", byte_order_variants())
def test_both_byte_orders_give_the_same_numbers(name: str) -> None:
    """The headers declare some records once per byte order so that each member
    holds the same bits of the 64-bit value on either. Lay the big-endian
    declaration out big-endian and the little-endian one little-endian, here on
    whatever machine runs this, and compare each member's bits of the value."""
    native = getattr(constants, name)
    kind = "Union" if issubclass(native, ctypes.Union) else "Structure"
    le = type("le", (getattr(ctypes, f"LittleEndian{kind}"),),
              {"_fields_": getattr(constants, f"{name}_fields_le")})
    be = type("be", (getattr(ctypes, f"BigEndian{kind}"),),
              {"_fields_": getattr(constants, f"{name}_fields_be")})
    assert ctypes.sizeof(le) == ctypes.sizeof(be) == ctypes.sizeof(native)
    le_members = {m.name: m for m in members(le)}
    be_members = {m.name: m for m in members(be)}
    assert set(le_members) == set(be_members)
    for member_name, m in le_members.items():
        width = m.bits if m.bits is not None else 8 * m.size
        a, b = le(), be()
        setattr(a, member_name, (1 << width) - 1)
        setattr(b, member_name, (1 << width) - 1)
        assert int.from_bytes(bytes(a), "little") == int.from_bytes(bytes(b), "big"), member_name
    # and the running machine's layout is the declaration for its byte order
    order = "le" if sys.byteorder == "little" else "be"
    assert native._fields_ is getattr(constants, f"{name}_fields_{order}")


def test_enum_tables() -> None:
    assert constants.perf_type_id["PERF_TYPE_SOFTWARE"] == constants.PERF_TYPE_SOFTWARE == 1
    assert constants.ENUMS["perf_event_type"]["PERF_RECORD_CALLCHAIN_DEFERRED"] == 22
    assert constants.perf_ns_index["CGROUP_NS_INDEX"] == constants.CGROUP_NS_INDEX
    assert constants.hw_breakpoint_type["HW_BREAKPOINT_RW"] == 3
    with pytest.raises(TypeError):
        constants.perf_type_id["PERF_TYPE_SOFTWARE"] = 2  # type: ignore[index]


def test_ioctl_numbers_come_from_the_module() -> None:
    from perfsys import _perfsys

    names = [n for n in constants.__all__ if n.startswith("PERF_EVENT_IOC_")]
    assert len(names) == 12
    for n in names:
        assert getattr(constants, n) == getattr(_perfsys, n)
