"""What ``btfarm live`` subprocesses import in tests: a replay of the sim data and two strategies.

The replay's clock comes from the ``LIVE_REPLAY_CLOCK`` environment variable
(the same spec the test passes to ``btfarm live --clock``), so the exchange
and the live loop read one timeline.

- "sma-cross": the demo's crossover with its 5-minute throttle;
- "hold": one long per hour, closed by expiry after ``HOLD_MINUTES`` unless a
  wide take profit or stop loss is touched first: a signal that stays open
  long enough for a test to catch it open;
- "rejecter": a long whose take profit is below its entry, every 15 minutes
  (every signal refused);
- "managed-partial", "managed-trail", "managed-close", "managed-level": "hold"'s
  long, managed (SEMANTICS 9). On the candle ``COMMIT_AGE`` minutes into the
  position the first three commit from ``on_active_ping``: half the position
  closed (on the side the lagged price is on), the stop trailed 0.5 points
  tighter than it is, a close for the next candle; "managed-level" (a band of
  1 %) closes half from the listener of the first availability level 10. Right
  after the commit returns the strategy calls ``after_commit``: with the
  ``LIVE_REPLAY_MARKERS`` folder set (a ``btfarm live`` under test) it writes
  the commit to ``commits.jsonl`` there and, the first time, creates
  ``blocked`` and blocks the live loop for ever, so a test can SIGKILL the
  process exactly after a commit was persisted.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from btfarm.shared import events
from btfarm.shared.clock import Clock, ManualClock, clock_from_spec
from btfarm.shared.context import (
    commit_close_pending,
    commit_partial_loss,
    commit_partial_profit,
    commit_trailing_stop,
    get_average_price,
)
from btfarm.shared.demo import sma_cross_signal
from btfarm.shared.exchanges.replay import replay_exchange
from btfarm.shared.registry import add_exchange, add_strategy
from tests.support.reference_data import SIM_CSV

SYMBOL = "SIMUSDT"
EXCHANGE = "replay"
CLOCK_VARIABLE = "LIVE_REPLAY_CLOCK"
HOLD_MINUTES = 20  # "hold": a signal's lifetime
HOLD_BAND_PERCENT = 4.0  # "hold": take profit and stop loss this far from entry
MARKERS_VARIABLE = (
    "LIVE_REPLAY_MARKERS"  # a folder: the managed strategies mark their commits there and block
)
MANAGED = ("managed-partial", "managed-trail", "managed-close", "managed-level")
MANAGED_MINUTES = 30  # the managed strategies' lifetime
COMMIT_AGE = 3  # minutes into the position: the candle whose hook commits
LEVEL_BAND_PERCENT = 1.0  # "managed-level": take profit and stop loss this far from entry


def hold_signal(symbol: str, when: datetime) -> dict:
    price = get_average_price(symbol)
    return {
        "position": "long",
        "price_take_profit": price * (1 + HOLD_BAND_PERCENT / 100),
        "price_stop_loss": price * (1 - HOLD_BAND_PERCENT / 100),
        "minute_estimated_time": HOLD_MINUTES,
        "note": "hold",
    }


def rejected_signal(symbol: str, when: datetime) -> dict:
    price = get_average_price(symbol)  # a long whose take profit is below the entry: always refused
    return {"position": "long", "price_take_profit": price * 0.99, "price_stop_loss": price * 0.98}


def managed_signal(band: float) -> Callable[[str, datetime], dict]:
    def signal(symbol: str, when: datetime) -> dict:
        price = get_average_price(symbol)
        return {
            "position": "long",
            "price_take_profit": price * (1 + band / 100),
            "price_stop_loss": price * (1 - band / 100),
            "minute_estimated_time": MANAGED_MINUTES,
            "note": "managed",
        }

    return signal


def _marked(strategy: str, kind: str, applied: bool, when: datetime, signal_id: str) -> None:
    """What the managed strategies do right after a commit returned: by default,
    ``mark_and_block`` when the markers folder is set; a test in process may replace it."""
    if after_commit is not None:
        after_commit(strategy, kind, applied, when, signal_id)


def mark_and_block(strategy: str, kind: str, applied: bool, when: datetime, signal_id: str) -> None:
    folder = os.environ.get(MARKERS_VARIABLE)
    if not folder:
        return
    line = (
        json.dumps(
            {
                "strategy": strategy,
                "kind": kind,
                "applied": applied,
                "when": when.isoformat(),
                "signal_id": signal_id,
                "pid": os.getpid(),
            }
        )
        + "\n"
    )
    fd = os.open(
        os.path.join(folder, "commits.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644
    )
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if not applied:
        return
    try:  # the first applied commit only: a restarted process must run on
        os.close(
            os.open(os.path.join(folder, "blocked"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        )
    except FileExistsError:
        return
    threading.Event().wait()  # the live loop stops here, the commit persisted, until SIGKILL


after_commit: Callable[[str, str, bool, datetime, str], None] | None = mark_and_block


def _age(signal: dict, when: datetime) -> int:
    return (int(when.timestamp() * 1000) - signal["pending_at"]) // 60_000


def managed_ping(strategy: str) -> Callable:
    """``on_active_ping`` of a managed strategy: its one commit on the candle COMMIT_AGE
    minutes into the position (a restarted process calling it again would repeat it)."""

    def ping(symbol: str, signal: dict, price: float, when: datetime, backtest: bool) -> None:
        if _age(signal, when) != COMMIT_AGE:
            return
        if (
            strategy == "managed-partial"
        ):  # half, on the side the commit is priced on (the lagged price)
            kind = (
                "partial_profit"
                if get_average_price(symbol) > signal["price_open"]
                else "partial_loss"
            )
            applied = (commit_partial_profit if kind == "partial_profit" else commit_partial_loss)(
                symbol, 50
            )
        elif (
            strategy == "managed-trail"
        ):  # 0.5 points tighter than the stop is now: twice would show
            entry = signal["price_open"]
            original = abs(entry - signal["original_price_stop_loss"]) / entry * 100
            now = abs(entry - signal["price_stop_loss"]) / entry * 100
            kind, applied = (
                "trailing_stop",
                commit_trailing_stop(symbol, now - 0.5 - original, price),
            )
        else:
            kind, applied = (
                "close_pending",
                commit_close_pending(symbol, id="bye", note="managed-close"),
            )
        _marked(strategy, kind, applied, when, signal["id"])

    return ping


def managed_level(event: dict) -> None:
    """The listener of "managed-level": half closed when level 10 of either side first becomes
    available (once a position), on the side the commit is priced on (the lagged price)."""
    if (
        event["strategy_name"] != "managed-level"
        or event["level"] != 10
        or event["signal"]["partials"]
    ):
        return
    symbol = event["symbol"]
    kind = (
        "partial_profit"
        if get_average_price(symbol) > event["signal"]["price_open"]
        else "partial_loss"
    )
    applied = (commit_partial_profit if kind == "partial_profit" else commit_partial_loss)(
        symbol, 50
    )
    _marked(
        "managed-level",
        kind,
        applied,
        datetime.fromtimestamp(event["timestamp"] / 1000, tz=UTC),
        event["signal"]["id"],
    )


def listen_levels() -> Callable[[], None]:
    """Subscribe "managed-level"'s listener (global: every strategy of the process then walks
    its positions candle by candle, so only the tests of it subscribe). Returns the unsubscribe."""
    unsubscribes = [
        events.listen_partial_profit_available(managed_level),
        events.listen_partial_loss_available(managed_level),
    ]
    return lambda: [u() for u in unsubscribes]


def comparable(closed) -> tuple:
    """A closed result without its id (the id hashes the exchange name, which differs here)."""
    s = closed.signal
    return (
        s.position,
        s.scheduled_at,
        s.pending_at,
        s.price_open,
        s.price_take_profit,
        s.price_stop_loss,
        closed.close_reason,
        closed.close_timestamp,
        closed.pnl.price_close,
        closed.pnl.pnl_percentage,
        closed.peak_price,
        closed.peak_pnl,
        closed.fall_price,
        closed.fall_pnl,
    )


class StopAt(ManualClock):
    """A manual clock that asks ``strategy`` on ``symbol`` to stop once it reads ``stop_ms`` or later."""

    def __init__(self, start_ms: int, stop_ms: int, strategy: str, symbol: str = SYMBOL) -> None:
        super().__init__(start_ms)
        self.stop_ms, self.strategy, self.symbol, self.asked = stop_ms, strategy, symbol, False

    def sleep(self, seconds, wake=None):
        from btfarm.orchestrator import Live

        super().sleep(seconds, wake)
        if not self.asked and self.now_ms() >= self.stop_ms:
            self.asked = True
            Live.stop(self.symbol, self.strategy)


def register(clock: Clock) -> None:
    add_exchange(replay_exchange(EXCHANGE, clock, files={SYMBOL: SIM_CSV}), override=True)
    add_strategy(
        strategy_name="sma-cross",
        interval="5m",
        get_signal=sma_cross_signal,
        params={"fast": 10, "slow": 30},
        override=True,
    )
    add_strategy(strategy_name="hold", interval="1h", get_signal=hold_signal, override=True)
    add_strategy(
        strategy_name="rejecter", interval="15m", get_signal=rejected_signal, override=True
    )
    for name in MANAGED[:3]:
        add_strategy(
            strategy_name=name,
            interval="1h",
            get_signal=managed_signal(HOLD_BAND_PERCENT),
            callbacks={"on_active_ping": managed_ping(name)},
            override=True,
        )
    add_strategy(
        strategy_name="managed-level",
        interval="1h",
        get_signal=managed_signal(LEVEL_BAND_PERCENT),
        override=True,
    )


if os.environ.get(CLOCK_VARIABLE):
    register(clock_from_spec(os.environ[CLOCK_VARIABLE]))
    if os.environ.get(MARKERS_VARIABLE):  # a btfarm live of the managed strategies under test
        listen_levels()
