"""The fault suites' fixtures (the sweep of faulted_sweep.py), for a test module to take as
``url = faulted_fixtures.url`` and so on: this process's orchestrator on the module's
``server`` fixture, two workers on it, and the reference every faulted run must equal."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .celery_workers import CeleryWorker
from .faulted_sweep import point_at, reference_stats, start_workers, stop_workers


@pytest.fixture
def url(server, monkeypatch, tmp_path) -> Iterator[str]:
    """The orchestrator here on the test's ``server`` (a fixture of the test module)."""
    yield from point_at(server.url, monkeypatch, tmp_path)


@pytest.fixture
def workers(url, tmp_path) -> Iterator[list[CeleryWorker]]:
    """Two ready workers on ``url``, stopped by PID after the test."""
    started = start_workers(url, tmp_path / "workers")
    yield started
    stop_workers(started)


@pytest.fixture(scope="module")
def reference() -> dict[str, dict]:
    """Every variant of the sweep backtested once in this process."""
    return reference_stats()
