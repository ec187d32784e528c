"""A portfolio of 10 members over a year of 1m candles against the 10 members' separate
backtests, in one process: ``python bench/portfolio.py [--runs 5] [--days 365] [--json PATH]``.

The 10 symbols are years made as bench/make_year.py makes SIMUSDT (seeds 2025 .. 2034, in
memory). Member k runs sma-cross (5m) with its own (fast, slow) on symbol k. Cases:

- ``event``: every member has ``get_signal`` (the event lane);
- ``vector``: every member has ``get_signals`` (the vector lane, as ``Backtest.run`` runs it);

each timed three ways, in turns (alone, portfolio, portfolio-risk) so a slow spell of the
machine hits all alike:

- ``alone``: the 10 ``BacktestRun``s one after the other, with a listener as ``Backtest.run``
  has (so the lanes are those of an in-process backtest);
- ``portfolio``: one ``PortfolioRun`` of the 10, nothing shared (its members' trades are the
  separate backtests' trades, checked);
- ``portfolio-risk``: the same with a shared risk (max_positions 5) and a capital of 1,000
  (entries of 100): members are refused, so trades differ.

Candles are loaded once, outside the timing; building the runs (and the ``get_signals``
intents) is inside. The figure is the median of the runs (min-max beside it); the goal is
``portfolio`` within 1.5x of ``alone``.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_year import generate  # noqa: E402

MEMBERS = 10
PARAMS = [
    (10, 30),
    (5, 20),
    (5, 30),
    (10, 40),
    (15, 45),
    (20, 60),
    (8, 21),
    (12, 26),
    (3, 15),
    (20, 90),
]
GOAL = 1.5  # the portfolio within this many times the separate backtests


def setup(days: int, form: str):
    """Register the market, frame, strategies, risk and portfolios; return (candles by symbol, names)."""
    from btfarm.shared.demo import sma_cross_signal, sma_cross_signals
    from btfarm.shared.engine.backtest_run import load_frame_candles
    from btfarm.shared.exchanges import dataframe_exchange
    from btfarm.shared.registry import (
        add_exchange,
        add_frame,
        add_portfolio,
        add_risk,
        add_strategy,
    )

    symbols = [f"SIM{k}USDT" for k in range(MEMBERS)]
    frames = {s: generate(days * 1440 + 1, seed=2025 + k) for k, s in enumerate(symbols)}
    exchange = add_exchange(dataframe_exchange("bench-year", frames), override=True)
    start, end = frames[symbols[0]]["timestamp"].iloc[[0, -2]]
    frame = add_frame(
        frame_name="bench-year",
        interval="1m",
        start_date=int(start),
        end_date=int(end),
        override=True,
    )
    names = []
    for fast, slow in PARAMS:
        name = f"sma-{form}-{fast}-{slow}"
        signal = (
            {"get_signal": sma_cross_signal}
            if form == "event"
            else {"get_signals": sma_cross_signals}
        )
        add_strategy(
            strategy_name=name,
            interval="5m",
            params={"fast": fast, "slow": slow},
            override=True,
            **signal,
        )
        names.append(name)
    add_risk(risk_name="bench-five", max_positions=5, override=True)
    members = [{"symbol": s, "strategy_name": n} for s, n in zip(symbols, names, strict=True)]
    add_portfolio(
        portfolio_name=f"bench-{form}",
        exchange_name="bench-year",
        frame_name="bench-year",
        members=members,
        override=True,
    )
    add_portfolio(
        portfolio_name=f"bench-{form}-risk",
        exchange_name="bench-year",
        frame_name="bench-year",
        members=members,
        risk_name="bench-five",
        capital=1000.0,
        override=True,
    )
    candles = {s: load_frame_candles(exchange, frame, s) for s in symbols}
    return candles, list(zip(symbols, names, strict=True))


def run_alone(candles, members) -> list[list[dict]]:
    from btfarm.shared.engine.backtest_run import BacktestRun
    from btfarm.shared.registry import get_exchange, get_frame, get_strategy

    exchange, frame = get_exchange("bench-year"), get_frame("bench-year")
    return [
        BacktestRun(
            get_strategy(name),
            exchange,
            frame,
            symbol,
            candles[symbol],
            listener=lambda kind, record: None,
        ).run()
        for symbol, name in members
    ]


def run_portfolio(candles, name: str):
    from btfarm.shared.engine.portfolio_run import PortfolioRun
    from btfarm.shared.registry import get_portfolio

    return PortfolioRun(
        get_portfolio(name), candles=candles, listener=lambda kind, record: None
    ).run()


def trades(closed: list[dict]) -> list[tuple]:
    return [(c["signal"]["id"], c["close_timestamp"], c["pnl"]["pnl_percentage"]) for c in closed]


def bench(form: str, days: int, runs: int) -> dict:
    candles, members = setup(days, form)
    # one untimed round: the candles' derived arrays (VWAP, walk grids) are made once for all
    alone = run_alone(candles, members)
    together = run_portfolio(candles, f"bench-{form}")
    same = all(trades(alone[k]) == trades(together.members[k].closed) for k in range(MEMBERS))
    risky = run_portfolio(candles, f"bench-{form}-risk")
    trade_counts = {
        "alone": sum(len(a) for a in alone),
        "portfolio": len(together.closed),
        "portfolio-risk": len(risky.closed),
    }
    rejections, most_open = risky.walk.risk_events, risky.walk.max_open
    labels = ("alone", "portfolio", "portfolio-risk")
    seconds: dict[str, list[float]] = {label: [] for label in labels}
    cpu: dict[str, list[float]] = {label: [] for label in labels}
    asks = {"alone": None, "portfolio": _asks(together), "portfolio-risk": _asks(risky)}
    del alone, together, risky  # (results kept alive would make every later collection slower)
    for _ in range(runs):
        for label, work in (
            ("alone", lambda: run_alone(candles, members)),
            ("portfolio", lambda: run_portfolio(candles, f"bench-{form}")),
            ("portfolio-risk", lambda: run_portfolio(candles, f"bench-{form}-risk")),
        ):
            gc.collect()
            started, started_cpu = time.perf_counter(), time.process_time()
            work()
            seconds[label].append(time.perf_counter() - started)
            cpu[label].append(time.process_time() - started_cpu)
    medians = {label: statistics.median(values) for label, values in seconds.items()}
    cpu_medians = {label: statistics.median(values) for label, values in cpu.items()}
    return {
        "form": form,
        "days": days,
        "members": MEMBERS,
        "runs": runs,
        "candles_per_member": len(next(iter(candles.values()))),
        "trades": trade_counts,
        "same_trades": same,
        "asks": asks,
        "risk_rejections": rejections,
        "max_open_positions_risk": most_open,
        "seconds": seconds,
        "median_seconds": medians,
        "cpu_seconds": cpu,
        "median_cpu_seconds": cpu_medians,
        "ratio": medians["portfolio"] / medians["alone"],
        "ratio_cpu": cpu_medians["portfolio"] / cpu_medians["alone"],
        "ratio_risk": medians["portfolio-risk"] / medians["alone"],
    }


def _asks(run) -> int:
    """How many times the members were asked (get_signal calls, or offered get_signals rows
    considered): a rejection adds work, since a refused member is asked again at its next tick."""
    return run.walk.asks


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="timed rounds per case (default 3)")
    parser.add_argument(
        "--days", type=int, default=365, help="days of 1m candles per member (default 365)"
    )
    parser.add_argument(
        "--forms", default="event,vector", help="cases to run: event, vector or both"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    results = [bench(form, args.days, args.runs) for form in args.forms.split(",")]
    print(
        f"{'case':<7} {'alone s':>8} {'portfolio s':>12} {'ratio':>6} {'cpu ratio':>9} {'with risk s':>12}  "
        f"{'trades':>7} same"
    )
    for r in results:
        m, s = r["median_seconds"], r["seconds"]
        print(
            f"{r['form']:<7} {m['alone']:>8.2f} {m['portfolio']:>12.2f} {r['ratio']:>6.2f} {r['ratio_cpu']:>9.2f} "
            f"{m['portfolio-risk']:>12.2f}  {r['trades']['portfolio']:>7} {r['same_trades']}"
        )
        print(
            f"        min-max: alone {min(s['alone']):.2f}-{max(s['alone']):.2f}, portfolio "
            f"{min(s['portfolio']):.2f}-{max(s['portfolio']):.2f}, with risk "
            f"{min(s['portfolio-risk']):.2f}-{max(s['portfolio-risk']):.2f}"
        )
        verdict = "within" if r["ratio"] <= GOAL else "OVER"
        print(
            f"        {verdict} the goal of {GOAL}x. With the risk: {r['risk_rejections']} rejections, "
            f"{r['trades']['portfolio-risk']} trades, at most {r['max_open_positions_risk']} open, "
            f"{r['asks']['portfolio-risk']} asks (against {r['asks']['portfolio']} without)"
        )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
