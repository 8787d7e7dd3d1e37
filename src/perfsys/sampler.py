"""Sampling a whole process (or whole CPUs): many rings, polled together, merged in time order.

::

    from perfsys.sampler import Sampler

    with Sampler("cpu-clock", process=pid, freq=999) as s:   # every thread, new ones too
        s.start()
        for rec in s:                  # until the process exits (or s.stop())
            print(rec.time, rec.tid, hex(rec.ip))

One event per (thread, CPU) with ``inherit``: the threads the process has when the
Sampler opens (listed from ``/proc/PID/task`` until the list is stable) and, through
``inherit``, every thread and child they start later. The kernel maps no ring for an
``inherit`` event opened on a task for all CPUs, so the events are per CPU: one
``RingBuffer`` per CPU, and the CPU's other events send their records into it with
``PERF_EVENT_IOC_SET_OUTPUT``. ``per_thread=True`` opens one event and one ring per
existing thread instead (no ``inherit``, so later threads are not followed; it does not
need a CPU list). ``cpus=[...]`` without a process samples those CPUs whole (``pid=-1``).

The rings are polled together with ``select.epoll``. Every record carries a time
(``PERF_SAMPLE_TIME`` and ``sample_id_all`` are forced on), and records are handed out
in time order across the rings by perf's own rule: a round drains every ring, and
records no later than the newest time seen in the round before are released; the rest
wait for the next round, or for :meth:`Sampler.stop`, which drains what is left.

Latency: the kernel wakes the reader when a ring is half full (``wakeup_watermark``),
and the reader polls at most ``latency / 2`` seconds between rounds, so a record is
handed out at most about ``latency`` seconds after the kernel wrote it however slowly
the event fires.
"""

from __future__ import annotations

import heapq
import os
import select
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, TypeAlias

import perfsys
from perfsys import constants as C
from perfsys.group import iter_threads

if TYPE_CHECKING:
    from perfsys._perfsys import Record
    from perfsys.constants import perf_event_attr
    from perfsys.events import EventSpec

    EventLike: TypeAlias = str | EventSpec | perf_event_attr

__all__ = ["Sampler", "online_cpus", "record_time"]


def online_cpus() -> list[int]:
    """The CPUs online now (``/sys/devices/system/cpu/online``)."""
    from perfsys.events import _parse_cpu_list

    with open("/sys/devices/system/cpu/online") as f:
        return list(_parse_cpu_list(f.read()))


def record_time(rec: Record) -> int:
    """A record's time: a sample's ``time``, another record's ``sample_time``; 0 if none."""
    t = getattr(rec, "sample_time", None)
    if t is None:
        t = getattr(rec, "time", None)
    return t or 0


def _attr_of(event: EventLike) -> perf_event_attr:
    from perfsys.events import EventSpec, parse_event

    if isinstance(event, str):
        return parse_event(event).attr()
    if isinstance(event, EventSpec):
        return event.attr()
    if isinstance(event, C.perf_event_attr):
        return C.perf_event_attr.from_buffer_copy(event)
    raise TypeError(f"event must be a str, an EventSpec or a perf_event_attr, not "
                    f"{type(event).__name__}")


class Sampler:
    """Samples one event on a process's threads (or on CPUs) into rings read as one stream.

    ``event``: a perf event name, ``EventSpec`` or ``perf_event_attr`` (copied).
    ``period`` or ``freq`` sets its sampling rate unless the attr has one already.
    ``sample_type`` (default ``IP | TID | TIME``) gets ``TIME`` added; ``fields`` sets
    more attr fields (``exclude_kernel=1``, ``sample_regs_user=...``, ``mmap=1``, ...).
    ``pages`` is each ring's data size in pages (a power of two). ``enable_on_exec``
    starts sampling at the target's exec (``perfsys.launch.PausedCommand``); otherwise
    call :meth:`start`.
    """

    def __init__(self, event: EventLike = "cpu-clock", *, process: int | None = None,
                 cpus: Sequence[int] | None = None, per_thread: bool = False,
                 period: int | None = None, freq: int | None = None,
                 sample_type: int = C.PERF_SAMPLE_IP | C.PERF_SAMPLE_TID | C.PERF_SAMPLE_TIME,
                 pages: int = 64, latency: float = 0.1, enable_on_exec: bool = False,
                 **fields: int) -> None:
        if process is None and cpus is None:
            raise ValueError("give process=PID (its threads) and/or cpus=[...] (whole CPUs)")
        if per_thread and (process is None or cpus is not None):
            raise ValueError("per_thread=True samples each thread of process=PID on every "
                             "CPU; it takes no cpus")
        if not latency > 0:
            raise ValueError(f"latency must be a positive number of seconds, not {latency!r}")
        if pages <= 0 or pages & (pages - 1):
            raise ValueError(f"pages must be a power of two, not {pages}")
        if period is not None and freq is not None:
            raise ValueError("give period or freq, not both")
        for what, rate in (("period", period), ("freq", freq)):
            if rate is not None and (not isinstance(rate, int) or rate <= 0):
                raise ValueError(f"{what} must be a positive int, not {rate!r}")
        if cpus is not None:
            cpus = [int(c) for c in cpus]
            if not cpus or any(c < 0 for c in cpus):
                raise ValueError("cpus must be a non-empty list of CPU numbers >= 0")
        for f in ("disabled", "inherit", "enable_on_exec", "sample_id_all", "watermark",
                  "wakeup_watermark", "wakeup_events"):
            if f in fields:
                raise ValueError(f"{f} is set by the Sampler itself")
        attr = _attr_of(event)
        for f, v in fields.items():
            if not hasattr(attr, f):
                raise ValueError(f"perf_event_attr has no field {f!r}")
            setattr(attr, f, v)
        if freq is not None:
            attr.freq, attr.sample_freq = 1, freq
        elif period is not None:
            attr.freq, attr.sample_period = 0, period
        elif attr.sample_period == 0:
            raise ValueError("a sampling event needs period= or freq= (or an attr that has "
                             "one)")
        attr.sample_type = sample_type | C.PERF_SAMPLE_TIME
        attr.sample_id_all = 1
        attr.disabled = 1
        attr.enable_on_exec = int(enable_on_exec)
        attr.watermark = 1
        attr.wakeup_watermark = pages * os.sysconf("SC_PAGE_SIZE") // 2
        attr.inherit = int(process is not None and not per_thread)
        self.attr: perf_event_attr = attr
        self.decoder = perfsys.Decoder(attr)
        self.process = process
        self.latency = latency
        self._pages = pages
        self._fds: list[int] = []
        self._rings: dict[int, perfsys.RingBuffer] = {}   # by ring fd
        self._by_cpu: dict[int, int] = {}                 # cpu -> ring fd (per-CPU mode)
        self._epoll = select.epoll()
        self._lock = threading.RLock()   # held by every use of the rings and fds, and by close
        # close() from another thread wakes a round waiting in epoll through this eventfd
        self._wake_lock = threading.Lock()
        self._wake = os.eventfd(0, os.EFD_CLOEXEC)
        self._epoll.register(self._wake, select.EPOLLIN)
        self._pidfd = -1
        self._pending: list[tuple[int, int, Record]] = []
        self._seq = 0
        self._last_round_max = 0
        self.exited = False
        """True once the sampled process has exited (its records are all drained)."""
        try:
            if process is not None:
                self._pidfd = os.pidfd_open(process)
                self._epoll.register(self._pidfd, select.EPOLLIN)
                self._open_threads(process, None if per_thread else
                                   (list(cpus) if cpus is not None else online_cpus()))
            else:
                assert cpus is not None
                for cpu in cpus:
                    self._open(-1, cpu)
        except BaseException:
            self.close()
            raise

    # -- opening --

    def _open(self, pid: int, cpu: int) -> None:
        fd = perfsys.perf_event_open(self.attr, pid, cpu, -1, C.PERF_FLAG_FD_CLOEXEC)
        self._fds.append(fd)
        if cpu >= 0 and cpu in self._by_cpu:
            perfsys.ioctls.SET_OUTPUT(fd, self._by_cpu[cpu])
            return
        ring = perfsys.RingBuffer(fd, self._pages)
        self._rings[ring.fileno()] = ring
        self._epoll.register(ring.fileno(), select.EPOLLIN)
        if cpu >= 0:
            self._by_cpu[cpu] = fd

    def _open_threads(self, process: int, cpus: list[int] | None) -> None:
        for tid in iter_threads(process):
            try:
                for cpu in cpus if cpus is not None else [-1]:
                    self._open(tid, cpu)
            except ProcessLookupError:  # the thread ended meanwhile
                continue

    # -- running --

    def _check(self) -> None:
        if self._epoll.closed:
            raise ValueError("I/O operation on closed Sampler")

    def start(self) -> None:
        """Enable every event."""
        with self._lock:
            self._check()
            for fd in self._fds:
                perfsys.ioctls.ENABLE(fd)

    def _drain(self) -> int:
        """Move every ring's records to the pending heap; the newest time seen."""
        newest = 0
        for ring in self._rings.values():
            for rec in ring.read(decoder=self.decoder):
                t = record_time(rec)
                newest = max(newest, t)
                self._seq += 1
                heapq.heappush(self._pending, (t, self._seq, rec))
        return newest

    def _release(self, limit: int | None) -> list[Record]:
        out: list[Record] = []
        pending = self._pending
        while pending and (limit is None or pending[0][0] <= limit):
            out.append(heapq.heappop(pending)[2])
        return out

    def poll(self, timeout: float | None = None) -> list[Record]:
        """One round: wait up to ``timeout`` seconds (default ``latency / 2``) for a ring
        to wake, drain every ring, and return the records now safe to hand out, oldest
        first. Once the process has exited, everything left is returned and
        :attr:`exited` is set."""
        wait = self.latency / 2 if timeout is None else timeout
        if wait < 0:
            raise ValueError("timeout must be >= 0")
        with self._lock:
            self._check()
            if self.exited:
                return self._release(None)
            events = self._epoll.poll(wait)
            if any(fd == self._pidfd for fd, _ in events):
                self.exited = True
                self._drain()
                return self._release(None)
            newest = self._drain()
            out = self._release(self._last_round_max)
            self._last_round_max = max(self._last_round_max, newest)
            return out

    def __iter__(self) -> Iterator[Record]:
        """Records in time order until the process exits or :meth:`stop` is called."""
        while not self._epoll.closed and not self.exited:
            yield from self.poll()
        if not self._epoll.closed:
            yield from self._release(None)

    def stop(self) -> list[Record]:
        """Disable every event, drain the rings, and return every record not handed out
        yet, in time order (the Sampler stays open: :meth:`close` it)."""
        with self._lock:
            self._check()
            for fd in self._fds:
                perfsys.ioctls.DISABLE(fd)
            self._drain()
            return self._release(None)

    @property
    def lost(self) -> int:
        """Records the kernel dropped (the sum of the rings' ``lost``)."""
        return sum(r.lost for r in self._rings.values())

    @property
    def rings(self) -> list[perfsys.RingBuffer]:
        """The RingBuffers, one per CPU (or per thread)."""
        return list(self._rings.values())

    @property
    def fds(self) -> list[int]:
        """The events' file descriptors (still the Sampler's)."""
        return list(self._fds)

    def close(self) -> None:
        """Unmap the rings and close every descriptor (idempotent). A round running in
        another thread is woken and finishes first."""
        with self._wake_lock:
            if self._wake >= 0:
                os.eventfd_write(self._wake, 1)
        with self._lock:
            for ring in self._rings.values():
                ring.close()
            self._rings.clear()
            self._by_cpu.clear()
            while self._fds:
                os.close(self._fds.pop())
            if self._pidfd >= 0:
                os.close(self._pidfd)
                self._pidfd = -1
            with self._wake_lock:
                if self._wake >= 0:
                    os.close(self._wake)
                    self._wake = -1
            self._epoll.close()
            self._pending.clear()

    def __enter__(self) -> Sampler:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._epoll.closed else f"{len(self._fds)} events, " \
            f"{len(self._rings)} rings"
        return f"<Sampler process={self.process} {state}>"
