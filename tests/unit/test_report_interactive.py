"""The HTML twin's interactive charts (Bokeh, inlined once per page) and its folded
sections: what the page holds, and that what users wrote cannot leave a chart's data.
(tests/integration/test_html_reports.py opens the pages in a real Chromium.)"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from btfarm.orchestrator.reports.html import to_html
from btfarm.orchestrator.reports.interactive import (
    InteractivePicture,
    equity_chart,
    item_json,
    price_chart,
)
from btfarm.orchestrator.reports.series import equity_series, trade_marks
from tests.unit.test_report_escaping import SCRIPT, Page
from tests.unit.test_report_render import closed

pytestmark = pytest.mark.unit

HOSTILE = f"X{SCRIPT}</script><!--"


def charts() -> dict[str, str]:
    rows = [closed(i, (-1) ** i * 0.5) for i in range(12)]
    series = equity_series(rows)
    times = np.arange(series.times_ms[0], series.times_ms[-1], 60_000)
    closes = 100 + np.sin(times / 1e6)
    return {
        "a.equity.svg": InteractivePicture(
            "<svg xmlns='http://www.w3.org/2000/svg'/>",
            equity_chart(
                series.times_ms,
                series.equity,
                (times, closes / closes[0]),
                f"buy and hold {HOSTILE}",
                HOSTILE,
            ),
        ),
        "a.price.svg": InteractivePicture(
            "<svg xmlns='http://www.w3.org/2000/svg'/>",
            price_chart(times, closes, trade_marks(rows), f"{HOSTILE}: price"),
        ),
        "a.monthly.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>",
    }


def test_a_page_shows_each_interactive_chart_in_its_pictures_place_and_inlines_bokehjs_once():
    pictures = charts()
    markdown = "# r\n\n" + "\n\n".join(f"![{file} <b>]({file})" for file in pictures) + "\n"
    html = to_html(markdown, "r", pictures)
    assert html.count("/* BEGIN bokeh.min.js */") == 1  # once, whatever the number of charts
    assert html.count('<div class="chart" id="chart-') == 2
    assert (
        '<div class="chart" id="chart-1" role="img" aria-label="a.equity.svg &lt;b&gt;"></div>'
        in html
    )
    page, bokeh = html.split("/* BEGIN bokeh.min.js */")
    bokeh, after = bokeh.split("/* END bokeh.min.js */")
    assert page.count("data:image/svg+xml;base64,") == 1  # the monthly picture has no twin: inlined
    assert "Bokeh.set_log_level(" not in after  # it logs a line to the console
    items = re.findall(
        r'<script type="application/json" data-chart="(chart-\d)">(.*?)</script>', html, re.S
    )
    assert [target for target, _ in items] == ["chart-1", "chart-2"]
    assert json.loads(items[0][1]) == pictures["a.equity.svg"].interactive
    assert not re.search(
        "https?://", page + after
    )  # BokehJS names some (licences); the browser test shows
    # nothing is fetched


def test_what_users_wrote_stays_inside_a_charts_data():
    item = charts()["a.price.svg"].interactive
    text = item_json(item)
    assert "<" not in text and ">" not in text and "&" not in text  # nothing can end the <script>
    assert json.loads(text) == item and HOSTILE in json.dumps(item)  # read back whole
    html = to_html("![p](a.price.svg)\n", "r", {"a.price.svg": charts()["a.price.svg"]})
    page = Page(html)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    # BokehJS, the chart's data (not run: JSON), the charts' loader, the page's table sorter
    assert len(scripts) == 4 and sum(a.get("type") == "application/json" for a in scripts) == 1
    assert not any(name.startswith("on") for _, attrs in page.tags for name in attrs)


def test_a_hover_writes_no_html():
    """Bokeh writes a tooltip's values as text unless a field asks for ``{safe}``."""
    for picture in charts().values():
        if isinstance(picture, InteractivePicture):
            assert "{safe}" not in json.dumps(picture.interactive)


def test_the_sections_a_reader_opens_when_needed_are_folded():
    markdown = (
        "# Walker: w\n\n## Comparison by sharpe_ratio\n\n| a |\n| --- |\n| ## Full ranking |\n\n"
        "## Full ranking\n\nAll 3.\n\n| Rank |\n| --- |\n| 1 |\n\n## PnL by strategy\n\n### top\n\n"
        "No closed signals.\n\n## Fingerprint\n\n| Field |\n| --- |\n| x |\n"
    )
    html = to_html(markdown, "w", {})
    assert html.count('<details class="folded">') == 3
    assert '<details class="folded"><summary><h2>Full ranking</h2></summary><p>All 3.</p>' in html
    folded = html[html.index('<details class="folded"><summary><h2>PnL by strategy') :]
    assert folded.index("<h3>top</h3>") < folded.index("</details>")  # the subsections go inside
    assert (
        "<h2>Comparison by sharpe_ratio</h2>" in html and "<td>## Full ranking</td>" in html
    )  # open
    assert html.index("<h2>Comparison") < html.index("<details")


def test_bokeh_is_imported_with_the_first_chart_not_with_btfarm():
    """Like matplotlib: a sweep or a CLI command that draws nothing does not pay for it."""
    import subprocess
    import sys

    code = (
        "import sys, btfarm.orchestrator, btfarm.orchestrator.cli, btfarm.orchestrator.backtest; "
        "print('bokeh' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
