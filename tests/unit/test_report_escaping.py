"""What users and strategies write (a symbol, a sweep value in a variant's name, an
exception's text, a signal's note) reaches the reports as text: nothing live in the HTML
twin, no table broken in the markdown or the HTML."""

from __future__ import annotations

import html as html_text
import re
from html.parser import HTMLParser

import pytest

from btfarm.orchestrator.reports.comparison import render_comparison
from btfarm.orchestrator.reports.html import to_html
from btfarm.orchestrator.reports.render import render_backtest, render_live, render_walker
from btfarm.orchestrator.reports.symbols_report import render_walker_symbols
from btfarm.orchestrator.results.symbols import SymbolsData, SymbolsRow
from btfarm.orchestrator.results.trust import TrustFigures
from btfarm.orchestrator.results.walker_data import WalkerData
from tests.unit.test_report_render import closed

pytestmark = pytest.mark.unit

SCRIPT = "<script>alert(1)</script>"
SYMBOL = f"X{SCRIPT}|`"
VARIANT = f"sma[tag={SCRIPT}|b`]"  # a sweep value becomes part of the variant's name
OTHER = "sma[tag=`|<img src=x onerror=alert(2)>]"
EXCEPTION = "ValueError('<img src=x onerror=alert(3)>')\n  at | line `7`"
NOTE = "a | b\n<iframe src=javascript:alert(4)></iframe> `c` <b>d</b> & e"
LINKS = "[x](javascript:alert(5)) ![y](javascript:alert(6)) <a href=javascript:alert(7)>z</a>"  # lose their addresses
PAGE_SCRIPTS = 1  # the page's own script, which sorts the tables


class Page(HTMLParser):
    """The live markup of an HTML page: its tags and attributes, and its tables' cells as text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:  # a line break in a cell is the <br> tag; "\n" is layout
            self._cell.append(data.replace("\n", ""))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


def live_markup(html: str) -> list[str]:
    """What in ``html`` could run: scripts beyond the page's own, frames, event handlers,
    ``javascript:`` and ``data:`` addresses other than inlined pictures."""
    page = Page(html)
    found = []
    scripts = [tag for tag, _ in page.tags if tag == "script"]
    if len(scripts) != PAGE_SCRIPTS:
        found.append(f"{len(scripts)} <script> elements")
    for tag, attrs in page.tags:
        if (
            tag in ("iframe", "object", "embed", "svg", "form", "base", "meta")
            and tag != "meta"
            or tag == "meta"
            and set(attrs) != {"charset"}
        ):
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"<{tag} {name}>")
            if name in ("href", "src") and value and runs_code(value):
                found.append(f"<{tag} {name}={value}>")
    return found


def runs_code(address: str) -> bool:
    """An address a browser would run or render as a page: javascript:, vbscript:, data:
    (but an inlined SVG picture), read as the browser reads it."""
    plain = re.sub(r"[\x00-\x20\x7f]", "", html_text.unescape(address)).lower()
    return plain.startswith(("javascript:", "vbscript:", "data:")) and not plain.startswith(
        "data:image/svg+xml;base64,"
    )


def table_with(page: Page, *header: str) -> list[list[str]]:
    """The table whose header row is ``header``, or else the first that starts with it."""
    tables = [t for t in page.tables if t and t[0][: len(header)] == list(header)]
    return next((t for t in tables if len(t[0]) == len(header)), tables[0])


def every_row_has_the_header_width(page: Page) -> None:
    for table in page.tables:
        assert all(len(row) == len(table[0]) for row in table), table


def twin(markdown: str, pictures: dict[str, str] | None = None) -> tuple[str, Page]:
    html = to_html(markdown, f"report: {SYMBOL}", pictures or {})
    return html, Page(html)


def test_a_backtest_report_shows_a_hostile_symbol_and_note_as_text_in_whole_cells():
    row = closed(0, 0.5, NOTE)
    row["symbol"] = SYMBOL
    markdown = render_backtest(
        SYMBOL,
        VARIANT,
        "ex",
        "frame",
        [row, closed(1, -0.2, OTHER)],
        None,
        fingerprint={"params": {"tag": SCRIPT + "|"}, "note|`": NOTE},
        rejections=[EXCEPTION, LINKS],
        coverage=LINKS,
        pictures=[(f"Equity of {VARIANT}", "a b:(c).equity.svg")],
    )
    html, page = twin(markdown, {"a b:(c).equity.svg": "<svg xmlns='http://www.w3.org/2000/svg'/>"})
    assert live_markup(html) == []
    heading = next(line for line in html.splitlines() if line.startswith("<h1>"))
    assert (
        heading.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 2
    )  # the variant's and the symbol's
    every_row_has_the_header_width(page)
    signals = table_with(page, "Signal ID")
    header = signals[0]
    first = dict(zip(header, signals[1], strict=True))
    assert first["Symbol"] == SYMBOL and first["Note"] == NOTE and first["Signal ID"] == "sig-0"
    assert dict(zip(header, signals[2], strict=True))["Note"] == OTHER
    fingerprint = dict(row[:2] for row in table_with(page, "Field", "Value")[1:])
    assert fingerprint["note|`"] == NOTE and fingerprint["params"] == '{"tag": "' + SCRIPT + '|"}'
    assert (
        "data:image/svg+xml;base64," in html
    )  # the picture with an awkward file name still inlines


def test_a_walker_report_shows_hostile_variant_names_and_exceptions_as_text_in_whole_cells():
    data = {
        "walker_name": "w",
        "symbol": SYMBOL,
        "exchange_name": "ex",
        "frame_name": "fr",
        "metric": "sharpe_ratio",
        "strategies": [
            (VARIANT, {"sharpe_ratio": 0.9, "total_signals": 9}),
            (OTHER, {"sharpe_ratio": 0.5, "total_signals": 8}),
        ],
    }
    fingerprints = {
        name: {
            "btfarm_version": "1",
            "strategy_name": name,
            "source_hash": "h|`",
            "params": {"tag": name},
        }
        for name in (VARIANT, OTHER)
    }
    markdown = render_walker(
        {
            **data,
            "unfinished": {f"{OTHER}x": EXCEPTION},
            "unranked": {f"{VARIANT}y": (EXCEPTION, {"total_signals": 1})},
            "rejections": {VARIANT: (2, [EXCEPTION, NOTE])},
            "fingerprints": fingerprints,
            "run_id": SCRIPT,
            "search_trials": [(0, OTHER), (1, VARIANT)],
            "search_spec": SCRIPT,
            "search_note": LINKS,
            "coverage": LINKS,
        },
        {VARIANT: [closed(0, 0.5, NOTE)]},
    )
    html, page = twin(markdown)
    assert live_markup(html) == []
    every_row_has_the_header_width(page)
    comparison = table_with(page, "Rank", "Strategy")
    assert [row[1] for row in comparison[1:]] == [VARIANT, OTHER]
    assert table_with(page, "Strategy", "Reason")[1:] == [[f"{OTHER}x", EXCEPTION]]
    assert table_with(page, "Strategy", "Reason", "Signals")[1][:2] == [f"{VARIANT}y", EXCEPTION]
    assert table_with(page, "Strategy", "Rejected")[1:] == [[VARIANT, "2", f"{EXCEPTION}\n{NOTE}"]]
    assert [row[0] for row in table_with(page, "Strategy", "Source hash")[1:]] == [VARIANT, OTHER]
    assert [row[2] for row in table_with(page, "Trial", "Optuna trial")[1:]] == [OTHER, VARIANT]
    pnl = table_with(page, "Signal ID")
    assert dict(zip(pnl[0], pnl[1], strict=True))["Signal ID"] == "sig-0"


def test_a_live_report_shows_a_hostile_note_as_text():
    event = {**closed(0, 0.5, NOTE), "symbol": SYMBOL}
    html, page = twin(render_live(SYMBOL, VARIANT, "ex", [event], rejections=[EXCEPTION, LINKS]))
    assert live_markup(html) == []
    every_row_has_the_header_width(page)
    events = table_with(page, "Action", "Time")
    assert dict(zip(events[0], events[1], strict=True))["Note"] == NOTE


def test_the_reports_across_symbols_and_against_the_previous_run_keep_their_columns():
    symbols = [SYMBOL, "B|C"]
    one = WalkerData.model_construct(
        best_strategy=VARIANT,
        refused=None,
        strategies_tested=2,
        total_strategies=2,
        run_id=SCRIPT,
        trust=TrustFigures(),
    )
    data = SymbolsData(
        walker_name="w",
        symbols=symbols,
        metric="sharpe_ratio",
        per_symbol={s: one for s in symbols},
        ranking=[
            SymbolsRow(
                rank=1,
                strategy_name=VARIANT,
                mean_metric=0.5,
                worst_metric=0.4,
                wins=2,
                metrics={s: 0.5 for s in symbols},
            )
        ],
        not_compared={OTHER: EXCEPTION},
        best_strategy=VARIANT,
    )
    html, page = twin(render_walker_symbols(data, {SYMBOL: "w.X-script-.md", "B|C": "w.B:C.md"}))
    assert live_markup(html) == []
    every_row_has_the_header_width(page)
    assert table_with(page, "Rank", "Strategy", "Mean")[0][5:] == symbols
    assert [row[0] for row in table_with(page, "Symbol", "Best")[1:]] == symbols
    links = [attrs.get("href") for tag, attrs in Page(html).tags if tag == "a"]
    assert links == ["w.X-script-.md", "w.B%3AC.md"]  # a colon in a file name is no scheme
    current = {
        "stamp": SCRIPT,
        "report": NOTE,
        "metric": "sharpe_ratio",
        "best_strategy": VARIANT,
        "ranking": [{"strategy_name": VARIANT, "rank": 1, "metric_value": 0.5}],
    }
    previous = {**current, "ranking": [{"strategy_name": VARIANT, "rank": 2, "metric_value": 0.1}]}
    html, page = twin(render_comparison("w", SYMBOL, current, previous, picture="w:x.svg"))
    assert live_markup(html) == []
    every_row_has_the_header_width(page)
    assert table_with(page, "Strategy", "Rank")[1][:4] == [VARIANT, "1", "2", "+1"]


@pytest.mark.parametrize(
    "address",
    [
        "javascript:alert(1)",
        " JaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;avascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:x",
    ],
)
def test_an_address_that_could_run_something_is_refused(address):
    from btfarm.orchestrator.reports.html import safe_address

    assert not safe_address(address)
    html, _ = twin(f"[click]({address}) ![pic]({address})")
    assert live_markup(html) == []


@pytest.mark.parametrize(
    "address", ["w.BTC-USDT.md", "sub/w%3Ax.svg", "https://example.org/x", "#top"]
)
def test_relative_and_web_addresses_are_kept(address):
    from btfarm.orchestrator.reports.html import safe_address

    assert safe_address(address)
