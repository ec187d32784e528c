"""``Live``: one strategy run against the present, surviving crashes (SEMANTICS.md 6).

Each tick (every ``TICK_TTL`` seconds on the injected clock) loads the 1m
candles that have closed by now and calls the same ``StrategyCore.tick`` a
backtest calls per minute, with ``when`` = now. Start and recovery are one
path: a run first loads its persisted state (``store.live_state``), delivers
the one event a crash may have left in the outbox, restores the signal it was
monitoring (never re-opening it), then ticks.

Every scheduled, opened, closed and cancelled event is persisted (state,
then event log) inside the engine's emit, so before it reaches listeners or
the caller of ``run``. Fetch errors are reported through ``listen_error`` and
retried with backoff; they never touch the persisted state.

A managed position (SEMANTICS 9) runs the backtest's hook on each candle as
it closes: the tick at T runs the hook of candle u = T - 1 minute, with
``when`` = u, ``current_price`` = VWAP_u (the last five closed candles) and
its commits priced one candle behind, as in a backtest. Its state (entries,
partials, trailed levels, fired availability, a pending close, the rest of
a hook a crash cut short) is persisted through ``LiveSession.checkpoint``
after each applied commit, before the commit returns True, before
availability events leave, and when each candle's hook ends
(engine/position_hook.py, ``run_live``).

A tick whose newest closed candle closed more than
``BTFARM_LIVE_MAX_CANDLE_AGE_SECONDS`` before the tick's minute (default 180:
more than three 1m candles missing) is stale: the strategy is not asked (a signal opened on a price
hours old is a lie), an open signal is still monitored on the candles there
are, and the stretch is reported once through ``listen_error`` (kind
``DataCoverageError``) and listed in the report. A stop asked while an open
signal's candles are stale ends the run at once instead of waiting for them
(hours, days): the signal stays persisted and the next start monitors it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from btfarm.shared import events
from btfarm.shared.candles import Candles
from btfarm.shared.clock import Clock, SystemClock
from btfarm.shared.coverage import iso
from btfarm.shared.engine.lifecycle import IDLE, StrategyCore
from btfarm.shared.engine_config import EngineConfig, get_config
from btfarm.shared.errors import (
    AlreadyRunningError,
    ConfigError,
    DataCoverageError,
    PersistenceError,
    SettingsError,
    UsageError,
)
from btfarm.shared.exchanges.loading import load_candles
from btfarm.shared.intervals import MINUTE_MS
from btfarm.shared.registry import get_exchange, get_risk, get_strategy
from btfarm.shared.results import ClosedResult, OpenedResult, TickResult, to_model
from btfarm.shared.settings import get_settings
from btfarm.shared.stats import LiveStatistics, compute_live_statistics
from btfarm.shared.store import run_status
from btfarm.shared.store.live_state import (
    LOGGED_ACTIONS,
    FileLiveState,
    LiveState,
    RedisLiveState,
    event_key,
    new_document,
)
from btfarm.shared.store.stop_flags import StopPoller
from btfarm.shared.trade_signal import SignalRow

from .instances import ExecutionClass, Instance
from .reporting.performance import Performance, RunProbe
from .reports._format import duration
from .reports.dump import FORMATS, dump_bundle
from .reports.pictures import equity_picture
from .reports.render import render_live
from .reports.series import equity_series, partial_close_marks
from .run_thread import RunThread
from .state_client import state

log = logging.getLogger("btfarm.live")

RETRY_FIRST_SECONDS = (
    1.0  # clock seconds before the first retry of a failed fetch, doubled each time
)
RETRY_MAX_SECONDS = 60.0  # the longest pause between fetch retries (clock seconds)
STATUS_EVERY_SECONDS = 0.5  # real seconds between status refreshes in Redis
YIELDED = ("opened", "closed")  # what Live.run yields; the rest goes to listeners and the report


def open_state(symbol: str, strategy_name: str) -> LiveState:
    """Files under ``{state_dir}/live`` on the embedded default, Redis keys when a URL is set."""
    settings = get_settings()
    if settings.embedded:
        return FileLiveState(settings.state_dir / "live", symbol, strategy_name)
    return RedisLiveState(state(), symbol, strategy_name)


class LiveData(BaseModel):
    """What ``Live.get_data`` returns: every event seen, their statistics, the open signal."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    symbol: str
    strategy_name: str
    exchange_name: str
    status: str
    stopped: bool
    phase: str  # idle | scheduled | active
    signal: SignalRow | None  # the scheduled or active signal, if any
    stats: LiveStatistics  # rejected_signals: of every run, kept in the persisted state
    events: list[TickResult]
    rejections: list[
        str
    ] = []  # the first distinct reasons signals were rejected or get_signal raised
    stale: list[
        str
    ] = []  # this process's stretches of stale candles (no new signals), one line each
    # the commit_* calls by kind ("trailing_stop", "partial_profit", ...), as Backtest.get_data's:
    # {"applied": n, "refused": m}, over every run of this live state (persisted with it)
    commits: dict[str, dict[str, int]] = {}


@dataclass
class StaleStretch:
    """Consecutive ticks whose newest closed candle was too old to decide on."""

    started_ms: int  # clock time of the first stale tick
    newest_ms: (
        int | None
    )  # open time of the newest closed candle then (None: none in the warm-up window)
    last_ms: int  # clock time of the latest stale tick
    ticks: int = 0  # stale ticks in the stretch
    ended_ms: int | None = None  # clock time of the first fresh tick after it
    left_open: str = ""  # the signal a stop left open (persisted) during the stretch

    def describe(self) -> str:
        newest = (
            f"newest closed candle opened at {iso(self.newest_ms)}"
            if self.newest_ms is not None
            else "no closed candle in the warm-up window"
        )
        end = (
            iso(self.ended_ms)
            if self.ended_ms is not None
            else f"{iso(self.last_ms)} (still stale)"
        )
        span = duration(((self.ended_ms or self.last_ms) - self.started_ms) / MINUTE_MS)
        line = f"{iso(self.started_ms)} .. {end}, {span}, {self.ticks} ticks: {newest}"
        if self.left_open:
            line += f"; stopped with signal {self.left_open} still open (persisted, monitored on the next start)"
        return line


@dataclass
class LiveSession:
    """One run's engine, store and event history (logged events of every run + this run's ticks)."""

    symbol: str
    strategy_name: str
    exchange_name: str
    store: LiveState
    core: StrategyCore | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    task: RunThread | None = None
    restored: dict[str, Any] | None = None  # the signal restored on start, if any
    outbox: list[dict[str, Any]] = field(default_factory=list)  # the persisted state's last event
    stopped: bool = False
    clock: Clock = field(default_factory=SystemClock)
    saved_rejected: int = 0  # the rejection count the persisted state holds
    stale: list[StaleStretch] = field(
        default_factory=list
    )  # the last one is open while its end is None

    @property
    def is_stale(self) -> bool:
        return bool(self.stale) and self.stale[-1].ended_ms is None

    def note_candle_age(
        self, now: int, newest: int | None, stale: bool, max_age_seconds: float
    ) -> None:
        """Start, extend or end a stale stretch; its start is reported once (listen_error)."""
        key = f"{self.symbol}:{self.strategy_name}"
        if not stale:
            if self.is_stale:
                stretch = self.stale[-1]
                stretch.ended_ms = now
                log.info(
                    "live %s: fresh candles again at %s after %s of stale ones",
                    key,
                    iso(now),
                    duration((now - stretch.started_ms) / MINUTE_MS),
                )
            return
        if self.is_stale:
            self.stale[-1].ticks += 1
            self.stale[-1].last_ms = now
            return
        self.stale.append(StaleStretch(started_ms=now, newest_ms=newest, last_ms=now, ticks=1))
        if newest is None:
            what = "no 1m candle has closed in the warm-up window"
        else:
            age = now - now % MINUTE_MS - newest - MINUTE_MS
            what = f"the newest closed 1m candle opened at {iso(newest)} and closed {duration(age / MINUTE_MS)} ago"
        message = (
            f"live {key}: stale candles at {iso(now)}: {what} (more than "
            f"BTFARM_LIVE_MAX_CANDLE_AGE_SECONDS={max_age_seconds:g}); no new signals until fresh "
            "candles arrive"
        )
        if self.core is not None and self.core.phase != IDLE:
            message += f"; signal {self.core.signal['id']} stays {self.core.phase}, monitored on the candles there are"
        events.emit(
            "error",
            {
                "symbol": self.symbol,
                "strategy_name": self.strategy_name,
                "exchange_name": self.exchange_name,
                "timestamp": now,
                "kind": "DataCoverageError",
                "error": DataCoverageError(message),
                "signal": None,
                "message": message,
            },
        )

    def on_event(self, kind: str, record: dict[str, Any]) -> None:
        """The engine's emit: persist first, then log, then tell everyone."""
        if kind in ("error", "risk"):
            if (
                self.core.rejected != self.saved_rejected
            ):  # a refused signal: its count is persisted too
                self.saved_rejected = self.core.rejected
                self.store.save(
                    new_document(
                        self.symbol,
                        self.strategy_name,
                        self.exchange_name,
                        self.core.snapshot(),
                        [],
                        self.clock.now_ms(),
                    )
                )
            events.emit(kind, record)
            return
        if kind in LOGGED_ACTIONS:
            self.store.save(
                new_document(
                    self.symbol,
                    self.strategy_name,
                    self.exchange_name,
                    self.core.snapshot(),
                    [record],
                    self.clock.now_ms(),
                )
            )
            self.store.append(record)
        self.deliver(record)

    def checkpoint(self) -> None:
        """Persist the engine's state with no event: a managed position's commit, its fired
        availability, the end of a candle's hook (SEMANTICS 6 and 9; engine/position_hook.py)."""
        self.saved_rejected = self.core.rejected
        self.store.save(
            new_document(
                self.symbol,
                self.strategy_name,
                self.exchange_name,
                self.core.snapshot(),
                [],
                self.clock.now_ms(),
            )
        )

    def deliver(self, record: dict[str, Any]) -> None:
        self.events.append(record)
        if events.has_listeners("signal.live"):
            events.emit("signal.live", to_model(record))
        if record["action"] in YIELDED and self.task is not None:
            self.task.push(record)


def _check_clock(
    clock: Clock, where: str, doc: dict[str, Any] | None, history: list[dict[str, Any]]
) -> None:
    """Refuse a clock earlier than what was saved: time running backwards would open
    the restored signal a second time under its id and log events out of order."""
    times = [int(e["timestamp"]) for e in history if isinstance(e.get("timestamp"), int | float)]
    if doc is not None and isinstance(doc.get("saved_at"), int | float):
        times.append(int(doc["saved_at"]))
    if not times:
        return
    last, now = max(times), clock.now_ms()
    if now < last:
        raise ConfigError(
            f"the clock reads {iso(now)} ({now}), earlier than the last saved live event at {iso(last)} "
            f"({last}) in {where}: time would run backwards and the restored signal open again. Start "
            f"the clock at or after {iso(last)} (an accelerated clock: give the same start, speed and "
            "anchor as before, or start=... after the last event), or move the state aside to start flat"
        )


class LiveUtils(ExecutionClass[LiveSession]):
    mode = "live"

    def run(
        self,
        symbol: str,
        strategy_name: str,
        exchange_name: str,
        *,
        clock: Clock | None = None,
        tick_seconds: float | None = None,
        stop_event: threading.Event | None = None,
    ) -> Iterator[OpenedResult | ClosedResult]:
        """Opened and closed results, forever (until ``stop``); a second call joins the running one.

        ``clock``: what the loop reads and sleeps on (default the system
        clock); ``tick_seconds``: default ``TICK_TTL`` of the engine config.
        ``stop_event``: once set, the run this call starts stops as with
        ``stop``, checked each tick; unlike ``stop`` it counts when set before
        the run has started (a signal handler's flag).
        Leaving the loop early does not stop the run (as with ``background``);
        call ``stop`` for that.
        """
        inst, task = self._launch(
            symbol, strategy_name, exchange_name, clock, tick_seconds, "Live.run", stop_event
        )
        for record in task.follow():
            yield to_model(record)

    def background(
        self,
        symbol: str,
        strategy_name: str,
        exchange_name: str,
        *,
        clock: Clock | None = None,
        tick_seconds: float | None = None,
    ) -> Callable[[], None]:
        """Run without blocking; errors go to ``listen_exit``. Returns a cancel function
        with ``stop``'s meaning: no new signals, the open one runs to its close."""
        inst, task = self._launch(
            symbol, strategy_name, exchange_name, clock, tick_seconds, "Live.background"
        )
        return self._background(task, inst)

    def wait(self, symbol: str, strategy_name: str, timeout: float | None = None) -> bool:
        """Block until the instance's run ends; True when it has."""
        inst = self.instance(symbol, strategy_name)
        return inst.task is None or inst.task.wait(timeout)

    # ---- the loop ----------------------------------------------------------

    def _launch(
        self,
        symbol: str,
        strategy_name: str,
        exchange_name: str,
        clock: Clock | None,
        tick_seconds: float | None,
        needed_by: str,
        stop_event: threading.Event | None = None,
    ) -> tuple[Instance, RunThread]:
        strategy = get_strategy(strategy_name, needed_by)
        exchange = get_exchange(exchange_name, needed_by)
        risk = get_risk(strategy.risk_name, needed_by) if strategy.risk_name else None
        if getattr(strategy, "get_signal", None) is None:
            raise ConfigError(
                f'strategy "{strategy_name}" has no get_signal, which {needed_by} calls each '
                "tick; a vectorised get_signals only serves backtests"
            )
        inst = self.instance(symbol, strategy_name)
        context = {"exchange_name": exchange_name}
        running = inst.task
        if running is not None and not running.finished:  # join it (its state is already open)
            if context != inst.context:
                raise AlreadyRunningError(
                    f"live {inst.key} is already running with {inst.context}; stop it "
                    f"before running it with {context}"
                )
            return inst, running
        cfg = get_config()
        tick = cfg.TICK_TTL if tick_seconds is None else float(tick_seconds)
        if not tick > 0:
            raise UsageError(f"{needed_by}: tick_seconds must be > 0, got {tick_seconds!r}")
        max_age = get_settings().live_max_candle_age_seconds
        if not max_age >= 0:
            raise SettingsError(
                f"BTFARM_LIVE_MAX_CANDLE_AGE_SECONDS={max_age!r}: give seconds >= 0 (0 = never "
                "refuse a tick for stale candles)"
            )
        if hasattr(
            exchange.source, "check_coverage"
        ):  # a replay: its clock must be inside its file
            exchange.source.check_coverage(symbol)
        probe = Performance.probe(symbol, strategy_name, exchange_name, "", backtest=False)
        if (
            probe is not None
        ):  # Performance enabled: time get_signal (else the strategy runs as it is)
            strategy = probe.wrap(strategy)
        session = self._open_session(
            symbol, strategy_name, exchange_name, strategy, risk, cfg, clock or SystemClock()
        )

        def produce(inst: Instance, task: RunThread) -> None:
            try:
                self._produce(inst, task, session, exchange, cfg, tick, max_age, stop_event, probe)
            finally:
                session.store.close()

        previous = inst.task
        try:
            task = self.start_or_join(inst, context, produce)
        except BaseException:
            session.store.close()
            raise
        if task is previous:  # another thread started it meanwhile: we joined that run
            session.store.close()
        else:
            inst.data = session
        return inst, task

    def _open_session(
        self,
        symbol: str,
        strategy_name: str,
        exchange_name: str,
        strategy,
        risk,
        cfg: EngineConfig,
        clock: Clock,
    ) -> LiveSession:
        """Load and check the persisted state before anything runs (a corrupt one stops here)."""
        store = open_state(symbol, strategy_name)
        store.acquire()
        try:
            store.repair()
            doc = store.load()
            history = store.events()
            session = LiveSession(
                symbol, strategy_name, exchange_name, store, events=history, clock=clock
            )
            session.core = StrategyCore(
                strategy, symbol, exchange_name, cfg, session.on_event, mode="live", risk=risk
            )
            session.core.hooks.checkpoint = (
                session.checkpoint
            )  # a managed position persists as it goes
            if doc is not None:
                try:
                    session.core.restore(doc["core"])
                except (PersistenceError, ValueError, TypeError, KeyError) as exc:
                    raise PersistenceError(
                        f"live state {store.where} holds an unusable snapshot ({exc}); move it aside "
                        "to start flat, or restore a good copy (btfarm will not overwrite it)"
                    ) from exc
                session.restored = session.core.signal
                session.outbox = list(doc["outbox"])
                session.saved_rejected = session.core.rejected
            _check_clock(clock, store.where, doc, history)
        except BaseException:
            store.close()
            raise
        return session

    def _produce(
        self,
        inst: Instance,
        task: RunThread,
        session: LiveSession,
        exchange,
        cfg: EngineConfig,
        tick_seconds: float,
        max_age_seconds: float,
        stop_event: threading.Event | None,
        probe: RunProbe | None = None,
    ) -> None:
        session.task = task
        core, clock = session.core, session.clock
        logged = {event_key(e) for e in session.events if e.get("action") in LOGGED_ACTIONS}
        for record in session.outbox:  # a crash came between the state write and the log append
            if event_key(record) not in logged:
                session.store.append(record)
                session.deliver(record)
        if session.restored is not None:
            log.info("live %s: restored %s signal %s", inst.key, core.phase, session.restored["id"])
        poller = StopPoller(state(), self.mode, inst.symbol, inst.name)
        tick_ms = tick_seconds * 1000.0
        max_age_ms = max_age_seconds * 1000.0  # 0: never stale
        first_ms = clock.now_ms()
        next_ms = float(first_ms)
        retry = RETRY_FIRST_SECONDS
        failures = 0
        next_status = 0.0
        while True:
            asked = inst.stop_event.is_set() or (stop_event is not None and stop_event.is_set())
            if not core.stopping and (asked or poller.stopped()):
                core.stopping = session.stopped = True
                inst.stop_event.set()
                log.info("live %s: stopping (phase %s)", inst.key, core.phase)
            if core.stopping and core.phase == IDLE:
                break
            wake = None if core.stopping else inst.stop_event
            now = clock.now_ms()
            if now < next_ms:
                clock.sleep((next_ms - now) / 1000.0, wake)
                continue
            try:
                candles, limit = self._candles(exchange, inst.symbol, core, cfg, now)
            except (
                Exception
            ) as exc:  # the exchange or the network: report, back off, keep the signal
                failures += 1
                events.emit(
                    "error",
                    {
                        "symbol": inst.symbol,
                        "strategy_name": inst.name,
                        "exchange_name": exchange.exchange_name,
                        "timestamp": now,
                        "kind": type(exc).__name__,
                        "error": exc,
                        "signal": None,
                        "message": f"live {inst.key}: fetching candles failed (attempt {failures}), retrying "
                        f"in {retry:g} s: {exc}",
                    },
                )
                clock.sleep(retry, wake)
                retry = min(retry * 2, RETRY_MAX_SECONDS)
                continue
            retry, failures = RETRY_FIRST_SECONDS, 0
            newest = int(candles.timestamp[limit - 1]) if limit else None
            # measured from the tick's minute, as the tick reads candles: a few ms of lag never count
            stale = max_age_ms > 0 and (
                newest is None or now - now % MINUTE_MS - newest - MINUTE_MS > max_age_ms
            )
            session.note_candle_age(now, newest, stale, max_age_seconds)
            if stale and core.stopping and core.phase != IDLE:
                self._leave_open(inst, session)
                break
            core.emit_idle = events.has_listeners("signal.live")
            settled = core.settled_ms
            if (
                not stale or core.phase != IDLE
            ):  # stale: an open signal is monitored, nothing new is asked
                started = probe.clock() if probe is not None else 0.0
                core.tick(now, candles, limit)
                if not stale and core.settled_ms != settled and core.phase == IDLE:
                    core.tick(
                        now, candles, limit
                    )  # the minute after a close asks again, as a backtest does
                if probe is not None:  # Performance: the tick, then its steps to the log
                    probe.record("live_tick", started, probe.clock())
                    probe.flush()
            steps = int((now - first_ms) // tick_ms) + 1
            next_ms = max(next_ms + tick_ms, first_ms + steps * tick_ms)
            if time.monotonic() >= next_status:
                next_status = time.monotonic() + STATUS_EVERY_SECONDS
                self._status(inst, core, now)
        events.emit(
            "done.live",
            {
                "mode": "live",
                "symbol": inst.symbol,
                "strategy_name": inst.name,
                "exchange_name": exchange.exchange_name,
                "stopped": session.stopped,
            },
        )

    @staticmethod
    def _leave_open(inst: Instance, session: LiveSession) -> None:
        """A stop while the open signal's candles are stale: end now, the signal persisted.
        Waiting for its close would wait for the exchange's data, hours or days."""
        core, stretch = session.core, session.stale[-1]
        stretch.left_open = core.signal["id"]
        log.warning(
            "live %s: stopped with signal %s still %s: its candles are stale since %s, so its close "
            "cannot be known yet; it stays persisted in %s and the next start monitors it from %s",
            inst.key,
            core.signal["id"],
            core.phase,
            iso(stretch.started_ms),
            session.store.where,
            iso(core.next_ms),
        )

    @staticmethod
    def _candles(
        exchange, symbol: str, core: StrategyCore, cfg: EngineConfig, now: int
    ) -> tuple[Candles, int]:
        """The candles closed by ``now`` that the tick may read, and how many of them count."""
        when = now - now % MINUTE_MS
        start = when - cfg.CC_WARMUP_MINUTES * MINUTE_MS
        if core.phase != IDLE:  # a restored signal may resume far back: monitor every candle since
            # (one candle more than the VWAP window: a hook a crash cut short prices its commits on
            # the candles before its own, which is next_ms - 1 minute)
            start = min(start, core.next_ms - (cfg.CC_AVG_PRICE_CANDLES_COUNT + 1) * MINUTE_MS)
        candles = load_candles(exchange, symbol, start, when - MINUTE_MS)
        return candles, candles.index_at(when)  # an exchange may add the forming candle: cut it

    def _status(self, inst: Instance, core: StrategyCore, now: int) -> None:
        try:
            run_status.set_status(
                state(),
                self.mode,
                inst.symbol,
                inst.name,
                "running",
                id=inst.id,
                phase=core.phase,
                signal_id=(core.signal or {}).get("id", ""),
                tick_at=now,
            )
        except Exception as exc:  # the status is advisory; the loop must go on
            log.warning("live %s: could not write status: %s", inst.key, exc)

    # ---- results -------------------------------------------------------------

    def _session(self, symbol: str, strategy_name: str) -> tuple[Instance, LiveSession | None]:
        inst = self.instance(symbol, strategy_name)
        return inst, inst.data

    def get_data(self, symbol: str, strategy_name: str) -> LiveData:
        """Every event (this process's run, else the persisted log) and ``LiveStatistics``."""
        inst, session = self._session(symbol, strategy_name)
        rejected, rejections, stale = 0, [], []
        if session is not None:
            stale = [stretch.describe() for stretch in session.stale]
            rows, exchange_name = list(session.events), session.exchange_name
            phase, signal, stopped = session.core.phase, session.core.signal, session.stopped
            rejected, rejections = session.core.rejected, list(session.core.rejections)
            commits = session.core.commit_counts
        else:
            store = open_state(symbol, strategy_name)
            doc = store.load()
            rows = store.events()
            exchange_name = doc["exchange_name"] if doc else ""
            core = doc["core"] if doc else {}
            phase, signal, stopped = core.get("phase", IDLE), core.get("signal"), False
            rejected, rejections = int(core.get("rejected", 0)), list(core.get("rejections", []))
            commits = core.get("commits") or {}
        return LiveData(
            symbol=symbol,
            strategy_name=strategy_name,
            exchange_name=exchange_name,
            status=inst.status,
            stopped=stopped,
            phase=phase,
            signal=SignalRow.model_validate(signal) if signal else None,
            stats=compute_live_statistics(rows).model_copy(update={"rejected_signals": rejected}),
            events=[to_model(r) for r in rows],
            rejections=rejections,
            stale=stale,
            commits={
                kind: {"applied": applied, "refused": refused}
                for kind, (applied, refused) in commits.items()
            },
        )

    def get_report(
        self,
        symbol: str,
        strategy_name: str,
        columns: Sequence[Any] | None = None,
        pictures: Sequence[tuple[str, str]] = (),
    ) -> str:
        data = self.get_data(symbol, strategy_name)
        return render_live(
            symbol,
            strategy_name,
            data.exchange_name,
            data.events,
            data.stats,
            columns,
            rejections=data.rejections,
            pictures=pictures,
            stale=data.stale,
        )

    def dump(
        self,
        symbol: str,
        strategy_name: str,
        path: str | Path | None = None,
        columns: Sequence[Any] | None = None,
        formats: Sequence[str] = FORMATS,
    ) -> Path:
        """Write the report, the equity of the closed trades so far (with the open
        position's entry, TP and SL) and the HTML twin; default ``./dump/live/{strategy_name}.md``."""

        def render(stem: str) -> tuple[str, dict[str, str]]:
            data = self.get_data(symbol, strategy_name)
            closed = [e.model_dump() for e in data.events if e.action == "closed"]
            levels = {}
            if data.signal is not None and data.phase != "idle":
                levels = {
                    "entry": data.signal.price_open,
                    "TP": data.signal.price_take_profit,
                    "SL": data.signal.price_stop_loss,
                }
            file = f"{stem}.equity.svg"
            series = equity_series(closed)
            picture = equity_picture(
                series,
                f"{strategy_name} on {symbol} (live)",
                {k: v for k, v in levels.items() if v is not None},
                partials=partial_close_marks(closed, series),
            )
            return self.get_report(symbol, strategy_name, columns, [("Equity so far", file)]), {
                file: picture
            }

        return dump_bundle(render, "live", strategy_name, path, formats)


Live = LiveUtils()
