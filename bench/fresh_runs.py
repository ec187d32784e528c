"""Timing a backtest in a fresh process, as the end-to-end benches do (end_to_end.py, position_trailing.py).

Each run is a new interpreter that imports its library (not timed) and
prints the seconds of the timed part (wall, and the CPU of its process: on a
shared machine the wall time of a short run is mostly the others' load) and
its trade count; ``first_and_second``
times btfarm twice in one new state folder: the first run parses the CSV, the
second reuses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent  # bench/
REPO = HERE.parent
CSV = REPO / "examples" / "data" / "sim-30d-1m.csv"  # the reference data both benches time

# the btfarm side: the registering import (a line of code), then Backtest.run timed
BTFARM = """
import sys, time
sys.path.insert(0, "bench")
{imports}
from btfarm.orchestrator import Backtest
started, cpu = time.perf_counter(), time.process_time()
closed = list(Backtest.run("SIMUSDT", {strategy!r}, "sim", "sim-30d"))
print(time.perf_counter() - started, time.process_time() - cpu, len(closed))
"""


def btfarm_code(imports: str, strategy: str) -> str:
    """The code of one btfarm run of ``strategy``, after ``imports`` registered it."""
    return BTFARM.format(imports=imports, strategy=strategy)


def timed(code: str, env: dict[str, str]) -> tuple[float, int, float]:
    """Run ``code`` in a fresh interpreter; its printed (seconds, trades, CPU seconds)."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    if done.returncode != 0:
        raise SystemExit(f"a run failed:\n{done.stderr[-2000:]}")
    seconds, cpu, trades = done.stdout.split()[-3:]
    return float(seconds), int(trades), float(cpu)


def clean_env(scratch: str) -> dict[str, str]:
    """This environment without its BTFARM_* settings, dumps going into ``scratch``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(BTFARM_DUMP_DIR=str(Path(scratch) / "dump"))
    return env


def first_and_second(
    times: dict[str, list[tuple[float, int, float]]],
    key: str,
    code: str,
    env: dict[str, str],
    state_dir: Path,
) -> None:
    """Time ``code`` twice in the new state folder ``state_dir``: under ``{key}first`` (it parses
    the CSV) and ``{key}run`` (it reuses the parsed table)."""
    env["BTFARM_STATE_DIR"] = str(state_dir)
    times.setdefault(f"{key}first", []).append(timed(code, env))
    times.setdefault(f"{key}run", []).append(timed(code, env))
