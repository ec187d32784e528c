"""The hand-written reference pages name everything the code has.

Some reference tables are written by hand, because the code keeps their meaning in
comments that mkdocstrings cannot show (a statistic's formula, a setting's meaning).
These checks fail when the code gains a name the page does not mention, so the
page is brought along with the change; and the site's navigation lists every page.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from btfarm.orchestrator import WalkerData, WalkerProgress
from btfarm.shared import events
from btfarm.shared.engine_config import EngineConfig
from btfarm.shared.results import ClosedResult, PnL
from btfarm.shared.settings import PREFIX, Settings
from btfarm.shared.stats import BacktestStatistics, LiveStatistics
from btfarm.shared.trade_signal import SignalDto, SignalRow

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def _missing(page: str, names) -> list[str]:
    text = (DOCS / page).read_text()
    return [name for name in names if f"`{name}`" not in text]


@pytest.mark.parametrize(
    ("page", "names"),
    [
        ("reference/settings.md", [PREFIX + f.name.upper() for f in fields(Settings)]),
        ("guide/configuration.md", list(EngineConfig.model_fields)),
        ("reference/statistics.md", list(LiveStatistics.model_fields)),  # BacktestStatistics' too
        (
            "reference/results.md",
            [*ClosedResult.model_fields, *PnL.model_fields, *SignalRow.model_fields],
        ),
        ("reference/signals.md", list(SignalDto.model_fields)),
        ("reference/walker-data.md", [*WalkerData.model_fields, *WalkerProgress.model_fields]),
        (
            "reference/events.md",
            sorted(
                name
                for name in vars(events)
                if name.startswith("listen_") and not name.endswith("_once")
            ),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_the_page_names_every_one(page: str, names: list[str]) -> None:
    missing = _missing(page, names)
    assert not missing, (
        f"docs/{page} does not mention (in `code`): {', '.join(missing)}; add them to its table"
    )


def test_statistics_include_the_backtest_ones() -> None:
    assert set(BacktestStatistics.model_fields) < set(LiveStatistics.model_fields)


def test_every_page_is_in_the_navigation() -> None:
    nav = (REPO / "mkdocs.yml").read_text()
    listed = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, re.M))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "hooks" not in p.parts}
    assert pages - listed == set(), f"pages missing from mkdocs.yml's nav: {sorted(pages - listed)}"
    assert listed - pages == set(), f"nav entries without a page: {sorted(listed - pages)}"


def test_the_check_sees_a_missing_name(tmp_path: Path) -> None:
    # the page test must fail on a name the page lacks, or it passes vacuously
    assert _missing("reference/settings.md", ["BTFARM_NO_SUCH_SETTING"]) == [
        "BTFARM_NO_SUCH_SETTING"
    ]
