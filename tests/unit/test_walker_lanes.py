"""Which walk ran a sweep's variants, and the walker report saying so (issue 32 §1: the C loop
runs a risk only where it is declared as data; a risk with Python validations keeps its
strategy in a Python lane, and the report says which)."""

from __future__ import annotations

import pytest

from btfarm.orchestrator.reports.render import render_walker
from btfarm.shared.demo import sma_cross_signals
from btfarm.shared.payloads import Chunk, Variant
from btfarm.shared.registry import add_risk, add_strategy
from btfarm.workers.variant_run import run_variant
from tests import farm_strategies

pytestmark = pytest.mark.unit


def closed_on_mondays(payload):
    return None  # passes: a validation the C loop cannot run, whatever it answers


@pytest.fixture(autouse=True)
def strategies():
    farm_strategies.register()
    add_risk(risk_name="lanes-cap", max_positions=1, override=True)
    add_risk(risk_name="lanes-check", validations=[closed_on_mondays], override=True)
    for name, risk in (("lanes-data", "lanes-cap"), ("lanes-python", "lanes-check")):
        add_strategy(
            strategy_name=name,
            interval="5m",
            get_signals=sma_cross_signals,
            params={"fast": 10, "slow": 30},
            risk_name=risk,
            override=True,
        )


def record_of(base: str) -> dict:
    variant = Variant(index=0, strategy_name=base, base=base, params={"fast": 10, "slow": 30})
    chunk = Chunk(
        run_id="lanes",
        chunk_id="0",
        attempt=0,
        symbol="BTCUSDT",
        walker_name="lanes",
        exchange_name="farm-market",
        frame_name="farm-2d",
        variants=[variant],
        steal=[],
    )
    record = run_variant(chunk, variant, lambda: False, "w1")
    assert record["status"] == "done", record.get("error")
    return record


def test_a_variant_records_the_walk_that_ran_it():
    assert record_of("lanes-data")["lane"] == "batch"  # max_positions is data: the C loop
    assert record_of("lanes-python")["lane"] == "vector"  # a Python validation: Python
    assert record_of("farm-sma")["lane"] == "event"  # get_signal, tick by tick


def test_the_walker_report_says_which_strategies_left_the_c_loop():
    records = {name: record_of(name) for name in ("lanes-data", "lanes-python", "farm-sma")}
    report = render_walker(
        {
            "walker_name": "lanes",
            "symbol": "BTCUSDT",
            "metric": "total_pnl",
            "strategies": [{"strategy_name": n, "stats": r["stats"]} for n, r in records.items()],
            "lanes": {n: r["lane"] for n, r in records.items()},
            "variants": {n: (n, None) for n in records},
        }
    )
    line = next(line for line in report.splitlines() if line.startswith("- Ran in:"))
    assert line == (
        "- Ran in: C loop: 1, Python vectorised: 1, Python tick by tick: 1;"
        " strategies in Python: lanes-python, farm-sma"
    )


def test_a_report_of_results_that_do_not_say_their_lane_has_no_lane_line():
    report = render_walker(
        {"walker_name": "w", "symbol": "S", "metric": "total_pnl", "strategies": []}
    )
    assert "Ran in" not in report
