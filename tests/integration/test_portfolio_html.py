"""A portfolio report's HTML twin in a real headless Chromium: it renders (a screenshot that is
not blank), logs nothing to the console, fetches nothing, inlines its two pictures, and folds the
closed signals."""

from __future__ import annotations

import pytest
from PIL import Image

from btfarm.orchestrator import (
    Portfolio,
    add_exchange,
    add_frame,
    add_portfolio,
    add_risk,
    add_strategy,
    csv_exchange,
)
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.demo import pullback_signal, sma_cross_signal
from btfarm.shared.settings import get_settings
from tests.support.browser import screenshot
from tests.support.reference_data import SIM_CSV

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_the_portfolio_page_renders_in_a_real_browser(
    redis_client, redis_server, monkeypatch, tmp_path
):
    monkeypatch.setenv("BTFARM_REDIS_URL", redis_server.url)
    get_settings.cache_clear()
    reset_state()
    try:
        add_exchange(csv_exchange("pfh-sim", files={"SIMUSDT": SIM_CSV}), override=True)
        add_frame(
            frame_name="pfh-jan",
            interval="1m",
            start_date="2025-01-01T00:00:00Z",
            end_date="2025-01-30T23:59:00Z",
            override=True,
        )
        add_strategy(
            strategy_name="pfh-sma", interval="5m", get_signal=sma_cross_signal, override=True
        )
        add_strategy(
            strategy_name="pfh-pullback", interval="15m", get_signal=pullback_signal, override=True
        )
        add_risk(risk_name="pfh-one", max_positions=1, override=True)
        add_portfolio(
            portfolio_name="pfh-duo",
            exchange_name="pfh-sim",
            frame_name="pfh-jan",
            risk_name="pfh-one",
            capital=1000,
            override=True,
            members=[
                {"symbol": "SIMUSDT", "strategy_name": "pfh-sma"},
                {"symbol": "SIMUSDT", "strategy_name": "pfh-pullback"},
            ],
        )
        list(Portfolio.run("pfh-duo"))
        page = Portfolio.dump("pfh-duo").with_suffix(".html")
    finally:
        reset_state()
    png = tmp_path / "portfolio.png"
    assert screenshot(page, png) == []
    image = Image.open(png).convert("L")
    low, high = image.getextrema()
    assert high - low > 100 and len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 30
    html = page.read_text()
    assert "http://" not in html and "https://" not in html
    assert html.count("data:image/svg+xml;base64,") == 2
    assert html.count("<table>") >= 5  # figures, statistics, members, rejections, closed signals
    assert "<details" in html and "Closed signals" in html
