"""A ``btfarm/`` folder for tools that look packages up by name (mypy, mkdocstrings' griffe).

pyproject maps ``btfarm.shared``, ``btfarm.workers`` and ``btfarm.orchestrator`` onto
``shared/``, ``workers/`` and ``orchestrator/`` (setuptools' package-dir), so the checkout
has no ``btfarm/`` folder, and the editable install's import hook is invisible to tools
that read files. ``lay_out(root)`` makes ``root/btfarm/`` with one link per package, so a
tool pointed at ``root`` reads this checkout's source, whatever is installed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("shared", "workers", "orchestrator")


def lay_out(root: Path) -> Path:
    """``root/btfarm/{shared,workers,orchestrator}`` linked to the checkout; returns ``root``."""
    top = root / "btfarm"
    if top.is_symlink() or top.is_file():
        top.unlink()
    elif top.exists():
        shutil.rmtree(top)
    top.mkdir(parents=True)
    for name in PACKAGES:  # "btfarm" stays a namespace package (no __init__.py), as installed
        os.symlink(REPO / name, top / name, target_is_directory=True)
    return root
