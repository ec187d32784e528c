"""Engine speed: candle-evals per second of "sma-cross-5m" (10/30) on the reference data.

    python bench/engine.py [--runs 7] [--strategy sma-cross-5m-plain] [--overhead]

``--overhead``: the engine's own cost instead (issue 33 section 3): a ``get_signal``
that returns None over the same frame and candles, asked at every 1m tick and at
the example's 5m, in microseconds per frame tick; and ``get_candles(symbol, "1m", 35)``
inside get_signal, per call (ten calls of distinct limits an ask, less the empty
ask), bare and with ``.close`` read.

A candle-eval is one 1-minute candle of one variant's frame. Each run is a
fresh backtest over already-loaded candles (loading is measured apart);
the figure quoted is the median of the runs, with min-max beside it,
because the machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.frames import frame_ticks
from btfarm.shared.importing import import_user_module
from btfarm.shared.registry import get_exchange, get_frame, get_strategy

EXAMPLE = (
    Path(__file__).resolve().parent / "plain_strategy.py"
)  # (imports examples/sma_cross_5m.py)


def _none(symbol, when):
    return None


def _candles(symbol, when):
    from btfarm.shared.context import get_candles

    for limit in (35, 34, 33, 32, 31, 30, 29, 28, 27, 26):
        get_candles(symbol, "1m", limit)


def _candles_close(symbol, when):
    from btfarm.shared.context import get_candles

    for limit in (35, 34, 33, 32, 31, 30, 29, 28, 27, 26):
        _ = get_candles(symbol, "1m", limit).close


OVERHEAD = {
    "none-1m": (_none, "1m"),
    "none-5m": (_none, "5m"),
    "candles-1m": (_candles, "1m"),
    "candles-close-1m": (_candles_close, "1m"),
}


def overhead(exchange, frame, candles, runs: int) -> dict[str, float]:
    """Median seconds of a run per OVERHEAD strategy, the strategies alternating run by run."""
    from btfarm.shared.registry import add_strategy

    for name, (fn, interval) in OVERHEAD.items():
        add_strategy(
            strategy_name=f"overhead-{name}", interval=interval, get_signal=fn, override=True
        )
    strategies = {name: get_strategy(f"overhead-{name}") for name in OVERHEAD}
    seconds: dict[str, list[float]] = {name: [] for name in OVERHEAD}
    for strategy in strategies.values():
        BacktestRun(strategy, exchange, frame, "SIMUSDT", candles).run()  # warm
    for _ in range(runs):
        for name, strategy in strategies.items():
            started = time.perf_counter()
            BacktestRun(strategy, exchange, frame, "SIMUSDT", candles).run()
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(s) for name, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7, help="timed runs (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument(
        "--strategy",
        default="sma-cross-5m",
        help="sma-cross-5m (the README's, get_indicator) or sma-cross-5m-plain (get_candles)",
    )
    parser.add_argument("--overhead", action="store_true", help="the engine's own cost (see above)")
    args = parser.parse_args()

    import_user_module(str(EXAMPLE))
    exchange, frame, strategy = (
        get_exchange("sim"),
        get_frame("sim-30d"),
        get_strategy(args.strategy),
    )
    started = time.perf_counter()
    candles = load_frame_candles(exchange, frame, "SIMUSDT")
    load_seconds = time.perf_counter() - started
    evals = len(frame_ticks(frame))
    if args.overhead:
        med = overhead(exchange, frame, candles, args.runs)
        result = {f"{name}_us_per_tick": round(s / evals * 1e6, 3) for name, s in med.items()}
        result.update(
            get_candles_ns=round((med["candles-1m"] - med["none-1m"]) / evals / 10 * 1e9),
            get_candles_close_ns=round(
                (med["candles-close-1m"] - med["none-1m"]) / evals / 10 * 1e9
            ),
            ticks=evals,
            runs=args.runs,
        )
        if args.json:
            print(json.dumps(result))
            return
        print(
            f"engine cost over {evals:,} ticks (get_signal returns None; medians of {args.runs} runs)"
        )
        print(f"  asked every 1m tick:  {result['none-1m_us_per_tick']:.3f} us/tick")
        print(f"  asked every 5m:       {result['none-5m_us_per_tick']:.3f} us/tick")
        print(
            f"  get_candles(symbol, '1m', 35): {result['get_candles_ns']} ns a call, "
            f"{result['get_candles_close_ns']} ns with .close"
        )
        return

    BacktestRun(strategy, exchange, frame, "SIMUSDT", candles).run()  # warm caches (VWAP arrays)
    seconds, trades = [], 0
    for _ in range(args.runs):
        started = time.perf_counter()
        trades = len(BacktestRun(strategy, exchange, frame, "SIMUSDT", candles).run())
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    result = {
        "strategy": f"{args.strategy}(10,30)",
        "candles": evals,
        "runs": args.runs,
        "trades": trades,
        "load_seconds": round(load_seconds, 4),
        "median_seconds": round(median, 4),
        "min_seconds": round(min(seconds), 4),
        "max_seconds": round(max(seconds), 4),
        "candle_evals_per_second": round(evals / median),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"{args.strategy} (10,30) on SIMUSDT, {evals:,} candles, {trades} closed signals")
    print(f"  load once:   {load_seconds * 1000:.0f} ms")
    print(
        f"  run:         median {median * 1000:.1f} ms (min {min(seconds) * 1000:.1f}, "
        f"max {max(seconds) * 1000:.1f}) over {args.runs} runs"
    )
    print(f"  throughput:  {evals / median / 1e6:.3f} M candle-evals/s (median)")


if __name__ == "__main__":
    main()
