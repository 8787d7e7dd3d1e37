"""Shared pytest hooks."""

from __future__ import annotations

import errno
from collections.abc import Generator
from pathlib import Path

import pytest
from probe_headers import headers

import perfsys


def pytest_report_header() -> list[str]:
    return [f"perfsys under test: {Path(perfsys.__file__).resolve().parent}",
            f"layout probe headers: {headers().label}"]


def _skip_without_perf_event_open() -> Generator[None, object, object]:
    """A test (or fixture) that meets ENOSYS from perf_event_open skips, saying so:
    this machine has no such system call (qemu-user does not emulate it; some seccomp
    filters answer ENOSYS). Every other outcome stands."""
    try:
        return (yield)
    except OSError as e:
        if e.errno == errno.ENOSYS and (e.strerror or "").startswith("perf_event_open("):
            pytest.skip(f"perf_event_open is not implemented on this machine (ENOSYS: "
                        f"qemu-user, or a seccomp filter): {e}")
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _skip_without_perf_event_open())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _skip_without_perf_event_open())
