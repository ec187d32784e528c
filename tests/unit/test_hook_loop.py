"""The C loop over a hooked position's candles (shared/engine/_hook_loop.c) against the walk in Python.

Every run here is made twice, once with the C loop and once with it switched off
(``hook_loop.available`` False, as BTFARM_NATIVE=0 or an install without a compiler
leaves it). The closed signals must be identical field for field (entries, partials,
trailed levels, peak and fall, PnL), and so must the commit counts, every event a
listener hears in order (commits, breakeven, levels), the errors said and every ``when`` and
``current_price`` the hook is handed. Each test also checks the C loop really ran.

Covered: issue 31's scenarios on the reference data; a volatile market with gaps
(``when`` made, not a minute added), long and short; levels and breakeven nobody hears
(marked in C) and heard (run in Python); a hook that raises; a listener added inside a
hook (it counts from the next candle); an ``active_ping`` listener (the walk goes on in
Python); ``on_breakeven`` alone (no ping).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from btfarm.orchestrator import (
    commit_average_buy,
    commit_breakeven,
    commit_close_pending,
    commit_partial_loss,
    commit_partial_profit,
    commit_trailing_stop,
    commit_trailing_take,
)
from btfarm.shared import events
from btfarm.shared.engine import hook_loop, position_hook
from btfarm.shared.engine.backtest_run import BacktestRun
from btfarm.shared.engine.lifecycle import StrategyCore
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.exchanges import dataframe_exchange
from btfarm.shared.schemas import FrameSchema, StrategySchema
from tests.support import position_reference as ref

from .market import candles as make_candles
from .sim_data import load_sim
from .test_position_scenarios import engine_trades
from .test_walk_invariants import event_twin, market

pytestmark = pytest.mark.unit

HEARD = (
    "strategy_commit",
    "breakeven_available",
    "partial_profit_available",
    "partial_loss_available",
)


@pytest.fixture(autouse=True)
def _no_listeners():
    events.clear()
    yield
    events.clear()


class CountedLoop:
    """``_hook_loop`` with its ``walk`` calls counted (the C loop really ran)."""

    def __init__(self) -> None:
        self.calls = 0

    def walk(self, *args):
        self.calls += 1
        return hook_loop._hook_loop.walk(*args)


def noting_close(marked: list):
    """StrategyCore._close, noting the position's levels fired and breakeven seen first."""
    real_close = StrategyCore._close

    def close(core, *args, **kwargs):
        pos = core.position
        if pos is not None:
            marked.append((tuple(pos.profit_levels), tuple(pos.loss_levels), pos.breakeven_seen))
        return real_close(core, *args, **kwargs)

    return close


def twice(monkeypatch, run_once):
    """``run_once()`` with the C loop, then without: (its result and the positions' availability
    state at each close, C walk calls) of each. The levels fired and breakeven seen are no
    field of the closed signal, but a listener added later hears only the levels not fired yet."""
    out = []
    for native in (True, False):
        events.clear()
        counted = CountedLoop()
        marked: list[tuple] = []
        with monkeypatch.context() as patch:
            patch.setattr(position_hook, "_hook_loop", counted)
            patch.setattr(StrategyCore, "_close", noting_close(marked))
            if not native:
                patch.setattr(hook_loop, "available", lambda: False)
            out.append(((run_once(), marked), counted.calls))
    (native_out, native_calls), (python_out, python_calls) = out
    assert python_calls == 0
    assert any(levels for levels, _, _ in native_out[1]) and any(s for *_, s in native_out[1])
    return native_out, native_calls, python_out


def heard() -> list[tuple[str, object]]:
    """Listens to every event the hook's rest emits; returns the list they land in, in order."""
    seen: list[tuple[str, object]] = []
    for topic in HEARD:
        events.subscribe(
            topic, lambda e, topic=topic: seen.append((topic, repr(e.get("error", e))))
        )
    return seen


@pytest.mark.parametrize(
    "scenario", [ref.Trailing, ref.Partials, ref.Breakeven, ref.Averaging, ref.UserClose]
)
def test_reference_scenarios(scenario, monkeypatch):
    sim = load_sim("hook-loop-sim")

    def once():
        seen = heard()
        trades, run = engine_trades(sim, scenario())
        return trades, run.closed, dict(run.core.commit_counts), seen

    native, calls, python = twice(monkeypatch, once)
    assert calls > 100
    assert native == python
    assert len(native[0][0]) > 100


def test_no_expiry(monkeypatch):
    sim = load_sim("hook-loop-sim")
    cfg = EngineConfig(CC_MAX_SIGNAL_LIFETIME_MINUTES=math.inf)

    def once():
        _, run = engine_trades(sim, ref.NoExpiry(), cfg=cfg, force_hooks=True)
        return run.closed

    native, calls, python = twice(monkeypatch, once)
    assert calls > 50 and native == python


def every_commit(log: list):
    """A ping that uses every commit by turns, as a quant's hook might, logging what it is handed."""

    def ping(symbol, signal, price, when, backtest):
        log.append((signal["id"], price, when, backtest))
        entry = signal["price_open"]
        move = (price - entry) / entry * 100 * (1 if signal["position"] == "long" else -1)
        n = len(log)
        if move >= 0.2 and n % 3 == 0:
            commit_trailing_stop(symbol, -0.5, price)
        if move <= -0.3 and n % 5 == 0:
            commit_trailing_take(symbol, -0.4, price)
        if move >= 0.4 and n % 7 == 0:
            commit_partial_profit(symbol, 30)
        if move <= -0.4 and n % 11 == 0:
            commit_partial_loss(symbol, 40)
        if n % 13 == 0:
            commit_breakeven(symbol)
        if move <= -0.5 and len(signal["entries"]) < 3 and n % 4 == 0:
            commit_average_buy(symbol)
        if n % 97 == 0:
            commit_close_pending(symbol, id=f"c{n}")
        if n % 89 == 0:
            raise RuntimeError(f"hook bug {n}")

    return ping


def gaps_run(seed: int, callbacks: dict, listen: bool):
    data = market(seed, 6000, 0.01)
    candles = make_candles(data)
    frame = FrameSchema(
        frame_name="hook-loop",
        interval="1m",
        start_date=int(data["timestamp"][60]),
        end_date=int(data["timestamp"][-1]),
    )
    strategy = StrategySchema(
        strategy_name="hook-loop",
        interval="5m",
        get_signal=event_twin(data, seed),
        callbacks=callbacks,
    )
    seen = heard() if listen else []
    errors: list[str] = []  # (a BacktestRun's core says its errors to the run's listener)
    run = BacktestRun(
        strategy,
        dataframe_exchange("hook-loop-gaps", {}),
        frame,
        "SIMUSDT",
        candles,
        listener=lambda kind, record: errors.append(record["message"]) if kind == "error" else None,
    )
    run.run()
    return run, seen, errors


@pytest.mark.parametrize("listen", [False, True], ids=["unheard", "heard"])
@pytest.mark.parametrize("seed", [3, 11])
def test_volatile_market_with_gaps(seed, listen, monkeypatch):
    def once():
        log: list = []
        run, seen, errors = gaps_run(seed, {"on_active_ping": every_commit(log)}, listen)
        return run.closed, dict(run.core.commit_counts), seen, errors, log

    native, calls, python = twice(monkeypatch, once)
    assert native == python
    closed, counts, seen, errors, log = native[0]
    assert calls > 20 and len(closed) > 20
    assert {r["signal"]["position"] for r in closed} == {"long", "short"}
    assert any(r["close_reason"] == "closed" for r in closed)
    assert all(counts[kind][0] > 0 for kind in ("trailing_stop", "partial_profit", "average_buy"))
    assert sum("hook bug" in e for e in errors) > 3  # a raising hook is said, and the walk goes on
    gaps = [b[2] - a[2] for a, b in zip(log, log[1:], strict=False) if a[0] == b[0]]
    assert max(gaps).total_seconds() > 60  # some `when`s were made, not a minute added
    if listen:
        assert {t for t, _ in seen} >= {"strategy_commit", "breakeven_available"}
        assert any(t == "partial_profit_available" for t, _ in seen)


def test_breakeven_callback_alone(monkeypatch):
    """No ping: the C loop walks the candles and stops only where breakeven is heard."""

    def once():
        called: list = []

        def on_breakeven(symbol, signal, price, when, backtest):
            called.append((signal["id"], price, when))
            commit_breakeven(symbol)

        run, _, _ = gaps_run(7, {"on_breakeven": on_breakeven}, listen=False)
        return run.closed, dict(run.core.commit_counts), called

    native, calls, python = twice(monkeypatch, once)
    assert native == python
    assert calls > 20 and len(native[0][2]) > 5


@pytest.mark.parametrize("topic", ["partial_profit_available", "active_ping"])
def test_a_listener_added_in_a_hook_counts_from_the_next_candle(topic, monkeypatch):
    """The 40th ping subscribes a listener: from the next candle on it is heard (an
    ``active_ping`` listener sends the rest of the walk to Python), the same in both walks."""

    def once():
        log: list = []
        got: list = []
        inner = every_commit(log)

        def ping(symbol, signal, price, when, backtest):
            inner(symbol, signal, price, when, backtest)
            if len(log) == 40:
                events.subscribe(
                    topic,
                    lambda e: got.append((e["timestamp"], e["current_price"], e.get("level"))),
                )

        run, _, _ = gaps_run(5, {"on_active_ping": ping}, listen=False)
        return run.closed, dict(run.core.commit_counts), log, got

    native, calls, python = twice(monkeypatch, once)
    assert native == python
    closed, _, log, got = native[0]
    assert len(got) > 10 and len(closed) > 20 and calls > 0
    assert got[0][0] > int(log[39][2].timestamp() * 1000)  # not on the candle that subscribed


def test_the_hook_loop_is_built_by_the_install():
    assert hook_loop.unavailable_reason() is None, hook_loop.unavailable_reason()


def test_bad_bounds_are_a_value_error():
    ts = np.arange(5, dtype=np.int64) * 60_000
    prices = np.ones(5)
    args = [ts, prices, prices, 3, 9]  # limit past the candles
    args += [True, math.inf, math.inf, False, 1.0, 0.9, 1.1, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    args += [False, 0.2, None, [], [], True, True, True, None, "S", {}, True, -1, None]
    args += [None, None, None, None, [], {}, frozenset(), None]
    with pytest.raises(ValueError, match="must lie inside the arrays"):
        hook_loop._hook_loop.walk(*args)
