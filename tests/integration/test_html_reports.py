"""The HTML reports in a real headless Chromium: they render (a screenshot that is not
blank), log nothing to the console, fetch nothing from the network (Chromium's own net
log), their interactive charts draw and zoom, and their tables sort when a header is
clicked."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.support.browser import FLAGS, TIMEOUT_SECONDS, chromium, dom_after_scripts, screenshot
from tests.support.processes import farm_processes_under

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Path:
    """`btfarm demo`, the demo sweep and a backtest that manages its positions
    (tests/support/managed_backtest.py) on the embedded default, in a folder of their own."""
    folder = tmp_path_factory.mktemp("html")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTFARM_")}
    env.update(
        BTFARM_STATE_DIR=str(folder / "state"),
        BTFARM_DUMP_DIR=str(folder / "dump"),
        BTFARM_LOCAL_WORKERS="1",
    )
    for args in (
        ["btfarm.orchestrator.cli", "demo"],
        ["btfarm.orchestrator.cli", "walker"],
        ["tests.support.managed_backtest"],
    ):
        extra = {"PYTHONPATH": str(REPO)} if args[0].startswith("tests.") else {}
        done = subprocess.run(
            [sys.executable, "-m", *args],
            cwd=folder,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert farm_processes_under(folder) == []
    return folder / "dump"


def not_blank(png: Path) -> bool:
    image = Image.open(png).convert("L")
    low, high = image.getextrema()
    return high - low > 100 and len(image.getcolors(maxcolors=1 << 16) or range(1 << 16)) > 30


def page_requests(page: Path, folder: Path) -> list[str]:
    """The addresses ``page`` asked the network for, from Chromium's net log: requests a
    page starts carry its origin as initiator ("null" for a file); the browser's own
    (updates, time) carry "not an origin" and are not the page's doing."""
    log = folder / f"{page.stem}.netlog.json"
    done = subprocess.run(
        [
            chromium(),
            *FLAGS,
            "--virtual-time-budget=5000",
            f"--log-net-log={log}",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(log.read_text())
    start_job = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in data["events"]
        if event["type"] == start_job
        and "url" in event.get("params", {})
        and event["params"].get("initiator") != "not an origin"
    ]


def test_the_net_log_sees_what_a_page_fetches(tmp_path):
    """The check below is real: a page that loads an image and calls fetch is caught."""
    page = tmp_path / "fetcher.html"
    page.write_text(
        '<html><body><img src="http://127.0.0.1:9/x.png">'
        '<script>fetch("https://example.invalid/y").catch(function () {});</script></body></html>'
    )
    assert sorted(page_requests(page, tmp_path)) == [
        "http://127.0.0.1:9/x.png",
        "https://example.invalid/y",
    ]


@pytest.mark.parametrize(
    "report",
    [
        "backtest/sma-cross.html",
        "backtest/pullback.html",
        "backtest/managed-positions.html",
        "walker/demo-sweep.html",
    ],
)
def test_a_report_renders_in_a_real_browser_without_console_messages(reports, tmp_path, report):
    page = reports / report
    png = tmp_path / "shot.png"
    console = screenshot(page, png)
    assert console == [], console
    assert not_blank(png)
    assert page_requests(page, tmp_path) == []  # self-contained: nothing fetched, BokehJS inlined
    html = page.read_text()
    assert html.count("data:image/svg+xml;base64,") >= 3
    if "backtest" in report:  # the price and the equity as interactive charts, BokehJS once
        assert (
            html.count('<div class="chart" id="chart-') == 2
            and html.count("/* BEGIN bokeh.min.js */") == 1
        )
    if (
        "managed" in report
    ):  # the managed trades folded, the partial closes marked on the equity chart
        assert re.search(r"<details[^>]*>\s*<summary><h2>Managed trades</h2>", html), (
            "no folded Managed trades"
        )
        assert "partial close (counted at the close)" in html and "<th>Partial closes</th>" in html


CHARTS_ONLY = """<style>
body > :not(.chart) { display: none !important; }
body { margin: 0 !important; padding: 0 !important; max-width: none !important; }
.chart { margin: 0 !important; width: 1100px !important; }
</style></head>"""


def chart_pixels(png: Path, top: int, height: int) -> tuple[int, int]:
    """(pixels not near white, pixels of the equity's blue) in a band of the screenshot."""
    band = Image.open(png).convert("RGB").crop((0, top, 1100, top + height))
    inked = blue = 0
    for count, (red, green, b_) in band.getcolors(maxcolors=1 << 20):
        if min(red, green, b_) < 200:
            inked += count
        if b_ > 150 and red < 80 and 90 < green < 150:  # #1f77b4 and its antialiased neighbours
            blue += count
    return inked, blue


def test_the_interactive_charts_render(reports, tmp_path):
    """Only the two charts shown (the rest hidden): the equity's band and the price's are
    drawn, not blank, and the equity's line is there in its blue."""
    harness = tmp_path / "charts.html"
    harness.write_text(
        (reports / "backtest/sma-cross.html").read_text().replace("</head>", CHARTS_ONLY, 1)
    )
    png = tmp_path / "charts.png"
    done = subprocess.run(
        [
            chromium(),
            *FLAGS,
            "--virtual-time-budget=5000",
            "--hide-scrollbars",
            "--window-size=1100,800",
            f"--screenshot={png}",
            harness.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
    )
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    equity_inked, equity_blue = chart_pixels(png, 0, 380)
    price_inked, _ = chart_pixels(png, 400, 380)
    assert equity_inked > 5_000 and equity_blue > 300, (equity_inked, equity_blue)
    assert price_inked > 5_000, price_inked


ZOOM_PROBE = """<script>
// after the charts are drawn: a mouse wheel over the price chart's data, as a user turns it
function report(x) { document.title = "zoom:" + JSON.stringify(x); }
setTimeout(function () {
  try {
    var chart = document.getElementById("chart-2");  // the price and the trades
    var view = Array.from(Bokeh.index.all_views()).find(function (v) {
      return v.model.type === "Figure" && chart.contains(v.el); });
    var figure = view.model;
    var before = [figure.x_range.start, figure.x_range.end];
    var target = view.canvas_view.events_el, box = target.getBoundingClientRect(), frame = view.frame.bbox;
    target.dispatchEvent(new WheelEvent("wheel", {clientX: box.left + frame.left + frame.width / 2,
      clientY: box.top + frame.top + frame.height / 2, deltaY: -500, bubbles: true, cancelable: true,
      composed: true}));
    setTimeout(function () {
      report({title: figure.title.text, before: before, after: [figure.x_range.start, figure.x_range.end]});
    }, 500);
  } catch (e) { report({error: String(e)}); }
}, 2000);
</script></body>"""


def test_a_mouse_wheel_zooms_the_price_chart(reports, tmp_path):
    harness = tmp_path / "zoom.html"
    harness.write_text(
        (reports / "backtest/sma-cross.html").read_text().replace("</body>", ZOOM_PROBE)
    )
    dom, console = dom_after_scripts(harness)
    assert console == [], console
    seen = json.loads(
        re.search(r"<title>zoom:([^<]*)</title>", dom).group(1).replace("&quot;", '"')
    )
    assert "error" not in seen, seen
    assert seen["title"].endswith("price and trades")
    (start, end), (new_start, new_end) = seen["before"], seen["after"]
    assert start < new_start < new_end < end  # zoomed in on the time axis
    assert (new_end - new_start) < 0.9 * (end - start)


def test_a_table_sorts_by_the_clicked_header(reports, tmp_path):
    page = (reports / "walker/demo-sweep.html").read_text()
    probe = """<script>
    var folded = Array.prototype.find.call(document.querySelectorAll("details"), function (d) {
      return d.querySelector("summary").textContent.indexOf("Full ranking") >= 0; });
    var header = Array.prototype.find.call(folded.querySelectorAll("th"), function (th) {
      return th.textContent.trim() === "Total Signals"; });  // the whole ranking's
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


PAYLOADS = (
    "<script>console.log('pwned-script')</script>",
    "<img src=x onerror=\"console.log('pwned-img')\">",
    "<svg onload=\"console.log('pwned-svg')\"></svg>",
    "[link](javascript:console.log('pwned-link'))",
)


def test_what_users_and_strategies_wrote_runs_nothing_in_a_real_browser(tmp_path):
    """A symbol, a variant's name, a note and an error text full of markup: shown as text,
    none of it runs (the probe clicks every link too), and the probe's own line is logged."""
    from btfarm.orchestrator.reports.html import to_html
    from btfarm.orchestrator.reports.render import render_backtest
    from tests.unit.test_report_render import closed

    hostile = " ".join(PAYLOADS)
    row = closed(0, 0.5, hostile)
    row["symbol"] = hostile
    report = render_backtest(
        hostile, f"v[tag={hostile}]", "ex", "fr", [row], None, rejections=[hostile]
    )
    probe = """<script>
    document.querySelectorAll("a").forEach(function (a) { a.click(); });
    console.log("probe ran");
    </script></body>"""
    harness = tmp_path / "hostile.html"
    harness.write_text(to_html(report, f"backtest: {hostile}", {}).replace("</body>", probe))
    dom, console = dom_after_scripts(harness)
    assert any("probe ran" in line for line in console), console  # the console is heard
    assert not any("pwned" in line for line in console), console
    assert (
        dom.count("&lt;script&gt;console.log('pwned-script')&lt;/script&gt;") >= 4
    )  # shown as text
