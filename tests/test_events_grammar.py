"""perfsys.events' grammar, production by production, and the attrs it makes against
the attrs ``perf stat -vv`` prints for the same text on this machine.

Each production is checked on a fake sysfs tree (PMUs this machine lacks: a ``cpu`` PMU
with formats and aliases, an msr-like PMU whose alias is chosen as a term value) and,
where this machine has what it names, on the real sysfs and tracefs. Errors are
ValueErrors that name the offending text and its position.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support import require_tracefs
from support import write_file as write

from perfsys import constants as C
from perfsys.events import (
    CONFIG_TERMS,
    MODIFIERS,
    EventCatalog,
    EventSpec,
    EventSyntaxError,
    Lexer,
    apply_modifiers,
)


@pytest.fixture
def fake(tmp_path: Path) -> EventCatalog:
    dev = "bus/event_source/devices"
    write(tmp_path, f"{dev}/cpu/type", "4")
    for name, fmt in {"event": "config:0-7", "umask": "config:8-15", "edge": "config:18",
                      "ldlat": "config1:0-15", "frontend": "config2:0-23"}.items():
        write(tmp_path, f"{dev}/cpu/format/{name}", fmt)
    write(tmp_path, f"{dev}/cpu/events/mem-loads", "event=0xcd,umask=0x1,ldlat=3")
    write(tmp_path, f"{dev}/cpu/events/cpu-cycles", "event=0x3c")
    write(tmp_path, f"{dev}/power/type", "21")
    write(tmp_path, f"{dev}/power/format/event", "config:0-63")
    write(tmp_path, f"{dev}/power/events/tsc", "event=0x00")
    write(tmp_path, f"{dev}/power/events/aperf", "event=0x01")
    write(tmp_path, f"{dev}/power/events/pkg", "umask=0x01")
    write(tmp_path, f"{dev}/power/cpumask", "0")
    write(tmp_path, f"{dev}/software/type", "1")
    write(tmp_path, f"{dev}/breakpoint/type", "5")
    for sub, names in {"sched": ["sched_switch", "sched_wakeup", "sched_waking"],
                       "syscalls": ["sys_enter_read", "sys_exit_read"]}.items():
        for i, n in enumerate(names):
            write(tmp_path, f"kernel/tracing/events/{sub}/{n}/id", str(300 + len(sub) * 10 + i))
    return EventCatalog(tmp_path)


@pytest.fixture(scope="module")
def real() -> EventCatalog:
    return EventCatalog()


def on(spec: EventSpec) -> set[str]:
    """The names of the fields ``spec`` sets to something other than 0."""
    return {k for k, v in spec.fields.items() if v}


# -- the lexer -----------------------------------------------------------------


def test_lexer_tokens() -> None:
    lex = Lexer('g{cpu/event=0x3c,path="/a b/c"/u, 4:26 ,sched:sched_*}:S')
    toks = []
    while (t := lex.next()).kind != "end":
        toks.append((t.kind, t.value, t.pos))
    assert toks == [
        ("name", "g", 0), ("{", "{", 1), ("name", "cpu", 2), ("/", "/", 5),
        ("name", "event", 6), ("=", "=", 11), ("number", "0x3c", 12), (",", ",", 16),
        ("name", "path", 17), ("=", "=", 21), ("string", "/a b/c", 22), ("/", "/", 30),
        ("name", "u", 31), (",", ",", 32), ("number", "4", 34), (":", ":", 35),
        ("number", "26", 36), (",", ",", 39), ("name", "sched", 40), (":", ":", 45),
        ("name", "sched_*", 46), ("}", "}", 53), (":", ":", 54), ("name", "S", 55),
    ]


@pytest.mark.parametrize(("text", "pos", "words"), [
    ("cycles;", 6, "unexpected character ';'"),
    ('cpu/event="x', 10, "unterminated quote"),
    ("cs,#", 3, "unexpected character '#'"),
])
def test_lexer_errors(text: str, pos: int, words: str) -> None:
    lex = Lexer(text)
    with pytest.raises(EventSyntaxError) as info:
        while lex.next().kind != "end":
            pass
    assert info.value.pos == pos and words in str(info.value)
    assert repr(text) in str(info.value) and f"position {pos}" in str(info.value)


# -- events := item (',' item)* ---------------------------------------------------


def test_event_list_and_lone_events(fake: EventCatalog) -> None:
    groups = fake.parse_list("cs, faults ,cpu/event=1/")
    assert [(g.braced, [s.name for s in g.events]) for g in groups] == [
        (False, ["cs"]), (False, ["faults"]), (False, ["cpu/event=1/"])]


@pytest.mark.parametrize(("text", "pos", "words"), [
    ("", 0, "empty event list"),
    ("cs,,faults", 3, "empty event in the list"),
    ("cs,", 3, "empty event in the list"),
    ("cs faults", 3, "unexpected 'faults' after an event"),
    ("{cs", 0, "'{' without its '}'"),
    ("cs}", 2, "unexpected '}'"),
    ("}", 0, "'}' without its '{'"),
    ("{}", 0, "empty group"),
    ("{cs,{faults}}", 4, "groups do not nest"),
    ("{cs}x", 4, "unexpected 'x'"),
    ("{cs faults}", 4, "expected ',' or '}'"),
    ("{cs}:", 5, "expected modifiers after ':'"),
    (",cs", 0, "expected an event"),
])
def test_list_errors(fake: EventCatalog, text: str, pos: int, words: str) -> None:
    with pytest.raises(EventSyntaxError) as info:
        fake.parse_list(text)
    assert words in str(info.value)
    assert info.value.pos == pos, info.value


# -- item := [NAME] '{' ... '}' [':' MODS] ------------------------------------------


def test_named_group_and_group_modifiers(fake: EventCatalog) -> None:
    (g,) = fake.parse_list("mine{cs,faults:k}:u")
    assert g.braced and g.name == "mine" and g.leader.name == "cs:u"
    cs, faults = g.events
    assert on(cs) == {"exclude_kernel", "exclude_hv", "exclude_guest"}
    # merged: the member's k and the group's u, as perf does
    assert on(faults) == {"exclude_hv", "exclude_guest"}
    (g,) = fake.parse_list("{cs,faults}")
    assert g.name is None


@pytest.mark.parametrize(("text", "expect"), [
    # the cases: merge, not overwrite
    ("{faults:k,branches}:u", [{"exclude_hv", "exclude_guest"},
                               {"exclude_kernel", "exclude_hv", "exclude_guest"}]),
    ("{cycles,cache-misses:G}:H", [{"exclude_guest"}, set()]),
    ("{cycles:u,instructions:kp}:p", [
        {"exclude_kernel", "exclude_hv", "exclude_guest", "precise_ip"},
        {"exclude_user", "exclude_hv", "exclude_guest", "precise_ip"}]),
    ("{task-clock,page-faults}:D", [{"exclude_guest", "pinned"}, {"exclude_guest"}]),
    ("{task-clock,page-faults}:e", [{"exclude_guest", "exclusive"}, {"exclude_guest"}]),
    ("{task-clock:p,page-faults:G}:pu", [
        {"exclude_kernel", "exclude_hv", "exclude_guest", "precise_ip"},
        {"exclude_kernel", "exclude_hv", "exclude_host", "precise_ip"}]),
    ("{cs:I,faults}:I", [{"exclude_idle"}, {"exclude_guest", "exclude_idle"}]),
])
def test_group_modifiers_merge(fake: EventCatalog, text: str, expect: list[set[str]]) -> None:
    (g,) = fake.parse_list(text)
    assert [on(s) for s in g.events] == expect
    if "p}:p" in text:
        assert [s.fields["precise_ip"] for s in g.events] == [1, 2]


def test_group_precision_over_three(fake: EventCatalog) -> None:
    with pytest.raises(EventSyntaxError, match="precision of 'cs:ppp' would be 4") as info:
        fake.parse_list("{cs:ppp}:p")
    assert info.value.pos == 9


def test_pinned_member_is_refused(fake: EventCatalog) -> None:
    for text in ("{cs,faults:D}", "{cs,faults:e}"):
        with pytest.raises(EventSyntaxError, match="not its group's leader"):
            fake.parse_list(text)
    assert on(fake.parse("faults:D")) == {"pinned"}  # alone, it is its own leader


def test_sample_read_weak_and_precise_max(fake: EventCatalog) -> None:
    (g,) = fake.parse_list("{cs,faults}:SW")
    assert all(s.sample_read and s.weak for s in g.events) and g.weak
    spec = fake.parse("cycles:P")
    assert spec.precise_max and spec.attr().precise_ip == 3
    assert spec.attr(precise_ip=1).precise_ip == 1


# -- event := NUMBER ':' NUMBER ----------------------------------------------------


def test_numeric_type_config(fake: EventCatalog) -> None:
    assert (fake.parse("1:1").type, fake.parse("1:1").config) == (1, 1)
    spec = fake.parse("4:0x1a/period=100/:u")
    assert (spec.type, spec.config, spec.fields["sample_period"]) == (4, 0x1A, 100)
    assert spec.fields["exclude_kernel"] == 1
    for text, pos, words in (("1:", 2, "a config number"), ("1:x", 2, "a config number"),
                             ("0x100000000:0", 0, "does not fit 32 bits"),
                             ("1:0x1ffffffffffffffff", 2, "does not fit 64 bits")):
        with pytest.raises(EventSyntaxError, match=words) as info:
            fake.parse(text)
        assert info.value.pos == pos


def test_numeric_opens_for_real(real: EventCatalog) -> None:
    import os

    import perfsys

    spec = real.parse(f"{C.PERF_TYPE_SOFTWARE}:{C.PERF_COUNT_SW_PAGE_FAULTS}")
    os.close(perfsys.perf_event_open(spec.attr(disabled=1), 0, -1))


# -- event := NAME '/' terms '/' [[':'] MODS] -----------------------------------------


def test_pmu_terms(fake: EventCatalog) -> None:
    spec = fake.parse("cpu/event=0x3c,umask=1,edge,ldlat=7,frontend/")
    assert spec.config == 0x3C | 1 << 8 | 1 << 18 and spec.config1 == 7
    assert spec.config2 == 1  # a bare term means 1
    assert fake.parse("cpu/config2/").config2 == 1
    assert fake.parse("cpu/r1a/").config == 0x1A  # a raw event name as a term
    assert fake.parse("software/r0x1a/").config == 0x1A
    assert fake.parse("cpu/mem-loads,ldlat=9/").config1 == 9
    # alias names match without regard to case, as perf's
    assert fake.parse("cpu/MEM-Loads/").config == fake.parse("cpu/mem-loads/").config
    assert fake.parse("MEM-LOADS").config1 == 3
    assert fake.parse("power/event=TSC/").config == 0
    # an alias chosen as a term's value: the value the alias gives that term
    assert fake.parse("power/event=aperf/").config == 1
    assert fake.parse("power/event=tsc/").config == 0
    assert fake.parse("power/event=tsc/").cpus == (0,)
    spec = fake.parse("cpu/event=1/ku")
    assert on(spec) == {"exclude_hv", "exclude_guest"}


@pytest.mark.parametrize(("text", "pos", "words"), [
    ("cpu/event=1", 3, "no closing '/'"),
    ("cpu/event=1,/", 12, "empty term"),
    ("cpu/=1/", 4, "bad term '='"),
    ("cpu/event=/", 10, "needs a value after '='"),
    ("cpu/event=1=2/", 11, "one '=' per term"),
    ("cpu/event 1/", 10, "expected ',' or '/'"),
    ("cpu/evnt=1/", 4, "unknown term 'evnt' for PMU 'cpu' (did you mean 'event'?)"),
    ("cpu/event=0x100/", 4, "does not fit term 'event'"),
    ("power/event=pkg/", 6, "alias 'pkg' of PMU 'power' sets no value for 'event'"),
    ("cpu/event=?/", 4, "'?' belongs in alias files"),
    ("cpx/event=1/", 0, "unknown PMU 'cpx'"),
    ("cpu/event=1/q", 12, "bad modifier 'q'"),
    ("cpu/event=1/:", 13, "expected modifiers"),
])
def test_pmu_errors(fake: EventCatalog, text: str, pos: int, words: str) -> None:
    with pytest.raises(EventSyntaxError) as info:
        fake.parse(text)
    assert words in str(info.value) and info.value.pos == pos, info.value


def test_unknown_pmu_suggests(fake: EventCatalog) -> None:
    with pytest.raises(ValueError, match="did you mean 'power'"):
        fake.parse("powr/event=1/")


def test_pmu_terms_real(real: EventCatalog) -> None:
    assert real.parse("software/config=2/").config == C.PERF_COUNT_SW_PAGE_FAULTS
    assert real.parse("software/r0x3/").config == 3
    if "msr" not in real.pmus or "tsc" not in real.pmu("msr").aliases:
        pytest.skip("no msr PMU with a tsc alias here")
    spec = real.parse("msr/event=tsc/")
    assert spec.config == real.parse("msr/tsc/").config


# -- config terms --------------------------------------------------------------------


def test_config_terms(fake: EventCatalog) -> None:
    spec = fake.parse("cs/period=7,time,max-stack=12,inherit=0,overwrite,aux-output,"
                      "aux-sample-size=64,percore,metric-id=m1,name=n/")
    f = spec.fields
    assert f["sample_period"] == 7 and f["freq"] == 0
    assert f["sample_max_stack"] == 12 and f["inherit"] == 0 and f["write_backward"] == 1
    assert f["aux_output"] == 1 and f["aux_sample_size"] == 64
    assert spec.sample_set == C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_AUX
    assert spec.percore and spec.metric_id == "m1" and spec.name == "n"
    spec = fake.parse("cs/time=0,no-inherit,no-overwrite/")
    assert spec.sample_clear == C.PERF_SAMPLE_TIME
    assert spec.fields["inherit"] == 0 and spec.fields["write_backward"] == 0
    attr = spec.attr(sample_type=C.PERF_SAMPLE_TIME | C.PERF_SAMPLE_IP)
    assert attr.sample_type == C.PERF_SAMPLE_IP
    assert fake.parse("cs/freq=99/").attr().freq == 1
    assert set(CONFIG_TERMS) >= {"call-graph", "stack-size", "max-stack", "time", "inherit",
                                 "no-inherit", "overwrite", "no-overwrite", "aux-output",
                                 "aux-sample-size", "percore", "metric-id"}


def test_call_graph_terms(fake: EventCatalog) -> None:
    fp = fake.parse("cs/call-graph=fp/")
    assert fp.sample_set == C.PERF_SAMPLE_CALLCHAIN
    lbr = fake.parse("cs/call-graph=lbr/")
    assert lbr.sample_set == C.PERF_SAMPLE_CALLCHAIN | C.PERF_SAMPLE_BRANCH_STACK
    assert lbr.fields["branch_sample_type"] & C.PERF_SAMPLE_BRANCH_CALL_STACK
    assert fake.parse("cs/call-graph=no/").sample_clear & C.PERF_SAMPLE_CALLCHAIN
    if platform.machine() not in ("x86_64", "aarch64"):
        with pytest.raises(ValueError, match="no user register set"):
            fake.parse("cs/call-graph=dwarf/")
        return
    dw = fake.parse("cs/call-graph=dwarf,4097/")
    assert dw.sample_set == (C.PERF_SAMPLE_CALLCHAIN | C.PERF_SAMPLE_REGS_USER
                             | C.PERF_SAMPLE_STACK_USER)
    assert dw.fields["sample_stack_user"] == 4104  # rounded up to 8, as perf
    assert dw.fields["exclude_callchain_user"] == 1 and dw.fields["sample_regs_user"]
    assert fake.parse("cs/call-graph=dwarf/").fields["sample_stack_user"] == 8192
    assert fake.parse("cs/stack-size=1024,call-graph=dwarf/").fields["sample_stack_user"] \
        == 1024
    a = dw.attr()
    assert a.sample_stack_user == 4104 and a.sample_type == dw.sample_set


@pytest.mark.parametrize(("text", "words"), [
    ("cs/call-graph=xyz/", "one of fp, dwarf[,SIZE], lbr, no"),
    ("cs/call-graph=fp,8/", "takes no size"),
    ("cs/call-graph/", "term 'call-graph' needs a value"),
    ("cs/metric-id/", "term 'metric-id' needs a value"),
    ("cs/max-stack=70000/", "does not fit 16 bits"),
    ("cs/bogus/", "unknown term 'bogus'"),
    ("cs/perod=1/", "did you mean 'period'"),
])
def test_config_term_errors(fake: EventCatalog, text: str, words: str) -> None:
    with pytest.raises(EventSyntaxError, match=re.escape(words)) as info:
        fake.parse(text)
    assert info.value.pos == 3


# -- event := 'mem' ':' ADDR ... --------------------------------------------------------


def test_breakpoints(fake: EventCatalog) -> None:
    spec = fake.parse("mem:0/name=x/")
    assert spec.name == "x" and spec.type == C.PERF_TYPE_BREAKPOINT
    assert spec.fields["bp_addr"] == 0 and spec.fields["bp_type"] == C.HW_BREAKPOINT_RW
    spec = fake.parse("mem:0x1000/8:rw")
    assert (spec.fields["bp_addr"], spec.fields["bp_len"]) == (0x1000, 8)
    spec = fake.parse("mem:0x1000/2:w/period=3/:u")
    assert spec.fields["bp_type"] == C.HW_BREAKPOINT_W and spec.fields["bp_len"] == 2
    assert spec.fields["sample_period"] == 3 and spec.fields["exclude_kernel"] == 1
    spec = fake.parse("mem:4096:k")  # modifiers, not an access
    assert spec.fields["bp_type"] == C.HW_BREAKPOINT_RW and spec.fields["exclude_user"] == 1
    for text, pos in (("mem:", 4), ("mem:zz", 4), ("mem:1/3", 6), ("mem:1:rr", 6),
                      ("mem:1:xw", 6)):
        with pytest.raises(EventSyntaxError) as info:
            fake.parse(text)
        assert info.value.pos == pos, info.value


# -- event := NAME ':' NAME (tracepoints, wildcards) ----------------------------------------


def test_tracepoints_and_wildcards(fake: EventCatalog) -> None:
    spec = fake.parse("sched:sched_switch/name=sw/:u")
    assert (spec.type, spec.config, spec.name) == (C.PERF_TYPE_TRACEPOINT, 350, "sw")
    groups = fake.parse_list("sched:sched_wak*")
    assert [g.events[0].name for g in groups] == ["sched:sched_wakeup", "sched:sched_waking"]
    assert len(fake.parse_list("*:*")) == 5
    assert [g.events[0].config for g in fake.parse_list("sys*:sys_*_read")] == [380, 381]
    (g,) = fake.parse_list("{cs,sched:*}:k")
    assert [s.name for s in g.events] == ["cs:k", "sched:sched_switch:k", "sched:sched_wakeup:k",
                                          "sched:sched_waking:k"]
    assert all(s.fields["exclude_user"] for s in g.events)
    with pytest.raises(EventSyntaxError, match="no tracepoint matches 'sched:nope\\*'"):
        fake.parse_list("sched:nope*")
    with pytest.raises(EventSyntaxError, match="one event expected, found 3"):
        fake.parse("sched:*")
    with pytest.raises(EventSyntaxError, match="wildcard names tracepoints only"):
        fake.parse("cyc*")
    with pytest.raises(EventSyntaxError, match="did you mean 'sched_switch'") as info:
        fake.parse("cs,sched:sched_swich")
    assert info.value.pos == 3


def test_tracepoint_wildcards_real(real: EventCatalog) -> None:
    require_tracefs("sched", "sched_switch")
    subs = real.tracepoint_subsystems()
    groups = real.parse_list("sched:sched_*")
    names = sorted(g.events[0].name for g in groups)
    assert names == sorted(f"sched:{n}" for n in subs["sched"] if n.startswith("sched_"))
    assert len(real.parse_list("*:*")) == sum(len(v) for v in subs.values())


# -- event := NAME [terms] [mods] ----------------------------------------------------------


def test_symbols_with_terms(fake: EventCatalog) -> None:
    spec = fake.parse("cycles/period=1000/")
    assert (spec.type, spec.config, spec.fields["sample_period"]) == (
        C.PERF_TYPE_HARDWARE, C.PERF_COUNT_HW_CPU_CYCLES, 1000)
    assert fake.parse("r1a/name=raw/").name == "raw"
    assert fake.parse("L1-dcache-loads/period=9/:u").fields["sample_period"] == 9
    assert fake.parse("mem-loads").config1 == 3  # an alias of a PMU, alone


# -- modifiers ------------------------------------------------------------------------------


@pytest.mark.parametrize(("mods", "expect"), [
    ("u", {"exclude_kernel", "exclude_hv", "exclude_guest"}),
    ("k", {"exclude_user", "exclude_hv"}),
    ("h", {"exclude_user", "exclude_kernel"}),
    ("uk", {"exclude_hv", "exclude_guest"}),
    ("G", {"exclude_host"}),
    ("H", {"exclude_guest"}),
    ("GH", set()),
    ("uG", {"exclude_kernel", "exclude_hv", "exclude_host"}),
    ("Gu", {"exclude_kernel", "exclude_hv", "exclude_host"}),
    ("I", {"exclude_idle"}),
    ("p", {"exclude_guest", "precise_ip"}),
    ("D", {"pinned"}),
    ("e", {"exclusive"}),
])
def test_event_modifiers(fake: EventCatalog, mods: str, expect: set[str]) -> None:
    assert on(fake.parse(f"task-clock:{mods}")) == expect


def test_modifier_errors(fake: EventCatalog) -> None:
    assert MODIFIERS == "ukhIGHpPSDWe"
    for text, words in (("cs:z", "bad modifier 'z'"), ("cs:pppp", "too many 'p'"),
                        ("cs:uu", "repeated modifier 'u'")):
        with pytest.raises(EventSyntaxError, match=words) as info:
            fake.parse(text)
        assert info.value.pos == 3
    spec = fake.parse("cs")
    with pytest.raises(ValueError, match="bad modifier"):
        apply_modifiers(spec, "x", False)


# -- against perf ----------------------------------------------------------------------

# Text perf 6.1 and later parse and open with software events (so that every attr it
# prints was opened, not retried with fallbacks).
PERF_CASES = [
    "task-clock", "task-clock:u", "task-clock:k", "task-clock:uk", "page-faults:G",
    "page-faults:H", "page-faults:GH", "cs:I", "cs:p", "cs:D", "cs:uG", "1:1", "1:3:u",
    "software/config=2/", "software/config=2/k",
    "{faults:k,cs}:u", "{task-clock:p,page-faults:G}:pu", "{task-clock:D,page-faults}",
    "{task-clock,page-faults}:D", "{cs:I,faults}:kI",
]
_FIELDS = ("type", "config", "exclude_user", "exclude_kernel", "exclude_hv", "exclude_host",
           "exclude_guest", "exclude_idle", "precise_ip", "pinned", "exclusive")


def perf_attrs(text: str) -> list[dict[str, int]]:
    """The attrs ``perf stat -vv -e TEXT true`` prints, one dict per event opened."""
    p = subprocess.run(["perf", "stat", "-vv", "-e", text, "true"], capture_output=True,
                       text=True, timeout=60)
    out: list[dict[str, int]] = []
    for line in p.stderr.splitlines():
        if line.startswith("perf_event_attr:"):
            out.append({})
        elif out and (m := re.match(r"^  (\w+)\s+(0x[0-9a-f]+|\d+)$", line)):
            out[-1][m.group(1)] = int(m.group(2), 0)
    return out


@pytest.mark.parametrize("text", PERF_CASES)
def test_attrs_as_perf_makes_them(real: EventCatalog, text: str) -> None:
    if shutil.which("perf") is None:
        pytest.skip("perf is not installed (tools/bootstrap.sh installs linux-perf)")
    theirs = perf_attrs(text)
    if not theirs:
        pytest.skip(f"perf stat -vv prints no attrs here for {text!r}")
    ours = [s for g in real.parse_list(text) for s in g.events]
    assert len(ours) == len(theirs)
    for spec, attr in zip(ours, theirs, strict=True):
        a: Any = spec.attr()
        mine = {k: int(getattr(a, k)) for k in _FIELDS}
        want = {k: attr.get(k, 0) for k in _FIELDS}
        assert mine == want, (text, spec.name)


# -- any text ------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = ["cs", "faults", "cycles", "cpu", "power", "sched", "sched_switch", "mem", "uprobe",
           "kprobe", "event", "umask", "tsc", "name", "period", "call-graph", "dwarf", "r1a",
           "1", "0x10", "{", "}", ":", ",", "/", "=", "u", "k", "pp", "G", "H", "D", "*", " ",
           '"', "'", "?", "x", "config2", "g"]


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(_PIECES), max_size=14))
def test_any_list_parses_or_names_its_position(fake: EventCatalog, pieces: list[str]) -> None:
    """Whatever the text, parse_list makes attrs or raises an EventSyntaxError whose
    position lies inside the text."""
    text = "".join(pieces)
    try:
        groups = fake.parse_list(text)
    except EventSyntaxError as err:
        assert 0 <= err.pos <= len(text) and err.text == text
        assert f"position {err.pos} of {text!r}" in str(err)
        return
    for g in groups:
        assert g.events
        for spec in g.events:
            spec.attr()
