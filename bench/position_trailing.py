"""Issue 31's "trailing" rule, one backtest against backtesting.py: ``python bench/position_trailing.py [RUNS] [--base DIR] [--profile]``.

The benchmark cross of examples/data/README.md with issue 31's trailing-stop
ladder (bench/position_trailing_strategies.py): btfarm's event lane runs it as
an ``on_active_ping`` hook ("trail-hook") and as a position plan
("trail-plan"), each through ``Backtest.run``; backtesting.py 0.6.6 runs the
same rule in ``next()`` (``TrailingCross``, setting ``trade.sl``). As
bench/end_to_end.py: each run is a fresh process that imports its library
(not timed) and times the backtest from its CSV; each of the RUNS rounds
times, side by side, per btfarm strategy a first run in a new state folder
(it parses the CSV: ``..._first_run_s``) and a second in that folder
(``..._run_s``), then backtesting.py; figures are medians of the RUNS. The
ratios are backtesting.py's time over btfarm's second run; ``..._cpu_s`` and
``cpu_ratio`` the same of the CPU time of each run's process (fresh_runs.py). Entries differ
(btfarm fills at the 5-candle VWAP, backtesting.py at the next open:
examples/data/README.md), so trade counts are reported, not compared.

``--base DIR``: a second btfarm (a PYTHONPATH entry holding a ``btfarm`` folder, as
bench/end_to_end.py's) timed in the same rounds, side by side, its figures under ``base_``.

``--profile``: in this process, the hook run again under cProfile, with a
no-op hook and without one beside it: how many hook calls, the hook's own
microseconds per call, and the engine's per-call cost of calling a hook at all.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fresh_runs import CSV, HERE, REPO, btfarm_code, clean_env, first_and_second, timed

BTFARM_IMPORTS = (
    'import position_trailing_strategies  # registers "sim", "sim-30d", "trail-hook", "trail-plan"'
)
STRATEGIES = {"hook_": "trail-hook", "plan_": "trail-plan"}  # figure prefix: strategy

PEER = f"""
import sys, time, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {str(HERE)!r})
from backtesting import Backtest
from peer_backtesting_py import load
from position_trailing_strategies import peer_strategy
strategy = peer_strategy()
started, cpu = time.perf_counter(), time.process_time()
stats = Backtest(load({str(CSV)!r}), strategy, cash=10_000_000, commission=0.001, exclusive_orders=True,
                 finalize_trades=True).run()
print(time.perf_counter() - started, time.process_time() - cpu, stats["# Trades"])
"""


def bench(runs: int, base: str | None = None) -> dict[str, object]:
    sys.path.insert(0, str(HERE))
    from bytecode import compile_btfarm

    compile_btfarm()
    sides = {"": None}
    if base is not None:
        import compileall

        for package in ("shared", "workers", "orchestrator"):  # (compile_dir skips symlinks)
            compileall.compile_dir((Path(base) / "btfarm" / package).resolve(), quiet=1)
        sides["base_"] = base
    times: dict[str, list[tuple[float, int, float]]] = {}
    theirs: list[tuple[float, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="btfarm-trailing-") as scratch:
        env = clean_env(scratch)
        for index in range(runs):  # each round side by side (the machine's speed drifts)
            for side, path in sides.items():
                env["PYTHONPATH"] = f"{path}{os.pathsep}{REPO}" if path else str(REPO)
                for prefix, strategy in STRATEGIES.items():
                    first_and_second(
                        times,
                        f"{side}{prefix}",
                        btfarm_code(BTFARM_IMPORTS, strategy),
                        env,
                        Path(scratch) / f"state{side}{prefix}{index}",
                    )
            env["PYTHONPATH"] = str(REPO)
            theirs.append(timed(PEER, env))
    peer_s = statistics.median(s for s, *_ in theirs)
    peer_cpu = statistics.median(t[2] for t in theirs)
    out: dict[str, object] = {
        "runs": runs,
        "backtesting_py_run_s": round(peer_s, 4),
        "backtesting_py_cpu_s": round(peer_cpu, 4),
        "backtesting_py_trades": theirs[0][1],
    }
    for side in sides:
        for prefix in STRATEGIES:
            key = f"{side}{prefix}"
            run_s = statistics.median(s for s, *_ in times[f"{key}run"])
            first_s = statistics.median(s for s, *_ in times[f"{key}first"])
            run_cpu = statistics.median(t[2] for t in times[f"{key}run"])
            out.update(
                {
                    f"{key}btfarm_run_s": round(run_s, 4),
                    f"{key}btfarm_cpu_s": round(run_cpu, 4),
                    f"{key}cpu_ratio": round(peer_cpu / run_cpu, 1),
                    f"{key}btfarm_first_run_s": round(first_s, 4),
                    f"{key}btfarm_trades": times[f"{key}run"][0][1],
                    f"{key}ratio": round(peer_s / run_s, 1),
                    f"{key}ratio_first_run": round(peer_s / first_s, 1),
                }
            )
    return out


def table(out: dict[str, object]) -> str:
    rows = [("btfarm hook (on_active_ping)", "hook_"), ("btfarm position plan", "plan_")]
    if "base_hook_btfarm_run_s" in out:
        rows += [("base: hook", "base_hook_"), ("base: position plan", "base_plan_")]
    lines = [
        f"{'engine':<30}{'run s':>9}{'first s':>9}{'trades':>8}{'x faster':>10}{'cpu s':>9}"
        f"{'x cpu':>7}"
    ]
    for label, p in rows:
        lines.append(
            f"{label:<30}{out[p + 'btfarm_run_s']:>9}{out[p + 'btfarm_first_run_s']:>9}"
            f"{out[p + 'btfarm_trades']:>8}{out[p + 'ratio']:>10}{out[p + 'btfarm_cpu_s']:>9}"
            f"{out[p + 'cpu_ratio']:>7}"
        )
    lines.append(
        f"{'backtesting.py 0.6.6':<30}{out['backtesting_py_run_s']:>9}{'':>9}"
        f"{out['backtesting_py_trades']:>8}{'1.0':>10}{out['backtesting_py_cpu_s']:>9}{'1.0':>7}"
    )
    return "\n".join(lines)


def profile() -> dict[str, object]:
    """The hook run in this process: its calls and time, against the same run with a no-op hook
    (what the engine's calling a hook costs) and with none (the plain cross)."""
    import cProfile
    import pstats

    os.environ.setdefault("BTFARM_STATE_DIR", tempfile.mkdtemp(prefix="btfarm-trailing-profile-"))
    sys.path.insert(0, str(HERE))
    import position_trailing_strategies as strategies

    from btfarm.orchestrator import Backtest, add_strategy

    noop_calls = [0]

    def noop(*args) -> None:
        noop_calls[0] += 1

    add_strategy(
        strategy_name="trail-noop",
        interval="5m",
        get_signal=strategies.cross.get_signal,
        params={"fast": 10, "slow": 30},
        callbacks={"on_active_ping": noop},
        override=True,
    )
    list(Backtest.run("SIMUSDT", "sma-cross-5m", "sim", "sim-30d"))  # parses and keeps the CSV

    def best_of(name: str, n: int = 5) -> float:
        best = float("inf")
        for _ in range(n):
            strategies.reset()
            noop_calls[0] = 0
            started = time.perf_counter()
            list(Backtest.run("SIMUSDT", name, "sim", "sim-30d"))
            best = min(best, time.perf_counter() - started)
        return best

    plain_s, noop_s = best_of("sma-cross-5m"), best_of("trail-noop")
    noop_count = noop_calls[0]
    hook_s, plan_s = best_of("trail-hook"), best_of("trail-plan")
    # Backtest.run walks in a thread cProfile does not see: the same walk through BacktestRun here
    from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
    from btfarm.shared.exchanges import csv_exchange
    from btfarm.shared.schemas import FrameSchema, StrategySchema

    exchange = csv_exchange("sim", files={"SIMUSDT": CSV})
    frame = FrameSchema(
        frame_name="sim-30d",
        interval="1m",
        start_date="2025-01-01T00:00:00Z",
        end_date="2025-01-30T23:59:00Z",
    )
    strategy = StrategySchema(
        strategy_name="trail-hook",
        interval="5m",
        get_signal=strategies.cross.get_signal,
        params={"fast": 10, "slow": 30},
        callbacks={"on_active_ping": strategies.trail},
    )
    run = BacktestRun(
        strategy, exchange, frame, "SIMUSDT", load_frame_candles(exchange, frame, "SIMUSDT")
    )
    strategies.reset()
    profiler = cProfile.Profile()
    profiler.enable()
    trades = len(run.run())
    profiler.disable()
    calls = strategies.HOOK_CALLS[0]
    stats = pstats.Stats(profiler)

    def cumtime(name: str, where: str) -> float:  # stats keys are (file, line, function)
        return sum(v[3] for k, v in stats.stats.items() if k[2] == name and k[0].endswith(where))

    trail_cum = cumtime("trail", "position_trailing_strategies.py")
    # the engine's candle checks and hooks, the user's hook in them (walk_native: the C loop's)
    dispatch_cum = cumtime("walk", "position_hook.py") + cumtime("walk_native", "position_hook.py")
    total = stats.total_tt
    stats.sort_stats("tottime").print_stats(15)
    # the no-op hook never trails, so its positions live longer: its own call count divides its extra time
    return {
        "hook_calls": calls,
        "trades": trades,
        "hook_s": round(hook_s, 4),
        "plan_s": round(plan_s, 4),
        "plain_cross_s": round(plain_s, 4),
        "noop_hook_s": round(noop_s, 4),
        "noop_hook_calls": noop_count,
        "hook_run_us_per_call": round(hook_s / calls * 1e6, 2),
        "engine_us_per_noop_call": round((noop_s - plain_s) / noop_count * 1e6, 2),
        "profiled_share_in_hook_dispatch": round(dispatch_cum / total, 2),
        "profiled_share_in_user_hook": round(trail_cum / total, 2),
    }


def main() -> None:
    args = sys.argv[1:]
    if "--profile" in args:
        print(json.dumps(profile()))
        return
    base = None
    if "--base" in args:
        at = args.index("--base")
        base = str(Path(args[at + 1]).resolve())
        del args[at : at + 2]
    out = bench(int(args[0]) if args else 5, base)
    print(table(out))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
