"""An open position's managed state and the rules of the commits that change it (SEMANTICS.md 9).

The public part lives on the signal row itself (so every event and result
shows it): the effective ``price_open`` / ``price_stop_loss`` /
``price_take_profit``, the originals, ``entries``, ``partials``, their
counts and ``close_id``. ``Position`` keeps the rest: whether SL or TP has
been trailed, which availability levels have fired, a commit waiting
for the next candle (a user's close, a scheduled signal's cancel or
activation) and, in Live only, the rest of a candle's hook a crash may cut
short (``hook_todo``, see position_hook.PositionHook.run_live). All of it is
plain JSON (``snapshot``/``restore``), what Live persists with the signal.

The rule methods take the price a commit is priced at and return True when
they applied, False when refused; checking the arguments is the caller's
(``position_hook.py``). Lists on the signal are replaced, never appended to,
so a signal dict handed to a hook earlier keeps showing that moment.
"""

from __future__ import annotations

import math
from typing import Any

from ..engine_config import EngineConfig
from ..errors import PersistenceError
from .pnl import closed_dollars, effective_entry, remaining_basis

LEVELS = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)  # percent of the way to TP (profit) or SL (loss)
PARTIAL_CAP_TOLERANCE = 1 + 1e-9  # closed dollars may exceed the invested by rounding only
FULLY_CLOSED = 1e-9  # a remaining basis below this share of the invested is nothing left
# the steps of a candle's hook in Live's journal (position_hook.PositionHook.run_live)
HOOK_STEPS = frozenset(
    {
        "active_ping",
        "on_active_ping",
        "plan_ping",
        "side",
        "breakeven_available",
        "on_breakeven",
        "plan_breakeven",
        "levels",
        "level",
        "on_partial_profit",
        "on_partial_loss",
        "plan_profit",
        "plan_loss",
        "flush",
    }
)


def open_position(sig: dict[str, Any], cost: float) -> None:
    """Give a signal that has just opened (``pending_at`` set) its managed fields."""
    sig["original_price_open"] = sig["price_open"]
    sig["original_price_stop_loss"] = sig["price_stop_loss"]
    sig["original_price_take_profit"] = sig["price_take_profit"]
    sig["entries"] = [{"price": sig["price_open"], "cost": cost, "timestamp": sig["pending_at"]}]
    sig["partials"] = []
    sig["total_entries"] = 1
    sig["total_partials"] = 0
    sig["close_id"] = None


def breakeven_threshold(cfg: EngineConfig) -> float:
    """Percent the price must move past the effective entry before breakeven: the round
    trip's costs 2 x (slippage + fee) plus CC_BREAKEVEN_THRESHOLD."""
    return 2 * (cfg.CC_PERCENT_SLIPPAGE + cfg.CC_PERCENT_FEE) + getattr(
        cfg, "CC_BREAKEVEN_THRESHOLD", 0.2
    )


def progress_percent(covered: float, total: float) -> float:
    """How far (percent, clamped to 0..100) ``covered`` is along ``total``; 100 when the
    target is at or behind the entry."""
    if total <= 0:
        return 100.0
    return min(max(covered / total * 100, 0.0), 100.0)


def _checked_hook_todo(cut: Any) -> dict[str, Any]:
    """A persisted ``hook_todo`` as run_live wrote it, or PersistenceError naming what is off."""
    ok = (
        isinstance(cut, dict)
        and isinstance(cut.get("u"), int)
        and isinstance(cut.get("price"), int | float)
        and math.isfinite(cut["price"])
        and (cut.get("entry") is None or isinstance(cut["entry"], int | float))
        and isinstance(cut.get("todo"), list)
        and isinstance(cut.get("queue"), list)
        and all(isinstance(step, list) and step and step[0] in HOOK_STEPS for step in cut["todo"])
        and all(isinstance(record, dict) for record in cut["queue"])
    )
    if not ok:
        raise PersistenceError(
            f"hook_todo must be {{u: ms, price, entry, todo: [[step, ...]], queue: [records]}}, "
            f"got {cut!r}"
        )
    return {
        "u": cut["u"],
        "price": float(cut["price"]),
        "entry": cut["entry"],
        "todo": [list(step) for step in cut["todo"]],
        "queue": [dict(r) for r in cut["queue"]],
    }


class Position:
    """The managed state of the one open (or scheduled) signal of a StrategyCore."""

    __slots__ = (
        "sig",
        "long",
        "cfg",
        "trailed_sl",
        "trailed_tp",
        "profit_levels",
        "loss_levels",
        "breakeven_seen",
        "pending",
        "plan_state",
        "hook_todo",
    )

    def __init__(self, sig: dict[str, Any], cfg: EngineConfig) -> None:
        self.sig = sig
        self.long = sig["position"] == "long"
        self.cfg = cfg
        self.trailed_sl = False
        self.trailed_tp = False
        self.profit_levels: list[int] = []  # availability levels already fired, in order
        self.loss_levels: list[int] = []
        self.breakeven_seen = False
        # a commit applied at candle "at", acted on at the next candle:
        # {"action": "close" | "cancel" | "activate", "id", "note", "at"}
        self.pending: dict[str, Any] | None = None
        # what a position plan remembers of this position (position_plan_hooks.PlanHooks.state); plain JSON
        self.plan_state: dict[str, Any] | None = None
        # Live: the candle whose hook is running and what of it is left (position_hook.run_live):
        # {"u", "price", "entry", "todo": [[step, ...], ...], "queue": [commit records not yet emitted]}
        self.hook_todo: dict[str, Any] | None = None

    # ---- persistence ----------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        state = {
            "trailed_sl": self.trailed_sl,
            "trailed_tp": self.trailed_tp,
            "profit_levels": list(self.profit_levels),
            "loss_levels": list(self.loss_levels),
            "breakeven_seen": self.breakeven_seen,
            "pending": self.pending,
        }
        if self.plan_state is not None:
            state["plan"] = dict(self.plan_state)
        cut = self.hook_todo
        if cut is not None:
            state["hook_todo"] = {
                "u": cut["u"],
                "price": cut["price"],
                "entry": cut["entry"],
                "todo": [list(step) for step in cut["todo"]],
                "queue": [dict(record) for record in cut["queue"]],
            }
        return state

    @classmethod
    def restore(
        cls, sig: dict[str, Any], cfg: EngineConfig, state: dict[str, Any] | None
    ) -> Position:
        pos = cls(sig, cfg)
        if state:
            pos.trailed_sl, pos.trailed_tp = (
                bool(state.get("trailed_sl")),
                bool(state.get("trailed_tp")),
            )
            pos.profit_levels = [int(x) for x in state.get("profit_levels") or []]
            pos.loss_levels = [int(x) for x in state.get("loss_levels") or []]
            pos.breakeven_seen = bool(state.get("breakeven_seen"))
            pos.pending = state.get("pending")
            plan = state.get("plan")
            pos.plan_state = dict(plan) if plan else None
            cut = state.get("hook_todo")
            pos.hook_todo = None if cut is None else _checked_hook_todo(cut)
        return pos

    # ---- availability (the per-candle hook's checks) --------------------

    def new_levels(self, kind: str, percent: float) -> list[int]:
        """The levels of ``kind`` ("profit" | "loss") ``percent`` reaches for the first time."""
        fired = self.profit_levels if kind == "profit" else self.loss_levels
        new = [level for level in LEVELS if percent >= level and level not in fired]
        fired.extend(new)
        return new

    def breakeven_reached(self, price: float) -> bool:
        """True the first time ``price`` (VWAP_u, on the profit side) passes the threshold."""
        if self.breakeven_seen:
            return False
        entry = self.sig["price_open"]
        thr = breakeven_threshold(self.cfg)
        if (price >= entry * (1 + thr / 100)) if self.long else (price <= entry * (1 - thr / 100)):
            self.breakeven_seen = True
            return True
        return False

    # ---- the commits' rules ----------------------------------------------

    def trailing_stop(self, shift: float, current_price: float) -> bool:
        sig, long = self.sig, self.long
        entry = sig["price_open"]
        distance = abs((entry - sig["original_price_stop_loss"]) / entry * 100) + shift
        new = entry * (1 - distance / 100) if long else entry * (1 + distance / 100)
        if (current_price < new) if long else (current_price > new):
            return False  # the price is already past it: it would stop out at once
        tp = sig["price_take_profit"]
        if (new >= tp) if long else (new <= tp):
            return False
        if self.trailed_sl and not getattr(self.cfg, "CC_ENABLE_TRAILING_EVERYWHERE", False):
            sl = sig["price_stop_loss"]
            if (new <= sl) if long else (new >= sl):
                return False  # not tighter than the stop already trailed
        sig["price_stop_loss"] = new
        self.trailed_sl = True
        return True

    def trailing_take(self, shift: float, current_price: float) -> bool:
        sig, long = self.sig, self.long
        entry = sig["price_open"]
        distance = abs((sig["original_price_take_profit"] - entry) / entry * 100) + shift
        new = entry * (1 + distance / 100) if long else entry * (1 - distance / 100)
        if (current_price > new) if long else (current_price < new):
            return False  # the price is already past it
        sl = sig["price_stop_loss"]
        if (new <= sl) if long else (new >= sl):
            return False
        if self.trailed_tp and not getattr(self.cfg, "CC_ENABLE_TRAILING_EVERYWHERE", False):
            tp = sig["price_take_profit"]
            if (new >= tp) if long else (new <= tp):
                return False  # a later move must bring TP closer to the price
        sig["price_take_profit"] = new
        self.trailed_tp = True
        return True

    def partial(self, kind: str, percent: float, price: float, when_ms: int) -> bool:
        """Close ``percent`` of what remains at ``price``; ``kind`` "profit" or "loss"."""
        sig, long = self.sig, self.long
        entry = sig["price_open"]
        if not getattr(self.cfg, "CC_ENABLE_PPPL_EVERYWHERE", False):
            if kind == "profit" and ((price <= entry) if long else (price >= entry)):
                return False
            if kind == "loss" and ((price >= entry) if long else (price <= entry)):
                return False
        if kind == "profit":
            tp = sig["price_take_profit"]
            if (price >= tp) if long else (price <= tp):
                return False
        else:
            sl = sig["price_stop_loss"]
            if (price <= sl) if long else (price >= sl):
                return False
        entries, partials = sig["entries"], sig["partials"]
        invested = sum(e["cost"] for e in entries)
        basis = remaining_basis(entries, partials)
        if closed_dollars(partials) + percent / 100 * basis > invested * PARTIAL_CAP_TOLERANCE:
            return False
        sig["partials"] = [
            *partials,
            {
                "type": kind,
                "percent": percent,
                "current_price": price,
                "cost_basis_at_close": basis,
                "entry_count_at_close": len(entries),
                "timestamp": when_ms,
            },
        ]
        sig["total_partials"] = len(sig["partials"])
        sig["price_open"] = effective_entry(entries, sig["partials"])
        if (
            remaining_basis(entries, sig["partials"]) <= invested * FULLY_CLOSED
            and self.pending is None
        ):
            # nothing left open: the position ends on the next candle as a user's close would
            self.pending = {
                "action": "close",
                "id": None,
                "note": "full_partial_close",
                "at": when_ms,
            }
        return True

    def breakeven(self, price: float) -> bool:
        sig, long = self.sig, self.long
        entry = sig["price_open"]
        tp = sig["price_take_profit"]
        if (entry >= tp) if long else (entry <= tp):
            return False
        thr = breakeven_threshold(self.cfg)
        if not ((price >= entry * (1 + thr / 100)) if long else (price <= entry * (1 - thr / 100))):
            return False  # the threshold is not reached (at the price one candle behind)
        sl = sig["price_stop_loss"]
        if self.trailed_sl and ((sl > entry) if long else (sl < entry)):
            return True  # a trailed stop already past the entry is kept
        if not ((sl < entry) if long else (sl > entry)):
            return False  # already at the entry
        if (price < entry) if long else (price > entry):
            return False  # the price is beyond the entry on the loss side
        sig["price_stop_loss"] = entry
        self.trailed_sl = True
        return True

    def average_buy(self, price: float, cost: float, when_ms: int) -> bool:
        sig = self.sig
        entries = sig["entries"]
        if not getattr(self.cfg, "CC_ENABLE_DCA_EVERYWHERE", False):
            if self.long and price >= min(e["price"] for e in entries):
                return False
            if not self.long and price <= max(e["price"] for e in entries):
                return False
        sig["entries"] = [*entries, {"price": price, "cost": cost, "timestamp": when_ms}]
        sig["total_entries"] = len(sig["entries"])
        sig["price_open"] = effective_entry(sig["entries"], sig["partials"])
        return True

    def defer(self, action: str, id: str | None, note: str | None, when_ms: int) -> bool:  # noqa: A002
        """A user's close / cancel / activation, acted on at the next candle; refused when
        one is already waiting."""
        if self.pending is not None:
            return False
        self.pending = {"action": action, "id": id, "note": note, "at": when_ms}
        return True
