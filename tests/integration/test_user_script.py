"""The user's own one-file script, run as ``python my_sweep.py`` on the embedded default.

The script registers an exchange, a frame, strategies defined in the file
(a closure and a lambda-built one) and a walker, then runs the sweep under
``if __name__ == "__main__":``. The local pool's worker must import the
script by its path (it cannot import ``__main__``) and run every variant;
without the guard btfarm must stop before submitting anything, in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.importing import import_user_module
from btfarm.shared.registry import get_exchange, get_frame, get_strategy
from tests.support.processes import farm_processes_under
from tests.support.reference_data import SIM_CSV

pytestmark = pytest.mark.integration

SCRIPT = """
import json, sys
from btfarm.orchestrator import (Walker, add_exchange, add_frame, add_strategy, add_walker,
                                 csv_exchange, get_average_price, get_candles, get_params, sweep)

add_exchange(csv_exchange("script-sim", files={{"SIMUSDT": {csv!r}}}), override=True)
add_frame(frame_name="script-3d", interval="1m", start_date="2025-01-02T00:00:00Z",
          end_date="2025-01-04T23:59:00Z", override=True)


def make_cross(side_first):
    def get_signal(symbol, when):          # a closure: only this file can make it
        p = get_params()
        closes = get_candles(symbol, "1m", p["slow"] + 1).close
        if len(closes) < p["slow"] + 1:
            return None
        fast, slow = closes[-p["fast"]:].mean(), closes[-p["slow"]:].mean()
        side = side_first if fast > slow else -side_first
        price = get_average_price(symbol)
        return {{"position": "long" if side > 0 else "short",
                "price_take_profit": price * (1 + side * 0.006),
                "price_stop_loss": price * (1 - side * 0.006), "minute_estimated_time": 90}}
    return get_signal


add_strategy(strategy_name="script-cross", interval="15m", get_signal=make_cross(1),
             params={{"fast": 5, "slow": 20}}, override=True)
add_strategy(strategy_name="script-contra", interval="30m", override=True,
             get_signal=lambda symbol, when: make_cross(-1)(symbol, when), params={{"fast": 5, "slow": 20}})
add_walker(walker_name="script-sweep", exchange_name="script-sim", frame_name="script-3d",
           metric="total_pnl", override=True,
           strategies=["script-contra", sweep("script-cross", fast=[3, 5], slow=[20, 40])])

{guard}
    results = list(Walker.run("SIMUSDT", "script-sweep"))
    data = Walker.get_data("SIMUSDT", "script-sweep")
    Walker.dump("SIMUSDT", "script-sweep")
    json.dump({{"unfinished": data.unfinished, "tested": data.strategies_tested,
               "stats": {{s.strategy_name: s.stats.model_dump() for s in data.strategies}},
               "unranked": list(data.unranked)}}, open(sys.argv[1], "w"))
"""


def write_script(folder: Path, guarded: bool) -> Path:
    guard = 'if __name__ == "__main__":' if guarded else "if True:  # no guard"
    path = folder / "my_sweep.py"
    path.write_text(textwrap.dedent(SCRIPT).format(csv=str(SIM_CSV), guard=guard))
    return path


def run_script(path: Path, tmp_path: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(
        BTFARM_STATE_DIR=str(tmp_path / "state"),
        BTFARM_DUMP_DIR=str(tmp_path / "dump"),
        BTFARM_LOCAL_WORKERS="1",
    )
    return subprocess.run(
        [sys.executable, str(path), str(tmp_path / "out.json")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_guarded_script_runs_every_variant_on_the_local_pool_as_in_process(tmp_path):
    script = write_script(tmp_path, guarded=True)
    done = run_script(script, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["unfinished"] == {}
    assert out["tested"] + len(out["unranked"]) == 5
    # the same variants backtested here, in this process, from the same file
    import_user_module(str(script))
    exchange, frame = get_exchange("script-sim"), get_frame("script-3d")
    candles = load_frame_candles(exchange, frame, "SIMUSDT")
    params = {
        "script-cross[fast=3,slow=20]": {"fast": 3, "slow": 20},
        "script-cross[fast=5,slow=40]": {"fast": 5, "slow": 40},
        "script-contra": None,
    }
    for name, values in params.items():
        base = name.partition("[")[0]
        run = BacktestRun(
            get_strategy(base),
            exchange,
            frame,
            "SIMUSDT",
            candles,
            params=values,
            strategy_name=name,
        )
        run.run()
        assert len(run.closed) > 3
        assert out["stats"][name] == run.statistics().model_dump(), name
    assert (tmp_path / "dump" / "walker" / "script-sweep.md").is_file()
    assert farm_processes_under(tmp_path) == []


def test_a_script_without_the_guard_stops_before_submitting_in_one_line(tmp_path):
    script = write_script(tmp_path, guarded=False)
    done = run_script(script, tmp_path, timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "my_sweep.py line" in lines[0] and 'if __name__ == "__main__":' in lines[0]
    assert not (tmp_path / "out.json").exists()
    assert farm_processes_under(tmp_path) == []
    assert not (tmp_path / "state" / "workers").exists()  # no local worker was started
