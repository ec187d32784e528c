"""Waiting on and stopping the processes a test started: by condition and by PID, never by sleep alone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psutil

T = TypeVar("T")
POLL_SECONDS = 0.1  # between checks of a condition, bounded by its deadline
STOP_TIMEOUT_SECONDS = 10.0  # warm shutdown before SIGKILL


def wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def stop_process(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM (a graceful stop), SIGKILL after ``timeout``, then SIGKILL its process
    group: children that outlived it (a pool process, Flower's or beat's)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


FARM_COMMANDS = (
    "redis",
    "celery",
    "btfarm.workers.boot",
)  # what a farm process's command line names


def is_worker(cmdline: str) -> bool:
    """A Celery worker's command line: ``celery ... worker`` or ``python -m btfarm.workers.boot``."""
    return "celery" in cmdline or "btfarm.workers.boot" in cmdline


def farm_processes_under(folder: Path) -> list[psutil.Process]:
    """redis-server or worker processes whose command line points into ``folder`` (ours only)."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(p.info["cmdline"] or ())
        if (
            p.info["status"] != psutil.STATUS_ZOMBIE
            and str(folder) in cmdline
            and any(name in cmdline for name in FARM_COMMANDS)
        ):
            found.append(p)
    return found
