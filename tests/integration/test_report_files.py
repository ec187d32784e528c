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


def test_a_backtest_dump_writes_the_picture_links_it_and_an_html_twin(backtested, tmp_path):
    path = Backtest.dump("SIMUSDT", "sma-cross-5m")
    svg = path.with_name("sma-cross-5m.equity.svg")
    html = path.with_suffix(".html")
    text = path.read_text()
    assert "![Equity and drawdown](sma-cross-5m.equity.svg)" in text
    assert text.index("## Statistics") < text.index("## Pictures") < text.index("## Closed signals")
    picture = svg.read_text()
    assert picture.startswith("<?xml") and picture.count("<path") > 10 and len(picture) > 20_000
    page = html.read_text()
    assert page.count("data:image/svg+xml;base64,") == 1 and "<table>" in page
    assert "sma-cross-5m.equity.svg" not in page.replace('alt="', "")  # inlined, not linked


def test_formats_choose_what_is_written_and_a_bad_one_is_refused(backtested, tmp_path):
    only_html = Backtest.dump("SIMUSDT", "sma-cross-5m", "backtest/only.md", formats=("html",))
    assert only_html.suffix == ".html" and only_html.exists()
    assert not only_html.with_suffix(".md").exists() and not only_html.with_name("only.equity.svg").exists()
    with pytest.raises(ReportError, match="use one or both of md, html"):
        Backtest.dump("SIMUSDT", "sma-cross-5m", formats=("pdf",))
