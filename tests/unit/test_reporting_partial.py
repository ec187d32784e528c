"""orchestrator/reporting/partial_closes.py: ``Partial`` on the managed backtest of the
reference data (tests/support/managed_backtest.py: a 50 % partial close at level 50 on
either side): every partial close the closed signals hold is one event, with its side,
percent, price and candle, and the counts are theirs; run boundaries; the report."""

from __future__ import annotations

from collections import Counter

import pytest

from btfarm.orchestrator import Backtest, Partial, PartialData
from btfarm.orchestrator.reporting.partial_closes import DEFAULT_PARTIAL_COLUMNS, partial_figures
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.errors import UsageError
from btfarm.shared.settings import get_settings
from tests.support import managed_backtest as mb

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def managed(tmp_path_factory):
    """The managed backtest run once with ``Partial`` enabled: its closed signals and the data."""
    folder = tmp_path_factory.mktemp("partial-report")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BTFARM_STATE_DIR", str(folder / "state"))
        patch.setenv("BTFARM_DUMP_DIR", str(folder / "dump"))
        get_settings.cache_clear()
        reset_state()
        _, stops = mb.register()
        Partial.enable()
        try:
            closed = [
                c.model_dump() for c in Backtest.run(mb.SYMBOL, mb.MANAGED, mb.EXCHANGE, mb.FRAME)
            ]
            data = Partial.get_data(mb.SYMBOL, mb.MANAGED)
            plain = [
                c.model_dump() for c in Backtest.run(mb.SYMBOL, mb.PLAIN, mb.EXCHANGE, mb.FRAME)
            ]
            plain_data = Partial.get_data(mb.SYMBOL, mb.PLAIN)
            report = Partial.get_report(mb.SYMBOL, mb.MANAGED)
            path = Partial.dump(mb.SYMBOL, mb.MANAGED)
            yield {
                "closed": closed,
                "data": data,
                "plain": plain,
                "plain_data": plain_data,
                "report": report,
                "path": path,
            }
        finally:
            Partial.disable()
            for stop in stops:
                stop()
            get_settings.cache_clear()
            reset_state()


def test_every_partial_close_of_the_closed_signals_is_one_event_the_newest_250_kept(managed):
    closed, data = managed["closed"], managed["data"]
    every = sorted(
        (p["timestamp"], c["signal"]["id"], p["type"], p["percent"], p["current_price"])
        for c in closed
        for p in c["signal"]["partials"]
    )
    assert len(every) > 250  # the run made more than the buffer keeps
    kept = every[-250:]  # the newest, as backtest-kit's MAX_EVENTS
    sides = Counter(side for _, _, side, *_ in kept)
    assert sides["profit"] > 20 and sides["loss"] > 20  # both kinds, many times
    assert isinstance(data, PartialData)
    assert data.total_events == 250
    assert (data.total_profit, data.total_loss) == (sides["profit"], sides["loss"])
    assert [
        (e.timestamp, e.signal_id, e.action, e.percent, e.current_price) for e in data.events
    ] == kept
    by_id = {c["signal"]["id"]: c["signal"] for c in closed}
    for event in data.events:
        assert event.position == by_id[event.signal_id]["position"] and event.backtest
        assert event.exchange_name == mb.EXCHANGE and event.frame_name == mb.FRAME


def test_a_run_without_partial_closes_replaces_the_last_one_with_none(managed):
    assert not any(c["signal"]["partials"] for c in managed["plain"])
    assert managed["plain_data"].total_events == 0
    assert (managed["plain_data"].total_profit, managed["plain_data"].total_loss) == (0, 0)


def test_the_report_lists_each_close_with_backtest_kits_columns_and_the_counts(managed):
    report, data = managed["report"], managed["data"]
    header = "| " + " | ".join(c.label for c in DEFAULT_PARTIAL_COLUMNS) + " |"
    assert header in report
    assert (
        report.count("\n| PROFIT | ") == data.total_profit
        and report.count("\n| LOSS | ") == data.total_loss
    )
    assert f"- On the profit side: {data.total_profit}" in report
    assert f"- On the loss side: {data.total_loss}" in report
    assert (
        managed["path"].name == f"{mb.MANAGED}.partial.md" and managed["path"].read_text() == report
    )
    assert managed["path"].with_suffix(".html").exists()


def test_partial_figures_count_each_side():
    events = [{"action": a} for a in ("profit", "loss", "profit")]
    assert partial_figures([type("E", (), e) for e in events]) == {
        "total_events": 3,
        "total_profit": 2,
        "total_loss": 1,
    }


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    monkeypatch.setenv("BTFARM_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    reset_state()
    yield
    get_settings.cache_clear()
    reset_state()


def test_get_data_without_enable_or_with_bad_arguments_says_what_to_do(embedded):
    for stop in mb.register()[1]:  # only the schemas: no level listeners
        stop()
    Partial.disable()
    with pytest.raises(UsageError, match=r"Partial\.enable\(\)"):
        Partial.get_data(mb.SYMBOL, mb.MANAGED)
    with pytest.raises(UsageError, match="symbol must be a non-empty string"):
        Partial.get_data("", mb.MANAGED)
    with pytest.raises(UsageError, match="backtest must be True"):
        Partial.get_data(mb.SYMBOL, mb.MANAGED, backtest="yes")
