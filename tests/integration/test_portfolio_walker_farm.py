"""A walker over portfolio variants on a real farm (issue 32 §4): a redis-server, two real
``celery worker`` processes, ``Walker`` in this process.

Each portfolio variant is one farm task; its statistics must equal ``Portfolio.run`` of the
same portfolio and params in this process, and it is ranked, with the trust figures, beside a
plain strategy. The workers import this module (``BTFARM_IMPORTS``), which registers the
risk, the portfolios and the walkers on import, as a user's module would.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from btfarm.orchestrator import Portfolio, Walker
from btfarm.shared.engine.backtest_run import BacktestRun, load_frame_candles
from btfarm.shared.registry import (
    add_portfolio,
    add_risk,
    add_walker,
    get_exchange,
    get_frame,
    get_strategy,
)
from btfarm.shared.schemas import portfolio_sweep
from btfarm.shared.settings import get_settings
from btfarm.workers.app import configure
from tests import farm_strategies
from tests.support.celery_workers import CeleryWorker, use_farm
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
SYMBOL = farm_strategies.SYMBOL  # the walker's symbol: its plain strategy's; portfolios ignore it
IMPORTS = f"tests.farm_strategies,{__name__}"
SMA = "BTCUSDT:farm-sma"
MEMBERS = [
    {"symbol": "BTCUSDT", "strategy_name": "farm-sma"},
    {"symbol": "ETHUSDT", "strategy_name": "farm-pullback"},
]


def register() -> None:
    farm_strategies.register()
    add_risk(risk_name="pwf-one", max_positions=1, override=True)
    add_portfolio(
        portfolio_name="pwf-duo",
        exchange_name="farm-market",
        frame_name="farm-10d",
        members=MEMBERS,
        risk_name="pwf-one",
        override=True,
    )
    add_portfolio(
        portfolio_name="pwf-purse",
        exchange_name="farm-market",
        frame_name="farm-10d",
        members=MEMBERS,
        capital=150,
        override=True,
    )
    add_walker(
        walker_name="pwf-walker",
        exchange_name="farm-market",
        frame_name="farm-10d",
        metric="total_pnl",
        strategies=[
            "farm-pullback",
            {"portfolio_name": "pwf-duo"},
            portfolio_sweep("pwf-duo", max_positions=[1, 2], members={SMA: {"fast": [5, 10]}}),
            portfolio_sweep("pwf-purse", capital=[150, 1000]),
        ],
        override=True,
    )


register()


@pytest.fixture(scope="module")
def farm(tmp_path_factory) -> Iterator[dict]:
    """A redis-server and two workers that import this module, stopped by PID at the end."""
    logdir = tmp_path_factory.mktemp("workers")
    server = RedisServer().start()
    workers = [CeleryWorker(server.url, logdir, BTFARM_IMPORTS=IMPORTS) for _ in range(2)]
    try:
        for w in workers:
            w.start()
        os.environ["BTFARM_REDIS_URL"] = server.url
        get_settings.cache_clear()
        app = configure()
        for w in workers:
            w.wait_ready(app)
        yield {"url": server.url, "workers": workers}
    finally:
        os.environ.pop("BTFARM_REDIS_URL", None)
        for w in workers:
            w.stop()
        server.close()


@pytest.fixture
def farm_url(farm, monkeypatch, tmp_path) -> Iterator[str]:
    register()
    yield from use_farm(farm["url"], monkeypatch, tmp_path)


def as_json(stats) -> dict:
    return json.loads(json.dumps(stats.model_dump(mode="json")))


def test_a_walker_over_portfolio_variants_on_two_workers_equals_the_portfolios_run_in_process(
    farm_url, farm
):
    progress = list(Walker.run(SYMBOL, "pwf-walker"))
    data = Walker.get_data(SYMBOL, "pwf-walker")
    assert len(progress) == 8 and data.strategies_tested == 8 and data.unfinished == {}
    rows = {row.strategy_name: row for row in data.strategies}
    assert set(rows) == {
        "farm-pullback",
        "pwf-duo",
        *(f"pwf-duo[max_positions={n},{SMA}.fast={fast}]" for n in (1, 2) for fast in (5, 10)),
        "pwf-purse[capital=150]",
        "pwf-purse[capital=1000]",
    }
    portfolios = {name: row for name, row in rows.items() if name != "farm-pullback"}
    for name, row in portfolios.items():
        base = name.split("[")[0]
        list(Portfolio.run(base, params=row.params))
        here = Portfolio.get_data(base)
        assert as_json(row.stats) == as_json(here.stats), name
        assert row.stats.total_signals > 20, name
    # the params matter: the variants do not all trade alike
    assert len({json.dumps(row.stats.total_pnl) for row in portfolios.values()}) >= 4
    assert rows["pwf-duo"].params is None
    assert rows[f"pwf-duo[max_positions=2,{SMA}.fast=5]"].params == {
        "max_positions": 2,
        f"{SMA}.fast": 5,
    }
    # a plain strategy beside them runs on the walker's symbol, as in any walker
    exchange, frame = get_exchange("farm-market"), get_frame("farm-10d")
    alone = BacktestRun(
        get_strategy("farm-pullback"),
        exchange,
        frame,
        SYMBOL,
        load_frame_candles(exchange, frame, SYMBOL),
    )
    alone.run()
    assert as_json(rows["farm-pullback"].stats) == as_json(alone.statistics())
    # ranked like any other, with the trust figures over every variant
    metrics = [row.metric_value for row in data.strategies]
    assert metrics == sorted(metrics, reverse=True)
    assert data.best_strategy == data.strategies[0].strategy_name
    assert data.trust.trials == 8 and data.trust.days == 10
    assert data.trust.deflated_sharpe is not None and data.trust.pbo is not None
    fingerprint = data.fingerprints["pwf-purse[capital=150]"]
    assert fingerprint["portfolio_name"] == "pwf-purse"
    assert set(fingerprint["members"]) == {SMA, "ETHUSDT:farm-pullback"}
    for worker in farm["workers"]:  # both took part (Celery logs each chunk it receives)
        assert "pwf-walker" in worker.log(), worker.name


def test_a_portfolio_the_workers_do_not_register_fails_saying_what_to_import(farm_url):
    # registered here only, after this module's import: the workers, which import it, lack it
    add_portfolio(
        portfolio_name="pwf-here-only",
        exchange_name="farm-market",
        frame_name="farm-10d",
        members=MEMBERS,
        override=True,
    )
    add_walker(
        walker_name="pwf-unknown",
        exchange_name="farm-market",
        frame_name="farm-10d",
        strategies=["farm-sma", {"portfolio_name": "pwf-here-only"}],
        override=True,
    )
    list(Walker.run(SYMBOL, "pwf-unknown"))
    data = Walker.get_data(SYMBOL, "pwf-unknown")
    assert [row.strategy_name for row in data.strategies] == ["farm-sma"]
    reason = data.unfinished["pwf-here-only"]
    assert 'portfolio "pwf-here-only" not found' in reason, reason
    assert f"btfarm worker --import {__name__}" in reason, reason


def test_the_walker_report_recomputes_portfolio_variants_as_they_were_ranked(farm_url):
    list(Walker.run(SYMBOL, "pwf-walker"))
    report = Walker.get_report(SYMBOL, "pwf-walker")
    # the best ten's closed signals, rerun in process; a rerun that differs is flagged
    assert f"pwf-duo[max_positions=1,{SMA}.fast=5]" in report and "pwf-purse[capital=150]" in report
    assert "recomputed" not in report
    path = Walker.dump(SYMBOL, "pwf-walker")
    assert f"pwf-duo[max_positions=1,{SMA}.fast=5]" in path.read_text()
    # the heatmaps of the member params' grid are named with file-safe parts (no ':')
    pictures = [p.name for p in path.parent.iterdir() if ".heatmap-" in p.name]
    assert pictures and not [n for n in pictures if ":" in n], pictures
