"""Report files on disk: each picture written beside its markdown, linked, and an HTML
twin with the pictures inlined (a backtest of the README example on the reference data,
through the public API and the embedded default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from btfarm.orchestrator import Backtest
from btfarm.orchestrator.state_client import reset_state
from btfarm.shared.errors import ReportError
from btfarm.shared.importing import import_user_module

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sma_cross_5m.py"


@pytest.fixture
def backtested():
    reset_state()
    import_user_module(str(EXAMPLE))
    list(Backtest.run("SIMUSDT", "sma-cross-5m", "sim", "sim-30d"))
    yield
    reset_state()


PICTURES = {
    "equity": "Equity and buy and hold",
    "price": "Price and trades",
    "monthly": "Monthly returns (compounded)",
    "rolling-sharpe": "Rolling Sharpe ratio",
    "underwater": "Underwater: drawdown from the running peak",
}


def test_a_backtest_dump_writes_the_pictures_links_them_and_an_html_twin(backtested, tmp_path):
    path = Backtest.dump("SIMUSDT", "sma-cross-5m")
    html = path.with_suffix(".html")
    text = path.read_text()
    for name, alt in PICTURES.items():
        assert f"![{alt}](sma-cross-5m.{name}.svg)" in text
        picture = path.with_name(f"sma-cross-5m.{name}.svg").read_text()
        drawn = (
            picture.count("<image") if name == "monthly" else picture.count("<path") > 10
        )  # a raster of cells
        assert picture.startswith("<?xml") and drawn and len(picture) > 8_000, name
    assert (
        text.index("## Statistics")
        < text.index("## Pictures")
        < text.index("## Worst drawdowns")
        < text.index("## Closed signals")
    )
    page = html.read_text()
    # the equity and the price as interactive charts, the other three inlined
    assert page.split("/* BEGIN bokeh.min.js */")[0].count("data:image/svg+xml;base64,") == 3
    assert page.count('<div class="chart" id="chart-') == 2 and "<table>" in page
    for name in PICTURES:
        assert f"sma-cross-5m.{name}.svg" not in page.replace('alt="', "")  # inlined, not linked


def test_formats_choose_what_is_written_and_a_bad_one_is_refused(backtested, tmp_path):
    only_html = Backtest.dump("SIMUSDT", "sma-cross-5m", "backtest/only.md", formats=("html",))
    assert only_html.suffix == ".html" and only_html.exists()
    assert not only_html.with_suffix(".md").exists() and not list(
        only_html.parent.glob("only.*.svg")
    )
    with pytest.raises(ReportError, match="use one or both of md, html"):
        Backtest.dump("SIMUSDT", "sma-cross-5m", formats=("pdf",))
