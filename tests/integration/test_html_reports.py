"""The HTML reports in a real headless Chromium: they render (a screenshot that is not
blank), log nothing to the console, and their tables sort when a header is clicked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.browser import dom_after_scripts, screenshot
from tests.support.processes import farm_processes_under

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """`btfarm demo` and the demo sweep on the embedded default, in a folder of their own."""
    folder = tmp_path_factory.mktemp("html")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(BTFARM_STATE_DIR=str(folder / "state"), BTFARM_DUMP_DIR=str(folder / "dump"),
               BTFARM_LOCAL_WORKERS="1")
    for args in (["demo"], ["walker"]):
        done = subprocess.run([sys.executable, "-m", "btfarm.orchestrator.cli", *args], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    assert farm_processes_under(folder) == []
    return folder / "dump"


def not_blank(png: Path) -> bool:
    image = Image.open(png).convert("L")
    low, high = image.getextrema()
    return high - low > 100 and len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 30


@pytest.mark.parametrize("report", ["backtest/sma-cross.html", "backtest/pullback.html",
                                    "walker/demo-sweep.html"])
def test_a_report_renders_in_a_real_browser_without_console_messages(reports, tmp_path, report):
    page = reports / report
    png = tmp_path / "shot.png"
    console = screenshot(page, png)
    assert console == [], console
    assert not_blank(png)
    html = page.read_text()
    assert "http://" not in html and "https://" not in html  # self-contained: nothing fetched
    assert html.count("data:image/svg+xml;base64,") >= (3 if "walker" in report else 1)


def test_a_table_sorts_by_the_clicked_header(reports, tmp_path):
    page = (reports / "walker/demo-sweep.html").read_text()
    probe = """<script>
    var header = Array.prototype.find.call(document.querySelectorAll("th"), function (th) {
      return th.textContent.trim() === "Total Signals"; });  // the comparison's, the first with it
    var table = header.closest("table");
    header.click();
    var column = Array.prototype.indexOf.call(header.parentNode.children, header);
    document.title = "sorted:" + Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return row.cells[column].textContent.trim(); }).join(",");
    </script></body>"""
    harness = tmp_path / "harness.html"
    harness.write_text(page.replace("</body>", probe))
    dom, console = dom_after_scripts(harness)
    assert console == [], console
    shown = re.search(r"<title>sorted:([^<]*)</title>", dom).group(1).split(",")
    numbers = [int(x) for x in shown]
    assert numbers == sorted(numbers) and len(numbers) >= 20 and numbers[0] < numbers[-1]


PAYLOADS = ("<script>console.log('pwned-script')</script>", "<img src=x onerror=\"console.log('pwned-img')\">",
            "<svg onload=\"console.log('pwned-svg')\"></svg>", "[link](javascript:console.log('pwned-link'))")


def test_what_users_and_strategies_wrote_runs_nothing_in_a_real_browser(tmp_path):
    """A symbol, a variant's name, a note and an error text full of markup: shown as text,
    none of it runs (the probe clicks every link too), and the probe's own line is logged."""
    from btfarm.orchestrator.reports.html import to_html
    from btfarm.orchestrator.reports.render import render_backtest
    from tests.unit.test_report_render import closed

    hostile = " ".join(PAYLOADS)
    row = closed(0, 0.5, hostile)
    row["symbol"] = hostile
    report = render_backtest(hostile, f"v[tag={hostile}]", "ex", "fr", [row], None, rejections=[hostile])
    probe = """<script>
    document.querySelectorAll("a").forEach(function (a) { a.click(); });
    console.log("probe ran");
    </script></body>"""
    harness = tmp_path / "hostile.html"
    harness.write_text(to_html(report, f"backtest: {hostile}", {}).replace("</body>", probe))
    dom, console = dom_after_scripts(harness)
    assert any("probe ran" in line for line in console), console  # the console is heard
    assert not any("pwned" in line for line in console), console
    assert dom.count("&lt;script&gt;console.log('pwned-script')&lt;/script&gt;") >= 4  # shown as text
