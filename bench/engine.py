"""Engine speed: candle-evals per second of "sma-cross-5m" (10/30) on the reference data.

    python bench/engine.py [--runs 7]

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

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sma_cross_5m.py"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="timed runs (median reported)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args()

    import_user_module(str(EXAMPLE))
    exchange, frame, strategy = get_exchange("sim"), get_frame("sim-30d"), get_strategy("sma-cross-5m")
    started = time.perf_counter()
    candles = load_frame_candles(exchange, frame, "SIMUSDT")
    load_seconds = time.perf_counter() - started
    evals = len(frame_ticks(frame))

    BacktestRun(strategy, exchange, frame, "SIMUSDT", candles).run()  # warm caches (VWAP arrays)
    seconds, trades = [], 0
    for _ in range(args.runs):
        started = time.perf_counter()
        trades = len(BacktestRun(strategy, exchange, frame, "SIMUSDT", candles).run())
        seconds.append(time.perf_counter() - started)
    median = statistics.median(seconds)
    result = {
        "strategy": "sma-cross-5m(10,30)", "candles": evals, "runs": args.runs, "trades": trades,
        "load_seconds": round(load_seconds, 4), "median_seconds": round(median, 4),
        "min_seconds": round(min(seconds), 4), "max_seconds": round(max(seconds), 4),
        "candle_evals_per_second": round(evals / median),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"sma-cross-5m (10,30) on SIMUSDT, {evals:,} candles, {trades} closed signals")
    print(f"  load once:   {load_seconds * 1000:.0f} ms")
    print(f"  run:         median {median * 1000:.1f} ms (min {min(seconds) * 1000:.1f}, "
          f"max {max(seconds) * 1000:.1f}) over {args.runs} runs")
    print(f"  throughput:  {evals / median / 1e6:.3f} M candle-evals/s (median)")


if __name__ == "__main__":
    main()
