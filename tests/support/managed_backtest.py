"""A strategy that manages its positions with hooks (SEMANTICS 9), on the reference data, for
the report tests: issue 31's trailing ladder (on_active_ping), a 50 % partial close at level 50
on either side (the availability listeners) and breakeven (on_breakeven, retried on every later
ping until applied), over the benchmark's cross entry (tests/support/position_reference.py).

Every commit goes through ``CountingApi``, which counts each kind's True and False returns: the
refused counts a test holds ``Backtest.get_data(...).commits`` to.

``python -m tests.support.managed_backtest`` registers it, runs the backtest and dumps its
report (``BTFARM_DUMP_DIR``/backtest/managed-positions.md and .html): the browser tests' page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime

from btfarm.orchestrator import (
    Backtest,
    add_exchange,
    add_frame,
    add_strategy,
    commit_breakeven,
    commit_partial_loss,
    commit_partial_profit,
    commit_trailing_stop,
    commit_trailing_take,
    csv_exchange,
    get_average_price,
    get_candles,
    listen_partial_loss_available,
    listen_partial_profit_available,
)
from tests.support import position_reference as ref
from tests.support.reference_data import SIM_CSV

SYMBOL, EXCHANGE, FRAME = "SIMUSDT", "sim-managed", "sim-managed-30d"
MANAGED, PLAIN = "managed-positions", "plain-positions"


class CountingApi:
    """btfarm's commit functions, each call's answer counted by kind (True: applied, False: refused)."""

    def __init__(self) -> None:
        self.applied: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def _call(self, kind: str, commit: Callable[..., bool], *args: object) -> bool:
        applied = commit(*args)
        (self.applied if applied else self.refused)[kind] += 1
        return applied

    def commit_trailing_stop(self, symbol: str, shift: float, price: float) -> bool:
        return self._call("trailing_stop", commit_trailing_stop, symbol, shift, price)

    def commit_trailing_take(self, symbol: str, shift: float, price: float) -> bool:
        return self._call("trailing_take", commit_trailing_take, symbol, shift, price)

    def commit_partial_profit(self, symbol: str, percent: float) -> bool:
        return self._call("partial_profit", commit_partial_profit, symbol, percent)

    def commit_partial_loss(self, symbol: str, percent: float) -> bool:
        return self._call("partial_loss", commit_partial_loss, symbol, percent)

    def commit_breakeven(self, symbol: str) -> bool:
        return self._call("breakeven", commit_breakeven, symbol)


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def get_signal(symbol: str, when: datetime) -> dict | None:
    return ref.cross_entry(
        get_candles(symbol, "1m", 35).close.tolist(), get_average_price(symbol), 120
    )


def register() -> tuple[CountingApi, list[Callable[[], None]]]:
    """Registers the exchange, the frame, the managed strategy and a plain one with the same
    entries; returns the managed one's counting API and the unsubscribe functions of its
    level listeners (call them when done: listeners are process-wide)."""
    api = CountingApi()
    trailing, partials, breakeven = ref.Trailing(), ref.Partials(), ref.Breakeven()

    def on_active_ping(symbol, signal, price, when, backtest):
        trailing.ping(api, symbol, signal, price, _ms(when))
        breakeven.ping(api, symbol, signal, price, _ms(when))

    def on_breakeven(symbol, signal, price, when, backtest):
        breakeven.breakeven(api, symbol, signal, price, _ms(when))

    add_exchange(csv_exchange(EXCHANGE, files={SYMBOL: SIM_CSV}), override=True)
    add_frame(
        frame_name=FRAME,
        interval="1m",
        start_date="2025-01-01T00:00:00Z",
        end_date="2025-01-30T23:59:00Z",
        override=True,
    )
    add_strategy(
        strategy_name=MANAGED,
        interval="5m",
        get_signal=get_signal,
        override=True,
        callbacks={"on_active_ping": on_active_ping, "on_breakeven": on_breakeven},
    )
    add_strategy(strategy_name=PLAIN, interval="5m", get_signal=get_signal, override=True)

    def only_managed(handler):
        return lambda e: handler(e) if e["strategy_name"] == MANAGED else None

    stops = [
        listen_partial_profit_available(
            only_managed(lambda e: partials.profit_level(api, e["symbol"], e["level"], e["signal"]))
        ),
        listen_partial_loss_available(
            only_managed(lambda e: partials.loss_level(api, e["symbol"], e["level"], e["signal"]))
        ),
    ]
    return api, stops


def main() -> None:
    _, stops = register()
    try:
        list(Backtest.run(SYMBOL, MANAGED, EXCHANGE, FRAME))
        print(Backtest.dump(SYMBOL, MANAGED))
    finally:
        for stop in stops:
            stop()


if __name__ == "__main__":
    main()
