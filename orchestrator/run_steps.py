"""The step loop a backtest and a portfolio share in this process, and their event routing.

``drive`` walks a run's ``steps`` until it ends or is stopped: it hands the
readers the signals closed since the last hand-over, emits ``progress`` (only
when someone listens), refreshes the status in Redis, and emits
``done.backtest`` at the end. ``route_event`` sends the engine's events to the bus.
"""

from __future__ import annotations

import time
from typing import Any

from btfarm.shared import events
from btfarm.shared.results import to_model
from btfarm.shared.store import run_status
from btfarm.shared.store.stop_flags import StopPoller

from .instances import Instance
from .run_thread import RunThread
from .state_client import state


def drive(
    inst: Instance,
    task: RunThread,
    run: Any,
    mode: str,
    tags: dict[str, Any],
    push_every: float,
    status_every: float,
) -> None:
    """Walk ``run.steps`` for ``inst``; ``tags`` open every ``progress`` and ``done.backtest``
    payload (mode, symbol, names); the intervals are the caller's, read at each call so a test
    can change them."""
    inst.data = run
    poller = StopPoller(state(), mode, inst.symbol, inst.name)
    # the run's start (start_or_join) cleared the stop flag and wrote "running" a moment ago:
    # the first ask and the first refresh come one interval on (two round trips fewer at the start)
    poller.heard(False)
    pushed = 0
    next_push = 0.0
    next_status = time.monotonic() + status_every
    total = max(run.total_ticks, 1)
    for done in run.steps(lambda: inst.stop_event.is_set() or poller.stopped()):
        now = time.monotonic()
        if pushed < len(run.closed) and now >= next_push:
            next_push = now + push_every
            task.push_many(run.closed[pushed:])
            pushed = len(run.closed)
        progress = min(done / total, 1.0)
        if events.has_listeners("progress"):
            events.emit(
                "progress",
                {**tags, "total_frames": total, "processed_frames": done, "progress": progress},
            )
        if now >= next_status:
            next_status = now + status_every
            run_status.set_status(
                state(), mode, inst.symbol, inst.name, "running", id=inst.id, progress=progress
            )
    task.push_many(run.closed[pushed:])
    if run.stopped:
        inst.stop_event.set()
    events.emit("done.backtest", {**tags, "stopped": run.stopped, "closed": len(run.closed)})


def route_event(kind: str, record: dict[str, Any]) -> None:
    """Engine events to the bus, building models only when someone listens."""
    if kind == "error":
        events.emit("error", record)
    elif kind == "risk":
        events.emit("risk", record)
    elif events.has_listeners("signal.backtest"):
        events.emit("signal.backtest", to_model(record))
