"""The signal state machine of one strategy on one symbol (SEMANTICS.md section 2).

One core for backtest and live: ``StrategyCore.tick(when_ms, candles)`` is
the whole step. A backtest calls it per frame tick with every candle loaded
(``limit`` = all of them, so a position is settled in one numpy scan); Live
calls it with ``when`` = now and only the candles that have closed, so a
position is carried over ticks. The state between calls is plain JSON
(``snapshot``/``restore``), which is what Live persists.

Events leave through ``emit(kind, record)`` as plain dicts shaped like the
models of ``results.py``; building models is left to whoever listens.

Managing a position (SEMANTICS.md 9): when the strategy has a position hook
(``on_active_ping`` ...) or someone listens to one (``listen_active_ping``
...), an open position is walked candle by candle in Python
(``position_walk``), its hook run on every candle it stays open; otherwise
the one numpy scan settles it, and nothing of section 9 costs anything.
Live sets ``hooks.checkpoint`` (its store's save): the walk then runs each
candle's hook as a journal persisted as it goes, which ``snapshot`` carries
(``Position.hook_todo``) and the walk after a ``restore`` finishes first.

Risk (SEMANTICS.md 1): the strategy's risks (``risk_name``, then ``risk_list``)
are ``RiskGate``s over one ``RiskBook`` per risk (risk_book.py): the core adds
its position to every book when a signal is taken (a limit entry holds its
place while it waits) and removes it at the close or cancel. A core owns
fresh books unless ``risk_books`` hands it books shared with other cores.
A rejection gives the throttle bucket back, so the strategy is asked again at
the next tick.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .. import events
from ..candles import Candles
from ..context import RunContext, activate, deactivate
from ..engine_config import EngineConfig
from ..errors import PersistenceError, SignalError, StrategyError
from ..intervals import MINUTE_MS, interval_ms
from ..raise_site import raise_site
from ..registry import get_strategy_risks
from ..risk_book import RiskBook, new_books
from ..risk_check import RiskGate, check_args
from ..schemas import RiskSchema, StrategySchema
from .fast_forward import Settled, excursions, scan_position, scan_schedule
from .pnl import pnl_percentage, position_pnl
from .position import Position, open_position
from .position_hook import HookRun, PositionHook
from .position_walk import walk_position
from .signal_rules import check_signal, parse_signal

IDLE, SCHEDULED, ACTIVE = "idle", "scheduled", "active"

Emit = Callable[[str, dict[str, Any]], None]


REJECTION_SAMPLES = 5  # distinct rejection reasons kept per run, for reports


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


ISO_CHARS = len(_iso(0))  # what _iso writes is this long for any time of years 1000-9999


def _commit_counts(kept: Any) -> dict[str, list[int]]:
    """Persisted commit counts ({kind: [applied, refused]}) as the core keeps them, or a
    PersistenceError saying what is off."""
    if isinstance(kept, dict) and all(
        isinstance(kind, str)
        and isinstance(counts, list)
        and len(counts) == 2
        and all(type(n) is int and n >= 0 for n in counts)  # noqa: E721 (bools are no counts)
        for kind, counts in kept.items()
    ):
        return {kind: list(counts) for kind, counts in kept.items()}
    raise PersistenceError(
        f"commits must map a commit kind to [applied, refused] counts, got {kept!r}"
    )


class StrategyCore:
    """Phases idle -> (scheduled ->) active -> idle, for one ``symbol:strategy``."""

    def __init__(
        self,
        strategy: StrategySchema,
        symbol: str,
        exchange_name: str,
        cfg: EngineConfig,
        emit: Emit,
        *,
        frame_name: str = "",
        frame_end_ms: int | None = None,
        mode: str = "backtest",
        params: dict[str, Any] | None = None,
        risk: RiskSchema | list[RiskSchema] | None = None,
        strategy_name: str | None = None,
        risk_books: dict[str, RiskBook] | None = None,
    ) -> None:
        self.strategy = strategy
        self.name = strategy_name or strategy.strategy_name
        self.symbol = symbol
        self.exchange_name = exchange_name
        self.frame_name = frame_name
        self.frame_end_ms = frame_end_ms  # None in live: no frame end
        self.mode = mode
        self.cfg = cfg
        self.emit = emit
        # ``risk``: schemas already looked up (the caller's get_risk(risk_name)); the strategy's
        # other risks (risk_list) are looked up here
        risks = (
            get_strategy_risks(strategy, "the run", risk)
            if risk or strategy.risk_name or strategy.risk_list
            else []
        )
        books = risk_books if risk_books is not None else new_books([r.risk_name for r in risks])
        missing = [r.risk_name for r in risks if r.risk_name not in books]
        if missing:  # protocol: the caller that shares books must give one per risk of every member
            raise KeyError(f"no risk book for {missing} among the books given ({sorted(books)})")
        self.risk_gates = [RiskGate(r, books[r.risk_name]) for r in risks]
        self.params = dict(strategy.params) if params is None else dict(params)
        self.throttle_ms = interval_ms(strategy.interval)
        self.callbacks = strategy.callbacks
        self.emit_idle = False  # set when someone listens to idle ticks
        self.stopping = False  # Live.stop: no new signals
        self._context: RunContext | None = None
        self._id_prefix: bytes | None = None
        self.phase = IDLE
        self.signal: dict[str, Any] | None = None
        self.next_ms = 0  # the next 1m candle to check while scheduled or active
        self.peak: tuple[float, float] | None = None
        self.fall: tuple[float, float] | None = None
        self.last_bucket: int | None = None
        self.settled_ms: int | None = None  # close/cancel time of the last settled signal
        self.rejected = 0  # signals refused (rules, risk) and get_signal calls that raised
        self.rejections: list[str] = []  # the first REJECTION_SAMPLES distinct reasons, with where
        self.position: Position | None = (
            None  # the managed state of the open signal, when hooks run
        )
        # (one object for the rest of section 9: past 30 attributes an instance loses CPython's shared
        # keys, and every self.x of the per-tick path gets slower)
        self.hooks = HookRun(
            self.callbacks,
            getattr(cfg, "CC_POSITION_ENTRY_COST", 100.0),
            strategy,
            self.params,
            self.name,
        )

    # ---- the step ------------------------------------------------------

    def tick(self, when_ms: int, candles: Candles, limit: int | None = None) -> None:
        """One tick at ``when_ms``; ``limit``: candles [0, limit) may be used to settle."""
        if limit is None:
            limit = len(candles)
        # a live tick lands a few ms after the minute; it is that minute's tick, as in a backtest,
        # so the candle that opened at the minute (still forming) is never visible
        when_ms -= when_ms % MINUTE_MS
        if self.phase == IDLE:
            if self.stopping:
                return
            bucket = when_ms // self.throttle_ms
            if bucket == self.last_bucket:
                return
            self.last_bucket = bucket
            self._ask(when_ms, candles)
        if self.phase != IDLE:
            self.monitor(candles, limit)

    def monitor(self, candles: Candles, limit: int) -> None:
        """Advance a scheduled or active signal over candles [next_ms, limit)."""
        vwap = candles.vwap(self.cfg.CC_AVG_PRICE_CANDLES_COUNT)
        if self.phase == SCHEDULED:
            sig = self.signal
            expires = sig["scheduled_at"] + self.cfg.CC_SCHEDULE_AWAIT_MINUTES * MINUTE_MS
            if self.frame_end_ms is not None:
                expires = min(expires, self.frame_end_ms + 1)
            start = candles.index_at(self.next_ms)
            pending = self.position.pending if self.position is not None else None
            # a user's cancel or activation committed at candle "at" acts at the next one
            acts = candles.index_at(pending["at"] + MINUTE_MS) if pending is not None else limit
            hit = scan_schedule(
                candles,
                vwap,
                start,
                min(limit, acts),
                sig["position"] == "long",
                sig["price_open"],
                sig["price_stop_loss"],
                expires,
            )
            if hit is None and acts < limit:
                hit = self._user_schedule_commit(candles, vwap, acts, pending)
            if hit is None:
                self.next_ms = (
                    int(candles.timestamp[limit - 1]) + MINUTE_MS if limit > start else self.next_ms
                )
                return
            u = int(candles.timestamp[hit.index])
            if hit.reason != "activated":
                self._cancel(hit.reason, float(vwap[hit.index]), u)
                return
            sig["pending_at"] = u
            self._activate(u + MINUTE_MS)
        if self.phase == ACTIVE:
            self._watch(candles, vwap, limit)

    def _user_schedule_commit(
        self, candles: Candles, vwap, j: int, pending: dict[str, Any]
    ) -> Settled:
        """Candle ``j`` after a commit_cancel_scheduled / commit_activate_scheduled: the frame's
        end still cancels first ("timeout"), then the user's action, before the candle's checks."""
        u = int(candles.timestamp[j])
        if self.frame_end_ms is not None and u > self.frame_end_ms:
            return Settled(j, "timeout", float(vwap[j]))
        if pending["action"] == "cancel":
            self.signal["close_id"] = pending["id"]
            return Settled(j, "user", float(vwap[j]))
        self.position = None  # activated: the position starts with no managed state
        return Settled(j, "activated", self.signal["price_open"])

    def manages_positions(self) -> bool:
        """True when an open position runs the hooks of SEMANTICS 9 candle by candle: the
        strategy has a position callback, someone listens to a position event, or a commit
        waits for the next candle."""
        return (
            self.hooks.callbacks
            or events.any_listened(events.POSITION_TOPICS)
            or (self.position is not None and self.position.pending is not None)
        )

    def use_candles(self, candles: Candles) -> RunContext:
        """The run context on ``candles`` (made when they change), which get_signal and the
        hooks read."""
        ctx = self._context
        if ctx is None or ctx.candles is not candles:
            ctx = self._context = RunContext(
                self.symbol, self.mode, candles, self.params, self.cfg.CC_AVG_PRICE_CANDLES_COUNT
            )
        return ctx

    def hook_for(self, candles: Candles, vwap) -> PositionHook:
        """The hook of this core on ``candles`` (made once per candle set), with its context."""
        self.use_candles(candles)
        hook = self.hooks.hook
        if hook is None or hook.candles is not candles:
            hook = self.hooks.hook = PositionHook(self, candles, vwap)
        hook.forget()  # (a walk or a scheduled signal's hook begins: the signal may have changed)
        return hook

    @property
    def commit_counts(self) -> dict[str, list[int]]:
        """Commits of this run per kind: [applied, refused]."""
        return self.hooks.counts

    def count_commit(self, kind: str, applied: bool) -> None:
        counts = self.hooks.counts.setdefault(kind, [0, 0])
        counts[0 if applied else 1] += 1

    def force_settle(self, candles: Candles) -> None:
        """Data ran out (end of history): expire an open position at the last candle."""
        if self.phase == IDLE or not len(candles):
            return
        last = len(candles) - 1
        u = int(candles.timestamp[last])
        price = float(candles.vwap(self.cfg.CC_AVG_PRICE_CANDLES_COUNT)[last])
        if self.phase == SCHEDULED:
            self._cancel("timeout", price, u)
        else:
            self._close(Settled(last, "time_expired", price), u)

    # ---- asking the strategy -------------------------------------------

    def _ask(self, when_ms: int, candles: Candles) -> None:
        cursor = candles.index_at(when_ms)
        if cursor == 0:
            return  # nothing has closed yet: no price, nothing to decide on
        ctx = self._context
        if ctx is None or ctx.candles is not candles:
            ctx = self._context = RunContext(
                self.symbol, self.mode, candles, self.params, self.cfg.CC_AVG_PRICE_CANDLES_COUNT
            )
        ctx.when_ms = when_ms
        ctx.cursor = cursor
        token = activate(ctx)
        try:
            raw = self.strategy.get_signal(
                self.symbol, datetime.fromtimestamp(when_ms / 1000, tz=UTC)
            )
        except Exception as exc:  # user code: report, count the tick as idle, go on
            deactivate(token)
            self.get_signal_raised(exc, when_ms)
            return
        deactivate(token)
        # the price is read only where it is used (most asks return None and nobody listens)
        if raw is None:
            if self.emit_idle or "on_idle" in self.callbacks:
                self._idle(
                    when_ms, float(candles.vwap(self.cfg.CC_AVG_PRICE_CANDLES_COUNT)[cursor - 1])
                )
            return
        self.consider(
            raw, when_ms, float(candles.vwap(self.cfg.CC_AVG_PRICE_CANDLES_COUNT)[cursor - 1])
        )

    def get_signal_raised(self, exc: Exception, when_ms: int) -> None:
        """get_signal raised ``exc`` at ``when_ms``: counted as a rejection and emitted on "error"."""
        where = self._where(when_ms)
        error = StrategyError(
            f"{where}: get_signal raised {type(exc).__name__} at {raise_site(exc)}: {exc}"
        )
        self.note_rejection(str(error))
        self._error(error, when_ms, exc)

    def consider(self, raw: Any, when_ms: int, price: float) -> None:
        """Validate a signal decided at ``when_ms`` (current price ``price``) and open it if it passes."""
        try:
            parsed = parse_signal(raw)
        except SignalError as exc:
            where = self._where(when_ms)  # (formatted only for a signal refused: ~3 us a trade)
            error = SignalError(f"{where}: {exc}")
            self.note_rejection(str(error))
            self._error(error, when_ms)
            return
        sig, problems = check_signal(parsed, price, self.cfg)
        if problems:
            where = self._where(when_ms)
            error = SignalError(f"{where}: signal rejected: " + "; ".join(problems))
            self.note_rejection(str(error))
            self._error(error, when_ms, signal=parsed)
            return
        if self.risk_gates and not self._risk_allows(sig, price, when_ms):
            return
        self._open(sig, when_ms, price)

    @property
    def risk_in_python(self) -> bool:
        """True when a signal's risk check needs Python (see RiskGate.in_python): such a run
        never takes the compiled lane."""
        return any(gate.in_python for gate in self.risk_gates)

    def _risk_allows(self, sig: dict[str, Any], price: float, when_ms: int) -> bool:
        """Every risk in order (the first rejection wins); a rejection is counted, emitted on
        "risk" and given to the risk's on_rejected, and gives the throttle bucket back."""
        # the candidate as backtest-kit's risk sees it: a market entry's price_open is the current price
        candidate = {**sig, "price_open": price if sig["price_open"] is None else sig["price_open"]}
        base = {
            "symbol": self.symbol,
            "strategy_name": self.name,
            "exchange_name": self.exchange_name,
            "frame_name": self.frame_name,
            "current_price": price,
            "timestamp": when_ms,
            "current_signal": candidate,
            "signal": candidate,
        }
        for gate in self.risk_gates:
            payload = gate.payload(base)
            rejection = gate.check(payload, lambda: self._where(when_ms))
            if rejection is None:
                self._risk_callback(gate, "on_allowed", payload)
                continue
            message = f'{self._where(when_ms)}: rejected by risk "{gate.name}" ({rejection.by}): {rejection.note}'
            self.note_rejection(message)
            self.emit(
                "risk",
                {
                    "symbol": self.symbol,
                    "strategy_name": self.name,
                    "exchange_name": self.exchange_name,
                    "frame_name": self.frame_name,
                    "risk_name": gate.name,
                    "backtest": self.mode == "backtest",
                    "timestamp": when_ms,
                    "current_price": price,
                    "signal": candidate,
                    "current_signal": candidate,
                    "active_position_count": payload["active_position_count"],
                    "rejection_id": rejection.id,
                    "rejection_note": rejection.note,
                    "reason": rejection.note,
                    "message": message,
                },
            )
            self._risk_callback(gate, "on_rejected", payload)
            self.last_bucket = None  # given back: the strategy is asked again at the next tick
            return False
        return True

    def _risk_callback(self, gate: RiskGate, name: str, payload: dict[str, Any]) -> None:
        fn = gate.callbacks.get(name)
        if fn is None:
            return
        try:
            fn(self.symbol, check_args(payload))
        except Exception as exc:  # a callback's bug must not change what the risk decided
            self._error(
                StrategyError(
                    f'risk "{gate.name}": callback {name} raised {type(exc).__name__}: {exc} '
                    f"(for {self._where(payload['timestamp'])})"
                ),
                None,
                exc,
            )

    def _book_add(self, open_timestamp: int) -> None:
        for gate in self.risk_gates:
            gate.book.add(self.signal, open_timestamp)

    # ---- transitions ----------------------------------------------------

    def _open(self, sig: dict[str, Any], when_ms: int, price: float) -> None:
        long = sig["position"] == "long"
        scheduled = sig["price_open"] is not None
        entry = sig["price_open"] if scheduled else price
        row = {
            "id": sig["id"] or self._signal_id(when_ms),
            "position": sig["position"],
            "price_open": entry,
            "price_take_profit": sig["price_take_profit"],
            "price_stop_loss": sig["price_stop_loss"],
            "minute_estimated_time": sig["minute_estimated_time"],
            "note": sig["note"],
            "symbol": self.symbol,
            "strategy_name": self.name,
            "exchange_name": self.exchange_name,
            "frame_name": self.frame_name,
            "scheduled_at": when_ms,
            "pending_at": when_ms,
            "params": self.params or None,
        }
        if "cost" in sig:  # (a signal's own first-entry dollars; none: CC_POSITION_ENTRY_COST)
            row["cost"] = sig["cost"]
        self.signal = row
        if scheduled and not ((price <= entry) if long else (price >= entry)):
            self.phase = SCHEDULED
            self.next_ms = when_ms
            if self.risk_gates:  # a limit entry holds its place in the risks' books while it waits
                self._book_add(when_ms)
            self._event("scheduled", when_ms, price)
            if "on_schedule" in self.callbacks:
                self._schedule_hook(row, price, when_ms)
            return
        self._activate(when_ms)

    def _schedule_hook(self, row: dict[str, Any], price: float, when_ms: int) -> None:
        """on_schedule, run as a position hook: it may commit_cancel_scheduled or
        commit_activate_scheduled, acted on at the next candle."""
        # the candles get_signal just read (event lane, Live), or the run's (BacktestRun.use_candles)
        candles = self._context.candles if self._context is not None else None
        if candles is None:  # (a core driven without candles: nothing to price a hook at)
            self._callback("on_schedule", row, price)
            return
        self.position = Position(row, self.cfg)
        hook = self.hook_for(candles, candles.vwap(self.cfg.CC_AVG_PRICE_CANDLES_COUNT))
        hook.at(candles.index_at(when_ms), when_ms, price)
        token = activate(self._context)
        self._context.hook = hook
        try:
            self._callback("on_schedule", row, price)
            hook.flush()
        finally:
            self._context.hook = None
            deactivate(token)

    def _activate(self, check_from_ms: int) -> None:
        sig = self.signal
        self.phase = ACTIVE
        self.next_ms = check_from_ms
        # the managed fields (entries, originals ...) are added when hooks first run or at the close:
        # a position nobody manages pays for them once
        self.position = None
        entry = sig["price_open"]
        self.peak = (entry, 0.0)
        self.fall = (entry, self._pnl(entry))
        if self.risk_gates:
            self._book_add(sig["pending_at"])
        self._event("opened", sig["pending_at"], entry)
        self._callback("on_open", sig, entry)

    def _watch(self, candles: Candles, vwap, limit: int) -> None:
        sig = self.signal
        # (manages_positions, inlined: this runs once per trade of every run)
        if (
            self.hooks.callbacks
            or events.any_listened(events.POSITION_TOPICS)
            or self.position is not None
        ):
            if self.position is None:
                if "entries" not in sig:
                    open_position(sig, self._entry_cost())
                self.position = Position(sig, self.cfg)
            start = candles.index_at(self.next_ms)
            walk_position(self, candles, vwap, limit)
            if (
                self.phase == ACTIVE
                and limit > start
                and ("on_active" in self.callbacks or self.emit_idle)
            ):
                self._event("active", self.next_ms - MINUTE_MS, float(vwap[limit - 1]))
                self._callback("on_active", sig, float(vwap[limit - 1]))
            return
        long = sig["position"] == "long"
        lifetime = sig["minute_estimated_time"]
        # (math.inf, no expiry, is allowed under CC_MAX_SIGNAL_LIFETIME_MINUTES = math.inf)
        expires = sig["pending_at"] + lifetime * MINUTE_MS if lifetime != math.inf else math.inf
        if self.frame_end_ms is not None:
            expires = min(expires, self.frame_end_ms + 1)
        start = candles.index_at(self.next_ms)
        hit = scan_position(
            candles,
            vwap,
            start,
            limit,
            long,
            sig["price_take_profit"],
            sig["price_stop_loss"],
            expires,
        )
        stop = hit.index if hit is not None else max(limit, start)
        self.peak, self.fall = excursions(
            vwap, start, stop, long, sig["price_open"], self.peak, self.fall, self._pnl
        )
        if hit is None:
            if limit > start:
                self.next_ms = int(candles.timestamp[limit - 1]) + MINUTE_MS
                if "on_active" in self.callbacks or self.emit_idle:
                    self._event("active", self.next_ms - MINUTE_MS, float(vwap[limit - 1]))
                    self._callback("on_active", sig, float(vwap[limit - 1]))
            return
        self._close(hit, int(candles.timestamp[hit.index]))

    def _close(self, hit: Settled, u: int, excursion: bool = True) -> None:
        """Close at ``hit``; ``excursion`` False (a user's close): the close point is not
        merged into the peak and fall."""
        sig = self.signal
        entries = sig.get("entries")
        if entries is None:  # nobody managed it: one entry, as opened
            pnl, invested = self._pnl(hit.price), self._entry_cost()
        elif len(entries) > 1 or sig["partials"]:
            pnl, _, invested = position_pnl(
                sig["position"],
                entries,
                sig["partials"],
                hit.price,
                self.cfg.CC_PERCENT_SLIPPAGE,
                self.cfg.CC_PERCENT_FEE,
            )
        else:
            pnl, invested = self._pnl(hit.price), entries[0]["cost"]
        peak, fall = self.peak, self.fall
        if excursion:
            if pnl < fall[1]:
                fall = (hit.price, pnl)
            if pnl > 0 and pnl > peak[1]:
                peak = (hit.price, pnl)
        record = self._record("closed", u, hit.price)
        if entries is None:  # (on the record's copy: a snapshot may still hold the live signal)
            open_position(record["signal"], invested)
        record.update(
            close_reason=hit.reason,
            close_timestamp=u,
            pnl={
                "pnl_percentage": pnl,
                "price_open": sig["price_open"],
                "price_close": hit.price,
                "pnl_entries": invested,
                "pnl_cost": pnl / 100 * invested,
            },
            peak_price=peak[0],
            peak_pnl=peak[1],
            fall_price=fall[0],
            fall_pnl=fall[1],
        )
        self._settle(u)
        self.emit("closed", record)
        self._callback("on_close", record["signal"], hit.price)

    def _cancel(self, reason: str, price: float, u: int) -> None:
        record = self._record("cancelled", u, price)
        record.update(cancel_reason=reason, close_timestamp=u)
        self._settle(u)
        self.emit("cancelled", record)
        self._callback("on_cancel", record["signal"], price)

    def _settle(self, u: int) -> None:
        for gate in self.risk_gates:
            gate.book.remove(self.name, self.exchange_name, self.symbol)
        self.phase = IDLE
        self.signal = None
        self.position = None
        self.peak = self.fall = None
        self.settled_ms = u
        self.next_ms = u + MINUTE_MS

    # ---- helpers --------------------------------------------------------

    def note_rejection(self, message: str) -> None:
        """Count one refused signal; keep its message if its reason (the message without its
        ``_where``) is new, a few only."""
        self.rejected += 1
        if len(self.rejections) < REJECTION_SAMPLES:
            reason = self._reason(message)
            if all(self._reason(kept) != reason for kept in self.rejections):
                self.rejections.append(message)

    def _entry_cost(self) -> float:
        """Dollars of the signal's first entry: its own ``cost``, else CC_POSITION_ENTRY_COST."""
        cost = self.signal.get("cost")
        return self.hooks.entry_cost if cost is None else cost

    def _lead(self) -> str:
        return f'strategy "{self.name}" on {self.symbol} at '

    def _where(self, when_ms: int) -> str:
        return f"{self._lead()}{_iso(when_ms)}"

    def _reason(self, message: str) -> str:
        lead = self._lead()
        return message[len(lead) + ISO_CHARS :] if message.startswith(lead) else message

    def _pnl(self, price: float) -> float:
        return pnl_percentage(
            self.signal["position"],
            self.signal["price_open"],
            price,
            self.cfg.CC_PERCENT_SLIPPAGE,
            self.cfg.CC_PERCENT_FEE,
        )

    def _signal_id(self, when_ms: int) -> str:
        # deterministic, so a re-run (or a resumed live process) names a signal the same way
        if self._id_prefix is None:
            self._id_prefix = f"{self.exchange_name}|{self.symbol}|{self.name}|".encode()
        return hashlib.blake2b(self._id_prefix + str(when_ms).encode(), digest_size=8).hexdigest()

    def _record(self, action: str, timestamp: int, price: float) -> dict[str, Any]:
        return {
            "action": action,
            "symbol": self.symbol,
            "strategy_name": self.name,
            "exchange_name": self.exchange_name,
            "frame_name": self.frame_name,
            "backtest": self.mode == "backtest",
            "timestamp": timestamp,
            "signal": dict(self.signal),
            "current_price": price,
        }

    def _event(self, action: str, timestamp: int, price: float) -> None:
        self.emit(action, self._record(action, timestamp, price))

    def _idle(self, when_ms: int, price: float) -> None:
        if self.emit_idle:
            self.emit(
                "idle",
                {
                    "action": "idle",
                    "symbol": self.symbol,
                    "strategy_name": self.name,
                    "exchange_name": self.exchange_name,
                    "frame_name": self.frame_name,
                    "backtest": self.mode == "backtest",
                    "timestamp": when_ms,
                    "current_price": price,
                },
            )
        if "on_idle" in self.callbacks:
            self._guarded("on_idle", self.symbol, price, self.mode == "backtest")

    def _callback(self, name: str, signal: dict[str, Any], price: float) -> None:
        if name in self.callbacks:
            self._guarded(name, self.symbol, signal, price, self.mode == "backtest")

    def _guarded(self, name: str, *args: Any) -> None:
        try:
            self.callbacks[name](*args)
        except Exception as exc:  # a callback's bug must not lose the signal being tracked
            self.callback_raised(name, exc)

    def callback_raised(self, name: str, exc: Exception) -> None:
        """Callback ``name`` raised ``exc``: said on listen_error, and the run goes on."""
        self._error(
            StrategyError(
                f'strategy "{self.name}" on {self.symbol}: callback {name} raised '
                f"{type(exc).__name__}: {exc}"
            ),
            None,
            exc,
        )

    def _error(
        self,
        error: Exception,
        when_ms: int | None,
        cause: BaseException | None = None,
        signal: dict[str, Any] | None = None,
    ) -> None:
        if cause is not None:
            error.__cause__ = cause
        self.emit(
            "error",
            {
                "symbol": self.symbol,
                "strategy_name": self.name,
                "exchange_name": self.exchange_name,
                "timestamp": when_ms,
                "kind": type(error).__name__,
                "message": str(error),
                "signal": signal,
                "error": error,
            },
        )

    # ---- persistence (Live) ---------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The state to persist: enough to resume monitoring after a crash."""
        return {
            "phase": self.phase,
            "signal": self.signal,
            "next_ms": self.next_ms,
            "peak": list(self.peak) if self.peak else None,
            "fall": list(self.fall) if self.fall else None,
            "last_bucket": self.last_bucket,
            "position": self.position.snapshot() if self.position is not None else None,
            # refused signals are no logged event: kept here, so another process's report counts them
            "rejected": self.rejected,
            "rejections": list(self.rejections),
            # the commits so far per kind, [applied, refused] (kept with the state, as rejected is:
            # a restarted run and another process's get_data count them all)
            "commits": {kind: list(counts) for kind, counts in self.hooks.counts.items()},
        }

    def restore(self, state: dict[str, Any]) -> None:
        phase = state.get("phase")
        if phase not in (IDLE, SCHEDULED, ACTIVE):
            raise PersistenceError(f"unknown phase {phase!r}")
        if phase != IDLE and not isinstance(state.get("signal"), dict):
            raise PersistenceError(f"phase {phase} without a signal")
        for key in ("peak", "fall"):
            value = state.get(key)
            if value is not None and (
                len(value) != 2 or not all(math.isfinite(float(x)) for x in value)
            ):
                raise PersistenceError(f"{key} must be [price, pnl], got {value!r}")
        self.phase = phase
        self.signal = state.get("signal")
        self.next_ms = int(state.get("next_ms") or 0)
        self.peak = tuple(state["peak"]) if state.get("peak") else None
        self.fall = tuple(state["fall"]) if state.get("fall") else None
        self.last_bucket = state.get("last_bucket")
        if self.risk_gates and self.signal is not None:  # a restored signal holds its place again
            self._book_add(
                self.signal["pending_at"] if phase == ACTIVE else self.signal["scheduled_at"]
            )
        self.position = None
        if self.signal is not None and (phase == ACTIVE or state.get("position")):
            if phase == ACTIVE and state.get("position") and "entries" not in self.signal:
                open_position(self.signal, self._entry_cost())
            if state.get("position"):
                self.position = Position.restore(self.signal, self.cfg, state["position"])
        rejected, rejections = (
            state.get("rejected", 0),
            state.get("rejections", []),
        )  # (absent before)
        if (
            not isinstance(rejected, int)
            or isinstance(rejected, bool)
            or rejected < 0
            or not isinstance(rejections, list)
            or not all(isinstance(r, str) for r in rejections)
        ):
            raise PersistenceError(
                f"rejected must be a count and rejections a list of messages, got "
                f"{rejected!r} and {rejections!r}"
            )
        self.rejected, self.rejections = rejected, rejections[:REJECTION_SAMPLES]
        self.hooks.counts = _commit_counts(state.get("commits", {}))  # (absent before)
