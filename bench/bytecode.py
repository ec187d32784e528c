"""btfarm's bytecode compiled before a timed start, as an installed copy has it.

pip compiles an installed package's modules; an editable install (this
checkout) compiles each on its first import, unless PYTHONDONTWRITEBYTECODE
is set (CI images and this machine set it), in which case every start
compiles every btfarm module again (~0.05 s of a worker's start). The cases
that time a process's start compile them once first, so they time what a
user's second start costs, not the compiler.
"""

from __future__ import annotations

import compileall
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def compile_btfarm() -> None:
    for package in ("shared", "workers", "orchestrator"):
        compileall.compile_dir(REPO / package, quiet=1)
