"""Counting groups: a set of events counted together on a thread, a process or CPUs.

::

    from perfsys.group import Group

    with Group("task-clock,page-faults,context-switches") as g:   # this thread
        g.enable()
        work()
        g.disable()
        print(g.read().values)    # {'task-clock': 1234567.0, 'page-faults': 12.0, ...}

A :class:`Group` opens its events as one kernel group per target (a thread, every thread
of a process, or a CPU), each leader with ``PERF_FORMAT_GROUP`` so that one ``read(2)``
gives every member over the same interval. Values are scaled by ``time_enabled /
time_running`` per target when the kernel multiplexed the group, then summed over the
targets, and keyed by event name.

Two kernel traps cannot be reached through it:

* ``ENABLE``/``DISABLE`` with ``PERF_IOC_FLAG_GROUP`` toggles the leader and then each
  member one by one; with some leaders (task-clock, page-faults and other software
  events) the members miss most of what happens while they are toggled, up to all of
  it. A Group opens its members enabled and its leader disabled, and toggles the leader
  alone: the members follow it within the kernel's single group schedule.
* ``RESET`` zeroes the counts but leaves ``time_enabled`` and ``time_running`` running
  on, so scaled values after it are wrong. :meth:`Group.reset` issues no ``RESET``: it
  takes a reading as the new zero, and later readings are differences from it, times
  included.

Everything here is built on ``perfsys.perf_event_open``, ``perfsys.ioctls`` and
``perfsys.read``, so a user could do it by hand.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, TypeAlias

import perfsys
from perfsys import constants as C

if TYPE_CHECKING:
    from perfsys.constants import perf_event_attr
    from perfsys.events import EventSpec

    EventLike: TypeAlias = str | EventSpec | perf_event_attr
    Events: TypeAlias = str | Sequence[str | EventSpec] | Mapping[str, EventLike]

__all__ = ["Group", "Reading", "events_by_name", "iter_threads", "process_threads"]


# read_format of every event of a Group
_READ_FORMAT = (C.PERF_FORMAT_GROUP | C.PERF_FORMAT_TOTAL_TIME_ENABLED
                | C.PERF_FORMAT_TOTAL_TIME_RUNNING)


def events_by_name(events: Events) -> dict[str, perf_event_attr]:
    """Turn a Group's ``events`` argument into fresh attrs by name, in order.

    ``events`` is a perf event list (``"task-clock,page-faults:u"``; braces are
    refused, since the whole list is one group), a sequence of names or
    ``perfsys.events.EventSpec``\\ s, or a mapping of names to attrs, names or specs.
    """
    from perfsys.events import EventSpec, parse_event, parse_events

    named: dict[str, perf_event_attr] = {}

    def add(name: str, attr: perf_event_attr) -> None:
        if name in named:
            raise ValueError(f"event {name!r} appears twice in the group: give the "
                             "events distinct names (pass a mapping of names to events)")
        named[name] = attr

    if isinstance(events, str):
        groups = parse_events(events)
        if any(g.braced for g in groups):
            raise ValueError(f"{events!r}: a Group is one group already; list its events "
                             "without braces")
        for g in groups:
            for spec in g.events:
                add(spec.name, spec.attr())
    elif isinstance(events, Mapping):
        for name, ev in events.items():
            if not isinstance(name, str):
                raise TypeError(f"event names must be str, not {type(name).__name__}")
            if isinstance(ev, str):
                add(name, parse_event(ev).attr())
            elif isinstance(ev, EventSpec):
                add(name, ev.attr())
            elif isinstance(ev, C.perf_event_attr):
                add(name, C.perf_event_attr.from_buffer_copy(ev))
            else:
                raise TypeError(f"event {name!r} must be a str, an EventSpec or a "
                                f"perf_event_attr, not {type(ev).__name__}")
    elif isinstance(events, Sequence):
        for ev in events:
            if isinstance(ev, str):
                spec = parse_event(ev)
            elif isinstance(ev, EventSpec):
                spec = ev
            else:
                raise TypeError("a sequence of events holds names or EventSpecs, not "
                                f"{type(ev).__name__} (name attrs with a mapping)")
            add(spec.name, spec.attr())
    else:
        raise TypeError(f"events must be a str, a sequence or a mapping, not "
                        f"{type(events).__name__}")
    if not named:
        raise ValueError("a Group needs at least one event")
    return named


def process_threads(pid: int) -> list[int]:
    """The thread ids of process ``pid`` now (``/proc/PID/task``), sorted."""
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        raise ProcessLookupError(errno.ESRCH, f"no process {pid}") from None


def iter_threads(pid: int) -> Iterator[int]:
    """Each thread of process ``pid`` once, listing ``/proc/PID/task`` again until no
    thread is new: threads started while the caller handles earlier ones come too."""
    done: set[int] = set()
    while True:
        todo = [t for t in process_threads(pid) if t not in done]
        if not todo:
            return
        for tid in todo:
            done.add(tid)
            yield tid


@dataclass(frozen=True)
class Reading:
    """One read of a Group: per target, ``(time_enabled, time_running, counts)``.

    ``reading[name]`` (and :attr:`values`) is the event's count scaled per target by
    ``time_enabled / time_running`` and summed over the targets; ``raw`` holds the
    unscaled sums. ``later - earlier`` is the reading of the interval between two reads
    of the same Group (counts and times both differ), which is how deltas are taken.
    """

    names: tuple[str, ...]
    targets: tuple[tuple[int, int, tuple[int, ...]], ...]

    @property
    def values(self) -> dict[str, float]:
        out = dict.fromkeys(self.names, 0.0)
        for enabled, running, counts in self.targets:
            for name, count in zip(self.names, counts, strict=True):
                if running:
                    out[name] += count * enabled / running if running != enabled else count
        return out

    @property
    def raw(self) -> dict[str, int]:
        out = dict.fromkeys(self.names, 0)
        for _e, _r, counts in self.targets:
            for name, count in zip(self.names, counts, strict=True):
                out[name] += count
        return out

    @property
    def time_enabled(self) -> int:
        """Nanoseconds enabled, summed over the targets."""
        return sum(t[0] for t in self.targets)

    @property
    def time_running(self) -> int:
        """Nanoseconds on the PMU, summed over the targets."""
        return sum(t[1] for t in self.targets)

    @property
    def running_fraction(self) -> float | None:
        """``time_running / time_enabled`` (1.0 when never multiplexed); ``None`` if never
        enabled."""
        e = self.time_enabled
        return self.time_running / e if e else None

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __sub__(self, other: Reading) -> Reading:
        if not isinstance(other, Reading):
            return NotImplemented
        if other.names != self.names or len(other.targets) != len(self.targets):
            raise ValueError("readings of different groups cannot be subtracted")
        return Reading(self.names, tuple(
            (a[0] - b[0], a[1] - b[1], tuple(x - y for x, y in zip(a[2], b[2], strict=True)))
            for a, b in zip(self.targets, other.targets, strict=True)))

    def __repr__(self) -> str:
        vals = ", ".join(f"{n}={v:.6g}" for n, v in self.values.items())
        return f"<Reading {vals} running={self.running_fraction}>"


class Group:
    """A set of events opened as one kernel group on each target, read together.

    Targets: by default the calling thread; ``pid=TID`` another thread (0: the caller);
    ``process=PID`` every thread of a process, the ones it starts later included (one
    group per existing thread, each with ``inherit``; threads started while the groups
    are being opened are found by listing ``/proc/PID/task`` again until it is stable);
    ``cpus=[...]`` those CPUs whole (``pid=-1``), or with ``pid``/``process`` as well,
    that task on those CPUs only. ``inherit=True`` also follows the children of the
    targets. ``enable_on_exec=True`` starts counting at the target's next exec
    (see ``perfsys.launch.PausedCommand``); otherwise the group starts disabled.

    ``fields`` sets more attr fields on every event (``exclude_kernel=1``, ...).
    ``disabled``, ``read_format``, ``inherit`` and ``enable_on_exec`` are the Group's to
    set. The file descriptors are close-on-exec and closed by :meth:`close`.
    """

    def __init__(self, events: Events, *, pid: int | None = None, process: int | None = None,
                 cpus: Sequence[int] | None = None, inherit: bool = False,
                 enable_on_exec: bool = False, **fields: int) -> None:
        for f in ("disabled", "read_format", "inherit", "enable_on_exec"):
            if f in fields:
                raise ValueError(f"{f} is set by the Group itself")
        if pid is not None and process is not None:
            raise ValueError("give pid (one thread) or process (all of its threads), not both")
        if cpus is not None:
            cpus = [int(c) for c in cpus]
            if not cpus or any(c < 0 for c in cpus):
                raise ValueError("cpus must be a non-empty list of CPU numbers >= 0")
        self._attrs = events_by_name(events)
        self.names: tuple[str, ...] = tuple(self._attrs)
        self._fds: list[list[int]] = []      # per target: leader first
        self._lock = threading.Lock()         # held by every use of the fds, and by close
        self._baseline: Reading | None = None
        for attr in self._attrs.values():
            for f, v in fields.items():
                if not hasattr(attr, f):
                    raise ValueError(f"perf_event_attr has no field {f!r}")
                setattr(attr, f, v)
            attr.read_format = _READ_FORMAT
            attr.inherit = int(inherit or process is not None)
            attr.disabled = 0
            attr.enable_on_exec = 0
        leader = self._attrs[self.names[0]]
        leader.disabled = 1
        leader.enable_on_exec = int(enable_on_exec)
        try:
            if process is not None:
                self._open_process(process, cpus)
            else:
                tid = 0 if pid is None and cpus is None else (-1 if pid is None else pid)
                for cpu in cpus if cpus is not None else [-1]:
                    self._open_one(tid, cpu)
        except BaseException:
            self.close()
            raise

    def _open_one(self, pid: int, cpu: int) -> None:
        fds: list[int] = []
        self._fds.append(fds)
        for name, attr in self._attrs.items():
            try:
                fd = perfsys.perf_event_open(attr, pid, cpu, fds[0] if fds else -1,
                                                   C.PERF_FLAG_FD_CLOEXEC)
            except OSError as err:
                err.add_note(f"opening {name!r} (pid {pid}, cpu {cpu}) in a Group")
                raise
            fds.append(fd)

    def _open_process(self, process: int, cpus: list[int] | None) -> None:
        for tid in iter_threads(process):
            for cpu in cpus if cpus is not None else [-1]:
                try:
                    self._open_one(tid, cpu)
                except ProcessLookupError:  # the thread ended meanwhile
                    for fd in self._fds.pop():
                        os.close(fd)
                    break

    @property
    def closed(self) -> bool:
        return not self._fds

    def fds(self) -> list[list[int]]:
        """The file descriptors, one list per target, leader first (still the Group's)."""
        with self._lock:
            self._check()
            return [list(f) for f in self._fds]

    def _check(self) -> None:
        if not self._fds:
            raise ValueError("I/O operation on closed Group")

    def enable(self) -> None:
        """Start counting: ``ENABLE`` on each leader, without ``PERF_IOC_FLAG_GROUP``."""
        with self._lock:
            self._check()
            for fds in self._fds:
                perfsys.ioctls.ENABLE(fds[0])

    def disable(self) -> None:
        """Stop counting: ``DISABLE`` on each leader, without ``PERF_IOC_FLAG_GROUP``."""
        with self._lock:
            self._check()
            for fds in self._fds:
                perfsys.ioctls.DISABLE(fds[0])

    def read_raw(self) -> Reading:
        """The counts and times since the group was opened (ignores :meth:`reset`)."""
        targets = []
        with self._lock:
            self._check()
            for fds in self._fds:
                g = perfsys.read(fds[0], _READ_FORMAT)
                assert isinstance(g, perfsys.GroupValues)
                targets.append((g.time_enabled or 0, g.time_running or 0,
                                tuple(m.value for m in g.values)))
        return Reading(self.names, tuple(targets))

    def read(self) -> Reading:
        """The counts and times since the last :meth:`reset` (or the open)."""
        r = self.read_raw()
        return r - self._baseline if self._baseline is not None else r

    def reset(self) -> None:
        """Make now the zero of later reads, counts and times alike (no ``RESET`` ioctl,
        which would zero the counts but not the times)."""
        self._baseline = self.read_raw()

    def close(self) -> None:
        """Close every file descriptor (idempotent; waits for a call using them in
        another thread)."""
        with self._lock:
            while self._fds:
                for fd in reversed(self._fds.pop()):
                    os.close(fd)

    def __enter__(self) -> Group:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{len(self._fds)} target(s)"
        return f"<Group {','.join(self.names)} {state}>"
