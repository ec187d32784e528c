"""MkDocs hooks: what the site needs from the repository around ``docs/``.

- **The packages, for the API reference.** btfarm maps ``btfarm.shared``,
  ``btfarm.workers`` and ``btfarm.orchestrator`` onto the folders ``shared/``,
  ``workers/`` and ``orchestrator/`` (pyproject's package-dir), so there is no
  ``btfarm/`` folder for griffe, mkdocstrings' reader, to find by name. Before the
  build, ``build/api-paths/btfarm/`` is laid out with one link per package to its
  folder, and mkdocs.yml names that directory in the Python handler's ``paths``: the
  reference reads this checkout's source, whatever is installed.
- **Links to files outside docs/.** A page may link to a file of the repository
  (``[examples/sma_cross_5m.py](../examples/sma_cross_5m.py)``): right on GitHub and
  checked by tests/unit/test_stands_alone.py, but not part of the site. On the site
  such a link becomes the file's path, in code, instead of a dead link; links
  between pages are left to MkDocs, which checks them (``strict``).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))
from package_paths import lay_out  # noqa: E402  (tools/ is not a package)

DOCS = REPO / "docs"
SHADOW = REPO / "build" / "api-paths"  # build/ is ignored by git
LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s#]+)(#[^)\s]*)?\)")
FENCE = re.compile(r"^(```|~~~)")


def on_startup(command: str, dirty: bool) -> None:
    lay_out(SHADOW)


def _outside(page_dir: Path, target: str) -> Path | None:
    """The repository file ``target`` names when it lies outside docs/, else None."""
    if re.match(r"[a-z][a-z0-9+.-]*:", target):
        return None  # a URL
    resolved = (page_dir / target).resolve()
    if resolved.is_relative_to(DOCS) or not resolved.is_relative_to(REPO):
        return None
    return resolved.relative_to(REPO)


def on_page_markdown(markdown: str, page, config, files) -> str:
    page_dir = (DOCS / page.file.src_uri).parent
    lines, fenced = [], False
    for line in markdown.split("\n"):
        if FENCE.match(line.lstrip()):
            fenced = not fenced
        if not fenced:

            def plain(match: re.Match) -> str:
                path = _outside(page_dir, match.group(2))
                if path is None:
                    return match.group(0)
                text = match.group(1)
                shown = f"`{path.as_posix()}`"
                return shown if text.strip("`") == path.as_posix() else f"{text} ({shown})"

            line = LINK.sub(plain, line)
        lines.append(line)
    return "\n".join(lines)
