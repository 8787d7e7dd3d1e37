"""One rule per kind of argument.

Every fd argument takes an int >= 0 or an object with fileno() (and -1 where the kernel
means "none"), never a bool; every int argument takes an int, never a bool and never an
object that only has __index__.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import opened

import perfsys
from perfsys import constants as C
from perfsys import ioctls


class Holder:
    """An object with fileno(), as a file or socket is."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


class Index:
    """An int-like object with __index__ only."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __index__(self) -> int:
        return self.v


def _attr(**kw: int) -> perfsys.perf_event_attr:
    return perfsys.perf_event_attr(type=C.PERF_TYPE_SOFTWARE, config=C.PERF_COUNT_SW_DUMMY, **kw)


@pytest.fixture
def fd() -> Iterator[int]:
    with opened(_attr(sample_period=1000, sample_type=C.PERF_SAMPLE_IP)) as f:
        yield f


def test_group_fd_and_set_output_take_objects_with_fileno() -> None:
    with opened(_attr(sample_period=1000, sample_type=C.PERF_SAMPLE_IP)) as fd:
        with opened(_attr(), group_fd=Holder(fd)) as member:  # type: ignore[arg-type]
            assert perfsys.read_value(member) == 0
        with perfsys.RingBuffer(Holder(fd), 1) as ring, \
                opened(_attr(sample_period=1000, sample_type=C.PERF_SAMPLE_IP)) as other:
            ioctls.SET_OUTPUT(other, Holder(ring.fileno()))  # type: ignore[arg-type]
            ioctls.SET_OUTPUT(other, -1)
        with perfsys.SelfCounter(Holder(fd)) as counter:  # type: ignore[arg-type]
            assert counter.fileno() == fd


FD_CALLS: list[tuple[str, Callable[[Any], object]]] = [
    ("read_value", lambda v: perfsys.read_value(v)),
    ("read", lambda v: perfsys.read(v)),
    ("read_into", lambda v: perfsys.read_into(v, bytearray(8))),
    ("ENABLE", lambda v: ioctls.ENABLE(v)),
    ("ID", lambda v: ioctls.ID(v)),
    ("SelfCounter", lambda v: perfsys.SelfCounter(v)),
    ("RingBuffer", lambda v: perfsys.RingBuffer(v, 1)),
    ("group_fd", lambda v: perfsys.perf_event_open(_attr(), 0, -1, v)),
]


@pytest.mark.parametrize(("name", "call"), FD_CALLS, ids=[n for n, _ in FD_CALLS])
@pytest.mark.parametrize("value", [True, False])
def test_fd_arguments_refuse_bools(name: str, call: Callable[[Any], object],
                                   value: bool) -> None:
    with pytest.raises(TypeError, match="not bool"):
        call(value)


def test_set_output_target_refuses_a_bool(fd: int) -> None:
    with pytest.raises(TypeError, match="not bool"):
        ioctls.SET_OUTPUT(fd, True)


def _int_calls(fd: int) -> list[tuple[str, Callable[[Any], object]]]:
    ring = perfsys.RingBuffer._testing(1)
    def set_tail(v: Any) -> None:
        ring.data_tail = v

    return [
        ("pid", lambda v: perfsys.perf_event_open(_attr(), v, -1)),
        ("cpu", lambda v: perfsys.perf_event_open(_attr(), 0, v)),
        ("flags", lambda v: perfsys.perf_event_open(_attr(), 0, -1, -1, v)),
        ("ENABLE flags", lambda v: ioctls.ENABLE(fd, v)),
        ("REFRESH", lambda v: ioctls.REFRESH(fd, v)),
        ("PERIOD", lambda v: ioctls.PERIOD(fd, v)),
        ("QUERY_BPF max_ids", lambda v: ioctls.QUERY_BPF(fd, v)),
        ("read_format", lambda v: perfsys.read(fd, v)),
        ("decode_read", lambda v: perfsys.decode_read(v, bytes(8))),
        ("SelfCounter read_format", lambda v: perfsys.SelfCounter(fd, v)),
        ("data_pages", lambda v: perfsys.RingBuffer(fd, v)),
        ("aux_pages", lambda v: perfsys.RingBuffer(fd, 1, aux_pages=v)),
        ("_testing data_pages", lambda v: perfsys.RingBuffer._testing(v)),
        ("max_records", lambda v: ring.read(v)),
        ("data_tail", set_tail),
        ("Decoder id", lambda v: perfsys.Decoder({v: _attr()})),
    ]


@pytest.mark.parametrize("value", [True, Index(1)], ids=["bool", "__index__"])
def test_int_arguments_refuse_bools_and_index_objects(fd: int, value: object) -> None:
    for name, call in _int_calls(fd):
        with pytest.raises(TypeError, match="int"):
            call(value)
            pytest.fail(f"{name} took {value!r}")
