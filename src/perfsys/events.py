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
    r1a8                                             raw PMU config (hex), PERF_TYPE_RAW
    sched:sched_switch                               tracepoint <subsystem>:<name>
    msr/tsc/  msr/event=0x0/  pmu/a=1,b,config1=3/   terms placed by the PMU's format files
    mem:0x1000[/8][:rw]                              hardware breakpoint (r, w, rw or x)
    uprobe:/bin/true:main  uretprobe:/bin/true:0x4f0 uprobe on a file's symbol or offset
    uprobe/path="/bin/true",offset=0x4f0,retprobe/   the same, in term syntax
    kprobe:do_sys_openat2[+4]  kretprobe:vfs_read    kprobes (need the ``kprobe`` PMU)

followed by optional modifiers, ``:u`` ``:k`` ``:h`` (count only user, kernel,
hypervisor), ``:I`` (exclude idle), ``:G`` ``:H`` (guest, host), ``:p``/``:pp``/``:ppp``
(precise_ip), ``:D`` (pinned), ``:e`` (exclusive). A PMU event takes them after its
closing slash, with or without a colon (``msr/tsc/u``). An event list separates events
with commas and groups them with braces: ``{cycles,instructions}:u,page-faults``.
"""

from __future__ import annotations

import ctypes
import difflib
import errno
import os
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
    "PMU",
    "EventAlias",
    "EventCatalog",
    "EventGroup",
    "EventSpec",
    "FormatField",
    "GenericEvent",
    "TracefsNotMounted",
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


# Terms that set the sampling period or frequency: the attr field each sets, and the
# value of attr.freq that goes with it.
_SAMPLING_TERMS = {
    "period": ("sample_period", 0),
    "sample_period": ("sample_period", 0),
    "freq": ("sample_freq", 1),
    "sample_freq": ("sample_freq", 1),
}


def _unquoted_slash(text: str, start: int) -> int:
    """The index of the first '/' at or after `start` that is not inside quotes (a term's
    value may be a quoted path), or len(text) if there is none."""
    quote = ""
    for j in range(start, len(text)):
        c = text[j]
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "/":
            return j
    return len(text)


class TracefsNotMounted(FileNotFoundError):
    """Neither ``/sys/kernel/tracing`` nor ``/sys/kernel/debug/tracing`` holds tracefs."""


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

_MODIFIERS = "ukhIGHpDe"


@dataclass
class EventSpec:
    """One parsed event: what goes into its ``perf_event_attr``, and how to show its count.

    ``fields`` holds the attr's other members by their kernel names (``exclude_user``,
    ``precise_ip``, ``bp_addr``, ``sample_period``, ...); ``strings`` holds the pointer
    members (``kprobe_func``, ``uprobe_path``) as bytes, which :meth:`attr` copies into
    buffers that live as long as the attr does.
    """

    text: str
    name: str
    type: int
    config: int = 0
    config1: int = 0
    config2: int = 0
    config3: int = 0
    config4: int = 0
    fields: dict[str, int] = field(default_factory=dict)
    strings: dict[str, bytes] = field(default_factory=dict)
    pmu: str | None = None
    scale: float = 1.0
    unit: str = ""
    cpus: tuple[int, ...] | None = None

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
        for name, value in {**self.fields, **extra}.items():
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
    """Events opened together: the first is the group leader (a lone event is a group of one)."""

    events: list[EventSpec]
    braced: bool = False

    @property
    def leader(self) -> EventSpec:
        return self.events[0]


# ---------------------------------------------------------------------------
# the catalog: sysfs + tracefs + generic names, and the parser
# ---------------------------------------------------------------------------

_PMU_START = re.compile(r"[A-Za-z0-9_.\-]+/")
_TERM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_RAW = re.compile(r"^r([0-9a-fA-F]+)$")


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


def _split_outside(text: str, sep: str) -> list[str]:
    """Split at ``sep`` where it is outside quotes, braces and PMU term sections."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    i = 0
    at_start = True
    n = len(text)
    while i < n:
        ch = text[i]
        if at_start:
            m = _PMU_START.match(text, i)
            if m:  # a "pmu/.../" section: copy through its closing slash
                j = _unquoted_slash(text, m.end())
                if j >= n:
                    raise ValueError(f"event {text[i:]!r}: no closing '/' after the terms")
                cur.append(text[i : j + 1])
                i = j + 1
                at_start = False
                continue
        if ch in "\"'":
            j = text.find(ch, i + 1)
            if j < 0:
                raise ValueError(f"unterminated quote in {text!r}")
            cur.append(text[i : j + 1])
            i = j + 1
            at_start = False
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced '}}' in {text!r}")
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
            at_start = True
        else:
            cur.append(ch)
            at_start = ch in "{,"
        i += 1
    if depth:
        raise ValueError(f"unbalanced '{{' in {text!r}")
    parts.append("".join(cur))
    return parts


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


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
                f"unknown PMU {name!r}: this kernel has no {self.devices_dir / name} "
                f"(PMUs here: {', '.join(self.pmus) or 'none'})"
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
                    + self._suggest(subsystem, subs)
                ) from None
            names = [d.name for d in (events / subsystem).iterdir() if d.is_dir()]
            raise ValueError(
                f"unknown tracepoint '{subsystem}:{name}'" + self._suggest(name, names)
            ) from None
        except PermissionError as err:
            raise PermissionError(err.errno, f"cannot read tracepoint id: {err}") from err

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

    # -- parsing -----------------------------------------------------------

    def parse(self, text: str) -> EventSpec:
        """Parse one event (no commas outside a PMU's terms, no braces)."""
        t = text.strip()
        if not t:
            raise ValueError("empty event name")
        if "{" in t or "}" in t:
            raise ValueError(f"{text!r}: groups belong in an event list (parse_events)")
        m = _PMU_START.match(t)
        if m:
            return self._parse_pmu_event(t, m.end() - 1)
        if t.startswith("mem:"):
            return self._parse_breakpoint(t)
        for prefix in ("uprobe:", "uretprobe:", "kprobe:", "kretprobe:"):
            if t.startswith(prefix):
                return self._parse_probe_shorthand(t, prefix[:-1])
        parts = t.split(":")
        if len(parts) > 3:
            raise ValueError(f"cannot parse event {text!r}")
        if len(parts) == 3:
            spec = self._tracepoint(t, parts[0], parts[1])
            self._apply_modifiers(spec, parts[2], t)
            return spec
        if len(parts) == 2:
            name, mods = parts
            if self._is_name(name) and (
                (mods and set(mods) <= set(_MODIFIERS)) or not self._has_subsystem(name)
            ):
                spec = self._named_event(t, name)
                self._apply_modifiers(spec, mods, t)
                return spec
            return self._tracepoint(t, name, mods)
        return self._named_event(t, t)

    def parse_list(self, text: str) -> list[EventGroup]:
        """Parse a comma-separated event list with ``{...}`` groups (and group modifiers)."""
        groups: list[EventGroup] = []
        for item in _split_outside(text, ","):
            item = item.strip()
            if not item:
                raise ValueError(f"empty event in list {text!r}")
            if item.startswith("{"):
                close = item.rfind("}")
                if close < 0:
                    raise ValueError(f"unbalanced '{{' in {item!r}")
                inner, rest = item[1:close], item[close + 1 :]
                mods = ""
                if rest:
                    if not rest.startswith(":"):
                        raise ValueError(f"unexpected {rest!r} after group {item!r}")
                    mods = rest[1:]
                    self._check_modifiers(mods, item)
                members = [self.parse(e) for e in _split_outside(inner, ",")]
                if mods:
                    for spec in members:
                        self._apply_modifiers(spec, mods, item)
                        spec.name = f"{spec.name}:{mods}" if ":" not in spec.name else spec.name
                groups.append(EventGroup(members, braced=True))
            else:
                groups.append(EventGroup([self.parse(item)]))
        return groups

    # -- pieces of the parser ----------------------------------------------

    @staticmethod
    def _suggest(name: str, choices: Any) -> str:
        close = difflib.get_close_matches(name, list(choices), n=1)
        return f" (did you mean {close[0]!r}?)" if close else ""

    def _is_name(self, name: str) -> bool:
        return (
            self.generic(name) is not None
            or bool(_RAW.match(name))
            or any(name in p.aliases for p in self.pmus.values())
        )

    def _named_event(self, text: str, name: str) -> EventSpec:
        ev = self.generic(name)
        if ev is not None:
            return EventSpec(text, text, ev.type, ev.config)
        m = _RAW.match(name)
        if m:
            return EventSpec(text, text, _TYPE_RAW, _number("0x" + m.group(1), name))
        owners = [p for p in self.pmus.values() if name in p.aliases]
        if len(owners) == 1:
            spec = self._pmu_terms(text, owners[0], name)
            spec.name = text
            return spec
        if len(owners) > 1:
            raise ValueError(
                f"event {name!r} is ambiguous: PMUs "
                + ", ".join(p.name for p in owners)
                + f" all have it; write e.g. {owners[0].name}/{name}/"
            )
        known = list(self._generic) + [a for p in self.pmus.values() for a in p.aliases]
        raise ValueError(f"unknown event {name!r}{self._suggest(name, known)}")

    def _tracepoint(self, text: str, subsystem: str, name: str) -> EventSpec:
        if not subsystem or not name:
            raise ValueError(f"cannot parse event {text!r}")
        tid = self.tracepoint_id(subsystem, name)
        return EventSpec(text, text, _TYPE_TRACEPOINT, tid, fields={"sample_period": 1})

    def _has_subsystem(self, name: str) -> bool:
        try:
            return (self.tracefs / "events" / name).is_dir()
        except TracefsNotMounted:
            return False

    def _check_modifiers(self, mods: str, text: str) -> None:
        if not mods:
            raise ValueError(f"empty modifier list in {text!r}")
        bad = [c for c in mods if c not in _MODIFIERS]
        if bad:
            raise ValueError(
                f"bad modifier {bad[0]!r} in {text!r} (modifiers: u k h I G H p pp ppp D e)"
            )
        if mods.count("p") > 3:
            raise ValueError(f"too many 'p' modifiers in {text!r} (precise_ip is at most 3)")

    def _apply_modifiers(self, spec: EventSpec, mods: str, text: str) -> None:
        self._check_modifiers(mods, text)
        f = spec.fields
        levels = {c for c in mods if c in "ukh"}
        if levels:
            f["exclude_user"] = int("u" not in levels)
            f["exclude_kernel"] = int("k" not in levels)
            f["exclude_hv"] = int("h" not in levels)
        if "I" in mods:
            f["exclude_idle"] = 1
        if "G" in mods and "H" not in mods:
            f["exclude_host"] = 1
        if "H" in mods and "G" not in mods:
            f["exclude_guest"] = 1
        if "p" in mods:
            f["precise_ip"] = mods.count("p")
        if "D" in mods:
            f["pinned"] = 1
        if "e" in mods:
            f["exclusive"] = 1

    def _parse_breakpoint(self, text: str) -> EventSpec:
        c = _constants()
        parts = text[len("mem:") :].split(":")
        loc = parts[0]
        access = ""
        mods = ""
        rest = parts[1:]
        if rest and rest[0] and set(rest[0]) <= set("rwx"):
            access = rest.pop(0)
        if rest:
            mods = rest.pop(0)
        if rest or not loc:
            raise ValueError(f"cannot parse breakpoint {text!r} (mem:ADDR[/LEN][:rwx][:mods])")
        addr_s, slash, len_s = loc.partition("/")
        addr = _number(addr_s, f"breakpoint address in {text!r}")
        bp_type = 0
        for ch in access or "rw":
            bp_type |= {"r": c.HW_BREAKPOINT_R, "w": c.HW_BREAKPOINT_W, "x": c.HW_BREAKPOINT_X}[ch]
        if len(set(access)) != len(access):
            raise ValueError(f"repeated access letter in {text!r}")
        if "x" in access and access != "x":
            raise ValueError(f"breakpoint {text!r}: 'x' cannot be combined with 'r' or 'w'")
        if slash:
            length = _number(len_s, f"breakpoint length in {text!r}")
        else:
            length = ctypes.sizeof(ctypes.c_long) if access == "x" else c.HW_BREAKPOINT_LEN_4
        if length not in (1, 2, 4, 8):
            raise ValueError(f"breakpoint {text!r}: length {length} is not 1, 2, 4 or 8")
        spec = EventSpec(
            text, text, _TYPE_BREAKPOINT,
            fields={"bp_type": bp_type, "bp_addr": addr, "bp_len": length, "sample_period": 1},
        )
        if mods:
            self._apply_modifiers(spec, mods, text)
        return spec

    def _parse_probe_shorthand(self, text: str, kind: str) -> EventSpec:
        body = text[len(kind) + 1 :]
        mods = ""
        head, sep, last = body.rpartition(":")
        if sep and last and set(last) <= set(_MODIFIERS) and (kind.startswith("k") or ":" in head):
            body, mods = head, last
        retprobe = kind.endswith("retprobe")
        if kind.startswith("u"):
            path, sep, where = body.rpartition(":")
            if not sep or not path or not where:
                raise ValueError(
                    f"cannot parse {text!r} ({kind}:PATH:SYMBOL[+OFF] or {kind}:PATH:OFFSET)"
                )
            spec = self._uprobe(text, self.pmu("uprobe"), path, where, retprobe)
        else:
            func, plus, off = body.partition("+")
            if not func:
                raise ValueError(f"cannot parse {text!r} ({kind}:FUNCTION[+OFFSET])")
            offset = _number(off, f"offset in {text!r}") if plus else 0
            spec = self._kprobe(text, self.pmu("kprobe"), func, offset, retprobe)
        if mods:
            self._apply_modifiers(spec, mods, text)
        return spec

    def _set_retprobe(self, spec: EventSpec, pmu: PMU) -> None:
        fmt = pmu.formats.get("retprobe")
        if fmt is None:
            raise ValueError(
                f"PMU {pmu.name!r} has no 'retprobe' format: cannot make a return probe"
            )
        setattr(spec, fmt.config, fmt.insert(getattr(spec, fmt.config), 1))

    def _uprobe(self, text: str, pmu: PMU, path: str, where: str, retprobe: bool) -> EventSpec:
        if re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", where):
            offset = _number(where, f"uprobe offset in {text!r}")
        else:
            sym, plus, off = where.partition("+")
            extra = _number(off, f"offset in {text!r}") if plus else 0
            offset = elf_symbol_offset(path, sym) + extra
        spec = EventSpec(text, text, pmu.type, pmu=pmu.name)
        spec.strings["uprobe_path"] = os.fsencode(path)
        spec.fields["probe_offset"] = offset
        if retprobe:
            self._set_retprobe(spec, pmu)
        return spec

    def _kprobe(self, text: str, pmu: PMU, func: str, offset: int, retprobe: bool) -> EventSpec:
        spec = EventSpec(text, text, pmu.type, pmu=pmu.name)
        spec.strings["kprobe_func"] = func.encode()
        spec.fields["probe_offset"] = offset
        if retprobe:
            self._set_retprobe(spec, pmu)
        return spec

    def _parse_pmu_event(self, text: str, slash: int) -> EventSpec:
        name = text[:slash]
        rest = text[slash + 1 :]
        j = _unquoted_slash(rest, 0)
        if j >= len(rest):
            raise ValueError(f"event {text!r}: no closing '/' after the terms")
        terms, mods = rest[:j], rest[j + 1 :]
        if mods.startswith(":"):
            mods = mods[1:]
        if name in self.pmus:
            spec = self._pmu_terms(text, self.pmus[name], terms)
        elif self.generic(name) is not None or _RAW.match(name):
            spec = self._named_event(text, name)
            self._special_terms(spec, terms, text, allowed=None)
        else:
            self.pmu(name)  # raises: unknown PMU
            raise AssertionError
        spec.text = text
        if spec.name == name or spec.name == terms:
            spec.name = text
        if mods:
            self._apply_modifiers(spec, mods, text)
        return spec

    @staticmethod
    def _split_terms(terms: str, text: str) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        if not terms.strip():
            return out
        for raw in _split_outside(terms, ","):
            raw = raw.strip()
            if not raw:
                raise ValueError(f"empty term in {text!r}")
            key, eq, value = raw.partition("=")
            key = key.strip()
            if not _TERM_KEY.match(key):
                raise ValueError(f"bad term {raw!r} in {text!r}")
            out.append((key, _unquote(value.strip()) if eq else None))
        return out

    _SPECIAL = ("config", "config1", "config2", "config3", "config4", "period", "freq", "name")

    def _special_terms(self, spec: EventSpec, terms: str, text: str,
                       allowed: Sequence[str] | None) -> None:
        for key, value in self._split_terms(terms, text):
            if not self._special_term(spec, key, value, text):
                raise ValueError(
                    f"unknown term {key!r} in {text!r} (valid: {', '.join(self._SPECIAL)})"
                )

    def _special_term(self, spec: EventSpec, key: str, value: str | None, text: str) -> bool:
        if key == "name":
            if not value:
                raise ValueError(f"term 'name' needs a value in {text!r}")
            spec.name = value
            return True
        if key not in CONFIG_FIELDS and key not in _SAMPLING_TERMS:
            return False
        if value is None:
            raise ValueError(f"term {key!r} needs a value in {text!r}")
        number = _number(value, f"term {key!r} in {text!r}")
        if key in CONFIG_FIELDS:
            setattr(spec, key, number)
        else:
            field, freq = _SAMPLING_TERMS[key]
            spec.fields[field] = number
            spec.fields["freq"] = freq
        return True

    def _pmu_terms(self, text: str, pmu: PMU, terms: str) -> EventSpec:
        spec = EventSpec(text, text, pmu.type, pmu=pmu.name, cpus=pmu.cpus)
        pending: set[str] = set()  # alias terms written "term=?": the user must give them
        probe_path: str | None = None
        probe_func: str | None = None
        probe_where: str | None = None
        probe_addr: int | None = None
        user_terms = self._split_terms(terms, text)
        expanded: list[tuple[str, str | None, bool]] = []
        for key, value in user_terms:
            alias = pmu.aliases.get(key)
            if alias is not None and value is None and key not in pmu.formats:
                for akey, avalue in self._split_terms(alias.terms, f"{pmu.name}/{alias.name}/"):
                    if avalue == "?":
                        pending.add(akey)
                    else:
                        expanded.append((akey, avalue, True))
                spec.scale, spec.unit = alias.scale, alias.unit
            else:
                expanded.append((key, value, False))
        for key, value, _from_alias in expanded:
            pending.discard(key)
            fmt = pmu.formats.get(key)
            if fmt is not None:
                v = 1 if value is None else _number(value, f"term {key!r} in {text!r}")
                setattr(spec, fmt.config, fmt.insert(getattr(spec, fmt.config), v))
                continue
            if self._special_term(spec, key, value, text):
                continue
            ev = self.generic(key) if value is None else None
            if ev is not None and ev.type in (_TYPE_HARDWARE, _TYPE_HW_CACHE):
                # cpu_core/cycles/: a generic event on one PMU of a hybrid machine; the
                # kernel reads the PMU's type from config's upper half ("extended type")
                spec.type = ev.type
                spec.config = ev.config | pmu.type << _constants().PERF_PMU_TYPE_SHIFT
                continue
            if pmu.name == "uprobe" and key in ("path", "offset", "func", "symbol"):
                if not value:
                    raise ValueError(
                        f"term {key!r} needs a value in {text!r} "
                        '(quote values that contain "/": path="/usr/bin/x")'
                    )
                if key == "path":
                    probe_path = value
                else:
                    probe_where = value
                continue
            if pmu.name == "kprobe" and key in ("func", "symbol", "offset", "addr"):
                if value is None:
                    raise ValueError(f"term {key!r} needs a value in {text!r}")
                if key in ("func", "symbol"):
                    probe_func = value
                elif key == "offset":
                    probe_where = value
                else:
                    probe_addr = _number(value, f"term 'addr' in {text!r}")
                continue
            valid = sorted({*pmu.formats, *pmu.aliases, *self._SPECIAL})
            raise ValueError(
                f"unknown term {key!r} for PMU {pmu.name!r} in {text!r}"
                + self._suggest(key, valid)
                + f" (valid: {', '.join(valid)})"
            )
        if pending:
            raise ValueError(
                f"{text!r}: the alias needs a value for {', '.join(sorted(pending))} "
                f"(e.g. {pmu.name}/{terms},{sorted(pending)[0]}=1/)"
            )
        if pmu.name == "uprobe" and (probe_path is not None or probe_where is not None):
            if probe_path is None or probe_where is None:
                raise ValueError(f"{text!r}: a uprobe needs path= and offset= (or func=)")
            probe = self._uprobe(text, pmu, probe_path, probe_where, False)
            spec.strings.update(probe.strings)
            spec.fields.update(probe.fields)
        elif pmu.name == "kprobe" and (probe_func is not None or probe_addr is not None):
            offset = _number(probe_where, f"term 'offset' in {text!r}") if probe_where else 0
            if probe_func is not None:
                spec.strings["kprobe_func"] = probe_func.encode()
                spec.fields["probe_offset"] = offset
            else:
                assert probe_addr is not None
                spec.fields["kprobe_addr"] = probe_addr + offset
        elif probe_where is not None:
            raise ValueError(f"{text!r}: offset= needs func= (kprobe) or path= (uprobe)")
        return spec


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
