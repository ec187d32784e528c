"""One timed run of one case on one engine, in this process: ``python bench/engines.py ENGINE CASE RUNS``.

Prints a JSON line: seconds per run, trades per variant, peak RSS of this
process and of its children. ``bench/run.py`` starts one such process per
(engine, case) so the peak RSS figures are each engine's own.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES, DATA, SYMBOL  # noqa: E402


def btfarm_runner(form: str):
    from btfarm.shared.demo import sma_cross_signal, sma_cross_signals
    from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
    from btfarm.shared.exchanges import csv_exchange
    from btfarm.shared.schemas import FrameSchema, StrategySchema

    exchange = csv_exchange("sim", files={SYMBOL: DATA})
    frame = FrameSchema(
        frame_name="sim-30d",
        interval="1m",
        start_date="2025-01-01T00:00:00Z",
        end_date="2025-01-30T23:59:00Z",
    )
    candles = load_frame_candles(exchange, frame, SYMBOL)

    def run(variants):
        trades = []
        for fast, slow in variants:
            strategy = StrategySchema(
                strategy_name=f"sma-cross[fast={fast},slow={slow}]",
                interval="5m",
                get_signal=sma_cross_signal,
                get_signals=sma_cross_signals,
                params={"fast": fast, "slow": slow},
            )
            trades.append(
                len(BacktestRun(strategy, exchange, frame, SYMBOL, candles, form=form).run())
            )
        return trades

    return run


def backtesting_py_runner(parallel: bool):
    warnings.filterwarnings("ignore")
    from peer_backtesting_py import backtest, load

    data = load(DATA)

    def run(variants):
        bt = backtest(data)
        if parallel and len(variants) > 1:
            fasts = sorted({f for f, _ in variants})
            slows = sorted({s for _, s in variants})
            wanted = set(variants)
            _, heatmap = bt.optimize(
                fast=fasts,
                slow=slows,
                maximize="# Trades",
                return_heatmap=True,
                constraint=lambda p: (p.fast, p.slow) in wanted,
            )
            return [int(heatmap.loc[v]) for v in variants]
        return [int(bt.run(fast=f, slow=s)["# Trades"]) for f, s in variants]

    return run


def vectorbt_runner():
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    raw = pd.read_csv(DATA)
    close = pd.Series(raw["close"].to_numpy(), index=pd.to_datetime(raw["timestamp_ms"], unit="ms"))
    on_grid = (close.index.minute + 1) % 5 == 0

    def run(variants):
        fasts = [f for f, _ in variants]
        slows = [s for _, s in variants]
        k = len(variants)
        fast = (
            vbt.MA.run(close, window=fasts, short_name="fast").ma.to_numpy().reshape(len(close), k)
        )
        slow = (
            vbt.MA.run(close, window=slows, short_name="slow").ma.to_numpy().reshape(len(close), k)
        )

        def shift(a, bars, fill):
            return np.vstack([np.full((bars, a.shape[1]), fill), a[:-bars]])

        up = (shift(fast, 5, np.nan) <= shift(slow, 5, np.nan)) & (fast > slow) & on_grid[:, None]
        down = (shift(fast, 5, np.nan) >= shift(slow, 5, np.nan)) & (fast < slow) & on_grid[:, None]
        # from_signals has no time stop: an exit 120 bars after each entry signal stands in for expiry
        expire = shift(up | down, 120, False)
        pf = vbt.Portfolio.from_signals(
            close,
            entries=up,
            exits=expire,
            short_entries=down,
            short_exits=expire,
            sl_stop=0.01,
            tp_stop=0.01,
            fees=0.001,
            upon_opposite_entry="ignore",
            freq="1min",
        )
        return [int(x) for x in np.atleast_1d(pf.trades.count().to_numpy())]

    return run


def raptorbt_runner(case: str):
    """raptorbt (a Rust engine, `pip install raptorbt`): the same signals as the vectorbt peer,
    each variant's longs and shorts as two items of one parallel ``batch_single_backtest``."""
    import numpy as np
    import pandas as pd
    import raptorbt

    year = HERE / "data" / "SIMUSDT.parquet"
    raw = pd.read_parquet(year) if case in YEAR_GRIDS else pd.read_csv(DATA)
    stamp = raw["timestamp"] if "timestamp" in raw.columns else raw["timestamp_ms"]
    ts = stamp.to_numpy().astype(np.int64) * 1_000_000  # nanoseconds
    o, h, low, c, v = (
        raw[k].to_numpy().astype(np.float64) for k in ("open", "high", "low", "close", "volume")
    )
    on_grid = (pd.to_datetime(stamp, unit="ms").dt.minute.to_numpy() + 1) % 5 == 0
    config = raptorbt.BacktestConfig(fees=0.001)
    config.set_fixed_stop(0.01)
    config.set_fixed_target(0.01)

    def shift(a, bars, fill):
        return np.r_[np.full(bars, fill), a[:-bars]]

    def run(variants):
        means = {n: np.asarray(raptorbt.sma(c, n)) for n in {x for pair in variants for x in pair}}
        items = []
        for i, (f, sl) in enumerate(variants):
            fast, slow = means[f], means[sl]
            up = (shift(fast, 5, np.nan) <= shift(slow, 5, np.nan)) & (fast > slow) & on_grid
            down = (shift(fast, 5, np.nan) >= shift(slow, 5, np.nan)) & (fast < slow) & on_grid
            expire = shift(up | down, 120, False)  # the time stop, as for vectorbt
            items += [
                raptorbt.BatchSingleItem(f"{i}L", up, expire, direction=1),
                raptorbt.BatchSingleItem(f"{i}S", down, expire, direction=-1),
            ]
        trades: dict[str, int] = {}
        for start in range(0, len(items), BATCH_ITEMS):  # each result holds full-length curves
            for item_id, result in raptorbt.batch_single_backtest(
                ts, o, h, low, c, v, items[start : start + BATCH_ITEMS], config=config
            ):
                trades[item_id] = int(result.metrics.total_trades)
        return [trades[f"{i}L"] + trades[f"{i}S"] for i in range(len(variants))]

    return run


ENGINES = {
    "btfarm-event": lambda: btfarm_runner("event"),
    "btfarm-vector": lambda: btfarm_runner("vector"),
    "backtesting.py": lambda: backtesting_py_runner(parallel=True),
    "vectorbt": vectorbt_runner,
    "raptorbt": raptorbt_runner,  # takes the case: it also runs the year grids
}
BATCH_ITEMS = (
    64  # raptorbt items per batch: a year result keeps ~13 MB of equity and drawdown curves
)
YEAR_GRIDS = {
    "year1000": [(f, s) for f in range(2, 52) for s in range(55, 155, 5)]
}  # farm_strategies.YEAR1000


def main() -> None:
    engine, case, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    variants = CASES.get(case) or YEAR_GRIDS[case]
    started = time.perf_counter()
    run = ENGINES[engine](case) if engine == "raptorbt" else ENGINES[engine]()
    setup = time.perf_counter() - started
    seconds, trades = [], []
    for _ in range(runs):
        started = time.perf_counter()
        trades = run(variants)
        seconds.append(time.perf_counter() - started)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "engine": engine,
                "case": case,
                "setup_seconds": setup,
                "seconds": seconds,
                "trades": trades,
                "peak_rss_mb": round(own, 1),
                "peak_child_rss_mb": round(children, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
