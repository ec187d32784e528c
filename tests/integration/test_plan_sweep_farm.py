"""A sweep of position-plan parameters on a real farm (issue 31 §2): a redis-server, two real
``celery worker`` processes importing tests/plan_strategies.py, ``Walker`` in this process.

The workers run each variant's plan in the compiled loop; every variant's statistics must
equal an in-process backtest of the same variant in the event lane, where the plan runs as
hooks; a variant whose params make its plan invalid fails alone, naming the rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from btfarm.orchestrator import Walker
from tests import plan_strategies
from tests.support.celery_workers import use_farm
from tests.support.in_process import as_json, variant_runs
from tests.support.module_farm import module_farm

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
SYMBOL = plan_strategies.SYMBOL
IMPORTS = "tests.plan_strategies"


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Iterator[dict]:
    """A redis-server and two workers that import the plan strategies, stopped by PID at the end."""
    yield from module_farm(tmp_path_factory.mktemp("workers"), BTFARM_IMPORTS=IMPORTS)


@pytest.fixture
def farm_url(farm, monkeypatch, tmp_path) -> Iterator[str]:
    plan_strategies.register()
    yield from use_farm(farm["url"], monkeypatch, tmp_path)


def in_process(
    walker_name: str, form: str, stats_only: bool = False
) -> dict[str, tuple[str, dict]]:
    """Every variant of the walker backtested here: name -> (lane, JSON statistics)."""
    out = {}
    for name, run in variant_runs(walker_name, SYMBOL, form=form, stats_only=stats_only):
        run.run()
        out[name] = (run.lane, as_json(run.statistics()))
    return out


def test_a_sweep_of_plan_params_on_two_workers_equals_the_plans_run_as_hooks_in_process(
    farm_url, farm
):
    progress = list(Walker.run(SYMBOL, "plan-sweep"))
    data = Walker.get_data(SYMBOL, "plan-sweep")
    as_hooks = in_process("plan-sweep", form="event")
    compiled = in_process("plan-sweep", form="vector", stats_only=True)
    assert len(as_hooks) == 32 and len(progress) == 32
    assert data.unfinished == {} and data.strategies_tested == 32
    assert {lane for lane, _ in as_hooks.values()} == {"event"}
    assert {lane for lane, _ in compiled.values()} == {"batch"}  # what a worker runs: the C loop
    for row in data.strategies:
        assert row.stats.model_dump(mode="json") == as_hooks[row.strategy_name][1], (
            row.strategy_name
        )
        assert compiled[row.strategy_name][1] == as_hooks[row.strategy_name][1], row.strategy_name
    # the plan's numbers matter: the variants do not all trade alike
    assert len({json.dumps(stats["total_pnl"]) for _, stats in as_hooks.values()}) >= 16
    assert min(stats["total_signals"] for _, stats in as_hooks.values()) > 50
    for worker in farm["workers"]:  # both took part (Celery logs each chunk by its title)
        assert f"walker plan-sweep symbol {SYMBOL} chunk " in worker.log(), worker.name


def test_a_variant_whose_params_break_its_plan_fails_alone_naming_the_rule(farm_url):
    list(Walker.run(SYMBOL, "plan-one-bad"))
    data = Walker.get_data(SYMBOL, "plan-one-bad")
    assert [s.strategy_name for s in data.strategies] == ["plan-sma[trail_at=0.3]"]
    reason = data.unfinished["plan-sma[trail_at=0.9]"]
    assert (
        "SchemaError" in reason
        and 'strategy "plan-sma[trail_at=0.9]": position_plan.trailing_stop[1]'
        ".threshold = 0.8: not above the rung before (0.9)"
        in reason
    ), reason
