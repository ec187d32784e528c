"""A position plan run as the hooks it stands for, in the event and vector lanes (SEMANTICS.md 9).

``PlanHooks`` is the plan of one run (resolved from the variant's params,
shared/position_plan.py). ``PositionHook`` calls it right after the
strategy's own callback of the same place: ``ping`` after ``on_active_ping``,
``breakeven`` after ``on_breakeven``, ``profit`` / ``loss`` after
``on_partial_profit`` / ``on_partial_loss`` with the same percent. Its
commits go through ``PositionHook.commit`` like a hook's, so they are
checked, counted and emitted on ``listen_strategy_commit`` alike: one
semantics, which the compiled loop (_batch_kernel.c) is held to by
tests/unit/test_position_plan_twins.py.

What the plan remembers per position (the rungs already acted on, a
breakeven still wanted, a close already asked) lives in
``Position.plan_state``, so Live persists it with the signal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..intervals import MINUTE_MS
from ..position_plan import ResolvedPlan
from ..schemas import StrategySchema
from .pnl import pnl_percentage

if TYPE_CHECKING:  # (position_hook imports this module)
    from .position_hook import PositionHook


def plan_for(
    strategy: StrategySchema, params: dict[str, Any] | None, name: str
) -> PlanHooks | None:
    """The plan ``strategy`` declares, with ``params`` (a variant's) in place; None without one.
    A variant whose params make the plan invalid is a SchemaError naming it."""
    plan = getattr(strategy, "position_plan", None)
    if plan is None:
        return None
    resolved = plan.resolve(
        strategy.params if params is None else params, where=f'strategy "{name}": position_plan'
    )
    return None if resolved is None else PlanHooks(resolved)


def side_move(sig: dict[str, Any], price: float) -> float:
    """The move from the effective entry to ``price``, in percent, positive in the position's favour."""
    entry = sig["price_open"]
    move = (price - entry) / entry * 100
    return move if sig["position"] == "long" else -move


class PlanHooks:
    """The hooks a resolved plan stands for."""

    __slots__ = ("plan", "moves_stop", "moves_take")

    def __init__(self, plan: ResolvedPlan) -> None:
        self.plan = plan
        self.moves_stop = plan.moves_stop
        self.moves_take = plan.moves_take

    def state(self, hook: PositionHook) -> dict[str, Any]:
        """This position's plan state (made on its first candle)."""
        pos = hook.core.position
        if pos.plan_state is None:
            # per ladder, how many rungs have acted: always its first ones (a rung acts once the
            # price has gone as far as its threshold or level, and those ascend)
            pos.plan_state = {
                "stop": 0,
                "take": 0,
                "profit": 0,
                "loss": 0,
                "breakeven_wanted": False,
                "close_asked": False,
            }
        return pos.plan_state

    def ping(self, hook: PositionHook) -> None:
        """Rules 1-5, where ``on_active_ping`` runs. They read the position as the hook's
        ``signal`` shows it: as it was when the hook began (a commit does not change the
        signal a hook was given)."""
        plan, state, core = self.plan, self.state(hook), hook.core
        sig, price, symbol = core.signal, hook.price, core.symbol
        entry, entries = sig["price_open"], len(sig["entries"])
        move = side_move(sig, price)
        ladder = plan.trailing_stop
        while state["stop"] < len(ladder) and move >= ladder[state["stop"]][0]:
            shift = ladder[state["stop"]][1]
            state["stop"] += 1
            hook.commit_by_plan("trailing_stop", symbol, percent_shift=shift, current_price=price)
        ladder = plan.trailing_take
        while state["take"] < len(ladder) and move <= ladder[state["take"]][0]:
            shift = ladder[state["take"]][1]
            state["take"] += 1
            hook.commit_by_plan("trailing_take", symbol, percent_shift=shift, current_price=price)
        if state["breakeven_wanted"] and hook.commit_by_plan("breakeven", symbol):
            state["breakeven_wanted"] = False
        if plan.average_buy is not None:
            step, cost, most = plan.average_buy
            if entries < most and move <= -step:
                hook.commit_by_plan("average_buy", symbol, cost=cost)
        minutes = plan.close_losing_after
        if (
            minutes is not None
            and not state["close_asked"]
            and hook.u - sig["pending_at"] >= minutes * MINUTE_MS
        ):
            cfg = core.cfg
            if (
                pnl_percentage(
                    sig["position"], entry, price, cfg.CC_PERCENT_SLIPPAGE, cfg.CC_PERCENT_FEE
                )
                < 0
            ):
                state["close_asked"] = True
                hook.commit_by_plan(
                    "close_pending", symbol, id=None, note="position_plan: close_losing_after"
                )

    def breakeven(self, hook: PositionHook) -> None:
        """Rule 3's first call, where ``on_breakeven`` runs."""
        if self.plan.breakeven and not hook.commit_by_plan("breakeven", hook.core.symbol):
            self.state(hook)["breakeven_wanted"] = True

    def profit(self, hook: PositionHook, percent: float) -> None:
        """Rule 6 on the profit side, where ``on_partial_profit`` runs with ``percent``."""
        self._closes(hook, percent, self.plan.partial_profit, "profit", "partial_profit")

    def loss(self, hook: PositionHook, percent: float) -> None:
        self._closes(hook, percent, self.plan.partial_loss, "loss", "partial_loss")

    def _closes(self, hook: PositionHook, percent: float, rungs, key: str, kind: str) -> None:
        if not rungs:
            return
        state = self.state(hook)
        while (
            state[key] < len(rungs) and percent >= rungs[state[key]][0]
        ):  # that level's first candle
            share = rungs[state[key]][1]
            state[key] += 1
            hook.commit_by_plan(kind, hook.core.symbol, percent=share)
