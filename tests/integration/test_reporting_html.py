"""The HTML twins of the reporting classes' reports (Risk, Schedule, Heat, Partial,
Performance) in a real
headless Chromium: they render (a screenshot that is not blank), log nothing to the
console, fetch nothing, and Heat's picture is inlined."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from btfarm.orchestrator import Backtest, Heat, Partial, Performance, Risk, Schedule
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.settings import get_settings
from tests.support import managed_backtest as mb
from tests.support import reporting_markets as markets
from tests.support.browser import screenshot

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def pages(redis_client, redis_server, monkeypatch) -> dict[str, Path]:
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    markets.register()
    _, stops = mb.register()
    for reporting in (Risk, Schedule, Heat, Partial, Performance):
        reporting.enable()
    try:
        list(Backtest.run("PLAINUSDT", "short-rejecter", markets.EXCHANGE, markets.FRAME))
        for symbol in (markets.SYMBOL, "PLAINUSDT"):
            list(Backtest.run(symbol, "limit-dip", markets.EXCHANGE, markets.FRAME))
        list(Backtest.run(mb.SYMBOL, mb.MANAGED, mb.EXCHANGE, mb.FRAME))
        yield {
            "risk": Risk.dump("PLAINUSDT", "short-rejecter").with_suffix(".html"),
            "schedule": Schedule.dump(markets.SYMBOL, "limit-dip").with_suffix(".html"),
            "heat": Heat.dump("limit-dip", markets.EXCHANGE, markets.FRAME).with_suffix(".html"),
            "partial": Partial.dump(mb.SYMBOL, mb.MANAGED).with_suffix(".html"),
            "performance": Performance.dump(mb.SYMBOL, mb.MANAGED).with_suffix(".html"),
        }
    finally:
        for reporting in (Risk, Schedule, Heat, Partial, Performance):
            reporting.disable()
        for stop in stops:
            stop()
        reset_state()


def not_blank(png: Path) -> bool:
    image = Image.open(png).convert("L")
    low, high = image.getextrema()
    return high - low > 100 and len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 30


def test_the_reporting_pages_render_in_a_real_browser_without_console_messages(pages, tmp_path):
    for name, page in pages.items():
        png = tmp_path / f"{name}.png"
        console = screenshot(page, png)
        assert console == [], (name, console)
        assert not_blank(png), name
        html = page.read_text()
        assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched
        assert html.count("<table>") >= {"risk": 3, "partial": 1, "performance": 1}.get(name, 2), (
            name
        )
        assert html.count("data:image/svg+xml;base64,") == (1 if name == "heat" else 0), name
