"""A report's self-contained HTML twin: the markdown rendered by the ``markdown``
library, its pictures inlined, tables sortable by a few lines of script (no CDN,
nothing fetched), laid out by the ``page.html.j2`` template."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping

import markdown

from .render import environment

_IMAGE = re.compile(r'<img alt="([^"]*)" src="([^"]+)"\s*/?>')


def to_html(text: str, title: str, pictures: Mapping[str, str]) -> str:
    """``text`` (a report's markdown) as one HTML page; an image whose file is among
    ``pictures`` (file name -> SVG text) is inlined as a data URI."""
    body = markdown.markdown(text, extensions=["tables"], output_format="html")

    def inline(match: re.Match[str]) -> str:
        alt, src = match.group(1), match.group(2)
        svg = pictures.get(src)
        if svg is None:
            return match.group(0)
        data = base64.b64encode(svg.encode()).decode()
        return f'<img alt="{alt}" src="data:image/svg+xml;base64,{data}">'

    body = _IMAGE.sub(inline, body)
    return environment().get_template("page.html.j2").render(title=title, body=body)
