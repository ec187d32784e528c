"""The single backtest as a user runs it: ``python bench/end_to_end.py [RUNS] [--base DIR]``.

Each run is a fresh process that imports its library (not timed), then times
what a user's first call costs: btfarm's ``Backtest.run`` of the README
example (examples/sma_cross_5m.py: loading its CSV, the state store, events,
every closed signal built) against backtesting.py 0.6.6 reading the same CSV
and running the same rules (bench/peer_backtesting_py.py). The bench's
"single" case times the engines alone, candles already loaded; this is the
figure a user sees. Prints the medians (JSON) and their ratio.

btfarm keeps a CSV's parsed table (shared/exchanges/parsed_files.py) in the
state folder. Each of the RUNS rounds times, side by side, a first run in a
new state folder (it parses the CSV, as a user's very first backtest of a
file does: ``btfarm_first_run_s``), a second run in that folder (as a user's
next backtests of the file are: ``btfarm_backtest_run_s``), and
backtesting.py, which parses the CSV every run; each figure is the median
of its RUNS.

Two strategies, each timed so: the README's tuned example ("sma-cross-5m",
get_indicator) and the same rules written the plain way ("sma-cross-5m-plain",
bench/plain_strategy.py: four ``.mean()``s of ``get_candles(symbol, "1m", 35).close``);
``ratio`` and ``plain_ratio`` are backtesting.py's time over theirs; ``..._cpu_s`` and
``cpu_ratio`` the same of the CPU time of each run's process (fresh_runs.py: on a shared
machine a short run's wall time is mostly the others' load).

``--base DIR``: a second btfarm (a PYTHONPATH entry holding a ``btfarm`` folder,
e.g. a symlink tree onto a worktree of the previous main) timed in the same
rounds, side by side, its figures under ``base_``.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from fresh_runs import CSV, HERE, REPO, btfarm_code, clean_env, first_and_second, timed

BTFARM_IMPORTS = 'import plain_strategy  # registers "sim", "sim-30d", "sma-cross-5m" (examples/) and "sma-cross-5m-plain"'
STRATEGIES = {"": "sma-cross-5m", "plain_": "sma-cross-5m-plain"}  # figure prefix: strategy

PEER = f"""
import sys, time
sys.path.insert(0, {str(HERE)!r})
from peer_backtesting_py import backtest, load
started, cpu = time.perf_counter(), time.process_time()
stats = backtest(load({str(CSV)!r})).run()
print(time.perf_counter() - started, time.process_time() - cpu, stats["# Trades"])
"""


def main() -> None:
    args = sys.argv[1:]
    base = None
    if "--base" in args:
        at = args.index("--base")
        base = str(Path(args[at + 1]).resolve())
        del args[at : at + 2]
    runs = int(args[0]) if args else 5
    sys.path.insert(0, str(HERE))
    from bytecode import compile_btfarm

    compile_btfarm()  # (the import is not timed, but a cold one is no user's second run either)
    sides = {"": None}
    if base is not None:
        import compileall

        for package in (
            "shared",
            "workers",
            "orchestrator",
        ):  # (compile_dir skips symlinked folders)
            compileall.compile_dir((Path(base) / "btfarm" / package).resolve(), quiet=1)
        sides["base_"] = base
    times: dict[str, list[tuple[float, int, float]]] = {}
    theirs: list[tuple[float, int, float]] | None = []
    with tempfile.TemporaryDirectory(prefix="btfarm-e2e-") as scratch:
        env = clean_env(scratch)
        # each round side by side (the machine's speed drifts): per btfarm and strategy a first run
        # in a new state folder (it parses the CSV), a second in the same folder; then backtesting.py
        for index in range(runs):
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
            if theirs is not None:
                env["PYTHONPATH"] = str(REPO)
                try:
                    theirs.append(timed(PEER, env))
                except SystemExit as exc:
                    theirs = None
                    print(
                        f"backtesting.py not run ({str(exc)[-200:]}); pip install -e '.[bench]'",
                        file=sys.stderr,
                    )
    out: dict[str, object] = {"runs": runs}
    peer_s = statistics.median(s for s, *_ in theirs) if theirs else None
    if peer_s is not None:
        peer_cpu = statistics.median(t[2] for t in theirs)
        out.update(
            backtesting_py_run_s=round(peer_s, 4),
            backtesting_py_cpu_s=round(peer_cpu, 4),
            backtesting_py_trades=theirs[0][1],
        )
    for side in sides:
        for prefix in STRATEGIES:
            key = f"{side}{prefix}"
            run_s = statistics.median(s for s, *_ in times[f"{key}run"])
            first_s = statistics.median(s for s, *_ in times[f"{key}first"])
            run_cpu = statistics.median(t[2] for t in times[f"{key}run"])
            out.update(
                {
                    f"{key}btfarm_backtest_run_s": round(run_s, 4),
                    f"{key}btfarm_backtest_cpu_s": round(run_cpu, 4),
                    f"{key}btfarm_trades": times[f"{key}run"][0][1],
                    f"{key}btfarm_first_run_s": round(first_s, 4),
                }
            )
            if peer_s is not None:
                out.update(
                    {
                        f"{key}ratio": round(peer_s / run_s, 1),
                        f"{key}cpu_ratio": round(peer_cpu / run_cpu, 1),
                        f"{key}ratio_first_run": round(peer_s / first_s, 1),
                    }
                )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
