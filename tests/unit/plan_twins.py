"""A position plan written out by hand as hooks, and runs of both, for the plan twin tests.

``hand_hooks(plan)`` is each rule of shared/position_plan.py's docstring as a
strategy's callbacks would write it, with the public ``commit_*`` functions
and none of btfarm's plan code: the twin the compiled plan is held to.
``closed_view`` puts the closed records of two runs side by side (the note,
which only ``get_signal`` gives, left out).
"""

from __future__ import annotations

from typing import Any

from btfarm.orchestrator import (
    commit_average_buy,
    commit_breakeven,
    commit_close_pending,
    commit_partial_loss,
    commit_partial_profit,
    commit_trailing_stop,
    commit_trailing_take,
)
from btfarm.shared.engine_config import EngineConfig
from tests.support.position_reference import Costs, round_trip_pnl

MINUTE = 60_000


def _ms(when) -> int:
    return int(when.timestamp() * 1000)


def _move(signal: dict[str, Any], price: float) -> float:
    entry = signal["price_open"]
    move = (price - entry) / entry * 100
    return move if signal["position"] == "long" else -move


def hand_hooks(plan: dict[str, Any], cfg: EngineConfig) -> dict[str, Any]:
    """The callbacks that do what ``plan`` (a PositionPlan's dict, numbers only) declares."""
    stop, take = list(plan.get("trailing_stop", [])), list(plan.get("trailing_take", []))
    profit, loss = list(plan.get("partial_profit", [])), list(plan.get("partial_loss", []))
    average = plan.get("average_buy")
    minutes = plan.get("close_losing_after")
    costs = Costs(slippage=cfg.CC_PERCENT_SLIPPAGE, fee=cfg.CC_PERCENT_FEE)
    state: dict[int, dict[str, Any]] = {}

    def mine(signal):
        return state.setdefault(
            signal["pending_at"],
            {
                "stop": set(),
                "take": set(),
                "profit": set(),
                "loss": set(),
                "breakeven": False,
                "closed": False,
            },
        )

    def on_active_ping(symbol, signal, price, when, backtest):
        s = mine(signal)
        move = _move(signal, price)
        for k, (threshold, shift) in enumerate(stop):
            if k not in s["stop"] and move >= threshold:
                s["stop"].add(k)
                commit_trailing_stop(symbol, shift, price)
        for k, (threshold, shift) in enumerate(take):
            if k not in s["take"] and move <= threshold:
                s["take"].add(k)
                commit_trailing_take(symbol, shift, price)
        if s["breakeven"] and commit_breakeven(symbol):
            s["breakeven"] = False
        if (
            average is not None
            and len(signal["entries"]) < average["max_entries"]
            and move <= -average["step"]
        ):
            commit_average_buy(symbol, average.get("cost"))
        if (
            minutes is not None
            and not s["closed"]
            and _ms(when) - signal["pending_at"] >= minutes * MINUTE
            and round_trip_pnl(signal["position"] == "long", signal["price_open"], price, costs) < 0
        ):
            s["closed"] = True
            commit_close_pending(symbol)

    def on_breakeven(symbol, signal, price, when, backtest):
        if plan.get("breakeven") and not commit_breakeven(symbol):
            mine(signal)["breakeven"] = True

    def closes(rungs, key, commit):
        def hook(symbol, signal, price, percent, when, backtest):
            s = mine(signal)
            for k, (level, share) in enumerate(rungs):
                if k not in s[key] and percent >= level:
                    s[key].add(k)
                    commit(symbol, share)

        return hook

    return {
        "on_active_ping": on_active_ping,
        "on_breakeven": on_breakeven,
        "on_partial_profit": closes(profit, "profit", commit_partial_profit),
        "on_partial_loss": closes(loss, "loss", commit_partial_loss),
    }


def closed_view(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Closed records as compared: everything but the signal's note."""
    out = []
    for record in records:
        record = dict(record)
        record["signal"] = {k: v for k, v in record["signal"].items() if k != "note"}
        out.append(record)
    return out


def first_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> str:
    """Where two lists of closed records first differ (for assertion messages)."""
    if len(a) != len(b):
        return f"{len(a)} trades != {len(b)}"
    for k, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            keys = sorted(key for key in x.keys() | y.keys() if x.get(key) != y.get(key))
            if keys == ["signal"]:
                keys = [
                    f"signal.{key}"
                    for key in sorted(x["signal"].keys() | y["signal"].keys())
                    if x["signal"].get(key) != y["signal"].get(key)
                ]
            shown = {
                key: (x.get(key), y.get(key))
                if "." not in key
                else (x["signal"].get(key[7:]), y["signal"].get(key[7:]))
                for key in keys
            }
            return f"trade {k} (pending_at {x['signal']['pending_at']}): {shown}"
    return ""
