"""What the reporting classes keep of this process's runs, and how they listen for it.

Each class (``Risk``, ``Schedule``, ``Heat``) listens to the event bus once
``enable()`` is called, as backtest-kit's markdown services do once subscribed:
a listener on ``signal.backtest`` makes every ``Backtest.run`` build the models
of its events (~18 us a trade, a quarter of a fast backtest), and one on
``signal.live`` makes ``Live`` emit its idle ticks, so nobody pays for a report
they did not ask for.

Backtest events go to a ``RunBuffer`` per key: the events of the latest run
of that key, as ``Backtest.get_data`` holds the latest run (backtest-kit clears
its report storages when a run starts). A run's end is its ``done.backtest``
event: the next event of the key starts a new run; a run with no event at all
empties the buffer when it ends.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from typing import Any

from btfarm.shared import events
from btfarm.shared.errors import UsageError

# Live emits from its run's thread, named by ExecutionClass/RunThread "btfarm-live-{symbol}:{name}".
LIVE_THREAD_PREFIX = "btfarm-live-"


def check_backtest(value: Any, needed_by: str) -> bool:
    """``backtest`` itself when it is a bool; else a UsageError naming both choices."""
    if not isinstance(value, bool):
        raise UsageError(
            f"{needed_by}: backtest must be True (the backtests of this process) or False "
            f"(the persisted live log), got {value!r}"
        )
    return value


def check_name(value: Any, what: str, needed_by: str) -> str:
    """A non-empty name, or a UsageError naming the argument."""
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{needed_by}: {what} must be a non-empty string, got {value!r}")
    return value


def risk_in_backtest(record: dict[str, Any]) -> bool:
    """Whether a risk event comes from a backtest. The record says so when it carries
    ``backtest`` (backtest-kit's risk contract does); today's records do not, and Live
    emits them from its run's thread, which is named for it."""
    flag = record.get("backtest")
    if isinstance(flag, bool):
        return flag
    return not threading.current_thread().name.startswith(LIVE_THREAD_PREFIX)


def once_each(events: Iterable[Any], key: Callable[[Any], Hashable]) -> list[Any]:
    """``events`` without repeats of one ``key``, the first kept: a live run restarted after a
    crash may deliver an event twice."""
    seen: set[Hashable] = set()
    kept = []
    for event in events:
        if key(event) not in seen:
            seen.add(key(event))
            kept.append(event)
    return kept


class RunBuffer:
    """The rows of the latest backtest run of one key, the newest ``cap`` (None: all)."""

    def __init__(self, cap: int | None) -> None:
        self.rows: deque[Any] = deque(maxlen=cap)
        self.finished = False  # the run these rows belong to has ended

    def add(self, row: Any) -> None:
        if self.finished:  # the first event of the next run
            self.rows.clear()
            self.finished = False
        self.rows.append(row)

    def end_run(self) -> None:
        if self.finished:  # a whole run went by without one event: it has none
            self.rows.clear()
        self.finished = True


class RunBuffers:
    """``RunBuffer`` by key, safe to feed from several runs' threads at once."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self._buffers: dict[Hashable, RunBuffer] = {}
        self._lock = threading.Lock()

    def _buffer(self, key: Hashable) -> RunBuffer:
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = RunBuffer(self.cap)
        return buffer

    def add(self, key: Hashable, row: Any) -> None:
        with self._lock:
            self._buffer(key).add(row)

    def end_run(self, key: Hashable) -> None:
        with self._lock:
            self._buffer(key).end_run()

    def rows(self, key: Hashable) -> list[Any]:
        with self._lock:
            buffer = self._buffers.get(key)
            return list(buffer.rows) if buffer is not None else []

    def keys(self) -> list[Any]:
        with self._lock:
            return list(self._buffers)

    def clear(self) -> None:
        with self._lock:
            self._buffers.clear()


class Listening:
    """One class's subscriptions to the bus, made by ``start`` and dropped by ``stop``."""

    def __init__(self, owner: str, topics: Iterable[tuple[str, Callable[[Any], object]]]) -> None:
        self.owner = owner
        self.topics = tuple(topics)
        self._unsubscribe: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self._unsubscribe)

    def start(self) -> None:
        """Listen (again: a second call leaves one subscription per topic, so it also
        recovers from ``events.clear()``, which drops every listener)."""
        with self._lock:
            self._drop()
            self._unsubscribe = [events.subscribe(topic, fn) for topic, fn in self.topics]

    def stop(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []

    def require(self, needed_by: str) -> None:
        """A UsageError unless listening: its buffers would be empty for lack of it."""
        if not self.active:
            raise UsageError(
                f"{needed_by}: {self.owner} is not listening in this process, so it has seen no run; "
                f"call {self.owner}.enable() before the backtests it should report (backtest=False reads "
                "the live log, which needs no enable() in the reading process)"
            )
