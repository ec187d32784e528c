"""A report's self-contained HTML twin: the markdown rendered by the ``markdown``
library, its pictures inlined, a picture with an interactive twin shown as that chart
(Bokeh, its script inlined once: ``interactive.py``), the sections a reader opens when
needed (``render.FOLDED_HEADINGS``) folded into ``<details>``, tables sortable by a few
lines of script (no CDN, nothing fetched), laid out by the ``page.html.j2`` template.

A report's markdown carries text btfarm did not write (symbols, variant names, a
strategy's exception, a signal's note), so the markdown is read as untrusted: raw
HTML in it is shown as text (the one tag let through is ``<br>``, the line break
``_format.cell`` writes), and a link or image keeps its address only when that
address is relative or http(s) (no ``javascript:``, no ``data:``).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from urllib.parse import unquote
from xml.etree.ElementTree import Element, SubElement

import markdown
from markdown.extensions import Extension
from markdown.inlinepatterns import SubstituteTagInlineProcessor
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from .render import FOLDED_HEADINGS, environment

_IMAGE = re.compile(r'<img alt="([^"]*)" src="([^"]+)"\s*/?>')
SAFE_SCHEMES = frozenset(
    {"http", "https", "mailto"}
)  # what a link in a report may point at, beside a file
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_IGNORED_IN_URLS = re.compile(
    r"[\x00-\x20\x7f]"
)  # what browsers strip or skip before reading a scheme


def safe_address(address: str) -> bool:
    """True for a relative address or one whose scheme is in ``SAFE_SCHEMES``; read as a
    browser reads it (entities decoded, whitespace and control characters dropped)."""
    scheme = _SCHEME.match(_IGNORED_IN_URLS.sub("", html.unescape(address)))
    return scheme is None or scheme.group(1).lower() in SAFE_SCHEMES


class _SafeAddresses(Treeprocessor):
    """Drops an ``href`` or ``src`` that ``safe_address`` refuses (the text stays)."""

    def run(self, root: Element) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not safe_address(value):
                    del element.attrib[attribute]


class _FoldedSections(Treeprocessor):
    """Each ``<h2>`` section whose heading is in ``FOLDED_HEADINGS`` (text btfarm wrote:
    no user text is a level-2 heading) into a closed ``<details>``, the heading its summary."""

    def run(self, root: Element) -> None:
        children = list(root)
        for child in children:
            root.remove(child)
        folded: Element | None = None
        for child in children:
            if child.tag in ("h1", "h2"):
                folded = None
                if child.tag == "h2" and "".join(child.itertext()).strip() in FOLDED_HEADINGS:
                    folded = SubElement(root, "details", {"class": "folded"})
                    summary = SubElement(folded, "summary")
                    child.tail = None
                    summary.append(child)
                    continue
            (folded if folded is not None else root).append(child)


class UntrustedText(Extension):
    """Markdown whose raw HTML is text: the block and inline HTML readers are removed
    (the serializer then escapes ``<``, ``>`` and ``&``), ``<br>`` alone is a tag."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.inlinePatterns.register(SubstituteTagInlineProcessor(r"<br>", "br"), "cell_break", 90)
        md.treeprocessors.register(
            _SafeAddresses(md), "safe_addresses", -10
        )  # after every unescape
        md.treeprocessors.register(_FoldedSections(md), "folded_sections", -20)


def markdown_to_html(text: str) -> Markup:
    """``text`` (a report's markdown, untrusted) as HTML with nothing live in it."""
    body = markdown.markdown(text, extensions=["tables", UntrustedText()], output_format="html")
    return Markup(body)  # noqa: S704 (the markdown above escaped what it did not build)


def to_html(text: str, title: str, pictures: Mapping[str, str]) -> str:
    """``text`` (a report's markdown) as one HTML page; an image whose file is among
    ``pictures`` (file name -> SVG text) is inlined as a data URI, or shown as its
    interactive chart when the picture carries one (``InteractivePicture``)."""
    charts: list[tuple[str, dict]] = []

    def inline(match: re.Match[str]) -> str:
        alt, src = match.group(1), match.group(2)
        svg = pictures.get(unquote(html.unescape(src)))  # the file, as _format.address wrote it
        if svg is None:
            return match.group(0)
        item = getattr(svg, "interactive", None)
        if item is not None:
            charts.append((f"chart-{len(charts) + 1}", item))
            return f'<div class="chart" id="{charts[-1][0]}" role="img" aria-label="{alt}"></div>'
        data = base64.b64encode(svg.encode()).decode()
        return f'<img alt="{alt}" src="data:image/svg+xml;base64,{data}">'

    body = Markup(_IMAGE.sub(inline, markdown_to_html(text)))  # noqa: S704 (alt stays escaped)
    scripts = Markup("")
    if charts:
        from .interactive import bokeh_script, item_json

        items = "".join(
            f'<script type="application/json" data-chart="{target}">{item_json(item)}</script>\n'
            for target, item in charts
        )
        scripts = Markup(bokeh_script() + "\n" + items + CHARTS_SCRIPT)  # noqa: S704 (JSON escaped: item_json)
    return (
        environment().get_template("page.html.j2").render(title=title, body=body, scripts=scripts)
    )


# Embeds each chart whose item a <script type="application/json" data-chart="ID"> holds.
CHARTS_SCRIPT = """<script>
(function () {
  Bokeh.logger.set_level("warn");  // quietly: Bokeh.set_log_level says so on the console
  document.querySelectorAll("script[data-chart]").forEach(function (data) {
    Bokeh.embed.embed_item(JSON.parse(data.textContent), data.getAttribute("data-chart"));
  });
})();
</script>
"""
