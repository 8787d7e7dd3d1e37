"""perfsys.events against this machine's own sysfs and tracefs, opening what it parses."""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import DEVICES, require_tracefs, tracepoint_id

import perfsys
from perfsys import constants as C
from perfsys.events import EventCatalog, EventSpec, elf_symbol_offset, parse_event, parse_events


@pytest.fixture(scope="module")
def cat() -> EventCatalog:
    return EventCatalog()


def open_spec(spec: EventSpec, pid: int = 0) -> int:
    attr = spec.attr(disabled=1)
    return perfsys.perf_event_open(attr, pid, -1)


def set_fields(spec: EventSpec) -> set[str]:
    """The names of the fields ``spec`` sets to something other than 0."""
    return {k for k, v in spec.fields.items() if v}


def count_of(spec: EventSpec, work: object) -> int:
    """Open ``spec`` on this thread, run ``work()``, return the count."""
    fd = open_spec(spec)
    try:
        perfsys.ioctls.RESET(fd, 0)
        perfsys.ioctls.ENABLE(fd, 0)
        work()  # type: ignore[operator]
        perfsys.ioctls.DISABLE(fd, 0)
        return perfsys.read_value(fd)
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    ("name", "type_", "config"),
    [
        ("task-clock", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_TASK_CLOCK),
        ("cpu-clock", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_CPU_CLOCK),
        ("page-faults", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_PAGE_FAULTS),
        ("faults", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_PAGE_FAULTS),
        ("minor-faults", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_PAGE_FAULTS_MIN),
        ("major-faults", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_PAGE_FAULTS_MAJ),
        ("cs", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_CONTEXT_SWITCHES),
        ("context-switches", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_CONTEXT_SWITCHES),
        ("cpu-migrations", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_CPU_MIGRATIONS),
        ("dummy", C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_DUMMY),
        ("cycles", C.PERF_TYPE_HARDWARE, C.PERF_COUNT_HW_CPU_CYCLES),
        ("cpu-cycles", C.PERF_TYPE_HARDWARE, C.PERF_COUNT_HW_CPU_CYCLES),
        ("instructions", C.PERF_TYPE_HARDWARE, C.PERF_COUNT_HW_INSTRUCTIONS),
        ("branches", C.PERF_TYPE_HARDWARE, C.PERF_COUNT_HW_BRANCH_INSTRUCTIONS),
        ("ref-cycles", C.PERF_TYPE_HARDWARE, C.PERF_COUNT_HW_REF_CPU_CYCLES),
        ("L1-dcache-load-misses", C.PERF_TYPE_HW_CACHE,
         C.PERF_COUNT_HW_CACHE_L1D | C.PERF_COUNT_HW_CACHE_OP_READ << 8
         | C.PERF_COUNT_HW_CACHE_RESULT_MISS << 16),
        ("LLC-stores", C.PERF_TYPE_HW_CACHE,
         C.PERF_COUNT_HW_CACHE_LL | C.PERF_COUNT_HW_CACHE_OP_WRITE << 8),
        ("dTLB-prefetch-misses", C.PERF_TYPE_HW_CACHE,
         C.PERF_COUNT_HW_CACHE_DTLB | C.PERF_COUNT_HW_CACHE_OP_PREFETCH << 8
         | C.PERF_COUNT_HW_CACHE_RESULT_MISS << 16),
        ("l1i-read-miss", C.PERF_TYPE_HW_CACHE,
         C.PERF_COUNT_HW_CACHE_L1I | C.PERF_COUNT_HW_CACHE_RESULT_MISS << 16),
        ("branch-loads", C.PERF_TYPE_HW_CACHE, C.PERF_COUNT_HW_CACHE_BPU),
        ("node-misses", C.PERF_TYPE_HW_CACHE,
         C.PERF_COUNT_HW_CACHE_NODE | C.PERF_COUNT_HW_CACHE_RESULT_MISS << 16),
        ("r1a8", C.PERF_TYPE_RAW, 0x1A8),
        ("rDEADbeef", C.PERF_TYPE_RAW, 0xDEADBEEF),
    ],
)
def test_generic_names(cat: EventCatalog, name: str, type_: int, config: int) -> None:
    spec = cat.parse(name)
    assert (spec.type, spec.config) == (type_, config)
    attr = spec.attr()
    assert (attr.type, attr.config, attr.size) == (type_, config, ctypes.sizeof(attr))


def test_software_events_count_for_real(cat: EventCatalog) -> None:
    import mmap

    def touch() -> None:
        m = mmap.mmap(-1, 64 * mmap.PAGESIZE)
        for i in range(64):
            m[i * mmap.PAGESIZE] = 1
        m.close()

    assert count_of(cat.parse("page-faults"), touch) >= 64
    assert count_of(cat.parse("task-clock"), touch) > 0


def test_hardware_event_opens_or_enoent(cat: EventCatalog) -> None:
    for name in ("cycles", "L1-dcache-load-misses", "r1a8"):
        try:
            fd = open_spec(cat.parse(name))
        except OSError as err:
            assert err.errno in (errno.ENOENT, errno.EOPNOTSUPP, errno.EINVAL), (name, err)
        else:
            os.close(fd)


def test_modifiers(cat: EventCatalog) -> None:
    f = cat.parse("task-clock:u").fields
    assert (f["exclude_user"], f["exclude_kernel"], f["exclude_hv"]) == (0, 1, 1)
    f = cat.parse("task-clock:k").fields
    assert (f["exclude_user"], f["exclude_kernel"], f["exclude_hv"]) == (1, 0, 1)
    f = cat.parse("task-clock:h").fields
    assert (f["exclude_user"], f["exclude_kernel"], f["exclude_hv"]) == (1, 1, 0)
    f = cat.parse("task-clock:uk").fields
    assert (f["exclude_user"], f["exclude_kernel"], f["exclude_hv"]) == (0, 0, 1)
    # as perf: every event starts with exclude_guest; modifiers decide the five anew
    assert set_fields(cat.parse("cycles")) == {"exclude_guest"}
    assert set_fields(cat.parse("cycles:G")) == {"exclude_host"}
    assert set_fields(cat.parse("cycles:H")) == {"exclude_guest"}
    assert set_fields(cat.parse("cycles:GH")) == set()
    assert set_fields(cat.parse("cycles:k")) == {"exclude_user", "exclude_hv"}
    assert set_fields(cat.parse("cycles:u")) == {"exclude_kernel", "exclude_hv", "exclude_guest"}
    assert cat.parse("cycles:p").fields["precise_ip"] == 1
    assert cat.parse("cycles:pp").fields["precise_ip"] == 2
    assert cat.parse("r1a8:ppp").fields["precise_ip"] == 3
    assert cat.parse("cycles:I").fields["exclude_idle"] == 1
    assert cat.parse("cycles:D").fields["pinned"] == 1
    attr = cat.parse("task-clock:upp").attr()
    assert (attr.exclude_kernel, attr.exclude_hv, attr.exclude_user, attr.precise_ip) == (
        1, 1, 0, 2)
    # the kernel takes the modifiers of a software event
    fd = open_spec(cat.parse("task-clock:u"))
    os.close(fd)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cycles:z", "bad modifier 'z'"),
        ("cycles:pppp", "too many 'p'"),
        ("cyclez", "unknown event 'cyclez' (did you mean 'cycles'?)"),
        ("", "empty event"),
        ("r", "unknown event 'r'"),
        ("rxyz", "unknown event 'rxyz'"),
        ("sched:sched_switch:u:k", "unexpected ':' after an event"),
        ("sched:no_such_tracepoint", "unknown tracepoint 'sched:no_such_tracepoint'"),
        ("no_such_subsys:x", "unknown tracepoint subsystem 'no_such_subsys'"),
        ("sched:../x", "no closing '/'"),
        ("sched:..", "bad tracepoint name"),
        ("mem:", "cannot parse breakpoint"),
        ("mem:zz", "is not a number"),
        ("mem:0x1000/3", "length 3"),
        ("mem:0x1000:rx", "'x' cannot be combined"),
        ("mem:0x1000:rr", "repeated access letter"),
        ("mem:0x1000:w:z", "bad modifier 'z'"),
        ("no_such_pmu/event=1/", "unknown PMU 'no_such_pmu'"),
        ("uprobe:/bin/true", "cannot parse"),
        ("uprobe:/no/such/file:main", "cannot read '/no/such/file'"),
        ("uprobe:/etc/hostname:main", "is not an ELF file"),
        ("uprobe/path=/bin/true/", 'quote values that contain "/"'),
        ('uprobe/path="/bin/true"/', "needs path= and offset="),
        ("uprobe/retprobe=2/", "does not fit term 'retprobe'"),
        ("software/event=1/", "unknown term 'event' for PMU 'software'"),
        ("task-clock/event=1/", "unknown term 'event'"),
    ],
)
def test_bad_names(cat: EventCatalog, text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        cat.parse(text)
    assert message in str(info.value)


def test_tracepoint(cat: EventCatalog) -> None:
    require_tracefs()
    tid = tracepoint_id("sched:sched_switch")
    spec = cat.parse("sched:sched_switch")
    assert (spec.type, spec.config) == (C.PERF_TYPE_TRACEPOINT, tid)
    spec = cat.parse("sched:sched_switch:u")
    assert spec.config == tid and spec.fields["exclude_kernel"] == 1
    subs = cat.tracepoint_subsystems()
    assert "sched_switch" in subs["sched"]

    def switch() -> None:
        import time

        for _ in range(5):
            time.sleep(0.001)

    assert count_of(cat.parse("sched:sched_switch"), switch) >= 5


def test_pmu_syntax_against_real_pmus(cat: EventCatalog) -> None:
    names = sorted(p.name for p in DEVICES.iterdir())
    assert sorted(cat.pmus) == names
    for name in names:
        assert cat.pmu(name).type == int((DEVICES / name / "type").read_text())
    sw = cat.parse("software/config=1/")
    assert (sw.type, sw.config) == (C.PERF_TYPE_SOFTWARE, C.PERF_COUNT_SW_TASK_CLOCK)
    os.close(open_spec(sw))
    tp = cat.parse("tracepoint/config=1/")
    assert tp.type == C.PERF_TYPE_TRACEPOINT


def test_pmu_aliases_here(cat: EventCatalog) -> None:
    with_alias = [p for p in cat.pmus.values() if p.aliases]
    if not with_alias:
        pytest.skip("no PMU here has events/ aliases")
    for pmu in with_alias:
        for alias in pmu.aliases.values():
            spec = cat.parse(f"{pmu.name}/{alias.name}/")
            assert spec.type == pmu.type
            # the alias means exactly its terms
            assert spec.config == cat.parse(f"{pmu.name}/{alias.terms}/").config \
                or "?" in alias.terms


def test_breakpoint_counts_writes(cat: EventCatalog) -> None:
    var = ctypes.c_uint64(0)
    addr = ctypes.addressof(var)
    spec = cat.parse(f"mem:{addr:#x}/8:w")
    assert spec.type == C.PERF_TYPE_BREAKPOINT
    assert spec.fields["bp_type"] == C.HW_BREAKPOINT_W
    assert (spec.fields["bp_addr"], spec.fields["bp_len"]) == (addr, 8)
    assert cat.parse(f"mem:{addr}").fields["bp_type"] == C.HW_BREAKPOINT_RW
    assert cat.parse(f"mem:{addr}").fields["bp_len"] == C.HW_BREAKPOINT_LEN_4
    assert cat.parse(f"mem:{addr}:x").fields["bp_len"] == ctypes.sizeof(ctypes.c_long)
    assert cat.parse(f"mem:{addr}:r:u").fields["exclude_kernel"] == 1

    def write() -> None:
        for i in range(10):
            var.value = i

    try:
        n = count_of(spec, write)
    except OSError as err:
        pytest.skip(f"no hardware breakpoints here: {err}")
    assert n >= 10


@pytest.fixture(scope="module")
def probed_program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("no C compiler (gcc) to build a program to probe")
    d = tmp_path_factory.mktemp("uprobe")
    src = d / "probed.c"
    src.write_text(
        "#include <stdlib.h>\n"
        "__attribute__((noinline)) int probed_function(int x) { return x * 3 + 1; }\n"
        "int main(int argc, char **argv) { int s = 0;\n"
        "  for (int i = 0; i < atoi(argv[1]); i++) s += probed_function(i);\n"
        "  return s == -1; }\n"
    )
    exe = d / "probed"
    subprocess.run(["gcc", "-O1", "-o", str(exe), str(src)], check=True)
    return exe


def test_elf_symbol_offset_matches_nm(probed_program: Path) -> None:
    off = elf_symbol_offset(probed_program, "probed_function")
    assert off > 0
    with pytest.raises(ValueError, match="not found"):
        elf_symbol_offset(probed_program, "no_such_symbol")
    if shutil.which("nm") and shutil.which("readelf"):
        nm = subprocess.run(["nm", str(probed_program)], capture_output=True, text=True).stdout
        vaddr = next(int(line.split()[0], 16) for line in nm.splitlines()
                     if line.endswith(" probed_function"))
        # PIE executables on x86-64 and aarch64 map text at file offset == vaddr
        # modulo the first segment's placement; both must agree on the page offset.
        assert off % 4096 == vaddr % 4096


@pytest.mark.thread_unsafe(reason="the stat helper it runs sets a SIGINT handler, which only "
                                  "the main thread may")
def test_uprobe_counts_calls(cat: EventCatalog, probed_program: Path) -> None:
    if "uprobe" not in cat.pmus:
        pytest.skip("no uprobe PMU in /sys/bus/event_source/devices")
    spec = cat.parse(f"uprobe:{probed_program}:probed_function")
    ret = cat.parse(f"uretprobe:{probed_program}:probed_function")
    fmt = cat.pmu("uprobe").formats["retprobe"]
    assert getattr(ret, fmt.config) == fmt.insert(0, 1)
    terms = cat.parse(
        f'uprobe/path="{probed_program}",func=probed_function,retprobe/'
    )
    assert terms.fields == ret.fields and terms.strings == ret.strings
    assert terms.config == ret.config
    attr = spec.attr()
    assert ctypes.string_at(attr.uprobe_path) == os.fsencode(probed_program)
    # Count in a child that execs the program, through the stat command's own helper.
    from perfsys.__main__ import Session, _run_command
    from perfsys.events import EventGroup

    session = Session([EventGroup([spec]), EventGroup([ret])], [], enable_on_exec=True)
    status, _elapsed, _ru = _run_command(session, [str(probed_program), "37"])
    session.disable()
    session.read()
    session.close()
    assert status == 0
    assert [c[0].value for c in session.counters] == [37, 37]


def test_module_level_helpers() -> None:
    assert parse_event("task-clock").config == C.PERF_COUNT_SW_TASK_CLOCK
    groups = parse_events("{task-clock,page-faults}:u,cs")
    assert [[s.config for s in g.events] for g in groups] == [
        [C.PERF_COUNT_SW_TASK_CLOCK, C.PERF_COUNT_SW_PAGE_FAULTS],
        [C.PERF_COUNT_SW_CONTEXT_SWITCHES],
    ]
    assert groups[0].events[1].fields["exclude_kernel"] == 1
    for bad in ("{task-clock", "task-clock}", "{task-clock}x", "a,,b", "{}"):
        with pytest.raises(ValueError):
            parse_events(bad)
