"""Writing a rendered report to ``{dump_dir}/{mode}/{name}.md``, atomically.

A report lands inside the dump folder or nowhere: a path that resolves
outside it (absolute elsewhere, ``..``, a symlink pointing out) is refused
before anything is written. The text goes to a temporary file beside the
target and replaces it with ``os.replace``, so a reader never sees half a
report and a failed write leaves the old one untouched.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from btfarm.shared.errors import ReportError
from btfarm.shared.settings import get_settings
from btfarm.shared.store.keys import MODES  # the sub-folders of the dump folder

REPORT_FILE_MODE = 0o644  # permissions of a written report


def dump_report(text: str, mode: str, name: str, path: str | os.PathLike[str] | None = None,
                dump_dir: str | os.PathLike[str] | None = None) -> Path:
    """Write ``text`` and return the file it went to.

    Default target: ``{dump_dir or settings.dump_dir}/{mode}/{name}.md``. A
    relative ``path`` is taken inside the dump folder; an absolute one must lie
    inside it too.
    """
    if mode not in MODES:
        raise ReportError(f"report mode {mode!r} is unknown; use one of {', '.join(MODES)}")
    if not isinstance(text, str):
        raise ReportError(f"report text must be a str, got {type(text).__name__}")
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
    resolved.parent.mkdir(parents=True, exist_ok=True)
    _write_atomically(resolved, text)
    return resolved


def _write_atomically(target: Path, text: str) -> None:
    fd, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, REPORT_FILE_MODE)
        os.replace(temp_name, target)
    except BaseException:
        try:
            os.unlink(temp_name)
        except FileNotFoundError:
            pass
        raise
