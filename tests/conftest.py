"""Shared pytest hooks."""

from __future__ import annotations

from probe_headers import headers


def pytest_report_header() -> str:
    return f"layout probe headers: {headers().label}"
