"""One memoised instance per ``symbol:name``, shared by Backtest, Live and Walker.

An instance has an id, a stop flag, and a single-run task whose status
(idle | running | done) is mirrored to Redis so ``list`` and ``stop`` work
from any process (SEMANTICS.md section 7).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from btfarm.shared import events
from btfarm.shared.errors import AlreadyRunningError
from btfarm.shared.store import run_status, stop_flags

from .run_thread import RunThread
from .state_client import state

DataT = TypeVar(
    "DataT"
)  # what an instance's run produces: a BacktestRun, a live session, a tally...


@dataclass
class Instance(Generic[DataT]):
    mode: str
    symbol: str
    name: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    stop_event: threading.Event = field(default_factory=threading.Event)
    task: RunThread | None = None
    data: DataT | None = None  # what the last run produced, for get_data / reports
    context: dict[str, Any] = field(default_factory=dict)  # exchange, frame, ... of the run
    outcome: str = "done"  # how the last run ended: done | stopped | interrupted | failed

    @property
    def status(self) -> str:
        if self.task is None:
            return "idle"
        return "done" if self.task.finished else "running"

    @property
    def key(self) -> str:
        return f"{self.symbol}:{self.name}"


class ExecutionClass(Generic[DataT]):
    """The base of the execution classes (BacktestUtils, LiveUtils, WalkerUtils: backtest-kit's names):
    memoises one instance per ``symbol:name`` and runs its single-run task."""

    mode = ""

    def __init__(self) -> None:
        self._instances: dict[str, Instance[DataT]] = {}
        self._lock = threading.Lock()

    def instance(self, symbol: str, name: str) -> Instance[DataT]:
        """The memoised instance of ``symbol:name`` (made on first use)."""
        key = f"{symbol}:{name}"
        with self._lock:
            inst = self._instances.get(key)
            if inst is None:
                inst = self._instances[key] = Instance(self.mode, symbol, name)
            return inst

    def start_or_join(
        self,
        inst: Instance[DataT],
        context: dict[str, Any],
        produce: Callable[[Instance, RunThread], None],
    ) -> RunThread:
        """The running task of ``inst`` (joined), or a new one started now."""
        with self._lock:
            if inst.task is not None and not inst.task.finished:
                if context != inst.context:
                    raise AlreadyRunningError(
                        f"{self.mode} {inst.key} is already running with {inst.context}; "
                        f"wait for it or stop it before running it with {context}"
                    )
                return inst.task
            inst.stop_event.clear()
            inst.context = dict(context)
            pipe = state().pipeline(transaction=True)
            stop_flags.clear_stop(pipe, self.mode, inst.symbol, inst.name)
            run_status.queue_status(pipe, self.mode, inst.symbol, inst.name, "running", id=inst.id)
            pipe.execute()
            inst.task = RunThread(
                f"{self.mode}-{inst.key}", lambda task: self._guarded(inst, task, produce)
            )
            return inst.task.start()

    def _guarded(
        self, inst: Instance, task: RunThread, produce: Callable[[Instance, RunThread], None]
    ) -> None:
        inst.outcome = "failed"  # until produce says otherwise
        try:
            produce(inst, task)
            if inst.outcome == "failed":
                inst.outcome = "stopped" if inst.stop_event.is_set() else "done"
        finally:
            try:
                # a run that did not finish keeps the share its last status said it had done
                run_status.set_status(
                    state(),
                    self.mode,
                    inst.symbol,
                    inst.name,
                    "done",
                    id=inst.id,
                    progress=1.0 if inst.outcome == "done" else None,
                    stopped=inst.stop_event.is_set(),
                    outcome=inst.outcome,
                )
            except Exception:  # the status is advisory; never mask the run's own outcome
                pass

    def _background(self, task: RunThread, inst: Instance) -> Callable[[], None]:
        def watch() -> None:
            task.wait()
            if task.error is not None:
                events.emit(
                    "exit",
                    {
                        "mode": self.mode,
                        "symbol": inst.symbol,
                        "name": inst.name,
                        "error": task.error,
                        "message": str(task.error),
                    },
                )

        threading.Thread(target=watch, name=f"btfarm-watch-{inst.key}", daemon=True).start()

        def cancel() -> None:
            self.stop(inst.symbol, inst.name)

        return cancel

    def stop(self, symbol: str, name: str) -> None:
        """Ask the run to stop at its next idle state, here or in any other process."""
        with self._lock:
            inst = self._instances.get(f"{symbol}:{name}")
        if inst is not None:
            inst.stop_event.set()
        stop_flags.request_stop(state(), self.mode, symbol, name)

    def list(self) -> list[dict[str, Any]]:
        """Every instance of this mode known to the state store: id, symbol, name, status, progress."""
        rows = run_status.list_status(state(), self.mode)
        for row in rows:
            row["strategy_name" if self.mode != "walker" else "walker_name"] = row["name"]
        return rows
