"""orchestrator/schedule.py (the file format, beat entries) and the comparison report."""

from datetime import timedelta

import pytest
from celery.schedules import crontab

from btfarm.orchestrator.reports.comparison import render_comparison
from btfarm.orchestrator.schedule import beat_schedule, load_schedule
from btfarm.shared.errors import ConfigError
from btfarm.workers.app import SCHEDULE_QUEUE

pytestmark = pytest.mark.unit

GOOD = """imports = ["my_strategies"]

[[entry]]
name = "nightly"
walker = "sma-sweep"
symbols = ["BTCUSDT", "ETHUSDT"]
cron = "0 2 * * 1-5"

[[entry]]
walker = "quick"
symbols = "BTCUSDT"
every_seconds = 30
"""


def test_a_schedule_becomes_one_beat_entry_per_walker_and_symbol(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    schedule = load_schedule(path)
    assert schedule.imports == ("my_strategies",)
    entries = beat_schedule(schedule)
    assert set(entries) == {"nightly:BTCUSDT", "nightly:ETHUSDT", "quick:BTCUSDT"}
    nightly = entries["nightly:ETHUSDT"]
    assert nightly["task"] == "btfarm.scheduled_walk"
    assert nightly["kwargs"] == {
        "entry": "nightly",
        "walker_name": "sma-sweep",
        "symbol": "ETHUSDT",
    }
    assert nightly["options"] == {"queue": SCHEDULE_QUEUE}
    assert nightly["schedule"] == crontab(minute="0", hour="2", day_of_week="1-5")
    assert entries["quick:BTCUSDT"]["schedule"] == timedelta(seconds=30)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[[entry]]\nwalker = "w"\nsymbols = ["X"]\ncron = "61 * * * *"\n',
            "not a five-field cron",
        ),
        ('[[entry]]\nwalker = "w"\nsymbols = ["X"]\n', "exactly one of cron"),
        (
            '[[entry]]\nwalker = "w"\nsymbols = ["X"]\ncron = "* * * * *"\nevery_seconds = 5\n',
            "exactly one",
        ),
        ('[[entry]]\nwalker = "w"\nsymbols = []\ncron = "* * * * *"\n', "needs symbols"),
        ('[[entry]]\nwalkr = "w"\nsymbols = ["X"]\ncron = "* * * * *"\n', 'Did you mean "walker"'),
        ("imports = []\n", "no \\[\\[entry\\]\\]"),
        ("[[entry]\n", "not valid TOML"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_fix(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_schedule(path)


def test_a_missing_schedule_file_says_how_to_set_it(tmp_path):
    with pytest.raises(ConfigError, match="BTFARM_SCHEDULE_FILE"):
        load_schedule(tmp_path / "none.toml")


def _run(stamp, *ranking, best=None):
    return {
        "stamp": stamp,
        "report": f"walker/w/{stamp}-X.md",
        "metric": "sharpe_ratio",
        "best_strategy": best or ranking[0][0],
        "unfinished": [],
        "ranking": [
            {"strategy_name": n, "rank": i, "metric_value": v}
            for i, (n, v) in enumerate(ranking, start=1)
        ],
    }


def test_the_comparison_shows_rank_changes_and_metric_deltas():
    before = _run("2025-01-01T000000Z", ("a", 1.0), ("b", 0.5), ("gone", 0.1))
    now = _run("2025-01-02T000000Z", ("b", 0.75), ("a", 0.25), ("new", None))
    text = render_comparison("w", "X", now, before)
    assert "- Previous run: 2025-01-01T000000Z" in text
    assert "- Best: b (previously a)" in text
    assert "| b | 1 | 2 | +1 | 0.7500 | 0.5000 | +0.2500 |" in text
    assert "| a | 2 | 1 | -1 | 0.2500 | 1.0000 | -0.7500 |" in text
    assert "| new | 3 | - | new | N/A | N/A | N/A |" in text
    assert "not in this one: gone" in text


def test_the_first_run_says_there_is_nothing_to_compare_with():
    text = render_comparison("w", "X", _run("2025-01-01T000000Z", ("a", 1.0)), None)
    assert "first run" in text and "| Strategy |" not in text


def test_a_scheduled_walk_forward_walker_is_refused_before_it_runs():
    """A walk-forward walker's data is its windows, not one ranking: the comparison with the
    previous run would fail after the whole run (no ``best_strategy``)."""
    from btfarm.orchestrator.schedule import compare_run
    from btfarm.shared.registry import add_walker

    add_walker(
        walker_name="sched-wf",
        exchange_name="nowhere",
        frame_name="never",
        strategies=["nothing"],
        walk_forward={"train": "4d", "test": "2d"},
        override=True,
    )
    with pytest.raises(ConfigError, match="walk-forward walker.*without walk_forward"):
        compare_run("sched-wf", "SYM")  # refused before Walker.run looks up the exchange
