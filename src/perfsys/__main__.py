"""``python -m perfsys``: a small ``perf list`` and ``perf stat`` on perfsys's public API.

    python -m perfsys list [--fields] [PATTERN]
    python -m perfsys stat [OPTIONS] [-e EVENTS]... (-p PID | -t TID | -a | [--] COMMAND...)

Bad event names and bad command lines print one line on stderr and exit with status 2;
``stat`` of a command exits with the command's status (128 + N when signal N ended it).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import errno
import json
import math
import os
import select
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

import perfsys
from perfsys import constants
from perfsys.events import (
    EventCatalog,
    EventGroup,
    EventSpec,
    GenericEvent,
    TracefsNotMounted,
    _parse_cpu_list,
    cache_events,
    generic_events,
)
from perfsys.launch import ExecFailed, PausedCommand

PROG = "perfsys"

USAGE = f"""\
usage: {PROG} list [--fields] [PATTERN]
       {PROG} stat [OPTIONS] [-e EVENTS]... (-p PID | -t TID | -a | [--] COMMAND [ARG...])

list   the PMUs this kernel has (type, format terms, aliases), the generic hardware,
       software and cache events, and the tracepoint subsystems; events this machine
       cannot open are marked. With PATTERN, only names containing it (tracepoints too).
       --fields lists the matching tracepoints with their fields (offset, size, type).
stat   count events for a command (enabled at its exec), for running processes or
       threads, or for whole CPUs, as perf stat does: -r, -I, -a, -C, -A, --per-core,
       --per-socket, --per-thread, -x, -j, -o, -D, --no-inherit, --filter, --timeout
       (every option: {PROG} stat --help).
"""

DEFAULT_EVENTS = (
    "task-clock,context-switches,cpu-migrations,page-faults,"
    "cycles,instructions,branches,branch-misses"
)

# What perf stat shows as "<not supported>" rather than failing: the kernel has no such
# event (ENOENT), this PMU cannot do it (EOPNOTSUPP, ENODEV, ENXIO), or refuses the
# combination (EINVAL), or has no perf events at all (ENOSYS).
NOT_SUPPORTED = frozenset(
    {errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV, errno.ENXIO, errno.EINVAL, errno.ENOSYS}
)


class UsageError(Exception):
    """A bad command line or event name: one line on stderr, exit status 2."""


class Failure(Exception):
    """The kernel refused something that is not "not supported": exit status 1."""


# ---------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------


def _probe(spec: EventSpec, cpus: tuple[int, ...] | None = None) -> str | None:
    """Try to open ``spec`` for this process (or its PMU's first CPU); None if it opens."""
    pid, cpu = (0, -1) if not cpus else (-1, cpus[0])
    for fields in ({"disabled": 1}, {"disabled": 1, "exclude_kernel": 1, "exclude_hv": 1}):
        try:
            fd = _open(spec.attr(**fields), pid, cpu, -1)
        except OSError as err:
            if err.errno in (errno.EACCES, errno.EPERM) and "exclude_kernel" not in fields:
                continue  # perf_event_paranoid may allow it without kernel counting
            name = errno.errorcode.get(err.errno or 0, str(err.errno))
            if err.errno in (errno.EACCES, errno.EPERM):
                return f"not permitted here: {name}"
            return f"not supported here: {name}"
        os.close(fd)
        return None
    return None  # pragma: no cover


def _mark(why: str | None) -> str:
    return f"  [{why}]" if why else ""


def _generic_line(ev: GenericEvent) -> str:
    return " OR ".join(ev.names)


def cmd_list(args: Sequence[str], out: TextIO, catalog: EventCatalog | None = None) -> int:
    pattern = None
    fields = False
    for a in args:
        if a in ("-h", "--help"):
            out.write(USAGE)
            return 0
        if a == "--fields":
            fields = True
            continue
        if a.startswith("-"):
            raise UsageError(f"list: unknown option {a!r}")
        if pattern is not None:
            raise UsageError("list: at most one PATTERN")
        pattern = a

    def wanted(*names: str) -> bool:
        return pattern is None or any(pattern.lower() in n.lower() for n in names)

    cat = EventCatalog() if catalog is None else catalog
    w = out.write

    pmus = [p for p in cat.pmus.values() if wanted(p.name, *p.aliases)]
    if pmus or pattern is None:
        w(f"PMUs ({cat.devices_dir}):\n")
    for pmu in pmus:
        w(f"  {pmu.name:<24} type {pmu.type}")
        if pmu.cpus is not None:
            w(f"  cpus {_cpu_ranges(pmu.cpus)}")
        w("\n")
        try:
            formats = pmu.formats
        except ValueError as err:
            w(f"      format: unreadable ({err})\n")
            formats = {}
        if formats:
            terms = ", ".join(f"{k}={f.describe()}" for k, f in formats.items())
            w(f"      format: {terms}\n")
        for alias in pmu.aliases.values():
            if pattern is not None and not wanted(pmu.name, alias.name):
                continue
            try:
                spec = cat.parse(f"{pmu.name}/{alias.name}/")
                why = _probe(spec, pmu.cpus)
            except ValueError as err:
                why = f"cannot parse: {err}"
            extra = ""
            if alias.unit or alias.scale != 1.0:
                extra = f" (scale {alias.scale:g}{', unit ' + alias.unit if alias.unit else ''})"
            w(f"      {pmu.name}/{alias.name}/  = {alias.terms}{extra}{_mark(why)}\n")

    sections: list[tuple[str, list[GenericEvent]]] = [
        ("Generic hardware events (PERF_TYPE_HARDWARE)", []),
        ("Generic software events (PERF_TYPE_SOFTWARE)", []),
    ]
    for ev in generic_events():
        sections[0 if ev.type == constants.PERF_TYPE_HARDWARE else 1][1].append(ev)
    sections.append(("Hardware cache events (PERF_TYPE_HW_CACHE)", cache_events()))
    for title, evs in sections:
        shown = [ev for ev in evs if wanted(*ev.names)]
        if not shown:
            continue
        w(f"\n{title}:\n")
        for ev in shown:
            # cache events answer to dozens of spellings: list perf's own, as perf does
            label = ev.name if ev.type == constants.PERF_TYPE_HW_CACHE else _generic_line(ev)
            why = _probe(EventSpec(ev.name, ev.name, ev.type, ev.config))
            w(f"  {label:<48}{_mark(why)}".rstrip() + "\n")

    if wanted("raw", "mem:", "breakpoint", "uprobe", "kprobe"):
        w("\nOther syntax:\n")
        raw = _probe(EventSpec("r0", "r0", constants.PERF_TYPE_RAW, 0))
        w(f"  {'rNNN (raw PMU config, hex)':<48}{_mark(raw)}".rstrip() + "\n")
        w("  mem:ADDR[/LEN][:r|w|rw|x]                       (hardware breakpoint)\n")
        w("  PMU/term=value,.../                             (terms from the PMU's format)\n")
        for kind, example in (("uprobe", "uprobe:PATH:SYMBOL[+OFF]|OFFSET, uretprobe:..."),
                              ("kprobe", "kprobe:FUNCTION[+OFF], kretprobe:FUNCTION")):
            why = None if kind in cat.pmus else f"not supported here: no {kind} PMU"
            w(f"  {example:<48}{_mark(why)}".rstrip() + "\n")

    try:
        subsystems = cat.tracepoint_subsystems()
    except TracefsNotMounted as err:
        w(f"\nTracepoints: {err.strerror}\n")
        return 0
    except PermissionError as err:
        w(f"\nTracepoints: cannot read tracefs: {err.strerror}\n")
        return 0
    w(f"\nTracepoint subsystems ({cat.tracefs / 'events'}; events are SUBSYSTEM:NAME):\n")
    for sub, names in subsystems.items():
        if pattern is None and not fields:
            w(f"  {sub:<32} {len(names)} tracepoint{'s' if len(names) != 1 else ''}\n")
        else:
            for n in names:
                if wanted(f"{sub}:{n}"):
                    w(f"  {sub}:{n}\n")
                    if fields:
                        from perfsys.tracefs import TracepointFormat

                        for line in TracepointFormat.load(f"{sub}:{n}", cat.tracefs).describe():
                            w(f"      {line}\n")
    return 0


def _cpu_ranges(cpus: Sequence[int]) -> str:
    parts: list[str] = []
    for c in cpus:
        if parts and "-" not in parts[-1] and int(parts[-1]) == c - 1:
            parts[-1] = f"{c - 1}-{c}"
        elif parts and "-" in parts[-1] and int(parts[-1].split("-")[1]) == c - 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{c}"
        else:
            parts.append(str(c))
    return ",".join(parts)


# ---------------------------------------------------------------------------
# stat: the command line
# ---------------------------------------------------------------------------


@dataclass
class EventArg:
    """One ``-e`` option, and the ``--filter`` that followed it."""

    text: str
    filter: str | None = None


@dataclass
class StatArgs:
    events: list[EventArg] = field(default_factory=list)
    sep: str | None = None
    json: bool = False
    pids: list[int] = field(default_factory=list)
    tids: list[int] = field(default_factory=list)
    all_cpus: bool = False
    cpus: list[int] | None = None
    aggr: str = "global"  # global, cpu (-A), core, socket, thread
    repeat: int = 1
    interval_ms: int | None = None
    output: str | None = None
    inherit: bool = True
    delay_ms: int = 0
    timeout_ms: int | None = None
    command: list[str] = field(default_factory=list)


class _ArgParser(argparse.ArgumentParser):
    """argparse that reports usage errors as UsageError (one line, exit status 2)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"stat: {message} (see: {PROG} stat --help)")


class _EventAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        ns.events.append(EventArg(str(values)))


class _FilterAction(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, ns: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if not ns.events:
            parser.error("--filter follows the -e TRACEPOINT it applies to")
        if ns.events[-1].filter is not None:
            parser.error(f"two filters for -e {ns.events[-1].text!r}")
        ns.events[-1].filter = str(values)


def _positive(what: str, minimum: int = 1) -> Any:
    def convert(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"{what} takes a whole number >= {minimum}, "
                                             f"not {text!r}")
        return int(text)
    convert.__name__ = what
    return convert


def _id_list(text: str) -> list[int]:
    out = []
    for p in text.split(","):
        if not p.strip().isdigit() or int(p) <= 0:
            raise argparse.ArgumentTypeError(f"bad id {p!r} in {text!r}")
        out.append(int(p))
    return out


def _cpu_list_arg(text: str) -> list[int]:
    try:
        cpus = _parse_cpu_list(text)
    except ValueError:
        cpus = ()
    if not cpus or any(c < 0 for c in cpus):
        raise argparse.ArgumentTypeError(f"bad CPU list {text!r} (e.g. 0-3,6)")
    return sorted(set(cpus))


def stat_parser() -> argparse.ArgumentParser:
    """The argument parser of ``stat`` (its ``format_help`` is ``stat --help``)."""
    p = _ArgParser(
        prog=f"{PROG} stat", add_help=False,
        usage=f"{PROG} stat [OPTIONS] [-e EVENTS]... (-p PID | -t TID | -a | [--] COMMAND ...)",
        description="Count events for a command (from its exec), for running processes or "
        "threads, or for whole CPUs, and print the counts as perf stat does. Counts go to "
        "stderr (or -o FILE); stat of a command exits with the command's status.",
        epilog="Event syntax: as perf's (see the README's 'Event names' or perf-list(1)). "
        f"Usage errors print one line and exit with status 2. See also: {PROG} list.",
    )
    ev = p.add_argument_group("events")
    ev.add_argument("-e", "--event", action=_EventAction, metavar="EVENTS", dest="events",
                    default=[], help="comma-separated events, {a,b} for a group (repeatable)")
    ev.add_argument("--filter", action=_FilterAction, metavar="FILTER",
                    help="a tracepoint filter for the events of the -e before it")
    tg = p.add_argument_group("targets")
    tg.add_argument("-p", "--pid", type=_id_list, action="append", default=[],
                    metavar="PID[,PID...]",
                    help="count existing processes: every thread, present and future")
    tg.add_argument("-t", "--tid", type=_id_list, action="append", default=[],
                    metavar="TID[,TID...]", help="count existing threads only")
    tg.add_argument("-a", "--all-cpus", action="store_true",
                    help="count system-wide, on every online CPU")
    tg.add_argument("-C", "--cpu", type=_cpu_list_arg, metavar="LIST",
                    help="count system-wide on these CPUs only (0-3,6)")
    ag = p.add_argument_group("aggregation")
    mx = ag.add_mutually_exclusive_group()
    mx.add_argument("-A", "--no-aggr", dest="aggr", action="store_const", const="cpu",
                    default="global", help="one line per CPU (with -a or -C)")
    mx.add_argument("--per-thread", dest="aggr", action="store_const", const="thread",
                    help="one line per thread (with -p or -t)")
    mx.add_argument("--per-core", dest="aggr", action="store_const", const="core",
                    help="one line per core, from sysfs topology (with -a or -C)")
    mx.add_argument("--per-socket", dest="aggr", action="store_const", const="socket",
                    help="one line per socket, from sysfs topology (with -a or -C)")
    rn = p.add_argument_group("running")
    rn.add_argument("-r", "--repeat", type=_positive("--repeat"), default=1, metavar="N",
                    help="run the command N times: mean and its relative standard error")
    rn.add_argument("-I", "--interval-print", type=_positive("--interval-print", 10),
                    metavar="MS", help="print the counts of every MS milliseconds (>= 10)")
    rn.add_argument("-D", "--delay", type=_positive("--delay", 0), default=0, metavar="MS",
                    help="start counting MS milliseconds after the command starts")
    rn.add_argument("--no-inherit", dest="inherit", action="store_false",
                    help="do not count the children and new threads of what is counted")
    rn.add_argument("--timeout", type=_positive("--timeout"), metavar="MS",
                    help="stop counting after MS milliseconds (a command is sent SIGTERM)")
    out = p.add_argument_group("output")
    fm = out.add_mutually_exclusive_group()
    fm.add_argument("-x", "--field-separator", dest="sep", metavar="SEP",
                    help="CSV output as perf's: value,unit,event,running_ns,running%%,"
                    "metric,metric_unit")
    fm.add_argument("-j", "--json-output", dest="json", action="store_true",
                    help="one JSON object per line, as perf's")
    out.add_argument("-o", "--output", metavar="FILE", help="write the counts to FILE")
    p.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="COMMAND",
                   help="the command to run and count (after --, or the first non-option)")
    return p


def parse_stat_args(args: Sequence[str]) -> StatArgs | None:
    """Parse ``stat``'s command line; None means help was asked for."""
    ns = stat_parser().parse_args(list(args))
    if ns.help:
        return None
    command = list(ns.command)
    if command and command[0] == "--":
        command = command[1:]
    sa = StatArgs(
        events=ns.events, sep=ns.sep, json=ns.json,
        pids=[p for group in ns.pid for p in group], tids=[t for g in ns.tid for t in g],
        all_cpus=ns.all_cpus or ns.cpu is not None, cpus=ns.cpu, aggr=ns.aggr,
        repeat=ns.repeat, interval_ms=ns.interval_print, output=ns.output,
        inherit=ns.inherit, delay_ms=ns.delay, timeout_ms=ns.timeout, command=command,
    )
    if sa.sep == "":
        raise UsageError("stat: the field separator may not be empty")
    tasks = bool(sa.pids or sa.tids)
    if tasks and sa.command:
        raise UsageError("stat: give either -p PID/-t TID or a COMMAND, not both")
    if tasks and sa.all_cpus:
        raise UsageError("stat: -a/-C count whole CPUs; -p/-t count tasks: not both")
    if not tasks and not sa.command and not sa.all_cpus:
        raise UsageError("stat: nothing to count: give a COMMAND (after --), -p PID, "
                         "-t TID or -a")
    if sa.repeat > 1 and not sa.command:
        raise UsageError("stat: -r repeats a COMMAND")
    if sa.repeat > 1 and sa.interval_ms:
        raise UsageError("stat: -r and -I do not go together")
    if sa.aggr in ("cpu", "core", "socket") and not sa.all_cpus:
        opt = {"cpu": "-A", "core": "--per-core", "socket": "--per-socket"}[sa.aggr]
        raise UsageError(f"stat: {opt} needs -a or -C (CPU-wide counting)")
    if sa.aggr == "thread" and not tasks:
        raise UsageError("stat: --per-thread needs -p PID or -t TID")
    if sa.delay_ms and not sa.command:
        raise UsageError("stat: -D delays the counting of a COMMAND")
    if any(not e.text.strip() for e in sa.events):
        raise UsageError("stat: empty event list")
    return sa


# ---------------------------------------------------------------------------
# stat: counting
# ---------------------------------------------------------------------------

Target = tuple[int, int]  # (pid or tid, cpu), as perf_event_open takes them


@dataclass
class Counter:
    """One event of one group, over all the targets it was opened on."""

    spec: EventSpec
    fds: list[int] = field(default_factory=list)
    unsupported: str | None = None
    #: target -> [value, time enabled, time running], as last read
    counts: dict[Target, list[int]] = field(default_factory=dict)
    #: the name shown (the event's, plus "u" where counting fell back to user mode)
    shown: str = ""
    #: the kernel refused kernel-mode counting: this event counts user mode only
    user_only: bool = False

    def __post_init__(self) -> None:
        self.shown = self.shown or self.spec.name

    @property
    def value(self) -> int:
        return sum(v[0] for v in self.counts.values())

    @property
    def enabled(self) -> int:
        return sum(v[1] for v in self.counts.values())

    @property
    def running(self) -> int:
        return sum(v[2] for v in self.counts.values())


def _read_format(group: bool) -> int:
    f = constants.PERF_FORMAT_TOTAL_TIME_ENABLED | constants.PERF_FORMAT_TOTAL_TIME_RUNNING
    return f | constants.PERF_FORMAT_GROUP if group else f


def _open(attr: Any, pid: int, cpu: int, group_fd: int, gh_chosen: bool = False) -> int:
    """perf_event_open, with perf's fallback: a PMU that refuses ``exclude_guest`` or
    ``exclude_host`` (msr, many uncore PMUs) gets neither, unless a G or H modifier
    (``gh_chosen``) asked for them."""
    flags = constants.PERF_FLAG_FD_CLOEXEC
    try:
        return perfsys.perf_event_open(attr, pid, cpu, group_fd, flags)
    except OSError as err:
        if gh_chosen or err.errno not in (errno.EINVAL, errno.EOPNOTSUPP) or \
                not (attr.exclude_guest or attr.exclude_host):
            raise
    attr.exclude_guest = attr.exclude_host = 0
    return perfsys.perf_event_open(attr, pid, cpu, group_fd, flags)


def _ioctl(name: str, fd: int, flags: int) -> None:
    getattr(perfsys.ioctls, name)(fd, flags)


def _strerror(err: OSError) -> str:
    """The OSError's message without its "[Errno N] " prefix."""
    return str(err.strerror or err) if not err.args[1:] else str(err.args[1])


def _is_tracepoint_spec(spec: EventSpec) -> bool:
    return spec.type == constants.PERF_TYPE_TRACEPOINT


class Session:
    """Counters for groups of events on a list of (pid, cpu) targets."""

    def __init__(self, groups: list[EventGroup], targets: list[Target],
                 enable_on_exec: bool, inherit: bool = True,
                 filters: dict[int, str] | None = None,
                 notes: list[str] | None = None) -> None:
        self.groups = groups
        self.targets = targets
        self.enable_on_exec = enable_on_exec
        self.inherit = inherit
        self.filters = filters or {}  # id(spec) -> tracepoint filter
        self.notes = notes if notes is not None else []
        self.counters: list[list[Counter]] = [[Counter(s) for s in g.events] for g in groups]
        # one per read: (fd, read as a group?, [counters in read order], target)
        self.reads: list[tuple[int, bool, list[Counter], Target]] = []
        self.cpu_wide: list[int] = []  # leaders opened with pid -1: no enable_on_exec for them
        self.comms: dict[int, str] = {}  # thread id -> its name when its counters opened
        self.vanishing: set[int] = set()  # threads that may exit before they are opened

    def open(self) -> None:
        try:
            for group, counters in zip(self.groups, self.counters, strict=True):
                cpus = next((s.cpus for s in group.events if s.cpus), None)
                targets = [(-1, c) for c in cpus] if cpus else self.targets
                for pid, cpu in targets:
                    self._open_group(group, counters, pid, cpu)
        except BaseException:
            self.close()
            raise

    def _open_one(self, c: Counter, fields: dict[str, int], pid: int, cpu: int,
                  leader: int) -> int:
        """Open one event, with perf's fallbacks: the highest precision the PMU takes
        (``:P``), and user-mode-only counting where the kernel refuses kernel mode."""
        spec = c.spec
        fields = dict(fields)
        if spec.precise_max:
            fields.setdefault("precise_ip", 3)
        while True:
            try:
                return _open(spec.attr(**fields), pid, cpu, leader, spec.exclude_gh)
            except OSError as err:
                if spec.precise_max and fields["precise_ip"] > 0 and \
                        err.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOENT):
                    fields["precise_ip"] -= 1
                    continue
                def excluded(name: str) -> int:
                    return fields.get(name, spec.fields.get(name, 0))

                # perf's rule: only an event that counts user mode falls back to it alone
                if err.errno in (errno.EACCES, errno.EPERM) and pid != -1 and \
                        not excluded("exclude_kernel") and not excluded("exclude_user"):
                    fields["exclude_kernel"] = fields["exclude_hv"] = 1
                    if not c.user_only:
                        c.user_only = True
                        if not self.notes:
                            self.notes.append(_strerror(err))
                        # perf's name: "u" joins modifiers already written, else ":u"
                        sep = "" if "/" in spec.name or ":" in spec.name else ":"
                        c.shown = f"{spec.name}{sep}u"
                        self.notes.append(c.shown)
                    continue
                raise

    def _open_group(self, group: EventGroup, counters: list[Counter], pid: int,
                    cpu: int, split: bool = False) -> None:
        """Open one group on one target; ``split``: each member on its own, as a weak
        group (``:W``) is opened once the kernel has refused a member of it."""
        if pid > 0 and pid not in self.comms:
            self.comms[pid] = _comm(pid)
        leader = -1
        members: list[Counter] = []
        opened: list[tuple[Counter, int]] = []
        braced = group.braced and len(group.events) > 1 and not split
        group_read = braced  # read the group in one call through its leader
        for c in counters:
            if c.unsupported:
                continue
            is_leader = leader < 0
            fields: dict[str, int] = {
                "read_format": _read_format(group_read and is_leader),
                "inherit": int(self.inherit and pid > 0),
                "disabled": 1 if is_leader else 0,
            }
            if "inherit" in c.spec.fields and pid > 0:  # the inherit/no-inherit terms
                fields["inherit"] = c.spec.fields["inherit"]
            if self.enable_on_exec and is_leader and pid > 0:
                fields["enable_on_exec"] = 1
            if c.user_only:
                fields["exclude_kernel"] = fields["exclude_hv"] = 1
            try:
                try:
                    fd = self._open_one(c, fields, pid, cpu, leader)
                except OSError as err:
                    # Kernels before 6.x refuse PERF_FORMAT_GROUP with inherit: then the
                    # group is still opened as one, and each member read on its own.
                    if not (err.errno == errno.EINVAL and group_read and is_leader):
                        raise
                    group_read = False
                    fields["read_format"] = _read_format(False)
                    fd = self._open_one(c, fields, pid, cpu, leader)
            except OSError as err:
                if braced and group.weak and not is_leader and \
                        err.errno in (errno.EINVAL, errno.EBADF):
                    self._undo(opened)  # a weak group: open its members one by one
                    self._open_group(group, counters, pid, cpu, split=True)
                    return
                if err.errno in NOT_SUPPORTED:
                    c.unsupported = errno.errorcode.get(err.errno or 0, "?")
                    continue
                if err.errno == errno.ESRCH:
                    if pid in self.vanishing:  # a thread of -p PID that has since exited
                        return
                    raise Failure(f"no such process: {pid}") from err
                raise Failure(f"{c.spec.name}: {_strerror(err)}") from err
            c.fds.append(fd)
            opened.append((c, fd))
            flt = self.filters.get(id(c.spec))
            if flt is not None:
                try:
                    perfsys.ioctls.SET_FILTER(fd, flt)
                except OSError as err:
                    raise Failure(f"{c.spec.name}: bad filter {flt!r}: "
                                  f"{_strerror(err)}") from err
            if is_leader:
                if pid == -1:
                    self.cpu_wide.append(fd)
                if braced:
                    leader = fd
            members.append(c)
            if not group_read:  # read each event through its own fd
                self.reads.append((fd, False, [c], (pid, cpu)))
        if group_read and leader >= 0:
            self.reads.append((leader, True, members, (pid, cpu)))

    def _undo(self, opened: list[tuple[Counter, int]]) -> None:
        """Close what one :meth:`_open_group` call opened, and forget it."""
        fds = {fd for _c, fd in opened}
        for c, fd in opened:
            c.fds.remove(fd)
            os.close(fd)
        self.reads = [r for r in self.reads if r[0] not in fds]
        self.cpu_wide = [fd for fd in self.cpu_wide if fd not in fds]

    def enable(self, cpu_wide_only: bool = False) -> None:
        leaders = self.cpu_wide if cpu_wide_only else [fd for fd, _g, _m, _t in self.reads]
        for fd in leaders:
            _ioctl("ENABLE", fd, constants.PERF_IOC_FLAG_GROUP)

    def disable(self) -> None:
        for leader, _g, _m, _t in self.reads:
            _ioctl("DISABLE", leader, constants.PERF_IOC_FLAG_GROUP)

    def read(self) -> None:
        """Read every target's counts into the counters (their totals so far)."""
        read = perfsys.read
        for fd, as_group, members, target in self.reads:
            r = read(fd, _read_format(as_group))
            if isinstance(r, perfsys.GroupValues):
                if len(r.values) != len(members):
                    raise Failure(f"group read returned {len(r.values)} values for "
                                  f"{len(members)} events")
                for c, m in zip(members, r.values, strict=True):
                    c.counts[target] = [m.value, r.time_enabled or 0, r.time_running or 0]
            else:
                (c,) = members
                c.counts[target] = [r.value, r.time_enabled or 0, r.time_running or 0]

    def snapshot(self) -> list[list[dict[Target, list[int]]]]:
        return [[{t: list(v) for t, v in c.counts.items()} for c in cs] for cs in self.counters]

    def close(self) -> None:
        for counters in self.counters:
            for c in counters:
                for fd in c.fds:
                    os.close(fd)
                c.fds.clear()


def _wait(pids: list[int], timeout_ms: int | None, interval_ms: int | None = None,
          tick: Any = None, child: PausedCommand | None = None) -> float:
    """Wait until every pid has exited (``child`` reaped), Ctrl-C, or the timeout, calling
    ``tick(seconds)`` every ``interval_ms``; returns the seconds waited. With no pids, waits
    for Ctrl-C or the timeout."""
    started = time.perf_counter()
    fds: dict[int, int] = {}
    polled: list[int] = []  # threads on kernels without PIDFD_THREAD: looked for in /proc
    try:
        for p in pids:
            try:
                fds[_pidfd(p)] = p
            except ProcessLookupError:
                if child is not None and p == child.pid:
                    continue
                raise Failure(f"no such process: {p}") from None
            except OSError:
                polled.append(p)
        deadline = None if timeout_ms is None else started + timeout_ms / 1000
        next_tick = None if interval_ms is None else started + interval_ms / 1000
        while fds or polled or not pids:
            polled = [p for p in polled if os.path.exists(f"/proc/{p}/task/{p}")]
            now = time.perf_counter()
            waits = [t - now for t in (deadline, next_tick) if t is not None]
            if polled:
                waits.append(0.05)
            if not fds and not polled and pids:
                break
            left = max(0.0, min(waits)) if waits else None
            try:
                ready, _, _ = select.select(list(fds), [], [], left)
            except KeyboardInterrupt:
                break
            now = time.perf_counter()
            for fd in ready:
                pid = fds.pop(fd)
                if child is not None and pid == child.pid:
                    child.wait()
                os.close(fd)
            if next_tick is not None and now >= next_tick and (fds or polled or not pids):
                try:
                    tick(now - started)
                except KeyboardInterrupt:
                    break
                while next_tick <= now:
                    next_tick += (interval_ms or 0) / 1000
            if deadline is not None and now >= deadline:
                break
    finally:
        for fd in fds:
            os.close(fd)
    return time.perf_counter() - started


_PIDFD_THREAD = os.O_EXCL  # Linux 6.9: a pidfd for one thread, readable when it exits


def _pidfd(tid: int) -> int:
    """A pidfd for a process or (where the kernel can) a single thread."""
    try:
        return os.pidfd_open(tid)
    except OSError as err:
        if err.errno not in (errno.ENOENT, errno.EINVAL) or not os.path.exists(f"/proc/{tid}"):
            raise ProcessLookupError(err.errno, err.strerror) from None
        return os.pidfd_open(tid, _PIDFD_THREAD)


def _run_command(session: Session, command: list[str], delay_ms: int = 0,
                 interval_ms: int | None = None, tick: Any = None,
                 timeout_ms: int | None = None) -> tuple[int, float, Any]:
    """Start ``command`` paused before exec, open the counters on it, let it exec, wait
    (after ``timeout_ms``, the command is sent SIGTERM, as perf does)."""
    with PausedCommand(command) as child:
        # Ctrl-C is for the command: ignored here from before its exec to its end (the
        # child was forked with Python's handler, which its exec resets to the default)
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            session.targets = [(child.pid, -1)] if not session.targets else session.targets
            if delay_ms:
                session.enable_on_exec = False
            session.open()
            # Events of PMUs with a cpumask count whole CPUs: enable_on_exec does not reach
            # them.
            started = time.perf_counter()
            if not delay_ms:
                session.enable(cpu_wide_only=True)
            try:
                child.start()
            except ExecFailed:
                session.close()
                raise
            if delay_ms:
                time.sleep(delay_ms / 1000)
                session.enable()
            _wait([child.pid], timeout_ms, interval_ms, tick, child=child)
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGTERM)
            code = child.wait()
        finally:
            signal.signal(signal.SIGINT, old)
    elapsed = time.perf_counter() - started - delay_ms / 1000
    return (128 - code if code < 0 else code), elapsed, child.rusage


def _watch_pids(pids: list[int], timeout_ms: int | None) -> float:
    """Wait until every pid has exited, Ctrl-C, or the timeout; returns seconds counted."""
    return _wait(pids, timeout_ms)


def process_threads(pid: int) -> list[int]:
    """The ids of every thread of process ``pid`` (from /proc/PID/task)."""
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        raise Failure(f"no such process: {pid}") from None


def online_cpus(sysfs: str | os.PathLike[str] = "/sys") -> list[int]:
    path = Path(sysfs) / "devices/system/cpu/online"
    try:
        return list(_parse_cpu_list(path.read_text()))
    except OSError:
        return list(range(os.cpu_count() or 1))


def cpu_topology(cpu: int, sysfs: str | os.PathLike[str] = "/sys") -> tuple[int, int, int]:
    """(socket, die, core) of ``cpu``, from sysfs (a missing file counts as 0; a core id
    of -1, as some machines give, too)."""
    d = Path(sysfs) / f"devices/system/cpu/cpu{cpu}/topology"
    out = []
    for name in ("physical_package_id", "die_id", "core_id"):
        try:
            out.append(max(0, int((d / name).read_text())))
        except (OSError, ValueError):
            out.append(0)
    return out[0], out[1], out[2]


def _comm(tid: int) -> str:
    try:
        return Path(f"/proc/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


# ---------------------------------------------------------------------------
# stat: the numbers and how perf prints them
# ---------------------------------------------------------------------------

_CLOCKS = {
    (constants.PERF_TYPE_SOFTWARE, constants.PERF_COUNT_SW_TASK_CLOCK),
    (constants.PERF_TYPE_SOFTWARE, constants.PERF_COUNT_SW_CPU_CLOCK),
}


def _rate(value: float, seconds: float) -> tuple[float, str]:
    r = value / seconds if seconds > 0 else 0.0
    for div, unit in ((1e9, "G/sec"), (1e6, "M/sec"), (1e3, "K/sec")):
        if r >= div:
            return r / div, unit
    return r, "/sec"


@dataclass
class Row:
    """One printed line: ``count`` is None for ``<not counted>``/``<not supported>``."""

    value: str
    unit: str
    name: str
    running: int
    percent: float
    metric: float | None = None
    metric_unit: str = ""
    count: float | None = None
    noise: float | None = None  # -r: the relative standard error of the mean, percent
    bucket: str = ""  # -A, --per-*: CPU0, S0-D0-C0, comm-tid
    nr: int = 0  # --per-core/--per-socket: the CPUs aggregated


def _format_count(count: float, is_clock: bool) -> str:
    if is_clock:
        return f"{count / 1e6:.2f}"
    return f"{count:.2f}" if math.floor(count) != count else f"{count:.0f}"


@dataclass(frozen=True)
class Bucket:
    key: Any
    label: str
    nr: int = 0


def _buckets(session: Session, aggr: str, sysfs: str = "/sys") -> dict[Target, Bucket]:
    """Which output line each target's counts go to."""
    out: dict[Target, Bucket] = {}
    targets = {t for cs in session.counters for c in cs for t in c.counts}
    if aggr in ("core", "socket"):
        topo = {t: cpu_topology(t[1], sysfs) for t in targets}
        for t, (s, d, c) in topo.items():
            key = (s, d, c) if aggr == "core" else (s,)
            nr = len({t2[1] for t2, k in topo.items() if k[:len(key)] == key})
            label = f"S{s}-D{d}-C{c}" if aggr == "core" else f"S{s}"
            out[t] = Bucket(key, label, nr)
    elif aggr == "cpu":
        out = {t: Bucket(t[1], f"CPU{t[1]}") for t in targets}
    elif aggr == "thread":
        out = {t: Bucket(t[0], f"{session.comms.get(t[0]) or _comm(t[0])}-{t[0]}")
               for t in targets}
    else:
        out = {t: Bucket(None, "") for t in targets}
    return out


def stat_rows(session: Session, elapsed: float, aggr: str = "global",
              counts: list[list[dict[Target, list[int]]]] | None = None,
              sysfs: str = "/sys") -> list[Row]:
    """The lines perf prints for these counters (``counts``: deltas, for -I). With -A, an
    event with the ``percore`` term has one line per core (its CPUs' counts summed)."""
    if counts is None:
        counts = [[c.counts for c in cs] for cs in session.counters]
    buckets = _buckets(session, aggr, sysfs)
    cores = _buckets(session, "core", sysfs) if aggr == "cpu" else buckets

    def order(bmap: dict[Target, Bucket]) -> list[Bucket]:
        return sorted(set(bmap.values()), key=lambda b: (b.key is None, b.key or 0))

    keys = order(buckets)
    flat = [(c, cnt) for cs, cc in zip(session.counters, counts, strict=True)
            for c, cnt in zip(cs, cc, strict=True)]

    def totals(cnt: dict[Target, list[int]], bucket: Bucket) -> tuple[int, int, int]:
        bmap = cores if bucket.label[:3] != "CPU" and aggr == "cpu" else buckets
        v = e = r = 0
        for t, (tv, te, tr) in cnt.items():
            if bmap.get(t) == bucket:
                v, e, r = v + tv, e + te, r + tr
        return v, e, r

    def rows_of(c: Counter, cnt: dict[Target, list[int]], bucket: Bucket) -> Row:
        spec = c.spec
        is_clock = (spec.type, spec.config) in _CLOCKS
        unit = "msec" if is_clock else spec.unit
        label = bucket.label
        if c.unsupported or not (c.fds or c.counts):
            return Row("<not supported>", unit, c.shown, 0, 100.0, bucket=label, nr=bucket.nr)
        value, enabled, running = totals(cnt, bucket)
        pct = 100.0 if running == enabled else 100.0 * running / enabled
        if running == 0 or enabled == 0:
            return Row("<not counted>", unit, c.shown, running, pct, bucket=label,
                       nr=bucket.nr)
        scaled = float(value * enabled // running if running < enabled else value)
        scaled *= spec.scale
        row = Row(_format_count(scaled, is_clock), unit, c.shown, running, pct, count=scaled,
                  bucket=label, nr=bucket.nr)
        if is_clock:
            row.metric = (scaled / 1e9) / elapsed if elapsed > 0 else 0.0
            row.metric_unit = "CPUs utilized"
        else:
            task = task_ns.get(bucket)
            if task and spec.type == constants.PERF_TYPE_SOFTWARE and not spec.unit:
                row.metric, row.metric_unit = _rate(scaled, task / 1e9)
        return row

    task_ns: dict[Bucket, float] = {}
    for c, cnt in flat:
        if (c.spec.type, c.spec.config) == (constants.PERF_TYPE_SOFTWARE,
                                             constants.PERF_COUNT_SW_TASK_CLOCK):
            for b in keys:
                v, e, r = totals(cnt, b)
                if r:
                    task_ns.setdefault(b, v * e / r)
    rows: list[Row] = []
    if aggr in ("core", "socket"):  # bucket by bucket, as perf
        for b in keys:
            rows.extend(rows_of(c, cnt, b) for c, cnt in flat)
    else:  # event by event
        for c, cnt in flat:
            mine = order(cores) if c.spec.percore and aggr == "cpu" else keys
            rows.extend(rows_of(c, cnt, b) for b in mine)
            if not mine:
                rows.append(rows_of(c, cnt, Bucket(None, "")))
    return rows


def _delta(now: list[list[dict[Target, list[int]]]],
           before: list[list[dict[Target, list[int]]]]) -> list[list[dict[Target, list[int]]]]:
    return [[{t: [a - b for a, b in zip(v, cb.get(t, [0, 0, 0]), strict=True)]
              for t, v in cn.items()} for cn, cb in zip(gn, gb, strict=True)]
            for gn, gb in zip(now, before, strict=True)]


def _mean_rows(runs: list[list[Row]]) -> list[Row]:
    """-r: each line's mean over the runs and the relative standard error of the mean
    (perf's "+- x.xx%"), from the runs where it counted."""
    out = []
    for lines in zip(*runs, strict=True):
        first = lines[0]
        counted = [r for r in lines if r.count is not None]
        if not counted:
            out.append(first)
            continue
        first = counted[0]
        n = len(counted)
        mean = sum(r.count or 0.0 for r in counted) / n
        noise = 0.0
        if n > 1 and mean:
            var = sum(((r.count or 0.0) - mean) ** 2 for r in counted) / (n - 1)
            noise = 100.0 * math.sqrt(var / n) / mean
        metrics = [r.metric for r in counted if r.metric is not None]
        out.append(Row(
            _format_count(mean, first.unit == "msec" and first.metric_unit == "CPUs utilized"),
            first.unit, first.name, round(sum(r.running for r in counted) / n),
            sum(r.percent for r in counted) / n,
            sum(metrics) / len(metrics) if metrics else None, counted[0].metric_unit,
            count=mean, noise=noise, bucket=first.bucket, nr=first.nr))
    return out


def _prefix(r: Row, aggr: str, sep: str | None) -> str:
    """perf's aggregation columns: CPU, core or socket (with its CPU count), thread."""
    csv = sep is not None
    s = sep if csv else " "
    if aggr == "cpu" and not r.bucket.startswith("CPU"):  # a percore event's core
        head, _, core = r.bucket.rpartition("C")
        return f"{r.bucket}{s}" if csv else f"{head}C{core:<3}{s}"
    if aggr == "cpu":
        return f"{r.bucket}{s}" if csv else f"CPU{r.bucket[3:]:<7}{s}"
    if aggr == "core":
        head, _, core = r.bucket.rpartition("C")
        return (f"{r.bucket}{s}{r.nr}{s}" if csv
                else f"{head}C{core:<8}{s}{r.nr:>4}{s}")
    if aggr == "socket":
        return f"{r.bucket}{s}{r.nr}{s}" if csv else f"S{r.bucket[1:]:<5}{s}{r.nr:>4}{s}"
    if aggr == "thread":
        comm, _, tid = r.bucket.rpartition("-")
        return f"{r.bucket}{s}" if csv else f"{comm:>16}-{tid:<8}{s}"
    return ""


def _json_str(s: str) -> str:
    return json.dumps(s)


def format_rows(rows: list[Row], sep: str | None, as_json: bool, aggr: str = "global",
                interval: float | None = None) -> list[str]:
    """The lines of ``rows`` in CSV (``sep``), JSON or perf's human layout."""
    lines = []
    for r in rows:
        if as_json:
            parts = []
            if interval is not None:
                parts.append(f'"interval" : {interval:.9f}')
            if aggr == "cpu" and not r.bucket.startswith("CPU"):
                parts.append(f'"core" : {_json_str(r.bucket)}')
            elif aggr == "cpu":
                parts.append(f'"cpu" : "{r.bucket[3:]}"')
            elif aggr in ("core", "socket"):
                parts.append(f'"{aggr}" : {_json_str(r.bucket)}')
                parts.append(f'"aggregate-number" : {r.nr}')
            elif aggr == "thread":
                parts.append(f'"thread" : {_json_str(r.bucket)}')
            scale = 1e6 if r.unit == "msec" else 1.0
            value = r.value if r.count is None else f"{r.count / scale:f}"
            parts += [f'"counter-value" : {_json_str(value)}', f'"unit" : {_json_str(r.unit)}',
                      f'"event" : {_json_str(r.name)}']
            if r.noise is not None:
                parts.append(f'"variance" : {r.noise:.2f}')
            parts += [f'"event-runtime" : {r.running}', f'"pcnt-running" : {r.percent:.2f}',
                      f'"metric-value" : {r.metric or 0.0:f}',
                      f'"metric-unit" : {_json_str(r.metric_unit)}']
            lines.append("{" + ", ".join(parts) + "}")
            continue
        head = "" if interval is None else f"{interval:16.9f}{sep if sep is not None else ' '}"
        head += _prefix(r, aggr, sep)
        if sep is not None:
            metric = "" if r.metric is None else f"{r.metric:.3f}"
            fields = [r.value, r.unit, r.name]
            if r.noise is not None:
                fields.append(f"{r.noise:.2f}%")
            fields += [str(r.running), f"{r.percent:.2f}", metric, r.metric_unit]
            lines.append(head + sep.join(fields))
            continue
        line = f"{r.value:>18} {r.unit:<5}{r.name:<33}"
        if r.metric is not None:
            line += f"# {r.metric:8.3f} {r.metric_unit:<23}"
        elif r.noise is not None:
            line += " " * 34
        if r.noise is not None:
            line = f"{line}  ( +-{r.noise:6.2f}% )"
        if r.value[0] != "<" and r.percent < 100.0:
            line = f"{line:<91}  ({r.percent:.2f}%)"
        lines.append((head + line).rstrip())
    return lines


def _precision(sd: float) -> int:
    return 0 if sd > 1 or sd <= 0 else math.ceil(-math.log10(sd))


def print_stat(rows: list[Row], out: TextIO, sep: str | None, target: str, elapsed: float,
               rusage: Any, as_json: bool = False, aggr: str = "global",
               elapsed_runs: list[float] | None = None) -> None:
    w = out.write
    if sep is not None or as_json:
        for line in format_rows(rows, sep, as_json, aggr):
            w(line + "\n")
        return
    runs = len(elapsed_runs) if elapsed_runs else 1
    w(f"\n Performance counter stats for {target}"
      + (f" ({runs} runs)" if runs > 1 else "") + ":\n\n")
    for line in format_rows(rows, None, False, aggr):
        w(line + "\n")
    if elapsed_runs and runs > 1:
        mean = sum(elapsed_runs) / runs
        sd = math.sqrt(sum((e - mean) ** 2 for e in elapsed_runs) / (runs - 1) / runs)
        p = _precision(sd) + 2
        pct = 100.0 * sd / mean if mean else 0.0
        w(f"\n {mean:17.{p}f} +- {sd:.{p}f} seconds time elapsed  ( +-{pct:6.2f}% )\n")
    else:
        w(f"\n{elapsed:>18.9f} seconds time elapsed\n")
        if rusage is not None:
            w(f"\n{rusage.ru_utime:>18.9f} seconds user\n{rusage.ru_stime:>18.9f} seconds sys\n")
    if any(r.value[0] != "<" and r.percent < 100.0 for r in rows):
        w("\n Some events were multiplexed: counts are scaled by time enabled / time running;"
          "\n the percentage is the share of the time each event was counting.\n")
    w("\n")


_INTERVAL_HEADERS = {
    "global": "#           time             counts unit events",
    "cpu": "#           time CPU                    counts unit events",
    "core": "#           time core            cpus             counts unit events",
    "socket": "#           time socket cpus             counts unit events",
    "thread": "#           time             comm-pid                  counts unit events",
}


# ---------------------------------------------------------------------------
# stat: the command
# ---------------------------------------------------------------------------


def _parse_events(sa: StatArgs, cat: EventCatalog) -> tuple[list[EventGroup], dict[int, str]]:
    groups: list[EventGroup] = []
    filters: dict[int, str] = {}
    try:
        for arg in sa.events or [EventArg(DEFAULT_EVENTS)]:
            mine = cat.parse_list(arg.text)
            if arg.filter is not None:
                for g in mine:
                    for spec in g.events:
                        if not _is_tracepoint_spec(spec):
                            raise UsageError(
                                f"stat: --filter applies to tracepoints: {spec.name!r} "
                                f"(in -e {arg.text!r}) is not one")
                        filters[id(spec)] = arg.filter
            groups.extend(mine)
    except ValueError as err:  # EventSyntaxError, TracefsNotMounted
        raise UsageError(f"stat: {err}") from err
    return groups, filters


def _targets(sa: StatArgs) -> list[Target]:
    if sa.all_cpus:
        online = online_cpus()
        cpus = sa.cpus if sa.cpus is not None else online
        bad = [c for c in cpus if c not in online]
        if bad:
            raise UsageError(f"stat: CPU {bad[0]} is not online (online: "
                             f"{_cpu_ranges(online)})")
        return [(-1, c) for c in cpus]
    targets: list[Target] = []
    for pid in sa.pids:
        targets.extend((t, -1) for t in process_threads(pid))
    for tid in sa.tids:
        if not os.path.exists(f"/proc/{tid}"):
            raise Failure(f"no such thread: {tid}")
        targets.append((tid, -1))
    return list(dict.fromkeys(targets))


def cmd_stat(args: Sequence[str], out: TextIO, err_out: TextIO) -> int:
    sa = parse_stat_args(args)
    if sa is None:
        out.write(stat_parser().format_help())
        return 0
    cat = EventCatalog()
    groups, filters = _parse_events(sa, cat)
    dest: TextIO = err_out
    if sa.output is not None:
        try:
            dest = open(sa.output, "w", encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError as err:
            raise UsageError(f"stat: cannot write {sa.output!r}: {err.strerror}") from err
        dest.write(f"# started on {time.ctime()}\n\n")
    try:
        return _stat(sa, groups, filters, dest, err_out)
    finally:
        if dest is not err_out:
            dest.close()


def _stat(sa: StatArgs, groups: list[EventGroup], filters: dict[int, str], dest: TextIO,
          err_out: TextIO) -> int:
    status = 0
    runs: list[list[Row]] = []
    elapsed_runs: list[float] = []
    rusage = None
    interval_lines = 0
    said_user_only = False

    def tick(session: Session, state: list[Any]) -> Any:
        def on_tick(now: float) -> None:
            nonlocal interval_lines
            session.read()
            snap = session.snapshot()
            rows = stat_rows(session, now - state[1], sa.aggr, _delta(snap, state[0]))
            state[0], state[1] = snap, now
            if sa.sep is None and not sa.json and interval_lines % 25 == 0:
                dest.write(_INTERVAL_HEADERS[sa.aggr] + "\n")
            interval_lines += 1
            for line in format_rows(rows, sa.sep, sa.json, sa.aggr, interval=now):
                dest.write(line + "\n")
            dest.flush()
        return on_tick

    for _ in range(sa.repeat):
        notes: list[str] = []
        targets = _targets(sa)
        session = Session(copy.deepcopy(groups), targets,
                          enable_on_exec=bool(sa.command) and not sa.all_cpus,
                          inherit=sa.inherit,
                          filters={}, notes=notes)
        # the filters follow the copied specs
        for g_old, g_new in zip(groups, session.groups, strict=True):
            for s_old, s_new in zip(g_old.events, g_new.events, strict=True):
                if id(s_old) in filters:
                    session.filters[id(s_new)] = filters[id(s_old)]
        session.vanishing = {t for t, _cpu in targets if t not in sa.pids}
        state: list[Any] = [[[{} for _c in cs] for cs in session.counters], 0.0]
        on_tick = tick(session, state) if sa.interval_ms else None
        try:
            if sa.command:
                try:
                    status, elapsed, rusage = _run_command(
                        session, sa.command, sa.delay_ms, sa.interval_ms, on_tick,
                        sa.timeout_ms)
                except ExecFailed as err:
                    err_out.write(f"{PROG}: stat: cannot run {err.filename!r}: {err.strerror}\n")
                    return err.exit_status
                target = f"'{' '.join(sa.command)}'"
                if sa.all_cpus:
                    target = ("'system wide'" if sa.cpus is None
                              else f"'CPU(s) {_cpu_ranges(sa.cpus)}'")
            else:
                session.open()
                session.enable()
                elapsed = _wait(sa.pids + sa.tids, sa.timeout_ms, sa.interval_ms, on_tick)
                target = ("'system wide'" if sa.all_cpus and sa.cpus is None
                          else f"'CPU(s) {_cpu_ranges(sa.cpus or [])}'" if sa.all_cpus
                          else f"process id '{','.join(map(str, sa.pids))}'" if sa.pids
                          else f"thread id '{','.join(map(str, sa.tids))}'")
            session.disable()
            session.read()
            if notes:  # the kernel refused kernel mode: say so, with its reason, once
                if not said_user_only:
                    err_out.write(f"{PROG}: stat: counting user mode only "
                                  f"({', '.join(dict.fromkeys(notes[1:]))}): {notes[0]}\n")
                said_user_only = True
            if sa.interval_ms:
                on_tick_final = tick(session, state)
                if on_tick is not None:
                    on_tick_final(elapsed)
            else:
                runs.append(stat_rows(session, elapsed, sa.aggr))
                elapsed_runs.append(elapsed)
        finally:
            session.close()
    if sa.interval_ms:
        return status
    rows = runs[0] if sa.repeat == 1 else _mean_rows(runs)
    # Like perf, the counts go to stderr: the command's own stdout stays its own.
    # perf shows the command's user and system time for a single run of it alone
    shown_rusage = rusage if sa.repeat == 1 and not sa.all_cpus else None
    print_stat(rows, dest, sa.sep, target, elapsed_runs[-1], shown_rusage, sa.json, sa.aggr,
               elapsed_runs if sa.repeat > 1 else None)
    return status


# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    out = sys.stdout
    try:
        if not args:
            raise UsageError(f"give a command: list or stat (see: {PROG} --help)")
        cmd, rest = args[0], args[1:]
        if cmd in ("-h", "--help", "help"):
            out.write(USAGE)
            return 0
        if cmd == "list":
            return cmd_list(rest, out)
        if cmd == "stat":
            return cmd_stat(rest, out, sys.stderr)
        raise UsageError(f"unknown command {cmd!r} (commands: list, stat)")
    except UsageError as err:
        sys.stderr.write(f"{PROG}: {err}\n")
        return 2
    except Failure as err:
        sys.stderr.write(f"{PROG}: {err}\n")
        return 1
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
