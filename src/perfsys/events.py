"""Event names as ``perf`` spells them, resolved against the running kernel.

The kernel describes itself in sysfs and tracefs: each PMU under
``/sys/bus/event_source/devices/<pmu>`` has a ``type`` number, ``format/*`` files saying
which bits of ``config``..``config4`` each term occupies, ``events/*`` aliases (with
``.scale`` and ``.unit`` files) and sometimes a ``cpumask``; each tracepoint has an ``id``
under ``<tracefs>/events/<subsystem>/<name>``. :class:`EventCatalog` reads that
description and :meth:`EventCatalog.parse` turns perf's event syntax into an
:class:`EventSpec`, whose :meth:`EventSpec.attr` builds the ``perf_event_attr``.

Syntax (one event)::

    task-clock  page-faults  cycles  cpu-cycles      generic hardware and software names
    L1-dcache-load-misses  LLC-loads  dTLB-stores    cache events: <cache>[-<op>][-<result>]
    r1a8  r0x1a8                                     raw PMU config (hex), PERF_TYPE_RAW
    1:1  4:0x1a                                      numeric type:config
    sched:sched_switch  sched:sched_*  *:*           tracepoints (shell patterns: several)
    msr/tsc/  msr/event=tsc/  pmu/a=1,b,config1=3/   terms placed by the PMU's format files
    cycles/period=1000/  cpu/r1a,call-graph=fp/      perf's config terms (CONFIG_TERMS)
    mem:0x1000[/8][:rw][/name=x/]                    hardware breakpoint (r, w, rw or x)
    uprobe:/bin/true:main  uretprobe:/bin/true:0x4f0 uprobe on a file's symbol or offset
    uprobe/path="/bin/true",offset=0x4f0,retprobe/   the same, in term syntax
    kprobe:do_sys_openat2[+4]  kretprobe:vfs_read    kprobes (need the ``kprobe`` PMU)

followed by optional modifiers (:data:`MODIFIERS`): ``:u`` ``:k`` ``:h`` (count only
user, kernel, hypervisor), ``:I`` (exclude idle), ``:G`` ``:H`` (guest, host),
``:p``/``:pp``/``:ppp`` (precise_ip), ``:P`` (the most precise), ``:S`` (leader
sampling), ``:D`` (pinned), ``:W`` (weak group), ``:e`` (exclusive). A PMU event takes
them after its closing slash, with or without a colon (``msr/tsc/u``). An event list
separates events with commas and groups them with braces, optionally named:
``g{cycles,instructions:k}:u,page-faults``; a group's modifiers merge with its members'
as perf's do (:func:`apply_modifiers`).

:class:`Lexer` splits the text into tokens and a recursive descent (one method per
production, see ``_Parser``) builds the specs; every error is an
:class:`EventSyntaxError`, a ValueError that names the offending text and its position.
"""

from __future__ import annotations

import ctypes
import difflib
import errno
import fnmatch
import os
import platform
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from perfsys.constants import perf_event_attr

__all__ = [
    "CONFIG_FIELDS",
    "CONFIG_TERMS",
    "MODIFIERS",
    "PMU",
    "EventAlias",
    "EventCatalog",
    "EventGroup",
    "EventSpec",
    "EventSyntaxError",
    "FormatField",
    "GenericEvent",
    "Lexer",
    "Token",
    "TracefsNotMounted",
    "apply_modifiers",
    "cache_events",
    "elf_symbol_offset",
    "generic_events",
    "iter_specs",
    "parse_event",
    "parse_events",
]

#: The attr fields a PMU format file may name, in the kernel's order.
CONFIG_FIELDS: tuple[str, ...] = ("config", "config1", "config2", "config3", "config4")

# Only the ABI numbers perf's syntax itself is defined by; everything else comes from
# perfsys.constants (generated from the UAPI headers) when an attr is built.
_TYPE_HARDWARE = 0
_TYPE_SOFTWARE = 1
_TYPE_TRACEPOINT = 2
_TYPE_HW_CACHE = 3
_TYPE_RAW = 4
_TYPE_BREAKPOINT = 5


def _constants() -> Any:
    from perfsys import constants

    return constants


class TracefsNotMounted(FileNotFoundError, ValueError):
    """Neither ``/sys/kernel/tracing`` nor ``/sys/kernel/debug/tracing`` holds tracefs.

    Both an OSError (ENOENT) and a ValueError: event names that need tracefs cannot be
    resolved without it."""


# ---------------------------------------------------------------------------
# sysfs: PMUs, their formats and aliases
# ---------------------------------------------------------------------------

_FORMAT_RE = re.compile(r"^(config[1-4]?):(\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*)$")


@dataclass(frozen=True)
class FormatField:
    """One ``format/<name>`` file: which bits of which config field a term occupies.

    ``ranges`` lists ``(low, high)`` bit numbers, inclusive, in the order the file gives
    them; a value's low bits go into the first range, its next bits into the second, and
    so on (``config:0-7,32-35`` is a 12-bit term).
    """

    name: str
    config: str
    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, name: str, text: str) -> FormatField:
        m = _FORMAT_RE.match(text.strip())
        if not m:
            raise ValueError(f"format {name!r}: cannot parse {text.strip()!r}")
        ranges = []
        for part in m.group(2).split(","):
            lo_s, _, hi_s = part.partition("-")
            lo, hi = int(lo_s), int(hi_s or lo_s)
            if not lo <= hi <= 63:
                raise ValueError(f"format {name!r}: bad bit range {part!r}")
            ranges.append((lo, hi))
        return cls(name, m.group(1), tuple(ranges))

    @property
    def width(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)

    @property
    def mask(self) -> int:
        """The bits this term occupies in its config field."""
        return sum(((1 << (hi - lo + 1)) - 1) << lo for lo, hi in self.ranges)

    def describe(self) -> str:
        spans = ",".join(f"{lo}-{hi}" if hi != lo else f"{lo}" for lo, hi in self.ranges)
        return f"{self.config}:{spans}"

    def insert(self, word: int, value: int) -> int:
        """Return ``word`` with this term's bits replaced by ``value``."""
        if value < 0 or value >> self.width:
            raise ValueError(
                f"value {value:#x} does not fit term {self.name!r} "
                f"({self.width} bit{'s' if self.width != 1 else ''}: {self.describe()})"
            )
        word &= ~self.mask
        shift = 0
        for lo, hi in self.ranges:
            n = hi - lo + 1
            word |= ((value >> shift) & ((1 << n) - 1)) << lo
            shift += n
        return word

    def extract(self, word: int) -> int:
        """The inverse of :meth:`insert`: this term's value inside ``word``."""
        value = shift = 0
        for lo, hi in self.ranges:
            n = hi - lo + 1
            value |= ((word >> lo) & ((1 << n) - 1)) << shift
            shift += n
        return value


@dataclass(frozen=True)
class EventAlias:
    """One ``events/<name>`` file of a PMU: the terms it stands for, and how to show it."""

    name: str
    terms: str
    scale: float = 1.0
    unit: str = ""


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace").strip()


def _parse_cpu_list(text: str) -> tuple[int, ...]:
    """``0-3,8`` -> (0, 1, 2, 3, 8)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(cpus)


class PMU:
    """A performance monitoring unit as sysfs describes it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        try:
            self.type = int(_read(path / "type"))
        except (OSError, ValueError) as err:
            raise ValueError(f"PMU {self.name!r}: unreadable type file ({err})") from err

    def __repr__(self) -> str:
        return f"PMU({self.name!r}, type={self.type})"

    @cached_property
    def formats(self) -> dict[str, FormatField]:
        """``format/*``: term name -> bit ranges."""
        out: dict[str, FormatField] = {}
        d = self.path / "format"
        if d.is_dir():
            for f in sorted(d.iterdir()):
                out[f.name] = FormatField.parse(f.name, _read(f))
        return out

    @cached_property
    def aliases(self) -> dict[str, EventAlias]:
        """``events/*``: alias name -> terms, with ``.scale`` and ``.unit`` applied."""
        out: dict[str, EventAlias] = {}
        d = self.path / "events"
        if not d.is_dir():
            return out
        for f in sorted(d.iterdir()):
            if "." in f.name:
                continue
            scale, unit = 1.0, ""
            sf, uf = d / f"{f.name}.scale", d / f"{f.name}.unit"
            if sf.exists():
                try:
                    scale = float(_read(sf))
                except ValueError as err:
                    raise ValueError(f"{sf}: bad scale {_read(sf)!r}") from err
            if uf.exists():
                unit = _read(uf)
            try:
                terms = _read(f)
            except OSError:  # some alias files refuse reads on some machines
                continue
            out[f.name] = EventAlias(f.name, terms, scale, unit)
        return out

    @cached_property
    def _aliases_folded(self) -> dict[str, EventAlias]:
        return {name.lower(): a for name, a in reversed(self.aliases.items())}

    def alias(self, name: str) -> EventAlias | None:
        """The alias ``name``, matched without regard to case as perf does (an exact
        match first)."""
        return self.aliases.get(name) or self._aliases_folded.get(name.lower())

    @cached_property
    def cpus(self) -> tuple[int, ...] | None:
        """``cpumask`` (or ``cpus``): the CPUs to open this PMU's events on, if it says."""
        for fname in ("cpumask", "cpus"):
            f = self.path / fname
            if f.exists():
                return _parse_cpu_list(_read(f))
        return None


# ---------------------------------------------------------------------------
# generic names
# ---------------------------------------------------------------------------

# perf's names for the generic hardware and software events: constant suffix -> names,
# the first being the one listed. Constants not named here (newer headers) are listed
# under their suffix in lower case with dashes.
_HW_NAMES: dict[str, tuple[str, ...]] = {
    "CPU_CYCLES": ("cpu-cycles", "cycles"),
    "INSTRUCTIONS": ("instructions",),
    "CACHE_REFERENCES": ("cache-references",),
    "CACHE_MISSES": ("cache-misses",),
    "BRANCH_INSTRUCTIONS": ("branch-instructions", "branches"),
    "BRANCH_MISSES": ("branch-misses",),
    "BUS_CYCLES": ("bus-cycles",),
    "STALLED_CYCLES_FRONTEND": ("stalled-cycles-frontend", "idle-cycles-frontend"),
    "STALLED_CYCLES_BACKEND": ("stalled-cycles-backend", "idle-cycles-backend"),
    "REF_CPU_CYCLES": ("ref-cycles",),
}
_SW_NAMES: dict[str, tuple[str, ...]] = {
    "CPU_CLOCK": ("cpu-clock",),
    "TASK_CLOCK": ("task-clock",),
    "PAGE_FAULTS": ("page-faults", "faults"),
    "CONTEXT_SWITCHES": ("context-switches", "cs"),
    "CPU_MIGRATIONS": ("cpu-migrations", "migrations"),
    "PAGE_FAULTS_MIN": ("minor-faults",),
    "PAGE_FAULTS_MAJ": ("major-faults",),
    "ALIGNMENT_FAULTS": ("alignment-faults",),
    "EMULATION_FAULTS": ("emulation-faults",),
    "DUMMY": ("dummy",),
    "BPF_OUTPUT": ("bpf-output",),
    "CGROUP_SWITCHES": ("cgroup-switches",),
}
_CACHE_NAMES: dict[str, tuple[str, ...]] = {
    "L1D": ("L1-dcache", "l1-d", "l1d", "L1-data"),
    "L1I": ("L1-icache", "l1-i", "l1i", "L1-instruction"),
    "LL": ("LLC", "L2"),
    "DTLB": ("dTLB", "d-tlb", "Data-TLB"),
    "ITLB": ("iTLB", "i-tlb", "Instruction-TLB"),
    "BPU": ("branch", "branches", "bpu", "btb", "bpc"),
    "NODE": ("node",),
}
_CACHE_OP_NAMES: dict[str, tuple[str, ...]] = {
    "READ": ("load", "loads", "read"),
    "WRITE": ("store", "stores", "write"),
    "PREFETCH": ("prefetch", "prefetches", "speculative-read", "speculative-load"),
}
_CACHE_OP_PLURAL = {"READ": "loads", "WRITE": "stores", "PREFETCH": "prefetches"}
_CACHE_RESULT_NAMES: dict[str, tuple[str, ...]] = {
    "ACCESS": ("refs", "Reference", "ops", "access"),
    "MISS": ("misses", "miss"),
}


@dataclass(frozen=True)
class GenericEvent:
    """A generic hardware, software or cache event: its perf names, type and config."""

    names: tuple[str, ...]
    type: int
    config: int

    @property
    def name(self) -> str:
        return self.names[0]


def _enum_members(table: str, prefix: str) -> dict[str, int]:
    """One generated enum table (``perf_hw_id``, ...) by suffix, without its ``*_MAX``."""
    members: dict[str, int] = getattr(_constants(), table)
    out = {
        key[len(prefix) :]: value
        for key, value in members.items()
        if key.startswith(prefix) and not key.endswith("_MAX")
    }
    return dict(sorted(out.items(), key=lambda kv: kv[1]))


def _named(
    members: dict[str, int], table: dict[str, tuple[str, ...]]
) -> list[tuple[tuple[str, ...], int]]:
    return [
        (table.get(suffix, (suffix.lower().replace("_", "-"),)), value)
        for suffix, value in members.items()
    ]


def generic_events() -> list[GenericEvent]:
    """Every generic hardware and software event, perf's names first."""
    out: list[GenericEvent] = []
    for names, value in _named(_enum_members("perf_hw_id", "PERF_COUNT_HW_"), _HW_NAMES):
        out.append(GenericEvent(names, _TYPE_HARDWARE, value))
    for names, value in _named(_enum_members("perf_sw_ids", "PERF_COUNT_SW_"), _SW_NAMES):
        out.append(GenericEvent(names, _TYPE_SOFTWARE, value))
    return out


def cache_events() -> list[GenericEvent]:
    """Every cache x op x result combination, as perf lists them (``L1-dcache-load-misses``).

    Each also answers to the other spellings perf accepts: ``l1d-read-miss``, ``LLC``
    (op read, result access), ``dTLB-misses`` and so on.
    """
    caches = _named(_enum_members("perf_hw_cache_id", "PERF_COUNT_HW_CACHE_"), _CACHE_NAMES)
    ops_m = _enum_members("perf_hw_cache_op_id", "PERF_COUNT_HW_CACHE_OP_")
    results_m = _enum_members("perf_hw_cache_op_result_id", "PERF_COUNT_HW_CACHE_RESULT_")
    ops = _named(ops_m, _CACHE_OP_NAMES)
    results = _named(results_m, _CACHE_RESULT_NAMES)
    op_suffix = {v: k for k, v in ops_m.items()}
    res_suffix = {v: k for k, v in results_m.items()}
    read = ops_m.get("READ", 0)
    access = results_m.get("ACCESS", 0)
    out: list[GenericEvent] = []
    for cnames, cid in caches:
        for onames, oid in ops:
            for rnames, rid in results:
                if res_suffix.get(rid) == "ACCESS":
                    plural = _CACHE_OP_PLURAL.get(op_suffix.get(oid, ""), onames[0])
                    canonical = f"{cnames[0]}-{plural}"
                else:
                    canonical = f"{cnames[0]}-{onames[0]}-{rnames[0]}"
                names = [canonical]
                for cn in cnames:
                    for on in onames:
                        names.extend(f"{cn}-{on}-{rn}" for rn in rnames)
                        if rid == access:  # the result defaults to access
                            names.append(f"{cn}-{on}")
                    if oid == read:  # the op defaults to read
                        names.extend(f"{cn}-{rn}" for rn in rnames)
                        if rid == access:
                            names.append(cn)
                mine = list(dict.fromkeys(names))
                out.append(GenericEvent(tuple(mine), _TYPE_HW_CACHE, cid | oid << 8 | rid << 16))
    return out


# ---------------------------------------------------------------------------
# the result of parsing
# ---------------------------------------------------------------------------

#: The modifier letters, in the order perf-list(1) gives them.
MODIFIERS = "ukhIGHpPSDWe"

_MODIFIER_HELP = (
    "u user, k kernel, h hypervisor, I non-idle, G guest, H host, p/pp/ppp precise, "
    "P most precise, S leader sampling, D pinned, W weak group, e exclusive"
)

# The registers perf's call-graph=dwarf asks for (all general ones but the segment
# registers x86-64 cannot sample), by machine.
_DWARF_USER_REGS = {
    "x86_64": ((1 << 24) - 1) & ~(0xF << 12),
    "aarch64": (1 << 33) - 1,
}
_DWARF_STACK_DEFAULT = 8192


@dataclass
class EventSpec:
    """One parsed event: what goes into its ``perf_event_attr``, and how to show its count.

    ``fields`` holds the attr's other members by their kernel names (``exclude_user``,
    ``precise_ip``, ``bp_addr``, ``sample_period``, ...); ``strings`` holds the pointer
    members (``kprobe_func``, ``uprobe_path``) as bytes, which :meth:`attr` copies into
    buffers that live as long as the attr does. ``sample_set`` and ``sample_clear`` are
    ``PERF_SAMPLE_*`` bits that terms (``time``, ``call-graph``, ``aux-sample-size``) add
    to and remove from whatever ``sample_type`` the caller asks for.

    Like perf, every event starts with ``exclude_guest`` set; the ``G`` modifier (and
    modifiers that choose privilege levels) decide it anew.
    """

    text: str
    name: str
    type: int
    config: int = 0
    config1: int = 0
    config2: int = 0
    config3: int = 0
    config4: int = 0
    fields: dict[str, int] = field(default_factory=lambda: {"exclude_guest": 1})
    strings: dict[str, bytes] = field(default_factory=dict)
    pmu: str | None = None
    scale: float = 1.0
    unit: str = ""
    cpus: tuple[int, ...] | None = None
    #: ``:P``: open with the highest ``precise_ip`` the PMU takes (3, lowered on refusal).
    precise_max: bool = False
    #: ``:S``: a sampling group's leader samples the others' counts (PERF_SAMPLE_READ).
    sample_read: bool = False
    #: ``:W``: a group that may fall apart into single events if the PMU cannot hold it.
    weak: bool = False
    #: the ``percore`` term: counts are summed over the hardware threads of each core.
    percore: bool = False
    #: the ``metric-id`` term.
    metric_id: str | None = None
    sample_set: int = 0
    sample_clear: int = 0
    #: whether a G or H modifier chose guest/host counting (perf's ``exclude_GH``).
    exclude_gh: bool = False

    def attr(self, **extra: int) -> perf_event_attr:
        """A fresh ``perfsys.perf_event_attr`` for this event; ``extra`` sets more fields.

        Pointer fields point into buffers attached to the returned attr (as
        ``_perfsys_keepalive``), so they stay valid for as long as the attr object lives.
        """
        import perfsys

        a = perfsys.perf_event_attr()
        a.type = self.type
        for name in CONFIG_FIELDS:
            value = getattr(self, name)
            if value:
                setattr(a, name, value)
        values = {**self.fields, **extra}
        if self.precise_max and "precise_ip" not in extra:
            values["precise_ip"] = 3
        if self.sample_set or self.sample_clear:
            values["sample_type"] = (values.get("sample_type", 0) | self.sample_set) \
                & ~self.sample_clear
        for name, value in values.items():
            setattr(a, name, value)
        keep = []
        for name, data in self.strings.items():
            buf = ctypes.create_string_buffer(data)
            keep.append(buf)
            setattr(a, name, ctypes.addressof(buf))
        a._perfsys_keepalive = keep
        return a


@dataclass
class EventGroup:
    """Events opened together: the first is the group leader (a lone event is a group of one).

    ``name`` is the group's name when written ``name{...}``; ``weak`` is set by the ``W``
    modifier (the group may be opened as single events when the PMU cannot hold it).
    """

    events: list[EventSpec]
    braced: bool = False
    name: str | None = None

    @property
    def leader(self) -> EventSpec:
        return self.events[0]

    @property
    def weak(self) -> bool:
        return any(s.weak for s in self.events)


class EventSyntaxError(ValueError):
    """An event list perfsys cannot make attrs of: ``text`` is the whole list, ``pos`` the
    offset of the offending part, ``reason`` what is wrong with it."""

    def __init__(self, reason: str, text: str, pos: int) -> None:
        self.reason, self.text, self.pos = reason, text, pos
        super().__init__(f"{reason} (at position {pos} of {text!r})")


# ---------------------------------------------------------------------------
# the lexer
# ---------------------------------------------------------------------------

# A name: events, PMUs, terms, tracepoints (with the glob characters of wildcards),
# modifier strings. A number: decimal or 0x hex. Strings in either quote.
_TOKEN = re.compile(
    r"(?P<number>0[xX][0-9a-fA-F]+|[0-9]+)(?![A-Za-z0-9_.\-])"
    r"|(?P<name>[A-Za-z0-9_*?\[\]!.][A-Za-z0-9_*?\[\]!.\-]*)"
    r"|(?P<string>\"[^\"]*\"|'[^']*')"
    r"|(?P<punct>[{}:,/=])"
)
_RAW = re.compile(r"^r(?:0[xX])?([0-9a-fA-F]+)$")
_GLOB = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class Token:
    """One token of an event list: ``kind`` is ``name``, ``number``, ``string``, one of
    ``{ } : , / =``, or ``end``; ``pos`` is its offset in the text."""

    kind: str
    text: str
    pos: int

    @property
    def value(self) -> str:
        """The text, without the quotes of a string."""
        return self.text[1:-1] if self.kind == "string" else self.text


class Lexer:
    """Splits an event list into :class:`Token` s on demand, skipping blanks."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n":
            self.pos += 1

    def peek(self) -> Token:
        self._skip()
        if self.pos >= len(self.text):
            return Token("end", "", len(self.text))
        m = _TOKEN.match(self.text, self.pos)
        if m is None:
            ch = self.text[self.pos]
            if ch in "\"'":
                raise EventSyntaxError(f"unterminated quote {ch}", self.text, self.pos)
            raise EventSyntaxError(f"unexpected character {ch!r}", self.text, self.pos)
        kind = m.lastgroup or "punct"
        return Token(m.group() if kind == "punct" else kind, m.group(), self.pos)

    def next(self) -> Token:
        tok = self.peek()
        self.pos = tok.pos + len(tok.text)
        return tok

    def accept(self, kind: str) -> Token | None:
        """The next token if it is of ``kind`` (consumed), else None."""
        tok = self.peek()
        if tok.kind != kind:
            return None
        return self.next()

    def expect(self, kind: str, what: str) -> Token:
        tok = self.peek()
        if tok.kind != kind:
            shown = repr(tok.text) if tok.kind != "end" else "the end"
            raise EventSyntaxError(f"expected {what}, found {shown}", self.text, tok.pos)
        return self.next()

    def raw_until(self, stops: str) -> tuple[str, int]:
        """The raw text up to the first character of ``stops`` (or the end), consumed."""
        start = self.pos
        j = start
        while j < len(self.text) and self.text[j] not in stops:
            j += 1
        self.pos = j
        return self.text[start:j], start


# ---------------------------------------------------------------------------
# numbers and modifiers
# ---------------------------------------------------------------------------


def _number(text: str, what: str) -> int:
    t = text.strip()
    try:
        if t.lower().startswith("0x"):
            v = int(t[2:], 16)
        elif t.lower().startswith("0b"):
            v = int(t[2:], 2)
        else:
            v = int(t, 10)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if v < 0 or v >> 64:
        raise ValueError(f"{what}: {text!r} does not fit 64 bits")
    return v


def _check_modifiers(mods: str) -> str | None:
    """Why ``mods`` is not a modifier string, or None if it is one."""
    bad = [c for c in mods if c not in MODIFIERS]
    if bad:
        return f"bad modifier {bad[0]!r} in {mods!r} (modifiers: {_MODIFIER_HELP})"
    for c in set(mods) - {"p"}:
        if mods.count(c) > 1:
            return f"repeated modifier {c!r} in {mods!r}"
    if mods.count("p") > 3:
        return f"too many 'p' modifiers in {mods!r} (precise_ip is at most 3)"
    return None


def apply_modifiers(spec: EventSpec, mods: str, group: bool, leader: bool = True) -> None:
    """Apply modifier letters to ``spec`` as perf does.

    An event's own modifiers (``group`` false) decide the privilege levels and guest/host
    choice anew; a group's modifiers merge with what each member already has: levels
    are added to the member's, ``p`` adds to its precision, and ``D`` and ``e`` reach the
    leader only. Raises ValueError for a bad modifier string or a precision over 3.
    """
    why = _check_modifiers(mods)
    if why:
        raise ValueError(why)
    f = spec.fields
    # perf's variables: each starts from the member's value for a group's modifiers and
    # from zero for an event's own, and then all of them are written back
    eu = f.get("exclude_user", 0) if group else 0
    ek = f.get("exclude_kernel", 0) if group else 0
    eh = f.get("exclude_hv", 0) if group else 0
    e_host = f.get("exclude_host", 0) if group else 0
    e_guest = f.get("exclude_guest", 0) if group else 0
    exclude = eu | ek | eh
    exclude_gh = spec.exclude_gh if group else False
    for c in mods:
        if c in "ukh":
            if not exclude:
                exclude = eu = ek = eh = 1
            if c == "u" and not exclude_gh:
                e_guest = 1
            if c == "u":
                eu = 0
            elif c == "k":
                ek = 0
            else:
                eh = 0
        elif c in "GH":
            if not exclude_gh:
                exclude_gh, e_guest, e_host = True, 1, 1
            if c == "G":
                e_guest = 0
            else:
                e_host = 0
        elif c == "p" and not exclude_gh:
            e_guest = 1  # precise sampling needs exclude_guest
    f["exclude_user"], f["exclude_kernel"], f["exclude_hv"] = eu, ek, eh
    f["exclude_host"], f["exclude_guest"] = e_host, e_guest
    spec.exclude_gh = exclude_gh
    if not group:
        for name in ("precise_ip", "exclude_idle", "pinned", "exclusive"):
            f.pop(name, None)
    precise = mods.count("p")
    if precise:
        total = (f.get("precise_ip", 0) if group else 0) + precise
        if total > 3:
            raise ValueError(
                f"too many 'p' modifiers: the precision of {spec.name!r} would be {total} "
                "(precise_ip is at most 3)"
            )
        f["precise_ip"] = total
    if "P" in mods:
        spec.precise_max = True
    if "I" in mods:
        f["exclude_idle"] = 1
    if "S" in mods:
        spec.sample_read = True
    if "W" in mods:
        spec.weak = True
    for letter, name in (("D", "pinned"), ("e", "exclusive")):
        if letter in mods:
            if not leader:
                if not group:
                    raise ValueError(
                        f"':{letter}' ({name}) belongs to a group's leader, "
                        f"not to its member {spec.name!r}"
                    )
                continue
            f[name] = 1


# ---------------------------------------------------------------------------
# the catalog: sysfs + tracefs + generic names
# ---------------------------------------------------------------------------


class EventCatalog:
    """What the running kernel says about its events, read from sysfs and tracefs.

    ``sysfs`` is the sysfs root (``/sys``; tests point it at a fake tree). tracefs is
    looked for at ``<sysfs>/kernel/tracing`` and then ``<sysfs>/kernel/debug/tracing``
    unless ``tracefs`` names it.
    """

    def __init__(self, sysfs: str | os.PathLike[str] = "/sys",
                 tracefs: str | os.PathLike[str] | None = None) -> None:
        self.sysfs = Path(sysfs)
        self._tracefs = Path(tracefs) if tracefs is not None else None

    # -- PMUs --------------------------------------------------------------

    @property
    def devices_dir(self) -> Path:
        return self.sysfs / "bus" / "event_source" / "devices"

    @cached_property
    def pmus(self) -> dict[str, PMU]:
        """Every PMU in ``bus/event_source/devices``, by name."""
        out: dict[str, PMU] = {}
        try:
            entries = sorted(self.devices_dir.iterdir())
        except FileNotFoundError:
            return out
        for d in entries:
            if (d / "type").exists():
                out[d.name] = PMU(d)
        return out

    def pmu(self, name: str) -> PMU:
        try:
            return self.pmus[name]
        except KeyError:
            raise ValueError(
                f"unknown PMU {name!r}: this kernel has no {self.devices_dir / name}"
                + _suggest(name, self.pmus)
                + f" (PMUs here: {', '.join(self.pmus) or 'none'})"
            ) from None

    # -- tracefs -----------------------------------------------------------

    @property
    def tracefs(self) -> Path:
        """The tracefs mount (raises :class:`TracefsNotMounted` if there is none)."""
        candidates = (
            [self._tracefs]
            if self._tracefs is not None
            else [self.sysfs / "kernel" / "tracing", self.sysfs / "kernel" / "debug" / "tracing"]
        )
        for c in candidates:
            if (c / "events").is_dir():
                return c
        raise TracefsNotMounted(
            errno.ENOENT,
            "tracefs is not mounted at "
            + " or ".join(str(c) for c in candidates)
            + " (mount it with: mount -t tracefs nodev /sys/kernel/tracing)",
        )

    def tracepoint_subsystems(self) -> dict[str, list[str]]:
        """Subsystem -> its tracepoints' names, from ``<tracefs>/events``."""
        out: dict[str, list[str]] = {}
        for d in sorted((self.tracefs / "events").iterdir()):
            if d.is_dir():
                out[d.name] = sorted(e.name for e in d.iterdir() if (e / "id").exists())
        return out

    def tracepoint_id(self, subsystem: str, name: str) -> int:
        """The id of tracepoint ``subsystem:name`` (its attr's config)."""
        for part in (subsystem, name):
            if not part or "/" in part or part in (".", ".."):
                raise ValueError(f"bad tracepoint name {subsystem}:{name!r}")
        events = self.tracefs / "events"
        f = events / subsystem / name / "id"
        try:
            return int(_read(f))
        except FileNotFoundError:
            if not (events / subsystem).is_dir():
                subs = [d.name for d in events.iterdir() if d.is_dir()]
                raise ValueError(
                    f"unknown tracepoint subsystem {subsystem!r} in '{subsystem}:{name}'"
                    + _suggest(subsystem, subs)
                ) from None
            names = [d.name for d in (events / subsystem).iterdir() if d.is_dir()]
            raise ValueError(
                f"unknown tracepoint '{subsystem}:{name}'" + _suggest(name, names)
            ) from None
        except PermissionError as err:
            raise PermissionError(err.errno, f"cannot read tracepoint id: {err}") from err

    def tracepoints_matching(self, subsystem: str, name: str) -> list[tuple[str, str]]:
        """Every ``(subsystem, name)`` whose two parts match the shell patterns given."""
        out: list[tuple[str, str]] = []
        for sub, names in self.tracepoint_subsystems().items():
            if fnmatch.fnmatchcase(sub, subsystem):
                out.extend((sub, n) for n in names if fnmatch.fnmatchcase(n, name))
        return out

    def _has_subsystem(self, name: str) -> bool:
        try:
            return (self.tracefs / "events" / name).is_dir()
        except TracefsNotMounted:
            return False

    # -- generic names -----------------------------------------------------

    @cached_property
    def _generic(self) -> dict[str, GenericEvent]:
        out: dict[str, GenericEvent] = {}
        for ev in cache_events():
            for n in ev.names:
                out.setdefault(n.lower(), ev)
        for ev in generic_events():  # generic names win over cache spellings ("branches")
            for n in ev.names:
                out[n.lower()] = ev
        return out

    def generic(self, name: str) -> GenericEvent | None:
        return self._generic.get(name.lower())

    def _is_name(self, name: str) -> bool:
        """Whether ``name`` alone names an event (generic, raw or a PMU's alias)."""
        return (
            self.generic(name) is not None
            or bool(_RAW.match(name))
            or any(p.alias(name) for p in self.pmus.values())
        )

    # -- parsing -----------------------------------------------------------

    def parse(self, text: str) -> EventSpec:
        """Parse one event (no groups; a wildcard must match exactly one tracepoint)."""
        groups = self.parse_list(text)
        if len(groups) != 1 or groups[0].braced or len(groups[0].events) != 1:
            n = sum(len(g.events) for g in groups)
            raise EventSyntaxError(
                f"one event expected, found {n} (event lists and groups: parse_list)", text, 0
            )
        return groups[0].events[0]

    def parse_list(self, text: str) -> list[EventGroup]:
        """Parse a comma-separated event list with ``{...}`` groups (and group modifiers)."""
        return _Parser(self, text).events()


def _suggest(name: str, choices: Any) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ---------------------------------------------------------------------------
# the grammar
# ---------------------------------------------------------------------------

# Terms every event takes (perf's "config terms"), beside a PMU's format terms.
CONFIG_TERMS: tuple[str, ...] = (
    "config", "config1", "config2", "config3", "config4", "name", "period", "sample_period",
    "freq", "sample_freq", "time", "call-graph", "stack-size", "max-stack", "inherit",
    "no-inherit", "overwrite", "no-overwrite", "aux-output", "aux-sample-size", "percore",
    "metric-id",
)
_STRING_TERMS = frozenset({"name", "call-graph", "metric-id"})
_PROBE_KINDS = ("uprobe", "uretprobe", "kprobe", "kretprobe")


@dataclass
class _Term:
    key: str
    value: str | None  # None: written bare
    pos: int
    number_token: bool = False  # the value was a number, not a name or string


class _Parser:
    """Recursive descent over :class:`Lexer` tokens; one method per production::

        events    := item (',' item)*
        item      := [NAME] '{' event (',' event)* '}' [':' MODS]  |  event
        event     := NUMBER ':' NUMBER [terms] [mods]                 numeric type:config
                   | 'mem' ':' NUMBER ['/' NUMBER] [':' ACCESS] [terms] [mods]
                   | PROBE ':' RAW                                    uprobe:PATH:WHERE ...
                   | NAME '/' [term (',' term)*] '/' [[':'] MODS]     PMU event
                   | NAME ':' NAME [terms] [mods]                     tracepoint (globs too)
                   | NAME [terms] [mods]                              generic, cache, raw, alias
        terms     := '/' [term (',' term)*] '/'
        term      := NAME ['=' (NUMBER | NAME | STRING)]
        mods      := ':' MODS
    """

    def __init__(self, catalog: EventCatalog, text: str) -> None:
        self.cat = catalog
        self.text = text
        self.lex = Lexer(text)
        self.modified: set[int] = set()  # ids of the specs that took modifiers of their own

    def fail(self, reason: str, pos: int) -> EventSyntaxError:
        return EventSyntaxError(reason, self.text, pos)

    def guard(self, pos: int, fn: Any, *args: Any) -> Any:
        """Call ``fn``; a ValueError it raises becomes an EventSyntaxError at ``pos``."""
        try:
            return fn(*args)
        except EventSyntaxError:
            raise
        except TracefsNotMounted:
            raise
        except ValueError as err:
            raise self.fail(str(err), pos) from None

    # events := item (',' item)*
    def events(self) -> list[EventGroup]:
        if not self.text.strip():
            raise self.fail("empty event list", 0)
        groups: list[EventGroup] = []
        while True:
            groups.extend(self.item())
            tok = self.lex.peek()
            if tok.kind == "end":
                return groups
            if tok.kind != ",":
                raise self.fail(f"unexpected {tok.text!r} after an event", tok.pos)
            self.lex.next()
            if self.lex.peek().kind in ("end", ","):
                raise self.fail("empty event in the list", self.lex.peek().pos)

    # item := [NAME] '{' event (',' event)* '}' [':' MODS] | event
    def item(self) -> list[EventGroup]:
        tok = self.lex.peek()
        name = None
        if tok.kind == "name":
            save = self.lex.pos
            self.lex.next()
            if self.lex.peek().kind == "{":
                name = tok.text
            else:
                self.lex.pos = save
        if self.lex.peek().kind == "{":
            return [self.group(name)]
        if tok.kind == "}":
            raise self.fail("'}' without its '{'", tok.pos)
        return [EventGroup([spec]) for spec in self.event()]

    def group(self, name: str | None) -> EventGroup:
        open_tok = self.lex.next()
        members: list[EventSpec] = []
        if self.lex.peek().kind == "}":
            raise self.fail("empty group", open_tok.pos)
        while True:
            tok = self.lex.peek()
            if tok.kind == "{":
                raise self.fail("groups do not nest", tok.pos)
            if tok.kind == "end":
                raise self.fail("'{' without its '}'", open_tok.pos)
            members.extend(self.event())
            tok = self.lex.next()
            if tok.kind == "}":
                break
            if tok.kind != ",":
                if tok.kind == "end":
                    raise self.fail("'{' without its '}'", open_tok.pos)
                raise self.fail(f"expected ',' or '}}', found {tok.text!r}", tok.pos)
        for spec in members[1:]:
            for letter, field_name in (("D", "pinned"), ("e", "exclusive")):
                if spec.fields.get(field_name):
                    raise self.fail(
                        f"{spec.name!r} is {field_name} (:{letter}) but not its group's "
                        "leader: only a leader can be", open_tok.pos)
        if self.lex.accept(":"):
            mods = self.lex.expect("name", "modifiers after ':'")
            for i, spec in enumerate(members):
                self.guard(mods.pos, apply_modifiers, spec, mods.text, True, i == 0)
                if id(spec) not in self.modified:  # perf's names: own modifiers win
                    spec.name = f"{spec.name}:{mods.text}"
        return EventGroup(members, braced=True, name=name)

    # event := ... (see the class docstring); a tracepoint wildcard gives several
    def event(self) -> list[EventSpec]:
        start = self.lex.peek()
        if start.kind == "number":
            specs = [self.numeric()]
        elif start.kind == "name":
            specs = self.named()
        else:
            shown = repr(start.text) if start.kind != "end" else "the end"
            raise self.fail(f"expected an event, found {shown}", start.pos)
        return specs

    def modifiers(self, specs: list[EventSpec], after_slash: bool = False) -> None:
        """[':' MODS] (after a PMU's closing slash the colon is optional)."""
        if self.lex.accept(":") is None:
            tok = self.lex.peek()
            if not (after_slash and tok.kind == "name"):
                return
        tok = self.lex.expect("name", "modifiers")
        for spec in specs:
            self.guard(tok.pos, apply_modifiers, spec, tok.text, False)
            self.modified.add(id(spec))

    def finish(self, specs: list[EventSpec], start: int) -> list[EventSpec]:
        """Name the events by their text (unless a name= term did) and take modifiers."""
        self.modifiers(specs)
        written = self.text[start:self.lex.pos].strip()
        for spec in specs:
            spec.text = written
            if spec.name == "":
                spec.name = written
        return specs

    # NUMBER ':' NUMBER [terms] [mods]
    def numeric(self) -> EventSpec:
        tok = self.lex.next()
        type_ = self.guard(tok.pos, _number, tok.text, "event type")
        if type_ >> 32:
            raise self.fail(f"event type {tok.text} does not fit 32 bits", tok.pos)
        self.lex.expect(":", "':' between an event's type and config")
        ctok = self.lex.expect("number", "a config number")
        spec = EventSpec("", "", type_, self.guard(ctok.pos, _number, ctok.text, "config"))
        self.config_terms(spec, self.terms())
        return self.finish([spec], tok.pos)[0]

    def named(self) -> list[EventSpec]:
        tok = self.lex.next()
        name = tok.text
        nxt = self.lex.peek()
        if nxt.kind == "/":
            return [self.pmu_event(tok)]
        if nxt.kind == ":" and name == "mem":
            return [self.breakpoint(tok)]
        if nxt.kind == ":" and name in _PROBE_KINDS:
            return [self.probe(tok)]
        if nxt.kind == ":":
            # cycles:u (modifiers) or sched:sched_switch (a tracepoint)
            save = self.lex.pos
            self.lex.next()
            after = self.lex.peek()
            if after.kind == "name" and self.cat._is_name(name) and (
                _check_modifiers(after.text) is None or not self.cat._has_subsystem(name)
            ):
                self.lex.pos = save
                return self.finish([self.symbol(tok)], tok.pos)
            if after.kind != "name":
                raise self.fail("expected a tracepoint name or modifiers after ':'", after.pos)
            self.lex.next()
            return self.tracepoint(tok, after)
        spec = self.symbol(tok)
        self.config_terms(spec, self.terms())
        return self.finish([spec], tok.pos)

    # generic, cache, raw or a PMU alias, alone
    def symbol(self, tok: Token) -> EventSpec:
        name = tok.text
        ev = self.cat.generic(name)
        if ev is not None:
            return EventSpec("", "", ev.type, ev.config)
        m = _RAW.match(name)
        if m and not any(p.alias(name) for p in self.cat.pmus.values()):
            return EventSpec("", "", _TYPE_RAW,
                             self.guard(tok.pos, _number, "0x" + m.group(1), name))
        owners = [p for p in self.cat.pmus.values() if p.alias(name)]
        if len(owners) == 1:
            return self.pmu_terms(owners[0], [_Term(name, None, tok.pos)], tok.pos)
        if len(owners) > 1:
            raise self.fail(
                f"event {name!r} is ambiguous: PMUs "
                + ", ".join(p.name for p in owners)
                + f" all have it; write e.g. {owners[0].name}/{name}/", tok.pos)
        if _GLOB.search(name):
            raise self.fail(f"a wildcard names tracepoints only (SUBSYSTEM:NAME), not {name!r}",
                            tok.pos)
        known = list(self.cat._generic) + [a for p in self.cat.pmus.values() for a in p.aliases]
        raise self.fail(f"unknown event {name!r}{_suggest(name, known)}", tok.pos)

    # NAME ':' NAME [terms] [mods]
    def tracepoint(self, sub: Token, name: Token) -> list[EventSpec]:
        terms = self.terms()
        if _GLOB.search(sub.text) or _GLOB.search(name.text):
            found = self.cat.tracepoints_matching(sub.text, name.text)
            if not found:
                raise self.fail(f"no tracepoint matches '{sub.text}:{name.text}'", sub.pos)
        else:
            self.guard(sub.pos, self.cat.tracepoint_id, sub.text, name.text)
            found = [(sub.text, name.text)]
        specs = []
        for s, n in found:
            tid = self.guard(sub.pos, self.cat.tracepoint_id, s, n)
            spec = EventSpec("", f"{s}:{n}" if len(found) > 1 else "", _TYPE_TRACEPOINT, tid)
            spec.fields["sample_period"] = 1
            self.config_terms(spec, terms)
            specs.append(spec)
        self.modifiers(specs)
        written = self.text[sub.pos:self.lex.pos].strip()
        for spec in specs:
            spec.text = written
            if not spec.name:
                spec.name = written
            elif len(specs) > 1 and written.count(":") > 1:
                spec.name += written[written.rindex(":"):]
        return specs

    # '/' [term (',' term)*] '/'  (absent: no terms)
    def terms(self) -> list[_Term]:
        if self.lex.peek().kind != "/":
            return []
        open_tok = self.lex.next()
        out: list[_Term] = []
        if self.lex.accept("/"):
            return out
        while True:
            tok = self.lex.peek()
            if tok.kind == "end":
                raise self.fail("no closing '/' after the terms", open_tok.pos)
            if tok.kind in (",", "/"):
                raise self.fail("empty term", tok.pos)
            if tok.kind == "number" and out and out[-1].key == "call-graph":
                # call-graph=dwarf,SIZE: the size rides along as the next "term"
                self.lex.next()
                out[-1].value = f"{out[-1].value},{tok.text}"
            elif tok.kind != "name":
                raise self.fail(f"bad term {tok.text!r}: a term is NAME or NAME=VALUE",
                                tok.pos)
            else:
                self.lex.next()
                term = _Term(tok.text, None, tok.pos)
                if self.lex.accept("="):
                    v = self.lex.peek()
                    if v.kind not in ("name", "number", "string"):
                        raise self.fail(
                            f"term {tok.text!r} needs a value after '=' "
                            '(quote values that contain "/": path="/usr/bin/x")', v.pos)
                    self.lex.next()
                    term.value, term.number_token = v.value, v.kind == "number"
                out.append(term)
            tok = self.lex.peek()
            if tok.kind == "/":
                self.lex.next()
                return out
            if tok.kind == "end":
                raise self.fail("no closing '/' after the terms", open_tok.pos)
            if tok.kind == "=" and out:
                raise self.fail(f"term {out[-1].key!r}: one '=' per term "
                                '(quote values that contain "/": path="/usr/bin/x")', tok.pos)
            if tok.kind != ",":
                raise self.fail(f"expected ',' or '/' after a term, found {tok.text!r} "
                                '(quote values that contain "/": path="/usr/bin/x")', tok.pos)
            self.lex.next()

    # -- config terms, shared by every kind of event -------------------------

    def config_terms(self, spec: EventSpec, terms: list[_Term]) -> None:
        for t in terms:
            if not self.config_term(spec, t):
                raise self.fail(
                    f"unknown term {t.key!r}{_suggest(t.key, CONFIG_TERMS)} "
                    f"(valid: {', '.join(CONFIG_TERMS)})", t.pos)

    def term_number(self, t: _Term) -> int:
        if t.value is None:
            return 1  # a bare term means 1, as in perf
        return self.guard(t.pos, _number, t.value, f"term {t.key!r}")  # type: ignore[no-any-return]

    def config_term(self, spec: EventSpec, t: _Term) -> bool:
        """Apply one of perf's config terms; False if ``t`` is none of them."""
        c = _constants()
        key = t.key
        if key not in CONFIG_TERMS:
            m = _RAW.match(key)
            if m and t.value is None:  # cpu/r1a/: the raw config
                spec.config = self.guard(t.pos, _number, "0x" + m.group(1), key)
                return True
            return False
        if key in _STRING_TERMS and not t.value:
            raise self.fail(f"term {key!r} needs a value", t.pos)
        f = spec.fields
        if key == "name":
            spec.name = t.value or ""
        elif key == "metric-id":
            spec.metric_id = t.value
        elif key == "call-graph":
            self.call_graph(spec, t)
        elif key in CONFIG_FIELDS:
            setattr(spec, key, self.term_number(t))
        elif key in ("period", "sample_period", "freq", "sample_freq"):
            freq = int("freq" in key)
            f["sample_freq" if freq else "sample_period"] = self.term_number(t)
            f["freq"] = freq
        elif key == "time":
            if self.term_number(t):
                spec.sample_set |= c.PERF_SAMPLE_TIME
                spec.sample_clear &= ~c.PERF_SAMPLE_TIME
            else:
                spec.sample_clear |= c.PERF_SAMPLE_TIME
                spec.sample_set &= ~c.PERF_SAMPLE_TIME
        elif key == "stack-size":
            size = self.term_number(t)
            f["sample_stack_user"] = (size + 7) & ~7
            if size >> 32 or f["sample_stack_user"] >> 32:
                raise self.fail(f"stack-size {size} does not fit 32 bits", t.pos)
        elif key == "max-stack":
            f["sample_max_stack"] = self.term_number(t)
            if f["sample_max_stack"] >> 16:
                raise self.fail("max-stack does not fit 16 bits", t.pos)
        elif key in ("inherit", "overwrite", "aux-output"):
            target = {"inherit": "inherit", "overwrite": "write_backward",
                      "aux-output": "aux_output"}[key]
            f[target] = int(bool(self.term_number(t)))
        elif key in ("no-inherit", "no-overwrite"):
            f["inherit" if key == "no-inherit" else "write_backward"] = \
                0 if self.term_number(t) else 1
        elif key == "aux-sample-size":
            f["aux_sample_size"] = self.term_number(t)
            if f["aux_sample_size"] >> 32:
                raise self.fail("aux-sample-size does not fit 32 bits", t.pos)
            spec.sample_set |= c.PERF_SAMPLE_AUX
        elif key == "percore":
            spec.percore = bool(self.term_number(t))
        return True

    def call_graph(self, spec: EventSpec, t: _Term) -> None:
        c = _constants()
        mode, _, size_s = (t.value or "").partition(",")
        chain = (c.PERF_SAMPLE_CALLCHAIN | c.PERF_SAMPLE_REGS_USER | c.PERF_SAMPLE_STACK_USER
                 | c.PERF_SAMPLE_BRANCH_STACK)
        spec.sample_set &= ~chain
        f = spec.fields
        for k in ("sample_regs_user", "exclude_callchain_user", "branch_sample_type"):
            f.pop(k, None)
        if size_s and mode != "dwarf":
            raise self.fail(f"call-graph={mode} takes no size (only dwarf,SIZE)", t.pos)
        if mode == "no":
            spec.sample_clear |= chain
            return
        spec.sample_clear &= ~chain
        if mode == "fp":
            spec.sample_set |= c.PERF_SAMPLE_CALLCHAIN
        elif mode == "dwarf":
            regs = _DWARF_USER_REGS.get(platform.machine())
            if regs is None:
                raise self.fail(
                    f"call-graph=dwarf: no user register set known for {platform.machine()}",
                    t.pos)
            size = _number(size_s, "call-graph=dwarf size") if size_s else \
                f.get("sample_stack_user", _DWARF_STACK_DEFAULT)
            spec.sample_set |= (c.PERF_SAMPLE_CALLCHAIN | c.PERF_SAMPLE_REGS_USER
                                | c.PERF_SAMPLE_STACK_USER)
            f["sample_regs_user"] = regs
            f["sample_stack_user"] = (size + 7) & ~7
            f["exclude_callchain_user"] = 1
        elif mode == "lbr":
            spec.sample_set |= c.PERF_SAMPLE_CALLCHAIN | c.PERF_SAMPLE_BRANCH_STACK
            f["branch_sample_type"] = (
                c.PERF_SAMPLE_BRANCH_USER | c.PERF_SAMPLE_BRANCH_CALL_STACK
                | c.PERF_SAMPLE_BRANCH_NO_CYCLES | c.PERF_SAMPLE_BRANCH_NO_FLAGS
                | c.PERF_SAMPLE_BRANCH_HW_INDEX
            )
        else:
            raise self.fail(f"call-graph={mode!r}: one of fp, dwarf[,SIZE], lbr, no", t.pos)

    # -- PMU events ----------------------------------------------------------

    # NAME '/' terms '/' [[':'] MODS]
    def pmu_event(self, tok: Token) -> EventSpec:
        name = tok.text
        terms = self.terms()
        if name in self.cat.pmus:
            spec = self.pmu_terms(self.cat.pmus[name], terms, tok.pos)
        elif self.cat.generic(name) is not None or _RAW.match(name):
            spec = self.symbol(tok)  # cycles/period=1000/: a symbol with config terms
            self.config_terms(spec, terms)
        else:
            self.guard(tok.pos, self.cat.pmu, name)  # raises: unknown PMU
            raise AssertionError
        self.modifiers([spec], after_slash=True)
        written = self.text[tok.pos:self.lex.pos].strip()
        spec.text = written
        if not spec.name:
            spec.name = written
        return spec

    def pmu_terms(self, pmu: PMU, terms: list[_Term], pos: int) -> EventSpec:
        spec = EventSpec("", "", pmu.type, pmu=pmu.name, cpus=pmu.cpus)
        pending: dict[str, int] = {}  # alias terms written "term=?": the user must give them
        expanded: list[_Term] = []
        for t in terms:
            alias = pmu.alias(t.key)
            if alias is not None and t.value is None and t.key not in pmu.formats:
                for a in self.alias_terms(pmu, alias, t.pos):
                    if a.value == "?":
                        pending[a.key] = t.pos
                    else:
                        expanded.append(a)
                spec.scale, spec.unit = alias.scale, alias.unit
            else:
                expanded.append(t)
        probe: dict[str, tuple[str, int]] = {}
        for t in expanded:
            pending.pop(t.key, None)
            fmt = pmu.formats.get(t.key)
            if fmt is not None:
                value = self.format_value(pmu, t)
                setattr(spec, fmt.config,
                        self.guard(t.pos, fmt.insert, getattr(spec, fmt.config), value))
                continue
            if self.config_term(spec, t):
                continue
            ev = self.cat.generic(t.key) if t.value is None else None
            if ev is not None and ev.type in (_TYPE_HARDWARE, _TYPE_HW_CACHE):
                # cpu_core/cycles/: a generic event on one PMU of a hybrid machine; the
                # kernel reads the PMU's type from config's upper half ("extended type")
                spec.type = ev.type
                spec.config = ev.config | pmu.type << _constants().PERF_PMU_TYPE_SHIFT
                continue
            probe_keys = {"uprobe": ("path", "offset", "func", "symbol"),
                          "kprobe": ("func", "symbol", "offset", "addr")}.get(pmu.name, ())
            if t.key in probe_keys:
                if not t.value:
                    raise self.fail(
                        f"term {t.key!r} needs a value"
                        + (' (quote values that contain "/": path="/usr/bin/x")'
                           if pmu.name == "uprobe" else ""), t.pos)
                probe["func" if t.key == "symbol" else t.key] = (t.value, t.pos)
                continue
            valid = sorted({*pmu.formats, *pmu.aliases, *CONFIG_TERMS})
            raise self.fail(
                f"unknown term {t.key!r} for PMU {pmu.name!r}" + _suggest(t.key, valid)
                + f" (valid: {', '.join(valid)})", t.pos)
        if pending:
            first = sorted(pending)[0]
            raise self.fail(
                f"the alias needs a value for {', '.join(sorted(pending))} "
                f"(e.g. {pmu.name}/...,{first}=1/)", pending[first])
        if probe:
            self.probe_terms(spec, pmu, probe, pos)
        return spec

    def alias_terms(self, pmu: PMU, alias: EventAlias, pos: int) -> list[_Term]:
        out = []
        for part in alias.terms.split(","):
            key, eq, value = part.strip().partition("=")
            if not key.strip():
                continue
            out.append(_Term(key.strip(), value.strip() if eq else None, pos,
                             bool(eq) and value.strip()[:1].isdigit()))
        return out

    def format_value(self, pmu: PMU, t: _Term) -> int:
        """A format term's value: a number, bare (1), or an alias of the PMU that sets the
        same term (``msr/event=tsc/``)."""
        if t.value is None:
            return 1
        chosen = None if t.number_token else pmu.alias(t.value)
        if chosen is not None:
            for a in self.alias_terms(pmu, chosen, t.pos):
                if a.key == t.key and a.value not in (None, "?"):
                    return self.term_number(a)
            raise self.fail(
                f"alias {t.value!r} of PMU {pmu.name!r} sets no value for {t.key!r} "
                f"(it is {chosen.terms!r})", t.pos)
        if t.value == "?":
            raise self.fail(f"term {t.key!r}: '?' belongs in alias files, give a number",
                            t.pos)
        return self.term_number(t)

    def probe_terms(self, spec: EventSpec, pmu: PMU, probe: dict[str, tuple[str, int]],
                    pos: int) -> None:
        where = probe.get("offset")
        if pmu.name == "uprobe":
            path = probe.get("path")
            loc = probe.get("func") or where
            if path is None or loc is None:
                raise self.fail("a uprobe needs path= and offset= (or func=)", pos)
            self.guard(loc[1], self.set_uprobe, spec, path[0], loc[0])
            return
        offset = self.guard(where[1], _number, where[0], "term 'offset'") if where else 0
        if "func" in probe:
            spec.strings["kprobe_func"] = probe["func"][0].encode()
            spec.fields["probe_offset"] = offset
        elif "addr" in probe:
            addr = self.guard(probe["addr"][1], _number, probe["addr"][0], "term 'addr'")
            spec.fields["kprobe_addr"] = addr + offset
        else:
            raise self.fail("offset= needs func= or addr=", pos)

    # -- breakpoints ------------------------------------------------------------

    # 'mem' ':' NUMBER ['/' NUMBER] [':' ACCESS] [terms] [mods]
    def breakpoint(self, tok: Token) -> EventSpec:
        c = _constants()
        self.lex.next()  # ':'
        atok = self.lex.peek()
        if atok.kind != "number":
            if atok.kind == "name":
                raise self.fail(f"breakpoint address: {atok.text!r} is not a number",
                                atok.pos)
            raise self.fail("cannot parse breakpoint: mem:ADDR[/LEN][:rwx][:mods]", atok.pos)
        self.lex.next()
        addr = self.guard(atok.pos, _number, atok.text, "breakpoint address")
        length: int | None = None
        # '/' then a digit is the length; '/' then anything else opens the terms
        if self.lex.peek().kind == "/" and self.text[self.lex.peek().pos + 1:][:1].isdigit():
            self.lex.next()
            ltok = self.lex.expect("number", "a breakpoint length")
            length = self.guard(ltok.pos, _number, ltok.text, "breakpoint length")
            if length not in (1, 2, 4, 8):
                raise self.fail(f"breakpoint length {length} is not 1, 2, 4 or 8", ltok.pos)
        access = ""
        save = self.lex.pos
        if self.lex.accept(":"):
            acc = self.lex.peek()
            if acc.kind == "name" and set(acc.text) <= set("rwx"):
                self.lex.next()
                access = acc.text
                if len(set(access)) != len(access):
                    raise self.fail(f"repeated access letter in {access!r}", acc.pos)
                if "x" in access and access != "x":
                    raise self.fail("breakpoint access 'x' cannot be combined with 'r' or 'w'",
                                    acc.pos)
            else:
                self.lex.pos = save  # modifiers, not an access
        bp_type = 0
        for ch in access or "rw":
            bp_type |= {"r": c.HW_BREAKPOINT_R, "w": c.HW_BREAKPOINT_W,
                        "x": c.HW_BREAKPOINT_X}[ch]
        if length is None:
            length = ctypes.sizeof(ctypes.c_long) if access == "x" else c.HW_BREAKPOINT_LEN_4
        spec = EventSpec("", "", _TYPE_BREAKPOINT)
        spec.fields.update(bp_type=bp_type, bp_addr=addr, bp_len=length, sample_period=1)
        self.config_terms(spec, self.terms())
        return self.finish([spec], tok.pos)[0]

    # -- probes ------------------------------------------------------------------

    # PROBE ':' RAW: uprobe:PATH:SYMBOL[+OFF], uprobe:PATH:OFFSET, kprobe:FUNC[+OFF]
    def probe(self, tok: Token) -> EventSpec:
        kind = tok.text
        self.lex.next()  # ':'
        body, at = self.lex.raw_until(",}")
        body = body.rstrip()
        mods = ""
        head, sep, last = body.rpartition(":")
        if sep and last and _check_modifiers(last) is None and (
            kind.startswith("k") or ":" in head
        ):
            body, mods = head, last
        retprobe = kind.endswith("retprobe")
        pmu = self.guard(tok.pos, self.cat.pmu, "uprobe" if kind.startswith("u") else "kprobe")
        spec = EventSpec("", "", pmu.type, pmu=pmu.name)
        if kind.startswith("u"):
            path, sep, where = body.rpartition(":")
            if not sep or not path or not where:
                raise self.fail(
                    f"cannot parse {kind}:{body} ({kind}:PATH:SYMBOL[+OFF] or "
                    f"{kind}:PATH:OFFSET)", at)
            self.guard(at, self.set_uprobe, spec, path, where)
        else:
            func, plus, off = body.partition("+")
            if not func:
                raise self.fail(f"cannot parse {kind}:{body} ({kind}:FUNCTION[+OFFSET])", at)
            spec.strings["kprobe_func"] = func.encode()
            spec.fields["probe_offset"] = (
                self.guard(at, _number, off, "kprobe offset") if plus else 0)
        if retprobe:
            self.guard(tok.pos, _set_retprobe, spec, pmu)
        if mods:
            self.guard(at + len(body) + 1, apply_modifiers, spec, mods, False)
            self.modified.add(id(spec))
        spec.text = spec.name = self.text[tok.pos:self.lex.pos].strip()
        return spec

    @staticmethod
    def set_uprobe(spec: EventSpec, path: str, where: str) -> None:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", where):
            offset = _number(where, "uprobe offset")
        else:
            sym, plus, off = where.partition("+")
            extra = _number(off, "uprobe offset") if plus else 0
            offset = elf_symbol_offset(path, sym) + extra
        spec.strings["uprobe_path"] = os.fsencode(path)
        spec.fields["probe_offset"] = offset


def _set_retprobe(spec: EventSpec, pmu: PMU) -> None:
    fmt = pmu.formats.get("retprobe")
    if fmt is None:
        raise ValueError(f"PMU {pmu.name!r} has no 'retprobe' format: cannot make a return probe")
    setattr(spec, fmt.config, fmt.insert(getattr(spec, fmt.config), 1))


# ---------------------------------------------------------------------------
# ELF symbols, for uprobes placed by name
# ---------------------------------------------------------------------------


def elf_symbol_offset(path: str | os.PathLike[str], symbol: str) -> int:
    """The file offset of ``symbol`` in the ELF file at ``path`` (what a uprobe takes).

    Looks in ``.symtab`` and then ``.dynsym``, and converts the symbol's virtual address to
    a file offset through the program header of the loadable segment that holds it.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read {os.fspath(path)!r}: {err.strerror}") from err
    if data[:4] != b"\x7fELF" or len(data) < 64:
        raise ValueError(f"{os.fspath(path)!r} is not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"

    def unpack(fmt: str, off: int) -> tuple[int, ...]:
        size = struct.calcsize(end + fmt)
        if off < 0 or off + size > len(data):
            raise ValueError(f"{os.fspath(path)!r}: truncated ELF file")
        return struct.unpack_from(end + fmt, data, off)

    if is64:
        phoff, shoff = unpack("QQ", 32)
        phentsize, phnum, shentsize, shnum = unpack("HHHH", 54)
    else:
        phoff, shoff = unpack("II", 28)
        phentsize, phnum, shentsize, shnum = unpack("HHHH", 42)

    def section(i: int) -> tuple[int, int, int, int, int]:
        o = shoff + i * shentsize
        if is64:
            _n, stype, _f, _a, off, size, link, _i, _al, entsize = unpack("IIQQQQIIQQ", o)
        else:
            _n, stype, _f, _a, off, size, link, _i, _al, entsize = unpack("IIIIIIIIII", o)
        return stype, off, size, link, entsize

    want = symbol.encode()
    vaddr: int | None = None
    sections = [section(i) for i in range(shnum)]
    for stype_want in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
        for stype, off, size, link, entsize in sections:
            if stype != stype_want or not entsize or link >= len(sections):
                continue
            _t, stroff, strsize, _l, _e = sections[link]
            for k in range(size // entsize):
                o = off + k * entsize
                if is64:
                    name, _info, _other, shndx, value, _size = unpack("IBBHQQ", o)
                else:
                    name, value, _size, _info, _other, shndx = unpack("IIIBBH", o)
                if not value or shndx == 0 or name >= strsize:
                    continue
                s = stroff + name
                e = data.find(b"\0", s, stroff + strsize)
                if e >= 0 and data[s:e] == want:
                    vaddr = value
                    break
            if vaddr is not None:
                break
        if vaddr is not None:
            break
    if vaddr is None:
        raise ValueError(f"symbol {symbol!r} not found in {os.fspath(path)!r}")
    for i in range(phnum):
        o = phoff + i * phentsize
        if is64:
            ptype, _flags, poff, pvaddr, _pa, pfilesz = unpack("IIQQQQ", o)
        else:
            ptype, poff, pvaddr, _pa, pfilesz = unpack("IIIII", o)
        if ptype == 1 and pvaddr <= vaddr < pvaddr + pfilesz:  # PT_LOAD
            return vaddr - pvaddr + poff
    raise ValueError(f"symbol {symbol!r} in {os.fspath(path)!r} is in no loadable segment")


# ---------------------------------------------------------------------------
# module-level conveniences
# ---------------------------------------------------------------------------

_default: EventCatalog | None = None


def _catalog(sysfs: str | os.PathLike[str] | None) -> EventCatalog:
    global _default
    if sysfs is not None:
        return EventCatalog(sysfs)
    if _default is None:
        _default = EventCatalog()
    return _default


def parse_event(text: str, sysfs: str | os.PathLike[str] | None = None) -> EventSpec:
    """Parse one event name (``cycles:u``, ``msr/tsc/``, ``sched:sched_switch``, ...)."""
    return _catalog(sysfs).parse(text)


def parse_events(text: str, sysfs: str | os.PathLike[str] | None = None) -> list[EventGroup]:
    """Parse an event list: ``a,b,{c,d}:u``. Each item is a group (a lone event: of one)."""
    return _catalog(sysfs).parse_list(text)


def iter_specs(groups: Sequence[EventGroup]) -> Iterator[EventSpec]:
    for g in groups:
        yield from g.events
