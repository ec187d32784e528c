"""The clock ``Live`` ticks on: the real one, or one a test drives.

``Live`` never calls ``time`` itself; it asks its clock for the time and to
sleep, so a test replays days of ticks in a second (``ManualClock``) and a
subprocess test runs the real loop many times faster than real time
(``AcceleratedClock``, chosen with ``btfarm live --clock``).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from .errors import UsageError
from .schemas import to_ms, to_utc


class Clock(Protocol):
    def now_ms(self) -> int:
        """Epoch milliseconds now."""

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> None:
        """Let ``seconds`` pass on this clock, or less if ``wake`` gets set."""


class SystemClock:
    """Wall-clock time."""

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> None:
        if seconds <= 0:
            return
        if wake is None:
            time.sleep(seconds)
        else:
            wake.wait(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """Time that moves only when told: ``sleep`` and ``advance`` add to it at once."""

    def __init__(self, start_ms: int) -> None:
        self._now = float(start_ms)
        self._lock = threading.Lock()

    def now_ms(self) -> int:
        with self._lock:
            return int(self._now)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds * 1000.0

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> None:
        if seconds > 0 and not (wake is not None and wake.is_set()):
            self.advance(seconds)

    def __repr__(self) -> str:
        return f"ManualClock(now_ms={self.now_ms()})"


class AcceleratedClock:
    """Real time sped up ``speed`` times, reading ``start_ms`` at real epoch second ``anchor``.

    Two processes given the same start, speed and anchor read the same time,
    so a process restarted after a crash sees the time that passed meanwhile.
    """

    def __init__(self, start_ms: int, speed: float, anchor: float | None = None) -> None:
        if speed <= 0:
            raise UsageError(f"clock speed must be > 0, got {speed}")
        self.start_ms = int(start_ms)
        self.speed = float(speed)
        self.anchor = time.time() if anchor is None else float(anchor)

    def now_ms(self) -> int:
        return self.start_ms + int((time.time() - self.anchor) * 1000.0 * self.speed)

    def sleep(self, seconds: float, wake: threading.Event | None = None) -> None:
        SystemClock().sleep(seconds / self.speed, wake)

    def __repr__(self) -> str:
        return (
            f"AcceleratedClock(start_ms={self.start_ms}, speed={self.speed}, anchor={self.anchor})"
        )


def clock_from_spec(spec: str | None) -> Clock:
    """A clock from text: ``system`` (default), or
    ``accelerated:start=2025-01-02T00:00Z,speed=600[,anchor=1700000000.0]``.

    The anchor is a real epoch time in seconds (default: now); pass the same
    one to every process that must share the timeline.
    """
    if not spec or spec == "system":
        return SystemClock()
    kind, _, rest = spec.partition(":")
    if kind != "accelerated":
        raise UsageError(
            f"unknown clock {spec!r}; use 'system' or 'accelerated:start=ISO,speed=N[,anchor=SECONDS]'"
        )
    fields: dict[str, str] = {}
    for part in filter(None, rest.split(",")):
        name, sep, value = part.partition("=")
        if not sep or name not in ("start", "speed", "anchor"):
            raise UsageError(f"clock {spec!r}: bad part {part!r}; expected start=, speed=, anchor=")
        fields[name] = value
    if "start" not in fields or "speed" not in fields:
        raise UsageError(f"clock {spec!r} needs start= and speed=")
    start = fields["start"]
    start_ms = int(start) if start.isdigit() else to_ms(to_utc(start))
    anchor = float(fields["anchor"]) if "anchor" in fields else None
    return AcceleratedClock(start_ms, float(fields["speed"]), anchor)
