"""Writing a rendered report to ``{dump_dir}/{mode}/{name}.md``, atomically, with its
pictures beside it (``{name}.{picture}.svg``, linked from the markdown) and its
self-contained HTML twin (``{name}.html``, pictures inlined).

A report lands inside the dump folder or nowhere: a path that resolves
outside it (absolute elsewhere, ``..``, a symlink pointing out) is refused
before anything is written. The text goes to a temporary file beside the
target and replaces it with ``os.replace`` (``atomic_file.write_whole``), so a
reader never sees half a report and a failed write leaves the old one
untouched. A full, read-only or forbidden disk is one ``ConfigError`` naming
the file, not an ``OSError`` traceback.
"""

from __future__ import annotations

import os
from pathlib import Path

from btfarm.shared.atomic_file import disk_fault, write_whole
from btfarm.shared.errors import ReportError
from btfarm.shared.settings import get_settings
from btfarm.shared.store.keys import MODES  # the sub-folders of the dump folder

REPORT_FILE_MODE = 0o644  # permissions of a written report
DUMP_SETTING = "BTFARM_DUMP_DIR"  # what moves the reports' folder, named when it cannot be written
FORMATS = ("md", "html")  # what ``dump(..., formats=...)`` may write; both by default


def file_part(name: str) -> str:
    """A name as part of a file name: a symbol (BTC/USDT -> BTC-USDT), a grid key
    (SYM:strategy.param -> SYM-strategy.param); only letters, digits and ``._-`` stay."""
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name)


def check_formats(formats) -> tuple[str, ...]:
    """``formats`` as a tuple of known report formats, or ReportError naming the bad one."""
    chosen = (formats,) if isinstance(formats, str) else tuple(formats)
    bad = [f for f in chosen if f not in FORMATS]
    if bad or not chosen:
        raise ReportError(f"report formats {chosen!r}: use one or both of {', '.join(FORMATS)}")
    return chosen


def dump_bundle(
    render,
    mode: str,
    name: str,
    path: str | os.PathLike[str] | None = None,
    formats=FORMATS,
    dump_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a report with its pictures: ``render(stem)`` returns (markdown, {file: svg})
    for pictures named after ``stem``; returns the markdown file (the HTML one when only
    HTML is asked for)."""
    chosen = check_formats(formats)
    target = report_path(mode, name, path, dump_dir)
    text, pictures = render(target.stem)
    for file, svg in pictures.items():
        if "md" in chosen:  # the HTML twin inlines them: standalone files serve the markdown
            _write_atomically(target.parent / file, svg)
    if "html" in chosen:
        from .html import to_html

        _write_atomically(target.with_suffix(".html"), to_html(text, f"{mode}: {name}", pictures))
    if "md" in chosen:
        _write_atomically(target, text)
        return target
    return target.with_suffix(".html")


def report_path(
    mode: str,
    name: str,
    path: str | os.PathLike[str] | None = None,
    dump_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Where a report goes (checked to lie inside the dump folder), its folder made."""
    if mode not in MODES:
        raise ReportError(f"report mode {mode!r} is unknown; use one of {', '.join(MODES)}")
    root = Path(dump_dir if dump_dir is not None else get_settings().dump_dir).expanduser()
    requested = Path(path) if path is not None else Path(mode) / f"{name}.md"
    target = requested if requested.is_absolute() else root / requested
    resolved_root = root.resolve()
    resolved = target.resolve()
    if not resolved.is_relative_to(resolved_root) or resolved == resolved_root:
        raise ReportError(
            f'report path "{requested}" resolves to "{resolved}", outside the dump folder '
            f'"{resolved_root}"; give a path inside that folder or change BTFARM_DUMP_DIR'
        )
    if resolved.is_dir():
        raise ReportError(f'report path "{requested}" is a folder ("{resolved}"); name a file')
    try:
        resolved.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fault = disk_fault(exc, resolved.parent, "the report folder", DUMP_SETTING)
        if fault is None:
            raise
        raise fault from exc
    return resolved


def dump_report(
    text: str,
    mode: str,
    name: str,
    path: str | os.PathLike[str] | None = None,
    dump_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``text`` and return the file it went to.

    Default target: ``{dump_dir or settings.dump_dir}/{mode}/{name}.md``. A
    relative ``path`` is taken inside the dump folder; an absolute one must lie
    inside it too.
    """
    if not isinstance(text, str):
        raise ReportError(f"report text must be a str, got {type(text).__name__}")
    resolved = report_path(mode, name, path, dump_dir)
    _write_atomically(resolved, text)
    return resolved


def _write_atomically(target: Path, text: str) -> None:
    write_whole(
        target, text.encode("utf-8"), what="report", setting=DUMP_SETTING, mode=REPORT_FILE_MODE
    )
