"""``python -m perfsys``: a small ``perf list`` and ``perf stat`` on perfsys's public API.

    python -m perfsys list [PATTERN]
    python -m perfsys stat [-e EVENTS]... [-x SEP] [--timeout MS]
                           (-p PID[,PID...] | [--] COMMAND...)

Bad event names and bad command lines print one line on stderr and exit with status 2;
``stat`` of a command exits with the command's status (128 + N when signal N ended it).
"""

from __future__ import annotations

import errno
import os
import select
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import perfsys
from perfsys import constants
from perfsys.events import (
    EventCatalog,
    EventGroup,
    EventSpec,
    GenericEvent,
    TracefsNotMounted,
    cache_events,
    generic_events,
)

PROG = "perfsys"

USAGE = f"""\
usage: {PROG} list [PATTERN]
       {PROG} stat [-e EVENTS]... [-x SEP] [--timeout MS] (-p PID[,PID...] | [--] COMMAND [ARG...])

list   the PMUs this kernel has (type, format terms, aliases), the generic hardware,
       software and cache events, and the tracepoint subsystems; events this machine
       cannot open are marked. With PATTERN, only names containing it (tracepoints too).
stat   count events for a command (enabled at its exec) or for running processes
       (until they exit, Ctrl-C, or --timeout milliseconds).
  -e, --event EVENTS          comma-separated events, {{a,b}} for a group (repeatable)
  -x, --field-separator SEP   CSV output: value,unit,event,running_ns,running%,metric,metric_unit
  -p, --pid PID[,PID...]      count existing processes instead of starting a command
      --timeout MS            stop counting after MS milliseconds
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
    for a in args:
        if a in ("-h", "--help"):
            out.write(USAGE)
            return 0
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
        if pattern is None:
            w(f"  {sub:<32} {len(names)} tracepoint{'s' if len(names) != 1 else ''}\n")
        else:
            for n in names:
                if wanted(f"{sub}:{n}"):
                    w(f"  {sub}:{n}\n")
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
# stat
# ---------------------------------------------------------------------------


@dataclass
class StatArgs:
    events: list[str] = field(default_factory=list)
    sep: str | None = None
    pids: list[int] = field(default_factory=list)
    timeout_ms: int | None = None
    command: list[str] = field(default_factory=list)


def parse_stat_args(args: Sequence[str]) -> StatArgs | None:
    """Parse ``stat``'s command line; None means help was asked for."""
    sa = StatArgs()
    i = 0
    args = list(args)

    def value(opt: str) -> str:
        nonlocal i
        if i + 1 >= len(args):
            raise UsageError(f"stat: option {opt} needs a value")
        i += 1
        return args[i]

    while i < len(args):
        a = args[i]
        if a == "--":
            sa.command = args[i + 1 :]
            break
        if a in ("-h", "--help"):
            return None
        if a in ("-e", "--event"):
            sa.events.append(value(a))
        elif a.startswith("--event="):
            sa.events.append(a.partition("=")[2])
        elif a.startswith("-e"):
            sa.events.append(a[2:])
        elif a in ("-x", "--field-separator"):
            sa.sep = value(a)
        elif a.startswith("--field-separator="):
            sa.sep = a.partition("=")[2]
        elif a.startswith("-x"):
            sa.sep = a[2:]
        elif a in ("-p", "--pid") or a.startswith(("-p", "--pid=")):
            text = value(a) if a in ("-p", "--pid") else a.partition("=")[2] if "=" in a else a[2:]
            for p in text.split(","):
                if not p.strip().isdigit() or int(p) <= 0:
                    raise UsageError(f"stat: bad process id {p!r}")
                sa.pids.append(int(p))
        elif a == "--timeout" or a.startswith("--timeout="):
            text = value(a) if a == "--timeout" else a.partition("=")[2]
            if not text.isdigit() or int(text) <= 0:
                raise UsageError(
                    f"stat: --timeout takes a positive number of milliseconds, not {text!r}"
                )
            sa.timeout_ms = int(text)
        elif a.startswith("-") and a != "-":
            raise UsageError(f"stat: unknown option {a!r} (see: {PROG} stat --help)")
        else:
            sa.command = args[i:]
            break
        i += 1
    if sa.sep == "":
        raise UsageError("stat: the field separator may not be empty")
    if sa.pids and sa.command:
        raise UsageError("stat: give either -p PID or a COMMAND, not both")
    if not sa.pids and not sa.command:
        raise UsageError("stat: nothing to count: give a COMMAND (after --) or -p PID")
    if any(not e.strip() for e in sa.events):
        raise UsageError("stat: empty event list")
    return sa


@dataclass
class Counter:
    """One event of one group, over all the targets it was opened on."""

    spec: EventSpec
    fds: list[int] = field(default_factory=list)
    unsupported: str | None = None
    value: int = 0
    enabled: int = 0
    running: int = 0


def _read_format(group: bool) -> int:
    f = constants.PERF_FORMAT_TOTAL_TIME_ENABLED | constants.PERF_FORMAT_TOTAL_TIME_RUNNING
    return f | constants.PERF_FORMAT_GROUP if group else f


def _open(attr: Any, pid: int, cpu: int, group_fd: int) -> int:
    return perfsys.perf_event_open(attr, pid, cpu, group_fd, 0)


def _ioctl(name: str, fd: int, flags: int) -> None:
    getattr(perfsys.ioctls, name)(fd, flags)


class Session:
    """Counters for groups of events on a list of (pid, cpu) targets."""

    def __init__(self, groups: list[EventGroup], targets: list[tuple[int, int]],
                 enable_on_exec: bool) -> None:
        self.groups = groups
        self.targets = targets
        self.enable_on_exec = enable_on_exec
        self.counters: list[list[Counter]] = [[Counter(s) for s in g.events] for g in groups]
        # one per read: (fd, read as a group?, [counters in read order])
        self.reads: list[tuple[int, bool, list[Counter]]] = []
        self.cpu_wide: list[int] = []  # leaders opened with pid -1: no enable_on_exec for them

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

    def _open_group(self, group: EventGroup, counters: list[Counter], pid: int, cpu: int) -> None:
        leader = -1
        members: list[Counter] = []
        braced = group.braced and len(group.events) > 1
        group_read = braced  # read the group in one call through its leader
        for c in counters:
            if c.unsupported:
                continue
            is_leader = leader < 0
            fields: dict[str, int] = {
                "read_format": _read_format(group_read and is_leader),
                "inherit": 1 if pid > 0 else 0,
                "disabled": 1 if is_leader else 0,
            }
            if self.enable_on_exec and is_leader and pid > 0:
                fields["enable_on_exec"] = 1
            try:
                try:
                    fd = _open(c.spec.attr(**fields), pid, cpu, leader)
                except OSError as err:
                    # Kernels before 6.x refuse PERF_FORMAT_GROUP with inherit: then the
                    # group is still opened as one, and each member read on its own.
                    if not (err.errno == errno.EINVAL and group_read and is_leader):
                        raise
                    group_read = False
                    fields["read_format"] = _read_format(False)
                    fd = _open(c.spec.attr(**fields), pid, cpu, leader)
            except OSError as err:
                if err.errno in NOT_SUPPORTED:
                    c.unsupported = errno.errorcode.get(err.errno or 0, "?")
                    continue
                what = f"{c.spec.name}: {os.strerror(err.errno or 0)}"
                if err.errno in (errno.EACCES, errno.EPERM):
                    what += " (see /proc/sys/kernel/perf_event_paranoid)"
                if err.errno == errno.ESRCH:
                    what = f"no such process: {pid}"
                raise Failure(what) from err
            c.fds.append(fd)
            if is_leader:
                if pid == -1:
                    self.cpu_wide.append(fd)
                if braced:
                    leader = fd
            members.append(c)
            if not group_read:  # read each event through its own fd
                self.reads.append((fd, False, [c]))
        if group_read and leader >= 0:
            self.reads.append((leader, True, members))

    def enable(self, cpu_wide_only: bool = False) -> None:
        leaders = self.cpu_wide if cpu_wide_only else [fd for fd, _g, _m in self.reads]
        for fd in leaders:
            _ioctl("ENABLE", fd, constants.PERF_IOC_FLAG_GROUP)

    def disable(self) -> None:
        for leader, _g, _m in self.reads:
            _ioctl("DISABLE", leader, constants.PERF_IOC_FLAG_GROUP)

    def read(self) -> None:
        """Add each target's counts into the counters (call once, after disable)."""
        read = perfsys.read
        for fd, as_group, members in self.reads:
            r = read(fd, _read_format(as_group))
            if isinstance(r, perfsys.GroupValues):
                if len(r.values) != len(members):
                    raise Failure(f"group read returned {len(r.values)} values for "
                                  f"{len(members)} events")
                for c, m in zip(members, r.values, strict=True):
                    c.value += m.value
                    c.enabled += r.time_enabled or 0
                    c.running += r.time_running or 0
            else:
                (c,) = members
                c.value += r.value
                c.enabled += r.time_enabled or 0
                c.running += r.time_running or 0

    def close(self) -> None:
        for counters in self.counters:
            for c in counters:
                for fd in c.fds:
                    os.close(fd)
                c.fds.clear()


def _run_command(session: Session, command: list[str]) -> tuple[int, float, Any]:
    """Start ``command`` stopped before exec, open the counters on it, let it exec, wait.

    The child waits on a pipe until the counters exist (opened on its pid, with
    enable_on_exec and inherit), so counting starts exactly at its exec. A second pipe,
    closed by a successful exec, carries errno back when exec fails.
    """
    go_r, go_w = os.pipe()
    err_r, err_w = os.pipe()  # both close-on-exec: exec closes err_w, the parent sees EOF
    pid = os.fork()
    if pid == 0:  # the child: no Python-level cleanup, ever
        try:
            os.close(go_w)
            os.close(err_r)
            os.read(go_r, 1)
            os.execvp(command[0], command)
        except OSError as err:
            os.write(err_w, str(err.errno or 0).encode())
        finally:
            os._exit(127)
    os.close(go_r)
    os.close(err_w)
    try:
        session.targets = [(pid, -1)]
        session.open()
    except BaseException:
        os.close(go_w)
        os.close(err_r)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    # Events of PMUs with a cpumask count whole CPUs: enable_on_exec does not reach them.
    session.enable(cpu_wide_only=True)
    # Ctrl-C is for the command: ignored here from before it can start, so a Ctrl-C
    # that arrives as soon as it runs cannot end perfsys before the counts are printed.
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        started = time.perf_counter()
        os.write(go_w, b"g")
        os.close(go_w)
        with os.fdopen(err_r, "rb") as f:
            failed = f.read()
        _, status, rusage = os.wait4(pid, 0)
    finally:
        signal.signal(signal.SIGINT, old)
    elapsed = time.perf_counter() - started
    if failed:
        code = int(failed or b"0")
        session.close()
        raise ExecFailed(command[0], code)
    code = os.waitstatus_to_exitcode(status)
    return (128 - code if code < 0 else code), elapsed, rusage


class ExecFailed(Exception):
    def __init__(self, program: str, err: int) -> None:
        super().__init__(f"cannot run {program!r}: {os.strerror(err)}")
        self.status = 127 if err == errno.ENOENT else 126


def _watch_pids(pids: list[int], timeout_ms: int | None) -> float:
    """Wait until every pid has exited, Ctrl-C, or the timeout; returns seconds counted."""
    fds: list[int] = []
    started = time.perf_counter()
    try:
        for p in pids:
            try:
                fds.append(os.pidfd_open(p))
            except ProcessLookupError:
                raise Failure(f"no such process: {p}") from None
        deadline = None if timeout_ms is None else started + timeout_ms / 1000
        try:
            while fds:
                left = None if deadline is None else max(0.0, deadline - time.perf_counter())
                ready, _, _ = select.select(fds, [], [], left)
                if not ready:
                    break
                for fd in ready:
                    fds.remove(fd)
                    os.close(fd)
        except KeyboardInterrupt:
            pass
    finally:
        for fd in fds:
            os.close(fd)
    return time.perf_counter() - started


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
    value: str
    unit: str
    name: str
    running: int
    percent: float
    metric: float | None = None
    metric_unit: str = ""


def stat_rows(session: Session, elapsed: float) -> list[Row]:
    rows: list[Row] = []
    task_ns: float | None = None
    for counters in session.counters:
        for c in counters:
            if (c.spec.type, c.spec.config) == (constants.PERF_TYPE_SOFTWARE,
                                                 constants.PERF_COUNT_SW_TASK_CLOCK) \
                    and c.running:
                task_ns = c.value * (c.enabled / c.running)
    for counters in session.counters:
        for c in counters:
            name = c.spec.name
            if c.unsupported or not c.fds:
                rows.append(Row("<not supported>", "", name, 0, 100.0))
                continue
            if c.running == 0:
                rows.append(Row("<not counted>", "", name, 0, 0.0))
                continue
            scaled = c.value * (c.enabled / c.running) if c.running < c.enabled else float(c.value)
            pct = 100.0 * c.running / c.enabled if c.enabled else 100.0
            if (c.spec.type, c.spec.config) in _CLOCKS:
                msec = scaled / 1e6
                rows.append(Row(f"{msec:.2f}", "msec", name, c.running, pct,
                                (scaled / 1e9) / elapsed if elapsed > 0 else 0.0,
                                "CPUs utilized"))
                continue
            scaled *= c.spec.scale
            text = f"{scaled:.2f}" if c.spec.scale != 1.0 else f"{round(scaled)}"
            row = Row(text, c.spec.unit, name, c.running, pct)
            if task_ns and c.spec.type == constants.PERF_TYPE_SOFTWARE and not c.spec.unit:
                row.metric, row.metric_unit = _rate(scaled, task_ns / 1e9)
            rows.append(row)
    return rows


def print_stat(rows: list[Row], out: TextIO, sep: str | None, target: str, elapsed: float,
               rusage: Any) -> None:
    w = out.write
    if sep is not None:
        for r in rows:
            metric = "" if r.metric is None else f"{r.metric:.3f}"
            fields = [r.value, r.unit, r.name, str(r.running), f"{r.percent:.2f}", metric,
                      r.metric_unit]
            w(sep.join(fields) + "\n")
        return
    w(f"\n Performance counter stats for {target}:\n\n")
    multiplexed = False
    for r in rows:
        line = f"{r.value:>18} {r.unit:<5}{r.name:<33}"
        if r.metric is not None:
            line += f"# {r.metric:8.3f} {r.metric_unit:<23}"
        if r.value[0] != "<" and r.percent < 100.0:
            line = f"{line:<91}  ({r.percent:.2f}%)"
            multiplexed = True
        w(line.rstrip() + "\n")
    w(f"\n{elapsed:>18.9f} seconds time elapsed\n")
    if rusage is not None:
        w(f"\n{rusage.ru_utime:>18.9f} seconds user\n{rusage.ru_stime:>18.9f} seconds sys\n")
    if multiplexed:
        w("\n Some events were multiplexed: counts are scaled by time enabled / time running;"
          "\n the percentage is the share of the time each event was counting.\n")
    w("\n")


def cmd_stat(args: Sequence[str], out: TextIO, err_out: TextIO) -> int:
    sa = parse_stat_args(args)
    if sa is None:
        out.write(USAGE)
        return 0
    cat = EventCatalog()
    groups: list[EventGroup] = []
    try:
        for text in sa.events or [DEFAULT_EVENTS]:
            groups.extend(cat.parse_list(text))
    except (ValueError, TracefsNotMounted) as err:
        raise UsageError(f"stat: {err}") from err
    session = Session(groups, [(p, -1) for p in sa.pids], enable_on_exec=bool(sa.command))
    rusage = None
    status = 0
    try:
        if sa.command:
            try:
                status, elapsed, rusage = _run_command(session, sa.command)
            except ExecFailed as err:
                sys.stderr.write(f"{PROG}: stat: {err}\n")
                return err.status
            target = f"'{' '.join(sa.command)}'"
        else:
            session.open()
            session.enable()
            elapsed = _watch_pids(sa.pids, sa.timeout_ms)
            target = f"process id '{','.join(map(str, sa.pids))}'"
        session.disable()
        session.read()
        # Like perf, the counts go to stderr: the command's own stdout stays its own.
        print_stat(stat_rows(session, elapsed), err_out, sa.sep, target, elapsed, rusage)
    finally:
        session.close()
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
