"""The strategies bench/position_trailing.py times: issue 31's "trailing" rule, three ways.

The benchmark cross of examples/sma_cross_5m.py (imported here, which registers
"sim", "sim-30d" and "sma-cross-5m"), plus a trailing-stop ladder: for each rung
(threshold, shift), once per position, when the move from the effective entry
(in percent, positive in the position's favour) reaches the threshold,
``commit_trailing_stop(symbol, shift, current_price)``.

- "trail-hook": the ladder as an ``on_active_ping`` hook (docs/guide/position.md's example);
- "trail-plan": the same ladder as a position plan (shared/position_plan.py);
- ``TrailingCross``: the same rule for backtesting.py 0.6.6, in ``next()`` (imported only
  when asked for, so btfarm's runs do not import backtesting.py).

``HOOK_CALLS`` counts the hook's calls in this process (the bench's ``--profile``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the checkout, for examples/

import examples.sma_cross_5m as cross  # noqa: E402 (registers "sim", "sim-30d", "sma-cross-5m")
from btfarm.orchestrator import add_strategy, commit_trailing_stop  # noqa: E402

LADDER = (
    (0.25, -0.75),
    (0.5, -1.0),
    (0.75, -1.25),
)  # (move %, shift of the stop's distance), issue 31
HOOK_CALLS = [0]
_rungs_done: dict[str, set] = {}  # signal id -> the thresholds already committed


def reset() -> None:
    """Forget the rungs done: a signal's id is its time, so a second run in one process reuses them."""
    _rungs_done.clear()
    HOOK_CALLS[0] = 0


def trail(symbol, signal, current_price, when, backtest):
    HOOK_CALLS[0] += 1
    done = _rungs_done.setdefault(signal["id"], set())
    if len(done) == len(LADDER):
        return
    entry = signal["price_open"]
    move = (current_price - entry) / entry * 100
    if signal["position"] != "long":
        move = -move
    for threshold, shift in LADDER:
        if threshold not in done and move >= threshold:
            done.add(threshold)
            commit_trailing_stop(symbol, shift, current_price)


add_strategy(
    strategy_name="trail-hook",
    interval="5m",
    get_signal=cross.get_signal,
    params={"fast": 10, "slow": 30},
    callbacks={"on_active_ping": trail},
    override=True,
)
add_strategy(
    strategy_name="trail-plan",
    interval="5m",
    get_signal=cross.get_signal,
    params={"fast": 10, "slow": 30},
    position_plan={"trailing_stop": [list(rung) for rung in LADDER]},
    override=True,
)


def peer_strategy():
    """``TrailingCross``: bench/peer_backtesting_py.py's SmaCross5m with the ladder in ``next()``.

    btfarm measures a trailed stop's distance from the original one (1 %): the new distance
    is 1 + shift points from the entry, so SL = entry * (1 - (1 + shift) / 100) for a long
    (mirrored for a short), set only when tighter and not already past the bar's close (btfarm
    refuses a stop the price is past). The current price is the bar's close (btfarm's: the
    candle's 5-candle VWAP), the entry the fill at the next bar's open.
    """
    from peer_backtesting_py import EXPIRY_BARS, SmaCross5m

    class TrailingCross(SmaCross5m):
        def init(self) -> None:
            super().init()
            self.rungs_done: dict[int, set] = {}

        def next(self) -> None:
            if self.position and len(self.data) - 1 - self.entry_bar < EXPIRY_BARS:
                price = self.data.Close[-1]
                for trade in self.trades:
                    self._trail(trade, price)
            super().next()

        def _trail(self, trade, price: float) -> None:
            done = self.rungs_done.setdefault(trade.entry_bar, set())
            entry, long = trade.entry_price, trade.is_long
            move = (price - entry) / entry * 100 * (1 if long else -1)
            for threshold, shift in LADDER:
                if threshold in done or move < threshold:
                    continue
                done.add(threshold)
                distance = (1 + shift) / 100
                new = entry * (1 - distance) if long else entry * (1 + distance)
                if (price < new) if long else (price > new):
                    continue  # the price is already past it
                if trade.sl is None or ((new > trade.sl) if long else (new < trade.sl)):
                    trade.sl = new

    return TrailingCross
